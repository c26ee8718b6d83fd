//! The scheduler's configuration: a TOML file (`--config`), overridden by flags.
//!
//! ```toml
//! listen = "0.0.0.0:7700"
//! http = "0.0.0.0:7701"
//! policy = "earliest-finish"
//! heartbeat_timeout_s = 3
//!
//! [users]                 # fair-share weights (default 1)
//! release-bot = 0.5
//!
//! [servers.build7]        # a ccfarmd registering as `--name build7`
//! weight = 0.5            # half as fast as the reference machine (seeds its learned speed)
//!
//! [[hosts]]               # a stock distccd, probed by the scheduler
//! address = "10.0.0.5:3632"
//! slots = 4
//! lzo = true
//! compilers = [{ version = "12.2.0", target = "x86_64-linux-gnu" }]  # else the probe's
//! ```
//!
//! Every field is optional; unknown fields are an error, so a typo is not silently ignored.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use ccfarm_placement::{Config, Policy, Speculation};
use ccfarm_proto::farm::CompilerKey;
use serde::Deserialize;

/// The file's contents.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address for clients and servers.
    pub listen: Option<SocketAddr>,
    /// Address of the HTTP status, metrics and dashboard endpoint.
    pub http: Option<SocketAddr>,
    /// The distcc proxy port (`--distcc-proxy`).
    pub distcc_proxy: Option<SocketAddr>,
    /// The balance-daemon ports, `LEASE,STATUS,UPDATE` (`--balance-ports`).
    pub balance_ports: Option<String>,
    /// Placement policy name.
    pub policy: Option<String>,
    /// A registered server silent this long is down.
    pub heartbeat_timeout_s: Option<f64>,
    /// A request waiting this long is told to compile locally.
    pub max_wait_s: Option<f64>,
    /// For this long after start, a request no server can take yet waits for servers to
    /// register instead of being told to compile locally [default: 10].
    pub startup_grace_s: Option<f64>,
    /// A client connection silent this long is pinged; one silent three times this long
    /// (a stopped process) is cut off, which frees its leases [default: 5].
    pub client_ping_s: Option<f64>,
    /// The most the control port's connections may hold of unfinished messages, all
    /// together, in KiB; past it, the connection that asks for more is cut off with the
    /// reason [default: 65536, 64 MiB].
    pub max_unread_kib: Option<usize>,
    /// On SIGTERM, how long the work under way (leases held, proxied jobs) may take to
    /// finish before the process exits anyway [default: 10].
    pub drain_timeout_s: Option<f64>,
    /// How many requests one client connection may have waiting or granted at once;
    /// more are answered "compile locally" with the reason [default: 8].
    pub max_requests_per_connection: Option<u32>,
    /// How many requests one user may have waiting or granted at once over all its
    /// connections; more are answered "compile locally" with the reason [default: no
    /// limit: the fair queue already shares the farm between users].
    pub max_requests_per_user: Option<u32>,
    /// How often static hosts are probed.
    pub probe_interval_s: Option<f64>,
    /// A probe not answered within this is a failure.
    pub probe_timeout_s: Option<f64>,
    /// The compiler name a probe asks a distccd to run (it must be on its allow-list).
    pub probe_compiler: Option<String>,
    /// Start a second copy of a straggler on a faster idle server.
    pub speculation: Option<bool>,
    /// Turns a user that starts waiting (a new build) goes ahead of the others before it
    /// shares equally; 0 for plain round-robin from its first request.
    pub fair_credit: Option<f64>,
    /// Hosts reporting less free memory than this (MiB) get no new work.
    pub min_free_memory_mb: Option<u64>,
    /// Bearer token required by the admin API (`/admin/...`); without one the admin API
    /// is disabled. Prefer `admin_token_file` so the token is not in a world-readable file.
    pub admin_token: Option<String>,
    /// A file holding the admin token (first line).
    pub admin_token_file: Option<std::path::PathBuf>,
    /// The scheduler's credential directory (`ccfarm ca issue scheduler NAME`): with it,
    /// the control port and the HTTP endpoint speak TLS and every client and server
    /// proves who it is.
    pub credentials: Option<std::path::PathBuf>,
    /// Accept unauthenticated plaintext on ports reachable from the network
    /// (`--insecure`).
    pub insecure: Option<bool>,
    /// Who may use the distcc proxy port: `ADDR[/BITS]` networks (default: loopback).
    pub distcc_proxy_allow: Option<Vec<String>>,
    /// The shared result cache the distcc proxy answers from (`redis://…`,
    /// `webdav+http://…`, `memcached://…`, `s3://…`); the farm's servers write it.
    pub cache: Option<String>,
    /// Longest a cache look-up may take before the job goes to a server (default 300).
    pub cache_deadline_ms: Option<u64>,
    /// Who may use the balance-daemon ports: `ADDR[/BITS]` networks (default: loopback).
    pub balance_allow: Option<Vec<String>>,
    /// Fair-share weight per user.
    #[serde(default)]
    pub users: BTreeMap<String, f64>,
    /// Settings for registered ccfarmd servers, by the name they register with.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerConfig>,
    /// Stock distccd hosts (no registration, probed).
    #[serde(default)]
    pub hosts: Vec<StaticHost>,
}

