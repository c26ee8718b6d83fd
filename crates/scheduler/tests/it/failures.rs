//! Servers that die, hang or come back, and a scheduler restarted mid-build.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use ccfarm_proto::farm::FromScheduler;

use crate::farm::*;

fn signal(server: &Server, sig: Signal) {
    kill(Pid::from_raw(server.child.id() as i32), sig).unwrap();
}

#[test]
fn a_server_killed_mid_build_costs_no_job_and_is_used_again_after_a_restart() {
    let mut farm = Farm::start(&["victim", "b", "c"]);
    let scratch = Scratch::new();
    local_build(&scratch);
    let build = farm.spawn_build(&scratch, "first", "ann");
    wait_compiled(farm.server("victim"), 3);
    {
        let victim = &mut farm.servers[0].1;
        victim.child.kill().unwrap();
        let _ = victim.child.wait();
    }
    finish_build(&scratch, "first", build);
    assert!(compiled(farm.server("b")) > 0);
    assert!(compiled(farm.server("c")) > 0);
    farm.wait_for(
        |_| farm.host("victim")["health"] == "Down",
        "the victim to be down",
    );
    assert_eq!(farm.status()["leases"], 0);

    // The same server restarted (new process, new port) registers again and gets work.
    farm.servers.remove(0);
    farm.add_server("victim");
    farm.wait_for(
        |_| farm.host("victim")["health"] != "Down",
        "the restarted victim to rejoin",
    );
    let before = farm.host("victim")["samples"].as_u64().unwrap();
    farm.build_some(&scratch, "second", 24);
    assert!(
        compiled(farm.server("victim")) > 0,
        "the restarted server got no work: {}",
        farm.status()
    );
    assert!(farm.host("victim")["samples"].as_u64().unwrap() > before);
}

#[test]
fn a_stopped_server_costs_no_job_is_marked_down_and_comes_back() {
    let farm = Farm::start(&["sleepy", "b", "c"]);
    let scratch = Scratch::new();
    local_build(&scratch);
    let started = std::time::Instant::now();
    let build = farm.spawn_build(&scratch, "first", "ann");
    wait_compiled(farm.server("sleepy"), 3);
    signal(farm.server("sleepy"), Signal::SIGSTOP);
    // The build finishes well within the client's 300 s I/O timeout: the jobs stuck on
    // the stopped server were revoked by the scheduler and retried elsewhere.
    let (_, log) = finish_build(&scratch, "first", build);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(120), "took {took:?}\n{log}");
    assert!(!log.contains("using the host list"), "{log}");
    // Marked down once its heartbeats have stopped for the timeout (3 s), whether or not
    // the rest of the build needed that first (it does when the server held leases).
    let stopped_for = std::time::Instant::now();
    farm.wait_for(
        |_| farm.host("sleepy")["health"] == "Down",
        "the stopped server to be marked down",
    );
    assert!(stopped_for.elapsed() < Duration::from_secs(10));
    signal(farm.server("sleepy"), Signal::SIGCONT);

    // Resumed, it heartbeats again and is used again.
    farm.wait_for(
        |_| farm.host("sleepy")["health"] != "Down",
        "the resumed server to come back",
    );
    let before = compiled(farm.server("sleepy"));
    farm.build_some(&scratch, "second", 24);
    assert!(
        compiled(farm.server("sleepy")) > before,
        "the resumed server got no work: {}",
        farm.status()
    );
    assert_eq!(farm.status()["leases"], 0);
}

