//! The balance-daemon ports of a 2004 distcc mailing-list thread: Scott Lystig Fritchie's
//! `balance-daemon.tcl`, served by the scheduler so that the thread's other two scripts
//! (`bal-wrap.tcl` and `balance-status-daemon.tcl`) work against it unchanged.
//!
//! - **Lease port** (the seed's 5656). A client connects and reads one line, a distcc host
//!   (`ip:port`, with `,lzo` when the server takes protocol 2: DISTCC_HOSTS syntax, because
//!   `bal-wrap.tcl` puts the line into `DISTCC_HOSTS` as it is). The slot is the client's
//!   until it closes the connection. While no slot is free the client waits, as in the seed;
//!   when the scheduler says to compile locally (no server up, waited too long, queue full)
//!   the line is `localhost`, which distcc runs on the client itself even with
//!   `DISTCC_FALLBACK=0`, followed by a `# ...` line with the reason (distcc's host-list
//!   syntax treats it as a comment; `bal-wrap.tcl` reads one line only) and a close. The
//!   fair-share user is the client's IP address: the protocol carries no name.
//! - **Status port** (5657). A text dump in the seed's `name = value` lines; the
//!   `ServerList = {ip:port slots} ...` line is what `balance-status-daemon.tcl` parses to
//!   find the servers it probes.
//! - **Status-update port** (5658). Lines `SERVER up` / `SERVER down`, SERVER as listed on
//!   the status port (or a host's scheduler name). `down` takes the host out of service (an
//!   operator's down: no new leases, running ones revoked, and so until an `up`, even if a
//!   ccfarmd re-registers meanwhile); `up` undoes only a `down` that came through this port,
//!   as in the seed, where `up` matters only for a server it had marked down. The status
//!   daemon says `up` for every server that accepts a TCP connection, every ten seconds:
//!   passing each of those on would cancel an operator's drain or down and the scheduler's
//!   own health evidence (a ccfarmd whose port answers but that stopped heartbeating, a host
//!   on probation).
//!
//! Each answer on the update port is one line, `ok: ...` or `error: ...`; the seed sends
//! none, and its status daemon closes without reading, which does it no harm. Like the
//! seed's, the update port has no authentication: whoever can connect can take servers out
//! of service, which is why a bare port number in `--balance-ports` binds loopback only.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccfarm_placement::{DownReason, Health, Snapshot};
use ccfarm_proto::farm::JobDescription;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use crate::event::{AdminError, AdminOp};
use crate::handle::{Handle, NoLease};

/// Longest line taken on the update port. `ip:port down` is under 60 bytes; a host name
/// of a few hundred still fits.
pub const MAX_LINE: usize = 512;

/// How long the update port waits for a line before it hangs up: the status daemon writes
/// its line at once, so a silent connection is stuck or hostile.
const LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write to a client may take: the answers are small, so a client that does not
/// take them in this time is not reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Who may use the balance ports: the protocol carries no credential, and the update
/// port can mark any server down.
#[derive(Clone)]
pub struct Gate {
    /// The allowed networks.
    pub allow: ccfarm_trust::allow::AllowList,
    /// Where refusals are counted.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// Accept connections from `gate`'s networks forever, serving each in its own task.
async fn accept<F, Fut>(listener: TcpListener, port: &'static str, gate: Gate, serve: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, peer)) if !gate.allow.allows(peer.ip()) => {
                warn!(
                    %peer,
                    "balance {port} port: refusing {}: not in balance_allow ({})",
                    peer.ip(),
                    gate.allow
                );
                gate.metrics.refusal("address");
                drop(stream);
            }
            Ok((stream, peer)) => {
                tokio::spawn(serve(stream, peer));
            }
            Err(e) => {
                // Out of file descriptors, most likely: wait rather than spin.
                warn!("balance {port} port: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Write `text` within [`WRITE_TIMEOUT`]; errors are the client's business (it went away).
async fn send(stream: &mut (impl AsyncWriteExt + Unpin), text: &str) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(text.as_bytes())).await,
        Ok(Ok(()))
    )
}

