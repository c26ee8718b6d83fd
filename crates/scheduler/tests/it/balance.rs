//! The seed's balance-daemon ports, with the seed's own Tcl scripts (tests/seed/, copied
//! verbatim from the thread): `bal-wrap.tcl` compiles through the lease port,
//! `balance-status-daemon.tcl` probes the servers the status port lists and reports them on
//! the update port; and the ports' own rules, spoken to by hand.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::farm::*;

/// `bal-wrap.tcl` connects to `localhost:5656`, hard-coded: the one test that runs it needs
/// that port, across test processes too (another checkout's suite on this machine).
const SEED_LEASE_PORT: u16 = 5656;

fn seed_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/seed")
        .join(name)
}

/// Free ports for the status and update ports, and the configuration line for all three.
/// The scheduler's sockets, the balance ports among them (`lease`, when given, and two
/// more), all held by the test from the start so that no other test can take a port
/// the configuration names before the scheduler has it: the sockets, the lease, status
/// and update ports, and the configuration line.
fn balance_sockets(lease: Option<std::net::TcpListener>) -> (Sockets, [u16; 3], String) {
    let mut sockets = Sockets::bind_more(2);
    let lease = lease.unwrap_or_else(|| std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    sockets.more.insert(0, lease);
    let ports = [0, 1, 2].map(|i| Sockets::port(&sockets.more[i]));
    let [lease, status, update] = ports;
    let line = format!("balance_ports = \"{lease},{status},{update}\"\n");
    (sockets, ports, line)
}

/// A held connection on the lease port.
struct LeaseClient {
    reader: BufReader<TcpStream>,
}

impl LeaseClient {
    fn connect(port: u16) -> LeaseClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        LeaseClient {
            reader: BufReader::new(stream),
        }
    }

    /// The next line within `within`, without its newline; `None` if none came.
    fn line_within(&mut self, within: Duration) -> Option<String> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(within))
            .unwrap();
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(n) if n > 0 => Some(line.trim_end_matches('\n').to_owned()),
            _ => None,
        }
    }

    fn line(&mut self) -> String {
        self.line_within(Duration::from_secs(20))
            .expect("the lease port answered nothing")
    }
}

/// Send `text` to the update port and return everything it answers.
fn update(port: u16, text: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(text).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The status port's text.
fn status_text(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// The distcc address a lease line names (`ip:port`, maybe `,lzo`).
fn lease_addr(line: &str) -> &str {
    line.split(',').next().unwrap()
}

/// The health of host `name` in a status document, if it is known yet.
fn health_in<'s>(status: &'s serde_json::Value, name: &str) -> Option<&'s str> {
    status["hosts"]
        .as_array()?
        .iter()
        .find(|h| h["name"] == name)?["health"]
        .as_str()
}

fn health(farm: &Farm, name: &str) -> (String, String) {
    let h = farm.host(name);
    (
        h["health"].as_str().unwrap().to_owned(),
        h["down_reason"].as_str().unwrap_or("").to_owned(),
    )
}

