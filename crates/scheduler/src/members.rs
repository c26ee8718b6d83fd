//! The registered servers' connections: which connection serves which host, when each
//! was last heard from, and the ticket key of each server that proved its name.
//!
//! A name belongs to one live connection. A second registration under it is refused
//! while the first is heard from, so neither a rogue nor a copy started twice can take a
//! server's work or take it down; a connection silent for twice the heartbeat timeout is
//! taken for dead (a crashed machine leaves it half-open until TCP keepalive notices), so
//! the server restarting under its name takes over.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccfarm_placement::{HostId, LeaseId};
use ccfarm_proto::farm::GrantProof;
use ccfarm_trust::ticket::{self, TICKET_LIFETIME_MS, TicketKey};
use tokio::time::Instant;

/// The bookkeeping.
#[derive(Default)]
pub(crate) struct Members {
    conn_host: HashMap<u64, HostId>,
    host_conn: HashMap<HostId, u64>,
    ticket_keys: HashMap<HostId, (String, TicketKey)>,
    last_heard: HashMap<u64, Instant>,
}

impl Members {
    /// Whether `conn` must be refused the name of `host`: another connection serves it
    /// and was heard from within `silent_for`.
    pub(crate) fn taken(&self, host: HostId, conn: u64, silent_for: Duration) -> bool {
        self.host_conn.get(&host).is_some_and(|&live| {
            live != conn
                && self
                    .last_heard
                    .get(&live)
                    .is_some_and(|heard| heard.elapsed() < silent_for)
        })
    }

    /// `conn` now serves `host` (registered as `name`); a connection it replaces is
    /// forgotten (its closing will not take the host down) and returned.
    pub(crate) fn register(
        &mut self,
        host: HostId,
        conn: u64,
        name: String,
        tickets: Option<TicketKey>,
    ) -> Option<u64> {
        let replaced = self.host_conn.insert(host, conn).filter(|&old| old != conn);
        if let Some(old) = replaced {
            self.conn_host.remove(&old);
        }
        self.conn_host.insert(conn, host);
        self.last_heard.insert(conn, Instant::now());
        match tickets {
            Some(key) => self.ticket_keys.insert(host, (name, key)),
            None => self.ticket_keys.remove(&host),
        };
        replaced
    }

    /// The host `conn` serves, noting that it was heard from.
    pub(crate) fn heard(&mut self, conn: u64) -> Option<HostId> {
        let host = *self.conn_host.get(&conn)?;
        self.last_heard.insert(conn, Instant::now());
        Some(host)
    }

    /// `conn` closed: the host it served, if it still served one.
    pub(crate) fn closed(&mut self, conn: u64) -> Option<HostId> {
        self.last_heard.remove(&conn);
        let host = self.conn_host.remove(&conn)?;
        // A server that reconnected already has a newer connection: the old one closing
        // must not take it down.
        if self.host_conn.get(&host) != Some(&conn) {
            return None;
        }
        self.host_conn.remove(&host);
        self.ticket_keys.remove(&host);
        Some(host)
    }

    /// Host `host` was removed: a server still connected is ignored until it registers
    /// again.
    pub(crate) fn forget(&mut self, host: HostId) {
        self.ticket_keys.remove(&host);
        if let Some(conn) = self.host_conn.remove(&host) {
            self.conn_host.remove(&conn);
        }
    }

    /// The ticket for running `lease` of `user` on `host`, if that host takes them.
    pub(crate) fn proof(&self, host: HostId, user: &str, lease: LeaseId) -> Option<GrantProof> {
        let (server, key) = self.ticket_keys.get(&host)?;
        let expires_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            + TICKET_LIFETIME_MS;
        let ticket = ticket::sign(
            key,
            &ticket::Grant {
                server,
                user,
                lease: lease.0,
                expires_ms,
            },
        );
        Some(GrantProof {
            server: server.clone(),
            ticket,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH: Duration = Duration::from_secs(3600);
    const STALE: Duration = Duration::ZERO;

    #[test]
    fn a_name_belongs_to_its_live_connection() {
        let mut m = Members::default();
        let host = HostId(0);
        assert!(!m.taken(host, 1, FRESH), "nobody serves it yet");
        assert_eq!(m.register(host, 1, "build7".into(), None), None);
        assert!(
            !m.taken(host, 1, FRESH),
            "its own connection may register again"
        );
        assert!(m.taken(host, 2, FRESH), "another connection may not");
        // Silent too long: taken over, and the old connection's close changes nothing.
        assert!(!m.taken(host, 2, STALE));
        assert_eq!(m.register(host, 2, "build7".into(), None), Some(1));
        assert_eq!(m.closed(1), None);
        assert_eq!(m.heard(2), Some(host));
        assert_eq!(m.closed(2), Some(host));
        assert!(!m.taken(host, 3, FRESH));
    }

    #[test]
    fn tickets_only_for_servers_that_have_a_key() {
        let mut m = Members::default();
        let (plain, secure) = (HostId(0), HostId(1));
        m.register(plain, 1, "old".into(), None);
        let key = TicketKey::generate().unwrap();
        m.register(secure, 2, "build7".into(), Some(key.clone()));
        assert_eq!(m.proof(plain, "alice", LeaseId(5)), None);
        let proof = m.proof(secure, "alice", LeaseId(5)).unwrap();
        assert_eq!(proof.server, "build7");
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert_eq!(
            ticket::verify(&key, &proof.ticket, "build7", "alice", now_ms),
            Ok(5)
        );
        // Forgotten or disconnected: no more tickets.
        m.forget(secure);
        assert_eq!(m.proof(secure, "alice", LeaseId(6)), None);
    }
}
