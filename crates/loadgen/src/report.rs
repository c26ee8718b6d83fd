//! What a run measured, and its two renderings: text for a person, JSON for the
//! benchmark records.

use std::time::Duration;

use serde_json::json;

use crate::Cli;
use crate::load::{Errors, Percentiles};
use crate::target::LogSummary;

/// The performance targets the scheduler is held to.
const TARGET_CYCLES_PER_SEC: f64 = 10_000.0;
const TARGET_P99_US: u32 = 2_000;

#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) scheduler: String,
    pub(crate) pid: Option<u32>,
    /// Clients that completed the handshake.
    pub(crate) connected: usize,
    pub(crate) connect_errors: usize,
    pub(crate) server_errors: u64,
    pub(crate) window: Duration,
    pub(crate) cycles: u64,
    pub(crate) latency: Percentiles,
    pub(crate) errors: Errors,
    pub(crate) requests: u64,
    pub(crate) grants: u64,
    pub(crate) speculations: u64,
    pub(crate) cancels: u64,
    /// From `/status` after the run: leases still held, requests still queued, and the
    /// scheduler's own request and grant counts during the run.
    pub(crate) leases_after: Option<u64>,
    pub(crate) queued_after: Option<u64>,
    pub(crate) sched_requests: Option<u64>,
    pub(crate) sched_grants: Option<u64>,
    pub(crate) sched_waits: Option<u64>,
    pub(crate) sched_cpu: Option<Duration>,
    /// Busy and total CPU time of the whole machine over the window.
    pub(crate) machine_cpu: Option<(Duration, Duration)>,
    pub(crate) cores: usize,
    pub(crate) own_cpu: Option<Duration>,
    pub(crate) rss_load_end: Option<u64>,
    pub(crate) idle: Option<IdleReport>,
    pub(crate) hwm: Option<u64>,
    pub(crate) scheduler_log: Option<LogSummary>,
}

#[derive(Debug, Default)]
pub(crate) struct IdleReport {
    pub(crate) opened: usize,
    pub(crate) errors: usize,
    pub(crate) rss_before: Option<u64>,
    pub(crate) rss_after: Option<u64>,
    pub(crate) rss_closed: Option<u64>,
    pub(crate) tcp_pages_before: Option<u64>,
    pub(crate) tcp_pages_after: Option<u64>,
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

impl Report {
    fn errors_total(&self) -> u64 {
        self.errors.total() + self.connect_errors as u64 + self.server_errors
    }

    /// Whether every request was granted and every lease came back.
    pub(crate) fn ok(&self) -> bool {
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

    pub(crate) fn to_json(&self, cli: &Cli) -> serde_json::Value {
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

    pub(crate) fn to_text(&self, cli: &Cli) -> String {
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
