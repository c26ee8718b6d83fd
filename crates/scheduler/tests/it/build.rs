//! The happy path: a farm of three servers builds a 78-file project for two users at
//! once, every compile granted by the scheduler.

use crate::farm::*;

#[test]
fn three_servers_build_for_two_concurrent_clients_with_every_job_granted() {
    let farm = Farm::start(&["a", "b", "c"]);
    let scratch = Scratch::new();
    local_build(&scratch);
    let ann = farm.spawn_build(&scratch, "ann", "ann");
    let bob = farm.spawn_build(&scratch, "bob", "bob");
    let (objects_ann, log_ann) = finish_build(&scratch, "ann", ann);
    let (objects_bob, log_bob) = finish_build(&scratch, "bob", bob);
    assert!(objects_ann >= 50, "only {objects_ann} objects");
    for log in [&log_ann, &log_bob] {
        assert!(!log.contains("using the host list"), "{log}");
        assert!(!log.contains("locally"), "{log}");
    }
    // Every compile ran on a server, and each was granted by the scheduler.
    let total = (objects_ann + objects_bob) as u64;
    let per_server: Vec<u64> = ["a", "b", "c"]
        .iter()
        .map(|n| compiled(farm.server(n)))
        .collect();
    assert_eq!(per_server.iter().sum::<u64>(), total, "{per_server:?}");
    assert!(
        per_server.iter().all(|&n| n > 0),
        "a server got nothing: {per_server:?}"
    );
    let s = farm.status();
    assert_eq!(s["counters"]["grants"], total, "{s}");
    // Every server joined timed on the calibration compile, and placement reads its
    // speed from that: three servers on one machine, each within a factor of the others
    // (they calibrated at once, on 2 cores), and the fastest at 1.
    let hosts = s["hosts"].as_array().unwrap();
    let relative: Vec<f64> = hosts
        .iter()
        .map(|h| {
            assert!(
                h["calibration_ms"].as_f64().is_some_and(|ms| ms > 0.0),
                "{h}"
            );
            h["relative_speed"].as_f64().unwrap()
        })
        .collect();
    assert!(relative.contains(&1.0), "{relative:?}");
    assert!(
        relative.iter().all(|&r| r > 0.2 && r <= 1.0),
        "{relative:?}"
    );
    assert_eq!(s["counters"]["released_ok"], total, "{s}");
    assert_eq!(s["leases"], 0, "every lease was released: {s}");
    assert_eq!(s["queued"], 0, "{s}");
    let users = s["users"].as_array().unwrap();
    for user in ["ann", "bob"] {
        let u = users.iter().find(|u| u["name"] == user).unwrap();
        assert_eq!(u["granted"], objects_ann as u64, "{s}");
    }

    // The same figures in Prometheus form.
    let metrics = farm.http_get("/metrics");
    assert!(
        metrics.contains(&format!(
            "ccfarm_scheduler_events{{event=\"grants\"}} {total}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("ccfarm_scheduler_host_slots{host=\"a\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ccfarm_scheduler_user_granted{user=\"bob\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "ccfarm_scheduler_grant_wait_seconds_count {total}"
        )),
        "{metrics}"
    );
    // The dashboard is served.
    assert!(farm.http_get("/").contains("ccfarm scheduler"));
}

/// A client offering two slots of its own machine (`CCFARM_LOCAL_SLOTS`): the scheduler
/// places part of the build there and the rest on the server, with fallbacks off (a slot
/// the user offered is the farm's choice, not a fallback), and every object is the local
/// build's.
#[test]
fn a_clients_own_slots_take_part_of_the_build() {
    let farm = Farm::start(&["a"]);
    let scratch = Scratch::new();
    local_build(&scratch);
    let log = farm.build_some_with(&scratch, "own", 20, &[("CCFARM_LOCAL_SLOTS", "2")]);
    let here = log.matches("in a slot this machine offers").count();
    let served = compiled(farm.server("a"));
    assert!(here > 0, "{log}");
    assert_eq!(here as u64 + served, 20, "{log}");
    assert!(served > 0, "-j16 needs the server too: {log}");
    let s = farm.status();
    assert_eq!(s["counters"]["run_here"], here as u64, "{s}");
    let machines = s["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 1, "{s}");
    assert_eq!(machines[0]["slots"], 2, "{s}");
    assert_eq!(machines[0]["running"], 0, "every slot given back: {s}");
    assert!(machines[0]["samples"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["leases"], 0, "{s}");
}
