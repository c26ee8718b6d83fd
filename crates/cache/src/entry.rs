//! A cache entry: everything a compile returns, with its own checksum.
//!
//! Layout: a header line naming the format, the status (4 bytes), then stdout, stderr,
//! the object and the dependency file, each as a presence byte, an 8-byte length and the
//! bytes, and last the BLAKE3 hash of everything before it. An entry whose hash does not
//! match — cut short on a full disk, damaged, or altered by anyone who could write the
//! store — is refused whole, never partly served.

/// The first bytes of every entry; a new layout gets a new header.
const HEADER: &[u8] = b"ccfarm-cache-entry 1\n";

pub use crate::framing::EntryError;
use crate::framing::{HASH_LEN, checked, put_checksum, put_optional};

/// What a compile returned, as a local compile would have produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// A raw wait status (`exit_code << 8`); only successes are stored.
    pub status: u32,
    /// The compiler's stdout.
    pub stdout: Vec<u8>,
    /// The compiler's stderr (warnings are replayed on a hit).
    pub stderr: Vec<u8>,
    /// The object (or assembler) file.
    pub object: Vec<u8>,
    /// The dependency file, when the compile made one.
    pub dotd: Option<Vec<u8>>,
}

impl Entry {
    /// The entry's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let size = self.stdout.len()
            + self.stderr.len()
            + self.object.len()
            + self.dotd.as_ref().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(HEADER.len() + 4 + 4 * 9 + size + HASH_LEN);
        out.extend_from_slice(HEADER);
        out.extend_from_slice(&self.status.to_le_bytes());
        for part in [
            Some(&self.stdout),
            Some(&self.stderr),
            Some(&self.object),
            self.dotd.as_ref(),
        ] {
            put_optional(&mut out, part.map(Vec::as_slice));
        }
        put_checksum(&mut out);
        out
    }

    /// The entry in `bytes`, if they are a whole, unaltered entry.
    pub fn decode(bytes: &[u8]) -> Result<Entry, EntryError> {
        let body = bytes.strip_prefix(HEADER).ok_or(EntryError::Format)?;
        if body.len() < 4 + 4 * 9 + HASH_LEN {
            return Err(EntryError::Truncated);
        }
        let mut fields = checked(bytes, HEADER)?;
        let status = u32::from_le_bytes(fields.array()?);
        let mut parts = Vec::with_capacity(4);
        for _ in 0..4 {
            parts.push(fields.optional()?.map(<[u8]>::to_vec));
        }
        if !fields.is_empty() {
            return Err(EntryError::Format);
        }
        let mut parts = parts.into_iter();
        let mut next = || parts.next().flatten();
        let (stdout, stderr, object) = (
            next().unwrap_or_default(),
            next().unwrap_or_default(),
            next().unwrap_or_default(),
        );
        Ok(Entry {
            status,
            stdout,
            stderr,
            object,
            dotd: next(),
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sample() -> Entry {
        Entry {
            status: 0,
            stdout: Vec::new(),
            stderr: b"a.c:1:5: warning: unused variable 'x'\n".to_vec(),
            object: vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0],
            dotd: Some(b"a.o: a.c a.h\n".to_vec()),
        }
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        let entry = sample();
        assert_eq!(Entry::decode(&entry.encode()).unwrap(), entry);
        let without = Entry {
            dotd: None,
            ..sample()
        };
        assert_eq!(Entry::decode(&without.encode()).unwrap(), without);
    }

    #[test]
    fn any_changed_or_missing_byte_is_refused() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut altered = bytes.clone();
            altered[i] ^= 0x01;
            assert!(
                Entry::decode(&altered).is_err(),
                "byte {i} altered and accepted"
            );
        }
        for cut in 0..bytes.len() {
            assert!(
                Entry::decode(&bytes[..cut]).is_err(),
                "cut at {cut} accepted"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Entry::decode(&longer).is_err());
    }

    proptest! {
        #[test]
        fn entries_round_trip(
            status in any::<u32>(),
            stdout in proptest::collection::vec(any::<u8>(), 0..64),
            stderr in proptest::collection::vec(any::<u8>(), 0..64),
            object in proptest::collection::vec(any::<u8>(), 0..256),
            dotd in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        ) {
            let entry = Entry { status, stdout, stderr, object, dotd };
            prop_assert_eq!(Entry::decode(&entry.encode()).unwrap(), entry);
        }

        #[test]
        fn no_bytes_make_the_decoder_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Entry::decode(&bytes);
        }
    }
}
