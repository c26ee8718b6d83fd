//! Scenario tests: one behaviour each, driven through the public API with explicit times.

mod common;

use std::time::Duration;

use ccfarm_placement::*;
use common::*;

/// A config where hosts never time out, for tests about placement.
fn quiet_config(policy: Policy) -> Config {
    Config {
        policy,
        heartbeat_timeout: Duration::from_secs(3600),
        max_wait: Duration::from_secs(3600),
        ..Config::default()
    }
}

/// A scheduler with [`quiet_config`].
fn quiet(policy: Policy) -> Scheduler {
    Scheduler::new(quiet_config(policy)).unwrap()
}

/// Joins a fast host and a four times slower one, one slot each, and asks for a job of
/// `cost` seconds, which the fast host gets: returns the two hosts and that job's lease.
fn fast_busy_slow_free(s: &mut Scheduler, cost: f64) -> (HostId, HostId, LeaseId) {
    let (fast, _) = s.join(at(0.0), spec("fast", 1, 1.0)).unwrap();
    let (slow, _) = s.join(at(0.0), spec("slow", 1, 0.25)).unwrap();
    let (lease, host) = granted(&s.request(at(0.0), RequestId(1), job("u", cost)).unwrap());
    assert_eq!(host, fast);
    (fast, slow, lease)
}

/// Two schedulers with `config`: one serving its built-in policy from the host index, one
/// showing the same policy every host as a custom placement is shown. A behaviour checked
/// on both holds on both placement paths.
fn both_paths(config: Config) -> [Scheduler; 2] {
    let policy = config.policy;
    [
        Scheduler::new(config.clone()).unwrap(),
        Scheduler::with_placement(config, policy.build()).unwrap(),
    ]
}

#[test]
fn grants_at_once_when_a_slot_is_free() {
    let mut s = sched(Policy::EarliestFinish);
    let (a, _) = s.join(at(0.0), spec("a", 2, 1.0)).unwrap();
    let (lease, host) = granted(&s.request(at(0.0), RequestId(1), job("u", 1.0)).unwrap());
    assert_eq!(host, a);
    let info = s.lease(lease).unwrap();
    assert_eq!(info.request, RequestId(1));
    assert_eq!(info.expected_end, at(1.0));
    assert_eq!(s.snapshot().counters.grants, 1);
}

#[test]
fn queues_when_full_and_a_release_grants_the_next() {
    let mut s = sched(Policy::ListOrder);
    s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
    let (l1, _) = granted(&s.request(at(0.0), RequestId(1), job("u", 1.0)).unwrap());
    assert!(
        s.request(at(0.0), RequestId(2), job("u", 1.0))
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.snapshot().queued, 1);
    assert_eq!(s.snapshot().counters.waits, 1);
    let actions = s.release(at(1.0), l1, ok(1.0)).unwrap();
    assert_eq!(grants(&actions)[0].0, RequestId(2));
    assert_eq!(s.snapshot().queued, 0);
}

#[test]
fn client_gone_frees_its_slot_or_its_place() {
    let mut s = sched(Policy::ListOrder);
    s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
    let (l1, _) = granted(&s.request(at(0.0), RequestId(1), job("u", 1.0)).unwrap());
    s.request(at(0.0), RequestId(2), job("u", 1.0)).unwrap();
    s.request(at(0.0), RequestId(3), job("u", 1.0)).unwrap();
    // a queued client leaves: nothing is granted, its place is gone
    assert!(s.client_gone(at(0.5), RequestId(2)).unwrap().is_empty());
    // the lease holder dies: its slot goes to the next in line
    let actions = s.client_gone(at(0.6), l1).unwrap();
    assert_eq!(grants(&actions)[0].0, RequestId(3));
    assert_eq!(s.snapshot().counters.clients_gone, 2);
    assert_eq!(s.snapshot().hosts[0].consecutive_failures, 0);
    assert_eq!(
        s.client_gone(at(1.0), RequestId(2)),
        Err(SchedError::UnknownRequest(RequestId(2)))
    );
}

#[test]
fn draining_host_finishes_its_leases_and_gets_nothing_new() {
    let mut s = quiet(Policy::ListOrder);
    let (a, _) = s.join(at(0.0), spec("a", 2, 1.0)).unwrap();
    let (b, _) = s.join(at(0.0), spec("b", 2, 1.0)).unwrap();
    let (l1, h1) = granted(&s.request(at(0.0), RequestId(1), job("u", 1.0)).unwrap());
    assert_eq!(h1, a);
    s.drain(at(0.1), a).unwrap();
    assert_eq!(s.health(a), Some(Health::Draining));
    assert_eq!(
        granted(&s.request(at(0.2), RequestId(2), job("u", 1.0)).unwrap()).1,
        b
    );
    // the running lease is still valid and its release frees nothing usable
    assert!(s.release(at(1.0), l1, ok(1.0)).unwrap().is_empty());
    assert_eq!(
        granted(&s.request(at(1.1), RequestId(3), job("u", 1.0)).unwrap()).1,
        b
    );
    assert!(
        s.request(at(1.2), RequestId(4), job("u", 1.0))
            .unwrap()
            .is_empty()
    );
    assert_eq!(host(&s.snapshot(), a).leases, 0);
    // back up: the waiting request gets the drained host's slot
    let actions = s.up(at(2.0), a).unwrap();
    assert_eq!(grants(&actions), [(RequestId(4), grants(&actions)[0].1, a)]);
}

#[test]
fn nothing_usable_means_compile_locally_at_once() {
    let mut s = sched(Policy::EarliestFinish);
    let local = |actions: Vec<Action>| {
        assert_eq!(
            actions,
            [Action::CompileLocally {
                request: RequestId(1),
                reason: FarmRefusal::NoUsableHost
            }]
        );
    };
    local(s.request(at(0.0), RequestId(1), job("u", 1.0)).unwrap());
    let (a, _) = s.join(at(0.0), spec("a", 2, 1.0)).unwrap();
    s.drain(at(0.0), a).unwrap();
    local(s.request(at(0.0), RequestId(1), job("u", 1.0)).unwrap());
}

