//! One connection on the scheduler's port: a client asking for slots, or a server
//! registering. Frames in are turned into actor events; the actor's messages for this
//! connection are written back. Every frame length is capped; a malformed or
//! unexpected message closes the connection with a `Refused` explaining why.

use std::net::SocketAddr;

use bytes::BytesMut;
use ccfarm_proto::farm::{
    self, DEFAULT_MAX_FRAME, FromScheduler, PROTOCOL_VERSION, Role, ToScheduler,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::actor::Event;
use crate::handle::Handle;

/// Serve one connection until it closes.
pub async fn serve(stream: TcpStream, peer: SocketAddr, handle: Handle) {
    let conn = handle.new_conn();
    let events = handle.events();
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<FromScheduler>();
    let writer_task = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            if writer.write_all(&farm::encode(&message)).await.is_err() {
                break;
            }
            if matches!(message, FromScheduler::Refused { .. }) {
                break;
            }
        }
    });
    let mut buf = BytesMut::new();
    let refuse = |tx: &mpsc::UnboundedSender<FromScheduler>, reason: String| {
        warn!(%peer, "refusing: {reason}");
        let _ = tx.send(FromScheduler::Refused { reason });
    };
    let role = match next(&mut reader, &mut buf).await {
        Ok(Some(ToScheduler::Hello { version, role })) if version == PROTOCOL_VERSION => role,
        Ok(Some(ToScheduler::Hello { version, .. })) => {
            refuse(
                &tx,
                format!(
                    "protocol version {version} is not supported (this scheduler speaks {PROTOCOL_VERSION})"
                ),
            );
            drop(tx);
            let _ = writer_task.await;
            return;
        }
        Ok(Some(other)) => {
            refuse(&tx, format!("expected hello, got {other:?}"));
            drop(tx);
            let _ = writer_task.await;
            return;
        }
        Ok(None) => return,
        Err(e) => {
            refuse(&tx, e);
            drop(tx);
            let _ = writer_task.await;
            return;
        }
    };
    let _ = tx.send(FromScheduler::Welcome {
        version: PROTOCOL_VERSION,
    });
    loop {
        let message = match next(&mut reader, &mut buf).await {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(e) => {
                refuse(&tx, e);
                break;
            }
        };
        let event = match (&role, message) {
            (Role::Client { user, .. }, ToScheduler::Request { request, job }) => Event::Request {
                conn,
                number: request,
                user: user.clone(),
                job,
                tx: tx.clone(),
            },
            (
                Role::Client { .. },
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
                Role::Server { name },
                ToScheduler::Register {
                    distcc_port,
                    slots,
                    lzo,
                    ..
                },
            ) => Event::Register {
                conn,
                name: name.clone(),
                ip: peer.ip(),
                port: distcc_port,
                slots,
                lzo,
            },
            (
                Role::Server { .. },
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
            (_, other) => {
                refuse(&tx, format!("unexpected message {other:?}"));
                break;
            }
        };
        if events.send(event).is_err() {
            break;
        }
    }
    debug!(%peer, "connection closed");
    let _ = events.send(Event::Gone { conn });
    drop(tx);
    let _ = writer_task.await;
}

async fn next(
    reader: &mut OwnedReadHalf,
    buf: &mut BytesMut,
) -> Result<Option<ToScheduler>, String> {
    loop {
        match farm::decode(buf, DEFAULT_MAX_FRAME) {
            Ok(Some(message)) => return Ok(Some(message)),
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        match reader.read_buf(buf).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}
