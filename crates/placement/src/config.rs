//! Tunables, with defaults chosen for a LAN build farm.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::ConfigError;
use crate::policy::Policy;

/// Everything the scheduler can be tuned with. [`Config::default`] is a sensible farm.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// How a free slot is chosen (see [`Policy`]).
    pub policy: Policy,
    /// A registered host that sends no heartbeat for this long is marked down at the next
    /// tick and its leases are revoked ("down within a few seconds").
    pub heartbeat_timeout: Duration,
    /// A request queued for this long is answered "compile locally": a build must never hang
    /// on a farm that does not move.
    pub max_wait: Duration,
    /// For this long after the scheduler starts, a request that no host can take yet (none
    /// up, or none with its compiler) waits for servers to register instead of being told
    /// to compile locally at once: a restarted scheduler knows no servers until they
    /// reconnect. Zero turns it off.
    pub startup_grace: Duration,
    /// At most this many requests wait in the queue (all users together); beyond it, new
    /// requests are told to compile locally at once.
    pub max_queued: usize,
    /// At most this many waiting requests may decline free slots (to wait for faster hosts)
    /// in one placement pass; the next requests take the free slots. Waiting pays near the
    /// end of a build, when the queue is short; with a deeper queue the farm is saturated
    /// and every slot should work. Also bounds the cost of a pass. Once a pass has run out
    /// of lookahead, later passes let nobody wait until the queue is no deeper than this.
    pub max_lookahead: usize,
    /// Turns (grants to a weight-1 user) a user that starts waiting is placed ahead of the
    /// fair queue's virtual clock, so that a build starting while others run catches up with
    /// them for a few grants instead of sharing equally from its first request; bounded, so
    /// being idle earns no more than this. 0: plain start-time fair queueing.
    pub fair_credit: f64,
    /// Consecutive transport failures that take an up host down. One failure is often a
    /// client's own network hiccup; several in a row is the host.
    pub failures_to_down: u32,
    /// Successful jobs (or probes) that bring a host on probation back up.
    pub probation_successes: u32,
    /// Leases a host on probation may hold at once: enough to test it, not enough to hurt.
    pub probation_slots: u32,
    /// First wait before a host taken down by failures is probed again; doubles on each
    /// failed recovery, up to [`Config::down_backoff_max`].
    pub down_backoff: Duration,
    /// Upper bound of the doubling backoff.
    pub down_backoff_max: Duration,
    /// How often statically configured hosts (stock distccd, no heartbeats) are probed.
    pub probe_interval: Duration,
    /// A probe with no answer after this long counts as failed.
    pub probe_timeout: Duration,
    /// Weight of one completed job in a host's learned speed (exponentially weighted moving
    /// average). The first few jobs weigh more (the configured weight counts as one sample).
    pub speed_alpha: f64,
    /// Weight of one completed job in the learned seconds-per-byte ratio.
    pub size_alpha: f64,
    /// Initial seconds of work (at speed 1) per preprocessed byte, before anything is learned.
    /// 1e-6 means a 1 MB preprocessed file takes one second on a reference host.
    pub initial_secs_per_byte: f64,
    /// Cost assumed for a job with neither a previous duration nor a size.
    pub default_cost: Duration,
    /// Floor for any job cost, so that a zero-byte or zero-second job still occupies time.
    pub min_cost: Duration,
    /// What a remote job costs besides its compile, weighed against running it on the
    /// client's own machine when the client offers its slots: the source's and the
    /// object's transfer and the server's setup (the preprocessing is paid either way: a
    /// local compile preprocesses too).
    pub remote_overhead: Duration,
    /// Hosts reporting less free memory than this get no new leases (0 disables the check).
    pub min_free_memory: u64,
    /// Speculative re-dispatch of stragglers (used by policies that support it); `None`
    /// disables it.
    pub speculation: Option<Speculation>,
    /// Per-user weights for fair queueing (default 1.0): a user with weight 2 is served
    /// twice as often as a user with weight 1 while both wait.
    pub user_weights: BTreeMap<String, f64>,
}

