//! `ccfarm-loadgen`: a benchmark of `ccfarm-scheduler` over loopback.
//!
//! ```sh
//! cargo build --release -p ccfarm-scheduler -p ccfarm-loadgen
//! target/release/ccfarm-loadgen --scheduler-bin target/release/ccfarm-scheduler \
//!     --clients 1000 --seconds 10 [--idle 10000] [--json]
//! ```
//!
//! It starts the scheduler (or uses `--scheduler ADDR [--http ADDR] [--scheduler-pid PID]`),
//! registers `--servers` fake compile servers of `--slots` slots each that heartbeat every
//! second, and then:
//!
//! 1. **load**: `--clients` connections each say `Hello` once and then cycle
//!    Request → Grant → Release (result ok) for `--warmup` + `--seconds` seconds. It reports
//!    cycles per second and grant latency (request written → grant decoded) over the
//!    measured seconds, the scheduler's and its own CPU use, and checks through `/status`
//!    that every lease came back and that the scheduler counted the same grants;
//! 2. **idle**: `--idle` connections say `Hello` and wait; the scheduler's VmRSS growth
//!    divided by their number is the memory an idle client connection costs.
//!
//! Unpaced, every client asks again as soon as it has released, so the scheduler runs
//! flat out and grant latency is mostly queueing (about clients / throughput); `--rate R`
//! paces the clients to R cycles per second in total, which is how to read latency at a
//! given load. The CPU time the scheduler spends per cycle does not depend on what else
//! runs on the machine; throughput and latency do, so the report shows how much CPU other
//! processes took during the window.
//!
//! Total slots should be at least `--clients`, so that grant latency is measured while
//! slots are free. The exit status is 1 when any request failed or a lease was not
//! returned; missing the performance targets is reported, not an error.

mod load;
mod procfs;
mod wire;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::json;
use tokio::process::Child;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::load::{ClientStats, Errors, Percentiles, Window};

/// The figures the issue asks for.
const TARGET_CYCLES_PER_SEC: f64 = 10_000.0;
const TARGET_P99_US: u32 = 2_000;

#[derive(Debug, Parser)]
#[command(
    name = "ccfarm-loadgen",
    about = "Benchmark ccfarm-scheduler: lease cycles per second, grant latency, memory per idle connection",
    version
)]
struct Cli {
    /// Start this scheduler binary on free loopback ports (and measure its CPU and memory).
    #[arg(long, conflicts_with = "scheduler")]
    scheduler_bin: Option<PathBuf>,
    /// Use a running scheduler's control port instead.
    #[arg(long, required_unless_present = "scheduler_bin")]
    scheduler: Option<SocketAddr>,
    /// The running scheduler's HTTP port, to check leases and counters through `/status`.
    #[arg(long, requires = "scheduler")]
    http: Option<SocketAddr>,
    /// The running scheduler's process id, to measure its CPU and memory.
    #[arg(long, requires = "scheduler")]
    scheduler_pid: Option<u32>,
    /// Placement policy for a started scheduler.
    #[arg(long, default_value = "earliest-finish")]
    policy: String,
    /// Heartbeat timeout (seconds) for a started scheduler.
    #[arg(long, default_value_t = 3)]
    heartbeat_timeout: u64,
    /// One more argument for a started scheduler (repeat it: `--scheduler-arg=--config
    /// --scheduler-arg=sched.toml`).
    #[arg(
        long = "scheduler-arg",
        allow_hyphen_values = true,
        requires = "scheduler_bin"
    )]
    scheduler_args: Vec<String>,
    /// Fake compile servers to register.
    #[arg(long, default_value_t = 20)]
    servers: usize,
    /// Slots each fake server offers.
    #[arg(long, default_value_t = 64)]
    slots: u32,
    /// Concurrent client connections cycling leases.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Distinct users the clients belong to (fair queueing is per user).
    #[arg(long, default_value_t = 10)]
    users: usize,
    /// Measured seconds of load.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Pace the clients to this many cycles per second in total (0: as fast as the
    /// scheduler answers, every client requesting again as soon as it has released).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// The job duration each release reports, in milliseconds.
    #[arg(long, default_value_t = 5)]
    duration_ms: u64,
    /// Idle connections for the memory measurement (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// Worker threads of the load generator (the machine's cores are shared with the
    /// scheduler).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.clients == 0 || cli.seconds <= 0.0 || cli.warmup < 0.0 {
        bail!("--clients and --seconds must be positive, --warmup not negative");
    }
    let fd_limit = raise_nofile_limit()?;
    let needed = cli.clients.max(cli.idle) as u64 + cli.servers as u64 + 64;
    if needed > fd_limit {
        bail!("{needed} file descriptors are needed but the limit is {fd_limit}: lower --idle");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(&cli))?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json(&cli))?);
    } else {
        print!("{}", report.to_text(&cli));
    }
    // Leave the runtime without waiting for the fake servers' heartbeats.
    runtime.shutdown_background();
    if !report.ok() {
        std::process::exit(1);
    }
    Ok(())
}

