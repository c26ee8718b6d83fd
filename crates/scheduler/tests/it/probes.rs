//! Stock distccd hosts listed in the scheduler's configuration: probed, used, and
//! noticed when they hang.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::farm::*;

#[test]
fn a_static_distccd_is_probed_used_and_marked_down_when_it_hangs() {
    let distccd = Distccd::start(&[]);
    let config = format!(
        "probe_interval_s = 1\nprobe_timeout_s = 1\n[[hosts]]\naddress = \"127.0.0.1:{}\"\nname = \"stock\"\nslots = 2\n",
        distccd.port
    );
    let farm = Farm::start_with(&[], &config);
    farm.wait_for(
        |_| farm.host("stock")["health"] == "Up",
        "the probes to pass",
    );

    let scratch = Scratch::new();
    local_build(&scratch);
    farm.build_some(&scratch, "farm", 6);
    let s = farm.status();
    assert_eq!(s["counters"]["grants"], 6, "{s}");
    assert_eq!(farm.host("stock")["samples"], 6, "{s}");

    // A stopped distccd still accepts connections (the kernel's backlog), but answers
    // no compile: the probes notice. Preforked workers share the parent's group.
    killpg(Pid::from_raw(distccd.child.id() as i32), Signal::SIGSTOP).unwrap();
    farm.wait_for(
        |_| farm.host("stock")["health"] == "Down",
        "the hung host to go down",
    );
    killpg(Pid::from_raw(distccd.child.id() as i32), Signal::SIGCONT).unwrap();
    let metrics = farm.http_get("/metrics");
    assert!(
        metrics.contains("ccfarm_scheduler_probes_total{result=\"failed\"}"),
        "{metrics}"
    );
}
