//! The grammar of a distcc request, without I/O: which frame comes next, how long a
//! body may be, and when the request is over.
//!
//! Protocols 1 and 2: `DIST v`, `ARGC n`, n × `ARGV`, `DOTI` (LZO-compressed in v2).
//! Protocol 3 ("pump"): `DIST 3`, `CDIR`, `ARGC`/`ARGV`…, `NFIL n`, then n × (`NAME`
//! followed by `FILE` (LZO) or `LINK`).
//!
//! A [`RequestWalker`] is driven one of two ways:
//!
//! * **Pull**: ask [`RequestWalker::expect`]; read a 12-byte header and hand it to
//!   [`RequestWalker::header`], which checks it and every cap on what it announces
//!   before a single body byte is read; move a body's bytes however suits (buffer
//!   them, stream them to a compiler, splice them to a file) and report them with
//!   [`RequestWalker::body`].
//! * **Push**: hand it whatever bytes arrived with [`RequestWalker::feed`], which
//!   consumes a prefix and says what that prefix was.
//!
//! Every length and count cap of [`Limits`] and every protocol-version rule is
//! enforced here, so the decoder that buffers a request and the callers that stream
//! one cannot disagree about what a valid request is.

use bytes::Bytes;

use super::Version;
use super::error::ProtoError;
use super::frame::{Budget, bulk};
use super::limits::Limits;
use super::token::{HEADER_LEN, Token, parse_header};

/// What the walker needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A 12-byte frame header carrying one of these tokens.
    Header(&'static [Token]),
    /// The rest of the body in progress.
    Body {
        /// The body's token.
        token: Token,
        /// Bytes of it still to come.
        remaining: u32,
    },
    /// Nothing more: the request is complete.
    Complete,
}

/// A frame header the walker accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// `DIST`: the protocol version of the whole request.
    Version(Version),
    /// `ARGC` or `NFIL`: how many arguments or files follow.
    Count {
        /// `Argc` or `Nfil`.
        token: Token,
        /// The count, within its cap.
        count: u32,
    },
    /// A body follows.
    Body(Body),
}

/// A body the walker has accepted the header of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Body {
    /// Which body: `CDIR`, `ARGV`, `DOTI`, `NAME`, `FILE` or `LINK`.
    pub token: Token,
    /// Its length on the wire, within its cap.
    pub len: u32,
    /// Whether it is LZO-compressed on the wire (`DOTI` in protocol 2, `FILE`).
    pub compressed: bool,
}

impl Body {
    /// Whether the body is bulk data (the source or a file of the tree), capped by
    /// [`Limits::max_body_len`]; the others are paths and arguments, capped by
    /// [`Limits::max_arg_len`] and small enough to hold in memory.
    pub fn is_bulk(&self) -> bool {
        matches!(self.token, Token::Doti | Token::File)
    }
}

/// What a prefix of the input given to [`RequestWalker::feed`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Part of a header: more bytes are needed to say anything.
    Partial,
    /// The last byte of an accepted header.
    Frame(Frame),
    /// Bytes of the current body (all of the consumed prefix).
    BodyBytes {
        /// The body's token.
        token: Token,
        /// Whether these bytes end the body.
        last: bool,
    },
    /// Nothing consumed: the request was already complete.
    Complete,
}

/// The outcome of one [`RequestWalker::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// How many bytes from the front of the input were consumed.
    pub used: usize,
    /// What they were.
    pub event: Event,
}

/// Where the walker is: the frame whose header comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Dist,
    Cdir,
    Argc,
    Argv { remaining: u32 },
    Doti,
    Nfil,
    Name { remaining: u32 },
    Content { remaining: u32 },
    Complete,
}

/// The state machine of one distcc request; see the module documentation.
#[derive(Debug, Clone)]
pub struct RequestWalker {
    limits: Limits,
    stage: Stage,
    /// The body in progress and the bytes of it still to come.
    body: Option<(Body, u32)>,
    version: Option<Version>,
    /// Body bytes announced on the wire so far.
    wire: u64,
    /// Decoded bytes, for callers that decode bodies through the walker.
    decoded: Budget,
    /// A header arriving in pieces through `feed`.
    partial: [u8; HEADER_LEN],
    partial_len: usize,
}

