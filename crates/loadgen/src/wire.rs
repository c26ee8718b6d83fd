//! The control protocol as the load generator speaks it: a framed connection, the client
//! handshake, a fake compile server that registers and heartbeats, and a minimal
//! `/status` reader.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::BytesMut;
use ccfarm_proto::farm::{
    self, CompilerIdentity, DEFAULT_MAX_FRAME, FromScheduler, PROTOCOL_VERSION, Role, ToScheduler,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long any handshake step may take before it counts as a failure.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One framed connection to the scheduler.
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

impl Conn {
    /// Connect and exchange `Hello`/`Welcome` as `role`.
    pub async fn open(addr: SocketAddr, role: Role) -> anyhow::Result<Conn> {
        let stream = timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(addr))
            .await
            .context("connect timed out")?
            .context("connect")?;
        // Every message is one small frame that the peer waits for: Nagle would add up
        // to 40 ms (delayed ACK) to a grant.
        stream.set_nodelay(true)?;
        let mut conn = Conn {
            stream,
            buf: BytesMut::with_capacity(512),
        };
        conn.send(&ToScheduler::Hello {
            version: PROTOCOL_VERSION,
            role,
        })
        .await?;
        match timeout(HANDSHAKE_TIMEOUT, conn.recv())
            .await
            .context("no welcome in time")??
        {
            FromScheduler::Welcome { .. } => Ok(conn),
            FromScheduler::Refused { reason } => bail!("refused: {reason}"),
            other => bail!("expected welcome, got {other:?}"),
        }
    }

    pub async fn send(&mut self, message: &ToScheduler) -> std::io::Result<()> {
        self.stream.write_all(&farm::encode(message)).await
    }

    /// The next message; a closed connection is an error (the scheduler never closes a
    /// healthy one).
    pub async fn recv(&mut self) -> anyhow::Result<FromScheduler> {
        loop {
            if let Some(message) = farm::decode(&mut self.buf, DEFAULT_MAX_FRAME)? {
                return Ok(message);
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                bail!("the scheduler closed the connection");
            }
        }
    }
}

/// A client identity: users are shared between connections, as several `ccfarm`
/// processes of one developer's build would be.
pub fn client_role(index: usize, users: usize) -> Role {
    Role::Client {
        user: format!("user{}", index % users.max(1)),
        machine: format!("loadgen-{index}"),
    }
}

/// A fake compile server: registers `slots` and heartbeats every second, reporting
/// nothing running (so that none of the leases count as foreign load) and plenty of
/// memory, until the task is aborted. Failures are counted in `errors`.
pub async fn fake_server(
    addr: SocketAddr,
    index: usize,
    slots: u32,
    errors: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let result = serve_fake(addr, index, slots).await;
    if result.is_err() {
        errors.fetch_add(1, Ordering::Relaxed);
    }
    result
}

async fn serve_fake(addr: SocketAddr, index: usize, slots: u32) -> anyhow::Result<()> {
    let mut conn = Conn::open(
        addr,
        Role::Server {
            name: format!("loadgen-server-{index}"),
        },
    )
    .await?;
    conn.send(&ToScheduler::Register {
        // Never dialled: clients only measure the grant.
        distcc_port: 40_000 + index as u16,
        slots,
        lzo: false,
        compilers: vec![CompilerIdentity {
            name: "gcc".into(),
            version: "12.2.0".into(),
            target: "x86_64-linux-gnu".into(),
        }],
        version: env!("CARGO_PKG_VERSION").into(),
        tls: false,
    })
    .await?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                conn.send(&ToScheduler::Heartbeat {
                    slots,
                    running: 0,
                    load_average: [0.0; 3],
                    free_memory_mb: 64 * 1024,
                    calibration_ms: None,
                })
                .await?;
            }
            message = conn.recv() => {
                // Nothing but a refusal is sent to servers today.
                if let FromScheduler::Refused { reason } = message? {
                    bail!("server {index} refused: {reason}");
                }
            }
        }
    }
}

/// The scheduler's `/status` JSON.
pub async fn status(http: SocketAddr) -> anyhow::Result<serde_json::Value> {
    let fetch = async {
        let mut stream = TcpStream::connect(http).await?;
        stream.write_all(b"GET /status HTTP/1.0\r\n\r\n").await?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await?;
        anyhow::Ok(out)
    };
    let out = timeout(HANDSHAKE_TIMEOUT, fetch)
        .await
        .context("/status timed out")??;
    let text = String::from_utf8_lossy(&out);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .context("no HTTP body")?;
    serde_json::from_str(body).context("/status is not JSON")
}
