//! Why a distcc stream was refused.

use crate::lzo::LzoError;

/// A malformed, hostile or unsupported distcc stream. Every variant means the
/// connection cannot continue: distcc has no way to resynchronise a stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// A frame started with a token other than the one the protocol requires here.
    #[error("protocol derailment: expected {expected}, found {found:?}")]
    UnexpectedToken {
        /// The token(s) acceptable at this point.
        expected: String,
        /// The four bytes received, made printable.
        found: String,
    },
    /// The eight characters after a token were not hex digits.
    #[error("bad parameter for {token}: {found:?} is not 8 hex digits")]
    BadParameter {
        /// The token whose parameter was malformed.
        token: &'static str,
        /// The received characters, made printable.
        found: String,
    },
    /// The client asked for a protocol version this side does not speak.
    #[error("unsupported distcc protocol version {0} (supported: 1, 2, 3)")]
    UnsupportedVersion(u32),
    /// The reply's version is not the one the request used.
    #[error("reply is for protocol version {found}, request used {expected}")]
    VersionMismatch {
        /// Version of the request.
        expected: u32,
        /// Version announced by the reply.
        found: u32,
    },
    /// A length or total exceeded its configured limit.
    #[error("{what} of {len} bytes exceeds the limit of {limit} bytes")]
    TooLong {
        /// What was being measured.
        what: &'static str,
        /// The length requested or reached.
        len: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A count exceeded its configured limit.
    #[error("{what} {count} exceeds the limit of {limit}")]
    TooMany {
        /// What was being counted.
        what: &'static str,
        /// The count received.
        count: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A compressed body could not be decompressed.
    #[error("cannot decompress {what}: {source}")]
    Decompress {
        /// Which body.
        what: &'static str,
        /// The decoder's reason.
        #[source]
        source: LzoError,
    },
    /// More body bytes were accounted for than the body's header announced: the
    /// caller driving a request walker lost track of the frame.
    #[error("{len} body bytes accounted for where {remaining} remained")]
    BodyOverrun {
        /// The bytes accounted for.
        len: u64,
        /// What the body in progress still had to come (0 when none was).
        remaining: u64,
    },
    /// The stream ended in the middle of a message.
    #[error("connection closed in the middle of a message ({0} bytes of a partial frame)")]
    Truncated(usize),
}