/// Raise the soft open-file limit to the hard one (the child scheduler inherits it) and
/// return it.
fn raise_nofile_limit() -> anyhow::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard)
}

/// The scheduler under test.
struct Target {
    addr: SocketAddr,
    http: Option<SocketAddr>,
    pid: Option<u32>,
    /// What a started scheduler logged.
    log: Option<Arc<Mutex<LogSummary>>>,
    /// Killed on drop.
    _child: Option<Child>,
}

impl Target {
    async fn start(cli: &Cli) -> anyhow::Result<Target> {
        let Some(bin) = &cli.scheduler_bin else {
            let addr = cli.scheduler.expect("clap requires one of the two");
            return Ok(Target {
                addr,
                http: cli.http,
                pid: cli.scheduler_pid,
                log: None,
                _child: None,
            });
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut child = tokio::process::Command::new(bin)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--http")
            .arg(http.to_string())
            .arg("--policy")
            .arg(&cli.policy)
            .arg("--heartbeat-timeout")
            .arg(cli.heartbeat_timeout.to_string())
            .args(&cli.scheduler_args)
            // Per-connection logging would be part of what is measured; warnings (refusals,
            // unknown leases) still matter and are counted.
            .env("CCFARM_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let log = Arc::new(Mutex::new(LogSummary::default()));
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(summarise_log(stderr, log.clone()));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("{} exited with {status}", bin.display());
            }
            if tokio::net::TcpStream::connect(http).await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!("{} never listened on {http}", bin.display());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Target {
            addr,
            http: Some(http),
            pid: child.id(),
            log: Some(log),
            _child: Some(child),
        })
    }

    fn pid(&self) -> Option<String> {
        self.pid.map(|p| p.to_string())
    }

    fn cpu(&self) -> Option<Duration> {
        procfs::cpu_time(&self.pid()?).ok()
    }

    fn memory(&self, key: &str) -> Option<u64> {
        procfs::status_bytes(&self.pid()?, key).ok()
    }

    async fn status(&self) -> Option<serde_json::Value> {
        wire::status(self.http?).await.ok()
    }
}

/// Warnings and errors a started scheduler logged: how many, and the first few.
#[derive(Debug, Default, Clone)]
struct LogSummary {
    lines: u64,
    first: Vec<String>,
}

async fn summarise_log(stderr: tokio::process::ChildStderr, log: Arc<Mutex<LogSummary>>) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut log = log.lock().expect("never poisoned");
        log.lines += 1;
        if log.first.len() < 3 {
            log.first.push(line);
        }
    }
}