impl RequestWalker {
    /// A walker at the start of a request, enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        let decoded = Budget::new(limits.max_message_len);
        RequestWalker {
            limits,
            stage: Stage::Dist,
            body: None,
            version: None,
            wire: 0,
            decoded,
            partial: [0; HEADER_LEN],
            partial_len: 0,
        }
    }

    /// The caps in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The protocol version, once `DIST` has been read.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// Whether nothing of a request has been taken yet (a close here is clean).
    pub fn at_start(&self) -> bool {
        self.stage == Stage::Dist && self.partial_len == 0
    }

    /// Whether a protocol-1/2 command line is complete and only its source (the
    /// `DOTI` frame) is still to come, or still coming.
    pub fn awaiting_source(&self) -> bool {
        // The stage moves on when a header is accepted, so the last argument's body
        // may still be coming while the stage already waits for `DOTI`.
        match self.body_in_progress() {
            Some(body) => body.token == Token::Doti,
            None => self.stage == Stage::Doti,
        }
    }

    /// The body whose header was accepted and whose bytes are still coming.
    pub fn body_in_progress(&self) -> Option<Body> {
        self.body.map(|(body, _)| body)
    }

    /// What must come next.
    pub fn expect(&self) -> Expect {
        if let Some((body, remaining)) = self.body {
            return Expect::Body {
                token: body.token,
                remaining,
            };
        }
        match self.stage {
            Stage::Dist => Expect::Header(&[Token::Dist]),
            Stage::Cdir => Expect::Header(&[Token::Cdir]),
            Stage::Argc => Expect::Header(&[Token::Argc]),
            Stage::Argv { .. } => Expect::Header(&[Token::Argv]),
            Stage::Doti => Expect::Header(&[Token::Doti]),
            Stage::Nfil => Expect::Header(&[Token::Nfil]),
            Stage::Name { .. } => Expect::Header(&[Token::Name]),
            Stage::Content { .. } => Expect::Header(&[Token::File, Token::Link]),
            Stage::Complete => Expect::Complete,
        }
    }

    /// Take the next frame header. Every cap on what it announces is checked here,
    /// so a hostile length is refused before anything is read or buffered for it.
    pub fn header(&mut self, header: &[u8; HEADER_LEN]) -> Result<Frame, ProtoError> {
        let expected = match self.expect() {
            Expect::Header(tokens) => tokens,
            Expect::Body { token, remaining } => {
                return Err(out_of_place(
                    format!("{remaining} more bytes of {token}"),
                    header,
                ));
            }
            Expect::Complete => return Err(out_of_place("the end of the request".into(), header)),
        };
        let (token, param) = parse_header(header, expected)?;
        let limits = &self.limits;
        // Value frames end here; a body frame gives the stage after it and its cap:
        // paths and arguments are capped as arguments, the source and files as bodies.
        let (next, cap) = match self.stage {
            Stage::Dist => {
                let version = Version::from_number(param)?;
                self.version = Some(version);
                self.stage = if version == Version::V3 {
                    Stage::Cdir
                } else {
                    Stage::Argc
                };
                return Ok(Frame::Version(version));
            }
            Stage::Argc => {
                if param > limits.max_args {
                    return Err(too_many("argument count", param, limits.max_args));
                }
                self.stage = self.after_argv(param);
                return Ok(Frame::Count {
                    token,
                    count: param,
                });
            }
            Stage::Nfil => {
                if param > limits.max_files {
                    return Err(too_many("file count", param, limits.max_files));
                }
                self.stage = after_content(param);
                return Ok(Frame::Count {
                    token,
                    count: param,
                });
            }
            Stage::Cdir => (Stage::Argc, limits.max_arg_len),
            Stage::Argv { remaining } => (self.after_argv(remaining - 1), limits.max_arg_len),
            Stage::Doti => (Stage::Complete, limits.max_body_len),
            Stage::Name { remaining } => (Stage::Content { remaining }, limits.max_arg_len),
            Stage::Content { remaining } if token == Token::File => {
                (after_content(remaining - 1), limits.max_body_len)
            }
            Stage::Content { remaining } => (after_content(remaining - 1), limits.max_arg_len),
            Stage::Complete => unreachable!("a complete request expects no header"),
        };
        if param > cap {
            return Err(ProtoError::TooLong {
                what: token.as_str(),
                len: param.into(),
                limit: cap.into(),
            });
        }
        let wire = self.wire + u64::from(param);
        if wire > self.limits.max_message_len {
            return Err(ProtoError::TooLong {
                what: "request",
                len: wire,
                limit: self.limits.max_message_len,
            });
        }
        self.wire = wire;
        self.stage = next;
        let compressed = match token {
            Token::File => true,
            Token::Doti => self.version.is_some_and(Version::compressed),
            _ => false,
        };
        let body = Body {
            token,
            len: param,
            compressed,
        };
        if param > 0 {
            self.body = Some((body, param));
        }
        Ok(Frame::Body(body))
    }

    /// Account for `n` bytes of the body in progress, however the caller moved them.
    /// `n` may not exceed what [`RequestWalker::expect`] says remains.
    pub fn body(&mut self, n: usize) -> Result<(), ProtoError> {
        if n == 0 {
            return Ok(());
        }
        let remaining = self.body.map_or(0, |(_, remaining)| remaining);
        let (Some((body, _)), Ok(n)) = (self.body, u32::try_from(n)) else {
            return Err(ProtoError::BodyOverrun {
                len: n as u64,
                remaining: remaining.into(),
            });
        };
        if n > remaining {
            return Err(ProtoError::BodyOverrun {
                len: n.into(),
                remaining: remaining.into(),
            });
        }
        self.body = (n < remaining).then_some((body, remaining - n));
        Ok(())
    }

    /// Consume a prefix of `input`: part or all of a header, or bytes of a body
    /// (which the caller takes from `input[..used]`). Call again with the rest.
    pub fn feed(&mut self, input: &[u8]) -> Result<Fed, ProtoError> {
        match self.expect() {
            Expect::Complete => Ok(Fed {
                used: 0,
                event: Event::Complete,
            }),
            Expect::Body { token, remaining } => {
                let used = input.len().min(remaining as usize);
                self.body(used)?;
                Ok(Fed {
                    used,
                    event: Event::BodyBytes {
                        token,
                        last: used == remaining as usize,
                    },
                })
            }
            Expect::Header(_) => {
                let used = input.len().min(HEADER_LEN - self.partial_len);
                self.partial[self.partial_len..self.partial_len + used]
                    .copy_from_slice(&input[..used]);
                self.partial_len += used;
                if self.partial_len < HEADER_LEN {
                    return Ok(Fed {
                        used,
                        event: Event::Partial,
                    });
                }
                self.partial_len = 0;
                let header = self.partial;
                let frame = self.header(&header)?;
                Ok(Fed {
                    used,
                    event: Event::Frame(frame),
                })
            }
        }
    }

    /// Turn a whole body as received into its contents: decompressed when it is
    /// compressed, with the per-body cap on the decompressed size, and charged against
    /// the decoded size of the whole request either way.
    pub fn decode_body(&mut self, body: &Body, data: Bytes) -> Result<Bytes, ProtoError> {
        bulk(
            body.token.as_str(),
            data,
            body.compressed,
            self.limits.max_decompressed_len,
            &mut self.decoded,
        )
    }

    /// After the arguments: the source (v1/v2) or the file count (v3).
    fn after_argv(&self, remaining: u32) -> Stage {
        match (remaining, self.version) {
            (0, Some(Version::V3)) => Stage::Nfil,
            (0, _) => Stage::Doti,
            (remaining, _) => Stage::Argv { remaining },
        }
    }
}

/// After a file or link of the tree: the next name, or the end.
fn after_content(remaining: u32) -> Stage {
    match remaining {
        0 => Stage::Complete,
        remaining => Stage::Name { remaining },
    }
}

fn out_of_place(expected: String, header: &[u8; HEADER_LEN]) -> ProtoError {
    ProtoError::UnexpectedToken {
        expected,
        found: super::token::printable(&header[..4]),
    }
}

fn too_many(what: &'static str, count: u32, limit: u32) -> ProtoError {
    ProtoError::TooMany {
        what,
        count: count.into(),
        limit: limit.into(),
    }
}

#[cfg(test)]
#[path = "walk_tests.rs"]
mod tests;
