//! "Is a whole frame buffered? Then take it": the two primitives the reply decoder is
//! built from (neither consumes anything unless the whole frame is present), and the
//! decoded-size budget and decompression both directions share.

use bytes::{Buf, Bytes, BytesMut};

use super::error::ProtoError;
use super::token::{HEADER_LEN, Token, parse_header};

fn header(buf: &BytesMut, expected: &[Token]) -> Result<Option<(Token, u32)>, ProtoError> {
    let Some(head) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let head: &[u8; HEADER_LEN] = head.try_into().expect("slice of HEADER_LEN bytes");
    parse_header(head, expected).map(Some)
}

/// Take a frame whose parameter is a value (`DIST`, `ARGC`, `NFIL`, `DONE`, `STAT`).
pub(crate) fn take_value(
    buf: &mut BytesMut,
    expected: &[Token],
) -> Result<Option<(Token, u32)>, ProtoError> {
    let found = header(buf, expected)?;
    if found.is_some() {
        buf.advance(HEADER_LEN);
    }
    Ok(found)
}

/// Take a frame whose parameter is the length of a body that follows; `expected`
/// pairs each acceptable token with its length limit. The length is checked as soon
/// as the header is here, so a hostile length never makes the caller buffer more
/// than the limit.
pub(crate) fn take_body(
    buf: &mut BytesMut,
    expected: &[(Token, u32)],
) -> Result<Option<(Token, Bytes)>, ProtoError> {
    let tokens: Vec<Token> = expected.iter().map(|&(t, _)| t).collect();
    let Some((token, len)) = header(buf, &tokens)? else {
        return Ok(None);
    };
    let limit = expected
        .iter()
        .find(|&&(t, _)| t == token)
        .map_or(0, |&(_, l)| l);
    if len > limit {
        return Err(ProtoError::TooLong {
            what: token.as_str(),
            len: len.into(),
            limit: limit.into(),
        });
    }
    let len = len as usize;
    if buf.len() < HEADER_LEN + len {
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    Ok(Some((token, buf.split_to(len).freeze())))
}

/// Running total of a message's decoded size, checked against a limit.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    used: u64,
    limit: u64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Self {
        Budget { used: 0, limit }
    }

    /// How many more bytes may still be decoded.
    pub(crate) fn remaining(&self) -> u64 {
        self.limit - self.used
    }

    pub(crate) fn charge(&mut self, n: usize) -> Result<(), ProtoError> {
        let used = self.used.saturating_add(n as u64);
        if used > self.limit {
            return Err(ProtoError::TooLong {
                what: "message",
                len: used,
                limit: self.limit,
            });
        }
        self.used = used;
        Ok(())
    }
}

/// A bulk body as received: decompressed when the protocol compresses (v2, v3),
/// and charged against the message budget either way.
pub(crate) fn bulk(
    what: &'static str,
    body: Bytes,
    compressed: bool,
    max_decompressed_len: usize,
    budget: &mut Budget,
) -> Result<Bytes, ProtoError> {
    if compressed {
        decompress(what, body, max_decompressed_len, budget)
    } else {
        budget.charge(body.len())?;
        Ok(body)
    }
}

/// Decompress a protocol-2/3 body. Empty bodies are never compressed on the wire.
fn decompress(
    what: &'static str,
    body: Bytes,
    max_len: usize,
    budget: &mut Budget,
) -> Result<Bytes, ProtoError> {
    if body.is_empty() {
        return Ok(body);
    }
    let cap = max_len.min(usize::try_from(budget.remaining()).unwrap_or(usize::MAX));
    let out = crate::lzo::decompress(&body, cap)
        .map_err(|source| ProtoError::Decompress { what, source })?;
    budget.charge(out.len())?;
    Ok(Bytes::from(out))
}