#[test]
fn missed_heartbeats_take_a_host_down_and_revoke_its_leases() {
    let mut s = sched(Policy::ListOrder); // heartbeat timeout 5 s
    let (a, _) = s.join(at(0.0), spec("a", 2, 1.0)).unwrap();
    let (b, _) = s.join(at(0.0), spec("b", 2, 1.0)).unwrap();
    let hb = Heartbeat {
        slots: 2,
        running: 0,
        load_avg: None,
        free_memory: None,
        calibration: None,
    };
    let (l1, _) = granted(&s.request(at(0.0), RequestId(1), job("u", 60.0)).unwrap());
    let (l2, _) = granted(&s.request(at(0.0), RequestId(2), job("u", 60.0)).unwrap());
    s.heartbeat(at(3.0), b, hb).unwrap();
    assert_eq!(s.next_deadline(), Some(at(5.0)));
    assert!(s.tick(at(4.9)).is_empty());
    let actions = s.tick(at(5.0));
    assert_eq!(
        actions,
        [
            Action::RetryElsewhere {
                request: RequestId(1),
                lease: l1,
                host: a
            },
            Action::RetryElsewhere {
                request: RequestId(2),
                lease: l2,
                host: a
            },
        ]
    );
    let snap = s.snapshot();
    assert_eq!(host(&snap, a).health, Health::Down);
    assert_eq!(
        host(&snap, a).down_reason,
        Some(DownReason::MissedHeartbeats)
    );
    assert_eq!(host(&snap, b).health, Health::Up);
    assert_eq!(s.next_deadline(), Some(at(8.0)));
    assert_eq!(
        s.release(at(5.0), l1, ok(5.0)),
        Err(SchedError::UnknownLease(l1))
    );
    // new work goes to b; a heartbeat brings a back on probation (one lease at a time)
    assert_eq!(
        granted(&s.request(at(5.1), RequestId(3), job("u", 1.0)).unwrap()).1,
        b
    );
    s.heartbeat(at(6.0), a, hb).unwrap();
    let snap = s.snapshot();
    assert_eq!(host(&snap, a).health, Health::Probation);
    assert_eq!(host(&snap, a).capacity, 1);
}

#[test]
fn compile_errors_never_count_transport_failures_do() {
    let mut s = quiet(Policy::ListOrder);
    let (a, _) = s.join(at(0.0), spec("a", 8, 1.0)).unwrap();
    let mut next = 0;
    let mut lease = |s: &mut Scheduler| {
        next += 1;
        granted(&s.request(at(0.0), RequestId(next), job("u", 1.0)).unwrap()).0
    };
    for _ in 0..10 {
        let l = lease(&mut s);
        s.release(at(0.0), l, outcome(0.1, JobEnd::CompileError))
            .unwrap();
    }
    assert_eq!(s.health(a), Some(Health::Up));
    // two transport failures, a success, two more: never three in a row
    for result in [
        JobEnd::Transport,
        JobEnd::Transport,
        JobEnd::Ok,
        JobEnd::Transport,
        JobEnd::Transport,
    ] {
        let l = lease(&mut s);
        s.release(at(0.0), l, outcome(1.0, result)).unwrap();
    }
    assert_eq!(s.health(a), Some(Health::Up));
    assert_eq!(host(&s.snapshot(), a).consecutive_failures, 2);
    let bystander = lease(&mut s);
    let l = lease(&mut s);
    let actions = s
        .release(at(0.0), l, outcome(1.0, JobEnd::Transport))
        .unwrap();
    assert_eq!(s.health(a), Some(Health::Down));
    assert_eq!(
        actions,
        [Action::RetryElsewhere {
            request: RequestId(next - 1),
            lease: bystander,
            host: a
        }]
    );
    let c = &s.snapshot().counters;
    assert_eq!((c.released_compile_error, c.released_transport), (10, 5));
}

#[test]
fn a_host_down_for_failures_recovers_through_probe_and_probation() {
    let mut s = quiet(Policy::ListOrder); // backoff 2 s doubling, 2 successes on probation
    let (a, _) = s.join(at(0.0), spec("a", 4, 1.0)).unwrap();
    // The user's jobs have succeeded before, so its failure reports are believed.
    for i in 100..103 {
        let (l, _) = granted(&s.request(at(0.0), RequestId(i), job("u", 1.0)).unwrap());
        s.release(at(0.5), l, ok(0.5)).unwrap();
    }
    for i in 0..3 {
        let (l, _) = granted(&s.request(at(0.0), RequestId(i), job("u", 1.0)).unwrap());
        s.release(at(1.0), l, outcome(1.0, JobEnd::Transport))
            .unwrap();
    }
    assert_eq!(s.health(a), Some(Health::Down));
    assert_eq!(s.next_deadline(), Some(at(3.0)));
    assert!(s.tick(at(2.9)).is_empty());
    assert_eq!(s.tick(at(3.0)), [Action::Probe { host: a }]);
    // the probe fails: back off twice as long
    s.probe_result(at(3.5), a, false).unwrap();
    assert_eq!(s.next_deadline(), Some(at(7.5)));
    assert_eq!(s.tick(at(7.5)), [Action::Probe { host: a }]);
    // unanswered: counts as failed after the probe timeout (10 s), then 8 s backoff
    assert!(s.tick(at(17.5)).is_empty());
    assert_eq!(s.next_deadline(), Some(at(25.5)));
    assert_eq!(s.tick(at(25.5)), [Action::Probe { host: a }]);
    s.probe_result(at(26.0), a, true).unwrap();
    assert_eq!(s.health(a), Some(Health::Probation));
    // on probation: one lease at a time, two successes to be trusted again
    let (l1, _) = granted(&s.request(at(26.0), RequestId(10), job("u", 1.0)).unwrap());
    assert!(
        s.request(at(26.0), RequestId(11), job("u", 1.0))
            .unwrap()
            .is_empty()
    );
    let (l2, _) = granted(&s.release(at(27.0), l1, ok(1.0)).unwrap());
    assert_eq!(s.health(a), Some(Health::Probation));
    s.release(at(28.0), l2, outcome(1.0, JobEnd::CompileError))
        .unwrap();
    assert_eq!(s.health(a), Some(Health::Up));
    assert_eq!(host(&s.snapshot(), a).capacity, 4);
}

#[test]
fn waiting_too_long_means_compile_locally() {
    let mut s = Scheduler::new(Config {
        policy: Policy::ListOrder,
        heartbeat_timeout: Duration::from_secs(3600),
        max_wait: Duration::from_secs(60),
        ..Config::default()
    })
    .unwrap();
    s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
    s.request(at(0.0), RequestId(1), job("u", 100.0)).unwrap();
    s.request(at(1.0), RequestId(2), job("u", 1.0)).unwrap();
    s.request(at(2.0), RequestId(3), job("u", 1.0)).unwrap();
    assert_eq!(s.next_deadline(), Some(at(61.0)));
    assert!(s.tick(at(60.9)).is_empty());
    assert_eq!(
        s.tick(at(61.0)),
        [Action::CompileLocally {
            request: RequestId(2),
            reason: FarmRefusal::WaitedTooLong
        }]
    );
    assert_eq!(s.next_deadline(), Some(at(62.0)));
    assert_eq!(s.snapshot().counters.local, 1);
}

