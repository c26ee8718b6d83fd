//! The client's settings, read once from the environment (and the host files) into a
//! plain struct, so that nothing later reads or changes the process environment.
//!
//! ccfarm's own variables win over distcc's (`CCFARM_HOSTS` over `DISTCC_HOSTS`, ...),
//! and distcc's are honoured where they mean something, so existing build setups
//! keep working.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// A snapshot of the environment variables.
#[derive(Debug, Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    /// The current process environment (variables that are not UTF-8 are skipped).
    pub fn capture() -> Env {
        Env(std::env::vars_os()
            .filter_map(|(k, v): (OsString, OsString)| {
                Some((k.into_string().ok()?, v.into_string().ok()?))
            })
            .collect())
    }

    /// An environment made of the given pairs (for tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    /// The value of the first of `names` that is set.
    pub fn first(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .find_map(|n| self.0.get(*n).map(String::as_str))
    }

    /// A boolean in distcc's sense: set to anything but "0" or "" means true.
    pub fn flag(&self, names: &[&str], default: bool) -> bool {
        match self.first(names) {
            Some(v) => !(v.is_empty() || v == "0"),
            None => default,
        }
    }

    /// Seconds, or `default` when unset or unparsable.
    pub fn seconds(&self, names: &[&str], default: u64) -> Duration {
        Duration::from_secs(
            self.first(names)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default),
        )
    }

    /// The raw value of one variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// Where the host list came from, for `--show-hosts` and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSource {
    /// An environment variable.
    Variable(&'static str),
    /// A file.
    File(PathBuf),
    /// Nothing was found.
    None,
}

/// Everything the client needs to know about its setting.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The host list text and where it came from.
    pub hosts_text: String,
    /// Where the host list came from.
    pub hosts_source: HostSource,
    /// Lock and backoff state.
    pub state_dir: PathBuf,
    /// Compile locally when distribution fails.
    pub fallback: bool,
    /// On a remote compile error, show the remote diagnostics instead of re-running
    /// locally for exact local diagnostics.
    pub skip_local_retry: bool,
    /// Backoff after host failures; zero disables.
    pub backoff_period: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of each network read and write (which includes the remote compile).
    pub io_timeout: Duration,
    /// Log informational lines, not only warnings and errors.
    pub verbose: bool,
    /// Log to this file instead of stderr.
    pub log_file: Option<PathBuf>,
    /// Directory for temporary files.
    pub tmp_dir: PathBuf,
    /// How deep ccfarm is nested in itself (a compiler that calls ccfarm again).
    pub safeguard: u32,
    /// The schedulers to ask for slots (`CCFARM_SCHEDULER=HOST:PORT[,HOST:PORT...]`,
    /// else the file `$CCFARM_DIR/scheduler` or `/etc/ccfarm/scheduler`), as written;
    /// [`Settings::schedulers`] lists them.
    pub scheduler: Option<String>,
    /// How long, in pauses between rounds, a compile waits for an unreachable scheduler
    /// to come back before it uses the host list (`CCFARM_SCHEDULER_RETRY`, seconds).
    pub scheduler_retry: Duration,
    /// Longest wait for the scheduler's answer before using the host list.
    pub scheduler_wait: Duration,
    /// Remember each file's compile time under `state_dir/times` and tell the scheduler
    /// (`CCFARM_HISTORY`, default on).
    pub history: bool,
    /// Who is building (for per-user fairness).
    pub user: String,
    /// This machine's name (for the dashboard, and to pool its offered slots).
    pub machine: String,
    /// Compile slots this machine offers the scheduler for its own jobs
    /// (`CCFARM_LOCAL_SLOTS`, default 0): the scheduler may answer "compile it here"
    /// when that finishes a job soonest.
    pub local_slots: u32,
    /// The user's credential directory (`CCFARM_CREDENTIALS`, from `ccfarm ca issue
    /// user NAME`): the scheduler and the servers are then reached over TLS, and the
    /// user is the one the credentials name.
    pub credentials: Option<PathBuf>,
    /// Make TLS connections through the user's agent (`CCFARM_AGENT`, default on;
    /// see [`crate::agent`]).
    pub agent: bool,
    /// Look each compile up in the result cache under `state_dir/cache` and keep what
    /// the farm compiles (`CCFARM_CACHE`, default off).
    pub cache: bool,
    /// The cache's size limit in bytes (`CCFARM_CACHE_SIZE`, in MiB; default 5 GiB).
    pub cache_size: u64,
    /// With the cache on, answer a job whose source and headers are unchanged without
    /// running the preprocessor (`CCFARM_CACHE_DIRECT`, default on).
    pub cache_direct: bool,
    /// With direct look-ups, also ask the scheduler's shared cache (when it has one)
    /// after a local miss, and send it the manifests of what the farm compiled
    /// (`CCFARM_CACHE_SHARED`, default on).
    pub cache_shared: bool,
}