/// A port that was free a moment ago (the scheduler binds it right after).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[derive(Debug, Default)]
struct Report {
    scheduler: String,
    pid: Option<u32>,
    /// Clients that completed the handshake.
    connected: usize,
    connect_errors: usize,
    server_errors: u64,
    window: Duration,
    cycles: u64,
    latency: Percentiles,
    errors: Errors,
    requests: u64,
    grants: u64,
    speculations: u64,
    cancels: u64,
    /// From `/status` after the run: leases still held, requests still queued, and the
    /// scheduler's own request and grant counts during the run.
    leases_after: Option<u64>,
    queued_after: Option<u64>,
    sched_requests: Option<u64>,
    sched_grants: Option<u64>,
    sched_waits: Option<u64>,
    sched_cpu: Option<Duration>,
    /// Busy and total CPU time of the whole machine over the window.
    machine_cpu: Option<(Duration, Duration)>,
    cores: usize,
    own_cpu: Option<Duration>,
    rss_load_end: Option<u64>,
    idle: Option<IdleReport>,
    hwm: Option<u64>,
    scheduler_log: Option<LogSummary>,
}

#[derive(Debug, Default)]
struct IdleReport {
    opened: usize,
    errors: usize,
    rss_before: Option<u64>,
    rss_after: Option<u64>,
    rss_closed: Option<u64>,
    tcp_pages_before: Option<u64>,
    tcp_pages_after: Option<u64>,
}

impl IdleReport {
    fn bytes_per_conn(&self) -> Option<f64> {
        let grown = self.rss_after? as f64 - self.rss_before? as f64;
        (self.opened > 0).then(|| grown / self.opened as f64)
    }

    fn tcp_bytes_per_conn(&self) -> Option<f64> {
        let grown = self.tcp_pages_after? as f64 - self.tcp_pages_before? as f64;
        (self.opened > 0).then(|| grown * 4096.0 / self.opened as f64)
    }
}