#[test]
fn a_full_queue_sends_new_requests_home() {
    let mut s = Scheduler::new(Config {
        policy: Policy::ListOrder,
        max_queued: 2,
        ..Config::default()
    })
    .unwrap();
    s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
    for i in 0..3 {
        s.request(at(0.0), RequestId(i), job("u", 1.0)).unwrap();
    }
    assert_eq!(
        s.request(at(0.0), RequestId(3), job("u", 1.0)).unwrap(),
        [Action::CompileLocally {
            request: RequestId(3),
            reason: FarmRefusal::QueueFull
        }]
    );
    assert_eq!(s.snapshot().queued, 2);
}

#[test]
fn speed_learning_converges_to_the_measured_speed() {
    let mut s = quiet(Policy::EarliestFinish);
    let (a, _) = s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
    let mut t = 0.0;
    for i in 0..30 {
        // 2 s of work that really takes 4 s: the host is half as fast as configured
        let (l, _) = granted(&s.request(at(t), RequestId(i), job("u", 2.0)).unwrap());
        t += 4.0;
        s.release(at(t), l, ok(4.0)).unwrap();
    }
    let snap = s.snapshot();
    let speed = host(&snap, a).speed;
    assert!((speed - 0.5).abs() < 0.01, "learned {speed}");
    assert_eq!(host(&snap, a).samples, 30);
    // and predictions use it
    let (l, _) = granted(&s.request(at(t), RequestId(99), job("u", 2.0)).unwrap());
    let info = s.lease(l).unwrap();
    let predicted = (info.expected_end.0 - info.granted_at.0) as f64 / 1e6;
    assert!((predicted - 4.0).abs() < 0.1, "{predicted}");
}

#[test]
fn size_based_predictions_converge_without_previous_durations() {
    let mut s = quiet(Policy::EarliestFinish);
    s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
    let sized = || JobInfo {
        compiler: None,
        avoid: Vec::new(),
        user: "u".into(),
        size_bytes: 1_000_000,
        previous: None,
        local: None,
    };
    let mut t = 0.0;
    let mut predicted = 0.0;
    for i in 0..60 {
        let (l, _) = granted(&s.request(at(t), RequestId(i), sized()).unwrap());
        let info = s.lease(l).unwrap();
        predicted = (info.expected_end.0 - info.granted_at.0) as f64 / 1e6;
        t += 3.0;
        s.release(at(t), l, ok(3.0)).unwrap();
    }
    assert!((predicted - 3.0).abs() < 0.15, "{predicted}");
}

/// Files that share 56 KB of headers costing nothing (the benchmark harness's padded
/// sources): work per byte grows with size, and the size model fits a line, so a big file
/// is predicted near its cost rather than at the typical file's work per byte.
#[test]
fn size_predictions_fit_a_base_shared_by_every_file() {
    let mut s = quiet(Policy::EarliestFinish);
    s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
    let size = |secs: f64| 56_000 + (secs * 104_000.0) as u64;
    let sized = |secs: f64| JobInfo {
        compiler: None,
        avoid: Vec::new(),
        user: "u".into(),
        size_bytes: size(secs),
        previous: None,
        local: None,
    };
    let predicted = |s: &Scheduler, l: LeaseId| {
        let info = s.lease(l).unwrap();
        (info.expected_end.0 - info.granted_at.0) as f64 / 1e6
    };
    let mut t = 0.0;
    for i in 0..80 {
        let secs = [0.1, 0.2, 0.3, 0.5, 0.8][i % 5];
        let (l, _) = granted(&s.request(at(t), RequestId(i as u64), sized(secs)).unwrap());
        t += secs;
        s.release(at(t), l, ok(secs)).unwrap();
    }
    // Work is learned in the speeds' units, whatever their scale; where the line meets
    // zero work is the headers' size.
    let (base, per_byte) = s.snapshot().size_line.expect("sizes differ: a line");
    let free_bytes = -base / per_byte;
    assert!((free_bytes - 56_000.0).abs() < 3_000.0, "{free_bytes}");
    // Work per byte at the typical file (0.38 s) would put a 2.6 s file at 1.2 s.
    let (l, _) = granted(&s.request(at(t), RequestId(100), sized(2.6)).unwrap());
    let big = predicted(&s, l);
    assert!((big - 2.6).abs() < 0.2, "{big}");
}

#[test]
fn a_slow_host_gets_a_job_only_when_that_beats_waiting() {
    let mut s = quiet(Policy::EarliestFinish);
    let (fast, slow, l1) = fast_busy_slow_free(&mut s, 10.0);
    // 10 s of work: 40 s on the slow host now, 20 s by waiting for the fast one
    assert!(
        s.request(at(0.0), RequestId(2), job("u", 10.0))
            .unwrap()
            .is_empty()
    );
    // It may wait until the fast host is expected to free (10 s) or, if that is later,
    // until half the 30 s the fast host saves it has passed (15 s).
    let waiting = s.queued();
    assert_eq!(waiting[0].wait_until, Some(at(15.0)));
    assert_eq!(s.next_deadline(), Some(at(15.0)));
    // 1 s of work: 4 s on the slow host beats 21 s behind the waiting job
    let (l3, h3) = granted(&s.request(at(0.0), RequestId(3), job("u", 1.0)).unwrap());
    assert_eq!(h3, slow);
    // the slow host frees up: still not worth it for the big job
    assert!(s.release(at(4.0), l3, ok(4.0)).unwrap().is_empty());
    // the fast host frees as expected: the big job goes there
    let actions = s.release(at(10.0), l1, ok(10.0)).unwrap();
    assert_eq!(grants(&actions)[0].0, RequestId(2));
    assert_eq!(grants(&actions)[0].2, fast);
}

