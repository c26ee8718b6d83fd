//! Compiler identity in placement: a job that names its compiler runs only on a host that
//! has it (same version, same target), and is sent home at once when no host does.

mod common;

use std::time::Duration;

use ccfarm_placement::*;
use common::*;

fn key(version: &str, target: &str) -> CompilerKey {
    CompilerKey {
        version: version.into(),
        target: target.into(),
    }
}

fn gcc12() -> CompilerKey {
    key("12.2.0", "x86_64-linux-gnu")
}

fn gcc13() -> CompilerKey {
    key("13.2.0", "x86_64-linux-gnu")
}

/// [`job`] for `compiler`.
fn job_for(user: &str, secs: f64, compiler: Option<CompilerKey>) -> JobInfo {
    JobInfo {
        compiler,
        ..job(user, secs)
    }
}

fn quiet(policy: Policy) -> Scheduler {
    Scheduler::new(Config {
        policy,
        heartbeat_timeout: Duration::from_secs(3600),
        max_wait: Duration::from_secs(3600),
        ..Config::default()
    })
    .unwrap()
}

/// A farm of a fast gcc 12 host, a slower gcc 13 host and an unidentified host, one slot
/// each, in that order.
fn farm(s: &mut Scheduler) -> [HostId; 3] {
    let (a, _) = s.join(at(0.0), spec("gcc12", 1, 2.0)).unwrap();
    s.set_compilers(at(0.0), a, &[gcc12()]).unwrap();
    let (b, _) = s.join(at(0.0), spec("gcc13", 1, 1.0)).unwrap();
    s.set_compilers(at(0.0), b, &[gcc13()]).unwrap();
    let (c, _) = s.join(at(0.0), spec("unknown", 1, 4.0)).unwrap();
    [a, b, c]
}

#[test]
fn a_job_runs_only_where_its_compiler_is() {
    for policy in Policy::ALL {
        let mut s = quiet(policy);
        let [gcc12_host, gcc13_host, _] = farm(&mut s);
        let (_, h) = granted(
            &s.request(at(0.0), RequestId(1), job_for("u", 1.0, Some(gcc13())))
                .unwrap(),
        );
        assert_eq!(h, gcc13_host, "{policy}");
        let (_, h) = granted(
            &s.request(at(0.0), RequestId(2), job_for("u", 1.0, Some(gcc12())))
                .unwrap(),
        );
        assert_eq!(h, gcc12_host, "{policy}");
        s.check_invariants().unwrap();
    }
}

#[test]
fn a_job_that_names_no_compiler_runs_anywhere_and_only_it_runs_on_unidentified_hosts() {
    let mut s = quiet(Policy::ListOrder);
    let [a, b, c] = farm(&mut s);
    // Configured order: the gcc 12 host, the gcc 13 host, then the unidentified one.
    let hosts: Vec<HostId> = (1..=3)
        .map(|i| granted(&s.request(at(0.0), RequestId(i), job("u", 1.0)).unwrap()).1)
        .collect();
    assert_eq!(hosts, [a, b, c]);
    let mut s = quiet(Policy::ListOrder);
    let [_, _, unknown] = farm(&mut s);
    // The unidentified host is free, but never taken for a job that names its compiler.
    for (i, compiler) in [gcc12(), gcc13()].into_iter().enumerate() {
        let (_, h) = granted(
            &s.request(
                at(0.0),
                RequestId(i as u64),
                job_for("u", 1.0, Some(compiler)),
            )
            .unwrap(),
        );
        assert_ne!(h, unknown);
    }
    let waiting = s
        .request(at(0.0), RequestId(9), job_for("u", 1.0, Some(gcc12())))
        .unwrap();
    assert_eq!(waiting, [], "waits for the gcc 12 host");
    assert_eq!(s.free_slots(), 1, "the unidentified host stays free");
}

#[test]
fn matching_ignores_the_name_and_needs_version_and_target() {
    let mut s = quiet(Policy::ListOrder);
    let (h, _) = s.join(at(0.0), spec("arm", 4, 1.0)).unwrap();
    s.set_compilers(at(0.0), h, &[key("12.2.0", "aarch64-linux-gnu")])
        .unwrap();
    let local = |actions: Vec<Action>| {
        matches!(
            actions[..],
            [Action::CompileLocally {
                reason: FarmRefusal::NoMatchingCompiler,
                ..
            }]
        )
    };
    // Same version, other target; same target, other version.
    assert!(local(
        s.request(at(0.0), RequestId(1), job_for("u", 1.0, Some(gcc12())))
            .unwrap()
    ));
    let other_version = key("12.3.0", "aarch64-linux-gnu");
    assert!(local(
        s.request(
            at(0.0),
            RequestId(2),
            job_for("u", 1.0, Some(other_version))
        )
        .unwrap()
    ));
    let same = key("12.2.0", "aarch64-linux-gnu");
    granted(
        &s.request(at(0.0), RequestId(3), job_for("u", 1.0, Some(same)))
            .unwrap(),
    );
}

