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
mod report;
mod run;
mod target;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::bail;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "ccfarm-loadgen",
    about = "Benchmark ccfarm-scheduler: lease cycles per second, grant latency, memory per idle connection",
    version
)]
pub(crate) struct Cli {
    /// Start this scheduler binary on free loopback ports (and measure its CPU and memory).
    #[arg(long, conflicts_with = "scheduler")]
    pub(crate) scheduler_bin: Option<PathBuf>,
    /// Use a running scheduler's control port instead.
    #[arg(long, required_unless_present = "scheduler_bin")]
    pub(crate) scheduler: Option<SocketAddr>,
    /// The running scheduler's HTTP port, to check leases and counters through `/status`.
    #[arg(long, requires = "scheduler")]
    pub(crate) http: Option<SocketAddr>,
    /// The running scheduler's process id, to measure its CPU and memory.
    #[arg(long, requires = "scheduler")]
    pub(crate) scheduler_pid: Option<u32>,
    /// Placement policy for a started scheduler.
    #[arg(long, default_value = "earliest-finish")]
    pub(crate) policy: String,
    /// Heartbeat timeout (seconds) for a started scheduler.
    #[arg(long, default_value_t = 3)]
    pub(crate) heartbeat_timeout: u64,
    /// One more argument for a started scheduler (repeat it: `--scheduler-arg=--config
    /// --scheduler-arg=sched.toml`).
    #[arg(
        long = "scheduler-arg",
        allow_hyphen_values = true,
        requires = "scheduler_bin"
    )]
    pub(crate) scheduler_args: Vec<String>,
    /// Fake compile servers to register.
    #[arg(long, default_value_t = 20)]
    pub(crate) servers: usize,
    /// Slots each fake server offers.
    #[arg(long, default_value_t = 64)]
    pub(crate) slots: u32,
    /// Concurrent client connections cycling leases.
    #[arg(long, default_value_t = 1000)]
    pub(crate) clients: usize,
    /// Distinct users the clients belong to (fair queueing is per user).
    #[arg(long, default_value_t = 10)]
    pub(crate) users: usize,
    /// Measured seconds of load.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) seconds: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) warmup: f64,
    /// Pace the clients to this many cycles per second in total (0: as fast as the
    /// scheduler answers, every client requesting again as soon as it has released).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) rate: f64,
    /// The job duration each release reports, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub(crate) duration_ms: u64,
    /// Idle connections for the memory measurement (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) idle: usize,
    /// Worker threads of the load generator (the machine's cores are shared with the
    /// scheduler).
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
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
    let report = runtime.block_on(run::run(&cli))?;
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
