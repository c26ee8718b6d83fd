//! `ccfarm farm`: a whole farm in one process on loopback — the scheduler service and
//! N compile servers registered with it — for trying ccfarm on one machine, and for
//! running one build through it (`ccfarm farm -- make -j8 CC="ccfarm gcc"`).
//!
//! This is the only part of `ccfarm` that starts a tokio runtime: the compiler-wrapper
//! path stays synchronous, so a compile pays nothing for it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ccfarm_daemon::compilers::{CompilerPolicy, MASQUERADE_DIRS};
use ccfarm_daemon::daemon::{Daemon, Settings};
use ccfarm_daemon::sandbox::Sandbox;
use ccfarm_daemon::secure::Trust;
use ccfarm_daemon::system::SystemInfo;
use ccfarm_daemon::{config, jobdirs, register, server};
use ccfarm_placement::{Health, Snapshot};
use ccfarm_scheduler::config::FileConfig;
use ccfarm_scheduler::service::{self, Options, StartError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::exit;

const USAGE: &str =
    "usage: ccfarm farm [--servers N] [--jobs J] [--listen ADDR:PORT] [--http ADDR:PORT]
                   [--distcc-proxy ADDR:PORT] [--secure] [-- COMMAND ARGS...]

Runs a scheduler and N compile servers in this process, on loopback, until Ctrl-C or
SIGTERM. With a COMMAND, runs it with CCFARM_SCHEDULER pointing at the farm (and
CCFARM_HOSTS empty, so every compile goes through the scheduler), prints the farm's
status when it ends, and exits with its status.

  --servers N            compile servers [default: 2]
  --jobs J               compile slots per server [default: CPUs / servers, at least 1]
  --listen ADDR:PORT     the scheduler's port [default: 127.0.0.1:7700; with a COMMAND,
                         any free port]
  --http ADDR:PORT       dashboard, /status and /metrics [default: 127.0.0.1:7701; with a
                         COMMAND, any free port]
  --distcc-proxy ADDR:PORT  a port for stock distcc clients [default: none]
  --secure               credentials made on the fly for the scheduler, the servers and
                         the user; every channel TLS and authenticated, every job with
                         the scheduler's grant; the COMMAND gets CCFARM_CREDENTIALS

Environment: CCFARM_LOG (a tracing filter, default \"warn\") for the farm's own log.";

/// Compilers the farm's servers run besides those of distcc's masquerade directories,
/// which are missing on a machine without distcc. They are looked up on `PATH` like
/// distccd's, and the servers accept connections from loopback only, so this lets
/// nothing run that the machine's users could not run anyway.
const EXTRA_COMPILERS: [&str; 6] = ["cc", "c++", "gcc", "g++", "clang", "clang++"];

/// How long the servers get to register before the farm gives up.
const REGISTER_WITHIN: Duration = Duration::from_secs(15);

/// How long a command gets to exit after the farm forwarded a signal to it.
const COMMAND_GRACE: Duration = Duration::from_secs(10);

/// The command line of `ccfarm farm`.
#[derive(Debug, Clone, PartialEq)]
struct Args {
    servers: usize,
    jobs: Option<usize>,
    listen: Option<SocketAddr>,
    http: Option<SocketAddr>,
    distcc_proxy: Option<SocketAddr>,
    secure: bool,
    command: Vec<String>,
}

fn parse(args: &[String]) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        servers: 2,
        jobs: None,
        listen: None,
        http: None,
        distcc_proxy: None,
        secure: false,
        command: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        if flag == "--secure" {
            parsed.secure = true;
            continue;
        }
        if flag == "--" {
            parsed.command = it.cloned().collect();
            if parsed.command.is_empty() {
                return Err("nothing after `--`: give the command to run".into());
            }
            break;
        }
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
            _ => (flag.as_str(), None),
        };
        let known = [
            "--servers",
            "--jobs",
            "--listen",
            "--http",
            "--distcc-proxy",
        ];
        if !known.contains(&name) {
            return Err(format!(
                "unknown option {flag:?} (a command to run goes after `--`)"
            ));
        }
        let value = match inline.or_else(|| it.next().cloned()) {
            Some(v) => v,
            None => return Err(format!("{name} needs a value")),
        };
        let count = |v: &str| -> Result<usize, String> {
            match v.parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => Ok(n),
                _ => Err(format!("{name} {v:?}: expected a number from 1 to 64")),
            }
        };
        let addr = |v: &str| -> Result<SocketAddr, String> {
            v.parse()
                .map_err(|_| format!("{name} {v:?}: expected ADDR:PORT, e.g. 127.0.0.1:7700"))
        };
        match name {
            "--servers" => parsed.servers = count(&value)?,
            "--jobs" => parsed.jobs = Some(count(&value)?),
            "--listen" => parsed.listen = Some(addr(&value)?),
            "--http" => parsed.http = Some(addr(&value)?),
            _ => parsed.distcc_proxy = Some(addr(&value)?),
        }
    }
    Ok(Some(parsed))
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
    init_logging();
    // One thread, as ccfarmd and ccfarm-scheduler use: the compilers run in their own
    // processes, and what is left is small socket work.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ccfarm farm: cannot start the async runtime: {e}");
            return exit::GENERAL.into();
        }
    };
    let code = runtime.block_on(run(args));
    // Blocking tasks (a heartbeat reading /proc) must not hold up the exit.
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CCFARM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// One in-process compile server.
struct LocalServer {
    name: String,
    addr: SocketAddr,
    daemon: Arc<Daemon>,
    serving: JoinHandle<()>,
    registration: JoinHandle<()>,
}

