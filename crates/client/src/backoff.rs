//! Remembering failing hosts across `ccfarm` processes, with exponential decay.
//!
//! distcc (`src/backoff.c`) marks a host bad by touching `backoff_<host>` and skips it for
//! a fixed `DISTCC_BACKOFF_PERIOD` (default 60 s). That punishes a host that blipped once
//! as hard as a dead one. Here the period grows with *consecutive* failures:
//!
//! | failures | back-off (default policy, base = max = 60 s) |
//! |---|---|
//! | 0 | none |
//! | 1 | 5 s |
//! | 2 | 10 s |
//! | 3 | 20 s |
//! | 4 | 40 s |
//! | ≥ 5 | 60 s |
//!
//! A host is skipped while `now < last_failure + backoff_for(failures)`. Once that
//! elapses the next compile tries it again: success clears the state, another failure
//! backs it off for longer. So a dead host costs one attempt per `max`, and a host that
//! failed once is back within seconds.
//!
//! The pure policy ([`backoff_for`], [`is_backed_off`]) is separate from the on-disk
//! [`BackoffStore`] so it can be tested exhaustively.

use std::io::{self, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// distcc's default `DISTCC_BACKOFF_PERIOD`.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(60);

/// The back-off after a single failure (unless `base` is smaller): long enough to stop
/// the other jobs of a `make -j` from piling onto a broken host, short enough that a
/// transient failure costs little.
pub const FIRST_FAILURE: Duration = Duration::from_secs(5);

/// How long to avoid a host after failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// distcc's `DISTCC_BACKOFF_PERIOD`. Zero disables back-off entirely (as in distcc);
    /// otherwise the first failure backs off `min(base, FIRST_FAILURE)`.
    pub base: Duration,
    /// Upper bound of any back-off; normally equal to `base`.
    pub max: Duration,
}

impl BackoffPolicy {
    /// The policy for a distcc-style period: back off at most `period`; zero disables.
    pub fn from_period(period: Duration) -> BackoffPolicy {
        BackoffPolicy {
            base: period,
            max: period,
        }
    }
}

impl Default for BackoffPolicy {
    /// [`DEFAULT_PERIOD`] for both `base` and `max`.
    fn default() -> Self {
        BackoffPolicy::from_period(DEFAULT_PERIOD)
    }
}

/// What is remembered about a failing host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostState {
    /// Consecutive failures since the last success (or since the state was lost).
    pub failures: u32,
    /// When the latest failure happened.
    pub last_failure: SystemTime,
}

/// How long to avoid a host after `consecutive_failures` failures in a row.
///
/// Zero if `base` is zero (back-off disabled) or there were no failures; otherwise
/// `min(base, FIRST_FAILURE) * 2^(failures - 1)`, capped at `max`. Monotonic in
/// `consecutive_failures` and never above `max`.
pub fn backoff_for(policy: &BackoffPolicy, consecutive_failures: u32) -> Duration {
    if policy.base.is_zero() || consecutive_failures == 0 {
        return Duration::ZERO;
    }
    // 2^31 times anything non-zero exceeds any sane `max`; saturate instead of overflowing.
    let doublings = (consecutive_failures - 1).min(31);
    let first = policy.base.min(FIRST_FAILURE);
    first.saturating_mul(1 << doublings).min(policy.max)
}

/// Whether a host in `state` should be skipped at `now`.
///
/// A `last_failure` in the future means the wall clock was set back; the host is then
/// *not* backed off, because otherwise it could be shunned for as long as the clock
/// error. The next failure records a fresh timestamp anyway.
pub fn is_backed_off(policy: &BackoffPolicy, state: &HostState, now: SystemTime) -> bool {
    match now.duration_since(state.last_failure) {
        Ok(elapsed) => elapsed < backoff_for(policy, state.failures),
        Err(_) => false,
    }
}

/// Per-host failure state in `<state_dir>/backoff`, shared by all processes of the user.
///
/// Each host has a file `host_<key>` holding one line, `<failures> <unix_millis>`, so an
/// operator can read it (and delete it to forgive a host). Files are replaced atomically
/// (temporary file + rename), so readers never see a half-written line. Updates are not
/// serialised between processes: two processes recording a failure at once may both write
/// `n + 1`, and the last rename wins. Losing an increment only shortens one back-off, which
/// is not worth a lock. Nothing is fsynced: the state is advisory, and losing it on a crash
/// only means a bad host gets retried.
#[derive(Debug, Clone)]
pub struct BackoffStore {
    dir: PathBuf,
}

