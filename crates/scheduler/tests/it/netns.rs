//! Separate hosts on one machine: each compile server in a network namespace of its own,
//! joined to this one by a veth pair, so that a fault can be injected on its link alone
//! (cut, lossy, slow) while the scheduler and the clients run here. Every namespace,
//! link and rule is made by the test and removed when it is dropped; traffic stays
//! between this namespace and the test's own.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::farm::*;

/// Run `ip` (or any command) and require success.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One namespace and its link: `host_ip` on this side, `ns_ip` inside.
pub struct Link {
    pub ns: String,
    host_if: String,
    pub host_ip: String,
    pub ns_ip: String,
}

static NEXT: AtomicU32 = AtomicU32::new(1);

impl Link {
    /// A new namespace with loopback up and a /30 link to this namespace. Addresses come
    /// from 10.213.0.0/16, numbered by process and link so that concurrent tests differ.
    pub fn create() -> Link {
        assert!(
            nix::unistd::Uid::effective().is_root(),
            "network namespaces need root: run the suite as root (scripts/test.sh does)"
        );
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = (std::process::id() % 1000) * 64 + n % 64;
        let ns = format!("ccf-{}-{n}", std::process::id());
        let host_if = format!("cf{tag}h");
        let ns_if = format!("cf{tag}n");
        // 16,384 /30 subnets of 10.213/16: four addresses each.
        let base = (tag % 16_384) * 4;
        let ip = |k: u32| format!("10.213.{}.{}", (base + k) / 256, (base + k) % 256);
        let (host_ip, ns_ip) = (ip(1), ip(2));
        run("ip", &["netns", "add", &ns]);
        let link = Link {
            ns,
            host_if,
            host_ip,
            ns_ip,
        };
        run(
            "ip",
            &[
                "link",
                "add",
                &link.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &ns_if,
            ],
        );
        run("ip", &["link", "set", &ns_if, "netns", &link.ns]);
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/30", link.host_ip),
                "dev",
                &link.host_if,
            ],
        );
        run("ip", &["link", "set", &link.host_if, "up"]);
        link.exec(&["ip", "link", "set", "lo", "up"]);
        link.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{}/30", link.ns_ip),
            "dev",
            &ns_if,
        ]);
        link.exec(&["ip", "link", "set", &ns_if, "up"]);
        link
    }

    /// Run a command inside the namespace and require success.
    pub fn exec(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.ns];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// Cut the namespace off (every packet in or out dropped, silently, as a network
    /// partition does: the link stays up, so no route changes and nothing is refused),
    /// or heal it.
    pub fn partition(&self, cut: bool) {
        if cut {
            self.load_rules(
                "ccfarm_partition",
                "chain input { type filter hook input priority -10; drop; }\n\
                 chain output { type filter hook output priority -10; drop; }",
            );
        } else {
            self.exec(&["nft", "delete", "table", "inet", "ccfarm_partition"]);
        }
    }

    /// Load nft `chains` as table `table` inside the namespace.
    fn load_rules(&self, table: &str, chains: &str) {
        let path = std::env::temp_dir().join(format!("{}-{table}.nft", self.ns));
        std::fs::write(&path, format!("table inet {table} {{\n{chains}\n}}\n")).unwrap();
        self.exec(&["nft", "-f", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(path);
    }

    /// Drop `percent` of the packets the namespace sends and receives.
    pub fn lose(&self, percent: u32) {
        self.load_rules(
            "ccfarm_faults",
            &format!(
                "chain input {{ type filter hook input priority 0; numgen random mod 100 < {percent} counter drop; }}\n\
                 chain output {{ type filter hook output priority 0; numgen random mod 100 < {percent} counter drop; }}"
            ),
        );
    }

    /// Packets dropped so far by [`Link::lose`]'s rules.
    pub fn dropped(&self) -> u64 {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "nft",
                "list",
                "table",
                "inet",
                "ccfarm_faults",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[0] == "packets")
            .filter_map(|w| w[1].parse::<u64>().ok())
            .sum()
    }

    /// Whether this kernel can delay packets (`tc qdisc ... netem`): tried on a link of
    /// a namespace made for the question.
    pub fn has_netem() -> bool {
        let probe = Link::create();
        let ns_if = probe.host_if.replace('h', "n");
        Command::new("ip")
            .args([
                "netns", "exec", &probe.ns, "tc", "qdisc", "add", "dev", &ns_if,
            ])
            .args(["root", "netem", "delay", "1ms"])
            .output()
            .is_ok_and(|out| out.status.success())
    }

    /// Delay every packet on the link by `ms` each way.
    pub fn delay_ms(&self, ms: u32) {
        let ns_if = self.host_if.replace('h', "n");
        let delay = format!("{ms}ms");
        run(
            "tc",
            &[
                "qdisc",
                "add",
                "dev",
                &self.host_if,
                "root",
                "netem",
                "delay",
                &delay,
            ],
        );
        self.exec(&[
            "tc", "qdisc", "add", "dev", &ns_if, "root", "netem", "delay", &delay,
        ]);
    }

    /// Make the link slow: `rate` (tc's notation, e.g. `4mbit`) each way, with up to
    /// half a second of queueing.
    pub fn slow(&self, rate: &str) {
        let tbf = |dev: &str| {
            vec![
                "tc".to_owned(),
                "qdisc".into(),
                "add".into(),
                "dev".into(),
                dev.to_owned(),
                "root".into(),
                "tbf".into(),
                "rate".into(),
                rate.to_owned(),
                "burst".into(),
                "32kbit".into(),
                "latency".into(),
                "500ms".into(),
            ]
        };
        let host: Vec<String> = tbf(&self.host_if);
        run(
            "tc",
            &host[1..].iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let ns_if = self.host_if.replace('h', "n");
        let inner = tbf(&ns_if);
        self.exec(&inner.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Deleting one end of a veth pair deletes both; the namespace then goes, and
        // with it every rule and queue made inside.
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

/// A ccfarmd in a namespace of its own, registered with the scheduler across its link.
pub struct NsServer {
    pub name: String,
    pub child: Child,
    pub link: Link,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The port every namespaced server listens on: each has the namespace to itself.
pub const NS_PORT: u16 = 3632;

impl NsServer {
    /// Start ccfarmd as `name` in a new namespace, registering with the scheduler
    /// listening on `scheduler_port` on this side of the link.
    pub fn start(name: &str, scheduler_port: u16) -> NsServer {
        let link = Link::create();
        let dir = tempfile::Builder::new()
            .prefix("ccfarmd-ns-")
            .tempdir()
            .unwrap();
        let jobs = dir.path().join("jobs");
        std::fs::create_dir(&jobs).unwrap();
        let log = dir.path().join("ccfarmd.log");
        let child = Command::new("ip")
            .args(["netns", "exec", &link.ns])
            .arg(ccfarmd())
            .args(["--no-detach", "--log-level", "debug", "--jobs", "4"])
            .args(["--port", &NS_PORT.to_string()])
            .args(["--allow", &format!("{}/32", link.host_ip)])
            .args([
                "--scheduler",
                &format!("{}:{scheduler_port}", link.host_ip),
                "--insecure",
            ])
            .args(["--name", name])
            .arg("--tmp-dir")
            .arg(&jobs)
            .arg("--log-file")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        NsServer {
            name: name.to_owned(),
            child,
            link,
            log,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait up to `within` for `ready` on the status document; how long it took.
pub fn time_until(
    farm: &Farm,
    within: Duration,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if ready(&farm.status()) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}
