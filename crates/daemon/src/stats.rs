//! What ccfarmd counts, and the three ways it is shown: distccd's `--stats` page,
//! Prometheus metrics and a JSON status document.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;

use crate::cache::CacheMetrics;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio::time::Instant;

use crate::system::SystemInfo;

/// How a connection ended. The first eight mirror distccd's result categories; the
/// refusals are split out so that an operator can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue, Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(non_camel_case_types)]
pub enum ConnectionOutcome {
    /// The compiler ran and exited 0.
    compile_ok,
    /// The compiler ran and failed (a genuine compile error, not an infrastructure one).
    compile_error,
    /// The compile exceeded `--job-lifetime` and was killed.
    compile_timeout,
    /// The client went away before the reply was sent.
    client_disconnect,
    /// Malformed request: protocol error, truncation, limits exceeded, stalled client.
    bad_request,
    /// The queue was full; the client was told "busy".
    busy,
    /// The compiler is not allow-listed.
    refused_compiler,
    /// An argument that could run or load code, or touch files outside the job.
    refused_argument,
    /// The command is not a single compile the server can run.
    refused_command,
    /// A protocol-3 file tree that would escape its root.
    refused_tree,
    /// The client's address is not in `--allow`.
    refused_address,
    /// A TLS job without a valid grant from the scheduler (or not from a user).
    refused_grant,
    /// The server failed (temp files, spawning the compiler, ...).
    server_error,
    /// Answered from the shared cache without running the compiler.
    cache_hit,
}

impl ConnectionOutcome {
    const ALL: [ConnectionOutcome; 14] = [
        ConnectionOutcome::compile_ok,
        ConnectionOutcome::compile_error,
        ConnectionOutcome::compile_timeout,
        ConnectionOutcome::client_disconnect,
        ConnectionOutcome::bad_request,
        ConnectionOutcome::busy,
        ConnectionOutcome::refused_compiler,
        ConnectionOutcome::refused_argument,
        ConnectionOutcome::refused_command,
        ConnectionOutcome::refused_tree,
        ConnectionOutcome::refused_address,
        ConnectionOutcome::refused_grant,
        ConnectionOutcome::server_error,
        ConnectionOutcome::cache_hit,
    ];

    /// The name used in logs and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ConnectionOutcome::compile_ok => "compile_ok",
            ConnectionOutcome::compile_error => "compile_error",
            ConnectionOutcome::compile_timeout => "compile_timeout",
            ConnectionOutcome::client_disconnect => "client_disconnect",
            ConnectionOutcome::bad_request => "bad_request",
            ConnectionOutcome::busy => "busy",
            ConnectionOutcome::refused_compiler => "refused_compiler",
            ConnectionOutcome::refused_argument => "refused_argument",
            ConnectionOutcome::refused_command => "refused_command",
            ConnectionOutcome::refused_tree => "refused_tree",
            ConnectionOutcome::refused_address => "refused_address",
            ConnectionOutcome::refused_grant => "refused_grant",
            ConnectionOutcome::server_error => "server_error",
            ConnectionOutcome::cache_hit => "cache_hit",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabel {
    result: ConnectionOutcome,
}

#[derive(Debug, Clone, Default)]
struct Longest {
    source: String,
    compiler: String,
    msecs: u64,
}

/// Keep per-minute history for 15 minutes.
const HISTORY: Duration = Duration::from_secs(15 * 60);
/// Cap on remembered completion times, so a flood cannot grow memory without bound.
const MAX_RECENT: usize = 1 << 20;

/// The daemon's counters. Cheap to update from any task.
pub struct Stats {
    slots: usize,
    registry: Registry,
    accepted: Counter,
    results: Family<ResultLabel, Counter>,
    running: Gauge,
    queued: Gauge,
    duration: Histogram,
    longest: Mutex<Longest>,
    recent: Mutex<VecDeque<Instant>>,
    running_samples: Mutex<VecDeque<(Instant, i64)>>,
    max_running_seen: AtomicI64,
    /// The shared cache's counters.
    pub cache: CacheMetrics,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats")
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

impl Stats {
    /// Counters for a daemon with `slots` concurrent compiles.
    pub fn new(slots: usize, queue: usize) -> Stats {
        let mut registry = Registry::with_prefix("ccfarmd");
        let accepted = Counter::default();
        let results = Family::<ResultLabel, Counter>::default();
        let running = Gauge::default();
        let queued = Gauge::default();
        let duration = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        let slots_gauge: Gauge = Gauge::default();
        slots_gauge.set(slots as i64);
        let queue_gauge: Gauge = Gauge::default();
        queue_gauge.set(queue as i64);
        registry.register(
            "connections",
            "Connections accepted on the distcc port",
            accepted.clone(),
        );
        registry.register("jobs", "Finished connections by result", results.clone());
        registry.register("running", "Compiles running now", running.clone());
        registry.register(
            "queued",
            "Requests waiting for a compile slot",
            queued.clone(),
        );
        registry.register("slots", "Concurrent compile slots (--jobs)", slots_gauge);
        registry.register(
            "queue_capacity",
            "Most requests that may wait for a slot",
            queue_gauge,
        );
        registry.register(
            "compile_seconds",
            "Time spent running the compiler",
            duration.clone(),
        );
        let cache = CacheMetrics::register(&mut registry);
        for outcome in ConnectionOutcome::ALL {
            let _ = results.get_or_create(&ResultLabel { result: outcome });
        }
        Stats {
            slots,
            registry,
            accepted,
            results,
            running,
            queued,
            duration,
            longest: Mutex::new(Longest::default()),
            recent: Mutex::new(VecDeque::new()),
            running_samples: Mutex::new(VecDeque::new()),
            max_running_seen: AtomicI64::new(0),
            cache,
        }
    }