impl Settings {
    /// The schedulers, in the order they are asked: the list in `scheduler`, separated
    /// by commas or spaces.
    pub fn schedulers(&self) -> Vec<&str> {
        self.scheduler
            .as_deref()
            .map(|list| {
                list.split([',', ' '])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Settings {
    /// Read the settings; `read_file` reads a host file (injected for tests).
    pub fn load(env: &Env, read_file: impl Fn(&std::path::Path) -> Option<String>) -> Settings {
        let home = env.get("HOME").map(PathBuf::from);
        let state_dir = env
            .first(&["CCFARM_DIR", "DISTCC_DIR"])
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".ccfarm")))
            .unwrap_or_else(|| PathBuf::from("/tmp/.ccfarm"));
        // distcc's per-user host file stays where distcc users keep it.
        let distcc_dir = env
            .get("DISTCC_DIR")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".distcc")));
        let (hosts_text, hosts_source) = if let Some(v) = env.get("CCFARM_HOSTS") {
            (v.to_owned(), HostSource::Variable("CCFARM_HOSTS"))
        } else if let Some(v) = env.get("DISTCC_HOSTS") {
            (v.to_owned(), HostSource::Variable("DISTCC_HOSTS"))
        } else {
            let files = [
                distcc_dir.map(|d| d.join("hosts")),
                Some(PathBuf::from("/etc/distcc/hosts")),
            ];
            files
                .into_iter()
                .flatten()
                .find_map(|f| read_file(&f).map(|text| (text, HostSource::File(f))))
                .unwrap_or((String::new(), HostSource::None))
        };
        // The variable wins, even empty (which turns the scheduler off); else the
        // first line that is not a comment of ~/.ccfarm/scheduler or
        // /etc/ccfarm/scheduler, as distcc's host files.
        let scheduler = match env.get("CCFARM_SCHEDULER") {
            Some(v) => Some(v.trim().to_owned()),
            None => [
                state_dir.join("scheduler"),
                PathBuf::from("/etc/ccfarm/scheduler"),
            ]
            .iter()
            .find_map(|f| read_file(f))
            .and_then(|text| {
                text.lines()
                    .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
                    .find(|l| !l.is_empty())
            }),
        }
        .filter(|v| !v.is_empty());
        Settings {
            hosts_text,
            hosts_source,
            state_dir,
            fallback: env.flag(&["CCFARM_FALLBACK", "DISTCC_FALLBACK"], true),
            skip_local_retry: env.flag(
                &["CCFARM_SKIP_LOCAL_RETRY", "DISTCC_SKIP_LOCAL_RETRY"],
                false,
            ),
            backoff_period: env.seconds(&["CCFARM_BACKOFF_PERIOD", "DISTCC_BACKOFF_PERIOD"], 60),
            connect_timeout: env.seconds(&["CCFARM_CONNECT_TIMEOUT"], 4),
            io_timeout: env.seconds(&["CCFARM_IO_TIMEOUT", "DISTCC_IO_TIMEOUT"], 300),
            verbose: env.flag(&["CCFARM_VERBOSE", "DISTCC_VERBOSE"], false),
            log_file: env
                .first(&["CCFARM_LOG_FILE", "DISTCC_LOG"])
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            tmp_dir: env
                .get("TMPDIR")
                .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from),
            scheduler,
            scheduler_wait: env.seconds(&["CCFARM_SCHEDULER_WAIT"], 600),
            scheduler_retry: env.seconds(&["CCFARM_SCHEDULER_RETRY"], 12),
            history: env.flag(&["CCFARM_HISTORY"], true),
            user: env
                .first(&["USER", "LOGNAME"])
                .unwrap_or("unknown")
                .to_owned(),
            machine: env.get("HOSTNAME").unwrap_or("unknown").to_owned(),
            local_slots: env
                .get("CCFARM_LOCAL_SLOTS")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            credentials: env
                .get("CCFARM_CREDENTIALS")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            agent: env.flag(&["CCFARM_AGENT"], true),
            cache: env.flag(&["CCFARM_CACHE"], false),
            cache_direct: env.flag(&["CCFARM_CACHE_DIRECT"], true),
            cache_shared: env.flag(&["CCFARM_CACHE_SHARED"], true),
            cache_size: env
                .get("CCFARM_CACHE_SIZE")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(5 * 1024)
                .saturating_mul(1024 * 1024),
            safeguard: env
                .first(&["_CCFARM_SAFEGUARD", "_DISTCC_SAFEGUARD"])
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ccfarm_variables_win_over_distccs() {
        let env = Env::from_pairs([
            ("CCFARM_HOSTS", "a"),
            ("DISTCC_HOSTS", "b"),
            ("DISTCC_FALLBACK", "0"),
            ("HOME", "/home/u"),
        ]);
        let s = Settings::load(&env, |_| None);
        assert_eq!(s.hosts_text, "a");
        assert_eq!(s.hosts_source, HostSource::Variable("CCFARM_HOSTS"));
        assert!(!s.fallback);
        assert_eq!(s.state_dir, PathBuf::from("/home/u/.ccfarm"));
        assert_eq!(s.io_timeout, Duration::from_secs(300));
    }

    #[test]
    fn host_files_in_order() {
        let env = Env::from_pairs([("DISTCC_DIR", "/state")]);
        let s = Settings::load(&env, |p| {
            (p == std::path::Path::new("/etc/distcc/hosts")).then(|| "etc".to_owned())
        });
        assert_eq!(
            (s.hosts_text.as_str(), s.hosts_source),
            ("etc", HostSource::File("/etc/distcc/hosts".into()))
        );
        let s = Settings::load(&env, |p| Some(p.display().to_string()));
        assert_eq!(s.hosts_text, "/state/hosts");
        let s = Settings::load(&env, |_| None);
        assert_eq!(s.hosts_source, HostSource::None);
    }

    #[test]
    fn the_scheduler_from_the_variable_or_a_file() {
        let files = |p: &std::path::Path| {
            (p == std::path::Path::new("/etc/ccfarm/scheduler"))
                .then(|| "# the site's scheduler\n\n  sched.example:7700  # main\n".to_owned())
        };
        let s = Settings::load(&Env::from_pairs([("HOME", "/h")]), files);
        assert_eq!(s.scheduler.as_deref(), Some("sched.example:7700"));
        let s = Settings::load(&Env::from_pairs([("CCFARM_SCHEDULER", "x:1")]), files);
        assert_eq!(s.scheduler.as_deref(), Some("x:1"));
        // Set but empty: no scheduler, whatever the files say.
        let s = Settings::load(&Env::from_pairs([("CCFARM_SCHEDULER", "")]), files);
        assert_eq!(s.scheduler, None);
        let user = |p: &std::path::Path| {
            (p == std::path::Path::new("/h/.ccfarm/scheduler")).then(|| "mine:7700".to_owned())
        };
        let s = Settings::load(&Env::from_pairs([("HOME", "/h")]), user);
        assert_eq!(s.scheduler.as_deref(), Some("mine:7700"));
        assert_eq!(
            Settings::load(&Env::from_pairs([]), |_| None).scheduler,
            None
        );
    }

    #[test]
    fn flags_and_numbers() {
        let env = Env::from_pairs([
            ("DISTCC_VERBOSE", "1"),
            ("DISTCC_IO_TIMEOUT", "7"),
            ("DISTCC_BACKOFF_PERIOD", "0"),
            ("DISTCC_SKIP_LOCAL_RETRY", ""),
        ]);
        let s = Settings::load(&env, |_| None);
        assert!(s.verbose && !s.skip_local_retry);
        assert_eq!(s.io_timeout, Duration::from_secs(7));
        assert_eq!(s.backoff_period, Duration::ZERO);
    }
}