// ---------------------------------------------------------------------------------------
// Lease port
// ---------------------------------------------------------------------------------------

/// Serve the lease port.
pub async fn serve_lease(listener: TcpListener, handle: Handle, gate: Gate) {
    accept(listener, "lease", gate, move |stream, peer| {
        lease_client(stream, peer, handle.clone())
    })
    .await;
}

/// The line that tells the client where to compile: a DISTCC_HOSTS entry.
fn host_line(addr: SocketAddr, lzo: bool) -> String {
    // SocketAddr's form is distcc's: `ip:port`, and `[v6]:port` for IPv6.
    if lzo {
        format!("{addr},lzo\n")
    } else {
        format!("{addr}\n")
    }
}

async fn lease_client(stream: TcpStream, peer: SocketAddr, handle: Handle) {
    let _ = stream.set_nodelay(true);
    crate::keepalive::enable(&stream);
    let (mut reader, mut writer) = stream.into_split();
    // The seed's clients send nothing; whatever they send is read and dropped (as the seed
    // does), a chunk at a time, so nothing accumulates and no length needs capping.
    let mut discard = [0u8; 1024];
    let user = peer.ip().to_string();
    let job = JobDescription {
        compiler: String::new(),
        source: String::new(),
        preprocessed_bytes: None,
        previous_ms: None,
        previous_server: None,
        compiler_identity: None,
        avoid: Vec::new(),
        local_slots: 0,
    };
    let asked = Instant::now();
    let answer = {
        let wanted = handle.lease(&user, job);
        tokio::pin!(wanted);
        loop {
            tokio::select! {
                answer = &mut wanted => break answer,
                read = reader.read(&mut discard) => match read {
                    Ok(0) | Err(_) => {
                        // Gave up waiting: dropping `wanted` withdraws the request.
                        debug!(%peer, "balance lease client left before a slot was free");
                        return;
                    }
                    Ok(_) => {}
                },
            }
        }
    };
    let mut lease = match answer {
        Ok(lease) => lease,
        Err(no) => {
            let reason = match no {
                NoLease::CompileLocally(reason) => reason,
                NoLease::Gone => "the scheduler is shutting down".to_owned(),
            };
            info!(%peer, "balance lease: compile locally: {reason}");
            let text = format!("localhost\n# ccfarm-scheduler: compile locally: {reason}\n");
            send(&mut writer, &text).await;
            let _ = writer.shutdown().await;
            return;
        }
    };
    debug!(%peer, lease = lease.id, server = %lease.addr, waited = ?asked.elapsed(), "balance lease granted");
    if !send(&mut writer, &host_line(lease.addr, lease.lzo)).await {
        debug!(%peer, lease = lease.id, "balance lease client gone before the answer");
        return;
    }
    let held = Instant::now();
    let mut revoked = false;
    loop {
        tokio::select! {
            read = reader.read(&mut discard) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
            () = lease.revoked(), if !revoked => {
                // There is no way to tell a distcc client to stop: the slot is already free
                // in the scheduler, and the job fails over on the client's side if it must.
                revoked = true;
                info!(%peer, lease = lease.id, server = %lease.addr, "balance lease revoked (its server went down)");
            }
        }
    }
    // Dropping the lease gives the slot back with no figures: the seed's protocol reports
    // neither the job's outcome nor its size, and a made-up "ok" would teach the scheduler
    // speeds (and vouch for hosts) from jobs that may have failed.
    debug!(%peer, lease = lease.id, held = ?held.elapsed(), "balance lease returned");
    drop(lease);
}

// ---------------------------------------------------------------------------------------
// Status port
// ---------------------------------------------------------------------------------------

