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

use bytes::BytesMut;
use ccfarm_proto::farm::{
    self, DEFAULT_MAX_FRAME, FromScheduler, PROTOCOL_VERSION, Role, ToScheduler,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::actor::Event;
use crate::handle::Handle;

/// Serve one connection until it closes.
pub async fn serve(mut stream: TcpStream, peer: SocketAddr, handle: Handle) {
    let conn = handle.new_conn();
    let events = handle.events();
    let _ = stream.set_nodelay(true);
    crate::keepalive::enable(&stream);
    let (tx, mut rx) = mpsc::unbounded_channel::<FromScheduler>();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut role: Option<Role> = None;
    let mut user: Arc<str> = Arc::from("");
    let refusal = loop {
        // Whole frames already buffered are handled before reading more.
        let message = match farm::decode::<ToScheduler>(&mut buf, DEFAULT_MAX_FRAME) {
            Ok(Some(message)) => message,
            Ok(None) => {
                tokio::select! {
                    read = stream.read_buf(&mut buf) => match read {
                        Ok(0) | Err(_) => break None,
                        Ok(_) => continue,
                    },
                    Some(message) = rx.recv() => {
                        out.clear();
                        out.extend_from_slice(&farm::encode(&message));
                        while let Ok(more) = rx.try_recv() {
                            out.extend_from_slice(&farm::encode(&more));
                        }
                        if stream.write_all(&out).await.is_err() {
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
                if let Role::Client { user: name, .. } = &r {
                    user = Arc::from(name.as_str());
                }
                role = Some(r);
                let _ = tx.send(FromScheduler::Welcome {
                    version: PROTOCOL_VERSION,
                });
                continue;
            }
            (None, other) => break Some(format!("expected hello, got {other:?}")),
            (Some(Role::Client { .. }), ToScheduler::Request { request, job }) => Event::Request {
                conn,
                number: request,
                user: user.to_string(),
                job,
                tx: tx.clone(),
            },
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
                    compilers,
                    ..
                },
            ) => Event::Register {
                conn,
                name: name.clone(),
                ip: peer.ip(),
                port: distcc_port,
                slots,
                lzo,
                compilers,
            },
            (
                Some(Role::Server { .. }),
                ToScheduler::Heartbeat {
                    slots,
                    running,
                    load_average,
                    free_memory_mb,
                },
            ) => Event::Heartbeat {
                conn,
                slots,
                running,
                load: load_average[0],
                free_memory_mb,
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
        let _ = stream.shutdown().await;
    }
    debug!(%peer, "connection closed");
}
