//! `ccfarm-scheduler`: the farm's scheduler service. It owns the `ccfarm-sched` state
//! machine in one task, accepts clients and servers on `--listen`, probes the stock
//! distccd hosts of its configuration, and serves a dashboard, `/status` JSON and
//! Prometheus `/metrics` on `--http`.

mod actor;
mod config;
mod conn;
mod http;
mod metrics;
mod probe;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ccfarm_sched::{Policy, Scheduler};
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::FileConfig;
use crate::metrics::Metrics;

/// Command-line flags; each overrides the configuration file's setting.
#[derive(Debug, Parser)]
#[command(
    name = "ccfarm-scheduler",
    about = "ccfarm's scheduler: grants compile slots across the farm",
    version
)]
struct Cli {
    /// Configuration file (TOML; see docs/scheduler.md).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Address for clients and servers [default: 0.0.0.0:7700].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Address of the dashboard, `/status` and `/metrics`.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Placement policy: earliest-finish, fastest-free, least-connections, list-order, random, icecream
    /// [default: earliest-finish].
    #[arg(long)]
    policy: Option<Policy>,
    /// A server that sends no heartbeat for this long is down (seconds) [default: 3].
    #[arg(long)]
    heartbeat_timeout: Option<f64>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CCFARM_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut file = match &cli.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    if let Some(t) = cli.heartbeat_timeout {
        file.heartbeat_timeout_s = Some(t);
    }
    let policy = match (cli.policy, &file.policy) {
        (Some(p), _) => p,
        (None, Some(name)) => name
            .parse()
            .with_context(|| format!("policy {name:?} in the configuration"))?,
        (None, None) => Policy::EarliestFinish,
    };
    let config = file.sched_config(policy)?;
    let probe_timeout = config.probe_timeout;
    let sched = Scheduler::with_placement(config, policy.build()).context("scheduler settings")?;
    let listen = cli
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 7700)));
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("listen on {listen}"))?;
    info!(addr = %listener.local_addr()?, %policy, "ccfarm-scheduler listening");
    let metrics = Arc::new(Metrics::default());
    let (events, rx) = mpsc::unbounded_channel();
    let http = cli.http.or(file.http);
    let settings = actor::Settings {
        probe_compiler: file.probe_compiler.clone().unwrap_or_else(|| "gcc".into()),
        probe_timeout,
        file,
        metrics: metrics.clone(),
    };
    tokio::spawn(actor::run(sched, settings, rx, events.clone()));
    if let Some(http) = http {
        let http = TcpListener::bind(http)
            .await
            .with_context(|| format!("listen on {http}"))?;
        info!(addr = %http.local_addr()?, "dashboard, /status and /metrics on HTTP");
        let shared = http::Shared {
            events: events.clone(),
            metrics,
        };
        tokio::spawn(async move {
            if let Err(e) = http::serve(http, shared).await {
                warn!("HTTP endpoint failed: {e}");
            }
        });
    }
    let mut next_conn = 0u64;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: wait rather than spin.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        next_conn += 1;
        tokio::spawn(conn::serve(stream, peer, next_conn, events.clone()));
    }
}
