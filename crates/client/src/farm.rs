//! `ccfarm farm`: a whole farm on loopback — a `ccfarm-scheduler` and N `ccfarmd`
//! compile servers registered with it, run as child processes — for trying ccfarm on
//! one machine, and for running one build through it
//! (`ccfarm farm -- make -j8 CC="ccfarm gcc"`).
//!
//! The services are the real binaries, so that `ccfarm`, which starts once per
//! compile, links neither of them. The farm picks their ports, waits until the
//! scheduler has every server up, runs the command, prints the farm's status and
//! stops the services; their logs are kept in the farm's temporary directory and
//! shown when something fails.

mod args;
mod command;
mod services;
mod status;

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use ccfarm_client::admin::Target;
use ccfarm_client::exit;
use nix::sys::signal::Signal;

use crate::farm_credentials::{self, FarmCredentials, FarmCredentialsError};
use args::{Args, USAGE, parse};
use command::{Signals, run_command};
use services::{POLL, Service, ServiceError};
use status::ServerReport;

/// Compilers the farm's servers run besides those of distcc's masquerade directories,
/// which are missing on a machine without distcc. They are looked up on `PATH` like
/// distccd's, and the servers accept connections from loopback only, so this lets
/// nothing run that the machine's users could not run anyway.
const EXTRA_COMPILERS: [&str; 6] = ["cc", "c++", "gcc", "g++", "clang", "clang++"];

/// How long the servers get to register before the farm gives up.
const REGISTER_WITHIN: Duration = Duration::from_secs(15);

/// How long the services get to stop after SIGTERM before they are killed: a server
/// kills its compilers (after its own grace of a second) and removes their job
/// directories.
const STOP_WITHIN: Duration = Duration::from_secs(5);

/// Lines of a service's log shown when it fails.
const LOG_LINES: usize = 20;

/// Why the farm could not run.
#[derive(Debug, thiserror::Error)]
enum FarmError {
    #[error("cannot catch SIGTERM and SIGINT: {0}")]
    Signals(nix::Error),
    #[error(
        "{addr} is already in use (another `ccfarm farm` or ccfarm-scheduler?); \
         choose another port with {flag} {}:PORT, or port 0 for any free one",
        addr.ip()
    )]
    InUse {
        addr: SocketAddr,
        flag: &'static str,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "cannot make the farm's directory in {} ({source}); set TMPDIR to a writable directory",
        dir.display()
    )]
    TmpDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no C or C++ compiler found on PATH (tried {} and /usr/lib/distcc); install gcc or clang",
        EXTRA_COMPILERS.join(", ")
    )]
    NoCompiler,
    #[error("{0}")]
    Credentials(#[from] FarmCredentialsError),
    #[error("{0}")]
    Service(#[from] ServiceError),
    #[error("{name} exited ({status}) while the farm was starting; {log}")]
    Exited {
        name: String,
        status: ExitStatus,
        log: String,
    },
    #[error(
        "only {up} of {total} compile servers registered with the scheduler within {}s; \
         the services' logs:\n{logs}",
        REGISTER_WITHIN.as_secs()
    )]
    NotRegistered {
        up: usize,
        total: usize,
        logs: String,
    },
    #[error("{0} while starting")]
    Interrupted(Signal),
}

impl FarmError {
    fn exit_code(&self) -> i32 {
        match self {
            FarmError::NoCompiler => exit::COMPILER_MISSING.into(),
            _ => exit::GENERAL.into(),
        }
    }
}

/// `ccfarm farm ARGS`: returns the exit status.
pub fn main(args: &[String]) -> i32 {
    let args = match parse(args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return 0;
        }
        Err(e) => {
            eprintln!("ccfarm farm: {e} (ccfarm farm --help lists the options)");
            return exit::BAD_ARGUMENTS.into();
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ccfarm farm: {e}");
            e.exit_code()
        }
    }
}

/// Where the farm's services listen.
struct Ports {
    listen: SocketAddr,
    http: SocketAddr,
    distcc_proxy: Option<SocketAddr>,
    /// Per server: its distcc address and its statistics address.
    servers: Vec<(SocketAddr, SocketAddr)>,
}