/// Serve the status port.
pub async fn serve_status(listener: TcpListener, handle: Handle, gate: Gate) {
    accept(listener, "status", gate, move |stream, _peer| {
        status_client(stream, handle.clone())
    })
    .await;
}

async fn status_client(mut stream: TcpStream, handle: Handle) {
    // The client reads until we close (`read $sock` in the status daemon).
    let text = match (handle.snapshot().await, handle.addresses().await) {
        (Some(snapshot), Some(addresses)) => status_text(&snapshot, &addresses),
        _ => "error: the scheduler is shutting down\n".to_owned(),
    };
    send(&mut stream, &text).await;
    let _ = stream.shutdown().await;
}

/// The lower-case health word used on the status port (the seed's up/down, plus ours).
fn health_word(health: Health) -> &'static str {
    match health {
        Health::Up => "up",
        Health::Probation => "probation",
        Health::Down => "down",
        Health::Draining => "draining",
    }
}

/// One Tcl list element: the status line is parsed as a Tcl list, so names with spaces,
/// braces or newlines must be escaped (a newline would also end the line early).
fn tcl_element(s: &str) -> String {
    if s.is_empty() {
        return "{}".into();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' ' | '{' | '}' | '[' | ']' | '$' | '"' | ';' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The state as the seed's daemon prints it, from the scheduler's snapshot and the hosts'
/// distcc addresses. Hosts are listed in the scheduler's order.
fn status_text(snapshot: &Snapshot, addresses: &[(String, SocketAddr)]) -> String {
    let mut servers = Vec::new(); // (ip:port, host)
    let mut unlisted = Vec::new();
    for host in &snapshot.hosts {
        let Some((_, addr)) = addresses.iter().find(|(name, _)| *name == host.name) else {
            continue;
        };
        if addr.is_ipv6() {
            // The status daemon splits SERVER at every ':' to find the port, so it would
            // probe "[" and report an IPv6 host down every round.
            unlisted.push(addr.to_string());
        } else {
            servers.push((addr.to_string(), host));
        }
    }
    let join = |items: Vec<String>| items.join(" ");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ccfarm-scheduler balance status: policy {}, {} hosts",
        snapshot.policy,
        snapshot.hosts.len()
    );
    let _ = writeln!(
        out,
        "ServerList = {}",
        join(
            servers
                .iter()
                .map(|(a, h)| format!("{{{a} {}}}", h.slots))
                .collect()
        )
    );
    let _ = writeln!(out, "IdleServers = {}", snapshot.free_slots);
    let down_slots: u32 = snapshot
        .hosts
        .iter()
        .filter(|h| h.health == Health::Down)
        .map(|h| h.slots)
        .sum();
    let _ = writeln!(out, "DownServers = {down_slots}");
    let _ = writeln!(out, "WaitQueueLen = {}", snapshot.queued);
    let _ = writeln!(out, "Leases = {}", snapshot.leases);
    let _ = writeln!(
        out,
        "ServerStatus (available distcc servers) = {}",
        join(
            servers
                .iter()
                .map(|(a, h)| format!("{a} {}", h.capacity.saturating_sub(h.leases)))
                .collect()
        )
    );
    let _ = writeln!(
        out,
        "ServerUpState (distcc server up/down status) = {}",
        join(
            servers
                .iter()
                .map(|(a, h)| format!("{a} {}", health_word(h.health)))
                .collect()
        )
    );
    let _ = writeln!(
        out,
        "ServerNames (scheduler names) = {}",
        join(
            servers
                .iter()
                .map(|(a, h)| format!("{a} {}", tcl_element(&h.name)))
                .collect()
        )
    );
    let _ = writeln!(
        out,
        "Users (leases held, requests waiting) = {}",
        join(
            snapshot
                .users
                .iter()
                .map(|u| format!("{{{} {} {}}}", tcl_element(&u.name), u.running, u.queued))
                .collect()
        )
    );
    if !unlisted.is_empty() {
        let _ = writeln!(
            out,
            "NotInServerList (IPv6: balance-status-daemon.tcl cannot split these) = {}",
            unlisted.join(" ")
        );
    }
    out
}

// ---------------------------------------------------------------------------------------
// Status-update port
// ---------------------------------------------------------------------------------------

/// Hosts (by scheduler name, so that a ccfarmd that comes back on another port is still
/// recognised) that this port took down: its "up" is for these only. An operator's `up`
/// brings them back too; the next "up" here is then harmless.
type Downed = Arc<Mutex<HashSet<String>>>;

/// Serve the status-update port.
pub async fn serve_update(listener: TcpListener, handle: Handle, gate: Gate) {
    let downed: Downed = Arc::default();
    accept(listener, "status-update", gate, move |stream, peer| {
        update_client(stream, peer, handle.clone(), downed.clone())
    })
    .await;
}

/// Why a line was not read.
#[derive(Debug, PartialEq)]
enum LineError {
    TooLong,
    NotUtf8,
    Timeout,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::TooLong => write!(f, "line longer than {MAX_LINE} bytes refused"),
            LineError::NotUtf8 => write!(f, "line is not UTF-8"),
            LineError::Timeout => write!(
                f,
                "no complete line within {} s; closing",
                LINE_TIMEOUT.as_secs()
            ),
        }
    }
}

