//! The client's memory of compile times reaches the scheduler, even a freshly restarted
//! one that remembers nothing itself.

use crate::farm::*;

/// `ccfarm_scheduler_requests_remembered_total{by="<by>"}`, 0 when absent.
fn remembered(farm: &Farm, by: &str) -> u64 {
    let metrics = farm.http_get("/metrics");
    let name = format!("ccfarm_scheduler_requests_remembered_total{{by=\"{by}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&name))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[test]
fn a_client_tells_a_restarted_scheduler_how_long_each_file_took() {
    let mut farm = Farm::start(&["a"]);
    let scratch = Scratch::new();
    local_build(&scratch);
    farm.build_some(&scratch, "dev", 4);
    assert_eq!(remembered(&farm, "client"), 0);
    assert!(scratch.path().join("dev/.ccfarm/times").is_dir());

    // A new scheduler knows nothing of these files; only the client can say.
    farm.restart_scheduler();
    farm.wait_for(|s| registered(s) == 1, "the server to re-register");
    std::fs::remove_dir_all(scratch.path().join("dev/out")).unwrap();
    let log = farm.build_some(&scratch, "dev", 4);
    assert_eq!(remembered(&farm, "client"), 4, "{log}");
    assert_eq!(remembered(&farm, "client_elsewhere"), 0);
    assert_eq!(remembered(&farm, "scheduler"), 0);
    let port = farm.server("a").port;
    assert_eq!(
        log.matches(&format!(" ms on 127.0.0.1:{port} last time"))
            .count(),
        4,
        "{log}"
    );

    // Turned off, the client neither reads nor writes its memory.
    farm.restart_scheduler();
    farm.wait_for(|s| registered(s) == 1, "the server to re-register");
    std::fs::remove_dir_all(scratch.path().join("dev/out")).unwrap();
    std::fs::remove_dir_all(scratch.path().join("dev/.ccfarm/times")).unwrap();
    farm.build_some_with(&scratch, "dev", 4, &[("CCFARM_HISTORY", "0")]);
    assert_eq!(remembered(&farm, "client"), 0);
    assert!(!scratch.path().join("dev/.ccfarm/times").exists());
}
