//! Membership in a farm: with `--scheduler HOST:PORT` (or a comma-separated list, each
//! registered with on its own), ccfarmd registers with the scheduler and sends a
//! heartbeat every second (slots, running compiles, load,
//! free memory), so that the scheduler places jobs on it and notices within seconds
//! when it stops. A lost connection is retried with a backoff capped at 10 s.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use ccfarm_proto::farm::{
    self, CompilerIdentity, DEFAULT_MAX_FRAME, FromScheduler, PROTOCOL_VERSION, Role, ToScheduler,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;
use tracing::{info, warn};

use crate::calibrate::Calibration;
use crate::daemon::Daemon;
use crate::system::SystemInfo;

/// How often the scheduler hears from us.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Who this server is in the farm.
#[derive(Debug, Clone)]
pub struct Membership {
    /// `HOST:PORT` of the scheduler.
    pub scheduler: String,
    /// This server's name in the farm.
    pub name: String,
    /// The distcc port clients are sent to.
    pub distcc_port: u16,
    /// The compilers it runs, with their identities.
    pub compilers: Vec<CompilerIdentity>,
    /// Offer no slots while the load not caused by our compiles is above this.
    pub max_load: Option<f64>,
    /// This server's calibration compile ([`crate::calibrate`]): registration waits until
    /// it is measured (or known unavailable), and heartbeats carry the latest.
    pub calibration: watch::Receiver<Calibration>,
}

/// Stay registered until the task is dropped.
pub async fn run(daemon: Arc<Daemon>, mut membership: Membership) {
    // Joined measured: a server placed on before its calibration would be timed while
    // compiling, and placed at a guessed speed meanwhile. The measurement has its own
    // deadline; a dropped sender (no calibration task) ends the wait too.
    let _ = membership
        .calibration
        .wait_for(|c| *c != Calibration::Pending)
        .await;
    let mut retry = Duration::from_millis(500);
    loop {
        match session(&daemon, &membership).await {
            Ok(()) => {
                warn!(scheduler = %membership.scheduler, "the scheduler closed the connection; reconnecting");
                retry = Duration::from_millis(500);
            }
            Err(err) => {
                warn!(scheduler = %membership.scheduler, "scheduler: {err}; retrying in {retry:?}")
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Frame(#[from] farm::FrameError),
    #[error("refused: {0}")]
    Refused(String),
    #[error("refused: {0}")]
    TicketKey(ccfarm_trust::ticket::TicketError),
    #[error("unexpected message: {0:?}")]
    Unexpected(FromScheduler),
}

async fn session(daemon: &Daemon, membership: &Membership) -> Result<(), SessionError> {
    let stream = timeout(CONNECT_TIMEOUT, TcpStream::connect(&membership.scheduler))
        .await
        .map_err(|_| SessionError::Timeout)?
        .map_err(SessionError::Connect)?;
    let _ = stream.set_nodelay(true);
    match daemon.trust.scheduler_config() {
        Some(config) => {
            let host = membership
                .scheduler
                .rsplit_once(':')
                .map_or(membership.scheduler.as_str(), |(h, _)| h);
            let connector = tokio_rustls::TlsConnector::from(config);
            let stream = timeout(
                CONNECT_TIMEOUT,
                connector.connect(ccfarm_trust::tls::server_name(host), stream),
            )
            .await
            .map_err(|_| SessionError::Timeout)?
            .map_err(SessionError::Connect)?;
            registered(daemon, membership, stream).await
        }
        None => registered(daemon, membership, stream).await,
    }
}

async fn registered<S>(
    daemon: &Daemon,
    membership: &Membership,
    mut stream: S,
) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let hello = ToScheduler::Hello {
        version: PROTOCOL_VERSION,
        role: Role::Server {
            name: membership.name.clone(),
        },
    };
    stream.write_all(&farm::encode(&hello)).await?;
    let mut buf = BytesMut::new();
    match timeout(CONNECT_TIMEOUT, read_message(&mut stream, &mut buf))
        .await
        .map_err(|_| SessionError::Timeout)??
    {
        Some(FromScheduler::Welcome { tickets, .. }) => {
            if let Some(tickets) = tickets {
                daemon
                    .trust
                    .set_tickets(&membership.scheduler, &tickets)
                    .map_err(SessionError::TicketKey)?;
            }
        }
        Some(FromScheduler::Refused { reason }) => return Err(SessionError::Refused(reason)),
        Some(other) => return Err(SessionError::Unexpected(other)),
        None => return Ok(()),
    }
    let register = ToScheduler::Register {
        distcc_port: membership.distcc_port,
        slots: daemon.stats.slots() as u32,
        lzo: true,
        compilers: membership.compilers.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        tls: daemon.trust.acceptor().is_some(),
    };
    stream.write_all(&farm::encode(&register)).await?;
    info!(scheduler = %membership.scheduler, name = %membership.name, "registered with the scheduler");
    let mut tick = tokio::time::interval(HEARTBEAT);
    let mut disk_warned = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let tmp = daemon.config.tmp_dir.clone();
                let sys = tokio::task::spawn_blocking(move || SystemInfo::read_light(&tmp)).await.unwrap_or_default();
                let running = daemon.stats.running_now().max(0) as u32;
                let mut slots = offered_slots(daemon.stats.slots() as u32, running, sys.load[0], membership.max_load);
                // A server whose job directory cannot take a compile says so by taking
                // none, rather than failing every job it is sent.
                let trouble = sys.disk_trouble;
                if let Some(trouble) = trouble {
                    slots = 0;
                    if !disk_warned {
                        warn!(dir = %daemon.config.tmp_dir.display(), "the job directory's disk {trouble}: taking no jobs until it is not");
                    }
                } else if disk_warned {
                    info!(dir = %daemon.config.tmp_dir.display(), "the job directory's disk has room again: taking jobs");
                }
                disk_warned = trouble.is_some();
                let calibration_ms = match *membership.calibration.borrow() {
                    Calibration::Measured(took) => Some(took.as_secs_f64() * 1e3),
                    Calibration::Pending | Calibration::Unavailable => None,
                };
                let heartbeat = ToScheduler::Heartbeat {
                    slots,
                    running,
                    load_average: sys.load,
                    free_memory_mb: sys.free_mem_mb,
                    calibration_ms,
                };
                timeout(CONNECT_TIMEOUT, stream.write_all(&farm::encode(&heartbeat))).await.map_err(|_| SessionError::Timeout)??;
            }
            message = read_message(&mut stream, &mut buf) => match message? {
                None => return Ok(()),
                Some(FromScheduler::Refused { reason }) => return Err(SessionError::Refused(reason)),
                // Servers are not sent anything else today; ignore what a newer
                // scheduler might add.
                Some(_) => {}
            },
        }
    }
}

