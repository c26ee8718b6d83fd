//! Clients that die: their slots come back.

use std::process::{Command, Stdio};

use crate::farm::*;

/// A translation unit that takes gcc -O2 a few seconds.
fn slow_source() -> String {
    let mut src = String::new();
    for i in 0..1500 {
        src.push_str(&format!(
            "int f{i}(int *a, int n) {{ int s = {i}; for (int j = 0; j < n; j++) s += a[j] * (j ^ {i}) + (s >> 3); return s; }}\n"
        ));
    }
    src
}

#[test]
fn a_client_killed_mid_compile_returns_its_slot() {
    let farm = Farm::start(&["a"]);
    let scratch = Scratch::new();
    scratch.write("slow.c", slow_source());
    let mut client = Command::new(ccfarm_client())
        .args(["gcc", "-O2", "-c", "slow.c", "-o", "slow.o"])
        .current_dir(scratch.path())
        .envs(farm.client_env(&scratch, "."))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    farm.wait_for(|s| s["leases"] == 1, "the client to hold a lease");
    client.kill().unwrap();
    let _ = client.wait();
    farm.wait_for(|s| s["leases"] == 0, "the lease to come back");
    let s = farm.status();
    assert_eq!(s["counters"]["clients_gone"], 1, "{s}");
    assert!(!scratch.path().join("slow.o").exists());
}
