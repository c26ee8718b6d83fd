//! A blocking connection, plaintext or TLS, that one thread may read while another
//! writes: a lease connection is watched by one thread for the scheduler's notices
//! while the job's thread sends the release. The plaintext may also be a local
//! socket to the user's agent, which keeps the TLS session on the other side (see
//! [`crate::agent`]).
//!
//! A TLS session the agent made may also continue here from its traffic keys, over
//! the member's own socket ([`handed`]).
//!
//! A TLS session is one state machine for both directions, so it sits behind a lock;
//! a reader never holds that lock while it waits for the network (it waits on the
//! socket, then takes the lock to decrypt what came), so a writer is never kept
//! waiting by a quiet peer. Timeouts are the socket's own, as for a plaintext stream.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ccfarm_trust::record::{self, TrafficKeys};
use ccfarm_trust::tls::rustls::{self, ClientConfig, ClientConnection};
use rustls::pki_types::ServerName;

mod handed;

/// Bytes read from the network per system call.
const CHUNK: usize = 16 * 1024;

struct Session {
    tls: ClientConnection,
    /// Ciphertext read from the socket that the session has not taken yet.
    unread: Vec<u8>,
}

/// A TCP connection to `addr` (`host:port`), each of its addresses tried in turn
/// within `timeout` (a name may stand for several schedulers, a standby behind the same
/// DNS name), with Nagle's delay off: every ccfarm message is sent whole.
pub fn connect_any(addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{addr}: no address"));
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The socket under a [`Channel`]: to the peer itself, or to the user's agent.
#[derive(Debug)]
pub enum Socket {
    /// A TCP connection to the scheduler or a compile server.
    Tcp(TcpStream),
    /// A local connection to the agent, which relays it to the peer over TLS.
    Local(UnixStream),
}

impl Socket {
    /// Bound each read (`None`: no bound).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_read_timeout(timeout),
            Socket::Local(s) => s.set_read_timeout(timeout),
        }
    }

    /// Bound each write (`None`: no bound).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_write_timeout(timeout),
            Socket::Local(s) => s.set_write_timeout(timeout),
        }
    }

    /// Shut the socket down (wakes a blocked read on any handle).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.shutdown(how),
            Socket::Local(s) => s.shutdown(how),
        }
    }

    /// A second handle on the same socket.
    pub fn try_clone(&self) -> io::Result<Socket> {
        Ok(match self {
            Socket::Tcp(s) => Socket::Tcp(s.try_clone()?),
            Socket::Local(s) => Socket::Local(s.try_clone()?),
        })
    }
}

impl Read for &Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).read(buf),
            Socket::Local(s) => (&*s).read(buf),
        }
    }
}

impl Write for &Socket {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).write(bytes),
            Socket::Local(s) => (&*s).write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What protects a channel's bytes.
#[derive(Clone)]
enum Protection {
    /// Nothing here: plaintext, or the agent's relay.
    None,
    /// A rustls session made by this process.
    Tls(Arc<Mutex<Session>>),
    /// A session the agent made, continued from its traffic keys.
    Handed(Arc<handed::Handed>),
}

/// A connection to a scheduler or a compile server.
#[derive(Clone)]
pub struct Channel {
    raw: Arc<Socket>,
    session: Protection,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tls = match self.session {
            Protection::None => "none",
            Protection::Tls(_) => "rustls",
            Protection::Handed(_) => "handed over",
        };
        f.debug_struct("Channel")
            .field("socket", &self.raw)
            .field("tls", &tls)
            .finish()
    }
}