/// When a running job is worth starting again on a faster, idle host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speculation {
    /// The straggler's expected remaining time must exceed the job's cost on the free host
    /// times this margin (> 1 so that only a clear win doubles the work).
    pub margin: f64,
    /// The free host must be at least this many times faster than the straggler's host.
    pub min_speedup: f64,
    /// A job nothing told the cost of ([`crate::JobInfo`] with no previous run, and sizes
    /// that have not told costs apart) is copied from a host at least this many times
    /// slower than the free one, whatever its expected remaining time: its estimate is
    /// only the mean job's, so "past its estimate" says little, and the copy costs only a
    /// slot that would stand idle. Longest-running first.
    pub blind_min_speedup: f64,
    /// A job running this many times longer than expected on its host, and at least
    /// [`Speculation::hung_after`], is taken to be hung (a compiler spinning or blocked,
    /// its server still heartbeating) and started again on any free host, whatever its
    /// speed.
    pub hung_factor: f64,
    /// The least time a job runs before it can be taken to be hung: estimates of short
    /// jobs are rough, and a copy of a job that was merely slow costs a slot.
    pub hung_after: Duration,
}

impl Default for Speculation {
    fn default() -> Speculation {
        Speculation {
            margin: 1.5,
            min_speedup: 2.0,
            blind_min_speedup: 2.5,
            hung_factor: 4.0,
            hung_after: Duration::from_secs(10),
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            policy: Policy::EarliestFinish,
            heartbeat_timeout: Duration::from_secs(5),
            max_wait: Duration::from_secs(120),
            startup_grace: Duration::ZERO,
            max_queued: 100_000,
            max_lookahead: 64,
            fair_credit: 16.0,
            failures_to_down: 3,
            probation_successes: 2,
            probation_slots: 1,
            down_backoff: Duration::from_secs(2),
            down_backoff_max: Duration::from_secs(120),
            probe_interval: Duration::from_secs(30),
            probe_timeout: Duration::from_secs(10),
            speed_alpha: 0.2,
            size_alpha: 0.05,
            initial_secs_per_byte: 1e-6,
            default_cost: Duration::from_secs(1),
            min_cost: Duration::from_millis(1),
            remote_overhead: Duration::from_millis(10),
            min_free_memory: 0,
            speculation: Some(Speculation::default()),
            user_weights: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Checks every value; [`crate::Scheduler::new`] calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, d) in [
            ("heartbeat_timeout", self.heartbeat_timeout),
            ("max_wait", self.max_wait),
            ("down_backoff", self.down_backoff),
            ("down_backoff_max", self.down_backoff_max),
            ("probe_interval", self.probe_interval),
            ("probe_timeout", self.probe_timeout),
            ("default_cost", self.default_cost),
            ("min_cost", self.min_cost),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        for (name, n) in [
            ("failures_to_down", self.failures_to_down),
            ("probation_successes", self.probation_successes),
            ("probation_slots", self.probation_slots),
        ] {
            if n == 0 {
                return Err(ConfigError::ZeroCount(name));
            }
        }
        if self.max_queued == 0 {
            return Err(ConfigError::ZeroCount("max_queued"));
        }
        unit_interval("speed_alpha", self.speed_alpha)?;
        unit_interval("size_alpha", self.size_alpha)?;
        positive("initial_secs_per_byte", self.initial_secs_per_byte)?;
        if !(self.fair_credit >= 0.0 && self.fair_credit.is_finite()) {
            return Err(ConfigError::OutOfRange {
                name: "fair_credit",
                value: self.fair_credit,
                range: "0 <= x, finite",
            });
        }
        if let Some(s) = self.speculation {
            at_least_one("speculation.margin", s.margin)?;
            at_least_one("speculation.min_speedup", s.min_speedup)?;
            at_least_one("speculation.blind_min_speedup", s.blind_min_speedup)?;
            at_least_one("speculation.hung_factor", s.hung_factor)?;
        }
        for w in self.user_weights.values() {
            positive("user_weights", *w)?;
        }
        Ok(())
    }
}

fn unit_interval(name: &'static str, value: f64) -> Result<(), ConfigError> {
    if value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            name,
            value,
            range: "0 < x <= 1",
        })
    }
}

fn positive(name: &'static str, value: f64) -> Result<(), ConfigError> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            name,
            value,
            range: "0 < x < inf",
        })
    }
}

fn at_least_one(name: &'static str, value: f64) -> Result<(), ConfigError> {
    if (1.0..f64::INFINITY).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            name,
            value,
            range: "1 <= x < inf",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn rejects_bad_values() {
        let c = Config {
            max_wait: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::ZeroDuration("max_wait")));
        let c = Config {
            speed_alpha: 0.0,
            ..Config::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::OutOfRange {
                name: "speed_alpha",
                ..
            })
        ));
        let mut c = Config::default();
        c.user_weights.insert("bob".into(), f64::NAN);
        assert!(c.validate().is_err());
        let c = Config {
            speculation: Some(Speculation {
                margin: 0.5,
                ..Speculation::default()
            }),
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }
}
