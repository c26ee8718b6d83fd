//! Raw LZO1X streams, as used for the bodies of distcc protocol version 2 (and 3).
//!
//! distcc compresses every bulk body (`DOTI`, `DOTO`, `SERR`, `SOUT`, …) with minilzo's
//! `lzo1x_1_compress` and decodes with `lzo1x_decompress_safe`. The stream is *raw*: no
//! header, no uncompressed length, no checksum; it simply ends with the end-of-stream
//! instruction `11 00 00`. The receiver therefore has to guess an output size and grow it,
//! which is what [`decompress`] does, under a hard cap so a small hostile body cannot make
//! us allocate gigabytes.
//!
//! [`compress`] is a clean-room greedy encoder written from the LZO1X *instruction set*
//! (the decoder's view of the format, summarised below); decoding is delegated to the
//! bounds-checked, pure-Rust [`lzo`] crate.
//!
//! # The LZO1X instruction set (decoder's view)
//!
//! The decoder keeps a small "state": how many literals the previous instruction copied
//! (0, 1..=3, or "4 or more"). An instruction byte `t` means:
//!
//! | `t`               | state     | meaning                                                |
//! |-------------------|-----------|--------------------------------------------------------|
//! | first byte > 17   | start     | `t - 17` literals follow (only as the very first byte) |
//! | `0000LLLL`        | 0         | literal run of `L + 3` bytes; `L == 0`: 18 + extension |
//! | `0000DDSS`        | 1..=3, 4  | M1: short match of length 2 / 3; never emitted here    |
//! | `LLLDDDSS` (≥ 64) | any       | M2: length `L + 1` (3..=8), distance ≤ 2048, +1 byte   |
//! | `001LLLLL`        | any       | M3: length `L + 2`, `L == 0`: 33 + ext; +2 bytes       |
//! | `0001HLLL`        | any       | M4: length `L + 2`, `L == 0`: 9 + ext; +2 bytes        |
//!
//! The two distance bytes of M3/M4 are little-endian `DDDDDDDD DDDDDDSS`. `SS` (the low
//! two bits of the byte two positions before the end of every match instruction, for M2
//! the instruction byte itself) is the number (0..=3) of literals that follow the match
//! directly, with no instruction byte of their own. A literal run instruction is only
//! valid when the previous instruction left state 0, and after a literal run the next
//! instruction is always decoded as a match. The length extension is a run of zero bytes
//! (255 each) terminated by one non-zero byte that is added as is. An M4 with `H == 0` and
//! a zero distance field is the end-of-stream marker.

use std::fmt;

/// The end-of-stream instruction: an M4 "match" with distance field 0 and length 3.
const EOS: [u8; 3] = [0x11, 0x00, 0x00];

/// Largest distance an M2 instruction can encode.
const M2_MAX_DISTANCE: usize = 2048;
/// Longest match an M2 instruction can encode.
const M2_MAX_LEN: usize = 8;
/// Largest distance an M3 instruction can encode (M4 starts right above it).
const M3_MAX_DISTANCE: usize = 16384;
/// Largest distance an M4 instruction can encode: 16384 + 15 bits.
const M4_MAX_DISTANCE: usize = 49151;
/// M3 lengths up to this fit in the instruction byte; longer ones use the extension.
const M3_MAX_SHORT_LEN: usize = 33;
/// M4 lengths up to this fit in the instruction byte; longer ones use the extension.
const M4_MAX_SHORT_LEN: usize = 9;
/// Literal runs up to this fit in a `0000LLLL` byte; longer ones use the extension.
const LIT_MAX_SHORT_LEN: usize = 18;
/// Longest initial literal run the "first byte > 17" form can encode (255 - 17).
const FIRST_LIT_MAX_LEN: usize = 238;

/// Matches are found by hashing 4-byte sequences, so 4 is the shortest match we emit.
const MIN_MATCH: usize = 4;
/// log2 of the number of hash-table slots: 2^14 `u32`s = 64 KiB, which stays in L2.
const HASH_BITS: u32 = 14;
/// When no match is found, advance by `1 + (literals so far >> SKIP_SHIFT)` bytes, so
/// incompressible data (object files, already-compressed sections) is skipped quickly.
const SKIP_SHIFT: u32 = 5;

