//! ccfarmd's settings: distccd-compatible command-line flags, a TOML file for all of
//! them, and the validated result. Command-line values win over the file, the file
//! over the defaults.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ccfarm_proto::distcc::Limits;
use clap::Parser;
use serde::Deserialize;

use crate::allow::{AllowList, Cidr};
use crate::sandbox::{FileSandbox, SandboxFlags, SandboxSettings};

/// The distcc port.
pub const DEFAULT_PORT: u16 = 3632;
/// The distcc stats port.
pub const DEFAULT_STATS_PORT: u16 = 3633;

/// Command-line flags. Names and meanings follow distccd's, so ccfarmd can replace it
/// in existing scripts and unit files.
#[derive(Debug, Default, Parser)]
#[command(
    name = "ccfarmd",
    about = "ccfarm compile server: runs allow-listed compilers for distcc and ccfarm clients",
    disable_version_flag = true,
    after_help = "Every flag can also be set in the TOML file given with --config; see docs/ccfarmd.md."
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// TCP port for distcc clients [default: 3632].
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Address to listen on [default: all addresses].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<IpAddr>,
    /// Allow clients from ADDR[/BITS]; repeatable. Without any, only loopback is allowed.
    #[arg(short, long, value_name = "ADDR[/BITS]")]
    pub allow: Vec<Cidr>,
    /// Allow the private networks (10/8, 172.16/12, 192.168/16, 127/8, fc00::/7, fe80::/10, ::1).
    #[arg(long)]
    pub allow_private: bool,
    /// Concurrent compiles [default: CPUs + 2].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Requests that may wait for a compile slot before the server answers "busy" [default: 128].
    #[arg(long, value_name = "N")]
    pub max_queue: Option<u32>,
    /// Kill a compile running longer than S seconds [default: no limit].
    #[arg(long, value_name = "S")]
    pub job_lifetime: Option<u64>,
    /// Timeout in seconds of every socket read and write [default: 120].
    #[arg(long, value_name = "S")]
    pub io_timeout: Option<u64>,
    /// Offer the scheduler no slots while the load average not caused by our own
    /// compiles is above L (a donated desktop whose owner is busy).
    #[arg(long, value_name = "L")]
    pub max_load: Option<f64>,
    /// Exit after S seconds (for tests).
    #[arg(long, value_name = "S")]
    pub lifetime: Option<u64>,
    /// Also allow this compiler (a name found on PATH, or an absolute path); repeatable.
    #[arg(long, value_name = "NAME|PATH")]
    pub allow_compiler: Vec<String>,
    /// Time a calibration compile with this compiler (the one the farm's builds use), so
    /// that the scheduler compares servers on the same work; `off` for none [default:
    /// `cc` when allowed, else the first allowed compiler].
    #[arg(long, value_name = "NAME|off")]
    pub calibrate_with: Option<String>,
    /// Directory for job files [default: $TMPDIR or /tmp].
    #[arg(long, value_name = "DIR")]
    pub tmp_dir: Option<PathBuf>,
    /// Detach into the background (the default, as with distccd).
    #[arg(long)]
    pub daemon: bool,
    /// Stay in the foreground.
    #[arg(long)]
    pub no_detach: bool,
    /// Unsupported (distccd's inetd mode); refused with an explanation.
    #[arg(long, hide = true)]
    pub inetd: bool,
    /// Register with the ccfarm scheduler at HOST:PORT (or with each of a comma-separated list) and send it heartbeats
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: Option<String>,
    /// This server's name in the farm [default: the name its credentials prove, else
    /// HOSTNAME:PORT].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// This server's credential directory (from `ccfarm ca issue server NAME`): it
    /// registers over TLS proving its name, and takes TLS jobs with the scheduler's
    /// grant tickets.
    #[arg(long, value_name = "DIR")]
    pub credentials: Option<PathBuf>,
    /// Register with a scheduler across the network without credentials.
    #[arg(long)]
    pub insecure: bool,
    /// Answer jobs from, and store results in, the shared result cache at URL
    /// (`redis://HOST:PORT`, `webdav+http://HOST/PATH`, `memcached://HOST:PORT`, `s3://BUCKET/PREFIX`).
    #[arg(long, value_name = "URL")]
    pub cache: Option<String>,
    /// Run as USER (started as root: drop privileges after binding the ports).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Write the daemon's pid to FILE.
    #[arg(short = 'P', long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Write the log to FILE.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Write the log to stderr (the default when not detached).
    #[arg(long)]
    pub log_stderr: bool,
    /// Log level: critical, error, warning, notice, info or debug [default: notice].
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Same as --log-level=debug.
    #[arg(long)]
    pub verbose: bool,
    /// Serve statistics over HTTP.
    #[arg(long)]
    pub stats: bool,
    /// Port for --stats [default: 3633].
    #[arg(long, value_name = "PORT")]
    pub stats_port: Option<u16>,
    /// Accepted for distccd compatibility; the compiler allow-list stays in force.
    #[arg(long, alias = "make-me-a-botnet")]
    pub enable_tcp_insecure: bool,
    /// Accepted for distccd compatibility (niceness of compiles); ignored.
    #[arg(short = 'N', long, value_name = "N")]
    pub nice: Option<i32>,
    /// The compile sandbox and resource limits.
    #[command(flatten)]
    pub sandbox: SandboxFlags,
    /// Print the version and exit.
    #[arg(long)]
    pub version: bool,
}

