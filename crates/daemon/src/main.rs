//! `ccfarmd`: flags, logging, binding, detaching; then the server.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ccfarm_daemon::calibrate::{self, Calibration};
use ccfarm_daemon::compilers::{CompilerPolicy, MASQUERADE_DIRS};
use ccfarm_daemon::config::{Cli, Config};
use ccfarm_daemon::daemon::{Daemon, Settings};
use ccfarm_daemon::sandbox::Sandbox;
use ccfarm_daemon::secure::Trust;
use ccfarm_daemon::{http, jobdirs, register, server};
use clap::Parser;
use tracing::{error, info, warn};

/// distcc's exit codes for the daemon's own failures.
const EXIT_BAD_ARGUMENTS: u8 = 101;
const EXIT_BIND_FAILED: u8 = 102;
const EXIT_COMPILER_MISSING: u8 = 110;
const EXIT_SETUID_FAILED: u8 = 112;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(EXIT_BAD_ARGUMENTS)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if cli.version {
        // Named as invoked: distccd's scripts and test suite check the name.
        let program = std::env::args_os()
            .next()
            .and_then(|a| {
                std::path::Path::new(&a)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .filter(|n| n == "distccd")
            .unwrap_or_else(|| "ccfarmd".to_owned());
        print!(
            "{}",
            ccfarm_proto::distcc::version_text(&program, env!("CARGO_PKG_VERSION"), "1, 2 and 3")
        );
        return ExitCode::SUCCESS;
    }
    let insecure = cli.enable_tcp_insecure;
    let nice = cli.nice;
    let config = match cli.resolve() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("ccfarmd: {err}");
            return ExitCode::from(EXIT_BAD_ARGUMENTS);
        }
    };
    let compilers =
        CompilerPolicy::load(&MASQUERADE_DIRS.map(Path::new), &config.allowed_compilers);
    if compilers.is_empty() {
        eprintln!(
            "ccfarmd: no compiler is allowed: /usr/lib/distcc is missing or empty (install distcc \
             or run update-distcc-symlinks) and no allowed_compilers are configured"
        );
        return ExitCode::from(EXIT_COMPILER_MISSING);
    }

    // Bind before detaching, so that a bind failure is reported to whoever started
    // us, with distccd's exit code.
    let listener = match bind(SocketAddr::new(config.listen, config.port)) {
        Ok(l) => l,
        Err(err) => {
            eprintln!(
                "ccfarmd: cannot listen on {}:{}: {err}",
                config.listen, config.port
            );
            return ExitCode::from(EXIT_BIND_FAILED);
        }
    };
    let stats_listener = match config
        .stats_port
        .map(|p| bind(SocketAddr::new(config.listen, p)))
        .transpose()
    {
        Ok(l) => l,
        Err(err) => {
            eprintln!("ccfarmd: cannot listen for --stats: {err}");
            return ExitCode::from(EXIT_BIND_FAILED);
        }
    };
    if config.detach
        && let Err(err) =
            ccfarm_daemon_detach::detach(config.log_stderr, config.pid_file.as_deref())
    {
        eprintln!("ccfarmd: cannot detach: {err}");
        return ExitCode::from(1);
    }
    if let Err(err) = init_logging(&config) {
        eprintln!("ccfarmd: {err:#}");
        return ExitCode::from(EXIT_BAD_ARGUMENTS);
    }
    if insecure {
        warn!(
            "--enable-tcp-insecure is accepted for compatibility; the compiler allow-list stays in force"
        );
    }
    if nice.is_some() {
        warn!("--nice is accepted for compatibility and ignored");
    }
    // Detached, the launcher has written it already.
    if let Some(pid_file) = config.pid_file.as_ref().filter(|_| !config.detach)
        && let Err(err) = write_pid_file(pid_file, std::process::id())
    {
        error!("cannot write pid file {}: {err}", pid_file.display());
        return ExitCode::from(1);
    }
    if let Some(user) = &config.user {
        if let Err(err) = drop_privileges(user) {
            error!("cannot run as {user}: {err}");
            return ExitCode::from(EXIT_SETUID_FAILED);
        }
        info!("running as {user}");
    } else if nix::unistd::geteuid().is_root() {
        warn!("running as root without --user: compilers run as root");
    }
    if let Err(err) = check_tmp_dir(&config.tmp_dir) {
        error!(
            "job directory {} is not usable: {err}",
            config.tmp_dir.display()
        );
        return ExitCode::from(EXIT_BAD_ARGUMENTS);
    }
    let swept = jobdirs::sweep(&config.tmp_dir, jobdirs::process_alive);
    if swept > 0 {
        info!("removed {swept} job directories left by a daemon that is gone");
    }
    // After dropping privileges: the trial run must be made as the user compiles run as.
    let programs: Vec<String> = compilers.programs().collect();
    let sandbox = match Sandbox::start(&config.sandbox, config.jobs, &programs, &config.tmp_dir) {
        Ok(sandbox) => sandbox,
        Err(err) => {
            error!("cannot set up the compile sandbox: {err}");
            return ExitCode::from(EXIT_BAD_ARGUMENTS);
        }
    };
    if sandbox.is_confined() {
        info!(
            sandbox = sandbox.description(),
            processes = sandbox.process_cap(),
            "compiles run in a sandbox"
        );
    } else {
        warn!(
            "compiles are NOT confined to their toolchain and job directory (sandbox {}); \
             resource limits still apply (processes: {})",
            sandbox.description(),
            sandbox.process_cap()
        );
    }
    let result = run(config.clone(), compilers, sandbox, listener, stats_listener);
    if let Some(pid_file) = &config.pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!("{err:#}");
            ExitCode::from(1)
        }
    }
}