/// Initial decompression buffer when the input is tiny: small enough to be cheap, big
/// enough that typical small bodies decode in one pass.
const MIN_INITIAL_OUTPUT: usize = 16 * 1024;
/// Initial guess of the compression ratio (the same guess distcc makes).
const INITIAL_RATIO_GUESS: usize = 8;

/// Why an LZO1X body could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LzoError {
    /// The stream would decompress to more than the caller's limit. This is what an
    /// "LZO bomb" (a small body with huge length extensions) produces.
    #[error("LZO1X body decompresses to more than the limit of {limit} bytes")]
    TooLarge {
        /// The `max_output` the caller passed.
        limit: usize,
    },
    /// The stream is not a valid LZO1X stream.
    #[error("corrupt LZO1X body: {0}")]
    Corrupt(CorruptKind),
}

/// What exactly is wrong with a corrupt LZO1X stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptKind {
    /// The input ended before the end-of-stream marker.
    Truncated,
    /// A match refers to data before the start of the output.
    LookbehindOverrun,
    /// Bytes follow the end-of-stream marker. distcc's receiver (`lzo1x_decompress_safe`)
    /// rejects these too (`LZO_E_INPUT_NOT_CONSUMED`), so we do not accept them either.
    TrailingBytes,
    /// An instruction is invalid (e.g. a malformed end-of-stream marker).
    Malformed,
}

impl fmt::Display for CorruptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CorruptKind::Truncated => "input ends before the end-of-stream marker",
            CorruptKind::LookbehindOverrun => "a match refers to data before the output start",
            CorruptKind::TrailingBytes => "bytes follow the end-of-stream marker",
            CorruptKind::Malformed => "malformed instruction",
        })
    }
}

/// Compresses `input` into a raw LZO1X stream (as `lzo1x_1_compress` would: no header,
/// ends with `11 00 00`), decodable by any conforming LZO1X decompressor, in particular
/// the minilzo inside distcc.
///
/// The encoder is greedy and single-pass, with a 4-byte hash table like LZO1X-1, and
/// favours speed over ratio: it is run on multi-megabyte preprocessed sources and object
/// files while a compiler waits.
///
/// `compress(&[])` returns just the end-of-stream marker `11 00 00`, which every LZO1X
/// decoder (including distcc's) decodes to nothing. Note that distcc itself never
/// compresses an empty body: it sends a zero-length body instead, which [`decompress`]
/// also accepts.
pub fn compress(input: &[u8]) -> Vec<u8> {
    let n = input.len();
    let mut enc = Encoder {
        out: Vec::with_capacity(n + n / 64 + 16),
        last_match_ss: None,
    };
    let mut anchor = 0; // first input byte not yet emitted
    if n >= MIN_MATCH {
        // Positions are stored as u32: for inputs over 4 GiB they merely wrap, and every
        // candidate is verified against the input anyway, so that only costs ratio.
        let mut table = vec![0u32; 1 << HASH_BITS];
        let last = n - MIN_MATCH; // the last position a 4-byte read fits at
        let mut pos = 0;
        while pos <= last {
            let seq = read_u32(input, pos);
            let slot = hash(seq);
            let cand = table[slot] as usize;
            table[slot] = pos as u32;
            let dist = pos.wrapping_sub(cand);
            // `dist - 1` wraps for dist == 0 (the empty table at pos 0) and for a stale,
            // wrapped `cand > pos`, so one comparison rejects those and too-far matches.
            if dist.wrapping_sub(1) >= M4_MAX_DISTANCE || read_u32(input, cand) != seq {
                pos += 1 + ((pos - anchor) >> SKIP_SHIFT);
                continue;
            }
            // Extend backwards over literals not yet emitted, then forwards.
            let (mut start, mut src) = (pos, cand);
            while start > anchor && src > 0 && input[start - 1] == input[src - 1] {
                start -= 1;
                src -= 1;
            }
            let end = pos + MIN_MATCH + common_prefix_len(input, cand + MIN_MATCH, pos + MIN_MATCH);
            enc.emit_literals(&input[anchor..start]);
            enc.emit_match(dist, end - start);
            anchor = end;
            pos = end;
            // Seed the table just before the match end, so a repeat of the match's tail
            // is found right away (cheap; ~3% smaller output on preprocessed C++).
            if end - 2 <= last {
                table[hash(read_u32(input, end - 2))] = (end - 2) as u32;
            }
        }
    }
    enc.emit_literals(&input[anchor..]);
    enc.out.extend_from_slice(&EOS);
    enc.out
}

