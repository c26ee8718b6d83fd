//! Killing: a client that disconnects mid-compile, and a compile that outlives
//! `--job-lifetime`. Both must leave no compiler process and no temporary file.
//!
//! A compile that takes a known, long time needs a compiler whose duration the test
//! controls: `slowcc` preprocesses with the real gcc (the distcc client runs that
//! locally) and, on the server, runs `sleep` through a symlink whose name carries a
//! unique marker, so the test can find the compiler's processes.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use ccfarm_testkit::*;

fn slow_compiler(scratch: &Scratch, marker: &str) -> String {
    let sleeper = scratch.path().join(format!("sleep-{marker}"));
    std::os::unix::fs::symlink("/bin/sleep", &sleeper).unwrap();
    let script = format!(
        "#!/bin/sh\n\
         for a in \"$@\"; do [ \"$a\" = -E ] && exec gcc \"$@\"; done\n\
         mktemp \"${{TMPDIR:-/tmp}}/cc-{marker}.XXXXXX\" >/dev/null\n\
         {} 30 &\n\
         wait\n",
        sleeper.display()
    );
    let path = scratch.write("slowcc", script);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_owned()
}

fn unique(tag: &str) -> String {
    format!("{tag}-{}-{}", std::process::id(), free_port())
}

#[test]
fn killing_the_client_kills_the_compiler() {
    let scratch = Scratch::new();
    let marker = unique("ccfarm-slow-disconnect");
    let cc = slow_compiler(&scratch, &marker);
    let server = Server::start(&["--allow-compiler", &cc]);
    scratch.write("x.c", "int x;\n");
    let mut client = distcc(&scratch, &server.host(""))
        .args([cc.as_str(), "-c", "x.c", "-o", "x.o"])
        .spawn()
        .unwrap();
    // Wait for the compile to be running on the server.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while processes_with(&marker).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the compile never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    client.kill().unwrap();
    client.wait().unwrap();
    let gone = wait_gone(&marker, Duration::from_secs(2));
    assert!(
        gone.is_some(),
        "compiler processes survived the client: {:?}",
        processes_with(&marker)
    );
    assert!(
        server.wait_for_log("client_disconnect", Duration::from_secs(5)),
        "{}",
        server.log()
    );
    server.assert_no_leftovers();
    // The compiler's own temporary file (as gcc's ccXXXXXX.s) was in the job directory.
    let stray: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(&marker))
        .map(|e| e.path())
        .collect();
    assert!(
        stray.is_empty(),
        "the compiler's temporaries leaked: {stray:?}"
    );
}

#[test]
fn job_lifetime_kills_and_reports() {
    let scratch = Scratch::new();
    let marker = unique("ccfarm-slow-lifetime");
    let cc = slow_compiler(&scratch, &marker);
    let server = Server::start(&["--allow-compiler", &cc, "--job-lifetime", "1"]);
    scratch.write("x.c", "int x;\n");
    let started = std::time::Instant::now();
    let out = distcc(&scratch, &server.host(""))
        .args([cc.as_str(), "-c", "x.c", "-o", "x.o"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the job was not cut short"
    );
    assert!(
        stderr.contains("exceeded the job lifetime of 1 s"),
        "{stderr}"
    );
    assert!(
        wait_gone(&marker, Duration::from_secs(2)).is_some(),
        "compiler survived: {:?}",
        processes_with(&marker)
    );
    assert!(!scratch.path().join("x.o").exists());
    assert_eq!(server.status()["results"]["compile_timeout"], 1);
    server.assert_no_leftovers();
}