/// Become `user` (group, supplementary groups, then user: the order that cannot be
/// undone). Needed when started as root, so that compilers do not run as root.
fn drop_privileges(user: &str) -> anyhow::Result<()> {
    use nix::unistd::{Uid, User, getuid, setgid, setgroups, setuid};
    let account = User::from_name(user)?.with_context(|| format!("no such user {user:?}"))?;
    if getuid() == account.uid {
        return Ok(());
    }
    if !getuid().is_root() {
        anyhow::bail!("only root can switch to another user");
    }
    setgroups(&[account.gid])?;
    setgid(account.gid)?;
    setuid(account.uid)?;
    anyhow::ensure!(
        setuid(Uid::from_raw(0)).is_err(),
        "privileges could be regained"
    );
    Ok(())
}

/// Fail at start, not on the first job, when job directories cannot be made.
fn check_tmp_dir(tmp: &Path) -> std::io::Result<()> {
    tempfile::Builder::new()
        .prefix("ccfarmd-probe-")
        .tempdir_in(tmp)
        .map(drop)
}

fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

// One thread: the daemon's own work per job is small (the compiler runs in its own
// process), and on a busy compile server cross-thread wake-ups between runtime
// workers cost more than they parallelise (measured: about 1 ms per job on the W3s
// benchmark). Large file work still goes to the blocking pool.
/// The shared result cache at `url`, sealing with this server's credentials if it has
/// them.
fn shared_cache(url: &str, config: &Config) -> anyhow::Result<ccfarm_daemon::cache::ServerCache> {
    let limit = ccfarm_cache::shared::entry_limit(config.limits.max_body_len);
    let store = ccfarm_cache::SharedStore::open(url, config.cache_deadline, limit)?;
    let credentials = match &config.credentials {
        Some(dir) => Some(
            ccfarm_trust::Credentials::load_as(dir, ccfarm_trust::Role::Server)
                .with_context(|| format!("credentials {}", dir.display()))?,
        ),
        None => None,
    };
    let cache = ccfarm_daemon::cache::ServerCache::new(store, credentials.as_ref())
        .context("the shared cache's seals")?;
    info!(
        store = cache.describe(),
        sealed = credentials.is_some(),
        "shared result cache: looking up every preprocessed job, storing every successful compile"
    );
    Ok(cache)
}

