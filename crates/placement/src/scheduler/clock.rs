//! Time-driven work: the tick and the next deadline.

use crate::action::Action;
use crate::config::Config;
use crate::host::{Host, HostKind};
use crate::time::Micros;

use super::Scheduler;

impl Scheduler {
    /// Does whatever is due at `now`: hosts silent for the heartbeat timeout go down (their
    /// leases are revoked), unanswered probes fail, due probes are asked for, requests that
    /// waited [`crate::Config::max_wait`] are sent home, requests held through the start-up
    /// grace are sent home once it is over, and requests whose wait for a faster
    /// host has expired take free slots. Calling it early or often is harmless.
    pub fn tick(&mut self, now: Micros) -> Vec<Action> {
        let now = self.advance(now);
        self.check_heartbeats(now);
        self.check_probe_timeouts(now);
        self.ask_probes(now);
        self.expire_waiting(now);
        self.finish()
    }

    /// When [`Scheduler::tick`] must be called next, if ever (absent other operations). Right
    /// after `tick(now)` this is later than `now`, so a shell that sleeps until it never
    /// spins.
    pub fn next_deadline(&self) -> Option<Micros> {
        let mut next: Option<Micros> = None;
        let mut consider = |t: Micros| next = Some(next.map_or(t, |n| n.min(t)));
        if self.dirty.is_empty() {
            // Every host's deadline is in the set (hosts are re-keyed as operations end).
            if let Some(&(t, _)) = self.deadlines.first() {
                consider(t);
            }
        } else {
            self.hosts
                .values()
                .filter_map(|h| host_deadline(h, &self.cfg))
                .for_each(&mut consider);
        }
        if let Some(t) = self.queue.earliest_enqueued() {
            consider(t + self.cfg.max_wait);
        }
        if let Some(t) = self.queue.next_wait_after(self.now) {
            consider(t);
        }
        if !self.held.is_empty()
            && let Some(t) = self.grace_end()
        {
            consider(t);
        }
        if let Some(t) = self.hung_next.filter(|_| !self.leases.is_empty()) {
            consider(t);
        }
        next
    }
}

/// When `host` next needs the clock: its heartbeat timeout (registered hosts not down), its
/// probe's timeout (one is out) or its next probe (one is due).
pub(super) fn host_deadline(h: &Host, cfg: &Config) -> Option<Micros> {
    let heartbeat = (h.kind == HostKind::Registered && h.health.watching_heartbeats())
        .then(|| h.last_heartbeat + cfg.heartbeat_timeout);
    let probe = match (h.probe_sent, h.next_probe_at) {
        (Some(sent), _) => Some(sent + cfg.probe_timeout),
        (None, at) => at,
    };
    match (heartbeat, probe) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