/// The slots offered to the scheduler: all of them, or none while the load that our own
/// compiles do not explain is above `max_load` (a desktop whose owner is busy). Each
/// running compile accounts for about one unit of load average; the average lags by
/// about a minute, which is the hysteresis we want for an owner coming and going.
pub fn offered_slots(slots: u32, running: u32, load1: f64, max_load: Option<f64>) -> u32 {
    match max_load {
        Some(max) if load1 - f64::from(running) > max => 0,
        _ => slots,
    }
}

/// The next message, or `None` when the scheduler closed the connection.
async fn read_message(
    stream: &mut (impl AsyncRead + Unpin),
    buf: &mut BytesMut,
) -> Result<Option<FromScheduler>, SessionError> {
    loop {
        if let Some(message) = farm::decode(buf, DEFAULT_MAX_FRAME)? {
            return Ok(Some(message));
        }
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// The identities of the compilers a server offers: for each allowed name that runs,
/// its version and target. Names that do not run here are left out.
pub fn identify(names: &[String]) -> Vec<CompilerIdentity> {
    names
        .iter()
        .filter_map(|name| {
            let id = crate::compilers::identify_one(name)?;
            Some(CompilerIdentity {
                name: name.clone(),
                version: id.version,
                target: id.target,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::offered_slots;
    use crate::compilers::identify_one;

    /// What the compiler answers when asked, and what its objects say of it (all a probe
    /// of a stock distccd can see), agree: a server identified either way matches clients.
    #[test]
    fn a_compiler_and_its_objects_agree_on_its_identity() {
        let Some(asked) = identify_one("cc") else {
            panic!("no C compiler here to identify")
        };
        let dir = tempfile::tempdir().unwrap();
        let (src, obj) = (dir.path().join("t.c"), dir.path().join("t.o"));
        std::fs::write(&src, "int f(void) { return 0; }\n").unwrap();
        let status = std::process::Command::new("cc")
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .status()
            .unwrap();
        assert!(status.success());
        let object = std::fs::read(&obj).unwrap();
        let seen = ccfarm_compiler::identity::identify_object(&object);
        assert_eq!(seen, Some(asked));
        assert_eq!(identify_one("/nonexistent/cc"), None);
    }

    #[test]
    fn a_busy_owner_takes_the_slots_away() {
        assert_eq!(offered_slots(4, 0, 3.0, None), 4);
        assert_eq!(offered_slots(4, 0, 0.4, Some(1.5)), 4);
        assert_eq!(offered_slots(4, 0, 2.0, Some(1.5)), 0);
        // Our own four compiles explain a load of four.
        assert_eq!(offered_slots(4, 4, 4.5, Some(1.5)), 4);
        assert_eq!(offered_slots(4, 2, 4.5, Some(1.5)), 0);
    }
}