async fn run(args: Args) -> i32 {
    let mut signals = match Signals::catch() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ccfarm farm: cannot catch SIGTERM and SIGINT: {e}");
            return exit::GENERAL.into();
        }
    };
    let running_command = !args.command.is_empty();
    // A farm that runs one command should not collide with a farm already running
    // here, so it takes any free ports unless told otherwise; a standing farm takes
    // the well-known ones, which `ccfarm hosts` and the docs assume.
    let default_port = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listen = args
        .listen
        .unwrap_or_else(|| default_port(if running_command { 0 } else { 7700 }));
    let http = args
        .http
        .unwrap_or_else(|| default_port(if running_command { 0 } else { 7701 }));

    let mut options = match Options::from_file(FileConfig::default()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ccfarm farm: {e}");
            return exit::GENERAL.into();
        }
    };
    options.listen = listen;
    options.http = Some(http);
    options.distcc_proxy = args.distcc_proxy;
    let names: Vec<String> = (1..=args.servers).map(|i| format!("server{i}")).collect();
    let credentials = if args.secure {
        let user = std::env::var("USER").unwrap_or_else(|_| "farm-user".into());
        let user = if ccfarm_trust::identity::check_name(&user).is_ok() {
            user
        } else {
            "farm-user".to_owned()
        };
        match crate::farm_credentials::make(&names, &user) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("ccfarm farm: {e}");
                return exit::GENERAL.into();
            }
        }
    } else {
        None
    };
    options.credentials = credentials.as_ref().map(|c| c.scheduler.clone());
    let scheduler = match service::start(options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "ccfarm farm: {}",
                explain_start_error(&e, listen, http, args.distcc_proxy)
            );
            return exit::GENERAL.into();
        }
    };

    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    // The servers share this machine's CPUs: together they get one slot per CPU, so a
    // build through the farm loads the machine as `make -jCPUS` would.
    let jobs = args.jobs.unwrap_or((cpus / args.servers).max(1));
    let tmp = std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    if let Err(e) = tempfile::Builder::new()
        .prefix("ccfarm-farm-probe-")
        .tempdir_in(&tmp)
    {
        eprintln!(
            "ccfarm farm: cannot make job directories in {} ({e}); set TMPDIR to a writable directory",
            tmp.display()
        );
        return exit::GENERAL.into();
    }
    // Job directories of a farm or ccfarmd that was killed (SIGKILL, power loss).
    jobdirs::sweep(&tmp, jobdirs::process_alive);

    let compilers = CompilerPolicy::load(
        &MASQUERADE_DIRS.map(Path::new),
        &EXTRA_COMPILERS.map(String::from),
    );
    let compiler_names: Vec<String> = compilers.names().map(str::to_owned).collect();
    let identities = tokio::task::spawn_blocking(move || register::identify(&compiler_names))
        .await
        .unwrap_or_default();
    if identities.is_empty() {
        eprintln!(
            "ccfarm farm: no C or C++ compiler found on PATH (tried {} and /usr/lib/distcc); \
             install gcc or clang",
            EXTRA_COMPILERS.join(", ")
        );
        return exit::COMPILER_MISSING.into();
    }

    let (stop, stopped) = watch::channel(false);
    let mut servers = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let name = name.clone();
        let trust = credentials.as_ref().map(|c| c.servers[i].1.as_path());
        match start_server(
            &name,
            jobs,
            &tmp,
            compilers.clone(),
            register::Membership {
                scheduler: scheduler.listen.to_string(),
                name: name.clone(),
                distcc_port: 0, // set once bound
                compilers: identities.clone(),
                // The load on this machine is the build itself (make, preprocessing):
                // it must not turn the farm's slots off.
                max_load: None,
            },
            stopped.clone(),
            trust,
        ) {
            Ok(s) => servers.push(s),
            Err(e) => {
                eprintln!("ccfarm farm: {name}: {e}");
                shut_down(&stop, servers).await;
                return exit::GENERAL.into();
            }
        }
    }
    let registered = tokio::select! {
        registered = wait_registered(&scheduler.handle, &servers) => registered,
        signal = signals.next() => Err(format!("{signal} while starting")),
    };
    if let Err(e) = registered {
        eprintln!("ccfarm farm: {e}");
        shut_down(&stop, servers).await;
        return exit::GENERAL.into();
    }

    let farm_http = scheduler.http.unwrap_or(http);
    print_banner(
        &scheduler.listen,
        &farm_http,
        scheduler.distcc_proxy,
        &servers,
        jobs,
        running_command,
        credentials.as_ref().map(|c| c.user.as_path()),
    );

    let code = if running_command {
        let user = credentials.as_ref().map(|c| c.user.as_path());
        run_command(
            &args.command,
            &scheduler.listen,
            &farm_http,
            user,
            &mut signals,
        )
        .await
    } else {
        let signal = signals.next().await;
        println!("ccfarm farm: {signal}, stopping");
        0
    };
    let snapshot = scheduler.handle.snapshot().await;
    print_status(snapshot.as_ref(), &servers);
    shut_down(&stop, servers).await;
    code
}