fn run(args: &Args) -> Result<i32, FarmError> {
    let signals = Signals::catch().map_err(FarmError::Signals)?;
    let scheduler_bin = crate::sibling::locate("ccfarm-scheduler").map_err(ServiceError::from)?;
    let server_bin = crate::sibling::locate("ccfarmd").map_err(ServiceError::from)?;
    let ports = choose_ports(args)?;
    let tmp = std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    // Logs and credentials; the servers' job directories go to TMPDIR itself, as
    // ccfarmd's do.
    services::sweep_farm_dirs(&tmp);
    let dir = tempfile::Builder::new()
        .prefix(&services::farm_dir_prefix(std::process::id()))
        .tempdir_in(&tmp)
        .map_err(|source| FarmError::TmpDir { dir: tmp, source })?;
    if !EXTRA_COMPILERS
        .iter()
        .any(|c| ccfarm_client::identity::ask_compiler(Path::new(c)).is_some())
    {
        return Err(FarmError::NoCompiler);
    }
    let names: Vec<String> = (1..=args.servers).map(|i| format!("server{i}")).collect();
    let credentials = if args.secure {
        let user = std::env::var("USER").unwrap_or_else(|_| "farm-user".into());
        let user = if ccfarm_trust::identity::check_name(&user).is_ok() {
            user
        } else {
            "farm-user".to_owned()
        };
        Some(farm_credentials::make(dir.path(), &names, &user)?)
    } else {
        None
    };
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    // The servers share this machine's CPUs: together they get one slot per CPU, so a
    // build through the farm loads the machine as `make -jCPUS` would.
    let jobs = args.jobs.unwrap_or((cpus / args.servers).max(1));

    let mut running = Vec::new();
    let result = serve(
        args,
        &Setup {
            scheduler_bin: &scheduler_bin,
            server_bin: &server_bin,
            ports: &ports,
            dir: dir.path(),
            names: &names,
            jobs,
            credentials: credentials.as_ref(),
        },
        &mut running,
        &signals,
    );
    services::stop_all(&mut running, STOP_WITHIN);
    result
}

/// The ports asked for, with port 0 (and the defaults of a farm that runs a command)
/// turned into free ones, since the farm must know them to tell the servers and the
/// command; and every one checked, so that a port in use is explained here.
fn choose_ports(args: &Args) -> Result<Ports, FarmError> {
    // A farm that runs one command should not collide with a farm already running
    // here, so it takes any free ports unless told otherwise; a standing farm takes
    // the well-known ones, which `ccfarm hosts` and the docs assume.
    let running_command = !args.command.is_empty();
    let default_port = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listen = args
        .listen
        .unwrap_or_else(|| default_port(if running_command { 0 } else { 7700 }));
    let http = args
        .http
        .unwrap_or_else(|| default_port(if running_command { 0 } else { 7701 }));
    // Every port stays bound until all are chosen, so that no two are the same.
    let mut held = Vec::new();
    let mut fix = |addr: SocketAddr, flag: &'static str| -> Result<SocketAddr, FarmError> {
        let listener = services::bind(addr).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AddrInUse {
                FarmError::InUse { addr, flag }
            } else {
                FarmError::Bind { addr, source }
            }
        })?;
        let bound = listener
            .local_addr()
            .map_err(|source| FarmError::Bind { addr, source })?;
        held.push(listener);
        Ok(bound)
    };
    let listen = fix(listen, "--listen")?;
    let http = fix(http, "--http")?;
    let distcc_proxy = args
        .distcc_proxy
        .map(|p| fix(p, "--distcc-proxy"))
        .transpose()?;
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let mut servers = Vec::new();
    for _ in 0..args.servers {
        servers.push((fix(loopback, "--servers")?, fix(loopback, "--servers")?));
    }
    Ok(Ports {
        listen,
        http,
        distcc_proxy,
        servers,
    })
}

/// What the services are started with.
struct Setup<'a> {
    scheduler_bin: &'a Path,
    server_bin: &'a Path,
    ports: &'a Ports,
    dir: &'a Path,
    names: &'a [String],
    jobs: usize,
    credentials: Option<&'a FarmCredentials>,
}