#[test]
fn a_scheduler_restarted_mid_build_loses_no_compile_and_the_farm_recovers() {
    let mut farm = Farm::start(&["a", "b", "c"]);
    let scratch = Scratch::new();
    local_build(&scratch);
    // Fallback on: while the scheduler is away, clients compile locally.
    let build = farm.spawn_make(
        &scratch,
        "first",
        "ann",
        &["check"],
        &[("CCFARM_FALLBACK", "1")],
    );
    wait_compiled(farm.server("a"), 2);
    farm.restart_scheduler();
    finish_build(&scratch, "first", build);

    // The servers register again with the new scheduler, which then grants every job.
    farm.wait_for(|s| registered(s) == 3, "the servers to re-register");
    let log = farm.build_some(&scratch, "second", 16);
    assert!(!log.contains("using the host list"), "{log}");
    let s = farm.status();
    let tester = s["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "tester")
        .cloned()
        .unwrap_or_else(|| panic!("no grants for the second build: {s}"));
    assert_eq!(tester["granted"], 16, "{s}");
    assert_eq!(s["leases"], 0, "{s}");
}

/// A restarted scheduler knows no servers until they reconnect: a request in that window
/// waits for them (the start-up grace) rather than being sent to compile locally.
#[test]
fn right_after_a_restart_requests_wait_for_the_servers_to_come_back() {
    let mut farm = Farm::start(&["a", "b"]);
    farm.startup_grace = 10.0;
    farm.restart_scheduler();
    assert_eq!(
        registered(&farm.status()),
        0,
        "asked before the servers came back"
    );
    let answer = crate::compilers::ask(&farm, None);
    assert!(
        matches!(answer, FromScheduler::Grant { .. }),
        "expected a grant once a server is back, got {answer:?}"
    );
    let s = farm.status();
    assert_eq!(s["counters"]["local"], 0, "{s}");
}

/// The scheduler is killed and restarted in place in the middle of a strict build
/// (`CCFARM_FALLBACK=0`): clients that cannot reach it ask again with a back-off, the new
/// scheduler holds their requests until the servers have re-registered, and every object
/// is compiled on the farm, identical to a local build.
#[test]
fn a_scheduler_restarted_in_place_mid_build_fails_no_compile_in_strict_mode() {
    let mut farm = Farm::start(&["a", "b", "c"]);
    farm.startup_grace = 10.0;
    let scratch = Scratch::new();
    local_build(&scratch);
    let started = std::time::Instant::now();
    let build = farm.spawn_make(&scratch, "strict", "ann", &["check"], &[]);
    wait_compiled(farm.server("a"), 2);
    farm.restart_scheduler();
    let (objects, log) = finish_build(&scratch, "strict", build);
    assert!(objects > 0);
    assert!(!log.contains("running locally"), "{log}");
    assert!(!log.contains("using the host list"), "{log}");
    report_fault(
        "scheduler SIGKILL, restarted in place",
        &format!(
            "build ok, {objects} objects identical to a local build, 0 lost, {:.1} s",
            started.elapsed().as_secs_f64()
        ),
    );
}

/// A tmpfs mounted over a directory for one test, unmounted when dropped.
struct Tmpfs {
    dir: std::path::PathBuf,
}

impl Tmpfs {
    fn mount_over(dir: &std::path::Path, size: &str) -> Tmpfs {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "mount a tmpfs (the tests run as root)");
        Tmpfs {
            dir: dir.to_owned(),
        }
    }

    /// Fill it: a file as large as the free space.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.dir.join("filler")).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
    }
}

/// One server's disk fills in the middle of a strict build: its jobs fail for the
/// server's reasons (ccfarmd cannot write the job, or the compiler cannot write its
/// output), which are transport failures, never the user's compile errors: every job is
/// compiled elsewhere, the build succeeds with objects identical to a local build, and
/// the full server is held responsible.
#[test]
fn a_server_whose_disk_fills_mid_build_costs_no_compile_and_is_held_responsible() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test mounts a tmpfs: run the suite as root (scripts/test.sh does)"
    );
    let farm = Farm::start(&["roomy", "full"]);
    // The server's job directories are on a small disk of their own from now on.
    let small = Tmpfs::mount_over(&farm.server("full").jobs_dir, "8m");
    let scratch = Scratch::new();
    local_build(&scratch);
    let started = std::time::Instant::now();
    let build = farm.spawn_make(&scratch, "strict", "ann", &["check"], &[]);
    wait_compiled(farm.server("full"), 1);
    small.fill();
    let (objects, log) = finish_build(&scratch, "strict", build);
    assert!(objects > 0);
    assert!(!log.contains("running locally"), "{log}");
    let s = farm.status();
    assert_eq!(s["counters"]["released_compile_error"], 0, "{s}");
    let failures = s["counters"]["released_transport"].as_u64().unwrap();
    assert!(
        failures > 0,
        "the full server's failures are counted against it: {s}"
    );
    report_fault(
        "disk full mid-build",
        &format!(
            "build ok, {objects} objects identical to a local build, 0 lost, {:.1} s; {failures} jobs failed by the full server and run elsewhere",
            started.elapsed().as_secs_f64()
        ),
    );
}