/// A TLS connection's socket and traffic keys, to continue the session elsewhere.
#[derive(Debug)]
pub struct Handoff {
    /// The connection to the member.
    pub tcp: TcpStream,
    /// This end's sending keys.
    pub tx: TrafficKeys,
    /// This end's receiving keys.
    pub rx: TrafficKeys,
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Channel {
    /// A plaintext channel over `stream`.
    pub fn plain(stream: TcpStream) -> Channel {
        Channel {
            raw: Arc::new(Socket::Tcp(stream)),
            session: Protection::None,
        }
    }

    /// A channel through the user's agent: plaintext here, TLS from the agent on.
    pub fn through_agent(stream: UnixStream) -> Channel {
        Channel {
            raw: Arc::new(Socket::Local(stream)),
            session: Protection::None,
        }
    }

    /// The TLS session another process handed over: its socket and traffic keys.
    pub fn handed(handoff: Handoff) -> io::Result<Channel> {
        Ok(Channel {
            session: Protection::Handed(Arc::new(handed::Handed::new(&handoff.tx, &handoff.rx)?)),
            raw: Arc::new(Socket::Tcp(handoff.tcp)),
        })
    }

    /// Give up this TLS session for another process to continue: the socket and the
    /// traffic keys, if the session allows it (settings with secret extraction on),
    /// nothing of it is buffered, and this is its only handle. Otherwise the channel
    /// comes back unchanged.
    pub fn hand_off(self) -> Result<Handoff, Channel> {
        let Channel { raw, session } = self;
        let Protection::Tls(session) = session else {
            return Err(Channel { raw, session });
        };
        let (raw, session) = match (Arc::try_unwrap(raw), Arc::try_unwrap(session)) {
            (Ok(Socket::Tcp(tcp)), Ok(session)) => (tcp, session),
            (raw, session) => {
                let raw = raw.map_or_else(|r| r, Arc::new);
                let session = session.map_or_else(|s| s, Arc::new);
                return Err(Channel {
                    raw,
                    session: Protection::Tls(session),
                });
            }
        };
        let Session { tls, unread } = session.into_inner().unwrap_or_else(PoisonError::into_inner);
        let ready = unread.is_empty() && !tls.wants_write() && !tls.is_handshaking();
        let back = |tls: ClientConnection, unread: Vec<u8>, tcp: TcpStream| Channel {
            raw: Arc::new(Socket::Tcp(tcp)),
            session: Protection::Tls(Arc::new(Mutex::new(Session { tls, unread }))),
        };
        if !ready {
            return Err(back(tls, unread, raw));
        }
        // Extraction consumes the session; a refusal (extraction off) leaves nothing
        // to hand back, so it is asked of a session known to allow it.
        match tls.dangerous_extract_secrets() {
            Ok(secrets) => match (
                TrafficKeys::from_rustls(secrets.tx),
                TrafficKeys::from_rustls(secrets.rx),
            ) {
                (Ok(tx), Ok(rx)) => Ok(Handoff { tcp: raw, tx, rx }),
                _ => Err(Channel::plain_closed(raw)),
            },
            Err(_) => Err(Channel::plain_closed(raw)),
        }
    }

    /// A channel that can no longer carry anything (its session was consumed).
    fn plain_closed(tcp: TcpStream) -> Channel {
        let _ = tcp.shutdown(Shutdown::Both);
        Channel::plain(tcp)
    }

    /// Take the member's post-handshake messages (its resumption ticket) if they come
    /// within `bound`, so that the next connection to it resumes. Reads whole records
    /// only, so nothing of what follows is taken from the socket: the session can
    /// still be handed off. Only before this end has sent anything.
    pub fn settle(&self, bound: Duration) -> io::Result<()> {
        let (Protection::Tls(session), Socket::Tcp(tcp)) = (&self.session, &*self.raw) else {
            return Ok(());
        };
        let mut s = session.lock().unwrap_or_else(PoisonError::into_inner);
        tcp.set_read_timeout(Some(bound))?;
        let deadline = std::time::Instant::now() + bound;
        while s.tls.tls13_tickets_received() == 0 && s.unread.is_empty() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            tcp.set_read_timeout(Some(left))?;
            let mut header = [0u8; record::HEADER];
            match (&*tcp).read_exact(&mut header) {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                Err(e) => return Err(e),
            }
            // Once the header is in, the rest of the record is read whole or the
            // session is given up: a half-read record cannot be handed off.
            let body = record::body_len(&header)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let mut whole = header.to_vec();
            whole.resize(record::HEADER + body, 0);
            (&*tcp).read_exact(&mut whole[record::HEADER..])?;
            let mut rest = &whole[..];
            while !rest.is_empty() {
                s.tls.read_tls(&mut rest)?;
                s.tls.process_new_packets().map_err(tls_error)?;
            }
        }
        Ok(())
    }

