//! A job re-asked after servers failed it names them: it goes to another host while one
//! can take it, and back to them only when no other host could ever run it.

mod common;

use std::time::Duration;

use ccfarm_placement::*;
use common::*;

fn config(policy: Policy) -> Config {
    Config {
        policy,
        heartbeat_timeout: Duration::from_secs(3600),
        max_wait: Duration::from_secs(3600),
        ..Config::default()
    }
}

/// Each built-in policy twice: read from the host index, and shown every host as a
/// custom policy is.
fn schedulers() -> Vec<(String, Scheduler)> {
    Policy::ALL
        .into_iter()
        .flat_map(|policy| {
            [
                (
                    format!("{policy} (indexed)"),
                    Scheduler::new(config(policy)).unwrap(),
                ),
                (
                    format!("{policy} (listed)"),
                    Scheduler::with_placement(config(policy), policy.build()).unwrap(),
                ),
            ]
        })
        .collect()
}

fn avoiding(secs: f64, avoid: &[HostId]) -> JobInfo {
    JobInfo {
        avoid: avoid.to_vec(),
        ..job("u", secs)
    }
}

#[test]
fn a_job_goes_past_the_host_that_failed_it() {
    for (name, mut s) in schedulers() {
        // The failed host is first in every policy's order: the fastest, listed first.
        let (failed, _) = s.join(at(0.0), spec("failed", 2, 4.0)).unwrap();
        let (other, _) = s.join(at(0.0), spec("other", 2, 1.0)).unwrap();
        if !name.starts_with("random") {
            let (lease, h) = granted(&s.request(at(0.0), RequestId(1), job("u", 1.0)).unwrap());
            assert_eq!(
                h, failed,
                "{name}: the failed host is the one chosen otherwise"
            );
            s.release(at(0.0), lease, ok(1.0)).unwrap();
        }
        // Random draws the failed host about half the time: every draw is passed over.
        for i in 2..10 {
            let t = at(f64::from(i as u32));
            let (lease, h) = granted(
                &s.request(t, RequestId(i), avoiding(1.0, &[failed]))
                    .unwrap(),
            );
            assert_eq!(h, other, "{name}");
            s.release(t, lease, ok(1.0)).unwrap();
        }
        s.check_invariants().unwrap();
    }
}

#[test]
fn a_job_waits_for_another_host_rather_than_take_the_one_it_avoids() {
    for (name, mut s) in schedulers() {
        let (failed, _) = s.join(at(0.0), spec("failed", 2, 1.0)).unwrap();
        let (other, _) = s.join(at(0.0), spec("other", 1, 1.0)).unwrap();
        // Fill the other host's one slot.
        let busy = s
            .request(at(0.0), RequestId(1), avoiding(5.0, &[failed]))
            .unwrap();
        let (lease, h) = granted(&busy);
        assert_eq!(h, other, "{name}");
        // The failed host is free, but the job waits for the other one.
        let waiting = s
            .request(at(0.1), RequestId(2), avoiding(1.0, &[failed]))
            .unwrap();
        assert!(grants(&waiting).is_empty(), "{name}: {waiting:?}");
        // A job that avoids nothing still takes the free host.
        let (_, h) = granted(&s.request(at(0.2), RequestId(3), job("u", 1.0)).unwrap());
        assert_eq!(h, failed, "{name}");
        let freed = s.release(at(1.0), lease, ok(1.0)).unwrap();
        let after: Vec<(RequestId, HostId)> =
            grants(&freed).iter().map(|&(r, _, h)| (r, h)).collect();
        assert_eq!(after, [(RequestId(2), other)], "{name}");
        s.check_invariants().unwrap();
    }
}

#[test]
fn a_job_that_failed_everywhere_usable_is_tried_again_rather_than_sent_home() {
    for (name, mut s) in schedulers() {
        let (only, _) = s.join(at(0.0), spec("only", 1, 1.0)).unwrap();
        let (down, _) = s.join(at(0.0), spec("down", 1, 1.0)).unwrap();
        s.down(at(0.0), down).unwrap();
        let (_, h) = granted(
            &s.request(at(0.0), RequestId(1), avoiding(1.0, &[only]))
                .unwrap(),
        );
        assert_eq!(h, only, "{name}");
        s.check_invariants().unwrap();
    }
}