/// Two schedulers, every server registered with both, every client given both: the
/// first scheduler is killed for good in the middle of a strict build, and its clients
/// carry on with the standby. No compile fails, every object is identical to a local
/// build.
#[test]
fn a_scheduler_killed_mid_build_with_a_standby_fails_no_compile() {
    let mut first = Farm::start(&[]);
    let standby = Farm::start(&[]);
    let both = format!("{},{}", first.address, standby.address);
    for name in ["a", "b"] {
        let server = Server::start(&["--scheduler", &both, "--name", name]);
        first.servers.push((name.to_owned(), server));
    }
    first.wait_for(
        |s| registered(s) == 2,
        "the servers to register with the first",
    );
    standby.wait_for(
        |s| registered(s) == 2,
        "the servers to register with the standby",
    );
    let scratch = Scratch::new();
    local_build(&scratch);
    let started = std::time::Instant::now();
    let build = first.spawn_make(
        &scratch,
        "strict",
        "ann",
        &["check"],
        &[("CCFARM_SCHEDULER", both.as_str())],
    );
    wait_compiled(first.server("a"), 2);
    first.scheduler.kill().unwrap();
    let (objects, log) = finish_build(&scratch, "strict", build);
    assert!(objects > 0);
    assert!(log.contains("asking the next scheduler"), "{log}");
    assert!(!log.contains("running locally"), "{log}");
    assert!(!log.contains("using the host list"), "{log}");
    let s = standby.status();
    assert!(
        s["counters"]["grants"].as_u64().unwrap() > 0,
        "the standby granted the rest: {s}"
    );
    report_fault(
        "scheduler SIGKILL, standby takes over",
        &format!(
            "build ok, {objects} objects identical to a local build, 0 lost, {:.1} s; {} grants by the standby",
            started.elapsed().as_secs_f64(),
            s["counters"]["grants"]
        ),
    );
}

/// The processes below `root` named `name`.
fn descendants_named(root: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == name {
            found.push(pid);
        }
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        pending.extend(
            children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
    }
    found
}

