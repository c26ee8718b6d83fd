//! Grant tickets: the scheduler's proof, carried by the client to the server, that it
//! granted this job to this server for this user.
//!
//! When a server registers, the scheduler gives it a fresh secret key over the
//! authenticated control connection; every grant to that server carries a ticket, an
//! HMAC under that key of the server's name, the user's name, the lease and an expiry.
//! The server recomputes it with its own name and the user its TLS handshake proved,
//! so a ticket is useless to another user, on another server, or after it expires, and
//! a key dies with the registration it was made for. Expiry is in the scheduler's
//! clock; the server learns the offset to its own when it registers, so farm machines'
//! clocks need not agree.

use std::fmt;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// How long a ticket stays valid after its grant: the client connects to the server
/// right after the grant, so this only has to cover a slow connection.
pub const TICKET_LIFETIME_MS: u64 = 120_000;

const KEY_LEN: usize = 32;

/// A server's ticket key.
#[derive(Clone, PartialEq, Eq)]
pub struct TicketKey([u8; KEY_LEN]);

impl fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TicketKey(..)")
    }
}

/// Why a ticket was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Not in the ticket format.
    #[error("the grant ticket is malformed")]
    Malformed,
    /// Its MAC does not match: another server's, another user's, or forged.
    #[error("the grant ticket was not issued for this server and user")]
    Forged,
    /// Past its expiry.
    #[error("the grant ticket expired {0} ms ago")]
    Expired(u64),
    /// The system's random source failed.
    #[error("no randomness available for a ticket key")]
    Random,
}

impl TicketKey {
    /// A new random key.
    pub fn generate() -> Result<TicketKey, TicketError> {
        let mut key = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| TicketError::Random)?;
        Ok(TicketKey(key))
    }

    /// The key as hexadecimal, to send to the server.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// A key from its hexadecimal form.
    pub fn from_hex(s: &str) -> Result<TicketKey, TicketError> {
        let bytes = unhex(s).ok_or(TicketError::Malformed)?;
        Ok(TicketKey(
            bytes.try_into().map_err(|_| TicketError::Malformed)?,
        ))
    }

    fn mac_key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.0)
    }
}

/// What a ticket vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant<'a> {
    /// The server's name.
    pub server: &'a str,
    /// The user's name.
    pub user: &'a str,
    /// The lease.
    pub lease: u64,
    /// Until when, in the scheduler's clock (milliseconds since the Unix epoch).
    pub expires_ms: u64,
}

impl Grant<'_> {
    fn message(&self) -> Vec<u8> {
        // Names never contain NUL (identity::check_name), so the fields cannot run
        // into one another.
        let mut m = Vec::with_capacity(48 + self.server.len() + self.user.len());
        m.extend_from_slice(b"ccfarm-grant-v1\0");
        m.extend_from_slice(self.server.as_bytes());
        m.push(0);
        m.extend_from_slice(self.user.as_bytes());
        m.push(0);
        m.extend_from_slice(&self.lease.to_be_bytes());
        m.extend_from_slice(&self.expires_ms.to_be_bytes());
        m
    }
}

/// The ticket for `grant`: `LEASE.EXPIRES.MAC`.
pub fn sign(key: &TicketKey, grant: &Grant<'_>) -> String {
    let tag = hmac::sign(&key.mac_key(), &grant.message());
    format!("{}.{}.{}", grant.lease, grant.expires_ms, hex(tag.as_ref()))
}

/// Check `ticket` for a job on `server` by `user`, at `now_ms` in the scheduler's
/// clock; returns the lease it was granted under.
pub fn verify(
    key: &TicketKey,
    ticket: &str,
    server: &str,
    user: &str,
    now_ms: u64,
) -> Result<u64, TicketError> {
    let mut parts = ticket.splitn(3, '.');
    let (Some(lease), Some(expires), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TicketError::Malformed);
    };
    let lease: u64 = lease.parse().map_err(|_| TicketError::Malformed)?;
    let expires_ms: u64 = expires.parse().map_err(|_| TicketError::Malformed)?;
    let mac = unhex(mac).ok_or(TicketError::Malformed)?;
    let grant = Grant {
        server,
        user,
        lease,
        expires_ms,
    };
    hmac::verify(&key.mac_key(), &grant.message(), &mac).map_err(|_| TicketError::Forged)?;
    if now_ms > expires_ms {
        return Err(TicketError::Expired(now_ms - expires_ms));
    }
    Ok(lease)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant<'static> {
        Grant {
            server: "build7",
            user: "alice",
            lease: 42,
            expires_ms: 1_000_000,
        }
    }

    #[test]
    fn a_ticket_is_good_for_its_server_user_and_time_only() {
        let key = TicketKey::generate().unwrap();
        let ticket = sign(&key, &grant());
        assert_eq!(verify(&key, &ticket, "build7", "alice", 999_999), Ok(42));
        assert_eq!(verify(&key, &ticket, "build7", "alice", 1_000_000), Ok(42));
        assert_eq!(
            verify(&key, &ticket, "build8", "alice", 0),
            Err(TicketError::Forged)
        );
        assert_eq!(
            verify(&key, &ticket, "build7", "mallory", 0),
            Err(TicketError::Forged)
        );
        assert_eq!(
            verify(&key, &ticket, "build7", "alice", 1_000_005),
            Err(TicketError::Expired(5))
        );
        let other = TicketKey::generate().unwrap();
        assert_eq!(
            verify(&other, &ticket, "build7", "alice", 0),
            Err(TicketError::Forged)
        );
    }

    #[test]
    fn a_changed_lease_or_expiry_breaks_the_mac() {
        let key = TicketKey::generate().unwrap();
        let ticket = sign(&key, &grant());
        let mac = ticket.rsplit('.').next().unwrap();
        for forged in [format!("43.1000000.{mac}"), format!("42.9000000.{mac}")] {
            assert_eq!(
                verify(&key, &forged, "build7", "alice", 0),
                Err(TicketError::Forged)
            );
        }
    }

    #[test]
    fn malformed_tickets_are_refused() {
        let key = TicketKey::generate().unwrap();
        for bad in [
            "",
            "42",
            "42.1",
            "x.1.00",
            "42.1.zz",
            "42.1.0",
            "42.1.00.00",
        ] {
            assert!(
                matches!(
                    verify(&key, bad, "s", "u", 0),
                    Err(TicketError::Malformed | TicketError::Forged)
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keys_round_trip_through_hex() {
        let key = TicketKey::generate().unwrap();
        assert_eq!(TicketKey::from_hex(&key.to_hex()).unwrap(), key);
        assert!(TicketKey::from_hex("abcd").is_err());
    }
}
