//! A host's health: up, on probation, down or draining.
//!
//! Two layers. The *automatic* state follows evidence: transport failures (never compile
//! errors), missed heartbeats, probes. The *admin* state is what an operator said (drain,
//! down, up) and wins over the evidence until the operator says "up" again. The effective
//! [`Health`] combines them; only `Up` and `Probation` hosts get new leases, and a host that
//! becomes `Down` loses its leases (the scheduler revokes them), so no lease ever lives on a
//! down host.
//!
//! Recovery goes through probation: a host that comes back (heartbeat after silence, probe
//! success after failures, re-registration) first gets a few leases at a time, and only after
//! [`crate::Config::probation_successes`] good results is it trusted with all its slots. A
//! host that fails while on probation goes straight back down with a doubled backoff, so a
//! flapping host costs the farm less and less.

use std::time::Duration;

use serde::Serialize;

use crate::config::Config;

/// Effective health, as shown on the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Health {
    /// Gets leases up to its slots.
    Up,
    /// Recovering: gets at most [`crate::Config::probation_slots`] leases at a time.
    Probation,
    /// Gets nothing and holds nothing.
    Down,
    /// Admin-drained: running leases finish, nothing new is granted.
    Draining,
}

/// Why a host is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DownReason {
    /// A registered host stopped sending heartbeats; a heartbeat brings it back.
    MissedHeartbeats,
    /// Consecutive transport failures (or failed probes); a successful probe brings it back.
    Failures,
    /// The host said goodbye; re-registering brings it back.
    Left,
    /// An operator took it down; only an operator brings it back.
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auto {
    Up,
    Probation { successes: u32 },
    Down(DownReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admin {
    Normal,
    Drain,
    Down,
}

/// What a failure did to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Counted; the host keeps its state.
    Counted,
    /// The host just went down; probe it again after the backoff.
    WentDown(Duration),
    /// The host was down for failures already (a failed probe); probe again after the
    /// (doubled) backoff.
    StillDown(Duration),
}

/// The health state machine of one host.
#[derive(Debug, Clone)]
pub(crate) struct HealthState {
    auto: Auto,
    admin: Admin,
    consecutive_failures: u32,
    backoff: Option<Duration>,
}

impl HealthState {
    /// A host that proved itself alive (registered): up.
    pub(crate) fn up() -> HealthState {
        HealthState {
            auto: Auto::Up,
            admin: Admin::Normal,
            consecutive_failures: 0,
            backoff: None,
        }
    }

    /// A host nobody has heard from yet (statically configured): on probation until probed.
    pub(crate) fn probation() -> HealthState {
        HealthState {
            auto: Auto::Probation { successes: 0 },
            ..HealthState::up()
        }
    }

    pub(crate) fn effective(&self) -> Health {
        match (self.admin, self.auto) {
            (Admin::Down, _) | (_, Auto::Down(_)) => Health::Down,
            (Admin::Drain, _) => Health::Draining,
            (Admin::Normal, Auto::Probation { .. }) => Health::Probation,
            (Admin::Normal, Auto::Up) => Health::Up,
        }
    }

    pub(crate) fn down_reason(&self) -> Option<DownReason> {
        match (self.admin, self.auto) {
            (Admin::Down, _) => Some(DownReason::Admin),
            (_, Auto::Down(r)) => Some(r),
            _ => None,
        }
    }

    /// Whether new leases may be granted here.
    pub(crate) fn accepts_new(&self) -> bool {
        matches!(self.effective(), Health::Up | Health::Probation)
    }

    pub(crate) fn is_down(&self) -> bool {
        self.effective() == Health::Down
    }

    /// Whether missing heartbeats should still be watched (not already down by evidence).
    pub(crate) fn watching_heartbeats(&self) -> bool {
        !matches!(self.auto, Auto::Down(_))
    }

    pub(crate) fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// A job finished (ok or compile error) or a probe succeeded on a host that was not down.
    pub(crate) fn success(&mut self, cfg: &Config) {
        self.consecutive_failures = 0;
        if let Auto::Probation { successes } = self.auto {
            if successes + 1 >= cfg.probation_successes {
                self.auto = Auto::Up;
                self.backoff = None;
            } else {
                self.auto = Auto::Probation {
                    successes: successes + 1,
                };
            }
        }
    }

    /// A transport failure or a failed probe.
    pub(crate) fn failure(&mut self, cfg: &Config) -> Failure {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        match self.auto {
            Auto::Up if self.consecutive_failures < cfg.failures_to_down => Failure::Counted,
            Auto::Up | Auto::Probation { .. } => {
                self.auto = Auto::Down(DownReason::Failures);
                Failure::WentDown(self.next_backoff(cfg))
            }
            Auto::Down(DownReason::Failures) => Failure::StillDown(self.next_backoff(cfg)),
            Auto::Down(_) => Failure::Counted,
        }
    }

    fn next_backoff(&mut self, cfg: &Config) -> Duration {
        let b = match self.backoff {
            None => cfg.down_backoff,
            Some(b) => b.saturating_mul(2).min(cfg.down_backoff_max),
        };
        self.backoff = Some(b);
        b
    }

    /// A probe succeeded: a host down for failures goes on probation; otherwise it is one
    /// more success.
    pub(crate) fn probe_ok(&mut self, cfg: &Config) {
        match self.auto {
            Auto::Down(DownReason::Failures) => {
                self.consecutive_failures = 0;
                self.auto = Auto::Probation { successes: 0 };
            }
            Auto::Down(_) => {}
            Auto::Up | Auto::Probation { .. } => self.success(cfg),
        }
    }

    /// A heartbeat arrived: a host down for silence goes on probation.
    pub(crate) fn heartbeat(&mut self) {
        if self.auto == Auto::Down(DownReason::MissedHeartbeats) {
            self.auto = Auto::Probation { successes: 0 };
        }
    }

    /// Heartbeats stopped. Returns whether the host just went down.
    pub(crate) fn silent(&mut self) -> bool {
        self.went_down(DownReason::MissedHeartbeats)
    }

    /// The host left. Returns whether the host just went down.
    pub(crate) fn left(&mut self) -> bool {
        self.went_down(DownReason::Left)
    }

    fn went_down(&mut self, reason: DownReason) -> bool {
        let was_down = self.is_down();
        // A goodbye overrides an older reason: only re-registering brings the host back.
        if !matches!(self.auto, Auto::Down(_)) || reason == DownReason::Left {
            self.auto = Auto::Down(reason);
        }
        !was_down
    }

    /// The host registered again: whatever took it down, it gets a fresh chance on probation.
    pub(crate) fn rejoin(&mut self) {
        if matches!(self.auto, Auto::Down(_)) {
            self.consecutive_failures = 0;
            self.auto = Auto::Probation { successes: 0 };
        }
    }

    /// Operator: drain (running leases finish, nothing new).
    pub(crate) fn admin_drain(&mut self) {
        self.admin = Admin::Drain;
    }

    /// Operator: down. Returns whether the host just went down.
    pub(crate) fn admin_down(&mut self) -> bool {
        let was_down = self.is_down();
        self.admin = Admin::Down;
        !was_down
    }

    /// Operator: up. Clears everything: the operator vouches for the host.
    pub(crate) fn admin_up(&mut self) {
        *self = HealthState::up();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            failures_to_down: 3,
            probation_successes: 2,
            down_backoff: Duration::from_secs(1),
            down_backoff_max: Duration::from_secs(4),
            ..Config::default()
        }
    }

    #[test]
    fn consecutive_transport_failures_take_a_host_down() {
        let c = cfg();
        let mut h = HealthState::up();
        assert_eq!(h.failure(&c), Failure::Counted);
        h.success(&c); // a success in between resets the count
        assert_eq!(h.failure(&c), Failure::Counted);
        assert_eq!(h.failure(&c), Failure::Counted);
        assert_eq!(h.failure(&c), Failure::WentDown(Duration::from_secs(1)));
        assert_eq!(h.effective(), Health::Down);
        assert_eq!(h.down_reason(), Some(DownReason::Failures));
    }

    #[test]
    fn probation_recovers_after_successes_and_falls_back_with_doubled_backoff() {
        let c = cfg();
        let mut h = HealthState::up();
        for _ in 0..3 {
            h.failure(&c);
        }
        assert_eq!(h.failure(&c), Failure::StillDown(Duration::from_secs(2)));
        h.probe_ok(&c);
        assert_eq!(h.effective(), Health::Probation);
        assert_eq!(h.failure(&c), Failure::WentDown(Duration::from_secs(4)));
        assert_eq!(h.failure(&c), Failure::StillDown(Duration::from_secs(4)));
        h.probe_ok(&c);
        h.success(&c);
        assert_eq!(h.effective(), Health::Probation);
        h.success(&c);
        assert_eq!(h.effective(), Health::Up);
        // backoff was reset by recovering
        for _ in 0..3 {
            h.failure(&c);
        }
        assert_eq!(h.failure(&c), Failure::StillDown(Duration::from_secs(2)));
    }

    #[test]
    fn heartbeats_revive_only_silent_hosts() {
        let c = cfg();
        let mut h = HealthState::up();
        assert!(h.silent());
        assert!(!h.silent());
        h.heartbeat();
        assert_eq!(h.effective(), Health::Probation);
        let mut h = HealthState::up();
        for _ in 0..3 {
            h.failure(&c);
        }
        h.heartbeat();
        assert_eq!(
            h.effective(),
            Health::Down,
            "failures need a probe, not a heartbeat"
        );
        h.rejoin();
        assert_eq!(h.effective(), Health::Probation);
    }

    #[test]
    fn admin_wins_until_admin_up() {
        let c = cfg();
        let mut h = HealthState::up();
        h.admin_drain();
        assert_eq!(h.effective(), Health::Draining);
        assert!(!h.accepts_new());
        assert!(h.admin_down());
        assert!(!h.admin_down());
        h.heartbeat();
        h.probe_ok(&c);
        assert_eq!(h.effective(), Health::Down);
        assert_eq!(h.down_reason(), Some(DownReason::Admin));
        h.admin_up();
        assert_eq!(h.effective(), Health::Up);
    }
}
