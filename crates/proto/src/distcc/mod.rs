//! The distcc wire protocol, versions 1, 2 (LZO) and 3 (pump), as spoken by distcc
//! 3.4 clients and servers.
//!
//! Every frame starts with a 12-byte header (see [`token`]). Decoders are incremental
//! and "check, then parse": they take whole frames from the front of a [`BytesMut`]
//! and otherwise leave it untouched, so the caller simply reads more bytes and calls
//! again. All lengths are checked against [`Limits`] before anything is buffered for
//! them, and LZO bodies are decompressed with a hard output cap.
//!
//! [`BytesMut`]: bytes::BytesMut

mod error;
mod frame;
mod limits;
pub mod pump;
mod reply;
mod request;
pub mod token;
mod version;
pub mod walk;

pub use error::ProtoError;
pub use limits::Limits;
pub use reply::{Reply, ReplyDecoder};
pub use request::{
    Payload, Request, RequestDecoder, TreeEntry, TreeEntryKind, encode_command, encode_source,
};
pub use token::Token;
pub use version::{platform, version_text};
pub use walk::{Body, Event, Expect, Fed, Frame, RequestWalker};

/// The protocol versions distcc defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// Client-side preprocessing, uncompressed.
    V1,
    /// Client-side preprocessing, LZO-compressed bodies (`,lzo` hosts).
    V2,
    /// Server-side preprocessing of a shipped source tree (`,lzo,cpp` hosts: pump).
    V3,
}

impl Version {
    /// The number sent in `DIST` and `DONE`.
    pub fn number(self) -> u32 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }

    /// Parse the number sent in `DIST`.
    pub fn from_number(n: u32) -> Result<Version, ProtoError> {
        match n {
            1 => Ok(Version::V1),
            2 => Ok(Version::V2),
            3 => Ok(Version::V3),
            other => Err(ProtoError::UnsupportedVersion(other)),
        }
    }

    /// Whether bulk bodies are LZO-compressed.
    pub fn compressed(self) -> bool {
        self != Version::V1
    }
}

/// Append a length-prefixed body frame. Empty bodies are never compressed: distcc
/// sends them as a bare `XXXX00000000` header.
pub(crate) fn write_body(out: &mut Vec<u8>, token: Token, body: &[u8], compressed: bool) {
    if compressed && !body.is_empty() {
        let packed = crate::lzo::compress(body);
        token::write_header(out, token, body_len(&packed));
        out.extend_from_slice(&packed);
    } else {
        token::write_header(out, token, body_len(body));
        out.extend_from_slice(body);
    }
}

/// distcc cannot express bodies of 4 GiB or more; callers keep bodies within
/// [`Limits`], which are far below that, so this is an invariant, not an input check.
fn body_len(body: &[u8]) -> u32 {
    u32::try_from(body.len()).expect("distcc bodies are smaller than 4 GiB")
}

#[cfg(test)]
mod tests;
