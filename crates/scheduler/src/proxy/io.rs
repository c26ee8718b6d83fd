//! Timed socket I/O and the pipe splice(2) moves bulk data through: every wait for a
//! peer is bounded, so a stalled peer cannot hold a job's descriptors forever.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Asked for: fewer splice calls per large body than the 64 KiB default, and within
/// the 1 MiB an unprivileged process may ask for (`/proc/sys/fs/pipe-max-size`).
const PIPE_SIZE: i32 = 256 * 1024;
/// Assumed when the pipe's size cannot be read (Linux's default).
const DEFAULT_PIPE_SIZE: usize = 64 * 1024;

/// A pipe: the kernel buffer splice(2) moves pages through. It is empty whenever a task
/// awaits with it unused, so a cancelled pump leaves nothing in it for the reply.
pub(super) struct Pipe {
    pub(super) read: OwnedFd,
    pub(super) write: OwnedFd,
    pub(super) capacity: usize,
}

impl Pipe {
    pub(super) fn new() -> io::Result<Pipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        let capacity = fcntl(&write, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE))
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_PIPE_SIZE);
        Ok(Pipe {
            read,
            write,
            capacity,
        })
    }
}

/// How much of a body of `len` bytes to move through a pipe of `capacity` at once.
pub(super) fn chunk(len: u64, capacity: usize) -> usize {
    usize::try_from(len).map_or(capacity, |len| len.min(capacity))
}

/// Wait until `stream` is ready for `interest`, or fail after `limit` without progress.
pub(super) async fn ready(
    stream: &TcpStream,
    interest: Interest,
    limit: Duration,
) -> io::Result<()> {
    match timeout(limit, stream.ready(interest)).await {
        Ok(ready) => ready.map(drop),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no progress in {limit:?}"),
        )),
    }
}

/// Fill `buf` from `stream`; each wait for data is limited to `limit`.
pub(super) async fn read_exact(
    stream: &TcpStream,
    buf: &mut [u8],
    limit: Duration,
) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        ready(stream, Interest::READABLE, limit).await?;
        match stream.try_read(&mut buf[filled..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed",
                ));
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Write all of `buf` to `stream`; each wait for room is limited to `limit`.
pub(super) async fn write_all(stream: &TcpStream, buf: &[u8], limit: Duration) -> io::Result<()> {
    let mut written = 0;
    while written < buf.len() {
        ready(stream, Interest::WRITABLE, limit).await?;
        match stream.try_write(&buf[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
