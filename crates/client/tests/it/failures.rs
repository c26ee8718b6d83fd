//! Broken hosts cost a bounded delay, never the build: a host that is down, one that
//! refuses, and one that hangs (SIGSTOP) sit in the host list before a working one.

use std::time::{Duration, Instant};

use ccfarm_testkit::*;

use crate::common::*;

fn sources(scratch: &Scratch, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let name = format!("f{i}.c");
            scratch.write(
                &name,
                format!("int f{i}(int a) {{ return a * {i} + {}; }}\n", i + 1),
            );
            name
        })
        .collect()
}

#[test]
fn down_refusing_and_hung_hosts_cost_a_bounded_delay() {
    let good = Server::start(&[]);
    let refusing = Server::start(&["--allow", "127.0.0.2"]);
    let hung = Server::start(&[]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hung.pid() as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    let down = free_port();
    let hosts = format!(
        "127.0.0.1:{down}/2 127.0.0.1:{}/2 127.0.0.1:{}/2 127.0.0.1:{}/4,lzo",
        refusing.port, hung.port, good.port
    );
    let scratch = Scratch::new();
    let files = sources(&scratch, 12);
    let started = Instant::now();
    let children: Vec<_> = files
        .iter()
        .map(|f| {
            ccfarm(&scratch, &hosts)
                .env("CCFARM_IO_TIMEOUT", "3")
                .env("CCFARM_CONNECT_TIMEOUT", "1")
                .args(["gcc", "-c", f, "-o", &f.replace(".c", ".o")])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (f, child) in files.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{f}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            client_log(&scratch)
        );
    }
    let elapsed = started.elapsed();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hung.pid() as i32),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    // Fallback is off, so every object came from the working host.
    assert_eq!(
        good.status()["results"]["compile_ok"],
        12,
        "{}",
        client_log(&scratch)
    );
    for f in &files {
        let o = f.replace(".c", ".o");
        assert!(
            run(&scratch, "gcc", &["-c", f, "-o", &format!("ref_{o}")])
                .status
                .success()
        );
        assert_eq!(scratch.read(&o), scratch.read(&format!("ref_{o}")));
    }
    // Each broken host costs at most one timeout per job that tried it, and backoff
    // keeps later jobs away: far less than the 12 × (1 + 3) s of trying each in turn.
    assert!(
        elapsed < Duration::from_secs(30),
        "took {elapsed:?}:\n{}",
        client_log(&scratch)
    );
    let log = client_log(&scratch);
    assert!(
        log.contains("failed to distribute f") && log.contains(&down.to_string()),
        "{log}"
    );
    assert!(refusing.log().contains("not in the --allow list"));
}

#[test]
fn all_hosts_down_falls_back_to_a_local_compile() {
    let scratch = Scratch::new();
    let files = sources(&scratch, 1);
    let hosts = format!("127.0.0.1:{}/2", free_port());
    let out = ccfarm(&scratch, &hosts)
        .env("CCFARM_FALLBACK", "1")
        .args(["gcc", "-c", &files[0], "-o", "f0.o"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        client_log(&scratch).contains("failed to distribute f0.c, running locally instead"),
        "{}",
        client_log(&scratch)
    );
    assert!(scratch.path().join("f0.o").exists());
    // With fallback off the same job fails with distcc's exit code, not silently.
    std::fs::remove_file(scratch.path().join("f0.o")).unwrap();
    let out = ccfarm(&scratch, &hosts)
        .env("CCFARM_BACKOFF_PERIOD", "0")
        .args(["gcc", "-c", &files[0], "-o", "f0.o"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(103),
        "connect failure: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!scratch.path().join("f0.o").exists());
    // A link compiles nothing and is not recorded; a compile that cannot be
    // distributed is, with its reason.
    let out = ccfarm(&scratch, &hosts)
        .args(["gcc", "-E", &files[0], "-o", "f0.i"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // Each compile is on record: where it ran, and why it ran here.
    let records = std::fs::read_to_string(scratch.path().join(".ccfarm").join("jobs.log")).unwrap();
    let kinds: Vec<(&str, &str)> = records
        .lines()
        .map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            (fields[1], fields[3])
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("local:no_server", "0"),
            ("none", "103"),
            ("local:not_distributable", "0")
        ],
        "{records}"
    );
    let out = ccfarm(&scratch, &hosts).arg("stats").output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    for line in [
        "compiles recorded            3",
        "here                         2   66.7 %",
        "  no_server                  1",
        "  not_distributable          1  latest: `-E` only preprocesses, which always runs locally",
        "not compiled                 1",
    ] {
        assert!(shown.contains(line), "{line:?} in:\n{shown}");
    }
    // Zeroed, the records start again.
    let out = ccfarm(&scratch, &hosts)
        .args(["stats", "--zero"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = ccfarm(&scratch, &hosts).arg("stats").output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("compiles recorded            0"), "{shown}");
}

#[test]
fn a_host_slot_limit_holds_across_processes() {
    let server = Server::start(&["--jobs", "8"]);
    let scratch = Scratch::new();
    let files = sources(&scratch, 24);
    let hosts = format!("127.0.0.1:{}/2", server.port);
    let children: Vec<_> = files
        .iter()
        .map(|f| {
            ccfarm(&scratch, &hosts)
                .args(["gcc", "-O2", "-c", f, "-o", &f.replace(".c", ".o")])
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        assert!(child.wait_with_output().unwrap().status.success());
    }
    let status = server.status();
    assert_eq!(status["results"]["compile_ok"], 24);
    let peak = status["running_peak"].as_i64().unwrap();
    assert!(
        (1..=2).contains(&peak),
        "{peak} jobs ran at once on a host/2"
    );
}
