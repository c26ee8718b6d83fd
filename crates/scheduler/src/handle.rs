//! The way in to the actor for everything inside the service: control connections,
//! the HTTP endpoint, SIGHUP, and the ports that take leases for clients that cannot
//! speak the control protocol (the distcc proxy, the balance-daemon lease port).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ccfarm_placement::Snapshot;
use ccfarm_proto::farm::{self, FromScheduler, JobDescription};
use tokio::sync::{mpsc, oneshot};

use crate::config::FileConfig;
use crate::event::Event;
// What `Handle::admin` takes and answers, reachable from the handle for users of the library.
pub use crate::event::{AdminError, AdminOp};

/// A cloneable sender of events to the actor.
#[derive(Clone, Debug)]
pub struct Handle {
    events: mpsc::UnboundedSender<Event>,
    next_conn: Arc<AtomicU64>,
}

/// Why no lease was granted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoLease {
    /// The scheduler says to compile on the client.
    #[error("compile locally: {0}")]
    CompileLocally(String),
    /// The actor is gone (shutting down).
    #[error("the scheduler is shutting down")]
    Gone,
}

impl Handle {
    pub(crate) fn new(events: mpsc::UnboundedSender<Event>) -> Handle {
        Handle {
            events,
            next_conn: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A fresh connection number: leases and requests are owned by one.
    pub fn new_conn(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn events(&self) -> mpsc::UnboundedSender<Event> {
        self.events.clone()
    }

    /// The state machine's snapshot.
    pub async fn snapshot(&self) -> Option<Snapshot> {
        let (tx, rx) = oneshot::channel();
        self.events.send(Event::Snapshot(tx)).ok()?;
        rx.await.ok()
    }

    /// Each known host's name and distcc address (which the snapshot does not carry), for
    /// the balance-daemon status port: its parser needs `ip:port` to probe servers.
    pub async fn addresses(&self) -> Option<Vec<(String, SocketAddr)>> {
        let (tx, rx) = oneshot::channel();
        self.events.send(Event::Addresses(tx)).ok()?;
        rx.await.ok()
    }

    /// The identities (version, target) of the compilers registered servers run as
    /// `name`; empty when none does (or the scheduler is gone).
    pub async fn identities(&self, name: &str) -> Vec<(String, String)> {
        let (tx, rx) = oneshot::channel();
        let event = Event::Identities {
            name: name.to_owned(),
            reply: tx,
        };
        if self.events.send(event).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Apply an operator's change; returns what was done, for the operator.
    pub async fn admin(&self, op: AdminOp) -> Result<String, AdminError> {
        let (tx, rx) = oneshot::channel();
        self.events
            .send(Event::Admin { op, reply: tx })
            .map_err(|_| AdminError::Gone)?;
        rx.await.map_err(|_| AdminError::Gone)?
    }

    /// Replace the reloadable settings (user weights, server weights, static hosts).
    pub async fn reload(&self, file: FileConfig) -> Result<String, AdminError> {
        let (tx, rx) = oneshot::channel();
        self.events
            .send(Event::Reload {
                file: Box::new(file),
                reply: tx,
            })
            .map_err(|_| AdminError::Gone)?;
        rx.await.map_err(|_| AdminError::Gone)?
    }

    /// Ask for a slot on behalf of a client that cannot ask itself, and wait for it.
    /// The lease lives until [`InternalLease::release`] or until it is dropped.
    pub async fn lease(&self, user: &str, job: JobDescription) -> Result<InternalLease, NoLease> {
        let conn = self.new_conn();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let guard = ConnGuard {
            conn,
            events: self.events.clone(),
        };
        self.events
            .send(Event::OneCopy { conn })
            .map_err(|_| NoLease::Gone)?;
        self.events
            .send(Event::Request {
                conn,
                number: 1,
                user: user.to_owned(),
                // The service's own ports offer no machine slots (`local_slots` is 0).
                machine: String::new(),
                job,
                tx,
            })
            .map_err(|_| NoLease::Gone)?;
        loop {
            match rx.recv().await {
                Some(FromScheduler::Grant {
                    lease,
                    host,
                    port,
                    lzo,
                    ..
                }) => {
                    let ip = host.parse().map_err(|_| NoLease::Gone)?;
                    return Ok(InternalLease {
                        id: lease,
                        addr: SocketAddr::new(ip, port),
                        lzo,
                        messages: rx,
                        guard,
                    });
                }
                Some(FromScheduler::CompileLocally { reason, .. }) => {
                    return Err(NoLease::CompileLocally(reason));
                }
                Some(_) => continue,
                None => return Err(NoLease::Gone),
            }
        }
    }
}

/// Ends a connection's requests and leases when dropped.
#[derive(Debug)]
struct ConnGuard {
    conn: u64,
    events: mpsc::UnboundedSender<Event>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let _ = self.events.send(Event::Gone { conn: self.conn });
    }
}

/// A slot held on behalf of a client inside the service.
#[derive(Debug)]
pub struct InternalLease {
    /// The lease number.
    pub id: u64,
    /// The server's distcc address.
    pub addr: SocketAddr,
    /// Whether it takes protocol 2.
    pub lzo: bool,
    messages: mpsc::UnboundedReceiver<FromScheduler>,
    guard: ConnGuard,
}

impl InternalLease {
    /// Resolves when the scheduler revokes this lease (its server went down); never
    /// resolves otherwise. Speculative copies are declined by the actor on the holder's
    /// behalf (it runs one copy), so the original keeps its lease.
    pub async fn revoked(&mut self) {
        loop {
            match self.messages.recv().await {
                Some(FromScheduler::Cancel { lease }) if lease == self.id => return,
                Some(_) => continue,
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// Give the slot back with the job's figures.
    pub fn release(self, result: farm::JobResult, duration: Duration) {
        let _ = self.guard.events.send(Event::Release {
            conn: self.guard.conn,
            lease: self.id,
            result,
            duration_ms: duration.as_millis() as u64,
        });
        // Dropping the guard ends the connection: nothing else is held.
    }
}