/// Start the services into `running`, run the command or wait for a signal, print the
/// status; the caller stops what is in `running` whatever happens here.
fn serve(
    args: &Args,
    setup: &Setup<'_>,
    running: &mut Vec<Service>,
    signals: &Signals,
) -> Result<i32, FarmError> {
    let ports = setup.ports;
    // The services run in the farm's directory: paths into it are relative, and their
    // command lines name nothing under TMPDIR.
    let relative = |path: &Path| -> OsString {
        path.strip_prefix(setup.dir)
            .unwrap_or(path)
            .as_os_str()
            .to_owned()
    };
    let mut scheduler_args: Vec<OsString> = vec![
        "--listen".into(),
        ports.listen.to_string().into(),
        "--http".into(),
        ports.http.to_string().into(),
    ];
    if let Some(proxy) = ports.distcc_proxy {
        scheduler_args.extend(["--distcc-proxy".into(), proxy.to_string().into()]);
    }
    if let Some(c) = setup.credentials {
        scheduler_args.extend(["--credentials".into(), relative(&c.scheduler)]);
    }
    if let Some(url) = &args.cache {
        // The scheduler takes its cache from its configuration file only.
        let config = setup.dir.join("scheduler.toml");
        std::fs::write(&config, format!("cache = \"{url}\"\n")).map_err(|source| {
            FarmError::TmpDir {
                dir: setup.dir.to_owned(),
                source,
            }
        })?;
        scheduler_args.extend(["--config".into(), relative(&config)]);
    }
    running.push(Service::start(
        "scheduler",
        setup.scheduler_bin,
        &scheduler_args,
        setup.dir,
    )?);
    for (i, name) in setup.names.iter().enumerate() {
        let (distcc, stats) = ports.servers[i];
        // ccfarmd's own defaults for everything not set here (queue, timeouts, limits,
        // sandbox), loopback only: the farm is for this machine. No --max-load: the
        // load on this machine is the build itself, which must not turn slots off.
        let mut server_args: Vec<OsString> = [
            "--no-detach",
            "--listen",
            "127.0.0.1",
            "--allow",
            "127.0.0.1",
        ]
        .map(OsString::from)
        .to_vec();
        server_args.extend(
            [
                "--port".to_owned(),
                distcc.port().to_string(),
                "--stats".to_owned(),
                "--stats-port".to_owned(),
                stats.port().to_string(),
                "--jobs".to_owned(),
                setup.jobs.to_string(),
                "--scheduler".to_owned(),
                ports.listen.to_string(),
                "--name".to_owned(),
                name.clone(),
            ]
            .map(OsString::from),
        );
        for compiler in EXTRA_COMPILERS {
            server_args.extend(["--allow-compiler".into(), compiler.into()]);
        }
        if let Some(c) = setup.credentials {
            server_args.extend(["--credentials".into(), relative(&c.servers[i].1)]);
        }
        if let Some(url) = &args.cache {
            server_args.extend(["--cache".into(), url.into()]);
        }
        running.push(Service::start(
            name,
            setup.server_bin,
            &server_args,
            setup.dir,
        )?);
    }

    let user = setup.credentials.map(|c| c.user.as_path());
    let target = Target {
        http: Some(ports.http.to_string()),
        token: None,
        credentials: user.map(Path::to_owned),
    };
    wait_registered(&target, setup.names, running, signals)?;

    let running_command = !args.command.is_empty();
    print_banner(ports, setup.jobs, running_command, user);
    let code = if running_command {
        run_command(&args.command, ports, user, signals)
    } else {
        wait_for_signal(running, signals)
    };
    let reports: Vec<ServerReport> = setup
        .names
        .iter()
        .zip(&ports.servers)
        .map(|(name, &(addr, stats))| ServerReport {
            name: name.clone(),
            addr,
            stats: status::server_stats(stats),
        })
        .collect();
    print!(
        "{}",
        status::table(status::scheduler_status(&target).as_ref(), &reports)
    );
    Ok(code)
}

