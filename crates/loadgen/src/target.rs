//! The scheduler under test: one started on free loopback ports (its CPU, memory and
//! warnings measured), or one already running.

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Child;
use tokio::time::Instant;

use crate::{Cli, procfs, wire};

/// The scheduler under test.
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) http: Option<SocketAddr>,
    pub(crate) pid: Option<u32>,
    /// What a started scheduler logged.
    pub(crate) log: Option<Arc<Mutex<LogSummary>>>,
    /// Killed on drop.
    pub(crate) _child: Option<Child>,
}

impl Target {
    pub(crate) async fn start(cli: &Cli) -> anyhow::Result<Target> {
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

    pub(crate) fn pid(&self) -> Option<String> {
        self.pid.map(|p| p.to_string())
    }

    pub(crate) fn cpu(&self) -> Option<Duration> {
        procfs::cpu_time(&self.pid()?).ok()
    }

    pub(crate) fn memory(&self, key: &str) -> Option<u64> {
        procfs::status_bytes(&self.pid()?, key).ok()
    }

    pub(crate) async fn status(&self) -> Option<serde_json::Value> {
        wire::status(self.http?).await.ok()
    }
}

/// Warnings and errors a started scheduler logged: how many, and the first few.
#[derive(Debug, Default, Clone)]
pub(crate) struct LogSummary {
    pub(crate) lines: u64,
    pub(crate) first: Vec<String>,
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
