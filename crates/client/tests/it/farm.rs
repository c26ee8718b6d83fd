//! `ccfarm farm`: the scheduler and compile servers as child processes. A bundled
//! project built through it with fallback off equals a local build and was compiled by
//! its servers; SIGTERM in the middle of a compile stops it, its services, their
//! compiler, and their job directories.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccfarm_testkit::*;

use crate::common::*;

/// The `compiled` column of each server row in the status table `ccfarm farm` prints.
/// `ccfarm` for `ccfarm farm`, with the services it runs built beside it.
pub(crate) fn ccfarm_farm() -> Command {
    ccfarmd();
    ccfarm_scheduler();
    Command::new(CCFARM)
}

fn compiled_per_server(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .map(str::split_whitespace)
        .filter_map(|mut words| {
            let name = words.next()?;
            let rest: Vec<&str> = words.collect();
            // server, address, slots, health, compiled, failed, other
            (name.starts_with("server") && name != "server" && rest.len() == 6)
                .then(|| rest[3].parse().unwrap())
        })
        .collect()
}

#[test]
fn a_command_builds_wordstat_through_the_farm() {
    build_wordstat_through_the_farm(false);
}

/// The same with `--secure`: every job over TLS with the scheduler's ticket, and the
/// credentials made for the run gone afterwards.
#[test]
fn a_command_builds_wordstat_through_a_secure_farm() {
    build_wordstat_through_the_farm(true);
}

fn build_wordstat_through_the_farm(secure: bool) {
    let scratch = Scratch::new();
    let project = demo_dir("wordstat");
    let local_out = scratch.path().join("local");
    let farm_out = scratch.path().join("farm");
    let jobs_tmp = scratch.path().join("tmp");
    std::fs::create_dir(&jobs_tmp).unwrap();

    make_locally(&project, &local_out, &["CC=gcc", "-j4", "check"]);

    // Fallback off and no host list: a compile the scheduler did not grant fails.
    // One slot per server, so that make -j8 needs both of them.
    let mut farm = ccfarm_farm();
    let out = farm_env(&mut farm, &scratch, "")
        .env("TMPDIR", &jobs_tmp)
        .args(["farm", "--servers", "2", "--jobs", "1"])
        .args(secure.then_some("--secure"))
        .args(["--", "make", "-C"])
        .arg(&project)
        .arg(format!("OUT={}", farm_out.display()))
        .arg(format!("CC={CCFARM} gcc"))
        .args(["-j8", "check"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ccfarm farm -- make: {}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr),
        client_log(&scratch)
    );
    assert!(
        stdout.contains("1. it"),
        "the program did not run: {stdout}"
    );

    let objects = assert_same_objects(&local_out, &farm_out) as u64;
    assert!(objects >= 8, "wordstat has only {objects} objects");
    let compiled = compiled_per_server(&stdout);
    assert_eq!(
        compiled.len(),
        2,
        "no status table for two servers:\n{stdout}"
    );
    assert_eq!(compiled.iter().sum::<u64>(), objects, "{stdout}");
    assert!(
        compiled.iter().all(|&n| n > 0),
        "one server did everything: {stdout}"
    );
    assert!(
        stdout.contains(&format!("{objects} granted"))
            && stdout.contains("0 told to compile locally"),
        "{stdout}"
    );
    let log = client_log(&scratch);
    assert_eq!(log.matches("completed ok").count() as u64, objects, "{log}");
    assert!(!log.contains("running locally"), "{log}");
    let over_tls = log.matches("over TLS to server").count() as u64;
    assert_eq!(over_tls, if secure { objects } else { 0 }, "{log}");
    // Job directories, and with --secure the run's credentials, are all gone.
    assert_eq!(
        std::fs::read_dir(&jobs_tmp).unwrap().count(),
        0,
        "files left behind in TMPDIR"
    );
}

/// Start a standing farm and return it with its scheduler's address, read from the
/// instructions it prints.
fn standing_farm(scratch: &Scratch, jobs_tmp: &std::path::Path) -> (Child, String) {
    let (farm, addr, _) = standing_farm_with(scratch, jobs_tmp, false, &[]);
    (farm, addr)
}

/// A `ccfarm farm` stopped (SIGTERM, then SIGKILL after 10 s) when dropped, so that a
/// failing test does not leave it and its services running.
pub(crate) struct FarmProcess(pub(crate) Child);

