//! The clients' own cores as farm slots: a request whose machine offers a free slot runs
//! there when that finishes it no later than the farm's fastest free slot, or when no farm
//! slot is free; only that machine's requests use its slots.

mod common;

use std::time::Duration;

use ccfarm_placement::*;
use common::*;

fn offering(user: &str, machine: &str, slots: u32) -> JobInfo {
    JobInfo {
        local: Some(LocalOffer {
            machine: machine.into(),
            slots,
        }),
        ..job(user, 1.0)
    }
}

fn run_here(actions: &[Action]) -> Vec<(RequestId, LeaseId)> {
    actions
        .iter()
        .filter_map(|a| match *a {
            Action::RunHere { request, lease } => Some((request, lease)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_machine_runs_its_own_jobs_when_the_farm_is_no_sooner() {
    let cfg = Config {
        remote_overhead: Duration::from_millis(100),
        ..Config::default()
    };
    let mut s = Scheduler::new(cfg).unwrap();
    let (host, _) = s.join(at(0.0), spec("server", 1, 1.0)).unwrap();
    // As fast as the server, and no transfer: the machine's own slot wins.
    let a = s
        .request(at(0.0), RequestId(1), offering("ann", "laptop", 1))
        .unwrap();
    let [(_, here)] = run_here(&a)[..] else {
        panic!("{a:?}")
    };
    // The machine's slot is taken: the next job goes to the server.
    let b = s
        .request(at(0.0), RequestId(2), offering("ann", "laptop", 1))
        .unwrap();
    assert_eq!(grants(&b).len(), 1, "{b:?}");
    assert!(run_here(&b).is_empty());
    // Both busy: the third waits, and takes the machine's slot when it frees.
    let c = s
        .request(at(0.0), RequestId(3), offering("ann", "laptop", 1))
        .unwrap();
    assert!(c.is_empty(), "{c:?}");
    let freed = s.release(at(0.5), here, ok(0.5)).unwrap();
    assert_eq!(run_here(&freed).len(), 1, "{freed:?}");
    let snap = s.snapshot();
    assert_eq!(snap.counters.run_here, 2);
    let laptop = &snap.machines[0];
    assert_eq!((laptop.slots, laptop.running, laptop.samples), (1, 1, 1));
    assert!(laptop.speed > 1.0, "a job of 1 s done in 0.5 s: {laptop:?}");
    // Another machine's request never runs on this one.
    let d = s.request(at(0.6), RequestId(4), job("bob", 1.0)).unwrap();
    assert!(run_here(&d).is_empty() && grants(&d).is_empty(), "{d:?}");
    let _ = host;
    s.check_invariants().unwrap();
}

#[test]
fn a_much_faster_free_server_beats_the_machine() {
    let mut s = sched(Policy::EarliestFinish);
    let (fast, _) = s.join(at(0.0), spec("fast", 1, 1.0)).unwrap();
    s.calibrated(at(0.0), fast, Duration::from_millis(100))
        .unwrap();
    // The machine is seeded at the farm's scale (the calibrated host's speed, 10), then
    // teaches it is slow: a job of cost 1 took 4 s.
    let first = s
        .request(at(0.0), RequestId(1), offering("ann", "slowbox", 1))
        .unwrap();
    let lease = match (grants(&first).first(), run_here(&first).first()) {
        (Some(&(_, l, _)), None) => {
            s.release(at(0.1), l, ok(0.1)).unwrap();
            None
        }
        (None, Some(&(_, l))) => Some(l),
        other => panic!("{other:?}"),
    };
    if let Some(l) = lease {
        s.release(at(4.0), l, ok(4.0)).unwrap();
    }
    for i in 0..4u32 {
        let a = s
            .request(
                at(5.0 + f64::from(i)),
                RequestId(10 + u64::from(i)),
                offering("ann", "slowbox", 1),
            )
            .unwrap();
        let g = grants(&a);
        if let [(_, l, _)] = g[..] {
            s.release(at(5.5 + f64::from(i)), l, ok(0.1)).unwrap();
        } else if let [(_, l)] = run_here(&a)[..] {
            s.release(at(5.9 + f64::from(i)), l, ok(0.9)).unwrap();
        }
    }
    let a = s
        .request(at(20.0), RequestId(99), offering("ann", "slowbox", 1))
        .unwrap();
    assert_eq!(grants(&a).len(), 1, "the free server is 10x faster: {a:?}");
    s.check_invariants().unwrap();
}

#[test]
fn a_client_that_goes_away_frees_its_machines_slot() {
    let mut s = sched(Policy::EarliestFinish);
    s.join(at(0.0), spec("server", 1, 0.1)).unwrap();
    let a = s
        .request(at(0.0), RequestId(1), offering("ann", "laptop", 1))
        .unwrap();
    let [(_, lease)] = run_here(&a)[..] else {
        panic!("{a:?}")
    };
    s.client_gone(at(1.0), lease).unwrap();
    assert_eq!(s.snapshot().machines[0].running, 0);
    assert_eq!(
        s.release(at(1.0), lease, ok(1.0)),
        Err(SchedError::UnknownLease(lease)),
        "released once only"
    );
    let b = s
        .request(at(1.0), RequestId(2), offering("ann", "laptop", 1))
        .unwrap();
    assert_eq!(run_here(&b).len(), 1, "{b:?}");
    s.check_invariants().unwrap();
}
