//! Compile results, as a distcc server returns them: `DONE v`, `STAT status`, `SERR`,
//! `SOUT`, `DOTO`, and in protocol 3 `DOTD` when the compile succeeded. Bulk bodies
//! are LZO-compressed in protocols 2 and 3.

use bytes::{Bytes, BytesMut};

use super::error::ProtoError;
use super::frame::{Budget, bulk, take_body, take_value};
use super::limits::Limits;
use super::token::{Token, write_header};
use super::{Version, write_body};

/// One complete compile result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Must equal the request's version.
    pub version: Version,
    /// A raw wait status: `exit_code << 8 | signal`.
    pub status: u32,
    /// The compiler's stderr (and the server's explanation of a refusal).
    pub stderr: Bytes,
    /// The compiler's stdout.
    pub stdout: Bytes,
    /// The object file; only sent when `status == 0`.
    pub object: Bytes,
    /// The dependency file; protocol 3 only, and only when `status == 0`.
    pub dotd: Option<Bytes>,
}

impl Reply {
    /// A failed job with an explanation for the user and no output.
    pub fn failure(version: Version, status: u32, stderr: impl Into<Bytes>) -> Reply {
        Reply {
            version,
            status,
            stderr: stderr.into(),
            stdout: Bytes::new(),
            object: Bytes::new(),
            dotd: None,
        }
    }

    /// Encode the reply. The protocol cannot express "failed but produced output"
    /// (a distcc client only reads the object body when the status is 0), so on a
    /// non-zero status the object and dependency file are not sent.
    pub fn encode(&self) -> Vec<u8> {
        let compressed = self.version.compressed();
        let ok = self.status == 0;
        let mut out = Vec::with_capacity(64 + self.object.len());
        write_header(&mut out, Token::Done, self.version.number());
        write_header(&mut out, Token::Stat, self.status);
        write_body(&mut out, Token::Serr, &self.stderr, compressed);
        write_body(&mut out, Token::Sout, &self.stdout, compressed);
        let object: &[u8] = if ok { &self.object } else { &[] };
        write_body(&mut out, Token::Doto, object, compressed);
        if ok && self.version == Version::V3 {
            let dotd = self.dotd.as_deref().unwrap_or_default();
            write_body(&mut out, Token::Dotd, dotd, compressed);
        }
        out
    }
}

#[derive(Debug, Clone, Copy)]
enum Stage {
    Done,
    Stat,
    Serr,
    Sout,
    Doto,
    Dotd,
}

/// Incremental decoder of the [`Reply`] to a request of a known version.
#[derive(Debug)]
pub struct ReplyDecoder {
    limits: Limits,
    version: Version,
    stage: Stage,
    budget: Budget,
    status: u32,
    stderr: Bytes,
    stdout: Bytes,
    object: Bytes,
}

impl ReplyDecoder {
    /// A decoder for the reply to a request sent with `version`.
    pub fn new(version: Version, limits: Limits) -> Self {
        let budget = Budget::new(limits.max_message_len);
        ReplyDecoder {
            limits,
            version,
            stage: Stage::Done,
            budget,
            status: 0,
            stderr: Bytes::new(),
            stdout: Bytes::new(),
            object: Bytes::new(),
        }
    }

    /// Consume whole frames from `buf`. `Ok(None)`: more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Reply>, ProtoError> {
        let body_limit = self.limits.max_body_len;
        loop {
            match self.stage {
                Stage::Done => {
                    let Some((_, v)) = take_value(buf, &[Token::Done])? else {
                        return Ok(None);
                    };
                    if v != self.version.number() {
                        return Err(ProtoError::VersionMismatch {
                            expected: self.version.number(),
                            found: v,
                        });
                    }
                    self.stage = Stage::Stat;
                }
                Stage::Stat => {
                    let Some((_, status)) = take_value(buf, &[Token::Stat])? else {
                        return Ok(None);
                    };
                    self.status = status;
                    self.stage = Stage::Serr;
                }
                Stage::Serr => {
                    let Some((_, body)) = take_body(buf, &[(Token::Serr, body_limit)])? else {
                        return Ok(None);
                    };
                    self.stderr = self.body("SERR", body)?;
                    self.stage = Stage::Sout;
                }
                Stage::Sout => {
                    let Some((_, body)) = take_body(buf, &[(Token::Sout, body_limit)])? else {
                        return Ok(None);
                    };
                    self.stdout = self.body("SOUT", body)?;
                    self.stage = Stage::Doto;
                }
                Stage::Doto => {
                    let Some((_, body)) = take_body(buf, &[(Token::Doto, body_limit)])? else {
                        return Ok(None);
                    };
                    self.object = self.body("DOTO", body)?;
                    if self.status == 0 && self.version == Version::V3 {
                        self.stage = Stage::Dotd;
                    } else {
                        return Ok(Some(self.finish(None)));
                    }
                }
                Stage::Dotd => {
                    let Some((_, body)) = take_body(buf, &[(Token::Dotd, body_limit)])? else {
                        return Ok(None);
                    };
                    let dotd = self.body("DOTD", body)?;
                    return Ok(Some(self.finish(Some(dotd))));
                }
            }
        }
    }

    fn body(&mut self, what: &'static str, body: Bytes) -> Result<Bytes, ProtoError> {
        let max = self.limits.max_decompressed_len;
        bulk(what, body, self.version.compressed(), max, &mut self.budget)
    }

    fn finish(&mut self, dotd: Option<Bytes>) -> Reply {
        self.stage = Stage::Done;
        Reply {
            version: self.version,
            status: std::mem::take(&mut self.status),
            stderr: std::mem::take(&mut self.stderr),
            stdout: std::mem::take(&mut self.stdout),
            object: std::mem::take(&mut self.object),
            dotd,
        }
    }
}