/// Learned speeds come out in the cost model's units, here half and a quarter of the
/// weights (both 1, as in a farm configured without weights). A host that joins then, of the
/// same weight, is valued at its weight times the farm's scale (0.375), not at its raw
/// weight (1.0, which looked twice as fast as the fastest measured host): a big job goes to
/// the measured fast host, and the newcomer's first job is blended with the scaled seed.
/// Through the host index and through a placement shown every host alike.
#[test]
fn an_untried_host_is_valued_at_the_farm_s_scale_not_its_raw_weight() {
    for mut s in both_paths(quiet_config(Policy::EarliestFinish)) {
        let (a, _) = s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
        let (b, _) = s.join(at(0.0), spec("b", 1, 1.0)).unwrap();
        let mut t = 0.0;
        for round in 0..30 {
            // `a` does 1 s of work in 2 s, `b` half as much in as long: a speed of 0.5 and of
            // 0.25 (and `b` beats waiting for `a`, so each takes one).
            let (la, ha) = granted(
                &s.request(at(t), RequestId(2 * round), job("u", 1.0))
                    .unwrap(),
            );
            let (lb, hb) = granted(
                &s.request(at(t), RequestId(2 * round + 1), job("u", 0.5))
                    .unwrap(),
            );
            assert_eq!((ha, hb), (a, b));
            s.release(at(t + 2.0), la, ok(2.0)).unwrap();
            s.release(at(t + 2.0), lb, ok(2.0)).unwrap();
            t += 2.0;
        }
        let (c, _) = s.join(at(t), spec("c", 1, 1.0)).unwrap();
        let snap = s.snapshot();
        let speed = |id| host(&snap, id).speed;
        assert!((speed(a) - 0.5).abs() < 0.01, "{}", speed(a));
        assert!((speed(b) - 0.25).abs() < 0.01, "{}", speed(b));
        assert!(
            (snap.speed_scale - 0.375).abs() < 0.01,
            "{}",
            snap.speed_scale
        );
        assert_eq!(speed(c), snap.speed_scale, "shown as placed");

        // 4 s of work: 8 s on `a`, and `c` is no faster as far as anyone knows.
        let (_, h) = granted(&s.request(at(t), RequestId(100), job("u", 4.0)).unwrap());
        assert_eq!(h, a, "the untried host looked faster than the measured one");
        let (lc, h) = granted(&s.request(at(t), RequestId(101), job("u", 1.0)).unwrap());
        assert_eq!(h, c);
        // `c` is as slow as `b`: 1 s of work in 4 s. Blended with the scaled seed (0.375,
        // as one job of 1 s) that is 1.375 / 5; with the raw weight it was 2 / 5.
        s.release(at(t + 4.0), lc, ok(4.0)).unwrap();
        let learned = host(&s.snapshot(), c).speed;
        assert!((learned - 0.275).abs() < 0.005, "{learned}");
        s.check_invariants().unwrap();
    }
}

/// A fast host busy for 1 s and a free host four times slower. A 0.4 s job waits for the
/// fast host (1.4 s against 1.6 s on the slow one), a 10 s job waits behind it; then a 1 s
/// job finds the fast host taken until 11.4 s and would take the slow host (4 s). Trading
/// places with the 0.4 s job finishes both sooner (slow host 1.6 s, fast host 2 s): the
/// short job runs on the slow host at once and the 1 s job waits for the fast one. Through
/// the host index and through a placement shown every host alike. Three users, so that
/// fair order, not "biggest first" within a user, sets the order in which they choose.
#[test]
fn a_long_job_trades_the_slow_slot_for_a_shorter_job_s_wait() {
    for mut s in both_paths(quiet_config(Policy::EarliestFinish)) {
        let (_, slow, _) = fast_busy_slow_free(&mut s, 1.0);
        assert!(
            s.request(at(0.0), RequestId(2), job("a", 0.4))
                .unwrap()
                .is_empty()
        );
        assert!(
            s.request(at(0.0), RequestId(3), job("b", 10.0))
                .unwrap()
                .is_empty()
        );
        let actions = s.request(at(0.0), RequestId(4), job("c", 1.0)).unwrap();
        assert_eq!(grants(&actions).len(), 1, "{actions:?}");
        assert_eq!(grants(&actions)[0].0, RequestId(2), "{actions:?}");
        assert_eq!(grants(&actions)[0].2, slow);
        let waiting = s.queued();
        let promise = |id| waiting.iter().find(|q| q.id == id).unwrap().wait_until;
        // Each waits for the fast host (free at 1 s, then at 1.4 s), at most until half the
        // time it saves there has passed: 1.5 s of 3 s, 15 s of 30 s.
        assert_eq!(
            promise(RequestId(4)),
            Some(at(1.5)),
            "it waits for the fast host"
        );
        assert_eq!(promise(RequestId(3)), Some(at(15.0)));
        s.check_invariants().unwrap();
    }
}

/// Both hosts busy, the slow one with a 0.2 s job (granted at once, it runs long in the
/// tests), the fast one until 1 s; then two requests `(user, cost)`, ids 3 and 4, that wait
/// for the fast host. Returns the hosts and the two busy leases.
fn both_busy_two_waiting(
    s: &mut Scheduler,
    waiting: [(&str, f64); 2],
) -> (HostId, HostId, LeaseId, LeaseId) {
    let (fast, slow, l1) = fast_busy_slow_free(s, 1.0);
    let (l2, h2) = granted(&s.request(at(0.0), RequestId(2), job("u", 0.2)).unwrap());
    assert_eq!(h2, slow);
    for (id, (user, cost)) in (3..).zip(waiting) {
        assert!(
            s.request(at(0.0), RequestId(id), job(user, cost))
                .unwrap()
                .is_empty()
        );
    }
    (fast, slow, l1, l2)
}

/// One user's small job asked before its big one, both waiting for the busy fast host.
/// When it frees, the big job gets it (biggest first within a user); the small one is
/// better off on the slow host than the big one would be, and takes it when it frees.
/// Through both placement paths.
#[test]
fn a_user_s_biggest_waiting_job_takes_the_fast_slot_first() {
    for mut s in both_paths(quiet_config(Policy::EarliestFinish)) {
        let (fast, slow, l1, l2) = both_busy_two_waiting(&mut s, [("u", 0.3), ("u", 2.0)]);
        let actions = s.release(at(1.0), l1, ok(1.0)).unwrap();
        assert_eq!(
            grants(&actions)
                .iter()
                .map(|&(r, _, h)| (r, h))
                .collect::<Vec<_>>(),
            [(RequestId(4), fast)],
            "{actions:?}"
        );
        // The slow host frees: the small job takes it rather than wait 2 s for the fast one.
        let actions = s.release(at(2.0), l2, ok(0.8)).unwrap();
        assert_eq!(grants(&actions)[0].0, RequestId(3), "{actions:?}");
        assert_eq!(grants(&actions)[0].2, slow);
        s.check_invariants().unwrap();
    }
}

/// Biggest first never moves one user ahead of another: the same jobs from two users, the
/// small one's user first in fair order, and the fast host goes to the small job.
#[test]
fn biggest_first_keeps_fair_order_between_users() {
    for mut s in both_paths(quiet_config(Policy::EarliestFinish)) {
        let (fast, _, l1, _) = both_busy_two_waiting(&mut s, [("a", 0.3), ("b", 2.0)]);
        let actions = s.release(at(1.0), l1, ok(1.0)).unwrap();
        assert_eq!(grants(&actions)[0].0, RequestId(3), "{actions:?}");
        assert_eq!(grants(&actions)[0].2, fast);
        s.check_invariants().unwrap();
    }
}