    /// A TLS channel over `stream`, after a complete handshake (bounded by the
    /// socket's timeouts).
    pub fn tls(
        stream: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<Channel> {
        let mut tls = ClientConnection::new(config, name).map_err(tls_error)?;
        let mut raw = stream;
        while tls.is_handshaking() {
            tls.complete_io(&mut raw)?;
        }
        // The handshake's last flight (our certificate and Finished) goes out now, so
        // that the session can be handed off at once.
        while tls.wants_write() {
            tls.write_tls(&mut raw)?;
        }
        Ok(Channel {
            raw: Arc::new(Socket::Tcp(raw)),
            session: Protection::Tls(Arc::new(Mutex::new(Session {
                tls,
                unread: Vec::new(),
            }))),
        })
    }

    /// Whether this is a TLS session another process made and handed over.
    pub fn handed_over(&self) -> bool {
        matches!(self.session, Protection::Handed(_))
    }

    /// The socket, for timeouts and shutdown.
    pub fn socket(&self) -> &Socket {
        &self.raw
    }

    /// A second handle on the same socket, to shut it down from another thread.
    pub fn try_clone_socket(&self) -> io::Result<Socket> {
        self.raw.try_clone()
    }

    /// Whether the peer has closed or broken the connection, seen without waiting
    /// and without taking anything from it (a connection kept ready is checked
    /// before it is used).
    pub fn is_closed(&self) -> bool {
        let Socket::Tcp(tcp) = &*self.raw else {
            return false;
        };
        if tcp.set_nonblocking(true).is_err() {
            return true;
        }
        let closed = match tcp.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        tcp.set_nonblocking(false).is_err() || closed
    }

    /// Shut the socket down (wakes a blocked read on any handle).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.raw.shutdown(how)
    }

