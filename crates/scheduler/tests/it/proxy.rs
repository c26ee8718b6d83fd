//! The distcc proxy port: stock distcc clients through the scheduler.
//!
//! Debian's `distcc` builds demo/strkit with `DISTCC_HOSTS=127.0.0.1:PROXY/50,lzo` and
//! nothing local to fall back on: `DISTCC_FALLBACK=0`, and `DISTCC_SKIP_LOCAL_RETRY=1` so
//! that a job that failed remotely is an error rather than quietly compiled again here.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ccfarm_proto::distcc::{Limits, Payload, Reply, ReplyDecoder, Request, Version};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::farm::*;

/// A farm whose scheduler also serves a distcc proxy port; the port is returned.
fn proxy_farm(names: &[&str], more_config: &str) -> (Farm, u16) {
    // The ports are bound here and handed to the scheduler, so that no other test can
    // take the proxy's between its choice and its bind; the scheduler keeps its own
    // copies when these are dropped.
    let sockets = Sockets::bind();
    let farm = Farm::start_on_with(&sockets, names, more_config);
    (farm, Sockets::port(&sockets.proxy))
}

/// Start `make -jJOBS` of demo/strkit into `scratch/<dir>/out` with `CC="distcc gcc"`,
/// every compile sent to `hosts`. distcc's state (locks, backoff) is per build.
fn spawn_distcc_make(scratch: &Scratch, dir: &str, hosts: &str, jobs: u32) -> Child {
    let root = scratch.path().join(dir);
    std::fs::create_dir_all(root.join(".distcc")).unwrap();
    // distcc writes dependency files beside the sources: build a copy.
    let project = copy_demo("strkit", &root.join("strkit"));
    let mut command = Command::new("make");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("DISTCC_") {
            command.env_remove(key);
        }
    }
    command
        .arg("-C")
        .arg(&project)
        .arg(format!("OUT={}", root.join("out").display()))
        .arg("CC=distcc gcc")
        .arg(format!("-j{jobs}"))
        .env("DISTCC_HOSTS", hosts)
        .env("DISTCC_FALLBACK", "0")
        .env("DISTCC_SKIP_LOCAL_RETRY", "1")
        .env("DISTCC_BACKOFF_PERIOD", "0")
        .env("DISTCC_IO_TIMEOUT", "60")
        .env("DISTCC_DIR", root.join(".distcc"))
        .env("DISTCC_LOG", distcc_log(scratch, dir))
        .env("DISTCC_VERBOSE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a build that hangs can be stopped whole.
        .process_group(0)
        .spawn()
        .unwrap()
}

fn distcc_log(scratch: &Scratch, dir: &str) -> PathBuf {
    scratch.path().join(dir).join("distcc.log")
}