    /// Concurrent compile slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// A connection was accepted.
    pub fn accepted(&self) {
        self.accepted.inc();
    }

    /// A request entered (`+1`) or left (`-1`) the queue.
    pub fn queued(&self, delta: i64) {
        self.queued.inc_by(delta);
    }

    /// A compile started (`+1`) or ended (`-1`).
    pub fn running(&self, delta: i64) {
        let now = self.running.inc_by(delta) + delta;
        self.max_running_seen.fetch_max(now, Ordering::Relaxed);
    }

    /// Compiles running now.
    pub fn running_now(&self) -> i64 {
        self.running.get()
    }

    /// Connections accepted since start.
    pub fn accepted_total(&self) -> u64 {
        self.accepted.get()
    }

    /// Requests waiting now.
    pub fn queued_now(&self) -> i64 {
        self.queued.get()
    }

    /// The most compiles ever seen running at once (lets tests check `--jobs`).
    pub fn max_running_seen(&self) -> i64 {
        self.max_running_seen.load(Ordering::Relaxed)
    }

    /// Record how a connection ended; `compile` is set when the compiler ran.
    pub fn finished(
        &self,
        outcome: ConnectionOutcome,
        compile: Option<(&str, &str, Duration)>,
        now: Instant,
    ) {
        self.results
            .get_or_create(&ResultLabel { result: outcome })
            .inc();
        let Some((source, compiler, took)) = compile else {
            return;
        };
        self.duration.observe(took.as_secs_f64());
        let msecs = took.as_millis() as u64;
        {
            let mut longest = self.longest.lock().expect("stats lock");
            if msecs >= longest.msecs || longest.source.is_empty() {
                *longest = Longest {
                    source: source.to_owned(),
                    compiler: compiler.to_owned(),
                    msecs,
                };
            }
        }
        let mut recent = self.recent.lock().expect("stats lock");
        if recent.len() == MAX_RECENT {
            recent.pop_front();
        }
        recent.push_back(now);
    }

    /// Sample the running count; called every few seconds by the daemon.
    pub fn sample(&self, now: Instant) {
        let mut samples = self.running_samples.lock().expect("stats lock");
        samples.push_back((now, self.running.get()));
        while samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > HISTORY)
        {
            samples.pop_front();
        }
        let mut recent = self.recent.lock().expect("stats lock");
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > HISTORY)
        {
            recent.pop_front();
        }
    }

    fn count(&self, outcome: ConnectionOutcome) -> u64 {
        self.results
            .get_or_create(&ResultLabel { result: outcome })
            .get()
    }

