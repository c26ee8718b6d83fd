//! One connection on the scheduler's port: a client asking for slots, or a server
//! registering. Frames in are turned into actor events; the actor's messages for this
//! connection are written back. Every frame length is capped; a malformed or
//! unexpected message closes the connection with a `Refused` explaining why.
//!
//! One task per connection does both directions (a `select!` over the socket and the
//! actor's queue): with thousands of mostly idle clients, a second task per connection
//! would double the wake-ups and the memory. Messages queued together are written
//! with one system call.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use ccfarm_proto::farm::{
    self, DEFAULT_MAX_FRAME, FromScheduler, PROTOCOL_VERSION, Role, TicketKeyGrant, ToScheduler,
};
use ccfarm_trust::Identity;
use ccfarm_trust::ticket::TicketKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::budget::Budget;
use crate::client_cache::ClientCache;
use crate::event::{Event, Registration};
use crate::handle::Handle;

/// What is known of the peer before its hello.
#[derive(Debug, Clone)]
pub enum Peer {
    /// A TLS client whose certificate proved this identity: its hello must agree.
    Verified(Identity),
    /// A plaintext client (loopback-only or `--insecure` scheduler): taken at its word.
    Unverified,
}

/// A hello that claims more than its certificate proves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ClaimError {
    /// The certificate is for another kind of peer.
    #[error("the certificate is for {identity}, which may not connect as a {wanted}")]
    Role {
        /// What the certificate proved.
        identity: Identity,
        /// What the hello needs.
        wanted: ccfarm_trust::Role,
    },
    /// The certificate is for another user or server.
    #[error("the certificate is for {identity}, but the hello claims {wanted} {claimed:?}")]
    Name {
        /// What the certificate proved.
        identity: Identity,
        /// What the hello needs.
        wanted: ccfarm_trust::Role,
        /// The name the hello claims.
        claimed: String,
    },
}

