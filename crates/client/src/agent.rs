//! The user's agent: a small background process that makes the TLS connections of a
//! secure farm for the user's compiles.
//!
//! Every compile is a new `ccfarm` process. Made by the compile itself, each remote
//! job costs two full TLS handshakes with certificates on both sides (the scheduler,
//! then the granted server) and the parsing of the user's credentials, about two
//! milliseconds of CPU across the client, the scheduler and the server, all on the
//! job's path. The agent, started by the first compile that finds none, loads the
//! credentials once and keeps a connection ready, handshake done, to each member the
//! user's compiles recently reached; a compile takes one over a local socket. The
//! agent hands over the connection itself with the session's traffic keys, and the
//! compile continues the session (see [`ccfarm_trust::record`]); where that is not
//! possible it relays the bytes. The handshakes still happen, but while the previous
//! job compiles rather than in front of this one, and nothing passes through the
//! agent on the job's path.
//!
//! The agent is reached by an abstract socket whose name holds the user's id, the
//! credential directory and the protocol version; both ends check that the other runs
//! as the same user, since anyone can connect to, or take, an abstract name. A compile
//! that finds no usable agent connects by itself, so nothing depends on the agent
//! being there. It exits when idle for ten minutes or when its credential directory
//! is removed.

pub mod connect;
mod dialer;
pub mod pool;
pub mod serve;
pub mod wire;

use std::hash::Hasher;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::path::Path;

pub use dialer::{DialError, Dialed, Dialer};

/// The agent's socket for the credentials in `dir`.
fn address(dir: &Path) -> io::Result<SocketAddr> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let mut hash = fnv::FnvHasher::default();
    hash.write(dir.as_os_str().as_encoded_bytes());
    let name = format!(
        "ccfarm-agent/{}/{}/{:016x}",
        wire::VERSION,
        nix::unistd::getuid(),
        hash.finish()
    );
    SocketAddr::from_abstract_name(name.as_bytes())
}

/// Refuse a local peer that runs as another user.
fn same_user(stream: &UnixStream) -> io::Result<()> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let peer = getsockopt(stream, PeerCredentials).map_err(io::Error::from)?;
    let me = nix::unistd::getuid().as_raw();
    if peer.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("the agent's socket is held by uid {}, not {me}", peer.uid()),
        ));
    }
    Ok(())
}

/// Send `line` with a copy of `socket`'s descriptor attached.
fn send_with_socket(stream: &UnixStream, line: &[u8], socket: &impl AsFd) -> io::Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let fds = [socket.as_fd().as_raw_fd()];
    let sent = sendmsg::<()>(
        stream.as_raw_fd(),
        &[io::IoSlice::new(line)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(io::Error::from)?;
    (&*stream).write_all(&line[sent..])
}

/// One line, newline excluded, and the descriptor that came with it if any (more
/// than one is refused: only one is ever sent). See [`read_line`].
#[allow(unsafe_code)]
fn read_line_with_socket(stream: &UnixStream) -> io::Result<(String, Option<OwnedFd>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut line = Vec::with_capacity(256);
    let mut received: Vec<OwnedFd> = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 2]);
        let (n, fds) = {
            let mut iov = [io::IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                stream.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .map_err(io::Error::from)?;
            let mut fds = Vec::new();
            for cmsg in msg.cmsgs().map_err(io::Error::from)? {
                if let ControlMessageOwned::ScmRights(rights) = cmsg {
                    fds.extend(rights);
                }
            }
            (msg.bytes, fds)
        };
        // SAFETY: the kernel installed these descriptors in this process for this
        // message; nothing else owns them.
        received.extend(
            fds.into_iter()
                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
        );
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        line.extend_from_slice(&buf[..n]);
        if let Some(end) = line.iter().position(|&b| b == b'\n') {
            if end + 1 != line.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "more than one line",
                ));
            }
            line.truncate(end);
            break;
        }
        if line.len() >= wire::MAX_LINE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
    }
    if received.len() > 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "more than one socket",
        ));
    }
    let line = String::from_utf8(line)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not text"))?;
    Ok((line, received.pop()))
}

/// One line, newline excluded; a descriptor sent with it, which no request carries,
/// is closed. Neither side sends anything after its line until it has the other's (the
/// agent relays nothing towards the compile before the compile has spoken), so
/// whatever a read returns belongs to the line.
fn read_line(stream: &UnixStream) -> io::Result<String> {
    read_line_with_socket(stream).map(|(line, _)| line)
}