    fn compiles_within(&self, now: Instant, window: Duration) -> usize {
        let recent = self.recent.lock().expect("stats lock");
        recent
            .iter()
            .rev()
            .take_while(|t| now.duration_since(**t) <= window)
            .count()
    }

    fn mean_running_within(&self, now: Instant, window: Duration) -> f64 {
        let samples = self.running_samples.lock().expect("stats lock");
        let within: Vec<i64> = samples
            .iter()
            .filter(|(t, _)| now.duration_since(*t) <= window)
            .map(|&(_, n)| n)
            .collect();
        if within.is_empty() {
            0.0
        } else {
            within.iter().sum::<i64>() as f64 / within.len() as f64
        }
    }

    /// distccd's `--stats` body (keys in distccd 3.4's order), with CRLF line ends
    /// supplied by the HTTP layer.
    pub fn distcc_page(&self, now: Instant, sys: &SystemInfo) -> String {
        let longest = self.longest.lock().expect("stats lock").clone();
        let (name, compiler, msecs) = if longest.source.is_empty() {
            ("none".to_owned(), "none".to_owned(), -1i64)
        } else {
            (longest.source, longest.compiler, longest.msecs as i64)
        };
        let minute = Duration::from_secs(60);
        let other = self.count(ConnectionOutcome::refused_compiler)
            + self.count(ConnectionOutcome::refused_argument)
            + self.count(ConnectionOutcome::refused_command)
            + self.count(ConnectionOutcome::refused_tree)
            + self.count(ConnectionOutcome::refused_address)
            + self.count(ConnectionOutcome::refused_grant)
            + self.count(ConnectionOutcome::server_error);
        let lines = [
            "argv /ccfarmd".to_owned(),
            "<distccstats>".to_owned(),
            format!("dcc_tcp_accept {}", self.accepted.get()),
            format!(
                "dcc_rej_bad_req {}",
                self.count(ConnectionOutcome::bad_request)
            ),
            format!("dcc_rej_overload {}", self.count(ConnectionOutcome::busy)),
            format!(
                "dcc_compile_ok {}",
                self.count(ConnectionOutcome::compile_ok)
            ),
            format!(
                "dcc_compile_error {}",
                self.count(ConnectionOutcome::compile_error)
            ),
            format!(
                "dcc_compile_timeout {}",
                self.count(ConnectionOutcome::compile_timeout)
            ),
            format!(
                "dcc_cli_disconnect {}",
                self.count(ConnectionOutcome::client_disconnect)
            ),
            format!("dcc_other {other}"),
            format!("dcc_longest_job {}", one_word(&name)),
            format!("dcc_longest_job_compiler {}", one_word(&compiler)),
            format!("dcc_longest_job_time_msecs {msecs}"),
            format!("dcc_max_kids {}", self.slots),
            format!("dcc_avg_kids1 {:.0}", self.mean_running_within(now, minute)),
            format!(
                "dcc_avg_kids2 {:.0}",
                self.mean_running_within(now, 5 * minute)
            ),
            format!(
                "dcc_avg_kids3 {:.0}",
                self.mean_running_within(now, 15 * minute)
            ),
            format!("dcc_current_load {}", sys.runnable),
            format!("dcc_load1 {:1.2}", sys.load[0]),
            format!("dcc_load2 {:1.2}", sys.load[1]),
            format!("dcc_load3 {:1.2}", sys.load[2]),
            format!("dcc_num_compiles1 {}", self.compiles_within(now, minute)),
            format!(
                "dcc_num_compiles2 {}",
                self.compiles_within(now, 5 * minute)
            ),
            format!(
                "dcc_num_compiles3 {}",
                self.compiles_within(now, 15 * minute)
            ),
            format!("dcc_num_procstate_D {}", sys.procs_in_d_state),
            format!("dcc_max_RSS {}", sys.max_rss_kb),
            format!("dcc_max_RSS_name {}", one_word(&sys.max_rss_name)),
            format!("dcc_io_rate {}", -1),
            format!("dcc_free_space {} MB", sys.free_space_mb),
            format!("dcc_free_mem {} MB", sys.free_mem_mb),
            "</distccstats>".to_owned(),
        ];
        lines.join("\n") + "\n"
    }

