//! Compile requests, as a distcc client sends them: their encoding, and a decoder that
//! buffers a whole request. The grammar itself is [`super::walk`]'s.

use bytes::{Buf, Bytes, BytesMut};

use super::error::ProtoError;
use super::limits::Limits;
use super::token::{HEADER_LEN, Token, write_header};
use super::walk::{Body, Expect, Frame, RequestWalker};
use super::{Version, write_body};

/// One complete compile request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Protocol version the client used; the reply must use the same.
    pub version: Version,
    /// The compiler command line, `argv[0]` being the compiler. Bytes, not text:
    /// distcc sends whatever the build passed.
    pub argv: Vec<Bytes>,
    /// What the server compiles.
    pub payload: Payload,
}

/// The input of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Protocols 1 and 2: the client preprocessed; this is the `.i` text.
    Preprocessed(Bytes),
    /// Protocol 3: the client's working directory and the source tree the server
    /// must rebuild to preprocess the job itself.
    Tree {
        /// The client's absolute working directory (`CDIR`).
        cwd: Bytes,
        /// Every file and symlink the compile may need.
        entries: Vec<TreeEntry>,
    },
}

/// One file or symlink of a protocol-3 tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// The absolute path on the client (`NAME`).
    pub name: Bytes,
    /// What to create there.
    pub kind: TreeEntryKind,
}

/// Contents of a [`TreeEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeEntryKind {
    /// A regular file with these (decompressed) contents.
    File(Bytes),
    /// A symlink with this target.
    Link(Bytes),
}

impl Request {
    /// Encode the request as a distcc client would send it.
    pub fn encode(&self) -> Vec<u8> {
        let compressed = self.version.compressed();
        let mut out = Vec::new();
        write_header(&mut out, Token::Dist, self.version.number());
        if let Payload::Tree { cwd, .. } = &self.payload {
            write_body(&mut out, Token::Cdir, cwd, false);
        }
        write_argv(&mut out, &self.argv);
        match &self.payload {
            Payload::Preprocessed(source) => write_body(&mut out, Token::Doti, source, compressed),
            Payload::Tree { entries, .. } => {
                write_header(&mut out, Token::Nfil, entries.len() as u32);
                for entry in entries {
                    write_body(&mut out, Token::Name, &entry.name, false);
                    match &entry.kind {
                        TreeEntryKind::File(data) => write_body(&mut out, Token::File, data, true),
                        TreeEntryKind::Link(target) => {
                            write_body(&mut out, Token::Link, target, false)
                        }
                    }
                }
            }
        }
        out
    }
}

/// The start of a protocol-1/2 request: `DIST`, `ARGC` and the `ARGV`s. A client sends
/// it while its preprocessor still runs, then [`encode_source`], as distcc does; the
/// two concatenated equal [`Request::encode`].
pub fn encode_command(version: Version, argv: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::new();
    write_header(&mut out, Token::Dist, version.number());
    write_argv(&mut out, argv);
    out
}

/// The end of a protocol-1/2 request: the `DOTI` body, compressed in protocol 2.
pub fn encode_source(version: Version, source: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(source.len() / 2 + 16);
    write_body(&mut out, Token::Doti, source, version.compressed());
    out
}

fn write_argv(out: &mut Vec<u8>, argv: &[Bytes]) {
    write_header(out, Token::Argc, argv.len() as u32);
    for arg in argv {
        write_body(out, Token::Argv, arg, false);
    }
}

/// Incremental decoder of one [`Request`]: the [`RequestWalker`] driven over a
/// buffer, keeping every body in memory.
///
/// Feed it the connection's read buffer after every read; it consumes whole frames
/// from the front and returns the request once the last frame has arrived.
#[derive(Debug)]
pub struct RequestDecoder {
    walker: RequestWalker,
    /// A body whose header the walker has accepted; the header stays in the buffer
    /// until the whole body is there, so only whole frames are ever consumed.
    pending: Option<Body>,
    cwd: Bytes,
    argv: Vec<Bytes>,
    source: Bytes,
    name: Bytes,
    entries: Vec<TreeEntry>,
}

impl RequestDecoder {
    /// A decoder that enforces `limits`.
    pub fn new(limits: Limits) -> Self {
        RequestDecoder {
            walker: RequestWalker::new(limits),
            pending: None,
            cwd: Bytes::new(),
            argv: Vec::new(),
            source: Bytes::new(),
            name: Bytes::new(),
            entries: Vec::new(),
        }
    }