/// The next line, without its end (`\n` or `\r\n`); `None` at the end of the stream. A
/// last line without a newline counts (a hand-typed `printf`). At most [`MAX_LINE`] bytes
/// are buffered.
async fn read_line(
    reader: &mut BufReader<impl AsyncRead + Unpin>,
) -> Result<Option<String>, LineError> {
    let mut buf = Vec::new();
    // Room for the line, its "\r\n", and one byte more to tell an over-long line.
    let limit = (MAX_LINE + 2) as u64;
    let read = tokio::time::timeout(
        LINE_TIMEOUT,
        (&mut *reader).take(limit).read_until(b'\n', &mut buf),
    )
    .await;
    match read {
        Err(_) => return Err(LineError::Timeout),
        Ok(Err(_)) | Ok(Ok(0)) => return Ok(None),
        Ok(Ok(_)) => {}
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    if buf.len() > MAX_LINE {
        return Err(LineError::TooLong);
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| LineError::NotUtf8)
}

/// A parsed update line.
#[derive(Debug, PartialEq)]
struct Update {
    server: String,
    up: bool,
}

/// Why an update line was not applied; the status daemon is told.
#[derive(Debug, PartialEq, thiserror::Error)]
enum UpdateError {
    /// A status other than `up` or `down`.
    #[error("status {0:?} is neither \"up\" nor \"down\"")]
    Status(String),
    /// Not two words.
    #[error(
        "expected \"SERVER up\" or \"SERVER down\" (SERVER as on the status port's ServerList)"
    )]
    Shape,
    /// No host with that address or name.
    #[error("no host {0:?} (use ip:port as on the ServerList line, or a host's name)")]
    UnknownHost(String),
    /// The actor is gone.
    #[error("the scheduler is shutting down")]
    Gone,
    /// The actor refused the change.
    #[error(transparent)]
    Admin(#[from] AdminError),
}

fn parse_update(line: &str) -> Result<Update, UpdateError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words[..] {
        [server, "up"] => Ok(Update {
            server: server.to_owned(),
            up: true,
        }),
        [server, "down"] => Ok(Update {
            server: server.to_owned(),
            up: false,
        }),
        [_, other] => Err(UpdateError::Status(other.to_owned())),
        _ => Err(UpdateError::Shape),
    }
}