    /// Prometheus text exposition.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// The `/status` JSON document.
    pub fn status(&self, sys: &SystemInfo, version: &str) -> StatusDoc {
        StatusDoc {
            version: version.to_owned(),
            slots: self.slots,
            running: self.running.get(),
            queued: self.queued.get(),
            running_peak: self.max_running_seen(),
            connections: self.accepted.get(),
            results: ConnectionOutcome::ALL
                .iter()
                .map(|&o| (o.name(), self.count(o)))
                .collect(),
            load_average: sys.load,
            free_memory_mb: sys.free_mem_mb,
            free_space_mb: sys.free_space_mb,
            sandbox: None,
            process_cap: None,
        }
    }
}

/// distcc's stats format is whitespace-separated: keep values to one word.
fn one_word(s: &str) -> String {
    let word: String = s
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    if word.is_empty() { "none".into() } else { word }
}

/// The `/status` JSON document.
#[derive(Debug, Serialize)]
pub struct StatusDoc {
    /// ccfarmd's version.
    pub version: String,
    /// Concurrent compile slots.
    pub slots: usize,
    /// Compiles running now.
    pub running: i64,
    /// Requests waiting for a slot.
    pub queued: i64,
    /// The most compiles that have run at once since start.
    pub running_peak: i64,
    /// Connections accepted since start.
    pub connections: u64,
    /// Finished connections by result category.
    pub results: std::collections::BTreeMap<&'static str, u64>,
    /// 1, 5 and 15 minute load averages.
    pub load_average: [f64; 3],
    /// Available memory.
    pub free_memory_mb: u64,
    /// Free space in the temporary directory.
    pub free_space_mb: u64,
    /// What confines compiles: `landlock (...)`, `bwrap (...)` or `none: <reason>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// How the processes of one compile are capped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_cap: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn distcc_page_has_every_key_in_order() {
        let stats = Stats::new(4, 16);
        let now = Instant::now();
        stats.accepted();
        stats.finished(
            ConnectionOutcome::compile_ok,
            Some(("big file.c", "gcc", Duration::from_millis(1500))),
            now,
        );
        stats.finished(
            ConnectionOutcome::compile_ok,
            Some(("small.c", "gcc", Duration::from_millis(5))),
            now,
        );
        stats.finished(ConnectionOutcome::refused_argument, None, now);
        let page = stats.distcc_page(now, &SystemInfo::default());
        let keys: Vec<&str> = page
            .lines()
            .filter_map(|l| l.strip_prefix("dcc_"))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "tcp_accept",
                "rej_bad_req",
                "rej_overload",
                "compile_ok",
                "compile_error",
                "compile_timeout",
                "cli_disconnect",
                "other",
                "longest_job",
                "longest_job_compiler",
                "longest_job_time_msecs",
                "max_kids",
                "avg_kids1",
                "avg_kids2",
                "avg_kids3",
                "current_load",
                "load1",
                "load2",
                "load3",
                "num_compiles1",
                "num_compiles2",
                "num_compiles3",
                "num_procstate_D",
                "max_RSS",
                "max_RSS_name",
                "io_rate",
                "free_space",
                "free_mem",
            ]
        );
        assert!(page.contains("dcc_compile_ok 2\n"));
        assert!(page.contains("dcc_other 1\n"));
        assert!(page.contains("dcc_longest_job big_file.c\n"));
        assert!(page.contains("dcc_longest_job_time_msecs 1500\n"));
        assert!(page.contains("dcc_max_kids 4\n"));
        assert!(page.contains("dcc_num_compiles1 2\n"));
        tokio::time::advance(Duration::from_secs(120)).await;
        let later = Instant::now();
        stats.sample(later);
        let page = stats.distcc_page(later, &SystemInfo::default());
        assert!(
            page.contains("dcc_num_compiles1 0\n") && page.contains("dcc_num_compiles2 2\n"),
            "{page}"
        );
    }

    #[test]
    fn prometheus_lists_results() {
        let stats = Stats::new(2, 8);
        stats.finished(ConnectionOutcome::busy, None, Instant::now());
        let text = stats.prometheus();
        assert!(
            text.contains("ccfarmd_jobs_total{result=\"busy\"} 1"),
            "{text}"
        );
        assert!(text.contains("ccfarmd_slots 2"), "{text}");
    }
}
