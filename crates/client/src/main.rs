//! `ccfarm`: the compiler wrapper. Invoked as
//!
//! * `ccfarm gcc -c x.c -o x.o` (or as a CMake compiler launcher);
//! * `gcc ...` through a symlink to ccfarm early on `PATH` (masquerade);
//! * `distcc ...` through a symlink named `distcc`, with distcc's options.

use std::path::Path;
use std::process::ExitCode;

use ccfarm_client::admin;
use ccfarm_client::ca;
use ccfarm_client::compile::{self, Context};
use ccfarm_client::env::{Env, HostSource, Settings};
use ccfarm_client::exit;
use ccfarm_client::hosts::parse_hosts;
use ccfarm_client::log::Logger;

mod farm;
mod farm_credentials;
mod sibling;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code = run(args);
    ExitCode::from(u8::try_from(code).unwrap_or(exit::GENERAL))
}

fn run(mut args: Vec<String>) -> i32 {
    let invoked = Path::new(&args[0])
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("ccfarm")
        .to_owned();
    let name = if invoked == "distcc" {
        "distcc"
    } else {
        "ccfarm"
    };
    let env = Env::capture();
    let mut settings = Settings::load(&env, |p| std::fs::read_to_string(p).ok());
    if settings.scheduler.is_some()
        && let Ok(host) = nix::unistd::gethostname()
    {
        settings.machine = host.to_string_lossy().into_owned();
    }
    let log = Logger::new(name, settings.verbose, settings.log_file.clone());

    let argv: Vec<String> = if invoked == "ccfarm" || invoked == "distcc" {
        args.remove(0);
        match args.first().map(String::as_str) {
            None | Some("--help") => {
                print_help(name);
                return 0;
            }
            Some("--version") => {
                print!(
                    "{}",
                    ccfarm_proto::distcc::version_text(name, env!("CARGO_PKG_VERSION"), "1 and 2")
                );
                return 0;
            }
            Some("simulate") if invoked == "ccfarm" => return simulate(&args[1..]),
            Some("farm") if invoked == "ccfarm" => return farm::main(&args[1..]),
            Some("stats") if invoked == "ccfarm" => return stats(&settings, &args[1..]),
            Some("agent") if invoked == "ccfarm" => return agent(&args[1..]),
            Some("ca") if invoked == "ccfarm" => {
                return ca::main(&args[1..], |k| env.get(k).map(str::to_owned));
            }
            Some(command @ ("hosts" | "drain" | "up" | "down" | "add" | "remove"))
                if invoked == "ccfarm" =>
            {
                let command = command.to_owned();
                return admin_command(&command, args.split_off(1), &env);
            }
            Some("--show-hosts") | Some("-j") => {
                return show_hosts(&settings, args[0] == "-j", &log);
            }
            // distcc's implicit compiler: `distcc -c x.c` means `cc -c x.c`.
            Some(first) if first.starts_with('-') || is_source(first) => {
                std::iter::once("cc".to_owned()).chain(args).collect()
            }
            Some(first) => {
                // A mistyped command (`ccfarm hots`) would run as a compiler that does
                // not exist: say what was probably meant instead. PATH is searched only
                // for a near miss, not for every compile (the compile searches it).
                if invoked == "ccfarm"
                    && let Some(meant) = ccfarm_client::commands::did_you_mean(first)
                    && ccfarm_client::local::resolve_compiler(first, env.get("PATH")).is_none()
                {
                    eprintln!(
                        "ccfarm: `{first}` is neither a ccfarm command nor a compiler on PATH; did you mean `ccfarm {meant}`?"
                    );
                    return exit::BAD_ARGUMENTS.into();
                }
                args
            }
        }
    } else {
        // Masquerade: we are `gcc` (or `cc`, ...); the real one is found on PATH.
        args[0] = invoked;
        args
    };

    if settings.safeguard >= 3 {
        log.error(&format!("{name} seems to have invoked itself recursively"));
        return exit::RECURSION.into();
    }
    let argv = match expand_response_files(argv) {
        Ok(a) => a,
        Err(e) => {
            log.error(&e.to_string());
            return exit::BAD_ARGUMENTS.into();
        }
    };
    let hosts = match parse_hosts(&settings.hosts_text) {
        Ok(h) => h,
        Err(e) => {
            log.error(&format!("bad host list: {e}"));
            return exit::BAD_HOSTSPEC.into();
        }
    };
    tell_once(&settings.state_dir, &hosts.notices(), &log);
    if !hosts.usable() && settings.scheduler.is_none() {
        log.warn(&no_hosts(&settings));
    }
    let hosts = if hosts.randomize {
        shuffled(hosts)
    } else {
        hosts
    };
    // sysconf, not available_parallelism: the latter reads cgroup files on every
    // start, and this runs once per compile.
    let cpus = nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN)
        .ok()
        .flatten()
        .map_or(2, |n| n.max(1) as u32);
    let ctx = Context {
        settings: &settings,
        hosts: &hosts,
        log: &log,
        path_var: env.get("PATH"),
        local_slots: hosts.local_slots.unwrap_or(cpus.max(2)),
        local_slots_cpp: hosts.local_slots_cpp.unwrap_or((2 * cpus).max(4)),
    };
    compile::run(&ctx, argv)
}