/// The TOML file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    port: Option<u16>,
    listen: Option<IpAddr>,
    allow: Option<Vec<String>>,
    jobs: Option<u32>,
    max_queue: Option<u32>,
    max_connections: Option<u32>,
    job_lifetime_secs: Option<u64>,
    io_timeout_secs: Option<u64>,
    max_load: Option<f64>,
    kill_grace_ms: Option<u64>,
    allowed_compilers: Option<Vec<String>>,
    calibrate_with: Option<String>,
    tmp_dir: Option<PathBuf>,
    stats: Option<bool>,
    stats_port: Option<u16>,
    log_file: Option<PathBuf>,
    log_level: Option<String>,
    pid_file: Option<PathBuf>,
    user: Option<String>,
    scheduler: Option<String>,
    name: Option<String>,
    credentials: Option<PathBuf>,
    insecure: Option<bool>,
    cache: Option<String>,
    cache_deadline_ms: Option<u64>,
    limits: Option<FileLimits>,
    sandbox: Option<FileSandbox>,
}

/// `[limits]` in the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_args: Option<u32>,
    max_arg_len: Option<u32>,
    max_body_len: Option<u32>,
    max_decompressed_len: Option<usize>,
    max_files: Option<u32>,
    max_message_len: Option<u64>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address of the distcc listener.
    pub listen: IpAddr,
    /// Port of the distcc listener.
    pub port: u16,
    /// Allowed clients.
    pub allow: AllowList,
    /// Concurrent compiles.
    pub jobs: usize,
    /// Waiting requests.
    pub max_queue: usize,
    /// Open connections.
    pub max_connections: usize,
    /// Compile time limit.
    pub job_lifetime: Option<Duration>,
    /// Socket read/write timeout.
    pub io_timeout: Duration,
    /// Foreign load above which the scheduler is offered no slots.
    pub max_load: Option<f64>,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Extra allowed compilers.
    pub allowed_compilers: Vec<String>,
    /// The compiler of the calibration compile as configured (`off`: none; unset: the
    /// default choice, [`crate::calibrate::choose`]).
    pub calibrate_with: Option<String>,
    /// Job directory parent.
    pub tmp_dir: PathBuf,
    /// Stats port, when stats are on.
    pub stats_port: Option<u16>,
    /// Log file.
    pub log_file: Option<PathBuf>,
    /// Log to stderr.
    pub log_stderr: bool,
    /// Log filter directive.
    pub log_level: tracing::Level,
    /// Pid file.
    pub pid_file: Option<PathBuf>,
    /// User to run as.
    pub user: Option<String>,
    /// The scheduler to register with.
    pub scheduler: Option<String>,
    /// This server's name in the farm.
    pub name: String,
    /// Whether the name was configured (else it defaults to the credentials' name).
    pub name_configured: bool,
    /// The credential directory.
    pub credentials: Option<PathBuf>,
    /// Detach.
    pub detach: bool,
    /// Exit after this long.
    pub lifetime: Option<Duration>,
    /// Wire limits.
    pub limits: Limits,
    /// The compile sandbox and resource limits.
    pub sandbox: SandboxSettings,
    /// The shared result cache's URL.
    pub cache: Option<String>,
    /// Longest a shared cache operation may take before it counts as a miss.
    pub cache_deadline: Duration,
}

