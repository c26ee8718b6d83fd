//! The shared state of a running ccfarmd: its settings, policies, slots and counters.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ccfarm_proto::distcc::Limits;
use ccfarm_proto::distcc::pump::{self, RootedPath};
use tokio::sync::Semaphore;

use crate::allow::AllowList;
use crate::cache::ServerCache;
use crate::compilers::CompilerPolicy;
use crate::config::Config;
use crate::sandbox::Sandbox;
use crate::secure::Trust;
use crate::stats::Stats;

/// Validated settings the sessions need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Wire limits for requests.
    pub limits: Limits,
    /// Timeout of every socket read and write.
    pub io_timeout: Duration,
    /// Kill a compile after this long.
    pub job_lifetime: Option<Duration>,
    /// Between SIGTERM and SIGKILL when killing a compile.
    pub kill_grace: Duration,
    /// Where job directories are created.
    pub tmp_dir: PathBuf,
}

impl Settings {
    /// The settings a validated configuration gives the sessions.
    pub fn of(config: &Config) -> Settings {
        Settings {
            limits: config.limits.clone(),
            io_timeout: config.io_timeout,
            job_lifetime: config.job_lifetime,
            kill_grace: config.kill_grace,
            tmp_dir: config.tmp_dir.clone(),
        }
    }
}

/// Everything a session shares with the others.
#[derive(Debug)]
pub struct Daemon {
    /// Settings.
    pub config: Settings,
    /// Which compilers may run.
    pub compilers: CompilerPolicy,
    /// Which clients may connect.
    pub allow: AllowList,
    /// One permit per concurrent compile (`--jobs`).
    pub slots: Arc<Semaphore>,
    /// One permit per request allowed to wait for a slot.
    pub queue: Arc<Semaphore>,
    /// Counters.
    pub stats: Stats,
    /// Credentials and grant tickets.
    pub trust: Trust,
    /// What every compile runs in.
    pub sandbox: Arc<Sandbox>,
    /// The shared result cache (`--cache`).
    pub cache: Option<Arc<ServerCache>>,
    /// Each compiler's system include directories, asked once (protocol-3 trees may
    /// link out to them).
    system_dirs: std::sync::Mutex<HashMap<String, Arc<Vec<RootedPath>>>>,
}

impl Daemon {
    /// A daemon with `jobs` compile slots and room for `queue` waiting requests,
    /// running compiles without a sandbox until [`Daemon::with_sandbox`].
    pub fn new(
        config: Settings,
        compilers: CompilerPolicy,
        allow: AllowList,
        jobs: usize,
        queue: usize,
    ) -> Daemon {
        Daemon {
            config,
            compilers,
            allow,
            slots: Arc::new(Semaphore::new(jobs)),
            queue: Arc::new(Semaphore::new(queue)),
            stats: Stats::new(jobs, queue),
            trust: Trust::none(),
            sandbox: Arc::new(Sandbox::off()),
            cache: None,
            system_dirs: Default::default(),
        }
    }

    /// The system include directories of `program` (as a job names its compiler),
    /// asked of it the first time.
    pub fn system_dirs(&self, program: &str) -> Arc<Vec<RootedPath>> {
        let known = self
            .system_dirs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(program)
            .cloned();
        if let Some(dirs) = known {
            return dirs;
        }
        use std::os::unix::ffi::OsStrExt;
        let found = crate::sandbox::toolchain::find_program(program)
            .map(|p| crate::sandbox::toolchain::system_include_dirs(&p))
            .unwrap_or_default();
        let dirs = Arc::new(pump::system_dirs(
            found.iter().map(|d| d.as_os_str().as_bytes()),
        ));
        self.system_dirs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(program.to_owned(), dirs.clone());
        dirs
    }

    /// The same daemon, running every compile in `sandbox`.
    pub fn with_sandbox(self, sandbox: Sandbox) -> Daemon {
        Daemon {
            sandbox: Arc::new(sandbox),
            ..self
        }
    }

    /// The same daemon, answering from and storing into `cache`.
    pub fn with_cache(mut self, cache: ServerCache) -> Daemon {
        self.cache = Some(Arc::new(cache));
        self
    }

    /// The same daemon with credentials.
    pub fn with_trust(mut self, trust: Trust) -> Daemon {
        self.trust = trust;
        self
    }
}