/// Every compiler process one server starts is stopped (SIGSTOP), as an operator or a
/// frozen cgroup might: ccfarmd gives such a compile up after a few seconds as its own
/// failure and the client runs it elsewhere (or the scheduler, knowing the job is late,
/// has it copied elsewhere first), and the strict build finishes within three times its
/// normal time, not after the client's five-minute I/O timeout.
#[test]
fn a_stopped_compiler_costs_seconds_not_the_io_timeout() {
    let farm = Farm::start(&["frozen", "fine"]);
    let scratch = Scratch::new();
    local_build(&scratch);
    // The build's normal time on this farm: its second build, caches warm.
    let build_in = |dir: &str| {
        let started = std::time::Instant::now();
        let build = farm.spawn_make(&scratch, dir, "ann", &["check"], &[]);
        finish_build(&scratch, dir, build);
        started.elapsed()
    };
    build_in("warm");
    let normal = build_in("normal");
    let started = std::time::Instant::now();
    let build = farm.spawn_make(&scratch, "strict", "ann", &["check"], &[]);
    let frozen = farm.server("frozen").pid();
    let mut stopped = std::collections::BTreeSet::new();
    let until = std::time::Instant::now() + Duration::from_secs(4);
    while std::time::Instant::now() < until {
        for pid in descendants_named(frozen, "cc1") {
            if stopped.insert(pid) {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGSTOP);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (objects, log) = finish_build(&scratch, "strict", build);
    let took = started.elapsed();
    assert!(
        !stopped.is_empty(),
        "no compiler of the frozen server was caught"
    );
    assert!(objects > 0);
    // Each stopped job was either failed by ccfarmd as the server's (stopped for 5 s)
    // and run elsewhere, or copied elsewhere by the scheduler as a straggler first.
    assert!(
        log.contains("stayed stopped") || log.contains("finished first"),
        "{log}"
    );
    report_fault(
        "compiler SIGSTOP",
        &format!(
            "build ok, {objects} objects identical to a local build, 0 lost, {:.1} s; {:.1} s without the fault",
            took.as_secs_f64(),
            normal.as_secs_f64()
        ),
    );
    // Within three times its normal time (and a few seconds: the machine is shared and
    // noisy), where the client's I/O timeout alone would be 300 s.
    assert!(
        took < normal * 3 + Duration::from_secs(5),
        "the build took {took:?}, {normal:?} without the fault"
    );
}

/// A `ccfarm` client stopped (SIGSTOP) while it holds a lease gives its slot back: the
/// scheduler pings a silent client and cuts off one that does not answer. Without that,
/// the slot stays taken until the client is continued, however long that is.
#[test]
fn a_stopped_client_gives_its_slot_back() {
    let farm = Farm::start_with(&["a"], "client_ping_s = 0.5\n");
    let scratch = Scratch::new();
    let dir = scratch.path().join("stopped");
    std::fs::create_dir_all(&dir).unwrap();
    // Long enough to compile that the lease is still held when the client is stopped.
    let mut source = String::new();
    for n in 0..3000 {
        source.push_str(&format!(
            "int f{n}(int x) {{ int s = 0; for (int i = 0; i < x; i++) {{ s += i * {n}; s ^= s >> 3; }} return s; }}\n"
        ));
    }
    std::fs::write(dir.join("slow.c"), source).unwrap();
    let mut client = std::process::Command::new(ccfarm_client())
        .args(["gcc", "-O2", "-c", "slow.c", "-o", "slow.o"])
        .current_dir(&dir)
        .envs(farm.client_env(&scratch, "stopped"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    farm.wait_for(|s| s["leases"] == 1, "the client's lease");
    let pid = Pid::from_raw(client.id() as i32);
    kill(pid, Signal::SIGSTOP).unwrap();
    let stopped = std::time::Instant::now();
    farm.wait_for(
        |s| s["leases"] == 0,
        "the stopped client's lease to come back",
    );
    let took = stopped.elapsed();
    let _ = kill(pid, Signal::SIGKILL);
    let _ = client.wait();
    // Silent for 0.5 s, then 1 s more after the ping: well under 5 s.
    assert!(
        took < Duration::from_secs(5),
        "the slot came back after {took:?}"
    );
    report_fault(
        "client SIGSTOP holding a lease",
        &format!(
            "slot back {:.1} s after the stop (client_ping_s = 0.5)",
            took.as_secs_f64()
        ),
    );
}

/// One server's compiler hangs on every compile (it neither ends nor stops: a spinning
/// or blocked compiler on a server that heartbeats as usual). The scheduler takes each
/// job there that has run far past its expected time, and at least ten seconds, to be
/// hung and starts it again on the other server; the strict build finishes in seconds,
/// not the client's five-minute I/O timeout, every object identical to a local build.
#[test]
fn a_hung_compiler_costs_seconds_not_the_io_timeout() {
    let mut farm = Farm::start(&["fine"]);
    // A `gcc` that identifies itself as the real one, and never finishes a compile.
    let bin = tempfile::tempdir().unwrap();
    let gcc = bin.path().join("gcc");
    std::fs::write(
        &gcc,
        "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = -c ] && exec sleep 600; done\nexec /usr/bin/gcc \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&gcc, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let hung = Server::start_with_env(
        &["--scheduler", &farm.address, "--name", "hung"],
        None,
        &[("PATH", &path)],
    );
    farm.servers.push(("hung".into(), hung));
    farm.wait_for(|s| registered(s) == 2, "the hung server to register");
    let scratch = Scratch::new();
    local_build(&scratch);
    let started = std::time::Instant::now();
    let build = farm.spawn_make(&scratch, "strict", "ann", &["check"], &[]);
    let (objects, log) = finish_build(&scratch, "strict", build);
    let took = started.elapsed();
    assert!(objects > 0);
    assert!(
        farm.status()["counters"]["speculations"].as_u64().unwrap() > 0,
        "the hung jobs were started again elsewhere: {}",
        farm.status()
    );
    assert!(
        took < Duration::from_secs(60),
        "the build took {took:?}\n{log}"
    );
    report_fault(
        "compiler hung (never ends, never stops)",
        &format!(
            "build ok, {objects} objects identical to a local build, 0 lost, {:.1} s; {} jobs started again elsewhere",
            took.as_secs_f64(),
            farm.status()["counters"]["speculations"]
        ),
    );
}