#[test]
fn a_server_reported_down_gets_no_lease_until_reported_up() {
    let (sockets, [lease_port, _, update_port], ports) = balance_sockets(None);
    // No speculative copies: they would take slots on their own and blur the count.
    let farm = Farm::start_on_with(
        &sockets,
        &["a", "b"],
        &format!("{ports}speculation = false\n"),
    );
    let (a, b) = (farm.server("a").port, farm.server("b").port);

    let answer = update(update_port, format!("{} down\n", addr(a)).as_bytes());
    assert!(answer.starts_with("ok: a: down"), "{answer}");
    assert_eq!(health(&farm, "a"), ("Down".into(), "Admin".into()));

    // Every slot of b, then one more client: it must wait, a being down.
    let b_slots = farm.host("b")["slots"].as_u64().unwrap();
    let mut held: Vec<LeaseClient> = (0..b_slots)
        .map(|_| {
            let mut c = LeaseClient::connect(lease_port);
            assert_eq!(lease_addr(&c.line()), addr(b));
            c
        })
        .collect();
    let mut waiting = LeaseClient::connect(lease_port);
    farm.wait_for(|s| s["queued"] == 1, "the extra client to queue");
    assert_eq!(waiting.line_within(Duration::from_millis(500)), None);
    let s = farm.status();
    assert_eq!(s["counters"]["grants"], b_slots, "{s}");
    assert_eq!(farm.host("a")["leases"], 0, "{s}");

    // Reported up: the waiting client gets a at once.
    let answer = update(update_port, format!("{} up\n", addr(a)).as_bytes());
    assert!(answer.starts_with("ok: a: up"), "{answer}");
    assert_eq!(lease_addr(&waiting.line()), addr(a));
    let s = farm.status();
    assert_eq!(farm.host("a")["leases"], 1, "{s}");
    assert_eq!(s["counters"]["grants"], b_slots + 1, "{s}");
    held.push(waiting);
    drop(held);
    farm.wait_for(|s| s["leases"] == 0, "every lease to come back");
}

#[test]
fn a_lease_client_that_disconnects_returns_its_slot() {
    let (sockets, [lease_port, ..], ports) = balance_sockets(None);
    let farm = Farm::start_on_with(&sockets, &["a"], &format!("{ports}speculation = false\n"));
    let a = farm.server("a").port;

    let mut one = LeaseClient::connect(lease_port);
    assert_eq!(lease_addr(&one.line()), addr(a));
    farm.wait_for(|s| s["leases"] == 1, "the lease to show");
    drop(one);
    farm.wait_for(
        |s| s["leases"] == 0,
        "the closed connection's slot to come back",
    );

    // A client that leaves while it waits withdraws its request.
    let slots = farm.host("a")["slots"].as_u64().unwrap();
    let held: Vec<LeaseClient> = (0..slots)
        .map(|_| {
            let mut c = LeaseClient::connect(lease_port);
            c.line();
            c
        })
        .collect();
    let waiting = LeaseClient::connect(lease_port);
    farm.wait_for(|s| s["queued"] == 1, "the extra client to queue");
    drop(waiting);
    farm.wait_for(|s| s["queued"] == 0, "the departed client's request to go");
    drop(held);
    farm.wait_for(|s| s["leases"] == 0, "every slot to come back");
    let s = farm.status();
    assert_eq!(s["counters"]["grants"], slots + 1, "{s}");
}