/// With a queue deeper than the lookahead, a pass that ran out of lookahead is followed by
/// passes in which nobody declines a free slot, until the queue is no deeper than the
/// lookahead; then requests wait for faster hosts again.
#[test]
fn a_saturated_farm_skips_waiting_until_the_queue_is_short() {
    let policy = Policy::EarliestFinish;
    let config = Config {
        max_lookahead: 1,
        ..quiet_config(policy)
    };
    for mut s in both_paths(config) {
        let (_, slow, l1) = fast_busy_slow_free(&mut s, 1.0);
        // 4 s on the slow host against 2 s behind the fast one: request 2 waits...
        assert!(
            s.request(at(0.0), RequestId(2), job("u", 1.0))
                .unwrap()
                .is_empty()
        );
        // ... and, the lookahead spent on it, request 3 takes the slow slot.
        let (l3, h3) = granted(&s.request(at(0.0), RequestId(3), job("u", 1.0)).unwrap());
        assert_eq!(h3, slow);
        for id in [4, 5] {
            assert!(
                s.request(at(0.0), RequestId(id), job("u", 1.0))
                    .unwrap()
                    .is_empty()
            );
        }
        // Three wait. The slow slot frees: the first in line takes it, where a pass with
        // waiting would have had it wait again and given the slot to request 4.
        let actions = s.client_gone(at(0.5), l3).unwrap();
        assert_eq!(grants(&actions).len(), 1, "{actions:?}");
        let (r2, l2, h2) = grants(&actions)[0];
        assert_eq!((r2, h2), (RequestId(2), slow));
        // The fast slot frees; request 4 takes it and only request 5 is left.
        let actions = s.release(at(1.0), l1, ok(1.0)).unwrap();
        assert_eq!(grants(&actions).len(), 1, "{actions:?}");
        assert_eq!(grants(&actions)[0].0, RequestId(4), "{actions:?}");
        // A queue no deeper than the lookahead: request 5 waits for the fast host (free at
        // 2 s, done at 3 s) rather than take the slow one (done at 5.2 s), at most until
        // half the 3 s the fast host saves it has passed.
        let actions = s.client_gone(at(1.2), l2).unwrap();
        assert!(grants(&actions).is_empty(), "{actions:?}");
        let waiting = s.queued();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].wait_until, Some(at(2.7)));
        s.check_invariants().unwrap();
    }
}

#[test]
fn a_request_waits_for_a_late_host_at_most_half_of_what_it_saves() {
    let mut s = quiet(Policy::EarliestFinish);
    let (fast, slow, _) = fast_busy_slow_free(&mut s, 10.0);
    assert!(
        s.request(at(0.0), RequestId(2), job("u", 10.0))
            .unwrap()
            .is_empty()
    );
    // The fast host's job overruns. The waiting job would save 30 s there (10 s against
    // 40 s): it waits on until 15 s, then takes the slow host.
    assert!(s.tick(at(10.0)).is_empty());
    assert!(s.tick(at(14.99)).is_empty());
    let (_, h) = granted(&s.tick(at(15.0)));
    assert_eq!(h, slow);
    assert_ne!(h, fast);
}

#[test]
fn stragglers_are_speculated_and_the_first_result_wins() {
    for winner_is_new in [true, false] {
        let mut s = quiet(Policy::EarliestFinish);
        let (fast, _) = s.join(at(0.0), spec("fast", 1, 1.0)).unwrap();
        let (slow, _) = s.join(at(0.0), spec("slow", 1, 0.4)).unwrap();
        granted(&s.request(at(0.0), RequestId(1), job("u", 20.0)).unwrap());
        // 6 s of work: 15 s on the slow host beats 26 s behind the fast one
        let (orig, h) = granted(&s.request(at(0.0), RequestId(2), job("u", 6.0)).unwrap());
        assert_eq!(h, slow);
        // the fast host frees early (its client died), nothing waits: 13 s left on the slow
        // host > 1.5 × 6 s on the fast one
        let actions = s.client_gone(at(2.0), RequestId(1)).unwrap();
        let [
            Action::Speculate {
                request,
                original_lease,
                new_lease,
                host,
            },
        ] = actions[..]
        else {
            panic!("{actions:?}")
        };
        assert_eq!((request, original_lease, host), (RequestId(2), orig, fast));
        assert_eq!(s.lease(orig).unwrap().twin, Some(new_lease));
        let (win, lose, lose_host) = if winner_is_new {
            (new_lease, orig, slow)
        } else {
            (orig, new_lease, fast)
        };
        let actions = s.release(at(8.0), win, ok(6.0)).unwrap();
        assert_eq!(
            actions,
            [Action::Cancel {
                request: RequestId(2),
                lease: lose,
                host: lose_host
            }]
        );
        assert_eq!(s.snapshot().leases, 0);
        assert_eq!(
            s.release(at(9.0), lose, ok(1.0)),
            Err(SchedError::UnknownLease(lose))
        );
        assert_eq!(s.snapshot().counters.speculations, 1);
        assert_eq!(s.snapshot().counters.cancels, 1);
    }
}

#[test]
fn a_failed_twin_leaves_the_original_running() {
    let mut s = quiet(Policy::EarliestFinish);
    s.join(at(0.0), spec("fast", 1, 1.0)).unwrap();
    s.join(at(0.0), spec("slow", 1, 0.4)).unwrap();
    granted(&s.request(at(0.0), RequestId(1), job("u", 20.0)).unwrap());
    let (orig, _) = granted(&s.request(at(0.0), RequestId(2), job("u", 6.0)).unwrap());
    let actions = s.client_gone(at(2.0), RequestId(1)).unwrap();
    let Action::Speculate { new_lease, .. } = actions[0] else {
        panic!("{actions:?}")
    };
    let actions = s
        .release(at(3.0), new_lease, outcome(1.0, JobEnd::Transport))
        .unwrap();
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Cancel { .. })),
        "{actions:?}"
    );
    assert!(s.lease(orig).is_some());
    s.check_invariants().unwrap();
}

