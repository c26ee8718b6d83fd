//! Compile requests, as a distcc client sends them.
//!
//! Protocols 1 and 2: `DIST v`, `ARGC n`, n × `ARGV`, `DOTI` (the preprocessed source;
//! LZO-compressed in v2). Protocol 3 ("pump"): `DIST 3`, `CDIR`, `ARGC`/`ARGV`…,
//! `NFIL n`, then n × (`NAME` followed by `FILE` (LZO) or `LINK`).

use bytes::{Bytes, BytesMut};

use super::error::ProtoError;
use super::frame::{Budget, bulk, take_body, take_value};
use super::limits::Limits;
use super::token::{Token, write_header};
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

/// Where the decoder is in the request.
#[derive(Debug)]
enum Stage {
    Dist,
    Cdir,
    Argc,
    Argv { remaining: u32 },
    Doti,
    Nfil,
    Name { remaining: u32 },
    Content { remaining: u32, name: Bytes },
}

/// Incremental decoder of one [`Request`].
///
/// Feed it the connection's read buffer after every read; it consumes whole frames
/// from the front and returns the request once the last frame has arrived.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: Limits,
    stage: Stage,
    budget: Budget,
    version: Option<Version>,
    cwd: Bytes,
    argv: Vec<Bytes>,
    entries: Vec<TreeEntry>,
}

impl RequestDecoder {
    /// A decoder that enforces `limits`.
    pub fn new(limits: Limits) -> Self {
        let budget = Budget::new(limits.max_message_len);
        RequestDecoder {
            limits,
            stage: Stage::Dist,
            budget,
            version: None,
            cwd: Bytes::new(),
            argv: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// The protocol version, once `DIST` has been read. A server needs it to answer
    /// even a request it refuses.
    pub fn version(&self) -> Option<Version> {
        self.version
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
        matches!(self.stage, Stage::Doti)
    }

    /// Consume whole frames from `buf`. `Ok(None)`: more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtoError> {
        loop {
            match self.step(buf)? {
                Step::NeedMore => return Ok(None),
                Step::Continue => {}
                Step::Complete(payload) => {
                    return Ok(Some(Request {
                        version: self.version.expect("version is read first"),
                        argv: std::mem::take(&mut self.argv),
                        payload,
                    }));
                }
            }
        }
    }

    /// Call when the peer closed the connection: a clean close between messages
    /// is `Ok`, a close inside one is an error.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtoError> {
        match self.decode(buf)? {
            Some(request) => Ok(Some(request)),
            None if buf.is_empty() && matches!(self.stage, Stage::Dist) => Ok(None),
            None => Err(ProtoError::Truncated(buf.len())),
        }
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Step, ProtoError> {
        let limits = &self.limits;
        match self.stage {
            Stage::Dist => {
                let Some((_, v)) = take_value(buf, &[Token::Dist])? else {
                    return Ok(Step::NeedMore);
                };
                let version = Version::from_number(v)?;
                self.version = Some(version);
                self.stage = if version == Version::V3 {
                    Stage::Cdir
                } else {
                    Stage::Argc
                };
            }
            Stage::Cdir => {
                let Some((_, cwd)) = take_body(buf, &[(Token::Cdir, limits.max_arg_len)])? else {
                    return Ok(Step::NeedMore);
                };
                self.budget.charge(cwd.len())?;
                self.cwd = cwd;
                self.stage = Stage::Argc;
            }
            Stage::Argc => {
                let Some((_, n)) = take_value(buf, &[Token::Argc])? else {
                    return Ok(Step::NeedMore);
                };
                if n > limits.max_args {
                    return Err(too_many("argument count", n, limits.max_args));
                }
                self.stage = Stage::Argv { remaining: n };
            }
            Stage::Argv { remaining: 0 } => {
                self.stage = match self.version {
                    Some(Version::V3) => Stage::Nfil,
                    _ => Stage::Doti,
                };
            }
            Stage::Argv { remaining } => {
                let Some((_, arg)) = take_body(buf, &[(Token::Argv, limits.max_arg_len)])? else {
                    return Ok(Step::NeedMore);
                };
                self.budget.charge(arg.len())?;
                self.argv.push(arg);
                self.stage = Stage::Argv {
                    remaining: remaining - 1,
                };
            }
            Stage::Doti => {
                let Some((_, body)) = take_body(buf, &[(Token::Doti, limits.max_body_len)])? else {
                    return Ok(Step::NeedMore);
                };
                let source = self.body("DOTI", body)?;
                self.stage = Stage::Dist;
                return Ok(Step::Complete(Payload::Preprocessed(source)));
            }
            Stage::Nfil => {
                let Some((_, n)) = take_value(buf, &[Token::Nfil])? else {
                    return Ok(Step::NeedMore);
                };
                if n > limits.max_files {
                    return Err(too_many("file count", n, limits.max_files));
                }
                self.stage = Stage::Name { remaining: n };
            }
            Stage::Name { remaining: 0 } => {
                self.stage = Stage::Dist;
                return Ok(Step::Complete(Payload::Tree {
                    cwd: std::mem::take(&mut self.cwd),
                    entries: std::mem::take(&mut self.entries),
                }));
            }
            Stage::Name { remaining } => {
                let Some((_, name)) = take_body(buf, &[(Token::Name, limits.max_arg_len)])? else {
                    return Ok(Step::NeedMore);
                };
                self.budget.charge(name.len())?;
                self.stage = Stage::Content { remaining, name };
            }
            Stage::Content {
                remaining,
                ref name,
            } => {
                // A LINK body is a path; a FILE body may be large.
                let expected = [
                    (Token::File, limits.max_body_len),
                    (Token::Link, limits.max_arg_len),
                ];
                let Some((token, body)) = take_body(buf, &expected)? else {
                    return Ok(Step::NeedMore);
                };
                let name = name.clone();
                let kind = if token == Token::Link {
                    self.budget.charge(body.len())?;
                    TreeEntryKind::Link(body)
                } else {
                    TreeEntryKind::File(self.body("FILE", body)?)
                };
                self.entries.push(TreeEntry { name, kind });
                self.stage = Stage::Name {
                    remaining: remaining - 1,
                };
            }
        }
        Ok(Step::Continue)
    }

    /// Decompress (v2, v3) or account for (v1) a bulk body.
    fn body(&mut self, what: &'static str, body: Bytes) -> Result<Bytes, ProtoError> {
        let max = self.limits.max_decompressed_len;
        bulk(
            what,
            body,
            self.version.is_some_and(Version::compressed),
            max,
            &mut self.budget,
        )
    }
}

enum Step {
    NeedMore,
    Continue,
    Complete(Payload),
}

fn too_many(what: &'static str, count: u32, limit: u32) -> ProtoError {
    ProtoError::TooMany {
        what,
        count: count.into(),
        limit: limit.into(),
    }
}
