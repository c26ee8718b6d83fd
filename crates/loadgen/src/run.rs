//! One benchmark run: fake servers registered, clients cycling leases through the
//! measured window, the scheduler's counters checked, then idle connections for memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::bail;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::load::{self, ClientStats, Percentiles, Window};
use crate::report::{IdleReport, Report};
use crate::target::Target;
use crate::{Cli, procfs, wire};

pub(crate) async fn run(cli: &Cli) -> anyhow::Result<Report> {
    let target = Target::start(cli).await?;
    let mut report = Report {
        scheduler: target.addr.to_string(),
        pid: target.pid,
        ..Report::default()
    };

    // Servers first, so that the clients' first requests find free slots.
    let server_errors = Arc::new(AtomicU64::new(0));
    let mut servers = JoinSet::new();
    for i in 0..cli.servers {
        servers.spawn(wire::fake_server(
            target.addr,
            i,
            cli.slots,
            server_errors.clone(),
        ));
    }
    let before = wait_registered(&target, cli).await?;

    let (conns, connect_errors) = load::open_many(target.addr, cli.clients, |i| {
        wire::client_role(i, cli.users)
    })
    .await;
    report.connected = conns.len();
    report.connect_errors = connect_errors.len();
    if let Some(e) = connect_errors.first() {
        eprintln!(
            "ccfarm-loadgen: {} client connections failed, e.g. {e:#}",
            connect_errors.len()
        );
    }

    let start = Instant::now() + Duration::from_secs_f64(cli.warmup);
    let window = Window {
        start,
        end: start + Duration::from_secs_f64(cli.seconds),
    };
    let mut clients = JoinSet::new();
    let connected = conns.len();
    for (i, conn) in conns.into_iter().enumerate() {
        // Each client's period is clients/rate; spreading their phases over one period
        // makes the offered load smooth instead of 1000 requests at once.
        let pace = (cli.rate > 0.0).then(|| {
            let period = Duration::from_secs_f64(connected as f64 / cli.rate);
            (period, period.mul_f64(i as f64 / connected as f64))
        });
        clients.spawn(load::cycle(conn, i, window, cli.duration_ms, pace));
    }
    tokio::time::sleep_until(window.start).await;
    let cpu_start = (
        target.cpu(),
        procfs::cpu_time("self").ok(),
        procfs::machine_cpu(),
    );
    tokio::time::sleep_until(window.end).await;
    let cpu_end = (
        target.cpu(),
        procfs::cpu_time("self").ok(),
        procfs::machine_cpu(),
    );
    report.window = window.end - window.start;
    report.sched_cpu = cpu_end.0.zip(cpu_start.0).map(|(e, s)| e - s);
    report.own_cpu = cpu_end.1.zip(cpu_start.1).map(|(e, s)| e - s);
    report.machine_cpu = cpu_end
        .2
        .zip(cpu_start.2)
        .map(|(e, s)| (e.0 - s.0, e.1 - s.1));
    report.cores = std::thread::available_parallelism().map_or(1, usize::from);

    let mut open = Vec::with_capacity(cli.clients);
    let mut latencies = Vec::new();
    while let Some(joined) = clients.join_next().await {
        let (stats, conn): (ClientStats, _) = joined.expect("client tasks do not panic");
        report.cycles += stats.cycles;
        report.requests += stats.requests;
        report.grants += stats.grants;
        report.speculations += stats.speculations;
        report.cancels += stats.cancels;
        report.errors.add(&stats.errors);
        latencies.extend_from_slice(&stats.latencies_us);
        open.extend(conn);
    }
    latencies.sort_unstable();
    report.latency = Percentiles::of(&latencies);
    report.rss_load_end = target.memory("VmRSS");

    // Releases are not answered: wait for the scheduler to have applied the last ones,
    // with the clients still connected (closing would return their leases anyway).
    if let Some(before) = before {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut after = target.status().await;
        while Instant::now() < deadline
            && after
                .as_ref()
                .is_none_or(|s| s["leases"] != 0 || s["queued"] != 0)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
            after = target.status().await;
        }
        if let Some(after) = after {
            let delta = |key: &str| {
                Some(after["counters"][key].as_u64()? - before["counters"][key].as_u64()?)
            };
            report.leases_after = after["leases"].as_u64();
            report.queued_after = after["queued"].as_u64();
            report.sched_requests = delta("requests");
            report.sched_grants = delta("grants");
            report.sched_waits = delta("waits");
        }
    }
    drop(open);

    if cli.idle > 0 {
        report.idle = Some(measure_idle(&target, cli).await);
    }
    report.hwm = target.memory("VmHWM");
    report.scheduler_log = target
        .log
        .as_ref()
        .map(|l| l.lock().expect("never poisoned").clone());
    report.server_errors = server_errors.load(Ordering::Relaxed);
    servers.abort_all();
    Ok(report)
}

/// Wait until every fake server is registered; the `/status` then, if there is one.
async fn wait_registered(target: &Target, cli: &Cli) -> anyhow::Result<Option<serde_json::Value>> {
    if target.http.is_none() {
        // Nothing to ask: registration is one round trip on loopback.
        tokio::time::sleep(Duration::from_millis(500)).await;
        return Ok(None);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = target.status().await;
        let hosts = status
            .as_ref()
            .and_then(|s| s["hosts"].as_array().map(Vec::len));
        if hosts.unwrap_or(0) >= cli.servers {
            return Ok(status);
        }
        if Instant::now() > deadline {
            bail!("only {hosts:?} of {} servers registered", cli.servers);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn measure_idle(target: &Target, cli: &Cli) -> IdleReport {
    // Let the closed load connections' tasks finish before the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut idle = IdleReport {
        rss_before: target.memory("VmRSS"),
        tcp_pages_before: procfs::tcp_mem_pages(),
        ..IdleReport::default()
    };
    // A distinct user per connection would grow the scheduler's per-user state, which
    // an idle connection that never asks does not create: one user is enough.
    let (conns, errors) = load::open_many(target.addr, cli.idle, |i| wire::client_role(i, 1)).await;
    idle.opened = conns.len();
    idle.errors = errors.len();
    if let Some(e) = errors.first() {
        eprintln!(
            "ccfarm-loadgen: {} idle connections failed, e.g. {e:#}",
            errors.len()
        );
    }
    // Every connection has had its Welcome, so the scheduler has set it up; give the
    // allocator a moment anyway.
    tokio::time::sleep(Duration::from_millis(500)).await;
    idle.rss_after = target.memory("VmRSS");
    idle.tcp_pages_after = procfs::tcp_mem_pages();
    drop(conns);
    // Closing is one `Gone` event per connection: quick, but not instantaneous.
    tokio::time::sleep(Duration::from_millis(500)).await;
    idle.rss_closed = target.memory("VmRSS");
    idle
}