impl BackoffStore {
    /// Open (creating if needed, mode 0700) `<state_dir>/backoff`.
    pub fn open(state_dir: &Path) -> io::Result<BackoffStore> {
        let dir = state_dir.join("backoff");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(BackoffStore { dir })
    }

    /// The remembered state of `key`, or `None` if there is none.
    ///
    /// An unreadable, corrupt or invalid key's file also yields `None`: a bad file must
    /// never keep a host blocked forever.
    pub fn state(&self, key: &str) -> Option<HostState> {
        let path = self.path(key).ok()?;
        let mut text = String::new();
        // A valid line is under 40 bytes; anything much longer is corrupt anyway.
        std::fs::File::open(path)
            .ok()?
            .take(128)
            .read_to_string(&mut text)
            .ok()?;
        decode(&text)
    }

    /// Record one more failure of `key` at `now` and return the new state.
    pub fn record_failure(&self, key: &str, now: SystemTime) -> io::Result<HostState> {
        let path = self.path(key)?;
        let failures = self.state(key).map_or(0, |s| s.failures).saturating_add(1);
        let state = HostState {
            failures,
            last_failure: now,
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp")
            .tempfile_in(&self.dir)?;
        tmp.write_all(encode(&state).as_bytes())?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(state)
    }

    /// Forget `key`'s failures after a successful job. Absent state is not an error.
    pub fn record_success(&self, key: &str) -> io::Result<()> {
        match std::fs::remove_file(self.path(key)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Whether `key` should be skipped at `now` under `policy`.
    ///
    /// Reads nothing when back-off is disabled.
    pub fn backed_off(&self, key: &str, policy: &BackoffPolicy, now: SystemTime) -> bool {
        !policy.base.is_zero()
            && self
                .state(key)
                .is_some_and(|s| is_backed_off(policy, &s, now))
    }

    /// `<dir>/host_<key>`; the prefix keeps state files apart from `.tmp*` files.
    fn path(&self, key: &str) -> io::Result<PathBuf> {
        if key.is_empty() || key.contains(['/', '\0']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid host key {key:?}: must be non-empty without '/' or NUL"),
            ));
        }
        Ok(self.dir.join(format!("host_{key}")))
    }
}

/// `"<failures> <unix_millis>\n"`. Times before the epoch are stored as 0.
fn encode(state: &HostState) -> String {
    let millis = state
        .last_failure
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{} {millis}\n", state.failures)
}

/// Inverse of [`encode`]; `None` for anything else.
fn decode(text: &str) -> Option<HostState> {
    let mut fields = text.split_ascii_whitespace();
    let failures = fields.next()?.parse().ok()?;
    let millis = fields.next()?.parse().ok()?;
    if fields.next().is_some() {
        return None;
    }
    let last_failure = UNIX_EPOCH.checked_add(Duration::from_millis(millis))?;
    Some(HostState {
        failures,
        last_failure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn zero_base_disables() {
        let off = BackoffPolicy {
            base: Duration::ZERO,
            max: secs(60),
        };
        for n in [0, 1, 5, u32::MAX] {
            assert_eq!(backoff_for(&off, n), Duration::ZERO);
        }
        let state = HostState {
            failures: 9,
            last_failure: SystemTime::now(),
        };
        assert!(!is_backed_off(&off, &state, state.last_failure));
    }

    #[test]
    fn default_policy_table() {
        let p = BackoffPolicy::default();
        let got: Vec<u64> = (0..8).map(|n| backoff_for(&p, n).as_secs()).collect();
        assert_eq!(got, [0, 5, 10, 20, 40, 60, 60, 60]);
        assert_eq!(backoff_for(&p, u32::MAX), secs(60));
    }

    #[test]
    fn small_base_and_large_max() {
        let small = BackoffPolicy::from_period(secs(2));
        let got: Vec<u64> = (1..4).map(|n| backoff_for(&small, n).as_secs()).collect();
        assert_eq!(got, [2, 2, 2]);
        let long = BackoffPolicy::from_period(secs(600));
        let got: Vec<u64> = (1..10).map(|n| backoff_for(&long, n).as_secs()).collect();
        assert_eq!(got, [5, 10, 20, 40, 80, 160, 320, 600, 600]);
        let capped = BackoffPolicy {
            base: secs(60),
            max: secs(3),
        };
        assert_eq!(backoff_for(&capped, 1), secs(3));
    }

    #[test]
    fn backoff_decays_and_grows() {
        let p = BackoffPolicy::default();
        let t0 = UNIX_EPOCH + secs(1_700_000_000);
        let once = HostState {
            failures: 1,
            last_failure: t0,
        };
        assert!(is_backed_off(&p, &once, t0));
        assert!(is_backed_off(&p, &once, t0 + secs(4)));
        assert!(
            !is_backed_off(&p, &once, t0 + secs(5)),
            "usable again after 5 s"
        );
        // It fails again when retried: backed off longer than the first time.
        let t1 = t0 + secs(5);
        let twice = HostState {
            failures: 2,
            last_failure: t1,
        };
        assert!(is_backed_off(&p, &twice, t1 + secs(9)));
        assert!(!is_backed_off(&p, &twice, t1 + secs(10)));
        // A clock set back does not shun the host.
        assert!(!is_backed_off(&p, &twice, t1 - secs(3600)));
    }

    #[test]
    fn store_round_trip_and_success_clears() {
        let tmp = tempfile::tempdir().unwrap();
        let store = BackoffStore::open(tmp.path()).unwrap();
        let p = BackoffPolicy::default();
        let key = "tcp_10.0.0.2_3632";
        let t0 = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(store.state(key), None);
        assert!(!store.backed_off(key, &p, t0));

        assert_eq!(store.record_failure(key, t0).unwrap().failures, 1);
        let s = store.record_failure(key, t0 + secs(7)).unwrap();
        assert_eq!(
            s,
            HostState {
                failures: 2,
                last_failure: t0 + secs(7)
            }
        );
        assert_eq!(store.state(key), Some(s));
        let text = std::fs::read_to_string(tmp.path().join("backoff").join(format!("host_{key}")));
        assert_eq!(text.unwrap(), "2 1700000007123\n");
        assert!(store.backed_off(key, &p, t0 + secs(16)));
        assert!(!store.backed_off(key, &p, t0 + secs(17)));
        assert!(!store.backed_off(
            key,
            &BackoffPolicy::from_period(Duration::ZERO),
            t0 + secs(7)
        ));
        assert!(!store.backed_off("other", &p, t0 + secs(7)));

        store.record_success(key).unwrap();
        assert_eq!(store.state(key), None);
        store.record_success(key).unwrap(); // already clear
        assert_eq!(store.record_failure(key, t0).unwrap().failures, 1);
        let leftovers = std::fs::read_dir(tmp.path().join("backoff"))
            .unwrap()
            .count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }

    #[test]
    fn corrupt_or_unreadable_state_is_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let store = BackoffStore::open(tmp.path()).unwrap();
        let p = BackoffPolicy::default();
        let now = SystemTime::now();
        let dir = tmp.path().join("backoff");
        for bad in [
            "",
            "garbage",
            "3",
            "3 x",
            "-1 5",
            "3 5 7",
            "99999999999 5",
            "1 99999999999999999999",
        ] {
            std::fs::write(dir.join("host_h"), bad).unwrap();
            assert_eq!(store.state("h"), None, "{bad:?}");
            assert!(!store.backed_off("h", &p, now), "{bad:?}");
        }
        std::fs::write(dir.join("host_h"), "x".repeat(10_000)).unwrap();
        assert_eq!(store.state("h"), None);
        // A corrupt file is overwritten by the next failure, counting from one.
        assert_eq!(store.record_failure("h", now).unwrap().failures, 1);
        // A directory in the way cannot be read either.
        std::fs::create_dir(dir.join("host_d")).unwrap();
        assert_eq!(store.state("d"), None);
        assert!(!store.backed_off("d", &p, now));
    }

    #[test]
    fn bad_keys_are_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let store = BackoffStore::open(tmp.path()).unwrap();
        for key in ["", "../escape", "a\0b"] {
            assert!(
                store.record_failure(key, SystemTime::now()).is_err(),
                "{key:?}"
            );
            assert!(store.record_success(key).is_err(), "{key:?}");
            assert_eq!(store.state(key), None);
        }
    }

    proptest! {
        #[test]
        fn backoff_is_monotonic_and_capped(
            base_ms in 0u64..1_000_000,
            max_ms in 0u64..10_000_000,
            n in any::<u32>(),
        ) {
            let p = BackoffPolicy { base: Duration::from_millis(base_ms), max: Duration::from_millis(max_ms) };
            let d = backoff_for(&p, n);
            prop_assert!(d <= p.max);
            prop_assert!(d <= backoff_for(&p, n.saturating_add(1)));
            prop_assert_eq!(d.is_zero(), n == 0 || base_ms == 0 || max_ms == 0);
        }
    }
}