fn explain_start_error(
    e: &StartError,
    listen: SocketAddr,
    http: SocketAddr,
    distcc_proxy: Option<SocketAddr>,
) -> String {
    match e {
        StartError::Bind { addr, source } if source.kind() == std::io::ErrorKind::AddrInUse => {
            let flag = if *addr == listen {
                "--listen"
            } else if *addr == http {
                "--http"
            } else if Some(*addr) == distcc_proxy {
                "--distcc-proxy"
            } else {
                "another option"
            };
            format!(
                "{addr} is already in use (another `ccfarm farm` or ccfarm-scheduler?); \
                 choose another port with {flag} {}:PORT, or port 0 for any free one",
                addr.ip()
            )
        }
        other => other.to_string(),
    }
}

fn start_server(
    name: &str,
    jobs: usize,
    tmp: &Path,
    compilers: CompilerPolicy,
    mut membership: register::Membership,
    mut stopped: watch::Receiver<bool>,
    credentials: Option<&Path>,
) -> Result<LocalServer, String> {
    // ccfarmd's own defaults for everything not set here (queue, timeouts, limits),
    // loopback only: the farm is for this machine.
    let cli = config::Cli {
        listen: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        allow: vec!["127.0.0.1".parse().expect("a valid address")],
        jobs: Some(u32::try_from(jobs).unwrap_or(u32::MAX)),
        tmp_dir: Some(tmp.to_owned()),
        no_detach: true,
        ..config::Cli::default()
    };
    let config = cli.resolve().map_err(|e| e.to_string())?;
    let listener = std::net::TcpListener::bind((config.listen, 0))
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(tokio::net::TcpListener::from_std)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    membership.distcc_port = addr.port();
    let trust = match credentials {
        Some(dir) => Trust::load(dir, true).map_err(|e| e.to_string())?,
        None => Trust::none(),
    };
    // The farm's servers confine their compiles as ccfarmd does by default.
    let programs: Vec<String> = compilers.programs().collect();
    let sandbox = Sandbox::start(&config.sandbox, config.jobs, &programs, &config.tmp_dir)
        .map_err(|e| format!("cannot set up the compile sandbox: {e}"))?;
    let daemon = Arc::new(
        Daemon::new(
            Settings::of(&config),
            compilers,
            config.allow.clone(),
            config.jobs,
            config.max_queue,
        )
        .with_sandbox(sandbox)
        .with_trust(trust),
    );
    let shutdown = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let serving = tokio::spawn(server::run(
        daemon.clone(),
        listener,
        config.max_connections,
        shutdown,
    ));
    let registration = tokio::spawn(register::run(daemon.clone(), membership));
    Ok(LocalServer {
        name: name.to_owned(),
        addr,
        daemon,
        serving,
        registration,
    })
}