    /// Write all of `bytes`.
    pub fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        let session = match &self.session {
            Protection::None => return (&*self.raw).write_all(bytes),
            Protection::Handed(handed) => return handed.write_all(&self.raw, bytes),
            Protection::Tls(session) => session,
        };
        let mut s = session.lock().unwrap_or_else(PoisonError::into_inner);
        while !bytes.is_empty() {
            let n = s.tls.writer().write(bytes)?;
            bytes = &bytes[n..];
            while s.tls.wants_write() {
                s.tls.write_tls(&mut &*self.raw)?;
            }
        }
        Ok(())
    }

    /// Read some bytes; 0 when the peer closed.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let session = match &self.session {
            Protection::None => return (&*self.raw).read(buf),
            Protection::Handed(handed) => return handed.read(&self.raw, buf),
            Protection::Tls(session) => session,
        };
        let mut chunk = vec![0u8; CHUNK];
        loop {
            {
                let mut s = session.lock().unwrap_or_else(PoisonError::into_inner);
                let Session { tls, unread } = &mut *s;
                // Hand the session what it will take, then offer what it decrypted.
                let mut refused = None;
                while !unread.is_empty() {
                    let mut rest = &unread[..];
                    match tls.read_tls(&mut rest) {
                        Ok(0) => break,
                        Ok(n) => {
                            unread.drain(..n);
                            tls.process_new_packets().map_err(tls_error)?;
                        }
                        // Its buffer is full until the plaintext is read.
                        Err(e) => {
                            refused = Some(e);
                            break;
                        }
                    }
                }
                match tls.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                // Input refused with no plaintext to make room for: a broken session,
                // not one to retry forever.
                if let Some(e) = refused {
                    return Err(e);
                }
                // Alerts and post-handshake messages the session wants to send.
                while tls.wants_write() {
                    tls.write_tls(&mut &*self.raw)?;
                }
                if !unread.is_empty() {
                    continue;
                }
            }
            let n = (&*self.raw).read(&mut chunk)?;
            if n == 0 {
                return Ok(0);
            }
            session
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .unread
                .extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::time::{Duration, SystemTime};

    use ccfarm_trust::authority::{Authority, DEFAULT_VALIDITY};
    use ccfarm_trust::{ClientAuth, Credentials, Expect, Identity, Role};

    use super::*;

    fn credentials(ca: &Authority, role: Role, name: &str) -> Credentials {
        let issued = ca
            .issue(
                &Identity::new(role, name).unwrap(),
                SystemTime::now(),
                DEFAULT_VALIDITY,
            )
            .unwrap();
        Credentials::issued(ca, &issued).unwrap()
    }

    /// Read `channel` in a thread of its own until the peer closes.
    fn read_to_close(channel: Channel) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match channel.read(&mut buf).unwrap() {
                    0 => return all,
                    n => all.extend_from_slice(&buf[..n]),
                }
            }
        })
    }

    /// An echo server over TLS that answers each line with its length, then a large
    /// reply, so that both small messages and more than the session buffers are read.
    #[test]
    fn a_tls_channel_reads_in_one_thread_while_another_writes() {
        let ca = Authority::create("farm", SystemTime::now()).unwrap();
        let server = credentials(&ca, Role::Server, "build7");
        let alice = credentials(&ca, Role::User, "alice");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = server.server_config(ClientAuth::Required).unwrap();
        let echo = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let conn = rustls::ServerConnection::new(config).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut got = Vec::new();
            let mut byte = [0u8; 1];
            for _ in 0..3 {
                loop {
                    tls.read_exact(&mut byte).unwrap();
                    if byte[0] == b'\n' {
                        break;
                    }
                    got.push(byte[0]);
                }
                tls.write_all(format!("{}\n", got.len()).as_bytes())
                    .unwrap();
                got.clear();
            }
            tls.write_all(&vec![7u8; 1 << 20]).unwrap();
            tls.flush().unwrap();
        });
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let expect = Expect::Exactly(Identity::new(Role::Server, "build7").unwrap());
        let channel = Channel::tls(
            tcp,
            alice.client_config(expect).unwrap(),
            ccfarm_trust::tls::server_name("127.0.0.1"),
        )
        .unwrap();
        let reader = channel.clone();
        let read = read_to_close(reader);
        for line in ["a\n", "bcd\n", "efghij\n"] {
            channel.write_all(line.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        echo.join().unwrap();
        let all = read.join().unwrap();
        assert_eq!(&all[..6], b"1\n3\n6\n");
        assert_eq!(all.len(), 6 + (1 << 20));
        assert!(all[6..].iter().all(|&b| b == 7));
    }

    /// The agent's path: a connection made, its resumption ticket taken, then handed
    /// over; the handed channel reads in one thread while another writes, exactly as
    /// a channel of this process's own; and the next connection resumes.
    #[test]
    fn a_settled_session_handed_over_talks_and_the_next_one_resumes() {
        let ca = Authority::create("farm", SystemTime::now()).unwrap();
        let server = credentials(&ca, Role::Server, "build7");
        let alice = credentials(&ca, Role::User, "alice");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = server.server_config(ClientAuth::Required).unwrap();
        let echo = std::thread::spawn(move || {
            let mut kinds = Vec::new();
            for _ in 0..2 {
                let (tcp, _) = listener.accept().unwrap();
                tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut line = Vec::new();
                let mut byte = [0u8; 1];
                loop {
                    tls.read_exact(&mut byte).unwrap();
                    if byte[0] == b'\n' {
                        break;
                    }
                    line.push(byte[0]);
                }
                kinds.push(tls.conn.handshake_kind());
                tls.write_all(format!("{}\n", line.len()).as_bytes())
                    .unwrap();
                tls.write_all(&vec![7u8; 100_000]).unwrap();
                tls.conn.send_close_notify();
                tls.flush().unwrap();
            }
            kinds
        });
        let expect = Expect::Exactly(Identity::new(Role::Server, "build7").unwrap());
        let mut client = (*alice.client_config(expect).unwrap()).clone();
        client.enable_secret_extraction = true;
        let client = Arc::new(client);
        let dial = || {
            let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            Channel::tls(
                tcp,
                client.clone(),
                ccfarm_trust::tls::server_name("127.0.0.1"),
            )
            .unwrap()
        };
        for _ in 0..2 {
            let made = dial();
            made.settle(Duration::from_secs(5)).unwrap();
            // A second handle keeps the session here.
            let other = made.clone();
            let made = made.hand_off().expect_err("handed off with two handles");
            drop(other);
            let handoff = made.hand_off().expect("a settled session is handed off");
            let channel = Channel::handed(handoff).unwrap();
            assert!(channel.handed_over());
            let reader = channel.clone();
            let read = read_to_close(reader);
            channel.write_all(b"hello there\n").unwrap();
            let all = read.join().unwrap();
            assert_eq!(&all[..3], b"11\n");
            assert_eq!(all.len(), 3 + 100_000);
        }
        let kinds = echo.join().unwrap();
        assert_eq!(
            kinds,
            [
                Some(rustls::HandshakeKind::Full),
                Some(rustls::HandshakeKind::Resumed)
            ]
        );
    }
}
