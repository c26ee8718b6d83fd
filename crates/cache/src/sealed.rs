//! An entry as a shared store keeps it: the entry, and on a secure farm the seal of
//! the server that wrote it.
//!
//! Layout: a header line, the writer's certificate and its signature (each a 4-byte
//! length and the bytes, both empty when unsealed), then the entry. The signature is
//! over [`message`], which names the key as well as the entry's hash, so a sealed
//! entry cannot be moved under another key and served for another compile. Checking
//! the seal is the trust crate's; this is only the layout, with every length capped.

use crate::key::Key;

/// The first bytes of every shared entry.
const HEADER: &[u8] = b"ccfarm-shared-entry 1\n";

/// The longest certificate a seal may carry (the farm's are a few hundred bytes).
const MAX_CERT: usize = 16 * 1024;
/// The longest signature (Ed25519's are 64 bytes).
const MAX_SIGNATURE: usize = 1024;

/// A writer's proof: its certificate (DER) and its signature of [`message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// The writer's certificate.
    pub cert: Vec<u8>,
    /// Its signature.
    pub signature: Vec<u8>,
}

/// Why bytes are not a shared entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealedError {
    /// Another format, or not a shared entry at all.
    #[error("not a ccfarm shared cache entry of this version")]
    Format,
    /// Shorter than its lengths say, or a length over its cap.
    #[error("the shared entry is cut short or malformed")]
    Malformed,
}

/// What a writer signs for the entry `entry` (its bytes) under `key`.
pub fn message(key: &Key, entry: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER.len() + 64);
    out.extend_from_slice(HEADER);
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(blake3::hash(entry).as_bytes());
    out
}

/// The stored bytes of `entry` with its `seal`, if any.
pub fn encode(entry: &[u8], seal: Option<&Seal>) -> Vec<u8> {
    let (cert, signature) = seal.map_or((&[][..], &[][..]), |s| (&s.cert[..], &s.signature[..]));
    let mut out = Vec::with_capacity(HEADER.len() + 8 + cert.len() + signature.len() + entry.len());
    out.extend_from_slice(HEADER);
    for part in [cert, signature] {
        out.extend_from_slice(&(part.len() as u32).to_le_bytes());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(entry);
    out
}

/// The entry's bytes and its seal, if sealed.
pub fn decode(bytes: &[u8]) -> Result<(&[u8], Option<Seal>), SealedError> {
    let mut rest = bytes.strip_prefix(HEADER).ok_or(SealedError::Format)?;
    let mut part = |cap: usize| -> Result<&[u8], SealedError> {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or(SealedError::Malformed)?;
        let len = u32::from_le_bytes(*len) as usize;
        if len > cap || len > tail.len() {
            return Err(SealedError::Malformed);
        }
        let (part, tail) = tail.split_at(len);
        rest = tail;
        Ok(part)
    };
    let cert = part(MAX_CERT)?;
    let signature = part(MAX_SIGNATURE)?;
    let seal = match (cert.is_empty(), signature.is_empty()) {
        (true, true) => None,
        (false, false) => Some(Seal {
            cert: cert.to_vec(),
            signature: signature.to_vec(),
        }),
        _ => return Err(SealedError::Malformed),
    };
    Ok((rest, seal))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn round_trips(
            entry in proptest::collection::vec(any::<u8>(), 0..300),
            sealed in any::<bool>(),
            cert in proptest::collection::vec(any::<u8>(), 1..100),
            signature in proptest::collection::vec(any::<u8>(), 1..100),
        ) {
            let seal = sealed.then_some(Seal { cert, signature });
            let bytes = encode(&entry, seal.as_ref());
            let (back, back_seal) = decode(&bytes).unwrap();
            prop_assert_eq!(back, &entry[..]);
            prop_assert_eq!(back_seal, seal);
        }

        #[test]
        fn cut_short_never_panics(entry in proptest::collection::vec(any::<u8>(), 0..50), cut in 0usize..200) {
            let seal = Seal { cert: vec![1; 40], signature: vec![2; 64] };
            let bytes = encode(&entry, Some(&seal));
            let cut = cut.min(bytes.len());
            let _ = decode(&bytes[..cut]);
        }
    }

    #[test]
    fn the_message_names_the_key() {
        let a = Key::from_bytes([1; 32]);
        let b = Key::from_bytes([2; 32]);
        assert_ne!(message(&a, b"x"), message(&b, b"x"));
        assert_ne!(message(&a, b"x"), message(&a, b"y"));
    }

    #[test]
    fn a_length_over_its_cap_is_refused() {
        let mut bytes = HEADER.to_vec();
        bytes.extend_from_slice(&(MAX_CERT as u32 + 1).to_le_bytes());
        bytes.extend(std::iter::repeat_n(0, MAX_CERT + 1));
        assert_eq!(decode(&bytes), Err(SealedError::Malformed));
    }
}