#[test]
fn the_update_port_explains_every_refusal_and_the_status_port_lists_the_servers() {
    let (sockets, [_, status_port, update_port], ports) = balance_sockets(None);
    // A stock distccd probed once at start (then not for two minutes): on probation, which a
    // status daemon's routine "up" must not turn into trust.
    let distccd = Distccd::start(&[]);
    let config = format!(
        "{ports}probe_interval_s = 120\n[[hosts]]\naddress = \"{}\"\nname = \"stock\"\nslots = 2\n",
        addr(distccd.port)
    );
    let farm = Farm::start_on_with(&sockets, &["a"], &config);
    farm.wait_for(
        |s| health_in(s, "stock") == Some("Probation") && health_in(s, "a") == Some("Up"),
        "a to register and stock to pass its first probe",
    );
    let a = farm.server("a").port;

    let text = status_text(status_port);
    let list = text
        .lines()
        .find_map(|l| l.strip_prefix("ServerList = "))
        .unwrap_or_else(|| panic!("no ServerList line: {text}"));
    let a_slots = farm.host("a")["slots"].as_u64().unwrap();
    // A Tcl list of {ip:port slots} pairs.
    let mut entries: Vec<String> = list
        .split("} {")
        .map(|e| e.trim_matches(|c| c == '{' || c == '}').to_owned())
        .collect();
    entries.sort();
    let mut expected = [
        format!("{} {a_slots}", addr(a)),
        format!("{} 2", addr(distccd.port)),
    ];
    expected.sort();
    assert_eq!(entries, expected, "{text}");
    assert!(
        text.contains("ServerNames (scheduler names) = ") && text.contains(" stock"),
        "{text}"
    );

    let answer = update(
        update_port,
        format!("{} up\n", addr(distccd.port)).as_bytes(),
    );
    assert!(answer.contains("not reported down here"), "{answer}");
    assert_eq!(health(&farm, "stock").0, "Probation");

    // Refused as soon as the cap is passed: no newline, no end of stream needed (a reader
    // that waited for either would buffer without bound).
    let mut s = TcpStream::connect(("127.0.0.1", update_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{} down{}", addr(a), " ".repeat(600)).as_bytes())
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "error: line longer than 512 bytes refused\n");
    let answer = update(
        update_port,
        b"nosuchhost:1 down\na sideways\na\n\xff down\n",
    );
    let answers: Vec<&str> = answer.lines().collect();
    assert_eq!(answers.len(), 4, "{answer}");
    assert!(
        answers[0].starts_with("error: no host \"nosuchhost:1\""),
        "{answer}"
    );
    assert!(answers[1].contains("\"sideways\" is neither"), "{answer}");
    assert!(answers[2].contains("expected \"SERVER up\""), "{answer}");
    assert_eq!(answers[3], "error: line is not UTF-8", "{answer}");
    // None of it touched a host.
    assert_eq!(health(&farm, "a").0, "Up");

    // A name works as well as an address; a second "down" is not an operator's event again.
    assert_eq!(update(update_port, b"a down\n"), "ok: a: down\n");
    assert_eq!(
        update(update_port, b"a down\n"),
        "ok: a is already down (taken down by this port)\n"
    );
    assert_eq!(update(update_port, b"a up\n"), "ok: a: up\n");
    assert_eq!(health(&farm, "a").0, "Up");
}

/// A child process killed (and reaped) when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `bal-wrap.tcl distcc gcc -c x.c -o x.o` in `dir` (fallback off).
fn bal_wrap(dir: &Path) -> Output {
    let _ = std::fs::remove_file(dir.join("x.o"));
    let mut command = Command::new("tclsh");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("DISTCC_") {
            command.env_remove(key);
        }
    }
    command
        .arg(seed_script("bal-wrap.tcl"))
        .args(["distcc", "gcc", "-c", "x.c", "-o", "x.o"])
        .current_dir(dir)
        .env("DISTCC_FALLBACK", "0")
        .env("DISTCC_BACKOFF_PERIOD", "0")
        .env("DISTCC_DIR", dir.join(".distcc"))
        .env("DISTCC_VERBOSE", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Where distcc says it compiled (`bal-wrap.tcl` mixes distcc's stderr into its stdout, and
/// always exits 0, so the object file and this line are the only evidence).
fn compiled_on(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            l.split_once("compile x.c on ")?
                .1
                .strip_suffix(" completed ok")
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no successful compile: {text}"))
}

#[test]
fn the_seed_scripts_work_unchanged_against_the_scheduler() {
    require("tclsh");
    let lock_path = std::env::temp_dir().join("ccfarm-balance-port-5656.lock");
    // Held to the end: test binaries running at once take turns on the fixed port.
    // (`nix`'s flock rather than `File::lock`, which needs a newer Rust than the workspace's.)
    let lock = nix::fcntl::Flock::lock(
        std::fs::File::create(&lock_path).unwrap(),
        nix::fcntl::FlockArg::LockExclusive,
    )
    .map_err(|(_, e)| e)
    .unwrap();
    let lease = std::net::TcpListener::bind(("127.0.0.1", SEED_LEASE_PORT)).unwrap_or_else(|e| {
        panic!("port {SEED_LEASE_PORT} (hard-coded in bal-wrap.tcl) is taken: {e}")
    });
    let (sockets, [_, status_port, update_port], ports) = balance_sockets(Some(lease));
    // The stock distccd is probed at start and then not for two minutes: when it stops, only
    // the status daemon can tell.
    let distccd = Distccd::start(&[]);
    let config = format!(
        "{ports}probe_interval_s = 120\n[[hosts]]\naddress = \"{}\"\nname = \"stock\"\nslots = 2\n",
        addr(distccd.port)
    );
    let mut farm = Farm::start_on_with(&sockets, &["a", "b"], &config);
    farm.wait_for(
        |s| {
            health_in(s, "a") == Some("Up")
                && health_in(s, "b") == Some("Up")
                && health_in(s, "stock") == Some("Probation")
        },
        "a and b to register and stock to pass its first probe",
    );

    let scratch = Scratch::new();
    let dir = scratch.path();
    std::fs::create_dir_all(dir.join(".distcc")).unwrap();
    scratch.write("x.c", "int twice(int x) { return 2 * x; }\n");
    let local = compile_in(dir, "gcc", &["-c", "x.c", "-o", "local.o"]);
    assert!(local.status.success());
    let local = scratch.read("local.o");

    // A compile through the lease port, on the server it names, identical to a local one.
    let out = bal_wrap(dir);
    let host = compiled_on(&out);
    assert_eq!(scratch.read("x.o"), local);
    let on = |port: u16| lease_addr(&host) == addr(port);
    if on(farm.server("a").port) {
        assert_eq!(compiled(farm.server("a")), 1);
    } else if on(farm.server("b").port) {
        assert_eq!(compiled(farm.server("b")), 1);
    } else {
        assert!(on(distccd.port), "compiled on {host}, not a farm host");
        assert!(distccd.log().contains("COMPILE_OK"), "{}", distccd.log());
    }
    farm.wait_for(
        |s| s["leases"] == 0 && s["counters"]["grants"] == 1,
        "the wrapper's lease to come back",
    );

    // Every server reported down: the lease port says localhost, and distcc compiles there
    // even with fallback off.
    for port in [farm.server("a").port, farm.server("b").port, distccd.port] {
        let answer = update(update_port, format!("{} down\n", addr(port)).as_bytes());
        assert!(answer.starts_with("ok: "), "{answer}");
    }
    let out = bal_wrap(dir);
    assert_eq!(compiled_on(&out), "localhost");
    assert_eq!(scratch.read("x.o"), local);
    for port in [farm.server("a").port, farm.server("b").port, distccd.port] {
        let answer = update(update_port, format!("{} up\n", addr(port)).as_bytes());
        assert!(answer.starts_with("ok: "), "{answer}");
    }

    // The status daemon, unchanged: b and stock stop; its first round (at once) reports
    // them down, and the scheduler takes them out of service on its word (an operator's
    // down: the scheduler had only seen b leave, and had not noticed stock at all).
    farm.servers.retain(|(name, _)| name != "b");
    drop(distccd);
    let stderr = scratch.path().join("status-daemon.err");
    let daemon = Command::new("tclsh")
        .arg(seed_script("balance-status-daemon.tcl"))
        .args([
            "localhost",
            &status_port.to_string(),
            &update_port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    // It loops forever: killed on the way out, also when an assertion fails.
    let daemon = KillOnDrop(daemon);
    let started = Instant::now();
    farm.wait_for(
        |_| {
            health(&farm, "b") == ("Down".into(), "Admin".into())
                && health(&farm, "stock") == ("Down".into(), "Admin".into())
        },
        "the status daemon to report b and stock down",
    );
    assert_eq!(health(&farm, "a").0, "Up", "a answers, so it stays up");

    // b comes back (most likely on another port: the update port keys its reports by the
    // scheduler's name, so that does not matter): registering alone does not undo the
    // report, the status daemon's next round (ten seconds later) does.
    farm.add_server("b");
    farm.wait_for(
        |_| farm.host("b")["health"] == "Up",
        "the status daemon to report b up",
    );
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "b came back before the second round"
    );
    assert_eq!(health(&farm, "stock"), ("Down".into(), "Admin".into()));
    drop(daemon);
    let errors = std::fs::read_to_string(&stderr).unwrap();
    assert_eq!(errors, "", "the status daemon caught errors");
    drop(lock);
}
