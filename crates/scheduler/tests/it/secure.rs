//! A secure farm, attacked from loopback: a real scheduler and a real ccfarmd with
//! credentials from a real farm authority, and clients and rogues speaking TLS (or not)
//! with certificates of their own. The ports that cannot carry credentials, and the
//! HTTP endpoint, are tested in `secure_ports.rs`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use ccfarm_proto::distcc::{Limits, Payload, Reply, ReplyDecoder, Request, Version};
use ccfarm_proto::farm::{
    self, CompileHello, FromScheduler, JobDescription, PROTOCOL_VERSION, Role, ToScheduler,
};
use ccfarm_trust::authority::DEFAULT_VALIDITY;
use ccfarm_trust::tls::{rustls, server_name};
use ccfarm_trust::{Credentials, Expect, Identity, Role as Proven, store};

use crate::farm::*;

/// An authority and the credential directories it issued, by `ROLE-NAME`.
pub(crate) struct Authority {
    pub(crate) dir: tempfile::TempDir,
}

impl Authority {
    pub(crate) fn new(farm: &str) -> Authority {
        let dir = tempfile::tempdir().unwrap();
        store::init_authority(&dir.path().join("ca"), farm, SystemTime::now()).unwrap();
        Authority { dir }
    }

    pub(crate) fn issue(&self, role: Proven, name: &str) -> PathBuf {
        let out = self
            .dir
            .path()
            .join(format!("{role}-{name}-{}", rand_suffix()));
        // The scheduler's certificate also names its address, for HTTPS clients.
        let hosts = if role == Proven::Scheduler {
            vec!["127.0.0.1".to_owned()]
        } else {
            Vec::new()
        };
        store::issue(
            &self.dir.path().join("ca"),
            &Identity::new(role, name).unwrap(),
            &hosts,
            &out,
            SystemTime::now(),
            DEFAULT_VALIDITY,
        )
        .unwrap();
        out
    }
}

/// A scheduler with the configuration file `config` on free control and HTTP ports, both
/// chosen again when the scheduler finds one taken (exit 102); the ports and the process.
fn spawn_scheduler(config: &Path) -> (u16, u16, Child) {
    let http = std::cell::Cell::new(0);
    let (port, child) = spawn_listening(|port| {
        http.set(free_port());
        let mut c = std::process::Command::new(SCHEDULER);
        c.args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--http", &format!("127.0.0.1:{}", http.get()), "--config"])
            .arg(config)
            .stderr(std::process::Stdio::null());
        c
    });
    (port, http.get(), child)
}