/// Settings for a registered server.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Relative speed (1 = reference machine); seeds the learned speed.
    pub weight: Option<f64>,
}

/// A stock distccd the scheduler hands out and probes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticHost {
    /// `host:port` of its distccd (port 3632 if omitted).
    pub address: String,
    /// Name shown on the dashboard and used by admin commands (default: the address).
    pub name: Option<String>,
    /// Concurrent jobs.
    pub slots: u32,
    /// Relative speed (default 1).
    #[serde(default = "one")]
    pub weight: f64,
    /// Whether it takes protocol 2 (LZO).
    #[serde(default)]
    pub lzo: bool,
    /// Its compilers' versions and targets. Jobs that name their compiler go only to a
    /// host that has it; without this, the probe learns the compiler from the object it
    /// gets back, and until then the host takes only jobs that name none.
    #[serde(default)]
    pub compilers: Vec<CompilerKey>,
}

fn one() -> f64 {
    1.0
}

impl StaticHost {
    /// The name the scheduler knows it by.
    pub fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.address.clone())
    }

    /// Its socket address (default port 3632).
    pub fn socket_addr(&self) -> anyhow::Result<SocketAddr> {
        use std::net::ToSocketAddrs;
        let with_port =
            if self.address.rsplit_once(':').is_some_and(|(h, p)| {
                !h.is_empty() && !h.ends_with(':') && p.parse::<u16>().is_ok()
            }) {
                self.address.clone()
            } else {
                format!("{}:3632", self.address)
            };
        with_port
            .to_socket_addrs()
            .with_context(|| format!("host {}", self.address))?
            .next()
            .with_context(|| format!("host {}: no address", self.address))
    }
}

/// How long a started scheduler waits for servers before it tells a client that no
/// server can take its job: servers retry a lost scheduler with a backoff capped at 10 s,
/// so after a restart every live server is back within it.
pub const DEFAULT_STARTUP_GRACE: Duration = Duration::from_secs(10);

/// The default of `max_unread_kib`: 256 connections each in the middle of a frame of the
/// largest size, while a live client's frames are a few hundred bytes.
pub const DEFAULT_MAX_UNREAD_KIB: usize = 64 * 1024;

/// The default of `drain_timeout_s`: as long as the next process's start-up grace, so
/// that requests it holds meanwhile for want of servers (which stay with this process
/// until it exits) are granted before that grace runs out.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = DEFAULT_STARTUP_GRACE;

impl FileConfig {
    /// Read and parse a configuration file.
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        FileConfig::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parse a configuration's text.
    pub fn parse(text: &str) -> anyhow::Result<FileConfig> {
        let config: FileConfig = toml::from_str(text)?;
        for host in &config.hosts {
            if host.slots == 0 {
                bail!("host {}: slots must be at least 1", host.address);
            }
        }
        Ok(config)
    }