/// A configuration mistake, reported before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for ccfarmd.
    #[error("invalid configuration in {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range or meaningless.
    #[error("{0}")]
    Invalid(String),
    /// The sandbox's settings are wrong.
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SettingsError),
}

impl Cli {
    /// Combine the flags with the file they name (if any) and validate.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.clone(),
                    source: Box::new(source),
                })?
            }
            None => FileConfig::default(),
        };
        self.merge(file)
    }

    fn merge(self, file: FileConfig) -> Result<Config, ConfigError> {
        if self.inetd {
            return Err(ConfigError::Invalid(
                "--inetd is not supported: run ccfarmd as a standalone daemon".into(),
            ));
        }
        let mut allow = self.allow;
        if allow.is_empty() {
            for value in file.allow.unwrap_or_default() {
                allow.push(
                    value
                        .parse()
                        .map_err(|e| ConfigError::Invalid(format!("{e}")))?,
                );
            }
        }
        if self.allow_private {
            for net in [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "127.0.0.0/8",
                "fc00::/7",
                "fe80::/10",
                "::1/128",
            ] {
                allow.push(net.parse().expect("valid built-in network"));
            }
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = self.jobs.or(file.jobs).map_or(cpus + 2, |j| j as usize);
        if jobs == 0 {
            return Err(ConfigError::Invalid("jobs must be at least 1".into()));
        }
        let max_queue = self
            .max_queue
            .or(file.max_queue)
            .map_or(128, |q| q as usize);
        let max_connections = file.max_connections.map_or(1024, |c| c as usize);
        if max_connections <= jobs {
            return Err(ConfigError::Invalid(format!(
                "max_connections ({max_connections}) must exceed jobs ({jobs})"
            )));
        }
        let level = if self.verbose {
            Some("debug".to_owned())
        } else {
            self.log_level.or(file.log_level)
        };
        let log_level = parse_level(level.as_deref().unwrap_or("notice"))?;
        let io_timeout = self.io_timeout.or(file.io_timeout_secs).unwrap_or(120);
        if io_timeout == 0 {
            return Err(ConfigError::Invalid(
                "io timeout must be at least 1 second".into(),
            ));
        }
        let fl = file.limits.unwrap_or_default();
        let d = Limits::default();
        let limits = Limits {
            max_args: fl.max_args.unwrap_or(d.max_args),
            max_arg_len: fl.max_arg_len.unwrap_or(d.max_arg_len),
            max_body_len: fl.max_body_len.unwrap_or(d.max_body_len),
            max_decompressed_len: fl.max_decompressed_len.unwrap_or(d.max_decompressed_len),
            max_files: fl.max_files.unwrap_or(d.max_files),
            max_message_len: fl.max_message_len.unwrap_or(d.max_message_len),
        };
        let stats = self.stats || file.stats.unwrap_or(false);
        let mut allowed_compilers = file.allowed_compilers.unwrap_or_default();
        allowed_compilers.extend(self.allow_compiler);
        let tmp_dir = self
            .tmp_dir
            .or(file.tmp_dir)
            .or_else(|| std::env::var_os("TMPDIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let port = self.port.or(file.port).unwrap_or(DEFAULT_PORT);
        let scheduler = self.scheduler.or(file.scheduler);
        let credentials = self.credentials.or(file.credentials);
        let insecure = self.insecure || file.insecure.unwrap_or(false);
        check_exposure(scheduler.as_deref(), credentials.is_some(), insecure)?;
        let cache = self.cache.or(file.cache);
        if let Some(url) = &cache
            && !(credentials.is_some() || insecure)
        {
            ccfarm_cache::shared::check_exposure(url)
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        let sandbox = self.sandbox.merge(file.sandbox.unwrap_or_default())?;
        Ok(Config {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or(IpAddr::from([0, 0, 0, 0])),
            port,
            allow: AllowList::new(allow),
            jobs,
            max_queue,
            max_connections,
            job_lifetime: self
                .job_lifetime
                .or(file.job_lifetime_secs)
                .filter(|&s| s > 0)
                .map(Duration::from_secs),
            io_timeout: Duration::from_secs(io_timeout),
            max_load: match self.max_load.or(file.max_load) {
                Some(l) if !(l.is_finite() && l >= 0.0) => {
                    return Err(ConfigError::Invalid(format!(
                        "max_load must be a non-negative number, not {l}"
                    )));
                }
                other => other,
            },
            kill_grace: Duration::from_millis(file.kill_grace_ms.unwrap_or(1000)),
            allowed_compilers,
            calibrate_with: self.calibrate_with.or(file.calibrate_with),
            tmp_dir,
            stats_port: stats.then(|| {
                self.stats_port
                    .or(file.stats_port)
                    .unwrap_or(DEFAULT_STATS_PORT)
            }),
            log_file: self.log_file.or(file.log_file),
            log_stderr: self.log_stderr,
            log_level,
            pid_file: self.pid_file.or(file.pid_file),
            user: self.user.or(file.user),
            name_configured: self.name.is_some() || file.name.is_some(),
            credentials: credentials.clone(),
            scheduler,
            name: self.name.or(file.name).unwrap_or_else(|| {
                let host = nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok());
                format!("{}:{}", host.unwrap_or_else(|| "localhost".into()), port)
            }),
            detach: !self.no_detach,
            lifetime: self.lifetime.filter(|&s| s > 0).map(Duration::from_secs),
            limits,
            sandbox,
            cache,
            cache_deadline: Duration::from_millis(
                file.cache_deadline_ms
                    .unwrap_or(ccfarm_cache::shared::DEFAULT_DEADLINE_MS),
            ),
        })
    }
}

/// The schedulers in a `scheduler` setting: `HOST:PORT`, or several separated by commas.
pub fn scheduler_list(setting: &str) -> Vec<String> {
    setting
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Registering with a scheduler across the network without credentials would let
/// anyone on the path read the farm's traffic and anyone pose as the scheduler:
/// refused unless the operator says `--insecure`.
fn check_exposure(
    scheduler: Option<&str>,
    has_credentials: bool,
    insecure: bool,
) -> Result<(), ConfigError> {
    let Some(setting) = scheduler else {
        return Ok(());
    };
    if has_credentials || insecure {
        return Ok(());
    }
    for scheduler in scheduler_list(setting) {
        check_one_exposure(&scheduler)?;
    }
    Ok(())
}

fn check_one_exposure(scheduler: &str) -> Result<(), ConfigError> {
    let host = match scheduler.rsplit_once(':') {
        Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => scheduler,
    };
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        return Ok(());
    }
    Err(ConfigError::Invalid(format!(
        "registering with the scheduler at {scheduler} across the network needs credentials: \
         set `credentials = \"/etc/ccfarm/NAME\"` (a directory made by `ccfarm ca issue server NAME`), \
         or pass --insecure to register unauthenticated and unencrypted"
    )))
}

/// distccd's level names, mapped onto tracing's.
fn parse_level(name: &str) -> Result<tracing::Level, ConfigError> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "critical" | "error" => tracing::Level::ERROR,
        "warning" | "warn" => tracing::Level::WARN,
        "notice" | "info" => tracing::Level::INFO,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        other => return Err(ConfigError::Invalid(format!("unknown log level {other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("ccfarmd").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn distccd_flags() {
        let c = cli(&[
            "--port",
            "4000",
            "--listen",
            "127.0.0.1",
            "-a",
            "10.0.0.0/8",
            "--allow",
            "127.0.0.1",
            "-j",
            "3",
            "--job-lifetime",
            "60",
            "--no-detach",
            "--log-stderr",
            "--log-level",
            "warning",
            "--stats",
            "--stats-port",
            "4001",
            "--enable-tcp-insecure",
            "--pid-file",
            "/tmp/p",
        ])
        .merge(FileConfig::default())
        .unwrap();
        assert_eq!(c.port, 4000);
        assert_eq!(c.listen, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(c.allow.networks().len(), 2);
        assert_eq!(c.jobs, 3);
        assert_eq!(c.job_lifetime, Some(Duration::from_secs(60)));
        assert!(!c.detach && c.log_stderr);
        assert_eq!(c.log_level, tracing::Level::WARN);
        assert_eq!(c.stats_port, Some(4001));
    }

    #[test]
    fn defaults() {
        let c = cli(&[]).merge(FileConfig::default()).unwrap();
        assert_eq!(c.port, DEFAULT_PORT);
        assert!(c.detach);
        assert_eq!(c.stats_port, None);
        assert!(c.allow.allows(IpAddr::from([127, 0, 0, 1])));
        assert!(!c.allow.allows(IpAddr::from([10, 0, 0, 1])));
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(c.jobs, cpus + 2);
    }

    #[test]
    fn file_then_flags() {
        let file: FileConfig = toml::from_str(
            r#"
            port = 5000
            jobs = 7
            allow = ["192.168.0.0/16"]
            allowed_compilers = ["/opt/cc/bin/cc"]
            stats = true
            [limits]
            max_body_len = 1048576
            "#,
        )
        .unwrap();
        let c = cli(&["--jobs", "2", "--allow-compiler", "tcc"])
            .merge(file)
            .unwrap();
        assert_eq!(c.port, 5000);
        assert_eq!(c.jobs, 2, "the flag wins");
        assert!(c.allow.allows(IpAddr::from([192, 168, 3, 4])));
        assert!(!c.allow.allows(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(c.allowed_compilers, ["/opt/cc/bin/cc", "tcc"]);
        assert_eq!(c.stats_port, Some(DEFAULT_STATS_PORT));
        assert_eq!(c.limits.max_body_len, 1 << 20);
    }

    #[test]
    fn sandbox_from_file_and_flags() {
        let c = cli(&[]).merge(FileConfig::default()).unwrap();
        assert_eq!(c.sandbox, SandboxSettings::default(), "on by default");
        let file: FileConfig = toml::from_str("[sandbox]\nmode = \"bwrap\"\n").unwrap();
        let c = cli(&["--cpu-limit", "60"]).merge(file).unwrap();
        assert_eq!(c.sandbox.mode, crate::sandbox::Mode::Bwrap);
        assert_eq!(c.sandbox.limits.cpu_secs, 60);
        let bad: FileConfig = toml::from_str("[sandbox]\nmode = \"chroot\"\n").unwrap();
        assert!(cli(&[]).merge(bad).is_err());
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(
            toml::from_str::<FileConfig>("prot = 1").is_err(),
            "unknown keys are errors"
        );
        assert!(Cli::try_parse_from(["ccfarmd", "--port", "80000"]).is_err());
        assert!(Cli::try_parse_from(["ccfarmd", "--allow", "10.0.0.0/40"]).is_err());
        assert!(Cli::try_parse_from(["ccfarmd", "--jobs", "0"]).is_err());
        assert!(
            cli(&["--log-level", "loud"])
                .merge(FileConfig::default())
                .is_err()
        );
        assert!(cli(&["--inetd"]).merge(FileConfig::default()).is_err());
    }
}

#[cfg(test)]
mod deployment_examples {
    use super::*;

    /// The examples shipped for operators must stay valid.
    #[test]
    fn the_deployment_examples_parse() {
        for text in [
            include_str!("../../../deploy/ccfarmd.toml"),
            include_str!("../../../deploy/ccfarmd-desktop.toml"),
        ] {
            let file: FileConfig = toml::from_str(text).unwrap();
            assert!(file.scheduler.is_some());
        }
        let desktop: FileConfig =
            toml::from_str(include_str!("../../../deploy/ccfarmd-desktop.toml")).unwrap();
        assert_eq!(desktop.max_load, Some(1.5));
    }
}
