//! Which connections the agent keeps ready: a pure record of the members the user's
//! compiles reach, with no sockets and no clock (the agent passes the time in).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How long a ready connection is kept before it is replaced. The members cut a
/// connection that has said nothing for ten seconds (the scheduler's hello deadline);
/// a connection is handed out well before that.
pub const READY_FOR: Duration = Duration::from_secs(4);

/// How long after its last request a member keeps a connection ready.
pub const WANTED_FOR: Duration = Duration::from_secs(60);

/// At most this many members keep a connection ready: those most recently asked for.
/// Every ready connection costs its member a handshake every [`READY_FOR`]; a build
/// spread over a hundred servers must not make each user's agent hold a hundred.
pub const MOST_READY: usize = 8;

/// A member the user's compiles reach, and the connection kept ready for it.
#[derive(Debug)]
struct Member<C> {
    ready: Option<(C, Instant)>,
    making: bool,
    wanted_until: Instant,
    connect: Duration,
}

/// The members, by key (address and expected identity), with their ready connections.
#[derive(Debug)]
pub struct Pool<K, C> {
    members: HashMap<K, Member<C>>,
}

impl<K: Eq + Hash + Clone, C> Default for Pool<K, C> {
    fn default() -> Self {
        Pool {
            members: HashMap::new(),
        }
    }
}

/// What to do after [`Pool::take`].
#[derive(Debug)]
pub struct Taken<C> {
    /// A connection made less than [`READY_FOR`] ago, to check for a close before use.
    pub ready: Option<C>,
    /// Start making the next ready connection (bounded by this connect timeout);
    /// [`Pool::made`] must follow.
    pub refill: Option<Duration>,
}

impl<K: Eq + Hash + Clone, C> Pool<K, C> {
    /// A compile wants a connection to `key`: the ready one if fresh, and whether to
    /// make the next. The member is wanted for [`WANTED_FOR`] from `now`.
    pub fn take(&mut self, key: &K, connect: Duration, now: Instant) -> Taken<C> {
        let member = self.members.entry(key.clone()).or_insert(Member {
            ready: None,
            making: false,
            wanted_until: now,
            connect,
        });
        member.wanted_until = now + WANTED_FOR;
        member.connect = connect;
        let ready = member
            .ready
            .take()
            .filter(|(_, made)| now.saturating_duration_since(*made) < READY_FOR)
            .map(|(c, _)| c);
        let refill = (!member.making).then(|| {
            member.making = true;
            connect
        });
        Taken { ready, refill }
    }

    /// A connection for `key` was made (`Some`) or failed (`None`) at `now`. A failure
    /// is not retried until the next request or [`Pool::tend`]: a member that is down
    /// is not hammered.
    pub fn made(&mut self, key: &K, made: Option<C>, now: Instant) {
        if let Some(member) = self.members.get_mut(key) {
            member.making = false;
            if let Some(c) = made {
                member.ready = Some((c, now));
            }
        }
    }

    /// Once a second: drop stale ready connections, forget members no longer wanted,
    /// and name those whose next ready connection should be made now (each with its
    /// connect timeout); [`Pool::made`] must follow each.
    pub fn tend(&mut self, now: Instant) -> Vec<(K, Duration)> {
        self.members.retain(|_, m| m.making || m.wanted_until > now);
        // The members asked for last come first; only the first MOST_READY keep a
        // connection ready.
        let mut by_recency: Vec<&K> = self.members.keys().collect();
        by_recency.sort_by_key(|k| std::cmp::Reverse(self.members[*k].wanted_until));
        let kept: Vec<K> = by_recency.into_iter().take(MOST_READY).cloned().collect();
        let mut refill = Vec::new();
        for (key, member) in &mut self.members {
            let stale = member
                .ready
                .as_ref()
                .is_some_and(|(_, made)| now.saturating_duration_since(*made) >= READY_FOR);
            if stale || !kept.contains(key) {
                member.ready = None;
            }
            if member.ready.is_none() && !member.making && kept.contains(key) {
                member.making = true;
                refill.push((key.clone(), member.connect));
            }
        }
        refill
    }