    /// How long a client connection may be silent before it is pinged
    /// ([`Self::client_ping_s`]).
    pub fn client_ping(&self) -> anyhow::Result<Duration> {
        let v = self.client_ping_s.unwrap_or(5.0);
        Duration::try_from_secs_f64(v)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                anyhow::anyhow!("client_ping_s: {v} is not a positive duration in seconds")
            })
    }

    /// How long a drain on SIGTERM may last ([`Self::drain_timeout_s`]).
    pub fn drain_timeout(&self) -> anyhow::Result<Duration> {
        let v = self
            .drain_timeout_s
            .unwrap_or(DEFAULT_DRAIN_TIMEOUT.as_secs_f64());
        Duration::try_from_secs_f64(v)
            .map_err(|_| anyhow::anyhow!("drain_timeout_s: {v} is not a duration in seconds"))
    }

    /// The state machine's tunables, from the defaults and this file.
    pub fn sched_config(&self, policy: Policy) -> anyhow::Result<Config> {
        let mut config = Config {
            policy,
            heartbeat_timeout: Duration::from_secs(3),
            startup_grace: DEFAULT_STARTUP_GRACE,
            ..Config::default()
        };
        let secs = |name: &str, v: f64| -> anyhow::Result<Duration> {
            Duration::try_from_secs_f64(v)
                .map_err(|_| anyhow::anyhow!("{name}: {v} is not a duration in seconds"))
        };
        if let Some(v) = self.heartbeat_timeout_s {
            config.heartbeat_timeout = secs("heartbeat_timeout_s", v)?;
        }
        if let Some(v) = self.max_wait_s {
            config.max_wait = secs("max_wait_s", v)?;
        }
        if let Some(v) = self.startup_grace_s {
            config.startup_grace = secs("startup_grace_s", v)?;
        }
        if let Some(v) = self.probe_interval_s {
            config.probe_interval = secs("probe_interval_s", v)?;
        }
        if let Some(v) = self.probe_timeout_s {
            config.probe_timeout = secs("probe_timeout_s", v)?;
        }
        if let Some(false) = self.speculation {
            config.speculation = None;
        } else if config.speculation.is_none() {
            config.speculation = Some(Speculation::default());
        }
        if let Some(c) = self.fair_credit {
            config.fair_credit = c;
        }
        if let Some(mb) = self.min_free_memory_mb {
            config.min_free_memory = mb * 1024 * 1024;
        }
        config.user_weights = self.users.clone();
        config.validate().context("scheduler settings")?;
        Ok(config)
    }

    /// The admin token, from `admin_token` or `admin_token_file`.
    pub fn admin_token(&self) -> anyhow::Result<Option<String>> {
        if let Some(token) = &self.admin_token {
            return Ok(Some(token.clone()));
        }
        let Some(path) = &self.admin_token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("admin token file {}", path.display()))?;
        let token = text.lines().next().unwrap_or("").trim().to_owned();
        if token.is_empty() {
            bail!("admin token file {} is empty", path.display());
        }
        Ok(Some(token))
    }

    /// The configured weight of a registered server (1 when not configured).
    pub fn server_weight(&self, name: &str) -> f64 {
        self.servers.get(name).and_then(|s| s.weight).unwrap_or(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses() {
        let c = FileConfig::parse(
            r#"
            listen = "127.0.0.1:7700"
            http = "127.0.0.1:7701"
            policy = "fastest-free"
            heartbeat_timeout_s = 2.5
            max_wait_s = 60
            speculation = false
            fair_credit = 2
            [users]
            bot = 0.5
            [servers.fast1]
            weight = 2.0
            [[hosts]]
            address = "10.0.0.5:3632"
            slots = 4
            lzo = true
            compilers = [{ version = "12.2.0", target = "x86_64-linux-gnu" }]
            [[hosts]]
            address = "10.0.0.6"
            name = "old-box"
            slots = 2
            weight = 0.25
            "#,
        )
        .unwrap();
        assert_eq!(c.policy.as_deref(), Some("fastest-free"));
        assert_eq!(c.server_weight("fast1"), 2.0);
        assert_eq!(c.server_weight("other"), 1.0);
        assert_eq!(c.hosts[0].name(), "10.0.0.5:3632");
        assert_eq!(c.hosts[1].name(), "old-box");
        assert_eq!(c.hosts[1].socket_addr().unwrap().port(), 3632);
        assert_eq!(c.hosts[1].weight, 0.25);
        assert!(!c.hosts[1].lzo);
        assert_eq!(c.hosts[0].compilers[0].version, "12.2.0");
        assert_eq!(c.hosts[0].compilers[0].target, "x86_64-linux-gnu");
        assert!(c.hosts[1].compilers.is_empty(), "identified by its probe");
        let s = c.sched_config(Policy::FastestFree).unwrap();
        assert_eq!(s.heartbeat_timeout, Duration::from_millis(2500));
        assert_eq!(s.max_wait, Duration::from_secs(60));
        assert_eq!(s.speculation, None);
        assert_eq!(s.fair_credit, 2.0);
        assert_eq!(s.user_weights.get("bot"), Some(&0.5));
    }

    #[test]
    fn mistakes_are_errors() {
        assert!(FileConfig::parse("lisen = \"1.2.3.4:5\"").is_err());
        assert!(FileConfig::parse("[[hosts]]\naddress = \"a\"\nslots = 0").is_err());
        assert!(FileConfig::parse("[[hosts]]\naddress = \"a\"").is_err());
        let negative = FileConfig::parse("max_wait_s = -1").unwrap();
        assert!(negative.sched_config(Policy::EarliestFinish).is_err());
        let credit = FileConfig::parse("fair_credit = -1").unwrap();
        assert!(credit.sched_config(Policy::EarliestFinish).is_err());
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        let c = FileConfig::parse("").unwrap();
        let s = c.sched_config(Policy::EarliestFinish).unwrap();
        assert_eq!(s.heartbeat_timeout, Duration::from_secs(3));
        assert!(s.speculation.is_some());
    }
}

#[cfg(test)]
mod example {
    use super::*;

    /// The example shipped for operators must stay valid.
    #[test]
    fn the_deployment_example_parses() {
        let text = include_str!("../../../deploy/scheduler.toml");
        let c = FileConfig::parse(text).unwrap();
        assert_eq!(c.server_weight("old-xeon"), 0.5);
        assert_eq!(c.hosts.len(), 1);
        assert!(c.admin_token_file.is_some());
        c.sched_config(Policy::EarliestFinish).unwrap();
    }
}
