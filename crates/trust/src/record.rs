//! TLS 1.3 record protection for a connection whose handshake another process made.
//!
//! The user's agent completes handshakes ahead of need; handing the compile the socket
//! together with the session's traffic keys (rustls's secret extraction, the same step
//! that hands a session to kernel TLS) lets the compile speak to the member directly,
//! with no relay in between and no handshake on its path. rustls cannot resume a
//! session from extracted keys, so this module protects and checks the records itself
//! (RFC 8446, section 5): the AEAD, the per-record nonce, the inner content type. It
//! has no sockets: the caller moves the bytes.
//!
//! After the handoff the member may still send post-handshake messages. A resumption
//! ticket (NewSessionTicket) is skipped, `close_notify` ends the stream, and anything
//! else the keys cannot follow (a key update, another alert) is an error: the session
//! is then broken, never silently misread.

use std::ops::Range;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use rustls::ConnectionTrafficSecrets;

/// The record header: content type, legacy version, length.
pub const HEADER: usize = 5;

/// Most plaintext in one record.
pub const MAX_PLAINTEXT: usize = 1 << 14;

/// Longest protected record body a peer may send (RFC 8446, 5.2).
pub const MAX_BODY: usize = MAX_PLAINTEXT + 256;

/// Records per direction before the keys must change. Far below every suite's limit
/// (AES-GCM's is 2^24.5 records), and a compile's connection never comes near it.
const MAX_RECORDS: u64 = 1 << 24;

const APPLICATION_DATA: u8 = 23;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const NEW_SESSION_TICKET: u8 = 4;
const CLOSE_NOTIFY: u8 = 0;
const TAG: usize = 16;

/// Why a record could not be protected or accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not a TLS 1.3 protected record.
    #[error("not a TLS 1.3 record: {0}")]
    Malformed(String),
    /// The record is longer than TLS allows.
    #[error("a TLS record of {0} bytes, over the limit")]
    TooLong(usize),
    /// The record does not authenticate under the session's keys.
    #[error("a TLS record failed authentication")]
    Forged,
    /// The peer sent a post-handshake message other than a resumption ticket.
    #[error("the peer sent TLS handshake message {0} after the handshake")]
    PostHandshake(u8),
    /// The peer sent an alert other than `close_notify`.
    #[error("the peer sent TLS alert {0}")]
    Alert(u8),
    /// The keys have protected as many records as they may.
    #[error("the TLS session's keys are used up")]
    Exhausted,
    /// The traffic keys are not usable (an unknown suite, a wrong length).
    #[error("TLS traffic keys: {0}")]
    Keys(String),
}

/// The AEAD a session negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// TLS_AES_128_GCM_SHA256.
    Aes128Gcm,
    /// TLS_AES_256_GCM_SHA384.
    Aes256Gcm,
    /// TLS_CHACHA20_POLY1305_SHA256.
    Chacha20Poly1305,
}