/// Wait until the scheduler has every server up, so that the first compile of a
/// command finds slots rather than an empty farm.
fn wait_registered(
    target: &Target,
    names: &[String],
    running: &mut [Service],
    signals: &Signals,
) -> Result<(), FarmError> {
    let deadline = Instant::now() + REGISTER_WITHIN;
    loop {
        if let Some(signal) = signals.pending() {
            return Err(FarmError::Interrupted(signal));
        }
        for service in running.iter_mut() {
            if let Some(status) = service.exited() {
                return Err(FarmError::Exited {
                    name: service.name.clone(),
                    status,
                    log: service.log_tail(LOG_LINES),
                });
            }
        }
        let up = status::scheduler_status(target).map_or(0, |s| status::servers_up(&s, names));
        if up == names.len() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = running.iter().map(|s| s.log_tail(LOG_LINES)).collect();
            return Err(FarmError::NotRegistered {
                up,
                total: names.len(),
                logs: logs.join("\n"),
            });
        }
        std::thread::sleep(POLL);
    }
}

/// A standing farm: until SIGINT or SIGTERM, or until a service exits by itself (the
/// farm is then incomplete, and says why). Returns the exit status.
fn wait_for_signal(running: &mut [Service], signals: &Signals) -> i32 {
    loop {
        if let Some(signal) = signals.pending() {
            println!("ccfarm farm: {signal}, stopping");
            return 0;
        }
        for service in running.iter_mut() {
            if let Some(status) = service.exited() {
                eprintln!(
                    "ccfarm farm: {} exited ({status}), stopping; {}",
                    service.name,
                    service.log_tail(LOG_LINES)
                );
                return exit::GENERAL.into();
            }
        }
        std::thread::sleep(POLL);
    }
}

fn print_banner(
    ports: &Ports,
    jobs: usize,
    running_command: bool,
    user_credentials: Option<&Path>,
) {
    let servers = ports.servers.len();
    let slots = servers * jobs;
    let listen = ports.listen;
    let http = ports.http;
    let addrs: Vec<String> = ports.servers.iter().map(|(a, _)| a.to_string()).collect();
    println!(
        "ccfarm farm: scheduler on {listen}, {servers} compile server{} with {jobs} slot{} each ({})",
        if servers == 1 { "" } else { "s" },
        if jobs == 1 { "" } else { "s" },
        addrs.join(", ")
    );
    let scheme = if user_credentials.is_some() {
        "https"
    } else {
        "http"
    };
    println!("  dashboard: {scheme}://{http}/   (JSON: {scheme}://{http}/status)");
    if let Some(user) = user_credentials {
        println!(
            "  secure: every channel TLS with credentials made for this run; the user's are in {}",
            user.display()
        );
    }
    if !running_command {
        // Twice the slots: while one job compiles on a server, the next is being
        // preprocessed here.
        println!("Point builds at it:");
        println!("  export CCFARM_SCHEDULER={listen}");
        if let Some(user) = user_credentials {
            println!("  export CCFARM_CREDENTIALS={}", user.display());
        }
        println!("  make -j{} CC=\"ccfarm gcc\"", 2 * slots);
    }
    if let Some(proxy) = ports.distcc_proxy {
        println!(
            "  stock distcc clients: DISTCC_HOSTS=\"{proxy}/{slots},lzo\" make -j{} CC=\"distcc gcc\"",
            2 * slots
        );
    }
    if !running_command {
        println!("Ctrl-C stops the farm.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn port_zero_becomes_a_free_port_and_a_port_in_use_is_explained() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_addr = taken.local_addr().unwrap();
        let mut a = parse(&args(&["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"]))
            .unwrap()
            .unwrap();
        let ports = choose_ports(&a).unwrap();
        assert_ne!(ports.listen.port(), 0);
        assert_ne!(ports.http.port(), 0);
        assert_eq!(ports.servers.len(), 2);
        assert!(
            ports
                .servers
                .iter()
                .all(|(d, s)| d.port() != 0 && s.port() != 0)
        );
        a.http = Some(taken_addr);
        let err = choose_ports(&a)
            .err()
            .expect("the port is taken")
            .to_string();
        assert!(
            err.contains("already in use") && err.contains("--http"),
            "{err}"
        );
    }
}
