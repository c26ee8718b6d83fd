//! The statistics listener (`--stats`): distccd's `<distccstats>` page, Prometheus
//! `/metrics`, `/status` JSON and `/healthz`.
//!
//! distccd answers any connection on its stats port at once, without reading a
//! request, and some monitors rely on that. So this is a tiny HTTP/1.0 responder
//! rather than a full server: it waits briefly for a request line, answers by path
//! (or with the distcc page when none comes), with proper CRLF headers and
//! `Content-Length`, and closes.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};
use tracing::{debug, warn};

use crate::daemon::Daemon;
use crate::system::SystemInfo;

/// How long to wait for a request line before answering with the distcc page.
const REQUEST_WAIT: Duration = Duration::from_millis(500);
/// Longest request head read.
const MAX_REQUEST: usize = 8 * 1024;

/// Serve the stats port until the task is dropped.
pub async fn serve(daemon: Arc<Daemon>, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                warn!("stats accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !daemon.allow.allows(peer.ip()) {
            warn!(%peer, category = "refused_address", "stats request from outside --allow; closing");
            continue;
        }
        let daemon = daemon.clone();
        tokio::spawn(async move {
            if let Err(err) = answer(&daemon, stream).await {
                debug!(%peer, "stats request failed: {err}");
            }
        });
    }
}

async fn answer(daemon: &Daemon, mut stream: TcpStream) -> std::io::Result<()> {
    let path = read_path(&mut stream).await;
    let (status, content_type, body) = route(daemon, path.as_deref()).await;
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    timeout(Duration::from_secs(10), async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    })
    .await
    .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// The path of the request, if a request line arrives in time.
async fn read_path(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let deadline = Instant::now() + REQUEST_WAIT;
    while !head.windows(2).any(|w| w == b"\r\n" || w == b"\n\n") && head.len() < MAX_REQUEST {
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut words = line.split_whitespace();
    let _method = words.next()?;
    Some(words.next()?.to_owned())
}

async fn route(daemon: &Daemon, path: Option<&str>) -> (&'static str, &'static str, String) {
    let path = path.map(|p| p.split('?').next().unwrap_or(p));
    let tmp = daemon.config.tmp_dir.clone();
    let sys = || async move {
        tokio::task::spawn_blocking(move || SystemInfo::read(&tmp))
            .await
            .unwrap_or_default()
    };
    match path {
        None | Some("/") => {
            let sys = sys().await;
            (
                "200 OK",
                "text/plain",
                daemon.stats.distcc_page(Instant::now(), &sys),
            )
        }
        Some("/metrics") => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            daemon.stats.prometheus(),
        ),
        Some("/status") => {
            let sys = sys().await;
            let mut doc = daemon.stats.status(&sys, env!("CARGO_PKG_VERSION"));
            doc.sandbox = Some(daemon.sandbox.description().to_owned());
            doc.process_cap = Some(daemon.sandbox.process_cap().to_owned());
            let body = serde_json::to_string_pretty(&doc)
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            ("200 OK", "application/json", body + "\n")
        }
        Some("/healthz") => ("200 OK", "text/plain", "ok\n".into()),
        Some(_) => (
            "404 Not Found",
            "text/plain",
            "not found: try /, /metrics, /status or /healthz\n".into(),
        ),
    }
}