#[test]
fn no_matching_host_sends_the_job_home_at_once_and_says_what_the_farm_has() {
    let mut s = quiet(Policy::EarliestFinish);
    let [a, _, _] = farm(&mut s);
    let (b2, _) = s.join(at(0.0), spec("gcc12-b", 2, 1.0)).unwrap();
    s.set_compilers(at(0.0), b2, &[gcc12(), key("14.1.0", "x86_64-linux-gnu")])
        .unwrap();
    let gcc15 = key("15.1.0", "x86_64-linux-gnu");
    let actions = s
        .request(at(0.0), RequestId(1), job_for("u", 1.0, Some(gcc15)))
        .unwrap();
    assert_eq!(
        actions,
        [Action::CompileLocally {
            request: RequestId(1),
            reason: FarmRefusal::NoMatchingCompiler
        }]
    );
    let snap = s.snapshot();
    assert_eq!((snap.counters.requests, snap.counters.local), (1, 1));
    assert_eq!(snap.queued, 0);
    assert_eq!(
        s.compilers_offered(),
        [
            (gcc12(), vec!["gcc12", "gcc12-b"]),
            (gcc13(), vec!["gcc13"]),
            (key("14.1.0", "x86_64-linux-gnu"), vec!["gcc12-b"]),
        ]
    );
    assert_eq!(s.snapshot().hosts[0].compilers, [gcc12()]);
    assert_eq!(s.host_name(a), Some("gcc12"));
}

#[test]
fn a_job_waits_only_for_a_host_with_its_compiler() {
    let mut s = quiet(Policy::EarliestFinish);
    let [gcc12_host, gcc13_host, _] = farm(&mut s);
    let (busy, _) = granted(
        &s.request(at(0.0), RequestId(1), job_for("u", 5.0, Some(gcc13())))
            .unwrap(),
    );
    // The gcc 13 host is busy: a second gcc 13 job waits, though two hosts are free.
    assert_eq!(
        s.request(at(0.0), RequestId(2), job_for("u", 5.0, Some(gcc13())))
            .unwrap(),
        []
    );
    assert_eq!(s.free_slots(), 2);
    // Jobs for other compilers, or none, pass it.
    let (_, h) = granted(
        &s.request(at(0.1), RequestId(3), job_for("u", 1.0, Some(gcc12())))
            .unwrap(),
    );
    assert_eq!(h, gcc12_host);
    granted(&s.request(at(0.1), RequestId(4), job("u", 1.0)).unwrap());
    // The gcc 13 host frees: the waiting job gets it.
    let actions = s.release(at(5.0), busy, ok(5.0)).unwrap();
    assert_eq!(
        grants(&actions)[..],
        [(RequestId(2), grants(&actions)[0].1, gcc13_host)]
    );
    s.check_invariants().unwrap();
}

#[test]
fn a_matching_host_that_is_down_means_no_usable_host() {
    let mut s = quiet(Policy::ListOrder);
    let [_, gcc13_host, _] = farm(&mut s);
    s.down(at(0.0), gcc13_host).unwrap();
    let actions = s
        .request(at(0.0), RequestId(1), job_for("u", 1.0, Some(gcc13())))
        .unwrap();
    assert_eq!(
        actions,
        [Action::CompileLocally {
            request: RequestId(1),
            reason: FarmRefusal::NoUsableHost
        }]
    );
}

#[test]
fn jobs_waiting_for_a_compiler_no_host_has_any_more_are_sent_home() {
    let mut s = quiet(Policy::ListOrder);
    let [_, gcc13_host, _] = farm(&mut s);
    granted(
        &s.request(at(0.0), RequestId(1), job_for("u", 5.0, Some(gcc13())))
            .unwrap(),
    );
    assert_eq!(
        s.request(at(0.0), RequestId(2), job_for("u", 5.0, Some(gcc13())))
            .unwrap(),
        []
    );
    // The host is upgraded: it reports gcc 14 now.
    let actions = s
        .set_compilers(at(1.0), gcc13_host, &[key("14.1.0", "x86_64-linux-gnu")])
        .unwrap();
    assert_eq!(
        actions,
        [Action::CompileLocally {
            request: RequestId(2),
            reason: FarmRefusal::NoMatchingCompiler
        }]
    );
    assert_eq!(s.snapshot().leases, 1, "the running job is left alone");
    s.check_invariants().unwrap();
    // Removing a host does the same.
    let mut s = quiet(Policy::ListOrder);
    let [gcc12_host, _, _] = farm(&mut s);
    granted(
        &s.request(at(0.0), RequestId(1), job_for("u", 5.0, Some(gcc12())))
            .unwrap(),
    );
    s.request(at(0.0), RequestId(2), job_for("u", 5.0, Some(gcc12())))
        .unwrap();
    let actions = s.remove(at(1.0), gcc12_host).unwrap();
    assert!(actions.contains(&Action::CompileLocally {
        request: RequestId(2),
        reason: FarmRefusal::NoMatchingCompiler
    }));
    s.check_invariants().unwrap();
}

#[test]
fn stragglers_are_copied_only_to_a_host_with_their_compiler() {
    for fast_has_it in [false, true] {
        let mut s = quiet(Policy::EarliestFinish);
        let (fast, _) = s.join(at(0.0), spec("fast", 1, 1.0)).unwrap();
        let (slow, _) = s.join(at(0.0), spec("slow", 1, 0.4)).unwrap();
        s.set_compilers(at(0.0), slow, &[gcc12()]).unwrap();
        if fast_has_it {
            s.set_compilers(at(0.0), fast, &[gcc12()]).unwrap();
        }
        let (first, _) = granted(&s.request(at(0.0), RequestId(1), job("u", 20.0)).unwrap());
        let (_, h) = granted(
            &s.request(at(0.0), RequestId(2), job_for("u", 6.0, Some(gcc12())))
                .unwrap(),
        );
        assert_eq!(h, slow);
        // The fast host frees and nothing waits: the straggler on the slow host is copied
        // only if the fast host has its compiler.
        let actions = s.release(at(2.0), first, ok(2.0)).unwrap();
        let copied = actions
            .iter()
            .any(|a| matches!(a, Action::Speculate { host, .. } if *host == fast));
        assert_eq!(copied, fast_has_it, "{actions:?}");
        s.check_invariants().unwrap();
    }
}
