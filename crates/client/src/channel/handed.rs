//! A TLS session whose handshake the user's agent made, continued here from its
//! traffic keys (see [`ccfarm_trust::record`]): each direction has its own keys and
//! record numbers, so each has its own lock, and a reader waiting for the network
//! never holds up a writer.

use std::io::{self, Read, Write};
use std::sync::{Mutex, PoisonError};

use ccfarm_trust::record::{self, Incoming, Opened, Outgoing, RecordError, TrafficKeys};

use super::{CHUNK, Socket};

pub(super) struct Handed {
    outgoing: Mutex<Outgoing>,
    incoming: Mutex<Inbox>,
}

struct Inbox {
    keys: Incoming,
    /// Bytes from the socket not yet a whole record.
    ciphertext: Vec<u8>,
    /// The last record's plaintext, and how much of it was read.
    plaintext: Vec<u8>,
    taken: usize,
    closed: bool,
}

fn broken(e: RecordError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Handed {
    pub(super) fn new(tx: &TrafficKeys, rx: &TrafficKeys) -> io::Result<Handed> {
        Ok(Handed {
            outgoing: Mutex::new(Outgoing::new(tx).map_err(broken)?),
            incoming: Mutex::new(Inbox {
                keys: Incoming::new(rx).map_err(broken)?,
                ciphertext: Vec::new(),
                plaintext: Vec::new(),
                taken: 0,
                closed: false,
            }),
        })
    }

    pub(super) fn write_all(&self, raw: &Socket, bytes: &[u8]) -> io::Result<()> {
        let mut wire = Vec::with_capacity(bytes.len() + 64);
        let mut keys = self.outgoing.lock().unwrap_or_else(PoisonError::into_inner);
        keys.protect(bytes, &mut wire).map_err(broken)?;
        (&*raw).write_all(&wire)
    }

    pub(super) fn read(&self, raw: &Socket, buf: &mut [u8]) -> io::Result<usize> {
        let mut inbox = self.incoming.lock().unwrap_or_else(PoisonError::into_inner);
        let inbox = &mut *inbox;
        loop {
            if inbox.taken < inbox.plaintext.len() {
                let n = buf.len().min(inbox.plaintext.len() - inbox.taken);
                buf[..n].copy_from_slice(&inbox.plaintext[inbox.taken..inbox.taken + n]);
                inbox.taken += n;
                return Ok(n);
            }
            if inbox.closed {
                return Ok(0);
            }
            if let Some(header) = inbox.ciphertext.first_chunk::<{ record::HEADER }>() {
                let whole = record::HEADER + record::body_len(header).map_err(broken)?;
                if inbox.ciphertext.len() >= whole {
                    let mut one: Vec<u8> = inbox.ciphertext.drain(..whole).collect();
                    match inbox.keys.open(&mut one).map_err(broken)? {
                        Opened::Data(range) => {
                            one.truncate(range.end);
                            one.drain(..range.start);
                            inbox.plaintext = one;
                            inbox.taken = 0;
                        }
                        Opened::Skipped => {}
                        Opened::Closed => inbox.closed = true,
                    }
                    continue;
                }
            }
            let mut chunk = [0u8; CHUNK];
            let n = (&*raw).read(&mut chunk)?;
            if n == 0 {
                if inbox.ciphertext.is_empty() {
                    return Ok(0);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed within a TLS record",
                ));
            }
            inbox.ciphertext.extend_from_slice(&chunk[..n]);
        }
    }
}