/// `ccfarm hosts|drain|up|down|add|remove ...`: the operator's commands.
fn admin_command(command: &str, mut args: Vec<String>, env: &Env) -> i32 {
    let target = match admin::Target::from_args(&mut args, |k| env.get(k).map(str::to_owned)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ccfarm {command}: {e}");
            return exit::BAD_ARGUMENTS.into();
        }
    };
    match admin::run(command, &args, &target) {
        Ok(out) => {
            print!("{out}");
            if !out.ends_with('\n') {
                println!();
            }
            0
        }
        Err(e @ admin::AdminError::Usage(_)) => {
            eprintln!("ccfarm {command}: {e}");
            exit::BAD_ARGUMENTS.into()
        }
        Err(e) => {
            eprintln!("ccfarm {command}: {e}");
            exit::GENERAL.into()
        }
    }
}

fn is_source(arg: &str) -> bool {
    [
        ".c", ".cc", ".cpp", ".cxx", ".C", ".i", ".ii", ".m", ".mm", ".s", ".S", ".o",
    ]
    .iter()
    .any(|e| arg.ends_with(e))
}

/// Response files that name each other more deeply than gcc would follow.
#[derive(Debug, thiserror::Error)]
#[error("response files nested too deeply at {0}")]
struct NestedTooDeep(String);

/// Expand `@file` arguments (gcc's response files), recursively, before anything looks
/// at the command line: distcc leaves them in place and so misclassifies such compiles.
fn expand_response_files(argv: Vec<String>) -> Result<Vec<String>, NestedTooDeep> {
    fn expand(args: Vec<String>, depth: u32, out: &mut Vec<String>) -> Result<(), NestedTooDeep> {
        for arg in args {
            match arg.strip_prefix('@') {
                Some(path) if !path.is_empty() && depth < 16 => match std::fs::read_to_string(path)
                {
                    Ok(text) => {
                        expand(ccfarm_compiler::split_response_file(&text), depth + 1, out)?
                    }
                    // gcc keeps an unreadable @file as a literal argument.
                    Err(_) => out.push(arg),
                },
                Some(_) if depth >= 16 => {
                    return Err(NestedTooDeep(arg));
                }
                _ => out.push(arg),
            }
        }
        Ok(())
    }
    let mut out = Vec::with_capacity(argv.len());
    let mut iter = argv.into_iter();
    out.extend(iter.next());
    expand(iter.collect(), 0, &mut out)?;
    Ok(out)
}

fn shuffled(mut hosts: ccfarm_client::hosts::HostList) -> ccfarm_client::hosts::HostList {
    // distcc shuffles once per process; any per-process seed will do.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut state = u64::from(std::process::id()) << 32 ^ u64::from(nanos) | 1;
    for i in (1..hosts.hosts.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        hosts.hosts.swap(i, (state % (i as u64 + 1)) as usize);
    }
    hosts
}