    /// Drop every ready connection (the credentials changed).
    pub fn drop_ready(&mut self) {
        for member in self.members.values_mut() {
            member.ready = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNECT: Duration = Duration::from_secs(4);

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_first_request_finds_nothing_ready_and_starts_one_refill() {
        let mut pool: Pool<&str, u32> = Pool::default();
        let t0 = Instant::now();
        let taken = pool.take(&"sched", CONNECT, t0);
        assert!(taken.ready.is_none());
        assert_eq!(taken.refill, Some(CONNECT));
        // While it is being made, neither a request nor the tending starts another.
        assert_eq!(pool.take(&"sched", CONNECT, at(t0, 10)).refill, None);
        assert!(pool.tend(at(t0, 20)).is_empty());
        pool.made(&"sched", Some(1), at(t0, 30));
        let taken = pool.take(&"sched", CONNECT, at(t0, 40));
        assert_eq!(taken.ready, Some(1));
        assert_eq!(taken.refill, Some(CONNECT));
    }

    #[test]
    fn a_connection_is_handed_out_only_while_fresh_and_replaced_when_stale() {
        let mut pool: Pool<&str, u32> = Pool::default();
        let t0 = Instant::now();
        pool.take(&"build7", CONNECT, t0);
        pool.made(&"build7", Some(7), t0);
        // Stale at READY_FOR: tending drops it and makes another.
        let ms = READY_FOR.as_millis() as u64;
        assert!(pool.tend(at(t0, ms - 1)).is_empty());
        assert_eq!(pool.tend(at(t0, ms)), vec![("build7", CONNECT)]);
        pool.made(&"build7", Some(8), at(t0, ms + 5));
        assert_eq!(
            pool.take(&"build7", CONNECT, at(t0, ms + 10)).ready,
            Some(8)
        );
        // A ready connection found stale by a request is not handed out.
        pool.made(&"build7", Some(9), at(t0, ms + 20));
        let late = pool.take(&"build7", CONNECT, at(t0, 2 * ms + 20));
        assert_eq!(late.ready, None);
    }

    #[test]
    fn a_member_not_asked_for_is_forgotten_and_a_failure_is_not_retried_at_once() {
        let mut pool: Pool<&str, u32> = Pool::default();
        let t0 = Instant::now();
        pool.take(&"gone", CONNECT, t0);
        pool.made(&"gone", None, at(t0, 5));
        // Failed: made again only by the next tending, not in a loop.
        assert_eq!(pool.tend(at(t0, 1000)), vec![("gone", CONNECT)]);
        pool.made(&"gone", None, at(t0, 1005));
        let wanted = WANTED_FOR.as_millis() as u64;
        assert_eq!(pool.tend(at(t0, wanted - 1)).len(), 1);
        pool.made(&"gone", None, at(t0, wanted));
        assert!(pool.tend(at(t0, wanted + 1)).is_empty());
        // Forgotten: a late result is dropped, and a new request starts afresh.
        pool.made(&"gone", Some(3), at(t0, wanted + 2));
        let taken = pool.take(&"gone", CONNECT, at(t0, wanted + 3));
        assert!(taken.ready.is_none() && taken.refill.is_some());
    }

    #[test]
    fn only_the_members_asked_for_last_keep_a_connection_ready() {
        let mut pool: Pool<usize, u32> = Pool::default();
        let t0 = Instant::now();
        let n = MOST_READY + 3;
        for server in 0..n {
            let at = at(t0, server as u64);
            pool.take(&server, CONNECT, at);
            pool.made(&server, Some(server as u32), at);
        }
        // Still fresh, but the three members asked for first lose theirs.
        let later = at(t0, 100);
        assert!(pool.tend(later).is_empty());
        let ready: Vec<usize> = (0..n)
            .filter(|server| pool.take(server, CONNECT, later).ready.is_some())
            .collect();
        assert_eq!(ready, (3..n).collect::<Vec<_>>());
        // All were just asked for again: all are wanted, MOST_READY are refilled.
        for server in 0..n {
            pool.made(&server, None, later);
        }
        assert_eq!(pool.tend(at(t0, 200)).len(), MOST_READY);
    }

    #[test]
    fn renewed_credentials_drop_every_ready_connection() {
        let mut pool: Pool<&str, u32> = Pool::default();
        let t0 = Instant::now();
        for key in ["a", "b"] {
            pool.take(&key, CONNECT, t0);
            pool.made(&key, Some(1), t0);
        }
        pool.drop_ready();
        assert!(pool.take(&"a", CONNECT, t0).ready.is_none());
        assert!(pool.take(&"b", CONNECT, t0).ready.is_none());
    }
}