#[test]
fn a_declined_speculative_copy_frees_its_slot_and_is_not_offered_again() {
    let mut s = quiet(Policy::EarliestFinish);
    let (fast, _) = s.join(at(0.0), spec("fast", 1, 1.0)).unwrap();
    let (slow, _) = s.join(at(0.0), spec("slow", 1, 0.4)).unwrap();
    granted(&s.request(at(0.0), RequestId(1), job("u", 20.0)).unwrap());
    let (orig, h) = granted(&s.request(at(0.0), RequestId(2), job("u", 6.0)).unwrap());
    assert_eq!(h, slow);
    let actions = s.client_gone(at(2.0), RequestId(1)).unwrap();
    let [Action::Speculate { new_lease, .. }] = actions[..] else {
        panic!("{actions:?}")
    };
    // The holder runs one copy only: it declines. No new offer, and the original keeps
    // running where it is.
    assert_eq!(s.decline(at(2.1), new_lease).unwrap(), []);
    assert_eq!(s.lease(orig).unwrap().twin, None);
    assert_eq!(s.snapshot().leases, 1);
    assert!(s.tick(at(3.0)).is_empty());
    // The fast host's slot is free for the next request.
    let (_, h) = granted(&s.request(at(3.0), RequestId(3), job("u", 1.0)).unwrap());
    assert_eq!(h, fast);
    // The original finishes normally.
    s.release(at(15.0), orig, ok(15.0)).unwrap();
    assert_eq!(
        s.decline(at(15.0), new_lease),
        Err(SchedError::UnknownLease(new_lease))
    );
    s.check_invariants().unwrap();
}

#[test]
fn no_speculation_while_requests_wait_or_with_other_policies() {
    // ListOrder never speculates
    let mut s = quiet(Policy::ListOrder);
    s.join(at(0.0), spec("fast", 1, 1.0)).unwrap();
    s.join(at(0.0), spec("slow", 1, 0.1)).unwrap();
    granted(&s.request(at(0.0), RequestId(1), job("u", 20.0)).unwrap());
    granted(&s.request(at(0.0), RequestId(2), job("u", 20.0)).unwrap());
    assert!(s.client_gone(at(1.0), RequestId(1)).unwrap().is_empty());
    assert_eq!(s.snapshot().counters.speculations, 0);
}

#[test]
fn fairness_a_small_build_is_not_starved_by_a_big_one() {
    for policy in Policy::ALL {
        let mut s = quiet(policy);
        s.join(at(0.0), spec("a", 8, 1.0)).unwrap();
        s.join(at(0.0), spec("b", 8, 1.0)).unwrap();
        // the farm is full
        let mut busy = Vec::new();
        for i in 0..16 {
            busy.push(granted(&s.request(at(0.0), RequestId(i), job("carol", 5.0)).unwrap()).0);
        }
        // ann queues 200 jobs, then bob 8
        for i in 0..200 {
            assert!(
                s.request(at(0.1), RequestId(100 + i), job("ann", 5.0))
                    .unwrap()
                    .is_empty()
            );
        }
        for i in 0..8 {
            assert!(
                s.request(at(0.2), RequestId(1000 + i), job("bob", 5.0))
                    .unwrap()
                    .is_empty()
            );
        }
        // the farm frees up
        let mut order = Vec::new();
        for (k, lease) in busy.into_iter().enumerate() {
            let actions = s
                .release(at(5.0 + k as f64 * 0.01), lease, ok(5.0))
                .unwrap();
            order.extend(grants(&actions).into_iter().map(|g| g.0.0));
        }
        assert_eq!(order.len(), 16, "{policy}");
        let bob = order.iter().filter(|&&r| r >= 1000).count();
        assert_eq!(bob, 8, "{policy}: {order:?}");
        let snap = s.snapshot();
        let queued: Vec<_> = snap
            .users
            .iter()
            .map(|u| (u.name.as_str(), u.queued))
            .collect();
        assert_eq!(queued, [("carol", 0), ("ann", 192), ("bob", 0)], "{policy}");
    }
}

#[test]
fn user_weights_share_the_farm_proportionally() {
    let mut s = quiet(Policy::ListOrder);
    s.set_user_weight("ann", 2.0).unwrap();
    assert_eq!(
        s.set_user_weight("x", 0.0),
        Err(SchedError::InvalidWeight(0.0))
    );
    s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
    let (mut lease, _) = granted(&s.request(at(0.0), RequestId(0), job("carol", 1.0)).unwrap());
    for i in 0..30 {
        s.request(at(0.1), RequestId(100 + i), job("ann", 1.0))
            .unwrap();
        s.request(at(0.1), RequestId(200 + i), job("bob", 1.0))
            .unwrap();
    }
    let mut ann = 0;
    for k in 0..30 {
        let (r, l, _) = grants(&s.release(at(1.0 + f64::from(k)), lease, ok(1.0)).unwrap())[0];
        ann += usize::from(r.0 < 200);
        lease = l;
    }
    assert_eq!(ann, 20);
}

#[test]
fn leaving_revokes_and_rejoining_keeps_the_learned_speed() {
    let mut s = quiet(Policy::ListOrder);
    let (a, _) = s.join(at(0.0), spec("a", 2, 1.0)).unwrap();
    let (l, _) = granted(&s.request(at(0.0), RequestId(1), job("u", 1.0)).unwrap());
    s.release(at(4.0), l, ok(4.0)).unwrap();
    let learned = host(&s.snapshot(), a).speed;
    assert!(learned < 1.0);
    let (l, _) = granted(&s.request(at(4.0), RequestId(2), job("u", 1.0)).unwrap());
    assert_eq!(
        s.leave(at(5.0), a).unwrap(),
        [Action::RetryElsewhere {
            request: RequestId(2),
            lease: l,
            host: a
        }]
    );
    assert_eq!(host(&s.snapshot(), a).down_reason, Some(DownReason::Left));
    let (again, _) = s.join(at(6.0), spec("a", 2, 1.0)).unwrap();
    assert_eq!(again, a);
    let snap = s.snapshot();
    assert_eq!(host(&snap, a).health, Health::Probation);
    assert_eq!(host(&snap, a).speed, learned);
}

#[test]
fn admin_down_revokes_and_only_admin_up_restores() {
    let mut s = quiet(Policy::ListOrder);
    let (a, _) = s.join(at(0.0), spec("a", 2, 1.0)).unwrap();
    let (l, _) = granted(&s.request(at(0.0), RequestId(1), job("u", 1.0)).unwrap());
    let actions = s.down(at(1.0), a).unwrap();
    assert_eq!(
        actions,
        [Action::RetryElsewhere {
            request: RequestId(1),
            lease: l,
            host: a
        }]
    );
    let hb = Heartbeat {
        slots: 2,
        running: 0,
        load_avg: None,
        free_memory: None,
        calibration: None,
    };
    s.heartbeat(at(2.0), a, hb).unwrap();
    s.probe_result(at(2.0), a, true).unwrap();
    assert_eq!(host(&s.snapshot(), a).down_reason, Some(DownReason::Admin));
    s.up(at(3.0), a).unwrap();
    assert_eq!(s.health(a), Some(Health::Up));
}