/// Wait until the scheduler has every server up, so that the first compile of a
/// command finds slots rather than an empty farm.
async fn wait_registered(
    handle: &ccfarm_scheduler::handle::Handle,
    servers: &[LocalServer],
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + REGISTER_WITHIN;
    loop {
        let up = handle.snapshot().await.map_or(0, |s| {
            s.hosts
                .iter()
                .filter(|h| h.health == Health::Up && servers.iter().any(|s| s.name == h.name))
                .count()
        });
        if up == servers.len() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "only {up} of {} compile servers registered with the scheduler within {}s \
                 (CCFARM_LOG=info shows why)",
                servers.len(),
                REGISTER_WITHIN.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn print_banner(
    listen: &SocketAddr,
    http: &SocketAddr,
    distcc_proxy: Option<SocketAddr>,
    servers: &[LocalServer],
    jobs: usize,
    running_command: bool,
    user_credentials: Option<&Path>,
) {
    let slots = servers.len() * jobs;
    let addrs: Vec<String> = servers.iter().map(|s| s.addr.to_string()).collect();
    println!(
        "ccfarm farm: scheduler on {listen}, {} compile server{} with {jobs} slot{} each ({})",
        servers.len(),
        if servers.len() == 1 { "" } else { "s" },
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
    if let Some(proxy) = distcc_proxy {
        println!(
            "  stock distcc clients: DISTCC_HOSTS=\"{proxy}/{slots},lzo\" make -j{} CC=\"distcc gcc\"",
            2 * slots
        );
    }
    if !running_command {
        println!("Ctrl-C stops the farm.");
    }
}

/// Run the user's command against the farm; its exit status, or 128 + the signal
/// that killed it, as a shell reports it.
async fn run_command(
    command: &[String],
    scheduler: &SocketAddr,
    http: &SocketAddr,
    user_credentials: Option<&Path>,
    signals: &mut Signals,
) -> i32 {
    println!("ccfarm farm: running {}", shell_words(command));
    let mut command_line = tokio::process::Command::new(&command[0]);
    match user_credentials {
        Some(dir) => command_line.env("CCFARM_CREDENTIALS", dir),
        // A farm without credentials must not be asked over TLS.
        None => command_line.env_remove("CCFARM_CREDENTIALS"),
    };
    let mut child = match command_line
        .args(&command[1..])
        .env("CCFARM_SCHEDULER", scheduler.to_string())
        .env("CCFARM_SCHEDULER_HTTP", http.to_string())
        // An empty static list: no compile can bypass the scheduler through a host
        // list inherited from the environment or ~/.distcc/hosts.
        .env("CCFARM_HOSTS", "")
        // Should the farm itself die, the command must not outlive it unnoticed.
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ccfarm farm: cannot run {:?}: {e}", command[0]);
            return 127;
        }
    };
    let status = tokio::select! {
        status = child.wait() => status,
        signal = signals.next() => {
            // Ctrl-C at a terminal reaches the command too; a SIGTERM sent to the
            // farm alone has to be passed on.
            println!("ccfarm farm: {signal}: passing it on to the command");
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    signal,
                );
            }
            match tokio::time::timeout(COMMAND_GRACE, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    eprintln!(
                        "ccfarm farm: the command did not stop within {}s of {signal}; killing it",
                        COMMAND_GRACE.as_secs()
                    );
                    let _ = child.kill().await;
                    child.wait().await
                }
            }
        }
    };
    match status {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .unwrap_or(exit::GENERAL.into())
        }
        Err(e) => {
            eprintln!("ccfarm farm: waiting for the command: {e}");
            exit::GENERAL.into()
        }
    }
}