/// The end of the client's (verbose) log, for a failure message.
fn log_tail(scratch: &Scratch, dir: &str) -> String {
    let log = std::fs::read_to_string(distcc_log(scratch, dir)).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Wait (up to 3 minutes: a distcc client retries a job whose reply never comes, so a
/// lost job hangs rather than fails) for the build, and check its objects against the
/// local ones; returns how many.
fn finish_distcc_make(scratch: &Scratch, dir: &str, build: Child) -> usize {
    let group = Pid::from_raw(build.id() as i32);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(build.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(180)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = killpg(group, Signal::SIGKILL);
            panic!(
                "the build through the proxy hung\n{}",
                log_tail(scratch, dir)
            );
        }
    };
    assert!(
        out.status.success(),
        "distcc build through the proxy: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log_tail(scratch, dir)
    );
    assert_same_objects(
        &scratch.path().join("local"),
        &scratch.path().join(dir).join("out"),
    )
}

fn counter(farm: &Farm, name: &str) -> u64 {
    farm.status()["counters"][name].as_u64().unwrap()
}

/// Every lease handed out for the proxy's jobs has come back.
fn wait_no_leases(farm: &Farm) {
    farm.wait_for(|s| s["leases"] == 0, "the proxy's leases to come back");
}

#[test]
fn stock_distcc_builds_through_the_proxy_on_two_servers_with_fifty_jobs() {
    let (farm, proxy) = proxy_farm(&["a", "b"], "");
    let scratch = Scratch::new();
    local_build(&scratch);
    let build = spawn_distcc_make(&scratch, "farm", &format!("127.0.0.1:{proxy}/50,lzo"), 50);
    let objects = finish_distcc_make(&scratch, "farm", build);
    // Every object was compiled by a server of the farm, and both took a share.
    let (a, b) = (compiled(farm.server("a")), compiled(farm.server("b")));
    assert_eq!(a + b, objects as u64, "a {a}, b {b}");
    assert!(a > 0 && b > 0, "a {a}, b {b}");
    wait_no_leases(&farm);
    assert_eq!(counter(&farm, "released_ok"), objects as u64);
    assert_eq!(counter(&farm, "released_transport"), 0);
}

#[test]
fn a_server_killed_mid_build_costs_no_job() {
    let (mut farm, proxy) = proxy_farm(&["victim", "b"], "");
    let scratch = Scratch::new();
    local_build(&scratch);
    let started = Instant::now();
    let build = spawn_distcc_make(&scratch, "farm", &format!("127.0.0.1:{proxy}/50,lzo"), 50);
    wait_compiled(farm.server("victim"), 3);
    {
        let victim = &mut farm.servers[0].1;
        victim.child.kill().unwrap();
        let _ = victim.child.wait();
    }
    let objects = finish_distcc_make(&scratch, "farm", build);
    // Jobs were under way on the victim (the build ran 50 wide on two servers): each was
    // either revoked by the scheduler or failed on the proxy's side, and then replayed.
    let replayed = counter(&farm, "revocations") + counter(&farm, "released_transport");
    assert!(replayed > 0, "no job was retried: {}", farm.status());
    wait_no_leases(&farm);
    report_fault(
        "server SIGKILL under stock distcc through the proxy",
        &format!(
            "build ok, {objects} objects identical to a local build, 0 lost, {:.1} s; {replayed} jobs replayed",
            started.elapsed().as_secs_f64()
        ),
    );
}

#[test]
fn a_stock_distccd_behind_the_proxy_serves_protocols_one_and_two() {
    let distccd = Distccd::start(&[]);
    let config = format!(
        "probe_interval_s = 1\n[[hosts]]\naddress = \"127.0.0.1:{}\"\nname = \"stock\"\nslots = 4\nlzo = true\n",
        distccd.port
    );
    let (farm, proxy) = proxy_farm(&[], &config);
    farm.wait_for(
        |_| farm.host("stock")["health"] == "Up",
        "the probes to pass",
    );
    let scratch = Scratch::new();
    local_build(&scratch);
    let build = spawn_distcc_make(&scratch, "farm", &format!("127.0.0.1:{proxy}/16,lzo"), 16);
    let objects = finish_distcc_make(&scratch, "farm", build);
    wait_no_leases(&farm);
    assert_eq!(counter(&farm, "released_ok"), objects as u64);

    // Protocol 1 (no ",lzo") passes through unchanged too.
    scratch.write("one.c", "int one(void) { return 1; }\n");
    // A version changed on the way would fail the client ("protocol derailment").
    distcc_ok(
        &scratch,
        &format!("127.0.0.1:{proxy}/4"),
        &["gcc", "-c", "one.c", "-o", "one.o"],
    );
    wait_no_leases(&farm);
    assert_eq!(counter(&farm, "released_ok"), objects as u64 + 1);
    assert!(distccd.log().contains("one.c"), "{}", distccd.log());
}

/// A protocol-1 job compiling a trivial source, encoded.
fn trivial_job() -> Vec<u8> {
    let argv = ["gcc", "-c", "x.i", "-o", "x.o"]
        .iter()
        .map(|a| Bytes::from(a.to_string()))
        .collect();
    Request {
        version: Version::V1,
        argv,
        payload: Payload::Preprocessed(Bytes::from_static(b"int answer(void) { return 42; }\n")),
    }
    .encode()
}

/// The reply to a protocol-1 job on `s`, or why there is none.
fn read_reply(s: &mut std::net::TcpStream) -> Result<Reply, String> {
    let mut decoder = ReplyDecoder::new(Version::V1, Limits::default());
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(reply) = decoder.decode(&mut buf).map_err(|e| e.to_string())? {
            return Ok(reply);
        }
        match s.read(&mut chunk) {
            Ok(0) => return Err("closed without a reply".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The scheduler is upgraded in the middle of two builds, a stock distcc one through the
/// proxy and a strict `ccfarm` one: a new process starts on the same listening sockets
/// (as a socket unit or an upgrade hands them over) and the old one is sent SIGTERM. The
/// old one takes no new connection but answers every job it took (one of them is still
/// being sent when it is told to stop), then exits on its own; the new one serves the
/// rest. Neither build loses a job (distcc without fallback or local retry, ccfarm with
/// `CCFARM_FALLBACK=0`) and every object is identical to a local build.
#[test]
fn an_upgrade_mid_build_loses_no_proxied_job_and_fails_no_compile() {
    let sockets = Sockets::bind();
    let mut farm = Farm::start_on(&sockets, &["a", "b"]);
    farm.startup_grace = 10.0;
    let scratch = Scratch::new();
    local_build(&scratch);
    let proxy = Sockets::port(&sockets.proxy);
    let distcc = spawn_distcc_make(&scratch, "farm", &format!("127.0.0.1:{proxy}/50,lzo"), 50);
    let strict = farm.spawn_make(&scratch, "strict", "ann", &["check"], &[]);
    wait_compiled(farm.server("a"), 3);
    let before = compiled(farm.server("a")) + compiled(farm.server("b"));
    // A job half sent to the old process (the only one accepting yet) when it is told
    // to stop.
    let job = trivial_job();
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", proxy)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    slow.write_all(&job[..job.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let new = farm.spawn_on(&sockets);
    let mut old = std::mem::replace(&mut farm.scheduler, new);
    nix::sys::signal::kill(Pid::from_raw(old.id() as i32), Signal::SIGTERM).unwrap();
    let terminated = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        old.try_wait().unwrap().is_none(),
        "the old scheduler waits for the job it took"
    );
    slow.write_all(&job[job.len() / 2..]).unwrap();
    let reply = read_reply(&mut slow).expect("the half-sent job is answered");
    assert_eq!(
        reply.status,
        0,
        "{:?}",
        String::from_utf8_lossy(&reply.stderr)
    );
    assert!(reply.object.starts_with(b"\x7fELF"), "an object");
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = old.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "the old scheduler did not exit after its work was done"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "the old scheduler's exit: {status}");
    let drained = terminated.elapsed();
    let objects = finish_distcc_make(&scratch, "farm", distcc);
    let (strict_objects, log) = finish_build(&scratch, "strict", strict);
    assert!(!log.contains("running locally"), "{log}");
    assert!(!log.contains("using the host list"), "{log}");
    let after = compiled(farm.server("a")) + compiled(farm.server("b"));
    assert!(
        after >= before + 10,
        "the builds went on after the upgrade: {before} compiles before, {after} after"
    );
    // The new process served the jobs that came after: it released leases of its own.
    assert!(counter(&farm, "released_ok") > 0, "{}", farm.status());
    assert!(objects > 0 && strict_objects > 0);
    report_fault(
        "scheduler upgraded mid-build (new process on the same sockets, old one SIGTERM)",
        &format!(
            "both builds ok, {objects} (distcc) and {strict_objects} (ccfarm) objects identical to a local build, 0 lost; the old process exited {:.1} s after SIGTERM, its last job answered",
            drained.as_secs_f64()
        ),
    );
}

/// A counter on the scheduler's `/metrics` (`name{label}`), 0 when absent.
fn scheduler_metric(farm: &Farm, series: &str) -> u64 {
    metric_in(&farm.http_get("/metrics"), series)
}

#[test]
fn a_second_stock_distcc_build_through_the_proxy_is_served_from_the_cache_without_a_server() {
    let scratch = Scratch::new();
    let redis = ccfarm_testkit::stores::Redis::start(scratch.path());
    let sockets = Sockets::bind();
    let mut farm = Farm::start_on_with(&sockets, &[], &format!("cache = \"{}\"\n", redis.url()));
    farm.add_server_with("writer", &["--cache", &redis.url()]);
    farm.wait_for(|s| registered(s) >= 1, "the server to register");
    let hosts = format!("127.0.0.1:{}/20,lzo", Sockets::port(&sockets.proxy));
    local_build(&scratch);

    let objects = finish_distcc_make(
        &scratch,
        "first",
        spawn_distcc_make(&scratch, "first", &hosts, 8),
    ) as u64;
    let server = farm.server("writer");
    assert_eq!(compiled(server), objects);
    let stored = "ccfarmd_cache_stores_total{result=\"stored\"}";
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.metric(stored) < objects {
        assert!(
            Instant::now() < deadline,
            "the server stored only {}",
            server.metric(stored)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        scheduler_metric(
            &farm,
            "ccfarm_scheduler_cache_lookups_total{result=\"miss\"}"
        ),
        objects
    );
    let connections = server.metric("ccfarmd_connections_total");

    // The same build again, from another checkout: every job answered by the proxy.
    let served = finish_distcc_make(
        &scratch,
        "second",
        spawn_distcc_make(&scratch, "second", &hosts, 8),
    ) as u64;
    assert_eq!(served, objects);
    assert_eq!(
        scheduler_metric(
            &farm,
            "ccfarm_scheduler_cache_lookups_total{result=\"hit\"}"
        ),
        objects
    );
    assert_eq!(
        server.metric("ccfarmd_connections_total"),
        connections,
        "a server was contacted"
    );
    assert_eq!(compiled(server), objects);
    assert_eq!(
        counter(&farm, "released_ok"),
        objects,
        "a lease was taken for a hit"
    );
    // The dashboard's figures.
    assert_eq!(farm.status()["cache"]["hit"], objects);
    assert_eq!(farm.status()["cache"]["miss"], objects);
}
