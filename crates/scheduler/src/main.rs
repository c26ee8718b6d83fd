//! `ccfarm-scheduler`: the farm's scheduler service (see the library's documentation).
//! This binary parses flags over the configuration file, starts the service, and
//! reloads the configuration on SIGHUP.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use ccfarm_placement::Policy;
use ccfarm_scheduler::config::FileConfig;
use ccfarm_scheduler::inherited::Inherited;
use ccfarm_scheduler::service::{self, BalancePorts, Drained, Options};
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

/// Command-line flags; each overrides the configuration file's setting.
#[derive(Debug, Parser)]
#[command(
    name = "ccfarm-scheduler",
    about = "ccfarm's scheduler: grants compile slots across the farm",
    version
)]
struct Cli {
    /// Configuration file (TOML; see docs/scheduler.md). Reloaded on SIGHUP.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Address for clients and servers [default: 0.0.0.0:7700].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Address of the dashboard, `/status`, `/metrics` and `/admin`.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Placement policy: earliest-finish, fastest-free, least-connections, list-order, random,
    /// icecream [default: earliest-finish].
    #[arg(long)]
    policy: Option<Policy>,
    /// A distcc proxy port: stock distcc clients use the whole farm with
    /// DISTCC_HOSTS="scheduler:PORT/N,lzo".
    #[arg(long, value_name = "ADDR:PORT")]
    distcc_proxy: Option<SocketAddr>,
    /// The seed's balance-daemon ports: LEASE,STATUS,UPDATE (ports on 127.0.0.1, or ADDR:PORT),
    /// e.g. 5656,5657,5658.
    #[arg(long, value_name = "LEASE,STATUS,UPDATE")]
    balance_ports: Option<BalancePorts>,
    /// The scheduler's credential directory (from `ccfarm ca issue scheduler NAME`): TLS
    /// on the control port and HTTP endpoint, every client and server authenticated.
    #[arg(long, value_name = "DIR")]
    credentials: Option<PathBuf>,
    /// Accept unauthenticated plaintext on addresses reachable from the network.
    #[arg(long)]
    insecure: bool,
    /// A server that sends no heartbeat for this long is down (seconds) [default: 3].
    #[arg(long)]
    heartbeat_timeout: Option<f64>,
    /// For this long after start, a request no server can take yet waits for servers to
    /// register rather than compile locally (seconds, 0 for none) [default: 10].
    #[arg(long, value_name = "S")]
    startup_grace: Option<f64>,
}

impl Cli {
    fn load(&self) -> anyhow::Result<FileConfig> {
        let mut file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        if let Some(t) = self.heartbeat_timeout {
            file.heartbeat_timeout_s = Some(t);
        }
        if let Some(s) = self.startup_grace {
            file.startup_grace_s = Some(s);
        }
        if let Some(dir) = &self.credentials {
            file.credentials = Some(dir.clone());
        }
        if self.insecure {
            file.insecure = Some(true);
        }
        Ok(file)
    }
}

/// The exit status when a port cannot be bound (distcc's `EXIT_BIND_FAILED`).
const EXIT_BIND_FAILED: i32 = 102;

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
    raise_fd_limit();
    let mut options = Options::from_file(cli.load()?)?;
    if let Some(listen) = cli.listen {
        options.listen = listen;
    }
    if let Some(http) = cli.http {
        options.http = Some(http);
    }
    if let Some(policy) = cli.policy {
        options.policy = policy;
    }
    if let Some(proxy) = cli.distcc_proxy {
        options.distcc_proxy = Some(proxy);
    }
    if let Some(ports) = cli.balance_ports {
        options.balance_ports = Some(ports);
    }
    let drain_timeout = options.file.drain_timeout()?;
    let mut hangup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let running = match service::start_with(options, Inherited::from_env()).await {
        Ok(running) => running,
        // distccd's and ccfarmd's code for a port that cannot be bound, so that whoever
        // started it can tell "try another port" from a broken configuration.
        Err(e @ service::StartError::Bind { .. }) => {
            error!("{e}");
            std::process::exit(EXIT_BIND_FAILED);
        }
        Err(e) => return Err(e.into()),
    };
    loop {
        tokio::select! {
            _ = hangup.recv() => {}
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
        match cli.load() {
            Ok(file) => {
                info!("SIGHUP: reloading the configuration");
                match file.admin_token() {
                    Ok(token) => running.set_admin_token(token),
                    Err(e) => warn!("admin token not reloaded: {e:#}"),
                }
                // A new certificate or revocation list applies to new connections;
                // open ones keep the handshake they made.
                match running.security.reload() {
                    Ok(Some(summary)) => info!("{summary}"),
                    Ok(None) => {}
                    Err(e) => warn!("credentials not reloaded, the old ones stay: {e}"),
                }
                match running.handle.reload(file).await {
                    Ok(summary) => info!("configuration reloaded: {summary}"),
                    Err(e) => warn!("configuration not reloaded: {e}"),
                }
            }
            Err(e) => warn!("SIGHUP: configuration not reloaded: {e:#}"),
        }
    }
    info!(
        limit = ?drain_timeout,
        "stopping: no new connections; waiting for the leases and proxied jobs under way"
    );
    match running.drain(drain_timeout).await {
        Drained::Done => info!("drained: nothing under way; exiting"),
        Drained::TimedOut { leases, proxied } => warn!(
            leases,
            proxied, "the drain timed out with work under way; exiting anyway"
        ),
    }
    Ok(())
}

/// Every client holds a connection while it compiles, and each proxied distcc job holds
/// five descriptors: raise the soft limit on open files to the hard limit (systemd's
/// LimitNOFILE sets the latter).
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                warn!("cannot raise the open-file limit from {soft} to {hard}: {e}");
            }
        }
        Ok(_) => {}
        Err(e) => warn!("cannot read the open-file limit: {e}"),
    }
}