/// Why no compile can be distributed with these settings' host list.
fn no_hosts(settings: &Settings) -> String {
    match &settings.hosts_source {
        HostSource::None => format!(
            "no hosts: set $CCFARM_HOSTS or $DISTCC_HOSTS (or write {} or /etc/distcc/hosts); can't distribute work",
            settings.state_dir.join("hosts").display()
        ),
        HostSource::Variable(name) => {
            format!("no usable hosts in ${name}; can't distribute work")
        }
        HostSource::File(path) => format!(
            "no usable hosts in {}; can't distribute work",
            path.display()
        ),
    }
}

/// Say `notices` about the host list once for as long as they stay the same, not once
/// per compile: the last ones said are kept in the state directory.
fn tell_once(state_dir: &std::path::Path, notices: &[String], log: &Logger) {
    if notices.is_empty() {
        return;
    }
    let said = state_dir.join("host-notices");
    let text = notices.join("\n");
    if std::fs::read_to_string(&said).is_ok_and(|before| before == text) {
        return;
    }
    for notice in notices {
        log.warn(notice);
    }
    let _ = std::fs::create_dir_all(state_dir).and_then(|()| std::fs::write(&said, text));
}

fn show_hosts(settings: &Settings, total_only: bool, log: &Logger) -> i32 {
    let hosts = match parse_hosts(&settings.hosts_text) {
        Ok(h) => h,
        Err(e) => {
            log.error(&format!("bad host list: {e}"));
            return exit::BAD_HOSTSPEC.into();
        }
    };
    if total_only {
        println!("{}", hosts.total_slots());
        return 0;
    }
    for notice in hosts.notices() {
        log.warn(&notice);
    }
    if !hosts.usable() {
        log.warn(&no_hosts(settings));
    }
    // Shown in the order compiles would try them.
    let hosts = if hosts.randomize {
        shuffled(hosts)
    } else {
        hosts
    };
    for host in &hosts.hosts {
        println!("{}", host.display());
    }
    0
}

/// `ccfarm stats [--zero]`: the job records summed up.
fn stats(settings: &Settings, args: &[String]) -> i32 {
    let current = settings.state_dir.join(compile::RECORDS_FILE);
    let older = current.with_extension("log.1");
    match args {
        [] => {}
        [zero] if zero == "--zero" => {
            for path in [&current, &older] {
                match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        eprintln!("ccfarm stats: cannot remove {}: {e}", path.display());
                        return exit::GENERAL.into();
                    }
                }
            }
            return 0;
        }
        _ => {
            eprintln!("usage: ccfarm stats [--zero]");
            return exit::BAD_ARGUMENTS.into();
        }
    }
    let mut summary = ccfarm_client::records::Summary::default();
    for path in [&older, &current] {
        match std::fs::read_to_string(path) {
            Ok(text) => summary.add(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                eprintln!("ccfarm stats: cannot read {}: {e}", path.display());
                return exit::GENERAL.into();
            }
        }
    }
    println!("job records in {}", settings.state_dir.display());
    print!("{}", summary.render());
    0
}

