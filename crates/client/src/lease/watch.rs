//! Watching a lease's connection while its job runs, for what the scheduler says about
//! the job: a revocation, a speculative copy, or the connection ending.

use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::BytesMut;
use ccfarm_proto::farm::{
    self, DEFAULT_MAX_FRAME, FromScheduler, GrantProof, JobResult, ToScheduler,
};

use super::Lease;
use crate::channel::Channel;

impl Lease {
    /// Watch the lease connection while the job runs: what the scheduler says about
    /// this job (a revocation, a speculative copy, or the connection ending) is sent to
    /// `tx`, wrapped by `wrap`, as it arrives, so the caller can wait on it together
    /// with its own events. [`Watched::end`] stops the watcher.
    ///
    /// If the socket refuses the watcher's read timeout, the lease is held
    /// unwatched: the job then runs as it did before revocation existed (bounded by the
    /// I/O timeout), which is better than failing a job over a missing descriptor.
    pub fn watch<T: Send + 'static>(
        mut self,
        tx: Sender<T>,
        wrap: impl Fn(Notice) -> T + Send + 'static,
    ) -> Watched {
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = Some(self.stream.clone())
            .filter(|stream| {
                // A backstop only: `end` wakes the read at once with a shutdown; the
                // tick bounds `end` should a platform not wake a blocked read that way.
                stream.socket().set_read_timeout(Some(WATCH_TICK)).is_ok()
            })
            .and_then(|stream| {
                let pending = std::mem::take(&mut self.pending);
                let stop = stop.clone();
                std::thread::Builder::new()
                    .name("lease-watch".into())
                    .spawn(move || watch(stream, pending, &stop, |n| tx.send(wrap(n)).is_ok()))
                    .ok()
            });
        Watched {
            lease: self,
            stop,
            watcher,
        }
    }
}

/// How long one watcher read may block before the stop flag is checked again.
const WATCH_TICK: Duration = Duration::from_secs(5);

/// What the scheduler said on a lease connection while its job ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// This lease (the first one or a speculative one) is revoked: the server stopped
    /// heartbeating, was removed, or another copy of the job won. It is gone on the
    /// scheduler's side, so there is nothing to release.
    Cancel(u64),
    /// The job running under `lease` is a straggler: also run it on this faster server.
    Speculate(Offer),
    /// The connection closed or broke, for this reason; nothing more will come, and the
    /// close released every lease it held.
    Lost(String),
}

/// A speculative copy offered by the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The lease of the copy already running.
    pub lease: u64,
    /// The lease of the new copy.
    pub new_lease: u64,
    /// The faster server's address.
    pub host: String,
    /// Its distcc port.
    pub port: u16,
    /// Whether it takes protocol 2.
    pub lzo: bool,
    /// On a secure farm: the server to expect and the ticket to show it.
    pub proof: Option<GrantProof>,
}

/// A lease whose connection is being watched while its job runs.
#[derive(Debug)]
pub struct Watched {
    lease: Lease,
    stop: Arc<AtomicBool>,
    watcher: Option<JoinHandle<()>>,
}

impl Watched {
    /// Whether the watcher thread has already ended on its own.
    #[cfg(test)]
    pub(super) fn finished(&self) -> bool {
        self.watcher.as_ref().is_some_and(|w| w.is_finished())
    }

    /// Release `lease` (the watched one, or a speculative one granted on the same
    /// connection) with the job's figures. Errors are ignored: closing the connection
    /// releases every lease on it anyway.
    pub fn release(&self, lease: u64, result: JobResult, duration: Duration) {
        // The watcher only reads its duplicate, so writing here does not race it.
        super::send_release(&self.lease.stream, lease, result, duration);
    }

    /// Stop watching; the thread is joined, so nothing outlives the job. Whatever the
    /// scheduler sends from now on (a speculation that came too late, the cancel of a
    /// losing copy) is not read. The connection is closed on return, which gives back
    /// any lease not released.
    pub fn end(self) {
        let Watched {
            lease,
            stop,
            watcher,
        } = self;
        let Some(watcher) = watcher else {
            return;
        };
        // Shutting the read half wakes the watcher's blocked read with an EOF, which
        // the flag tells apart from the scheduler closing.
        stop.store(true, Ordering::SeqCst);
        let _ = lease.stream.shutdown(Shutdown::Read);
        // A watcher that panicked has nothing more to say.
        let _ = watcher.join();
    }
}

/// The watcher thread: read scheduler messages and pass on what concerns the job until
/// `stop` is set, the connection ends, or `notify` says nobody listens any more.
fn watch(stream: Channel, mut buf: BytesMut, stop: &AtomicBool, notify: impl Fn(Notice) -> bool) {
    let mut chunk = [0u8; 4096];
    loop {
        loop {
            let notice = match farm::decode::<FromScheduler>(&mut buf, DEFAULT_MAX_FRAME) {
                Ok(Some(FromScheduler::Cancel { lease })) => Notice::Cancel(lease),
                Ok(Some(FromScheduler::Speculate {
                    lease,
                    new_lease,
                    host,
                    port,
                    lzo,
                    proof,
                })) => Notice::Speculate(Offer {
                    lease,
                    new_lease,
                    host,
                    port,
                    lzo,
                    proof,
                }),
                // The scheduler checks that the client is alive: it is.
                Ok(Some(FromScheduler::Ping)) => {
                    let _ = stream.write_all(&farm::encode(&ToScheduler::Pong));
                    continue;
                }
                // Nothing else is expected on a lease connection; later protocol
                // versions may add messages, which must not disturb the job.
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    notify(Notice::Lost(e.to_string()));
                    return;
                }
            };
            if !notify(notice) {
                return;
            }
        }
        let read = stream.read(&mut chunk);
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match read {
            Ok(0) => {
                notify(Notice::Lost("the scheduler closed the connection".into()));
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                notify(Notice::Lost(e.to_string()));
                return;
            }
        }
    }
}
