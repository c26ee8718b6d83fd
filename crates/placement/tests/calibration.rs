//! Calibrated speeds: a host's speed is its calibration compile's time, the same work on
//! every host, and no job moves it.

mod common;

use std::time::Duration;

use ccfarm_placement::*;
use common::*;

fn calibrated(s: &mut Scheduler, name: &str, slots: u32, ms: u64) -> HostId {
    let (id, _) = s.join(at(0.0), spec(name, slots, 1.0)).unwrap();
    s.calibrated(at(0.0), id, Duration::from_millis(ms))
        .unwrap();
    id
}

#[test]
fn speeds_are_the_calibration_and_jobs_do_not_move_them() {
    let mut s = sched(Policy::EarliestFinish);
    let fast = calibrated(&mut s, "fast", 1, 200);
    let slow = calibrated(&mut s, "slow", 1, 800);
    let relative = |s: &Scheduler| {
        s.snapshot()
            .hosts
            .iter()
            .map(|h| (h.relative_speed, h.calibration_ms))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        relative(&s),
        [(1.0, Some(200.0)), (0.25, Some(800.0))],
        "both weights are 1; only the calibration tells them apart"
    );
    // Each host gets jobs that flatter the slow one: long ones on the fast host, short
    // ones on the slow host. Learned from, that would make the slow host look faster.
    let mut t = 0.0;
    for i in 0..20 {
        let actions = s.request(at(t), RequestId(2 * i), unknown("ann")).unwrap();
        let actions2 = s
            .request(at(t), RequestId(2 * i + 1), unknown("ann"))
            .unwrap();
        for (_, lease, host) in grants(&actions).into_iter().chain(grants(&actions2)) {
            let secs = if host == fast { 3.0 } else { 0.1 };
            s.release(at(t + secs), lease, ok(secs)).unwrap();
        }
        t += 4.0;
    }
    assert_eq!(relative(&s), [(1.0, Some(200.0)), (0.25, Some(800.0))]);
    assert!(
        s.snapshot().hosts.iter().all(|h| h.samples > 1),
        "jobs still count"
    );

    // A new calibration replaces the old one, from a heartbeat as from a direct report.
    let beat = Heartbeat {
        slots: 1,
        running: 0,
        load_avg: None,
        free_memory: None,
        calibration: Some(Duration::from_millis(400)),
    };
    s.heartbeat(at(t), slow, beat).unwrap();
    assert_eq!(relative(&s), [(1.0, Some(200.0)), (0.5, Some(400.0))]);
    assert_eq!(
        s.calibrated(at(t), fast, Duration::ZERO),
        Err(SchedError::InvalidCalibration(Duration::ZERO))
    );
    assert_eq!(
        s.calibrated(at(t), HostId(99), Duration::from_millis(1)),
        Err(SchedError::UnknownHost(HostId(99)))
    );
    s.check_invariants().unwrap();
}

#[test]
fn the_faster_calibration_gets_the_job() {
    for (a_ms, b_ms, want) in [(300, 900, 0), (900, 300, 1)] {
        let mut s = sched(Policy::EarliestFinish);
        let hosts = [
            calibrated(&mut s, "a", 1, a_ms),
            calibrated(&mut s, "b", 1, b_ms),
        ];
        let actions = s.request(at(0.0), RequestId(1), unknown("ann")).unwrap();
        let [(_, _, host)] = grants(&actions)[..] else {
            panic!("{actions:?}")
        };
        assert_eq!(host, hosts[want], "{a_ms} ms vs {b_ms} ms");
    }
}

/// A host that joins uncalibrated among calibrated ones is valued like them (the farm's
/// scale), not at its raw weight in other units.
#[test]
fn an_uncalibrated_host_is_seeded_at_the_calibrated_hosts_scale() {
    let mut s = sched(Policy::EarliestFinish);
    calibrated(&mut s, "a", 1, 250);
    let (b, _) = s.join(at(0.0), spec("b", 1, 0.5)).unwrap();
    let snap = s.snapshot();
    let b = snap.hosts.iter().find(|h| h.id == b).unwrap();
    assert!((b.relative_speed - 0.5).abs() < 0.02, "{b:?}");
    assert_eq!(b.calibration_ms, None);
    s.check_invariants().unwrap();
}