/// Decompresses a raw LZO1X stream of unknown uncompressed size, refusing to produce more
/// than `max_output` bytes.
///
/// The input is untrusted: any malformed stream yields [`LzoError::Corrupt`] (never a
/// panic), and a stream that would expand beyond `max_output` yields
/// [`LzoError::TooLarge`] without ever allocating more than `max_output` bytes. Because
/// the format does not carry the uncompressed length, we decode into a buffer of about
/// 8x the input (as distcc does) and, when that overflows, double it and decode again
/// from the start; typical 2-5x bodies decode in a single pass.
///
/// An empty `input` decodes to an empty output: that is how distcc sends empty files
/// (a zero length and no LZO stream at all). Bytes after the end-of-stream marker are
/// rejected, exactly like distcc's `lzo1x_decompress_safe` does.
pub fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, LzoError> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let mut capacity = input
        .len()
        .saturating_mul(INITIAL_RATIO_GUESS)
        .max(MIN_INITIAL_OUTPUT)
        .min(max_output);
    let mut out = vec![0; capacity];
    loop {
        match lzo::decompress_into(input, &mut out) {
            Ok(len) => {
                out.truncate(len);
                if out.capacity() / 2 > len {
                    out.shrink_to_fit();
                }
                return Ok(out);
            }
            Err(lzo::Error::OutputOverrun) => {
                if capacity >= max_output {
                    return Err(LzoError::TooLarge { limit: max_output });
                }
                capacity = capacity.saturating_mul(2).min(max_output);
                // Only the new tail is zeroed; the old output is simply decoded over.
                out.resize(capacity, 0);
            }
            Err(e) => return Err(LzoError::Corrupt(corrupt_kind(e))),
        }
    }
}

/// Maps the decoder's errors (other than output overrun) onto ours, so the `lzo` crate
/// does not leak into our public API.
fn corrupt_kind(e: lzo::Error) -> CorruptKind {
    match e {
        lzo::Error::InputOverrun => CorruptKind::Truncated,
        lzo::Error::LookbehindOverrun => CorruptKind::LookbehindOverrun,
        lzo::Error::InputNotConsumed => CorruptKind::TrailingBytes,
        // OutputOverrun is handled by the caller; anything else is a malformed stream.
        _ => CorruptKind::Malformed,
    }
}

/// Output side of the encoder: knows how to spell literal runs and matches.
struct Encoder {
    out: Vec<u8>,
    /// Index in `out` of the byte holding the `SS` bits of the last match emitted, or
    /// `None` while nothing but (possibly) an initial literal run has been written.
    last_match_ss: Option<usize>,
}

impl Encoder {
    /// Emits `lits` as literals. Must be followed by a match or the end-of-stream marker,
    /// both of which are valid in every decoder state.
    fn emit_literals(&mut self, lits: &[u8]) {
        let len = lits.len();
        if len == 0 {
            return;
        }
        match self.last_match_ss {
            // Stream start: the first byte can be `17 + len` for short-ish runs. (For
            // 1..=3 literals this is the only way to encode them at the start.)
            None if len <= FIRST_LIT_MAX_LEN => self.out.push((17 + len) as u8),
            // 1..=3 literals after a match go into its `SS` bits, with no instruction.
            Some(ss) if len <= 3 => self.out[ss] |= len as u8,
            // Otherwise a literal-run instruction. The decoder is in state 0 here: either
            // at the stream start, or after a match whose `SS` we left at 0.
            _ if len <= LIT_MAX_SHORT_LEN => self.out.push((len - 3) as u8),
            _ => {
                self.out.push(0);
                self.length_extension(len - LIT_MAX_SHORT_LEN);
            }
        }
        self.out.extend_from_slice(lits);
    }

