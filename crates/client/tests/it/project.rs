//! A real multi-file C project (demo/strkit, 60+ translation units) built through
//! ccfarm against two local servers with make -j16 and with CMake's compiler
//! launcher; the program links and runs, and every object equals a local build's.

use std::process::Command;

use ccfarm_testkit::*;

use crate::common::*;

fn count_sources() -> usize {
    std::fs::read_dir(demo_dir("strkit").join("src"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "c"))
        .count()
}

#[test]
fn make_j16_through_two_servers_matches_a_local_build() {
    let a = Server::start(&[]);
    let b = Server::start(&[]);
    let scratch = Scratch::new();
    let project = demo_dir("strkit");
    let local_out = scratch.path().join("local");
    let farm_out = scratch.path().join("farm");
    make_locally(&project, &local_out, &["-j4", "check"]);

    let hosts = format!("{} {}", a.host(",lzo"), b.host(""));
    let mut make = Command::new("make");
    let out = farm_env(&mut make, &scratch, &hosts)
        .arg("-C")
        .arg(&project)
        .arg(format!("OUT={}", farm_out.display()))
        .arg(format!("CC={CCFARM} gcc"))
        .args(["-j16", "check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "farm build: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        client_log(&scratch)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("checks passed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let sources = count_sources();
    assert!(sources >= 50, "strkit has only {sources} translation units");
    let objects = assert_same_objects(&local_out, &farm_out);
    // Every translation unit was compiled remotely, spread over both servers.
    let done_a = a.status()["results"]["compile_ok"].as_u64().unwrap();
    let done_b = b.status()["results"]["compile_ok"].as_u64().unwrap();
    assert_eq!(done_a + done_b, objects as u64, "{}", client_log(&scratch));
    assert!(
        done_a > 0 && done_b > 0,
        "one server did everything: {done_a} / {done_b}"
    );
}

#[test]
fn cmake_compiler_launcher() {
    require("cmake");
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    let project = demo_dir("strkit");
    let configure = |dir: &str, launcher: Option<&str>| {
        let mut c = Command::new("cmake");
        clean_env(&mut c);
        c.arg("-S")
            .arg(&project)
            .arg("-B")
            .arg(scratch.path().join(dir))
            .arg("-DCMAKE_BUILD_TYPE=Release");
        if let Some(l) = launcher {
            c.arg(format!("-DCMAKE_C_COMPILER_LAUNCHER={l}"));
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "cmake {dir}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    configure("local", None);
    configure("farm", Some(CCFARM));
    let build = |dir: &str| {
        let mut c = Command::new("cmake");
        let out = farm_env(&mut c, &scratch, &server.host(",lzo"))
            .arg("--build")
            .arg(scratch.path().join(dir))
            .args(["-j16"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "build {dir}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            client_log(&scratch)
        );
    };
    build("local");
    build("farm");
    let objects = assert_same_objects(&scratch.path().join("local"), &scratch.path().join("farm"));
    assert!(objects >= 50, "{objects} objects");
    assert_eq!(
        server.status()["results"]["compile_ok"].as_u64().unwrap(),
        objects as u64,
        "{}",
        client_log(&scratch)
    );
    let out = Command::new(scratch.path().join("farm/selftest"))
        .output()
        .unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("checks passed"));
}
