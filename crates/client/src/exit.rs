//! distcc's exit codes (`src/exitcode.h`), used when ccfarm itself fails. A compile's
//! own status is always passed through unchanged.

/// General failure.
pub const GENERAL: u8 = 100;
/// Bad command-line arguments.
pub const BAD_ARGUMENTS: u8 = 101;
/// Could not connect.
pub const CONNECT_FAILED: u8 = 103;
/// Network I/O failed.
pub const IO_ERROR: u8 = 107;
/// The peer broke the protocol.
pub const PROTOCOL_ERROR: u8 = 109;
/// The compiler could not be run.
pub const COMPILER_MISSING: u8 = 110;
/// ccfarm called itself.
pub const RECURSION: u8 = 111;
/// The server refused the job.
pub const ACCESS_DENIED: u8 = 113;
/// The server was busy.
pub const BUSY: u8 = 114;
/// A host specification could not be parsed.
pub const BAD_HOSTSPEC: u8 = 106;
/// No host could take the job (and fallback is off).
pub const NO_HOSTS: u8 = 116;
/// A network operation timed out.
pub const TIMEOUT: u8 = 118;