#[tokio::main(flavor = "current_thread")]
async fn run(
    config: Config,
    compilers: CompilerPolicy,
    sandbox: Sandbox,
    listener: std::net::TcpListener,
    stats_listener: Option<std::net::TcpListener>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener).context("distcc listener")?;
    let settings = Settings::of(&config);
    info!(
        addr = %listener.local_addr()?,
        jobs = config.jobs,
        queue = config.max_queue,
        compilers = compilers.len(),
        allow = %config.allow.networks().iter().map(|n| n.to_string()).collect::<Vec<_>>().join(","),
        "ccfarmd {} listening for distcc clients",
        env!("CARGO_PKG_VERSION")
    );
    let trust = match &config.credentials {
        Some(dir) => Trust::load(dir, config.scheduler.is_some())
            .with_context(|| format!("credentials {}", dir.display()))?,
        None => Trust::none(),
    };
    let mut config = config;
    if let Some(identity) = trust.identity() {
        if !config.name_configured {
            config.name = identity.name.clone();
        } else if config.name != identity.name {
            anyhow::bail!(
                "the name {:?} is not the one the credentials prove ({identity}): \
                 drop --name or issue credentials for {:?}",
                config.name,
                config.name
            );
        }
        info!(%identity, "TLS jobs need a user's certificate{}", if config.scheduler.is_some() { " and the scheduler's grant" } else { "" });
    }
    let mut daemon = Daemon::new(
        settings,
        compilers,
        config.allow.clone(),
        config.jobs,
        config.max_queue,
    )
    .with_sandbox(sandbox)
    .with_trust(trust);
    if let Some(url) = &config.cache {
        daemon = daemon.with_cache(shared_cache(url, &config)?);
    }
    let daemon = Arc::new(daemon);
    // SIGHUP re-reads the credentials (a new certificate or revocation list); open
    // connections keep theirs.
    let reload_task = {
        let daemon = daemon.clone();
        tokio::spawn(async move {
            let Ok(mut hangup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hangup.recv().await.is_some() {
                match daemon.trust.reload() {
                    Ok(Some(summary)) => info!("SIGHUP: {summary}"),
                    Ok(None) => info!("SIGHUP: no credentials to reload"),
                    Err(e) => warn!("SIGHUP: credentials not reloaded, the old ones stay: {e}"),
                }
            }
        })
    };
    let stats_task = match stats_listener {
        Some(l) => {
            let l = tokio::net::TcpListener::from_std(l).context("stats listener")?;
            info!(addr = %l.local_addr()?, "serving statistics over HTTP");
            Some(tokio::spawn(http::serve(daemon.clone(), l)))
        }
        None => None,
    };
    // One membership per scheduler of the list: each places jobs here independently,
    // so a standby scheduler knows this server before the first one goes away.
    let schedulers: Vec<String> = config
        .scheduler
        .as_deref()
        .map(ccfarm_daemon::config::scheduler_list)
        .unwrap_or_default();
    // One calibration for every membership; none without a scheduler to tell.
    let (calibration_tx, calibration) = tokio::sync::watch::channel(Calibration::Pending);
    let calibration_task = (!schedulers.is_empty()).then(|| {
        let compiler = calibrate::choose(&daemon.compilers, config.calibrate_with.as_deref());
        tokio::spawn(calibrate::run(daemon.clone(), compiler, calibration_tx))
    });
    let register_tasks: Vec<_> = schedulers
        .into_iter()
        .map(|scheduler| {
            let daemon = daemon.clone();
            let calibration = calibration.clone();
            let names: Vec<String> = daemon.compilers.names().map(str::to_owned).collect();
            let (name, distcc_port, max_load) = (config.name.clone(), config.port, config.max_load);
            tokio::spawn(async move {
                let compilers = tokio::task::spawn_blocking(move || register::identify(&names))
                    .await
                    .unwrap_or_default();
                register::run(
                    daemon,
                    register::Membership {
                        scheduler,
                        name,
                        distcc_port,
                        compilers,
                        max_load,
                        calibration,
                    },
                )
                .await;
            })
        })
        .collect();
    let lifetime = config.lifetime;
    let shutdown = async move {
        let lifetime = async {
            match lifetime {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
            _ = term.recv() => info!("SIGTERM received"),
            () = lifetime => info!("--lifetime reached"),
        }
    };
    server::run(daemon, listener, config.max_connections, shutdown).await;
    reload_task.abort();
    for task in stats_task
        .into_iter()
        .chain(register_tasks)
        .chain(calibration_task)
    {
        task.abort();
    }
    Ok(())
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CCFARM_LOG")
        .unwrap_or_else(|_| EnvFilter::new(config.log_level.as_str().to_ascii_lowercase()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match &config.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("failed to open logfile {}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

/// Writes `pid` to `path` atomically (a temporary file in the same directory, renamed
/// over it), so that a reader — a test, an init script — never sees the file created but
/// still empty.
fn write_pid_file(path: &std::path::Path, pid: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".pid").tempfile_in(dir)?;
    tmp.write_all(format!("{pid}\n").as_bytes())?;
    // Readable by all, as a pid file written with the usual umask is.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Detaching: the one place ccfarmd needs `unsafe`.
mod ccfarm_daemon_detach {
    use std::os::fd::AsRawFd;

    use nix::unistd::{ForkResult, dup2_stderr, dup2_stdin, dup2_stdout, fork, setsid};

    /// Fork into the background and start a new session. Called before the async
    /// runtime (or any other thread) exists. The launcher writes the child's pid to
    /// `pid_file` before it exits, as distccd's does: init scripts read the file as
    /// soon as the launcher returns.
    #[allow(unsafe_code)]
    pub fn detach(keep_stderr: bool, pid_file: Option<&std::path::Path>) -> nix::Result<()> {
        // SAFETY: the process is single-threaded here (no runtime, no threads yet),
        // so the child is a complete copy and may do anything the parent could.
        match unsafe { fork() }? {
            ForkResult::Parent { child } => {
                let Some(path) = pid_file else {
                    std::process::exit(0)
                };
                match super::write_pid_file(path, child.as_raw() as u32) {
                    Ok(()) => std::process::exit(0),
                    Err(err) => {
                        eprintln!("ccfarmd: cannot write pid file {}: {err}", path.display());
                        let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGTERM);
                        std::process::exit(1)
                    }
                }
            }
            ForkResult::Child => {}
        }
        setsid()?;
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|_| nix::Error::EIO)?;
        let _ = null.as_raw_fd();
        dup2_stdin(&null)?;
        dup2_stdout(&null)?;
        if !keep_stderr {
            dup2_stderr(&null)?;
        }
        Ok(())
    }
}