fn shell_words(command: &[String]) -> String {
    command
        .iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// SIGTERM and SIGINT, caught from the start, so that one arriving while the farm
/// starts stops it cleanly too rather than killing it with its default action.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn catch() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) -> nix::sys::signal::Signal {
        tokio::select! {
            _ = self.term.recv() => nix::sys::signal::Signal::SIGTERM,
            _ = self.int.recv() => nix::sys::signal::Signal::SIGINT,
        }
    }
}

/// The farm's table: per server, what the scheduler thinks of it and what it did;
/// then the scheduler's totals.
fn print_status(snapshot: Option<&Snapshot>, servers: &[LocalServer]) {
    println!("ccfarm farm status:");
    println!(
        "  {:<10} {:<22} {:>5}  {:<10} {:>9} {:>9} {:>6}",
        "server", "address", "slots", "health", "compiled", "failed", "other"
    );
    for server in servers {
        let doc = server.daemon.stats.status(&SystemInfo::default(), "");
        let results: BTreeMap<&str, u64> = doc.results;
        let ok = results.get("compile_ok").copied().unwrap_or(0);
        let failed = results.get("compile_error").copied().unwrap_or(0);
        let other = results.values().sum::<u64>() - ok - failed;
        let health = snapshot
            .and_then(|s| s.hosts.iter().find(|h| h.name == server.name))
            .map_or_else(|| "unknown".to_owned(), |h| format!("{:?}", h.health));
        println!(
            "  {:<10} {:<22} {:>5}  {:<10} {:>9} {:>9} {:>6}",
            server.name,
            server.addr.to_string(),
            doc.slots,
            health,
            ok,
            failed,
            other
        );
    }
    match snapshot {
        Some(s) => {
            let c = &s.counters;
            println!(
                "  scheduler: {} requests, {} granted ({} had to wait), {} told to compile locally; \
                 released: {} ok, {} compile errors, {} transport failures",
                c.requests,
                c.grants,
                c.waits,
                c.local,
                c.released_ok,
                c.released_compile_error,
                c.released_transport
            );
        }
        None => println!("  scheduler: no snapshot (it was shutting down)"),
    }
}

/// Stop the servers (each drops its sessions, which kills their compilers and
/// removes their job directories) and wait until they have.
async fn shut_down(stop: &watch::Sender<bool>, servers: Vec<LocalServer>) {
    let _ = stop.send(true);
    for server in servers {
        server.registration.abort();
        let _ = server.serving.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn defaults_and_command() {
        let a = parse(&args(&["--", "make", "-j8", "CC=ccfarm gcc"]))
            .unwrap()
            .unwrap();
        assert_eq!(a.servers, 2);
        assert_eq!(a.jobs, None);
        assert_eq!(a.listen, None);
        assert_eq!(a.command, ["make", "-j8", "CC=ccfarm gcc"]);
    }

    #[test]
    fn flags_with_and_without_equals() {
        let a = parse(&args(&[
            "--servers=3",
            "--jobs",
            "4",
            "--listen",
            "127.0.0.1:0",
            "--distcc-proxy=127.0.0.1:3632",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((a.servers, a.jobs), (3, Some(4)));
        assert_eq!(a.listen, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(a.distcc_proxy, Some("127.0.0.1:3632".parse().unwrap()));
        assert!(a.command.is_empty());
    }

    #[test]
    fn mistakes_are_explained() {
        for (words, needle) in [
            (&["--servers", "0"][..], "1 to 64"),
            (&["--jobs"][..], "needs a value"),
            (&["--listen", "7700"][..], "ADDR:PORT"),
            (&["make"][..], "after `--`"),
            (&["--"][..], "nothing after"),
        ] {
            let err = parse(&args(words)).unwrap_err();
            assert!(err.contains(needle), "{words:?}: {err}");
        }
        assert_eq!(parse(&args(&["--help"])).unwrap(), None);
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        assert_eq!(
            shell_words(&args(&["make", "-j8", "CC=ccfarm gcc", "it's"])),
            r"make -j8 'CC=ccfarm gcc' 'it'\''s'"
        );
    }
}