#[test]
fn static_hosts_are_probed_periodically() {
    let mut s = quiet(Policy::ListOrder); // probe every 30 s, 10 s timeout
    let (d, actions) = s.add(at(0.0), spec("distccd", 2, 0.5)).unwrap();
    assert_eq!(actions, [Action::Probe { host: d }]);
    assert_eq!(s.health(d), Some(Health::Probation));
    s.probe_result(at(0.1), d, true).unwrap();
    assert_eq!(s.next_deadline(), Some(at(30.1)));
    assert_eq!(s.tick(at(30.1)), [Action::Probe { host: d }]);
    s.probe_result(at(30.2), d, true).unwrap();
    assert_eq!(s.health(d), Some(Health::Up));
    assert_eq!(s.snapshot().hosts[0].kind, HostKind::Static);
    // silence is no reason to take a static host down; unanswered probes are
    assert!(s.tick(at(60.2)).contains(&Action::Probe { host: d }));
    assert!(s.tick(at(70.2)).is_empty());
    assert_eq!(host(&s.snapshot(), d).consecutive_failures, 1);
    assert_eq!(
        s.add(at(71.0), spec("distccd", 1, 1.0)),
        Err(SchedError::DuplicateHost("distccd".into()))
    );
}

#[test]
fn foreign_jobs_and_low_memory_reduce_capacity() {
    let mut s = Scheduler::new(Config {
        policy: Policy::ListOrder,
        min_free_memory: 1 << 30,
        ..Config::default()
    })
    .unwrap();
    let (a, _) = s.join(at(0.0), spec("a", 4, 1.0)).unwrap();
    let mut hb = Heartbeat {
        slots: 4,
        running: 3,
        load_avg: Some(3.0),
        free_memory: Some(8 << 30),
        calibration: None,
    };
    s.heartbeat(at(0.0), a, hb).unwrap();
    assert_eq!(host(&s.snapshot(), a).capacity, 1);
    hb.running = 0;
    hb.free_memory = Some(1 << 20);
    s.heartbeat(at(0.0), a, hb).unwrap();
    assert_eq!(host(&s.snapshot(), a).capacity, 0);
    assert!(
        s.request(at(0.0), RequestId(1), job("u", 1.0))
            .unwrap()
            .is_empty()
    );
    hb.free_memory = Some(2 << 30);
    assert_eq!(grants(&s.heartbeat(at(1.0), a, hb).unwrap()).len(), 1);
}

#[test]
fn invalid_operations_are_typed_errors_and_change_nothing() {
    let mut s = sched(Policy::EarliestFinish);
    let ghost = HostId(42);
    assert_eq!(s.drain(at(0.0), ghost), Err(SchedError::UnknownHost(ghost)));
    assert_eq!(
        s.remove(at(0.0), ghost),
        Err(SchedError::UnknownHost(ghost))
    );
    assert_eq!(s.up(at(0.0), ghost), Err(SchedError::UnknownHost(ghost)));
    assert_eq!(s.down(at(0.0), ghost), Err(SchedError::UnknownHost(ghost)));
    assert_eq!(s.leave(at(0.0), ghost), Err(SchedError::UnknownHost(ghost)));
    assert_eq!(
        s.probe_result(at(0.0), ghost, true),
        Err(SchedError::UnknownHost(ghost))
    );
    assert_eq!(
        s.join(at(0.0), spec("", 1, 1.0)),
        Err(SchedError::EmptyHostName)
    );
    assert_eq!(
        s.join(at(0.0), spec("a", 1, -1.0)),
        Err(SchedError::InvalidWeight(-1.0))
    );
    assert_eq!(
        s.release(at(0.0), LeaseId(7), ok(1.0)),
        Err(SchedError::UnknownLease(LeaseId(7)))
    );
    assert_eq!(
        s.client_gone(at(0.0), LeaseId(7)),
        Err(SchedError::UnknownLease(LeaseId(7)))
    );
    let (a, _) = s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
    s.request(at(0.0), RequestId(1), job("u", 1.0)).unwrap();
    assert_eq!(
        s.request(at(0.0), RequestId(1), job("u", 1.0)),
        Err(SchedError::DuplicateRequest(RequestId(1)))
    );
    assert_eq!(s.snapshot().counters.requests, 1);
    // removing a host revokes its leases and forgets its name
    assert_eq!(s.remove(at(1.0), a).unwrap().len(), 1);
    assert_eq!(s.host_id("a"), None);
    assert!(
        Scheduler::new(Config {
            probe_timeout: Duration::ZERO,
            ..Config::default()
        })
        .is_err()
    );
}

#[test]
fn time_never_runs_backwards() {
    let mut s = sched(Policy::ListOrder);
    s.join(at(10.0), spec("a", 1, 1.0)).unwrap();
    s.tick(at(3.0));
    assert_eq!(s.now(), at(10.0));
    assert_eq!(s.snapshot().now, at(10.0));
}

#[test]
fn deadlines_after_a_tick_are_in_the_future() {
    let mut s = sched(Policy::EarliestFinish);
    let (a, _) = s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
    s.join(at(0.0), spec("b", 1, 0.25)).unwrap();
    s.add(at(0.0), spec("c", 1, 0.5)).unwrap();
    s.request(at(0.0), RequestId(1), job("u", 10.0)).unwrap();
    s.request(at(0.0), RequestId(2), job("u", 10.0)).unwrap();
    let mut now = at(0.0);
    for _ in 0..50 {
        let Some(next) = s.next_deadline() else { break };
        assert!(next > now || now == at(0.0), "{next} <= {now}");
        now = next;
        s.tick(now);
        assert!(s.next_deadline().is_none_or(|d| d > now));
    }
    assert_eq!(s.health(a), Some(Health::Down));
}

#[test]
fn a_deep_queue_stops_declining_free_slots() {
    let mut s = Scheduler::new(Config {
        policy: Policy::EarliestFinish,
        heartbeat_timeout: Duration::from_secs(3600),
        max_lookahead: 1,
        ..Config::default()
    })
    .unwrap();
    let (_, slow, _) = fast_busy_slow_free(&mut s, 10.0);
    // the first big job waits for the fast host; the second would too, but the lookahead is
    // spent, so it takes the slow host
    assert!(
        s.request(at(0.0), RequestId(2), job("u", 10.0))
            .unwrap()
            .is_empty()
    );
    let (_, h) = granted(&s.request(at(0.0), RequestId(3), job("u", 10.0)).unwrap());
    assert_eq!(h, slow);
}