    /// Emits a match of `len >= 3` bytes starting `dist` (1..=49151) bytes back, with its
    /// `SS` bits at 0 (trailing literals are patched in by `emit_literals`).
    fn emit_match(&mut self, dist: usize, len: usize) {
        debug_assert!((1..=M4_MAX_DISTANCE).contains(&dist) && len >= 3);
        if dist <= M2_MAX_DISTANCE && len <= M2_MAX_LEN {
            // M2: LLLDDDSS DDDDDDDD, length - 1 and distance - 1.
            let d = dist - 1;
            self.out.push((((len - 1) << 5) | ((d & 7) << 2)) as u8);
            self.out.push((d >> 3) as u8);
        } else if dist <= M3_MAX_DISTANCE {
            // M3: 001LLLLL [ext] DDDDDDSS DDDDDDDD, distance - 1 in 14 bits.
            if len <= M3_MAX_SHORT_LEN {
                self.out.push(0b0010_0000 | (len - 2) as u8);
            } else {
                self.out.push(0b0010_0000);
                self.length_extension(len - M3_MAX_SHORT_LEN);
            }
            self.distance_bytes(dist - 1);
        } else {
            // M4: 0001HLLL [ext] DDDDDDSS DDDDDDDD, distance - 16384 in 15 bits, the top
            // one being H. The distance field is never 0 here (that would be EOS) because
            // dist > 16384.
            let d = dist - M3_MAX_DISTANCE;
            let h = ((d >> 11) & 0b1000) as u8;
            if len <= M4_MAX_SHORT_LEN {
                self.out.push(0b0001_0000 | h | (len - 2) as u8);
            } else {
                self.out.push(0b0001_0000 | h);
                self.length_extension(len - M4_MAX_SHORT_LEN);
            }
            self.distance_bytes(d & 0x3fff);
        }
        // Every match form has its SS bits two bytes before its end.
        self.last_match_ss = Some(self.out.len() - 2);
    }

    /// Writes a 14-bit distance field as `DDDDDDSS DDDDDDDD` with `SS = 0`.
    fn distance_bytes(&mut self, d: usize) {
        self.out.push((d << 2) as u8);
        self.out.push((d >> 6) as u8);
    }

    /// Writes the length extension for `extra >= 1`: zero bytes worth 255 each, then the
    /// non-zero remainder (1..=255).
    fn length_extension(&mut self, extra: usize) {
        debug_assert!(extra >= 1);
        let zeros = (extra - 1) / 255;
        self.out.resize(self.out.len() + zeros, 0);
        self.out.push((extra - zeros * 255) as u8);
    }
}