fn rand_suffix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A TLS connection as a farm member with the credentials in `dir`.
pub(crate) fn connect(dir: &Path, port: u16, expect: Expect) -> std::io::Result<Tls> {
    let credentials = Credentials::load(dir).unwrap();
    let config = credentials.client_config(expect).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let conn = rustls::ClientConnection::new(config, server_name("127.0.0.1")).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // Complete the handshake now, so that a refused certificate shows here.
    tls.flush()?;
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

pub(crate) type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Send `messages`, then read answers until one of `done` arrives or the peer closes.
pub(crate) fn talk(s: &mut impl ReadWrite, messages: &[ToScheduler]) -> Vec<FromScheduler> {
    let mut out = Vec::new();
    for m in messages {
        out.extend_from_slice(&farm::encode(m));
    }
    let _ = s.write_all(&out);
    let mut buf = BytesMut::new();
    let mut answers = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Ok(Some(m)) = farm::decode::<FromScheduler>(&mut buf, 1 << 20) {
            let last = matches!(
                m,
                FromScheduler::Refused { .. }
                    | FromScheduler::Grant { .. }
                    | FromScheduler::CompileLocally { .. }
            );
            answers.push(m);
            if last {
                return answers;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return answers,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

pub(crate) trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

pub(crate) fn hello_server(name: &str) -> ToScheduler {
    ToScheduler::Hello {
        version: PROTOCOL_VERSION,
        role: Role::Server { name: name.into() },
    }
}

pub(crate) fn register(port: u16) -> ToScheduler {
    ToScheduler::Register {
        distcc_port: port,
        slots: 8,
        lzo: false,
        compilers: Vec::new(),
        version: "rogue".into(),
        tls: true,
    }
}

pub(crate) fn hello_user(user: &str) -> ToScheduler {
    ToScheduler::Hello {
        version: PROTOCOL_VERSION,
        role: Role::Client {
            user: user.into(),
            machine: "laptop".into(),
        },
    }
}

pub(crate) fn request() -> ToScheduler {
    ToScheduler::Request {
        request: 1,
        job: JobDescription {
            compiler: "gcc".into(),
            source: "a.c".into(),
            preprocessed_bytes: Some(100),
            previous_ms: None,
            previous_server: None,
            compiler_identity: None,
            avoid: Vec::new(),
            local_slots: 0,
        },
    }
}

pub(crate) fn refusal(answers: &[FromScheduler]) -> String {
    match answers.last() {
        Some(FromScheduler::Refused { reason }) => reason.clone(),
        other => panic!("expected a refusal, got {other:?} in {answers:?}"),
    }
}

pub(crate) struct SecureFarm {
    pub(crate) authority: Authority,
    scheduler: Child,
    pub(crate) scheduler_dir: PathBuf,
    pub(crate) port: u16,
    pub(crate) http: u16,
    pub(crate) server: Server,
    pub(crate) alice: PathBuf,
    _config: tempfile::TempDir,
}

impl Drop for SecureFarm {
    fn drop(&mut self) {
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
    }
}

impl SecureFarm {
    pub(crate) fn start() -> SecureFarm {
        SecureFarm::start_with("")
    }

    /// With more lines for the scheduler's configuration.
    fn start_with(config_text: &str) -> SecureFarm {
        let authority = Authority::new("test farm");
        let scheduler_dir = authority.issue(Proven::Scheduler, "sched");
        let config = tempfile::tempdir().unwrap();
        let path = config.path().join("scheduler.toml");
        std::fs::write(
            &path,
            format!(
                "credentials = {:?}\n{config_text}",
                scheduler_dir.display().to_string()
            ),
        )
        .unwrap();
        let (port, http, scheduler) = spawn_scheduler(&path);
        let build7 = authority.issue(Proven::Server, "build7");
        let server = Server::start(&[
            "--scheduler",
            &format!("127.0.0.1:{port}"),
            "--credentials",
            build7.to_str().unwrap(),
        ]);
        let alice = authority.issue(Proven::User, "alice");
        let farm = SecureFarm {
            authority,
            scheduler,
            scheduler_dir,
            port,
            http,
            server,
            alice,
            _config: config,
        };
        farm.wait_for_grant();
        farm
    }

    /// Alice asks until she is granted a slot (the server has registered).
    pub(crate) fn wait_for_grant(&self) -> FromScheduler {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut tls = connect(&self.alice, self.port, Expect::Role(Proven::Scheduler)).unwrap();
            let answers = talk(&mut tls, &[hello_user("alice"), request()]);
            if let Some(grant @ FromScheduler::Grant { .. }) = answers.last() {
                return grant.clone();
            }
            assert!(Instant::now() < deadline, "no grant: {answers:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn a_rogue_cannot_take_a_servers_name_and_the_real_server_keeps_its_work() {
    let farm = SecureFarm::start();
    let real = farm.wait_for_grant();
    let FromScheduler::Grant { port, proof, .. } = &real else {
        unreachable!()
    };
    assert_eq!(*port, farm.server.port);
    assert_eq!(proof.as_ref().map(|p| p.server.as_str()), Some("build7"));

    // Without a credential: plaintext is refused with what to configure.
    let mut plain = TcpStream::connect(("127.0.0.1", farm.port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let reason = refusal(&talk(&mut plain, &[hello_server("build7"), register(9)]));
    assert!(reason.contains("accepts only TLS"), "{reason}");

    // Another farm's certificate for the same name fails the handshake.
    let foreign = Authority::new("elsewhere");
    let foreign_build7 = foreign.issue(Proven::Server, "build7");
    // (In TLS 1.3 the server judges the client's certificate after the client has
    // finished its side, so the refusal may show as a closed connection.)
    let rejected = match connect(&foreign_build7, farm.port, Expect::Role(Proven::Scheduler)) {
        Err(_) => true,
        Ok(mut tls) => talk(&mut tls, &[hello_server("build7"), register(9)]).is_empty(),
    };
    assert!(rejected, "a foreign certificate was accepted");

    // A server of this farm claiming another's name, a user claiming to be a server.
    for (role, name, says) in [
        (Proven::Server, "build8", "claims server \"build7\""),
        (Proven::User, "build7", "may not connect as a server"),
    ] {
        let dir = farm.authority.issue(role, name);
        let mut tls = connect(&dir, farm.port, Expect::Role(Proven::Scheduler)).unwrap();
        let reason = refusal(&talk(&mut tls, &[hello_server("build7"), register(9)]));
        assert!(reason.contains(says), "{reason}");
    }

    // A second, valid credential for build7 (a copy started twice): refused while the
    // real one is connected.
    let twin = farm.authority.issue(Proven::Server, "build7");
    let mut tls = connect(&twin, farm.port, Expect::Role(Proven::Scheduler)).unwrap();
    let answers = talk(&mut tls, &[hello_server("build7"), register(9)]);
    let reason = refusal(&answers);
    assert!(
        reason.contains("already registered and connected"),
        "{reason}"
    );
    drop(tls);

    // The real server is still up and every grant still goes to it.
    for _ in 0..5 {
        let grant = farm.wait_for_grant();
        let FromScheduler::Grant { port, proof, .. } = grant else {
            unreachable!()
        };
        assert_eq!(port, farm.server.port, "a grant went elsewhere");
        assert_eq!(proof.unwrap().server, "build7");
    }
}

#[test]
fn clients_prove_who_they_are() {
    let farm = SecureFarm::start();
    // No credential: refused with the reason.
    let mut plain = TcpStream::connect(("127.0.0.1", farm.port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let reason = refusal(&talk(&mut plain, &[hello_user("alice"), request()]));
    assert!(reason.contains("CCFARM_CREDENTIALS"), "{reason}");
    // Mallory cannot be Alice.
    let mallory = farm.authority.issue(Proven::User, "mallory");
    let mut tls = connect(&mallory, farm.port, Expect::Role(Proven::Scheduler)).unwrap();
    let reason = refusal(&talk(&mut tls, &[hello_user("alice"), request()]));
    assert!(reason.contains("claims user \"alice\""), "{reason}");
    // As herself, she gets a slot, and the status shows her name.
    let mut tls = connect(&mallory, farm.port, Expect::Role(Proven::Scheduler)).unwrap();
    let answers = talk(&mut tls, &[hello_user("mallory"), request()]);
    assert!(
        matches!(answers.last(), Some(FromScheduler::Grant { .. })),
        "{answers:?}"
    );
}

/// A protocol-1 request compiling a trivial preprocessed source.
fn job() -> Vec<u8> {
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

/// Run `job()` on the server over TLS as `user`, with `ticket`.
fn compile(server_port: u16, user: &Path, ticket: Option<String>) -> Reply {
    try_compile(server_port, user, ticket).unwrap()
}

/// As [`compile`], with a failure to connect or a connection closed before the reply
/// as an error.
fn try_compile(server_port: u16, user: &Path, ticket: Option<String>) -> Result<Reply, String> {
    let expect = Expect::Exactly(Identity::new(Proven::Server, "build7").unwrap());
    let mut tls = connect(user, server_port, expect).map_err(|e| e.to_string())?;
    let mut out = farm::encode(&CompileHello { ticket });
    out.extend_from_slice(&job());
    tls.write_all(&out).map_err(|e| e.to_string())?;
    let mut decoder = ReplyDecoder::new(Version::V1, Limits::default());
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(reply) = decoder.decode(&mut buf).map_err(|e| e.to_string())? {
            return Ok(reply);
        }
        match tls.read(&mut chunk) {
            Ok(0) => return Err("the server closed without a reply".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[test]
fn a_secure_server_runs_only_granted_jobs() {
    let farm = SecureFarm::start();
    let FromScheduler::Grant { proof, .. } = farm.wait_for_grant() else {
        unreachable!()
    };
    let ticket = proof.unwrap().ticket;
    // Granted: compiled.
    let reply = compile(farm.server.port, &farm.alice, Some(ticket.clone()));
    assert_eq!(
        reply.status,
        0,
        "{:?}",
        String::from_utf8_lossy(&reply.stderr)
    );
    assert!(reply.object.starts_with(b"\x7fELF"));
    // No ticket, another user's ticket, a forged one: refused with the reason.
    let mallory = farm.authority.issue(Proven::User, "mallory");
    let forged = {
        let (head, _) = ticket.rsplit_once('.').unwrap();
        format!("{head}.{}", "00".repeat(32))
    };
    for (user, ticket, says) in [
        (&farm.alice, None, "no grant ticket"),
        (
            &mallory,
            Some(ticket.clone()),
            "not issued for this server and user",
        ),
        (
            &farm.alice,
            Some(forged),
            "not issued for this server and user",
        ),
    ] {
        let reply = compile(farm.server.port, user, ticket);
        assert_eq!(reply.status >> 8, 113, "{reply:?}");
        let stderr = String::from_utf8_lossy(&reply.stderr);
        assert!(stderr.contains(says), "{stderr}");
        assert!(reply.object.is_empty());
    }
    // A client expecting another server refuses this one.
    let expect = Expect::Exactly(Identity::new(Proven::Server, "build8").unwrap());
    assert!(connect(&farm.alice, farm.server.port, expect).is_err());
}

#[test]
fn plaintext_to_a_tls_port_is_refused_cleanly() {
    let farm = SecureFarm::start();
    // Garbage that is neither TLS nor a frame: refused or closed, never a hang.
    for bytes in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0x00, 0x01, 0xff][..],
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", farm.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let started = Instant::now();
        let _ = s.write_all(bytes);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(
            started.elapsed() < Duration::from_secs(14),
            "hung on {bytes:?}"
        );
    }
    // The scheduler is unharmed.
    farm.wait_for_grant();
}

#[test]
fn a_revoked_user_is_refused_after_sighup_and_the_farm_keeps_working() {
    let farm = SecureFarm::start();
    let bob = farm.authority.issue(Proven::User, "bob");
    let serial = ccfarm_trust::authority::Serial::of_certificate(
        &std::fs::read_to_string(farm.alice.join("cert.pem")).unwrap(),
    )
    .unwrap();
    let crl = store::revoke(
        &farm.authority.dir.path().join("ca"),
        serial,
        SystemTime::now(),
    )
    .unwrap();
    std::fs::copy(&crl, farm.scheduler_dir.join("crl.pem")).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(farm.scheduler.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let refused = match connect(&farm.alice, farm.port, Expect::Role(Proven::Scheduler)) {
            Err(_) => true,
            Ok(mut tls) => talk(&mut tls, &[hello_user("alice"), request()]).is_empty(),
        };
        if refused {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alice is still served after SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The registered server was not dropped: Bob's jobs still go to it.
    let mut tls = connect(&bob, farm.port, Expect::Role(Proven::Scheduler)).unwrap();
    let answers = talk(&mut tls, &[hello_user("bob"), request()]);
    match answers.last() {
        Some(FromScheduler::Grant { port, .. }) => assert_eq!(*port, farm.server.port),
        other => panic!("bob was not granted: {other:?}"),
    }
}

#[test]
fn a_secure_server_refuses_another_farms_user() {
    let farm = SecureFarm::start();
    let elsewhere = Authority::new("elsewhere");
    let foreign = elsewhere.issue(Proven::User, "alice");
    let expect = Expect::Exactly(Identity::new(Proven::Server, "build7").unwrap());
    // The client's own check fails first (the server is not of its farm)...
    assert!(connect(&foreign, farm.server.port, expect).is_err());
    // ...and a TLS client of another farm, whatever it trusts, gets no job run: the
    // handshake fails on the server's side.
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", farm.server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(started.elapsed() < Duration::from_secs(14));
    assert!(!out.windows(4).any(|w| w == b"DONE"), "{out:?}");
}

#[test]
fn a_server_restarting_under_its_name_takes_over_a_silent_connection() {
    // Silent for twice the heartbeat timeout (1 s here) is taken for dead.
    let farm = SecureFarm::start_with("heartbeat_timeout_s = 0.5\n");
    let build9 = farm.authority.issue(Proven::Server, "build9");
    let register_as_build9 = || {
        let mut tls = connect(&build9, farm.port, Expect::Role(Proven::Scheduler)).unwrap();
        tls.sock
            .set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        let answers = talk(&mut tls, &[hello_server("build9"), register(9)]);
        (tls, answers)
    };
    // The first registers and then says nothing more, as a crashed machine would.
    let (_silent, answers) = register_as_build9();
    assert!(
        !answers
            .iter()
            .any(|m| matches!(m, FromScheduler::Refused { .. })),
        "{answers:?}"
    );
    // While it is fresh, a second one is refused.
    let (_, answers) = register_as_build9();
    assert!(
        refusal(&answers).contains("already registered"),
        "{answers:?}"
    );
    // Once it has been silent for the limit, the restarted server takes the name.
    std::thread::sleep(Duration::from_millis(1500));
    let (_restarted, answers) = register_as_build9();
    assert!(
        !answers
            .iter()
            .any(|m| matches!(m, FromScheduler::Refused { .. })),
        "{answers:?}"
    );
}

#[test]
fn a_server_without_a_scheduler_serves_the_farms_users_and_reloads_its_revocations() {
    let authority = Authority::new("test farm");
    let build7 = authority.issue(Proven::Server, "build7");
    let server = Server::start(&["--credentials", build7.to_str().unwrap()]);
    let alice = authority.issue(Proven::User, "alice");
    let bob = authority.issue(Proven::User, "bob");
    // No scheduler: an authenticated user needs no ticket.
    for user in [&alice, &bob] {
        let reply = compile(server.port, user, None);
        assert_eq!(
            reply.status,
            0,
            "{:?}",
            String::from_utf8_lossy(&reply.stderr)
        );
    }
    // Alice's certificate is revoked; the server learns it on SIGHUP.
    let serial = ccfarm_trust::authority::Serial::of_certificate(
        &std::fs::read_to_string(alice.join("cert.pem")).unwrap(),
    )
    .unwrap();
    let crl = store::revoke(&authority.dir.path().join("ca"), serial, SystemTime::now()).unwrap();
    std::fs::copy(&crl, build7.join("crl.pem")).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    assert!(
        server.wait_for_log("credentials reloaded", Duration::from_secs(10)),
        "{}",
        server.log()
    );
    let refused = try_compile(server.port, &alice, None);
    assert!(refused.is_err(), "a revoked user was served: {refused:?}");
    // Everyone else is served as before.
    let reply = compile(server.port, &bob, None);
    assert_eq!(reply.status, 0);
}

/// One `distcc` compile of `a.c` through the proxy at `proxy`, in `scratch`; its object.
fn distcc_through(scratch: &Scratch, proxy: u16) -> Vec<u8> {
    let out = distcc(scratch, &format!("127.0.0.1:{proxy}/4"))
        .args(["gcc", "-O2", "-c", "a.c", "-o", "a.o"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    scratch.read("a.o")
}

/// A shared-cache counter of `server` (`ccfarmd_cache_lookups_total{result=…}`).
fn server_lookups(server: &Server, result: &str) -> u64 {
    server.metric(&format!(
        "ccfarmd_cache_lookups_total{{result=\"{result}\"}}"
    ))
}

#[test]
fn on_a_secure_farm_the_proxy_serves_only_entries_a_server_sealed() {
    let scratch = Scratch::new();
    let redis = ccfarm_testkit::stores::Redis::start(scratch.path());
    let authority = Authority::new("test farm");
    let scheduler_dir = authority.issue(Proven::Scheduler, "sched");
    let config = scratch.path().join("scheduler.toml");
    let proxy = free_port();
    std::fs::write(
        &config,
        format!(
            "credentials = {:?}\ndistcc_proxy = \"127.0.0.1:{proxy}\"\ncache = \"{}\"\n",
            scheduler_dir.display().to_string(),
            redis.url()
        ),
    )
    .unwrap();
    let (port, _, mut scheduler) = spawn_scheduler(&config);
    let build7 = authority.issue(Proven::Server, "build7");
    let server = Server::start(&[
        "--scheduler",
        &format!("127.0.0.1:{port}"),
        "--credentials",
        build7.to_str().unwrap(),
        "--cache",
        &redis.url(),
    ]);
    scratch.write("a.c", "int answer(void) { return 42; }\n");
    let local = {
        let out = run(&scratch, "gcc", &["-O2", "-c", "a.c", "-o", "local.o"]);
        assert!(out.status.success());
        scratch.read("local.o")
    };
    // The first compile reaches the server (once it has registered), which stores it
    // sealed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while compiled(&server) == 0 {
        assert!(Instant::now() < deadline, "the server never compiled");
        let _ = distcc(&scratch, &format!("127.0.0.1:{proxy}/4"))
            .args(["gcc", "-O2", "-c", "a.c", "-o", "a.o"])
            .output();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(scratch.read("a.o"), local);
    let keys = String::from_utf8(redis.cli(&["--scan", "--pattern", "*"])).unwrap();
    let key = keys.lines().next().expect("a stored entry").to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis.cli(&["EXISTS", &key]).starts_with(b"0") {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }

    // The sealed entry is served by the proxy, checked against the farm's authority:
    // the server sees no job.
    let connections = server.status()["connections"].clone();
    assert_eq!(distcc_through(&scratch, proxy), local);
    assert_eq!(compiled(&server), 1);
    assert_eq!(
        server.status()["connections"],
        connections,
        "the server was contacted"
    );

    // A well-formed entry with a planted object, its checksum right but unsealed, as
    // anyone who can write Redis could put there: never served.
    let planted = ccfarm_cache::Entry {
        status: 0,
        stdout: Vec::new(),
        stderr: Vec::new(),
        object: b"\x7fELF planted".to_vec(),
        dotd: None,
    };
    let forged = ccfarm_cache::sealed::encode(&planted.encode(), None);
    let file = scratch.write("forged", &forged);
    let set = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "-x", "SET", &key])
        .stdin(std::fs::File::open(file).unwrap())
        .output()
        .unwrap();
    assert!(set.status.success());
    assert_eq!(
        distcc_through(&scratch, proxy),
        local,
        "a planted object was served"
    );
    assert_eq!(compiled(&server), 2, "the job was not compiled again");
    // The proxy refused the entry and removed it, so the server found nothing.
    assert_eq!(server_lookups(&server, "refused"), 0);
    assert_eq!(server_lookups(&server, "miss"), 2);
    let _ = scheduler.kill();
    let _ = scheduler.wait();
}