    /// The protocol version, once `DIST` has been read. A server needs it to answer
    /// even a request it refuses.
    pub fn version(&self) -> Option<Version> {
        self.walker.version()
    }

    /// The command line, as far as it has been read (complete once `DOTI` or `NFIL`
    /// is being waited for). Lets a server log what a stalled client was sending.
    pub fn argv(&self) -> &[Bytes] {
        &self.argv
    }

    /// Whether a protocol-1/2 command line is complete and only the source is still
    /// to come. A distcc client sends the command while its preprocessor runs, so a
    /// server can get the compiler going before the source arrives.
    pub fn awaiting_source(&self) -> bool {
        self.walker.awaiting_source()
    }

    /// Hand the rest of the request to a caller that moves the source itself (a
    /// server streaming it into a compiler that is already running): the walker, where
    /// this decoder stands, and the command line. A `DOTI` header that has arrived is
    /// taken from `buf`, so `buf` then starts with what the walker expects next.
    /// Meant for when [`RequestDecoder::awaiting_source`] is true.
    pub fn into_source(mut self, buf: &mut BytesMut) -> (RequestWalker, Vec<Bytes>) {
        debug_assert!(self.awaiting_source(), "the command line is not complete");
        if self.pending.take().is_some() {
            buf.advance(HEADER_LEN);
        }
        (self.walker, self.argv)
    }

    /// Consume whole frames from `buf`. `Ok(None)`: more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtoError> {
        loop {
            match self.walker.expect() {
                Expect::Complete => return Ok(Some(self.finish())),
                Expect::Header(_) => {
                    let Some(head) = buf.get(..HEADER_LEN) else {
                        return Ok(None);
                    };
                    let head: &[u8; HEADER_LEN] = head.try_into().expect("HEADER_LEN bytes");
                    match self.walker.header(head)? {
                        Frame::Body(body) => {
                            self.pending = Some(body);
                            if body.len == 0 {
                                self.take_body(buf)?;
                            }
                        }
                        Frame::Version(_) | Frame::Count { .. } => buf.advance(HEADER_LEN),
                    }
                }
                Expect::Body { .. } => {
                    if !self.take_body(buf)? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Call when the peer closed the connection: a clean close between messages
    /// is `Ok`, a close inside one is an error.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtoError> {
        match self.decode(buf)? {
            Some(request) => Ok(Some(request)),
            None if buf.is_empty() && self.walker.at_start() => Ok(None),
            None => Err(ProtoError::Truncated(buf.len())),
        }
    }

    /// Take the pending body's frame if all of it is buffered.
    fn take_body(&mut self, buf: &mut BytesMut) -> Result<bool, ProtoError> {
        let body = self
            .pending
            .expect("a body is pending while the walker expects one");
        let len = body.len as usize;
        if buf.len() < HEADER_LEN + len {
            return Ok(false);
        }
        buf.advance(HEADER_LEN);
        let data = buf.split_to(len).freeze();
        self.walker.body(len)?;
        self.pending = None;
        let data = self.walker.decode_body(&body, data)?;
        match body.token {
            Token::Cdir => self.cwd = data,
            Token::Argv => self.argv.push(data),
            Token::Doti => self.source = data,
            Token::Name => self.name = data,
            Token::File => self.entries.push(TreeEntry {
                name: std::mem::take(&mut self.name),
                kind: TreeEntryKind::File(data),
            }),
            _ => self.entries.push(TreeEntry {
                name: std::mem::take(&mut self.name),
                kind: TreeEntryKind::Link(data),
            }),
        }
        Ok(true)
    }

    /// The complete request; the decoder starts over for the next one.
    fn finish(&mut self) -> Request {
        let version = self
            .walker
            .version()
            .expect("a complete request has a version");
        let limits = self.walker.limits().clone();
        self.walker = RequestWalker::new(limits);
        let payload = if version == Version::V3 {
            Payload::Tree {
                cwd: std::mem::take(&mut self.cwd),
                entries: std::mem::take(&mut self.entries),
            }
        } else {
            Payload::Preprocessed(std::mem::take(&mut self.source))
        };
        Request {
            version,
            argv: std::mem::take(&mut self.argv),
            payload,
        }
    }
}