async fn update_client(stream: TcpStream, peer: SocketAddr, handle: Handle, downed: Downed) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    loop {
        let line = match read_line(&mut reader).await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                warn!(%peer, "balance status-update: {e}");
                send(&mut writer, &format!("error: {e}\n")).await;
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let answer = match parse_update(&line) {
            Ok(update) => apply_update(&handle, &downed, update).await,
            Err(e) => Err(e),
        };
        let text = match answer {
            Ok(done) => format!("ok: {done}\n"),
            Err(why) => {
                warn!(%peer, "balance status-update {line:?} refused: {why}");
                format!("error: {why}\n")
            }
        };
        if !send(&mut writer, &text).await {
            // The seed's status daemon closes without reading: that is its right.
            break;
        }
    }
    let _ = writer.shutdown().await;
}

/// Apply one update; returns what was done, or why nothing was.
async fn apply_update(
    handle: &Handle,
    downed: &Downed,
    update: Update,
) -> Result<String, UpdateError> {
    // One update at a time: the check of the host's state and the change belong together.
    let mut downed = downed.lock().await;
    let addresses = handle.addresses().await.ok_or(UpdateError::Gone)?;
    let snapshot = handle.snapshot().await.ok_or(UpdateError::Gone)?;
    let server = &update.server;
    // The status daemon names servers by their address; a person may use the name.
    let name = addresses
        .iter()
        .find(|(name, addr)| addr.to_string() == *server || name == server)
        .map(|(name, _)| name.clone())
        .ok_or_else(|| UpdateError::UnknownHost(server.clone()))?;
    let host = snapshot.hosts.iter().find(|h| h.name == name);
    let operator_down =
        host.is_some_and(|h| h.health == Health::Down && h.down_reason == Some(DownReason::Admin));
    if update.up {
        if !downed.contains(&name) {
            return Ok(format!(
                "{server} is reachable; it was not reported down here, so nothing changes"
            ));
        }
        let done = handle.admin(AdminOp::Up(name.clone())).await?;
        downed.remove(&name);
        info!("balance status-update: {server} up: {done}");
        Ok(done)
    } else {
        if operator_down {
            // Already out of service: by this port (nothing to repeat every ten seconds) or
            // by an operator (whose "up" it is to give, not this port's).
            let by = if downed.contains(&name) {
                "this port"
            } else {
                "an operator"
            };
            return Ok(format!("{server} is already down (taken down by {by})"));
        }
        let done = handle.admin(AdminOp::Down(name.clone())).await?;
        downed.insert(name);
        info!("balance status-update: {server} down: {done}");
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_lines_are_parsed_strictly() {
        assert_eq!(
            parse_update("127.0.0.1:3632 down"),
            Ok(Update {
                server: "127.0.0.1:3632".into(),
                up: false
            })
        );
        assert_eq!(
            parse_update("  a   up "),
            Ok(Update {
                server: "a".into(),
                up: true
            })
        );
        assert!(
            parse_update("a sideways")
                .unwrap_err()
                .to_string()
                .contains("sideways")
        );
        assert!(parse_update("a").is_err());
        assert!(parse_update("a down now").is_err());
    }

    #[test]
    fn tcl_elements_survive_spaces_braces_and_newlines() {
        assert_eq!(tcl_element("plain-name.1"), "plain-name.1");
        assert_eq!(tcl_element(""), "{}");
        assert_eq!(tcl_element("a b{c}\nd"), "a\\ b\\{c\\}\\nd");
    }

    #[tokio::test]
    async fn long_lines_are_refused_after_at_most_the_cap() {
        let mut input = vec![b'x'; MAX_LINE + 1];
        input.push(b'\n');
        let mut reader = BufReader::new(&input[..]);
        assert_eq!(read_line(&mut reader).await, Err(LineError::TooLong));

        let mut input = vec![b'x'; MAX_LINE];
        input.extend_from_slice(b"\r\nnext");
        let mut reader = BufReader::new(&input[..]);
        assert_eq!(read_line(&mut reader).await, Ok(Some("x".repeat(MAX_LINE))));
        assert_eq!(read_line(&mut reader).await, Ok(Some("next".into())));
        assert_eq!(read_line(&mut reader).await, Ok(None));
    }
}
