//! Time-driven work: the tick and the next deadline.

use crate::action::Action;
use crate::host::HostKind;
use crate::time::Micros;

use super::Scheduler;

impl Scheduler {
    /// Does whatever is due at `now`: hosts silent for the heartbeat timeout go down (their
    /// leases are revoked), unanswered probes fail, due probes are asked for, requests that
    /// waited [`crate::Config::max_wait`] are sent home, and requests whose wait for a faster
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
        for h in self.hosts.values() {
            if h.kind == HostKind::Registered && h.health.watching_heartbeats() {
                consider(h.last_heartbeat + self.cfg.heartbeat_timeout);
            }
            match (h.probe_sent, h.next_probe_at) {
                (Some(sent), _) => consider(sent + self.cfg.probe_timeout),
                (None, Some(at)) => consider(at),
                (None, None) => {}
            }
        }
        if let Some(t) = self.queue.earliest_enqueued() {
            consider(t + self.cfg.max_wait);
        }
        if let Some(t) = self.queue.next_wait_after(self.now) {
            consider(t);
        }
        next
    }
}