impl Drop for FarmProcess {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// [`standing_farm`], `--secure` if asked (then also the user credentials it made),
/// with `extra` options.
pub(crate) fn standing_farm_with(
    scratch: &Scratch,
    jobs_tmp: &std::path::Path,
    secure: bool,
    extra: &[&str],
) -> (Child, String, Option<std::path::PathBuf>) {
    let mut command = ccfarm_farm();
    clean_env(&mut command);
    let mut farm = command
        .env("TMPDIR", jobs_tmp)
        .args(["farm", "--servers", "1", "--jobs", "1"])
        .args(secure.then_some("--secure"))
        .args(extra)
        .args(["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .current_dir(scratch.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(farm.stdout.take().unwrap()).lines();
    let mut addr = None;
    let credentials = loop {
        let line = lines
            .next()
            .expect("ccfarm farm exited before printing its address")
            .unwrap();
        if let Some(a) = line.trim().strip_prefix("export CCFARM_SCHEDULER=") {
            addr = Some(a.to_owned());
            if !secure {
                break None;
            }
        }
        if let Some(dir) = line.trim().strip_prefix("export CCFARM_CREDENTIALS=") {
            break Some(std::path::PathBuf::from(dir));
        }
    };
    // Keep reading, so that the farm never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (farm, addr.expect("no scheduler address"), credentials)
}

#[test]
fn sigterm_stops_the_farm_and_its_compiles() {
    let scratch = Scratch::new();
    let jobs_tmp = scratch.path().join("jobs");
    let client_tmp = scratch.path().join("client-tmp");
    std::fs::create_dir(&jobs_tmp).unwrap();
    std::fs::create_dir(&client_tmp).unwrap();
    // Several seconds of -O3 work: long enough to be caught in the middle.
    let mut source = String::new();
    for i in 0..600 {
        source.push_str(&format!(
            "double f{i}(double *a, int n) {{ double s = 0; for (int i = 0; i < n; i++) \
             for (int j = 0; j < n; j++) s += a[i] * a[j] / (a[(i + j) % n] + {i}.5); return s; }}\n"
        ));
    }
    scratch.write("slow.c", source);

    let (farm, addr) = standing_farm(&scratch, &jobs_tmp);
    let mut farm = FarmProcess(farm);
    let mut client = ccfarm(&scratch, "")
        .env("CCFARM_SCHEDULER", &addr)
        .env("TMPDIR", &client_tmp)
        .args(["gcc", "-O3", "-c", "slow.c", "-o", "slow.o"])
        .spawn()
        .unwrap();

    // The server's compiler runs in a job directory under the farm's TMPDIR.
    let marker = jobs_tmp.to_string_lossy().into_owned();
    let start = Instant::now();
    while processes_with(&marker).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the compile never started on the farm's server:\n{}",
            client_log(&scratch)
        );
        assert!(
            client.try_wait().unwrap().is_none(),
            "the client finished before it could be interrupted:\n{}",
            client_log(&scratch)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_ne!(
        std::fs::read_dir(&jobs_tmp).unwrap().count(),
        0,
        "a running compile has a job directory"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(farm.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = farm.0.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = farm.0.kill();
            panic!("ccfarm farm did not stop within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "ccfarm farm exited with {status}");
    assert!(
        wait_gone(&marker, Duration::from_secs(2)).is_some(),
        "compilers outlived the farm: {:?}",
        processes_with(&marker)
    );
    // Job directories only: gcc's own temporary (ccXXXXXX.s in TMPDIR) of the killed
    // compile stays behind, because ccfarmd SIGKILLs compilers when it shuts down and
    // does not point their TMPDIR into the job directory.
    let left: Vec<_> = std::fs::read_dir(&jobs_tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert!(left.is_empty(), "job directories left behind: {left:?}");
    // The client lost its server and, with fallback off, fails rather than hangs.
    let client_status = client.wait().unwrap();
    assert!(!client_status.success(), "{}", client_log(&scratch));
}

/// A `ccfarm` with neither ccfarmd nor ccfarm-scheduler beside it or on PATH says which
/// is missing and how to build it, and starts nothing.
#[test]
fn a_missing_service_binary_is_named() {
    let scratch = Scratch::new();
    let alone = scratch.path().join("bin");
    std::fs::create_dir(&alone).unwrap();
    std::fs::copy(CCFARM, alone.join("ccfarm")).unwrap();
    let mut command = Command::new(alone.join("ccfarm"));
    clean_env(&mut command);
    let out = command
        .env("PATH", "/usr/bin:/bin")
        .env("TMPDIR", scratch.path())
        .args(["farm", "--", "true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(i32::from(ccfarm_client::exit::GENERAL)),
        "{stderr}"
    );
    assert!(
        stderr.contains("ccfarm-scheduler") && stderr.contains("cargo build --release"),
        "{stderr}"
    );
    // No farm directory was made.
    let left: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with("ccfarm-farm-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