/// Check a hello's claim against the certificate's identity; the refusal says why.
fn check_claim(peer: &Peer, role: &Role) -> Result<(), ClaimError> {
    use ccfarm_trust::Role as Proven;
    let Peer::Verified(identity) = peer else {
        return Ok(());
    };
    let (wanted, claimed) = match role {
        Role::Client { user, .. } => (Proven::User, Some(user.as_str())),
        Role::Server { name } => (Proven::Server, Some(name.as_str())),
        Role::Admin => (Proven::Admin, None),
    };
    if identity.role != wanted {
        return Err(ClaimError::Role {
            identity: identity.clone(),
            wanted,
        });
    }
    match claimed {
        Some(claimed) if claimed != identity.name => Err(ClaimError::Name {
            identity: identity.clone(),
            wanted,
            claimed: claimed.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// How long a connection may take to say hello, and to finish a frame once its first
/// byte has come: a peer that opens connections and says nothing, or trickles a frame,
/// holds a task and up to a frame's buffer each, so it is cut off rather than waited on.
/// Ten seconds lets a 256 KiB frame through at 25 KB/s.
pub const READ_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How many ping intervals of silence cut a client off: one before the ping, two for
/// the answer, which a client gives at once unless its process is stopped or hung.
const SILENT_INTERVALS: u32 = 3;

/// What every connection on the control port is held to, besides the read deadline.
#[derive(Debug, Clone)]
pub struct Guards {
    /// A client connection silent this long is pinged, and cut off if it stays silent
    /// for [`SILENT_INTERVALS`] times that: a stopped client (SIGSTOP, a debugger) would
    /// otherwise hold its leases, and the slots with them, until it is continued.
    pub ping: Duration,
    /// The receive buffers of all connections together ([`crate::budget`]).
    pub buffers: Arc<Budget>,
}

/// A buffer emptied of its frames keeps its memory unless it is given back; past this
/// much, it is.
const KEPT_BUFFER: usize = 16 * 1024;

/// Serve one connection until it closes, under `guards`.
pub async fn serve<S>(
    mut stream: S,
    peer: SocketAddr,
    proven: Peer,
    handle: Handle,
    guards: &Guards,
    cache: Option<&ClientCache>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let ping = guards.ping;
    let mut share = guards.buffers.share();
    let conn = handle.new_conn();
    let events = handle.events();
    let (tx, mut rx) = mpsc::unbounded_channel::<FromScheduler>();
    let mut ticket_key: Option<TicketKey> = None;
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut role: Option<Role> = None;
    let mut user: Arc<str> = Arc::from("");
    // Until the hello, the connection's own start; then the first byte of a frame not
    // yet complete (none while no frame is under way).
    let mut reading_since = Some(tokio::time::Instant::now());
    let mut last_heard = tokio::time::Instant::now();
    let mut pinged = false;
    let refusal = loop {
        // Whole frames already buffered are handled before reading more.
        let message = match farm::decode::<ToScheduler>(&mut buf, DEFAULT_MAX_FRAME) {
            Ok(Some(message)) => message,
            Ok(None) => {
                if buf.is_empty() && buf.capacity() > KEPT_BUFFER {
                    buf = BytesMut::new();
                    let _ = share.hold(0);
                }
                if role.is_some() {
                    reading_since = match (reading_since, buf.is_empty()) {
                        (_, true) => None,
                        (None, false) => Some(tokio::time::Instant::now()),
                        (since, false) => since,
                    };
                }
                let deadline = reading_since.map(|t| t + READ_DEADLINE);
                let client = matches!(role, Some(Role::Client { .. }));
                let alarm = client.then(|| {
                    last_heard
                        + if pinged {
                            ping * SILENT_INTERVALS
                        } else {
                            ping
                        }
                });
                tokio::select! {
                    read = stream.read_buf(&mut buf) => match read {
                        Ok(0) | Err(_) => break None,
                        Ok(_) => {
                            last_heard = tokio::time::Instant::now();
                            pinged = false;
                            if let Err(spent) = share.hold(buf.capacity()) {
                                break Some(spent.to_string());
                            }
                            continue;
                        }
                    },
                    () = sleep_until_some(alarm) => {
                        if pinged {
                            break Some(format!(
                                "silent for {} s, a ping unanswered",
                                (ping * SILENT_INTERVALS).as_secs_f64()
                            ));
                        }
                        pinged = true;
                        let _ = tx.send(FromScheduler::Ping);
                        continue;
                    }
                    () = sleep_until_some(deadline) => {
                        break Some(if role.is_none() {
                            format!("no hello within {} s", READ_DEADLINE.as_secs())
                        } else {
                            format!("a frame was not completed within {} s", READ_DEADLINE.as_secs())
                        });
                    }
                    Some(message) = rx.recv() => {
                        out.clear();
                        let mut refused = matches!(message, FromScheduler::Refused { .. });
                        out.extend_from_slice(&farm::encode(&message));
                        while let Ok(more) = rx.try_recv() {
                            refused |= matches!(more, FromScheduler::Refused { .. });
                            out.extend_from_slice(&farm::encode(&more));
                        }
                        if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
                            break None;
                        }
                        if refused {
                            // The actor refused this connection (a registration under a
                            // live server's name): it has said why; nothing more to hear.
                            let _ = stream.shutdown().await;
                            break None;
                        }
                        continue;
                    }
                }
            }
            Err(e) => break Some(e.to_string()),
        };
        let event = match (&role, message) {
            (None, ToScheduler::Hello { version, role: r }) => {
                if version != PROTOCOL_VERSION {
                    break Some(format!(
                        "protocol version {version} is not supported (this scheduler speaks {PROTOCOL_VERSION})"
                    ));
                }
                if let Err(reason) = check_claim(&proven, &r) {
                    break Some(reason.to_string());
                }
                if let Role::Client { user: name, .. } = &r {
                    user = Arc::from(name.as_str());
                }
                // A server whose name a certificate proved gets the key its grant
                // tickets are made with; it dies with this connection.
                let tickets = match (&proven, &r) {
                    (Peer::Verified(_), Role::Server { .. }) => match TicketKey::generate() {
                        Ok(key) => {
                            let grant = TicketKeyGrant {
                                key: key.to_hex(),
                                now_ms: now_ms(),
                            };
                            ticket_key = Some(key);
                            Some(grant)
                        }
                        Err(e) => break Some(e.to_string()),
                    },
                    _ => None,
                };
                let cache = cache.is_some() && matches!(r, Role::Client { .. });
                role = Some(r);
                reading_since = None;
                let _ = tx.send(FromScheduler::Welcome {
                    version: PROTOCOL_VERSION,
                    tickets,
                    cache,
                });
                continue;
            }
            (None, other) => break Some(format!("expected hello, got {other:?}")),
            // Its arrival has already been noted.
            (Some(Role::Client { .. }), ToScheduler::Pong) => continue,
            // Answered here, within the store's deadline: the actor has no part in it.
            (Some(Role::Client { .. }), ToScheduler::CacheLookUp { request, key }) => {
                let (manifest, entry) = match cache {
                    Some(cache) => cache.look_up(&user, &key).await,
                    None => (None, None),
                };
                let _ = tx.send(FromScheduler::CacheFound {
                    request,
                    manifest,
                    entry,
                });
                continue;
            }
            (Some(Role::Client { .. }), ToScheduler::CacheKeep { key, manifest }) => {
                if let Some(cache) = cache {
                    cache.keep(&user, &key, &manifest).await;
                }
                continue;
            }
            (Some(Role::Client { machine, .. }), ToScheduler::Request { request, job }) => {
                Event::Request {
                    conn,
                    number: request,
                    user: user.to_string(),
                    machine: machine.clone(),
                    job,
                    tx: tx.clone(),
                }
            }
            (
                Some(Role::Client { .. }),
                ToScheduler::Size {
                    request,
                    preprocessed_bytes,
                },
            ) => Event::Size {
                conn,
                number: request,
                bytes: preprocessed_bytes,
            },
            (
                Some(Role::Client { .. }),
                ToScheduler::Release {
                    lease,
                    result,
                    duration_ms,
                },
            ) => Event::Release {
                conn,
                lease,
                result,
                duration_ms,
            },
            (
                Some(Role::Server { name }),
                ToScheduler::Register {
                    distcc_port,
                    slots,
                    lzo,
                    tls,
                    compilers,
                    ..
                },
            ) => Event::Register(Registration {
                conn,
                name: name.clone(),
                ip: peer.ip(),
                port: distcc_port,
                slots,
                lzo,
                // Tickets only for a server that takes TLS and proved its name.
                tickets: ticket_key.clone().filter(|_| tls),
                tx: tx.clone(),
                compilers,
            }),
            (
                Some(Role::Server { .. }),
                ToScheduler::Heartbeat {
                    slots,
                    running,
                    load_average,
                    free_memory_mb,
                    calibration_ms,
                },
            ) => Event::Heartbeat {
                conn,
                slots,
                running,
                load: load_average[0],
                free_memory_mb,
                // A nonsensical figure is no measurement.
                calibration: calibration_ms
                    .filter(|ms| ms.is_finite() && *ms > 0.0 && *ms < 3.6e6)
                    .map(|ms| Duration::from_secs_f64(ms / 1e3)),
            },
            (Some(_), other) => break Some(format!("unexpected message {other:?}")),
        };
        if events.send(event).is_err() {
            break None;
        }
    };
    if role.is_some() {
        let _ = events.send(Event::Gone { conn });
    }
    if let Some(reason) = refusal {
        warn!(%peer, "refusing: {reason}");
        // Whatever was queued first (e.g. the welcome), then the refusal.
        out.clear();
        while let Ok(more) = rx.try_recv() {
            out.extend_from_slice(&farm::encode(&more));
        }
        out.extend_from_slice(&farm::encode(&FromScheduler::Refused { reason }));
        let _ = stream.write_all(&out).await;
        let _ = stream.flush().await;
        let _ = stream.shutdown().await;
    }
    debug!(%peer, "connection closed");
}

/// Sleep until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccfarm_trust::Role as Proven;

    fn verified(role: Proven, name: &str) -> Peer {
        Peer::Verified(Identity::new(role, name).unwrap())
    }

    #[test]
    fn a_hello_must_match_the_certificate() {
        let alice = Role::Client {
            user: "alice".into(),
            machine: "laptop".into(),
        };
        let build7 = Role::Server {
            name: "build7".into(),
        };
        assert_eq!(
            check_claim(&verified(Proven::User, "alice"), &alice),
            Ok(())
        );
        assert_eq!(
            check_claim(&verified(Proven::Server, "build7"), &build7),
            Ok(())
        );
        assert_eq!(
            check_claim(&verified(Proven::Admin, "ops"), &Role::Admin),
            Ok(())
        );
        // Another user's name, another server's name, a role the certificate lacks.
        let err = check_claim(&verified(Proven::User, "mallory"), &alice)
            .unwrap_err()
            .to_string();
        assert!(err.contains("claims user \"alice\""), "{err}");
        let err = check_claim(&verified(Proven::Server, "build8"), &build7)
            .unwrap_err()
            .to_string();
        assert!(err.contains("claims server \"build7\""), "{err}");
        let err = check_claim(&verified(Proven::User, "build7"), &build7)
            .unwrap_err()
            .to_string();
        assert!(err.contains("may not connect as a server"), "{err}");
        // Plaintext peers are taken at their word (loopback or --insecure only).
        assert_eq!(check_claim(&Peer::Unverified, &build7), Ok(()));
    }
}