/// Multiplicative (Fibonacci) hash of a 4-byte sequence into a table slot.
#[inline(always)]
fn hash(seq: u32) -> usize {
    (seq.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

#[inline(always)]
fn read_u32(buf: &[u8], at: usize) -> u32 {
    let b = &buf[at..at + 4];
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[inline(always)]
fn read_u64(buf: &[u8], at: usize) -> u64 {
    let b = &buf[at..at + 8];
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Length of the common prefix of `buf[a..]` and `buf[b..]`, for `a < b`. The ranges may
/// overlap (that is how runs are encoded), 8 bytes are compared at a time.
#[inline(always)]
fn common_prefix_len(buf: &[u8], a: usize, b: usize) -> usize {
    let mut len = 0;
    while b + len + 8 <= buf.len() {
        let diff = read_u64(buf, a + len) ^ read_u64(buf, b + len);
        if diff != 0 {
            return len + (diff.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while b + len < buf.len() && buf[a + len] == buf[b + len] {
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One decoded instruction, as seen by [`walk`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Op {
        /// Literals announced by a first byte > 17.
        First(usize),
        /// A `0000LLLL` literal-run instruction.
        Run(usize),
        /// Literals carried by the `SS` bits of the previous match.
        Trail(usize),
        /// A match of the given kind (1..=4 for M1..M4).
        Match { kind: u8, dist: usize, len: usize },
    }

    /// An independent, test-only LZO1X decoder that also reports which instructions the
    /// stream used. Panics on malformed input (only ever fed our own output or distcc's).
    fn walk(s: &[u8]) -> (Vec<u8>, Vec<Op>) {
        let (mut out, mut ops, mut ip) = (Vec::new(), Vec::new(), 0);
        let next = |ip: &mut usize| {
            *ip += 1;
            usize::from(s[*ip - 1])
        };
        let ext = |ip: &mut usize, base: usize| {
            let mut n = base;
            while s[*ip] == 0 {
                n += 255;
                *ip += 1;
            }
            *ip += 1;
            n + usize::from(s[*ip - 1])
        };
        let lits = |out: &mut Vec<u8>, ip: &mut usize, n: usize| {
            out.extend_from_slice(&s[*ip..*ip + n]);
            *ip += n;
        };
        let mut state = 0;
        if s[0] > 17 {
            let n = usize::from(s[0] - 17);
            ip = 1;
            lits(&mut out, &mut ip, n);
            ops.push(Op::First(n));
            state = n.min(4);
        }
        loop {
            let t = next(&mut ip);
            let (kind, dist, len, ss);
            if t < 16 && state == 0 {
                let n = if t == 0 { ext(&mut ip, 18) } else { t + 3 };
                lits(&mut out, &mut ip, n);
                ops.push(Op::Run(n));
                state = 4;
                continue;
            } else if t < 16 {
                let b = next(&mut ip);
                (kind, ss) = (1, t & 3);
                (dist, len) = if state == 4 {
                    (2049 + (t >> 2) + (b << 2), 3)
                } else {
                    (1 + (t >> 2) + (b << 2), 2)
                };
            } else if t >= 64 {
                (kind, ss, len) = (2, t & 3, (t >> 5) + 1);
                dist = 1 + ((t >> 2) & 7) + (next(&mut ip) << 3);
            } else if t >= 32 {
                len = if t & 31 == 0 {
                    ext(&mut ip, 33)
                } else {
                    (t & 31) + 2
                };
                let d = next(&mut ip) | (next(&mut ip) << 8);
                (kind, ss, dist) = (3, d & 3, 1 + (d >> 2));
            } else {
                len = if t & 7 == 0 {
                    ext(&mut ip, 9)
                } else {
                    (t & 7) + 2
                };
                let d = next(&mut ip) | (next(&mut ip) << 8);
                if t & 8 == 0 && d >> 2 == 0 {
                    assert_eq!((len, ip), (3, s.len()), "EOS must be 11 00 00 and last");
                    return (out, ops);
                }
                (kind, ss, dist) = (4, d & 3, 16384 + ((t & 8) << 11) + (d >> 2));
            }
            for _ in 0..len {
                out.push(out[out.len() - dist]);
            }
            ops.push(Op::Match { kind, dist, len });
            if ss > 0 {
                lits(&mut out, &mut ip, ss);
                ops.push(Op::Trail(ss));
            }
            state = ss;
        }
    }

    /// Deterministic xorshift bytes, never 0 (so zero runs in tests stay separate).
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8 | 1
            })
            .collect()
    }

    /// Compresses, checks the stream is well-formed and decodes back (with both our
    /// wrapper and the reference walker) and returns the instructions used.
    fn roundtrip(data: &[u8]) -> Vec<Op> {
        let c = compress(data);
        assert!(c.ends_with(&EOS));
        assert_eq!(decompress(&c, data.len()).expect("decompress"), data);
        let (walked, ops) = walk(&c);
        assert_eq!(walked, data);
        ops
    }

    fn has_match(ops: &[Op], kind: u8, dist: usize, len: usize) -> bool {
        ops.contains(&Op::Match { kind, dist, len })
    }

    #[test]
    fn empty_input_is_just_the_end_marker() {
        assert_eq!(compress(&[]), EOS);
        assert_eq!(decompress(&EOS, 0), Ok(Vec::new()));
        assert_eq!(decompress(&[], 0), Ok(Vec::new())); // distcc's "send 0 as 0"
        assert_eq!(roundtrip(&[]), []);
    }

    #[test]
    fn tiny_inputs_are_a_single_literal_run() {
        for n in 1..=4 {
            let data = &b"abcd"[..n];
            let mut expected = vec![17 + n as u8];
            expected.extend_from_slice(data);
            expected.extend_from_slice(&EOS);
            assert_eq!(compress(data), expected);
            assert_eq!(roundtrip(data), [Op::First(n)]);
        }
    }

    #[test]
    fn long_run_of_one_byte() {
        let data = vec![b'x'; 1 << 20];
        let c = compress(&data);
        assert!(c.len() < data.len() / 250, "{} bytes", c.len());
        let len = data.len() - 1;
        assert_eq!(
            roundtrip(&data),
            [
                Op::First(1),
                Op::Match {
                    kind: 3,
                    dist: 1,
                    len
                }
            ]
        );
    }

    #[test]
    fn incompressible_input_expands_by_less_than_half_a_percent() {
        let data = noise(7, 300_000);
        let c = compress(&data);
        assert!(
            c.len() <= data.len() + data.len() / 200,
            "{} bytes",
            c.len()
        );
        roundtrip(&data);
    }

    #[test]
    fn text_with_long_repeats() {
        let mut data = Vec::new();
        for i in 0..20_000 {
            let line = format!(
                "static int value_{} = {} * SCALE + OFFSET; /* {} */\n",
                i % 97,
                i,
                i % 13
            );
            data.extend_from_slice(line.as_bytes());
        }
        assert!(data.len() > 1_000_000);
        let c = compress(&data);
        assert!(
            c.len() < data.len() / 4,
            "{} of {} bytes",
            c.len(),
            data.len()
        );
        let ops = roundtrip(&data);
        assert!(ops.iter().any(|op| matches!(op, Op::Match { kind: 2, .. })));
    }

    /// `R ++ zeros ++ R` with the second copy exactly `dist` bytes after the first.
    fn repeat_at(dist: usize, len: usize) -> Vec<u8> {
        let r = noise(dist as u64 * 31 + len as u64, len);
        let mut data = r.clone();
        data.resize(dist, 0);
        data.extend_from_slice(&r);
        data
    }

    #[test]
    fn match_distances_at_format_boundaries() {
        for (dist, len, kind) in [
            (2048, 8, 2),    // longest M2 distance
            (2049, 8, 3),    // just beyond: M3
            (2048, 9, 3),    // too long for M2
            (16384, 40, 3),  // longest M3 distance
            (16385, 40, 4),  // shortest M4 distance (16384 itself would be EOS)
            (32767, 40, 4),  // M4 with H = 0, largest distance field
            (32768, 40, 4),  // M4 with H = 1, distance field 0
            (49151, 40, 4),  // longest M4 distance
            (60000, 100, 4), // (only the zero run can match here)
        ] {
            let data = repeat_at(dist, len);
            let ops = roundtrip(&data);
            assert_eq!(
                has_match(&ops, kind, dist, len),
                dist <= M4_MAX_DISTANCE,
                "{dist} {ops:?}"
            );
        }
        // Nothing beyond the window is ever referenced.
        let ops = roundtrip(&repeat_at(49152, 100));
        assert!(
            ops.iter()
                .all(|op| !matches!(op, Op::Match { dist, .. } if *dist > 49151))
        );
    }

    #[test]
    fn match_lengths_needing_the_extension() {
        for (dist, len, kind) in [
            (1000, 33, 3),
            (1000, 34, 3),
            (1000, 288, 3), // 33 + 255: one non-zero extension byte
            (1000, 289, 3), // 33 + 256: a zero byte, then 1
            (1000, 1000, 3),
            (20000, 9, 4),
            (20000, 10, 4),
            (20000, 264, 4), // 9 + 255
            (20000, 265, 4), // 9 + 256
            (40000, 5000, 4),
        ] {
            let ops = roundtrip(&repeat_at(dist, len));
            assert!(has_match(&ops, kind, dist, len), "{dist} {len} {ops:?}");
        }
    }

    /// Drives the encoder directly: `lits` literals, a match, `lits` literals, a match,
    /// `lits` literals; returns the stream.
    fn literal_script(lits: usize) -> Vec<u8> {
        let data = noise(lits as u64, lits);
        let mut enc = Encoder {
            out: Vec::new(),
            last_match_ss: None,
        };
        enc.emit_literals(&data);
        enc.emit_match(1, 10);
        enc.emit_literals(&data);
        enc.emit_match(3, 20);
        enc.emit_literals(&data);
        enc.out.extend_from_slice(&EOS);
        enc.out
    }

    #[test]
    fn literal_runs_of_every_encoding() {
        for (n, first, run_header) in [
            (1, Op::First(1), &[][..]),
            (3, Op::First(3), &[][..]),
            (4, Op::First(4), &[1][..]),
            (18, Op::First(18), &[15][..]),
            (19, Op::First(19), &[0, 1][..]),
            (238, Op::First(238), &[0, 220][..]),
            (239, Op::Run(239), &[0, 221][..]),
            (273, Op::Run(273), &[0, 255][..]),
            (274, Op::Run(274), &[0, 0, 1][..]),
            (1000, Op::Run(1000), &[0, 0, 0, 217][..]),
        ] {
            let stream = literal_script(n);
            let (out, ops) = walk(&stream);
            let mid = if n <= 3 { Op::Trail(n) } else { Op::Run(n) };
            let m1 = Op::Match {
                kind: 3,
                dist: 1,
                len: 10,
            };
            let m2 = Op::Match {
                kind: 3,
                dist: 3,
                len: 20,
            };
            assert_eq!(ops, [first, m1, mid, m2, mid], "{n}");
            assert_eq!(lzo::decompress(&stream, out.len()).as_deref(), Ok(&out[..]));
            // The literal-run instruction bytes are exactly as specified by the format.
            let run_at = stream.len() - EOS.len() - n - run_header.len();
            assert_eq!(
                &stream[run_at..run_at + run_header.len()],
                run_header,
                "{n}"
            );
        }
    }

    #[test]
    fn every_match_form_decodes() {
        let dists = [
            1, 2, 8, 9, 2048, 2049, 16383, 16384, 16385, 32767, 32768, 32769, 49151,
        ];
        let lens = [3, 4, 8, 9, 10, 33, 34, 264, 265, 288, 289, 100_000];
        for dist in dists {
            let lits = noise(dist as u64, dist);
            for len in lens {
                let mut enc = Encoder {
                    out: Vec::new(),
                    last_match_ss: None,
                };
                enc.emit_literals(&lits);
                enc.emit_match(dist, len);
                enc.out.extend_from_slice(&EOS);
                let (out, ops) = walk(&enc.out);
                let kind = match dist {
                    ..=M2_MAX_DISTANCE if len <= M2_MAX_LEN => 2,
                    ..=M3_MAX_DISTANCE => 3,
                    _ => 4,
                };
                assert_eq!(ops[1], Op::Match { kind, dist, len });
                assert_eq!(decompress(&enc.out, dist + len), Ok(out));
            }
        }
    }

    #[test]
    fn corrupt_streams_are_reported() {
        let corrupt = |kind| Err(LzoError::Corrupt(kind));
        let good = compress(b"hello, hello, hello, world");
        assert_eq!(
            decompress(&good[..good.len() - 1], 100),
            corrupt(CorruptKind::Truncated)
        );
        assert_eq!(decompress(&good[..5], 100), corrupt(CorruptKind::Truncated));
        assert_eq!(decompress(&[0x11], 100), corrupt(CorruptKind::Truncated));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            decompress(&trailing, 100),
            corrupt(CorruptKind::TrailingBytes)
        );
        // A first byte of 17 is an M4 match (distance 16385 here) with nothing to refer to.
        let lookbehind = [0x11, 0x04, 0x00, 0x11, 0x00, 0x00];
        assert_eq!(
            decompress(&lookbehind, 100),
            corrupt(CorruptKind::LookbehindOverrun)
        );
        // One literal, then an end-of-stream marker with a length other than 3.
        let bad_eos = [18, b'a', 0x12, 0x00, 0x00];
        assert_eq!(decompress(&bad_eos, 100), corrupt(CorruptKind::Malformed));
        let err = decompress(&trailing, 100).unwrap_err();
        assert_eq!(
            err.to_string(),
            "corrupt LZO1X body: bytes follow the end-of-stream marker"
        );
    }

    #[test]
    fn lzo_bomb_from_our_own_encoder_is_refused() {
        let bomb = compress(&vec![0; 16 << 20]);
        assert!(bomb.len() < 70_000, "{} bytes", bomb.len());
        assert_eq!(
            decompress(&bomb, 1 << 20),
            Err(LzoError::TooLarge { limit: 1 << 20 })
        );
        assert_eq!(decompress(&bomb, 16 << 20).map(|v| v.len()), Ok(16 << 20));
    }

    #[test]
    fn crafted_lzo_bomb_is_refused() {
        // 'a', then an M3 match at distance 1 whose length extension is 300 zero bytes:
        // 306 bytes that expand to 1 + 33 + 300 * 255 + 255 bytes.
        let mut bomb = vec![18, b'a', 0b0010_0000];
        bomb.resize(bomb.len() + 300, 0);
        bomb.extend_from_slice(&[0xff, 0x00, 0x00]);
        bomb.extend_from_slice(&EOS);
        let expanded = 1 + 33 + 300 * 255 + 255;
        let err = decompress(&bomb, 64 * 1024).unwrap_err();
        assert_eq!(err, LzoError::TooLarge { limit: 64 * 1024 });
        assert_eq!(
            err.to_string(),
            "LZO1X body decompresses to more than the limit of 65536 bytes"
        );
        assert_eq!(
            decompress(&bomb, expanded - 1),
            Err(LzoError::TooLarge {
                limit: expanded - 1
            })
        );
        assert_eq!(decompress(&bomb, expanded), Ok(vec![b'a'; expanded]));
    }

    #[test]
    fn output_needing_several_buffer_doublings() {
        // ~50 KiB that expands 200x: the first 400 KiB guess is far too small.
        let data: Vec<u8> = (0..10u8).flat_map(|i| vec![i; 1 << 20]).collect();
        let c = compress(&data);
        assert!(c.len() * 8 * 4 < data.len());
        assert_eq!(decompress(&c, usize::MAX).as_deref(), Ok(&data[..]));
        assert_eq!(decompress(&c, data.len()).as_deref(), Ok(&data[..]));
    }

    /// Inputs made of literals, back-references (near and far) and runs: the shapes that
    /// exercise every instruction the encoder can emit.
    fn repetitive() -> impl Strategy<Value = Vec<u8>> {
        #[derive(Debug, Clone)]
        enum Piece {
            Bytes(Vec<u8>),
            Copy(usize, usize),
            Run(u8, usize),
        }
        let piece = prop_oneof![
            prop::collection::vec(any::<u8>(), 1..40).prop_map(Piece::Bytes),
            (1usize..60_000, 1usize..600).prop_map(|(d, l)| Piece::Copy(d, l)),
            (any::<u8>(), 1usize..3_000).prop_map(|(b, l)| Piece::Run(b, l)),
        ];
        prop::collection::vec(piece, 0..60).prop_map(|pieces| {
            let mut data = Vec::new();
            for piece in pieces {
                match piece {
                    Piece::Bytes(b) => data.extend_from_slice(&b),
                    Piece::Run(b, l) => data.resize(data.len() + l, b),
                    Piece::Copy(_, _) if data.is_empty() => {}
                    Piece::Copy(d, l) => {
                        let from = data.len() - d.min(data.len());
                        for i in 0..l {
                            data.push(data[from + i]);
                        }
                    }
                }
            }
            data
        })
    }

    proptest! {
        #[test]
        fn roundtrip_arbitrary(data in prop::collection::vec(any::<u8>(), 0..20_000)) {
            roundtrip(&data);
        }

        #[test]
        fn roundtrip_small_alphabet(data in prop::collection::vec(0u8..3, 0..30_000)) {
            roundtrip(&data);
        }

        #[test]
        fn roundtrip_repetitive(data in repetitive()) {
            let ops = roundtrip(&data);
            let max_dist = ops.iter().map(|op| match op { Op::Match { dist, .. } => *dist, _ => 0 });
            prop_assert!(max_dist.max().unwrap_or(0) <= M4_MAX_DISTANCE);
            // The exact size is enough, one byte less is not.
            if let Some(limit) = data.len().checked_sub(1) {
                prop_assert_eq!(decompress(&compress(&data), limit), Err(LzoError::TooLarge { limit }));
            }
        }

        #[test]
        fn decompress_never_panics(input in prop::collection::vec(any::<u8>(), 0..600), cap in 0usize..100_000) {
            if let Ok(out) = decompress(&input, cap) {
                prop_assert!(out.len() <= cap);
            }
        }

        #[test]
        fn decompress_survives_damaged_streams(
            data in repetitive(),
            damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
            cap in 0usize..200_000,
        ) {
            let mut stream = compress(&data);
            for (at, byte) in damage {
                let i = at.index(stream.len());
                stream[i] = byte;
            }
            stream.truncate(cut.index(stream.len() + 1).max(1));
            if let Ok(out) = decompress(&stream, cap) {
                prop_assert!(out.len() <= cap);
            }
        }
    }
}
