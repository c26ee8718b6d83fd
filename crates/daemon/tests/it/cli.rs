//! ccfarmd as a drop-in for distccd's command line.

use std::process::Command;
use std::time::{Duration, Instant};

use ccfarm_testkit::*;

const CCFARMD: &str = env!("CARGO_BIN_EXE_ccfarmd");

#[test]
fn version_help_and_bad_options() {
    // Laid out as distccd's, under the name it was invoked by: scripts and distcc's
    // own suite read the first two lines.
    let scratch = Scratch::new();
    let distccd = scratch.path().join("distccd");
    std::os::unix::fs::symlink(CCFARMD, &distccd).unwrap();
    for (program, name) in [
        (std::path::Path::new(CCFARMD), "ccfarmd"),
        (&distccd, "distccd"),
    ] {
        let out = Command::new(program).arg("--version").output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
        assert_eq!(first.len(), 3, "{text}");
        assert_eq!(
            (first[0], first[1]),
            (name, env!("CARGO_PKG_VERSION")),
            "{text}"
        );
        assert_eq!(
            lines.next().unwrap(),
            "  (protocols 1, 2 and 3) (default port 3632)",
            "{text}"
        );
    }

    let out = Command::new(CCFARMD).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--port",
        "--listen",
        "--allow",
        "--jobs",
        "--job-lifetime",
        "--no-detach",
        "--pid-file",
        "--log-file",
        "--log-stderr",
        "--log-level",
        "--stats",
        "--stats-port",
        "--lifetime",
        "--config",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }

    let out = Command::new(CCFARMD)
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(101),
        "distccd's exit code for a bad option"
    );
    let out = Command::new(CCFARMD)
        .args(["--port", "80000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(101));
}

#[test]
fn bind_failure_exits_102() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(CCFARMD)
        .args(["--no-detach", "--listen", "127.0.0.1", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(102),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
}

#[test]
fn daemon_mode_detaches_writes_a_pid_file_and_honours_lifetime() {
    let scratch = Scratch::new();
    let pid_file = scratch.path().join("ccfarmd.pid");
    // Another test may take the free port first: distccd's exit code 102 says so.
    let (port, status) = (0..5)
        .map(|_| {
            let port = free_port();
            let out = Command::new(CCFARMD)
                .args(["--daemon", "--listen", "127.0.0.1", "--lifetime", "2"])
                .args(["--port", &port.to_string()])
                .arg("--pid-file")
                .arg(&pid_file)
                .arg("--log-file")
                .arg(scratch.path().join("log"))
                .output()
                .unwrap();
            (port, out)
        })
        .find(|(_, out)| out.status.code() != Some(102))
        .expect("a free port within five tries");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    // The pid file is there as soon as the launcher has returned, naming the daemon,
    // which is still running: the launcher did not wait for it.
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("the pid file exists when the launcher returns")
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid), "the pid file names a running daemon");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "the daemon listens"
    );
    // --lifetime 2: gone within a few seconds, pid file removed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(pid), "daemon still running");
    assert!(!pid_file.exists(), "pid file not removed");
}

/// Init scripts and distcc's own test suite read the pid file as soon as the launcher
/// returns, every time.
#[test]
fn the_pid_file_names_the_daemon_whenever_the_launcher_has_returned() {
    let scratch = Scratch::new();
    for start in 0..20 {
        let pid_file = scratch.path().join(format!("ccfarmd-{start}.pid"));
        let out = (0..5)
            .map(|_| {
                Command::new(CCFARMD)
                    .args(["--daemon", "--listen", "127.0.0.1", "--lifetime", "30"])
                    .args(["--port", &free_port().to_string()])
                    .arg("--pid-file")
                    .arg(&pid_file)
                    .arg("--log-file")
                    .arg(scratch.path().join(format!("log-{start}")))
                    .output()
                    .unwrap()
            })
            .find(|out| out.status.code() != Some(102))
            .expect("a free port within five tries");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let written = std::fs::read_to_string(&pid_file);
        let pid: u32 = match &written {
            Ok(text) => text.trim().parse().unwrap(),
            Err(e) => panic!("start {start}: no pid file when the launcher returned: {e}"),
        };
        assert!(
            alive(pid),
            "start {start}: the pid file names no running process"
        );
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(pid), "start {start}: the daemon outlived SIGTERM");
    }
}

/// A pid that belonged to a process which has exited.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn job_directories_of_a_dead_daemon_are_swept_at_start() {
    let scratch = Scratch::new();
    let jobs = scratch.path().join("jobs");
    std::fs::create_dir(&jobs).unwrap();
    let stale = jobs.join(format!("ccfarmd-{}-left", dead_pid()));
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("input.i"), "int x;").unwrap();
    let live = jobs.join(format!("ccfarmd-{}-live", std::process::id()));
    std::fs::create_dir(&live).unwrap();
    let (_port, mut daemon) = spawn_listening(|port| {
        let mut c = Command::new(CCFARMD);
        c.args(["--no-detach", "--listen", "127.0.0.1", "--lifetime", "30"])
            .args(["--port", &port.to_string()])
            .arg("--tmp-dir")
            .arg(&jobs)
            .stderr(std::process::Stdio::null());
        c
    });
    // The port is bound before the sweep, so wait for the sweep itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stale.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let running = daemon.try_wait().unwrap().is_none();
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(running, "the daemon exited");
    assert!(!stale.exists(), "the dead daemon's job directory survived");
    assert!(live.exists(), "a live process's job directory was removed");
}

#[test]
fn user_drops_root_privileges() {
    let scratch = Scratch::new();
    let jobs = scratch.path().join("jobs");
    std::fs::create_dir(&jobs).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&jobs, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let make = |port: u16| {
        let mut c = Command::new(CCFARMD);
        c.args([
            "--no-detach",
            "--listen",
            "127.0.0.1",
            "--lifetime",
            "30",
            "--user",
            "nobody",
        ])
        .args(["--port", &port.to_string()])
        .arg("--tmp-dir")
        .arg(&jobs)
        .stderr(std::process::Stdio::null());
        c
    };
    if !nix::unistd::geteuid().is_root() {
        // Not root: switching users must fail loudly, never run as the wrong user.
        let status = make(free_port()).status().unwrap();
        assert_eq!(status.code(), Some(112));
        return;
    }
    let (port, mut daemon) = spawn_listening(make);
    // The ports are bound before privileges are dropped; a served compile shows the
    // daemon is past that point.
    scratch.write("n.c", "int n(void) { return 9; }\n");
    let out = distcc(&scratch, &format!("127.0.0.1:{port}/2"))
        .args(["gcc", "-c", "n.c", "-o", "n.o"])
        .output()
        .unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.id())).unwrap();
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_owned();
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(
        uid_line.split_whitespace().skip(1).all(|id| id == "65534"),
        "{uid_line}"
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        run(&scratch, "gcc", &["-c", "n.c", "-o", "ref.o"])
            .status
            .success()
    );
    assert_eq!(scratch.read("n.o"), scratch.read("ref.o"));
}
