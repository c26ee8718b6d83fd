//! A job that runs far longer than expected on a host as fast as the others (a compiler
//! spinning or blocked, its server still heartbeating) is started again on a free host
//! once it has run `hung_factor` times its expected time and at least `hung_after`.

mod common;

use std::time::Duration;

use ccfarm_placement::*;
use common::*;

fn quiet(speculation: Option<Speculation>) -> Scheduler {
    Scheduler::new(Config {
        policy: Policy::EarliestFinish,
        heartbeat_timeout: Duration::from_secs(3600),
        max_wait: Duration::from_secs(3600),
        speculation,
        ..Config::default()
    })
    .unwrap()
}

/// Two hosts of the same speed, one slot each; a job expected to take `secs` granted
/// on the first. The scheduler, the job's lease, and the other host.
fn one_job(speculation: Option<Speculation>, secs: f64) -> (Scheduler, LeaseId, HostId) {
    let mut s = quiet(speculation);
    let (a, _) = s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
    let (b, _) = s.join(at(0.0), spec("b", 1, 1.0)).unwrap();
    let (lease, host) = granted(&s.request(at(0.0), RequestId(1), job("u", secs)).unwrap());
    assert_eq!(host, a);
    (s, lease, b)
}

/// The copies started by `actions`: (original lease, host).
fn copies(actions: &[Action]) -> Vec<(LeaseId, HostId)> {
    actions
        .iter()
        .filter_map(|a| match *a {
            Action::Speculate {
                original_lease,
                host,
                ..
            } => Some((original_lease, host)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_short_job_is_copied_once_it_has_run_hung_after() {
    let (mut s, lease, b) = one_job(Some(Speculation::default()), 1.0);
    // Four times its expected time, but not yet ten seconds: slow, not hung.
    assert!(copies(&s.tick(at(9.0))).is_empty());
    // The shell is woken when the job can first be hung.
    assert_eq!(s.next_deadline(), Some(at(10.0)));
    assert_eq!(copies(&s.tick(at(10.0))), [(lease, b)]);
    s.check_invariants().unwrap();
}

#[test]
fn a_long_job_is_copied_only_at_hung_factor_times_its_expected_time() {
    let (mut s, lease, b) = one_job(Some(Speculation::default()), 5.0);
    assert!(copies(&s.tick(at(19.0))).is_empty());
    assert_eq!(copies(&s.tick(at(20.0))), [(lease, b)]);
}

#[test]
fn a_hung_job_waits_for_a_free_host_and_is_copied_when_one_frees() {
    let (mut s, hung, b) = one_job(Some(Speculation::default()), 1.0);
    // The other host busy with a job of its own, past the hung one's time.
    let (busy, host) = granted(&s.request(at(0.0), RequestId(2), job("u", 30.0)).unwrap());
    assert_eq!(host, b);
    assert!(copies(&s.tick(at(10.0))).is_empty());
    // Looked at again each second while it waits; the free slot is taken at once.
    assert_eq!(s.next_deadline(), Some(at(11.0)));
    let freed = s.release(at(10.5), busy, ok(10.5)).unwrap();
    assert_eq!(copies(&freed), [(hung, b)]);
    s.check_invariants().unwrap();
}

#[test]
fn without_speculation_a_hung_job_is_left_alone() {
    let (mut s, _, _) = one_job(None, 1.0);
    assert!(copies(&s.tick(at(100.0))).is_empty());
    // Nothing wakes the shell for it: only the hosts' own deadlines remain.
    assert!(s.next_deadline().is_none_or(|t| t >= at(3600.0)));
}
