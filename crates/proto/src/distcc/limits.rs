//! Caps on everything a peer can make us allocate.

/// Upper bounds applied while decoding. A length above its bound is refused as soon
/// as the 12-byte header announcing it arrives, before any body byte is buffered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most arguments in one command line (`ARGC`).
    pub max_args: u32,
    /// Longest single argument, and longest path (`ARGV`, `CDIR`, `NAME`, `LINK`).
    pub max_arg_len: u32,
    /// Longest body on the wire: `DOTI`, `FILE`, `SERR`, `SOUT`, `DOTO`, `DOTD`.
    pub max_body_len: u32,
    /// Largest size a single compressed body may expand to.
    pub max_decompressed_len: usize,
    /// Most files in a protocol-3 request (`NFIL`).
    pub max_files: u32,
    /// Largest total of all bodies of one message after decompression.
    pub max_message_len: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_args: 16 * 1024,
            max_arg_len: 256 * 1024,
            max_body_len: 512 * 1024 * 1024,
            max_decompressed_len: 512 * 1024 * 1024,
            max_files: 64 * 1024,
            max_message_len: 1024 * 1024 * 1024,
        }
    }
}
