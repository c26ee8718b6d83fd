//! `ccfarm-scheduler`: the farm's scheduler service. It owns the `ccfarm-sched` state
//! machine in one task, accepts clients and servers on `--listen`, and serves its
//! state as JSON on `--http` (`/status`).

mod actor;
mod conn;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use ccfarm_sched::{Config, Policy, Scheduler};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::info;

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "ccfarm-scheduler",
    about = "ccfarm's scheduler: grants compile slots across the farm",
    version
)]
struct Cli {
    /// Address for clients and servers.
    #[arg(long, default_value = "0.0.0.0:7700")]
    listen: SocketAddr,
    /// Address of the HTTP status endpoint (`/status`).
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Placement policy: earliest-finish, fastest-free, least-connections, list-order, random, icecream.
    #[arg(long, default_value = "earliest-finish")]
    policy: Policy,
    /// A server that sends no heartbeat for this long is down (seconds).
    #[arg(long, default_value_t = 3)]
    heartbeat_timeout: u64,
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
    let config = Config {
        heartbeat_timeout: Duration::from_secs(cli.heartbeat_timeout),
        ..Config::default()
    };
    let sched =
        Scheduler::with_placement(config, cli.policy.build()).context("scheduler configuration")?;
    let listener = TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("listen on {}", cli.listen))?;
    info!(addr = %listener.local_addr()?, policy = %cli.policy, "ccfarm-scheduler listening");
    let (events, rx) = mpsc::unbounded_channel();
    tokio::spawn(actor::run(sched, rx));
    if let Some(http) = cli.http {
        let http = TcpListener::bind(http)
            .await
            .with_context(|| format!("listen on {http}"))?;
        info!(addr = %http.local_addr()?, "status on HTTP");
        tokio::spawn(serve_http(http, events.clone()));
    }
    let mut next_conn = 0u64;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        next_conn += 1;
        tokio::spawn(conn::serve(stream, peer, next_conn, events.clone()));
    }
}

/// A minimal HTTP/1.0 responder: `/status` is the scheduler's snapshot as JSON.
async fn serve_http(listener: TcpListener, events: mpsc::UnboundedSender<actor::Event>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let events = events.clone();
        tokio::spawn(async move {
            let mut head = vec![0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut head))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
            let line = String::from_utf8_lossy(&head[..n]);
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = if path == "/status" || path == "/" {
                let (tx, rx) = oneshot::channel();
                let _ = events.send(actor::Event::Snapshot(tx));
                match rx.await {
                    Ok(snapshot) => (
                        "200 OK",
                        serde_json::to_string_pretty(&snapshot).unwrap_or_default() + "\n",
                    ),
                    Err(_) => ("503 Service Unavailable", "{}\n".to_owned()),
                }
            } else {
                ("404 Not Found", "{\"error\":\"try /status\"}\n".to_owned())
            };
            let response = format!(
                "HTTP/1.0 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}