#[test]
fn jobs_of_unknown_cost_teach_relative_speeds_not_absolute_ones() {
    let mut s = quiet(Policy::ListOrder);
    let (a, _) = s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
    let (b, _) = s.join(at(0.0), spec("b", 1, 1.0)).unwrap();
    // A dozen trivial warm-up jobs, all on `a`: they say nothing about its speed.
    let mut t = 0.0;
    for i in 0..12 {
        let (lease, h) = granted(&s.request(at(t), RequestId(i), unknown("u")).unwrap());
        assert_eq!(h, a);
        t += 0.005;
        s.release(at(t), lease, ok(0.005)).unwrap();
    }
    let speed = |s: &Scheduler, h| host(&s.snapshot(), h).speed;
    assert!(
        (0.5..2.0).contains(&speed(&s, a)),
        "trivial jobs made `a` look {}× as fast as an untried host",
        speed(&s, a) / speed(&s, b)
    );
    // Then real jobs: `b` takes four times as long for the same (unknown) work.
    for round in 0..40u64 {
        let (la, ha) = granted(
            &s.request(at(t), RequestId(100 + 2 * round), unknown("u"))
                .unwrap(),
        );
        let (lb, hb) = granted(
            &s.request(at(t), RequestId(101 + 2 * round), unknown("u"))
                .unwrap(),
        );
        assert_eq!((ha, hb), (a, b));
        let cost = 0.1 + 0.05 * (round % 7) as f64;
        s.release(at(t + cost), la, ok(cost)).unwrap();
        s.release(at(t + 4.0 * cost), lb, ok(4.0 * cost)).unwrap();
        t += 4.0 * cost;
    }
    let ratio = speed(&s, a) / speed(&s, b);
    assert!(
        (2.5..6.0).contains(&ratio),
        "learned a/b speed ratio {ratio}"
    );
    // The scale stays that of the weights (1 = reference), not 1 / seconds.
    assert!(speed(&s, a) < 4.0 && speed(&s, b) > 0.1, "{}", speed(&s, a));
    s.check_invariants().unwrap();
}

#[test]
fn a_size_sent_after_the_request_re_estimates_it_and_teaches_the_size_model() {
    let mut s = quiet(Policy::EarliestFinish);
    let (a, _) = s.join(at(0.0), spec("a", 1, 1.0)).unwrap();
    let (busy, _) = granted(&s.request(at(0.0), RequestId(1), unknown("u")).unwrap());
    // Queued without a cost signal, then its size arrives: 3 MB at the initial 1 µs/byte.
    assert!(
        s.request(at(0.1), RequestId(2), unknown("u"))
            .unwrap()
            .is_empty()
    );
    assert!(
        s.set_size(at(0.2), RequestId(2), 3_000_000)
            .unwrap()
            .is_empty()
    );
    let queued = s.queued();
    assert!((queued[0].cost - 3.0).abs() < 1e-9, "{queued:?}");
    // The running one learns its size too; released, it teaches the size model
    // (2 MB in 4 s on a speed-1 host: 2 µs/byte, up from 1).
    assert!(
        s.set_size(at(0.3), RequestId(1), 2_000_000)
            .unwrap()
            .is_empty()
    );
    let next = s.release(at(4.0), busy, ok(4.0)).unwrap();
    assert_eq!(grants(&next)[0].2, a);
    let learned = s.snapshot().secs_per_byte;
    assert!(learned > 1.2e-6, "moved towards 2 µs/byte: {learned}");
    assert_eq!(
        s.set_size(at(5.0), RequestId(9), 1),
        Err(SchedError::UnknownRequest(RequestId(9)))
    );
    s.check_invariants().unwrap();
}

fn with_grace(secs: u64) -> Scheduler {
    Scheduler::new(Config {
        policy: Policy::EarliestFinish,
        startup_grace: Duration::from_secs(secs),
        ..Config::default()
    })
    .unwrap()
}

#[test]
fn a_request_before_any_server_waits_through_the_startup_grace_for_one() {
    let mut s = with_grace(10);
    assert!(
        s.request(at(0.5), RequestId(1), job("u", 1.0))
            .unwrap()
            .is_empty(),
        "held, not sent home"
    );
    assert_eq!(
        s.next_deadline(),
        Some(at(10.5)),
        "the grace runs from start"
    );
    assert!(s.tick(at(3.0)).is_empty());
    let (a, actions) = s.join(at(4.0), spec("a", 2, 1.0)).unwrap();
    assert_eq!(grants(&actions), [(RequestId(1), grants(&actions)[0].1, a)]);
}

#[test]
fn once_the_startup_grace_is_over_a_held_request_compiles_locally() {
    let mut s = with_grace(10);
    assert!(
        s.request(at(0.0), RequestId(1), job("u", 1.0))
            .unwrap()
            .is_empty()
    );
    assert!(
        s.request(at(1.0), RequestId(2), job("u", 1.0))
            .unwrap()
            .is_empty()
    );
    // A client that leaves while held is forgotten.
    s.client_gone(at(2.0), RequestId(2)).unwrap();
    assert_eq!(
        s.tick(at(10.0)),
        [Action::CompileLocally {
            request: RequestId(1),
            reason: FarmRefusal::NoUsableHost
        }]
    );
    assert_eq!(s.next_deadline(), None);
    // After the grace, nothing usable is answered at once again.
    assert_eq!(
        s.request(at(11.0), RequestId(3), job("u", 1.0)).unwrap(),
        [Action::CompileLocally {
            request: RequestId(3),
            reason: FarmRefusal::NoUsableHost
        }]
    );
    s.check_invariants().unwrap();
}

#[test]
fn a_client_that_only_ever_reports_failures_cannot_take_hosts_down() {
    let mut s = sched(Policy::ListOrder);
    let (a, _) = s.join(at(0.0), spec("a", 4, 1.0)).unwrap();
    let mut next = 0;
    let mut lease = |s: &mut Scheduler, user: &str| {
        next += 1;
        granted(&s.request(at(0.0), RequestId(next), job(user, 1.0)).unwrap()).0
    };
    for _ in 0..20 {
        let l = lease(&mut s, "downer");
        s.release(at(0.1), l, outcome(0.1, JobEnd::Transport))
            .unwrap();
    }
    assert_eq!(s.health(a), Some(Health::Up));
    assert_eq!(host(&s.snapshot(), a).consecutive_failures, 0);
    assert_eq!(s.snapshot().counters.unvouched_failures, 20);
    // A user whose jobs succeed is believed: three failures in a row take the host down.
    for _ in 0..3 {
        let l = lease(&mut s, "honest");
        s.release(at(0.2), l, ok(0.1)).unwrap();
    }
    for _ in 0..3 {
        let l = lease(&mut s, "honest");
        s.release(at(0.3), l, outcome(0.1, JobEnd::Transport))
            .unwrap();
    }
    assert_eq!(s.health(a), Some(Health::Down));
    s.check_invariants().unwrap();
}
