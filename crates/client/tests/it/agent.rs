//! The user's agent on a secure farm (`ccfarm farm --secure`, real scheduler and
//! server): the first compile connects by itself and starts the agent, the compiles
//! after it go through the agent, a killed agent loses no compile, and the agent goes
//! when its credentials do.

use std::path::Path;
use std::time::{Duration, Instant};

use ccfarm_testkit::*;

use crate::common::*;
use crate::farm::{FarmProcess, standing_farm_with};

/// The agents serving the credentials in `dir`: the only processes with that
/// directory on their command line.
fn agents_for(dir: &Path) -> Vec<u32> {
    processes_with(&marker(dir))
}

fn marker(dir: &Path) -> String {
    dir.display().to_string()
}

/// Compile `name`.c to `name`.o through the farm; the verbose log of that compile.
fn compile(scratch: &Scratch, addr: &str, credentials: &Path, name: &str) -> String {
    let log = scratch.path().join("ccfarm.log");
    let _ = std::fs::remove_file(&log);
    let out = ccfarm(scratch, "")
        .env("CCFARM_SCHEDULER", addr)
        .env("CCFARM_CREDENTIALS", credentials)
        .args([
            "gcc",
            "-O2",
            "-c",
            &format!("{name}.c"),
            "-o",
            &format!("{name}.o"),
        ])
        .output()
        .unwrap();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        out.status.success(),
        "{name}.c: {}\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        log.contains("completed ok"),
        "{name}.c not compiled remotely:\n{log}"
    );
    log
}

/// The verbose log's line for a compile that asked the scheduler through the agent.
const ASKED_BY_AGENT: &str = "over TLS by the user's agent";

/// Whether the compile reached its server through the agent.
fn by_agent(log: &str) -> bool {
    log.contains("(its certificate checked) by the user's agent")
}

/// Whether the agent handed the session over, so nothing passed through it.
fn handed_over(log: &str) -> bool {
    log.contains("by the user's agent, which handed it over")
}

#[test]
fn compiles_go_through_the_users_agent_and_lose_nothing_when_it_dies() {
    let scratch = Scratch::new();
    let jobs_tmp = scratch.path().join("jobs");
    std::fs::create_dir(&jobs_tmp).unwrap();
    let (farm, addr, credentials) = standing_farm_with(&scratch, &jobs_tmp, true, &[]);
    let mut farm = FarmProcess(farm);
    let credentials = credentials.expect("a secure farm prints the user's credentials");
    for i in 0..12 {
        scratch.write(
            &format!("u{i}.c"),
            format!("static int t[{i} + 3];\nint f{i}(int x) {{ return x * {i} + t[x & 1]; }}\n"),
        );
        let local = std::process::Command::new("gcc")
            .args([
                "-O2",
                "-c",
                &format!("u{i}.c"),
                "-o",
                &format!("u{i}.local.o"),
            ])
            .current_dir(scratch.path())
            .status()
            .unwrap();
        assert!(local.success());
    }
    let same_as_local = |i: usize| {
        let remote = std::fs::read(scratch.path().join(format!("u{i}.o"))).unwrap();
        let local = std::fs::read(scratch.path().join(format!("u{i}.local.o"))).unwrap();
        assert!(remote == local, "u{i}.o differs from the local object");
    };

    // No agent yet: the first compile asks the scheduler by itself and starts one
    // (which may be up in time for its connection to the server).
    assert!(agents_for(&credentials).is_empty());
    let first = compile(&scratch, &addr, &credentials, "u0");
    assert!(
        !first.contains(ASKED_BY_AGENT),
        "an agent before any was started:\n{first}"
    );
    assert!(first.contains("over TLS to"), "{first}");
    same_as_local(0);

    // Once it listens, compiles go through it: the scheduler and the server both.
    let start = Instant::now();
    let mut next = 1;
    let through = loop {
        let log = compile(&scratch, &addr, &credentials, &format!("u{next}"));
        same_as_local(next);
        next += 1;
        if by_agent(&log) {
            break log;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20) && next < 8,
            "no compile went through the agent; agents: {:?}",
            agents_for(&credentials)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        through.contains(ASKED_BY_AGENT),
        "the scheduler was asked directly:\n{through}"
    );
    assert!(handed_over(&through), "the agent relayed:\n{through}");
    let agents = agents_for(&credentials);
    assert_eq!(
        agents.len(),
        1,
        "one agent per user and credentials: {agents:?}"
    );

    // A killed agent: the next compile connects by itself, nothing lost, and a new
    // agent takes over.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agents[0] as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(wait_gone(&marker(&credentials), Duration::from_secs(5)).is_some());
    let after = compile(&scratch, &addr, &credentials, &format!("u{next}"));
    assert!(!after.contains(ASKED_BY_AGENT), "{after}");
    same_as_local(next);
    next += 1;
    let start = Instant::now();
    while agents_for(&credentials).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "no new agent");
        std::thread::sleep(Duration::from_millis(50));
    }
    let start = Instant::now();
    loop {
        let log = compile(&scratch, &addr, &credentials, &format!("u{next}"));
        same_as_local(next);
        next += 1;
        if by_agent(&log) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20) && next < 12,
            "the new agent is never used"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The farm removes its credentials when it stops; the agent goes with them.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(farm.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let _ = farm.0.wait();
    assert!(!credentials.exists(), "the farm left its credentials");
    assert!(
        wait_gone(&marker(&credentials), Duration::from_secs(5)).is_some(),
        "the agent outlived its credentials: {:?}",
        agents_for(&credentials)
    );
}