async fn run(cli: &Cli) -> anyhow::Result<Report> {
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

impl Report {
    fn errors_total(&self) -> u64 {
        self.errors.total() + self.connect_errors as u64 + self.server_errors
    }

    /// Whether every request was granted and every lease came back.
    fn ok(&self) -> bool {
        self.errors_total() == 0
            && self.idle.as_ref().is_none_or(|i| i.errors == 0)
            && self.leases_after.is_none_or(|l| l == 0)
            && self.sched_grants.is_none_or(|g| g == self.grants)
    }

    fn cycles_per_sec(&self) -> f64 {
        self.cycles as f64 / self.window.as_secs_f64()
    }

    /// CPU time as a share of one core over the window.
    fn cores(&self, cpu: Option<Duration>) -> Option<f64> {
        Some(cpu?.as_secs_f64() / self.window.as_secs_f64())
    }

    fn to_json(&self, cli: &Cli) -> serde_json::Value {
        let us_per_cycle = |cpu: Option<Duration>| {
            cpu.filter(|_| self.cycles > 0)
                .map(|c| c.as_secs_f64() * 1e6 / self.cycles as f64)
        };
        json!({
            "scheduler": self.scheduler,
            "pid": self.pid,
            "setup": {
                "servers": cli.servers,
                "slots_per_server": cli.slots,
                "clients": cli.clients,
                "users": cli.users,
                "seconds": cli.seconds,
                "warmup": cli.warmup,
                "threads": cli.threads,
                "rate": (cli.rate > 0.0).then_some(cli.rate),
                "policy": cli.policy,
            },
            "load": {
                "connected": self.connected,
                "cycles": self.cycles,
                "cycles_per_sec": self.cycles_per_sec(),
                "grant_latency_us": {
                    "p50": self.latency.p50,
                    "p95": self.latency.p95,
                    "p99": self.latency.p99,
                    "max": self.latency.max,
                },
                "requests": self.requests,
                "grants": self.grants,
                "speculations": self.speculations,
                "cancels": self.cancels,
                "scheduler_requests": self.sched_requests,
                "scheduler_grants": self.sched_grants,
                "scheduler_waits": self.sched_waits,
                "leases_after": self.leases_after,
                "queued_after": self.queued_after,
                "scheduler_cpu_cores": self.cores(self.sched_cpu),
                "scheduler_cpu_us_per_cycle": us_per_cycle(self.sched_cpu),
                "loadgen_cpu_cores": self.cores(self.own_cpu),
                "loadgen_cpu_us_per_cycle": us_per_cycle(self.own_cpu),
                "machine_cores": self.cores,
                "machine_busy_cores": self.machine_cpu.map(|(busy, _)| busy.as_secs_f64() / self.window.as_secs_f64()),
                "other_processes_cores": self.others_cores(),
                "scheduler_rss_bytes": self.rss_load_end,
            },
            "errors": {
                "total": self.errors_total(),
                "connect": self.connect_errors,
                "compile_locally": self.errors.compile_locally,
                "refused": self.errors.refused,
                "timeouts": self.errors.timeouts,
                "io": self.errors.io,
                "unexpected": self.errors.unexpected,
                "servers": self.server_errors,
            },
            "idle": self.idle.as_ref().map(|i| json!({
                "connections": i.opened,
                "errors": i.errors,
                "rss_before_bytes": i.rss_before,
                "rss_after_bytes": i.rss_after,
                "rss_after_close_bytes": i.rss_closed,
                "rss_bytes_per_connection": i.bytes_per_conn(),
                "kernel_tcp_bytes_per_connection_both_ends": i.tcp_bytes_per_conn(),
            })),
            "scheduler_peak_rss_bytes": self.hwm,
            "scheduler_log": self.scheduler_log.as_ref().map(|l| json!({
                "warning_lines": l.lines,
                "first": l.first,
            })),
            "targets": {
                "cycles_per_sec": TARGET_CYCLES_PER_SEC,
                "p99_us": TARGET_P99_US,
                "met": self.targets_met(),
            },
            "ok": self.ok(),
        })
    }

    /// CPU used during the window by everything but the scheduler and this process,
    /// in cores: on a shared machine, what the figures were competing with.
    fn others_cores(&self) -> Option<f64> {
        let (busy, _) = self.machine_cpu?;
        let ours = self.sched_cpu.unwrap_or_default() + self.own_cpu.unwrap_or_default();
        Some(busy.saturating_sub(ours).as_secs_f64() / self.window.as_secs_f64())
    }

    fn targets_met(&self) -> bool {
        self.cycles_per_sec() >= TARGET_CYCLES_PER_SEC && self.latency.p99 < TARGET_P99_US
    }

    fn to_text(&self, cli: &Cli) -> String {
        use std::fmt::Write;
        let ms = |us: u32| f64::from(us) / 1000.0;
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let verdict = |met: bool| if met { "met" } else { "NOT met" };
        let mut out = String::new();
        let pid = self
            .pid
            .map_or("pid unknown".into(), |p| format!("pid {p}"));
        let _ = writeln!(
            out,
            "scheduler {} ({pid}, {}): {} servers x {} slots, {} clients of {} users, \
             {} s after {} s warm-up, {}, {} load-generator thread(s)",
            self.scheduler,
            cli.policy,
            cli.servers,
            cli.slots,
            cli.clients,
            cli.users,
            cli.seconds,
            cli.warmup,
            if cli.rate > 0.0 {
                format!("paced to {} cycles/s", cli.rate)
            } else {
                "unpaced (closed loop)".to_owned()
            },
            cli.threads,
        );
        let _ = writeln!(
            out,
            "throughput  {:.0} grant+release cycles/s ({} cycles in {:.2} s)   target >= {:.0}: {}",
            self.cycles_per_sec(),
            self.cycles,
            self.window.as_secs_f64(),
            TARGET_CYCLES_PER_SEC,
            verdict(self.cycles_per_sec() >= TARGET_CYCLES_PER_SEC),
        );
        let _ = writeln!(
            out,
            "grant       p50 {:.3} ms  p95 {:.3} ms  p99 {:.3} ms  max {:.3} ms   target p99 < {} ms: {}",
            ms(self.latency.p50),
            ms(self.latency.p95),
            ms(self.latency.p99),
            ms(self.latency.max),
            TARGET_P99_US / 1000,
            verdict(self.latency.p99 < TARGET_P99_US),
        );
        let _ = writeln!(
            out,
            "errors      {} (connect {}, compile-locally {}, refused {}, timeouts {}, i/o {}, unexpected {}, servers {})",
            self.errors_total(),
            self.connect_errors,
            self.errors.compile_locally,
            self.errors.refused,
            self.errors.timeouts,
            self.errors.io,
            self.errors.unexpected,
            self.server_errors,
        );
        let opt = |v: Option<u64>| v.map_or("?".to_owned(), |v| v.to_string());
        let _ = writeln!(
            out,
            "check       leases held after {}, queued {}; requests sent {} / counted by the scheduler {}; grants received {} / counted {}; \
             requests that waited for a slot {}",
            opt(self.leases_after),
            opt(self.queued_after),
            self.requests,
            opt(self.sched_requests),
            self.grants,
            opt(self.sched_grants),
            opt(self.sched_waits),
        );
        if self.speculations + self.cancels > 0 {
            let _ = writeln!(
                out,
                "            the scheduler also offered {} speculative copies and cancelled {} leases",
                self.speculations, self.cancels
            );
        }
        let cpu = |cpu: Option<Duration>| match (cpu, self.cores(cpu)) {
            (Some(c), Some(cores)) if self.cycles > 0 => format!(
                "{:.0}% of a core ({:.1} us per cycle)",
                cores * 100.0,
                c.as_secs_f64() * 1e6 / self.cycles as f64
            ),
            _ => "?".to_owned(),
        };
        let _ = writeln!(
            out,
            "cpu         scheduler {}, load generator {}",
            cpu(self.sched_cpu),
            cpu(self.own_cpu),
        );
        if let (Some((busy, _)), Some(others)) = (self.machine_cpu, self.others_cores()) {
            let _ = writeln!(
                out,
                "            machine {:.2} of {} cores busy, {:.2} of them other processes",
                busy.as_secs_f64() / self.window.as_secs_f64(),
                self.cores,
                others,
            );
        }
        if let Some(i) = &self.idle {
            match (i.rss_before, i.rss_after, i.bytes_per_conn()) {
                (Some(before), Some(after), Some(per)) => {
                    let _ = writeln!(
                        out,
                        "memory      {} idle connections: scheduler VmRSS {:.1} -> {:.1} MiB = {:.0} bytes per connection \
                         (after closing them: {}); kernel TCP buffers {} per connection, both ends",
                        i.opened,
                        mib(before),
                        mib(after),
                        per,
                        i.rss_closed
                            .map_or("?".to_owned(), |b| format!("{:.1} MiB", mib(b))),
                        i.tcp_bytes_per_conn()
                            .map_or("?".to_owned(), |b| format!("{b:.0} bytes")),
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "memory      {} idle connections; the scheduler's memory is unknown (no pid)",
                        i.opened
                    );
                }
            }
            if i.errors > 0 {
                let _ = writeln!(out, "            {} idle connections failed", i.errors);
            }
        }
        if let Some(hwm) = self.hwm {
            let _ = writeln!(out, "peak        scheduler VmHWM {:.1} MiB", mib(hwm));
        }
        if let Some(log) = self.scheduler_log.as_ref().filter(|l| l.lines > 0) {
            let _ = writeln!(
                out,
                "log         the scheduler logged {} warning lines, first:",
                log.lines
            );
            for line in &log.first {
                let _ = writeln!(out, "              {line}");
            }
        }
        out
    }
}
