//! The byte layout cache files share: a header line, fields, and a BLAKE3 checksum of
//! everything before it, so that a file cut short, damaged or altered is refused whole;
//! and the length-prefixed hashing keys are made with.

/// Why bytes are not a cache file (an entry or a manifest) of this version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Another format, or not an entry at all.
    #[error("not a ccfarm cache entry of this version")]
    Format,
    /// Shorter than its lengths say.
    #[error("the entry is cut short")]
    Truncated,
    /// The checksum does not match the contents.
    #[error("the entry's checksum does not match its contents")]
    Checksum,
}

/// Bytes of the checksum at the end of a file.
pub(crate) const HASH_LEN: usize = 32;

/// Append an optional part: a presence byte, an 8-byte length and the bytes.
pub(crate) fn put_optional(out: &mut Vec<u8>, part: Option<&[u8]>) {
    out.push(u8::from(part.is_some()));
    let part = part.unwrap_or_default();
    out.extend_from_slice(&(part.len() as u64).to_le_bytes());
    out.extend_from_slice(part);
}

/// Append the checksum of everything in `out`.
pub(crate) fn put_checksum(out: &mut Vec<u8>) {
    let hash = blake3::hash(out);
    out.extend_from_slice(hash.as_bytes());
}

/// The fields of `bytes`, a file starting with `header` and ending with its checksum,
/// once the checksum holds.
pub(crate) fn checked<'a>(bytes: &'a [u8], header: &[u8]) -> Result<Reader<'a>, EntryError> {
    let body = bytes.strip_prefix(header).ok_or(EntryError::Format)?;
    if body.len() < HASH_LEN {
        return Err(EntryError::Truncated);
    }
    let (contents, hash) = bytes.split_at(bytes.len() - HASH_LEN);
    if blake3::hash(contents).as_bytes() != hash {
        return Err(EntryError::Checksum);
    }
    Ok(Reader {
        rest: &contents[header.len()..],
    })
}

/// Fields read one after another.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], EntryError> {
        if self.rest.len() < n {
            return Err(EntryError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// The next `N` bytes, as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], EntryError> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    /// A part written by [`put_optional`].
    pub(crate) fn optional(&mut self) -> Result<Option<&'a [u8]>, EntryError> {
        let present = self.take(1)?[0] == 1;
        let len = u64::from_le_bytes(self.array()?);
        let len = usize::try_from(len).map_err(|_| EntryError::Truncated)?;
        let part = self.take(len)?;
        Ok(present.then_some(part))
    }

    /// Whether every field has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// A BLAKE3 hash of fields, each length-prefixed, so that no two different sequences
/// of fields hash the same bytes.
pub(crate) struct Fields(blake3::Hasher);

impl Fields {
    pub(crate) fn new() -> Fields {
        Fields(blake3::Hasher::new())
    }

    /// Add one field.
    pub(crate) fn field(&mut self, bytes: &[u8]) {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// The hash the fields make, which keys are made of.
    pub(crate) fn finish(&self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}
