//! Wire formats spoken by ccfarm, as pure, sans-I/O codecs.
//!
//! Nothing in this crate touches a socket, a file or the clock: decoders take byte
//! buffers and say "need more bytes", "here is a message" or "this is malformed", and
//! every length read from the network is checked against a [`distcc::Limits`] before
//! anything is allocated for it.

pub mod distcc;
pub mod farm;
pub mod lzo;
