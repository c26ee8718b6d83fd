//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use ccfarm_placement::*;

/// `secs` seconds after the epoch.
pub fn at(secs: f64) -> Micros {
    Micros::ZERO.plus_secs_f64(secs)
}

pub fn spec(name: &str, slots: u32, weight: f64) -> HostSpec {
    HostSpec {
        name: name.into(),
        slots,
        weight,
    }
}

/// A job whose cost at speed 1 is known: `secs`.
pub fn job(user: &str, secs: f64) -> JobInfo {
    JobInfo {
        compiler: None,
        avoid: Vec::new(),
        user: user.into(),
        size_bytes: 0,
        previous: Some(PreviousRun {
            duration: Duration::from_secs_f64(secs),
            host: None,
        }),
        local: None,
    }
}

/// A job the client says nothing about: no size, no previous duration.
pub fn unknown(user: &str) -> JobInfo {
    JobInfo {
        compiler: None,
        avoid: Vec::new(),
        user: user.into(),
        size_bytes: 0,
        previous: None,
        local: None,
    }
}

pub fn outcome(secs: f64, result: JobEnd) -> ReleaseReport {
    ReleaseReport {
        duration: Duration::from_secs_f64(secs),
        result,
    }
}

pub fn ok(secs: f64) -> ReleaseReport {
    outcome(secs, JobEnd::Ok)
}

pub fn sched(policy: Policy) -> Scheduler {
    Scheduler::new(Config {
        policy,
        ..Config::default()
    })
    .unwrap()
}

/// The grants in `actions`, as (request, lease, host).
pub fn grants(actions: &[Action]) -> Vec<(RequestId, LeaseId, HostId)> {
    actions
        .iter()
        .filter_map(|a| match *a {
            Action::Grant {
                request,
                lease,
                host,
            } => Some((request, lease, host)),
            _ => None,
        })
        .collect()
}

/// The single grant in `actions`.
pub fn granted(actions: &[Action]) -> (LeaseId, HostId) {
    match grants(actions)[..] {
        [(_, lease, host)] => (lease, host),
        _ => panic!("expected one grant, got {actions:?}"),
    }
}

pub fn host(s: &Snapshot, id: HostId) -> &HostStatus {
    s.hosts
        .iter()
        .find(|h| h.id == id)
        .expect("host in snapshot")
}