fn print_help(name: &str) {
    println!(
        "Usage: {name} [COMPILER] [compile options] -o OUTPUT -c INPUT
       {name} [--help | --version | --show-hosts | -j]
       ccfarm hosts | drain HOST | up HOST | down HOST | add HOST[:PORT]/N[,lzo] | remove HOST
       ccfarm ca init | issue ROLE NAME | revoke CERT | list | show DIR
       ccfarm stats [--zero]
       COMPILER [compile options]   (when a symlink named after the compiler points at {name})

Distributes C and C++ compiles to compile servers (ccfarmd or distccd) over the distcc
protocol, and compiles locally whatever cannot or should not be distributed.

Options:
  simulate      compare scheduling policies in a simulated farm: runs ccfarm-sim
                (ccfarm-sim --help)
  farm [-- CMD] a scheduler and compile servers on loopback (ccfarm-scheduler and
                ccfarmd, as child processes); with CMD, run it through them and print
                the farm's status (ccfarm farm --help)
  hosts         the scheduler's hosts: health, slots, running jobs, learned speed
  drain HOST    let HOST's running jobs finish, give it nothing new    (admin token)
  up HOST       put HOST back in service                               (admin token)
  down HOST     take HOST out of service now; its jobs go elsewhere    (admin token)
  add HOST[:PORT]/N[,lzo]   add a stock distccd with N slots           (admin token)
  remove HOST   forget HOST                                            (admin token)
                (--http HOST:PORT or CCFARM_SCHEDULER_HTTP, else CCFARM_SCHEDULER's host
                 on port 7701; token from CCFARM_ADMIN_TOKEN, --token-file FILE or
                 ~/.ccfarm/admin-token)
  stats         where this user's compiles ran, and why each local one was local
                (from $CCFARM_DIR/jobs.log; --zero empties it)
  ca ...        the farm's certificate authority: credentials for the scheduler,
                servers, users and admins; revocation (ccfarm ca --help)
  --help        this text
  --version     version and protocols
  --show-hosts  the host list in use
  -j            the total number of slots in the host list

Environment:
  CCFARM_HOSTS / DISTCC_HOSTS   host list (else $DISTCC_DIR/hosts, ~/.distcc/hosts, /etc/distcc/hosts)
  CCFARM_DIR / DISTCC_DIR       lock and backoff state (default ~/.ccfarm)
  CCFARM_FALLBACK / DISTCC_FALLBACK=0          fail instead of compiling locally
  CCFARM_BACKOFF_PERIOD / DISTCC_BACKOFF_PERIOD  longest host backoff in seconds (default 60; 0 disables)
  CCFARM_IO_TIMEOUT / DISTCC_IO_TIMEOUT        seconds per network read/write (default 300)
  CCFARM_CONNECT_TIMEOUT                       connect timeout in seconds (default 4)
  CCFARM_SKIP_LOCAL_RETRY / DISTCC_SKIP_LOCAL_RETRY  show remote diagnostics of failed compiles
  CCFARM_VERBOSE / DISTCC_VERBOSE=1            log every step
  CCFARM_LOG_FILE / DISTCC_LOG                 log to this file instead of stderr

Host list syntax (distcc's): HOST[:PORT][/SLOTS][,lzo]  localhost/N  --randomize
  --localslots=N  --localslots_cpp=N"
    );
}

/// `ccfarm simulate ARGS`: the simulator is `ccfarm-sim`, a program of its own so that
/// `ccfarm`, started once per compile, does not carry it; this runs it in our place.
fn simulate(args: &[String]) -> i32 {
    use std::os::unix::process::CommandExt;
    let sim = match sibling::locate("ccfarm-sim") {
        Ok(path) => path,
        Err(e) => {
            eprintln!("ccfarm simulate runs ccfarm-sim: {e}");
            return exit::GENERAL.into();
        }
    };
    let err = std::process::Command::new(&sim).args(args).exec();
    eprintln!("ccfarm simulate: cannot run {}: {err}", sim.display());
    exit::GENERAL.into()
}

/// `ccfarm agent --credentials DIR`: the user's agent (see `ccfarm_client::agent`),
/// normally started by a compile rather than by hand.
fn agent(args: &[String]) -> i32 {
    let dir = match args {
        [flag, dir] if flag == "--credentials" => std::path::PathBuf::from(dir),
        _ => {
            eprintln!(
                "usage: ccfarm agent --credentials DIR\n\nKeeps TLS connections to a secure farm ready for this user's compiles,\nwhich start it themselves; it exits after ten idle minutes."
            );
            return 2;
        }
    };
    match ccfarm_client::agent::serve::run(&dir) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ccfarm agent: {e}");
            1
        }
    }
}