impl Suite {
    fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Suite::Aes128Gcm => &aead::AES_128_GCM,
            Suite::Aes256Gcm => &aead::AES_256_GCM,
            Suite::Chacha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }

    /// The suite's name in [`TrafficKeys::encode`].
    pub fn name(self) -> &'static str {
        match self {
            Suite::Aes128Gcm => "aes128gcm",
            Suite::Aes256Gcm => "aes256gcm",
            Suite::Chacha20Poly1305 => "chacha20poly1305",
        }
    }

    fn from_name(name: &str) -> Option<Suite> {
        [Suite::Aes128Gcm, Suite::Aes256Gcm, Suite::Chacha20Poly1305]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

/// One direction's traffic keys and its next record number.
#[derive(Clone, PartialEq, Eq)]
pub struct TrafficKeys {
    suite: Suite,
    key: Vec<u8>,
    iv: [u8; aead::NONCE_LEN],
    seq: u64,
}

impl std::fmt::Debug for TrafficKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself, not even in a log.
        f.debug_struct("TrafficKeys")
            .field("suite", &self.suite)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl TrafficKeys {
    /// One direction of what rustls extracted: `(next record number, secrets)`.
    pub fn from_rustls(
        (seq, secrets): (u64, ConnectionTrafficSecrets),
    ) -> Result<Self, RecordError> {
        let (suite, key, iv) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (Suite::Aes128Gcm, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (Suite::Aes256Gcm, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (Suite::Chacha20Poly1305, key, iv)
            }
            _ => return Err(RecordError::Keys("a suite ccfarm does not offer".into())),
        };
        let iv = iv
            .as_ref()
            .try_into()
            .map_err(|_| RecordError::Keys("the IV is not 12 bytes".into()))?;
        TrafficKeys::new(suite, key.as_ref().to_vec(), iv, seq)
    }

    fn new(suite: Suite, key: Vec<u8>, iv: [u8; 12], seq: u64) -> Result<Self, RecordError> {
        if key.len() != suite.algorithm().key_len() {
            return Err(RecordError::Keys(format!(
                "a {}-byte key for {}",
                key.len(),
                suite.name()
            )));
        }
        Ok(TrafficKeys {
            suite,
            key,
            iv,
            seq,
        })
    }

    /// The suite negotiated.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// As one word of text: `suite:seq:key:iv`, the numbers decimal, the rest hex.
    pub fn encode(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.suite.name(),
            self.seq,
            hex(&self.key),
            hex(&self.iv)
        )
    }

    /// Parse [`TrafficKeys::encode`]'s word.
    pub fn decode(word: &str) -> Result<Self, RecordError> {
        let bad = || RecordError::Keys(format!("not traffic keys: {} characters", word.len()));
        let mut parts = word.split(':');
        let (Some(suite), Some(seq), Some(key), Some(iv), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let suite = Suite::from_name(suite).ok_or_else(bad)?;
        let seq = seq.parse().map_err(|_| bad())?;
        let key = unhex(key).ok_or_else(bad)?;
        let iv = unhex(iv)
            .and_then(|iv| iv.try_into().ok())
            .ok_or_else(bad)?;
        TrafficKeys::new(suite, key, iv, seq)
    }

    fn bind(&self) -> Result<(LessSafeKey, [u8; 12], u64), RecordError> {
        let key = UnboundKey::new(self.suite.algorithm(), &self.key)
            .map_err(|_| RecordError::Keys("rejected by the AEAD".into()))?;
        Ok((LessSafeKey::new(key), self.iv, self.seq))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The nonce of record `seq`: the IV with the record number in its last eight bytes.
fn nonce(iv: &[u8; 12], seq: u64) -> Nonce {
    let mut n = *iv;
    for (b, s) in n[4..].iter_mut().zip(seq.to_be_bytes()) {
        *b ^= s;
    }
    Nonce::assume_unique_for_key(n)
}

/// Protects what this end sends.
pub struct Outgoing {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
}

impl Outgoing {
    /// Protect with `keys` (the sending direction's).
    pub fn new(keys: &TrafficKeys) -> Result<Outgoing, RecordError> {
        let (key, iv, seq) = keys.bind()?;
        Ok(Outgoing { key, iv, seq })
    }

    /// Append `plaintext` to `out` as protected application-data records, each
    /// sealed in place where it lands.
    pub fn protect(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
        for content in plaintext.chunks(MAX_PLAINTEXT) {
            if self.seq >= MAX_RECORDS {
                return Err(RecordError::Exhausted);
            }
            let body = (content.len() + 1 + TAG) as u16;
            let [high, low] = body.to_be_bytes();
            let header = [APPLICATION_DATA, 3, 3, high, low];
            out.extend_from_slice(&header);
            let start = out.len();
            out.extend_from_slice(content);
            out.push(APPLICATION_DATA);
            let tag = self
                .key
                .seal_in_place_separate_tag(
                    nonce(&self.iv, self.seq),
                    Aad::from(header),
                    &mut out[start..],
                )
                .map_err(|_| RecordError::Exhausted)?;
            out.extend_from_slice(tag.as_ref());
            self.seq += 1;
        }
        Ok(())
    }
}

/// What one received record held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// Application data: this range of the record's buffer.
    Data(Range<usize>),
    /// A resumption ticket, nothing for the application.
    Skipped,
    /// The peer's `close_notify`: the end of the stream.
    Closed,
}

/// Checks and decrypts what the peer sends.
pub struct Incoming {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
}

/// The length of the body that follows `header`, once the header is checked.
pub fn body_len(header: &[u8; HEADER]) -> Result<usize, RecordError> {
    if header[..3] != [APPLICATION_DATA, 3, 3] {
        return Err(RecordError::Malformed(format!(
            "header {:02x} {:02x} {:02x}",
            header[0], header[1], header[2]
        )));
    }
    let len = u16::from_be_bytes([header[3], header[4]]) as usize;
    if len > MAX_BODY {
        return Err(RecordError::TooLong(len));
    }
    if len <= TAG {
        return Err(RecordError::Malformed(format!("a body of {len} bytes")));
    }
    Ok(len)
}

impl Incoming {
    /// Check with `keys` (the receiving direction's).
    pub fn new(keys: &TrafficKeys) -> Result<Incoming, RecordError> {
        let (key, iv, seq) = keys.bind()?;
        Ok(Incoming { key, iv, seq })
    }

    /// Check and decrypt one whole record (header and body) in place.
    pub fn open(&mut self, record: &mut [u8]) -> Result<Opened, RecordError> {
        let header: [u8; HEADER] = record
            .get(..HEADER)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| RecordError::Malformed("shorter than its header".into()))?;
        let len = body_len(&header)?;
        if record.len() != HEADER + len {
            return Err(RecordError::Malformed(format!(
                "{} bytes for a body of {len}",
                record.len() - HEADER
            )));
        }
        if self.seq >= MAX_RECORDS {
            return Err(RecordError::Exhausted);
        }
        let plain = self
            .key
            .open_in_place(
                nonce(&self.iv, self.seq),
                Aad::from(header),
                &mut record[HEADER..],
            )
            .map_err(|_| RecordError::Forged)?;
        self.seq += 1;
        // The inner content type is the last non-zero byte; zeros after it are padding.
        let Some(end) = plain.iter().rposition(|&b| b != 0) else {
            return Err(RecordError::Malformed("no content type".into()));
        };
        let content = &plain[..end];
        match plain[end] {
            APPLICATION_DATA => Ok(Opened::Data(HEADER..HEADER + end)),
            HANDSHAKE => {
                only_tickets(content)?;
                Ok(Opened::Skipped)
            }
            ALERT => match content {
                [_, CLOSE_NOTIFY] => Ok(Opened::Closed),
                [_, other] => Err(RecordError::Alert(*other)),
                _ => Err(RecordError::Malformed(
                    "an alert of the wrong length".into(),
                )),
            },
            other => Err(RecordError::Malformed(format!("content type {other}"))),
        }
    }
}

/// Accept handshake messages only if each is a whole resumption ticket.
fn only_tickets(mut messages: &[u8]) -> Result<(), RecordError> {
    while !messages.is_empty() {
        let [kind, a, b, c, rest @ ..] = messages else {
            return Err(RecordError::Malformed("a cut handshake message".into()));
        };
        if *kind != NEW_SESSION_TICKET {
            return Err(RecordError::PostHandshake(*kind));
        }
        let len = u32::from_be_bytes([0, *a, *b, *c]) as usize;
        if rest.len() < len {
            return Err(RecordError::Malformed("a cut handshake message".into()));
        }
        messages = &rest[len..];
    }
    Ok(())
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
