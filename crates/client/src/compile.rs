//! One compile, start to finish: classify, preprocess, distribute, write the outputs
//! exactly as a local compile would, and fall back to a local compile on any
//! infrastructure failure.
//!
//! Failure handling is by kind: a transport failure (refused, reset, timeout,
//! protocol error, busy) backs the host off and moves the job to the next host; a
//! genuine compile error is the user's and never touches host state; a local
//! preprocessing failure is reported as the preprocessor reported it.

use std::collections::HashSet;
use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;
use ccfarm_compiler::{Classification, CompileJob, LocalReason};
use ccfarm_proto::distcc::{Reply, Version, encode_command, encode_source};

use crate::backoff::{BackoffPolicy, BackoffStore};
use crate::env::Settings;
use crate::exit;
use crate::history::{self, History};
use crate::hosts::{HostKind, HostList, HostSpec};
use crate::identity::IdentityCache;
use crate::lease;
use crate::local;
use crate::log::Logger;
use crate::race;
use crate::remote::{self, Breaker, Connection, RemoteError, Timeouts, Verdict};
use crate::slots::{Candidate, SlotDir, SlotGuard};
use ccfarm_proto::farm::GrantProof;
use ccfarm_trust::Credentials;

/// Everything a compile needs besides its command line.
pub struct Context<'a> {
    /// Settings from the environment.
    pub settings: &'a Settings,
    /// The parsed host list.
    pub hosts: &'a HostList,
    /// Logging.
    pub log: &'a Logger,
    /// `PATH`, to find the real compiler.
    pub path_var: Option<&'a str>,
    /// Concurrent local compiles allowed.
    pub local_slots: u32,
    /// Concurrent local preprocessors allowed.
    pub local_slots_cpp: u32,
}

/// The user's credentials, loaded once per process.
static CREDENTIALS: std::sync::OnceLock<Result<Credentials, String>> = std::sync::OnceLock::new();

impl Context<'_> {
    /// The user's credentials (`CCFARM_CREDENTIALS`), needed for a secure grant.
    pub fn credentials(&self) -> Result<&'static Credentials, String> {
        match self.credentials_if_any()? {
            Some(credentials) => Ok(credentials),
            None => Err(
                "the scheduler granted a secure server, but CCFARM_CREDENTIALS names no credentials"
                    .into(),
            ),
        }
    }

    /// The user's credentials if `CCFARM_CREDENTIALS` is set; an error says why they
    /// cannot be used.
    pub fn credentials_if_any(&self) -> Result<Option<&'static Credentials>, String> {
        let Some(dir) = &self.settings.credentials else {
            return Ok(None);
        };
        CREDENTIALS
            .get_or_init(|| Credentials::load(dir).map_err(|e| format!("CCFARM_CREDENTIALS: {e}")))
            .as_ref()
            .map(Some)
            .map_err(Clone::clone)
    }
}

/// How many granted servers may fail one job before the host list is tried.
const SCHEDULER_ATTEMPTS: u32 = 3;

/// Slot keys for work done on this machine.
const LOCAL_KEY: &str = "localhost";
const CPP_KEY: &str = "localcpp";

/// Run `argv` (compiler first) and return the process exit code.
pub fn run(ctx: &Context<'_>, argv: Vec<String>) -> i32 {
    let Some(program) = local::resolve_compiler(&argv[0], ctx.path_var) else {
        ctx.log
            .error(&format!("failed to exec {}: compiler not found", argv[0]));
        return exit::COMPILER_MISSING.into();
    };
    let slots = match SlotDir::open(&ctx.settings.state_dir) {
        Ok(s) => s,
        Err(e) => {
            // Without a lock directory there is no safe way to share hosts; compile
            // here, as distcc does.
            ctx.log.warn(&format!(
                "cannot use {}: {e}; compiling locally",
                ctx.settings.state_dir.display()
            ));
            return run_local(ctx, &program, &argv, None);
        }
    };
    let job = match ccfarm_compiler::scan_args(&argv) {
        Classification::Distributable(job) if ctx.settings.safeguard == 0 => job,
        Classification::Distributable(_) => {
            ctx.log.info("nested inside ccfarm: compiling locally");
            return run_local(ctx, &program, &argv, Some(&slots));
        }
        Classification::Local(reason) => {
            ctx.log
                .info(&format!("{}: local compile: {reason}", argv[0]));
            let slot_key = if matches!(reason, LocalReason::PreprocessOnly) {
                CPP_KEY
            } else {
                LOCAL_KEY
            };
            return run_local_with(ctx, &program, &argv, &slots, slot_key);
        }
    };
    Distribution {
        ctx,
        program: &program,
        argv: &argv,
        job: &job,
        slots: &slots,
    }
    .run()
}

struct Distribution<'a> {
    ctx: &'a Context<'a>,
    program: &'a Path,
    argv: &'a [String],
    job: &'a CompileJob,
    slots: &'a SlotDir,
}

/// A preprocessor running while the job's host is chosen and connected to.
struct RunningCpp {
    child: std::process::Child,
    _slot: Option<SlotGuard>,
}

/// A granted slot, and (for a remote host) the connection with the command line
/// already sent.
struct Grant {
    guard: SlotGuard,
    connection: Option<Result<Connection, RemoteError>>,
}

impl Distribution<'_> {
    fn run(&self) -> i32 {
        let mut source = None;
        if let Some(scheduler) = &self.ctx.settings.scheduler {
            match self.via_scheduler(scheduler) {
                ViaScheduler::Done(code) => return code,
                ViaScheduler::Fallback(preprocessed) => source = preprocessed,
            }
        }
        self.run_hosts(source)
    }

    /// Ask the scheduler for a slot and run the job there. Anything that goes wrong
    /// with the scheduler or the granted host falls back to the static host list
    /// (keeping the preprocessed source), so the scheduler is never a single point of
    /// failure for a build.
    fn via_scheduler(&self, scheduler: &str) -> ViaScheduler {
        let cpp = match self.start_preprocessor() {
            Ok(cpp) => cpp,
            Err(code) => return ViaScheduler::Done(code),
        };
        let source = match self.finish_preprocessor(cpp) {
            Ok(bytes) => bytes,
            Err(code) => return ViaScheduler::Done(code),
        };
        let settings = self.ctx.settings;
        // Asked once the preprocessed source is ready, not while the preprocessor runs: a
        // slot granted meanwhile would sit idle, and a request placed before its size is
        // known is placed blind (a long job granted a slow host's free slot, seen on the
        // shared harness with sources padded to their cost).
        let memory = self.memory();
        let previous = memory.as_ref().and_then(|(h, key)| h.recall(key));
        if let Some(p) = &previous {
            self.ctx.log.info(&format!(
                "{} took {} ms on {} last time",
                self.job.input, p.ms, p.server
            ));
        }
        let job = ccfarm_proto::farm::JobDescription {
            compiler: self.argv[0].clone(),
            source: self.job.input.clone(),
            preprocessed_bytes: Some(source.len() as u64),
            previous_ms: previous.as_ref().map(|p| p.ms),
            previous_server: previous.map(|p| p.server),
            compiler_identity: self.identity(),
        };
        let credentials = match self.ctx.credentials_if_any() {
            Ok(credentials) => credentials,
            Err(why) => {
                self.ctx.log.warn(&format!("{why}; using the host list"));
                return ViaScheduler::Fallback(Some(source));
            }
        };
        let ask = |job: ccfarm_proto::farm::JobDescription| {
            lease::ask_as(
                scheduler,
                &settings.user,
                &settings.machine,
                job,
                settings.connect_timeout,
                settings.scheduler_wait,
                credentials,
            )
        };
        let mut answer = ask(job.clone()).and_then(lease::Pending::wait);
        // A granted server that fails is reported to the scheduler (which learns from
        // it) and the scheduler is asked again, a few times, before the host list.
        for attempt in 1..=SCHEDULER_ATTEMPTS {
            let lease = match answer {
                Ok(lease::Answer::Granted(lease)) => lease,
                Ok(lease::Answer::CompileLocally(reason)) => {
                    self.ctx.log.info(&format!(
                        "scheduler: compile {} locally: {reason}",
                        self.job.input
                    ));
                    return ViaScheduler::Done(run_local_with(
                        self.ctx,
                        self.program,
                        self.argv,
                        self.slots,
                        LOCAL_KEY,
                    ));
                }
                Err(e) => {
                    self.ctx.log.warn(&format!("{e}; using the host list"));
                    return ViaScheduler::Fallback(Some(source));
                }
            };
            let race = race::Job {
                log: self.ctx.log,
                input: &self.job.input,
                attempt,
            };
            // The scheduler may add a faster server while the job runs; the first copy
            // to finish decides, and only its outputs are written, once the race is over.
            match race::run(&race, lease, |host, proof, breaker| {
                self.copy(host, proof, breaker, &source)
            }) {
                Some(race::Decided {
                    host,
                    verdict: Verdict::Success(reply),
                    elapsed,
                }) => {
                    if let Some((h, key)) = &memory {
                        self.remember(h, key, &host, elapsed);
                    }
                    return ViaScheduler::Done(self.deliver(&host, &reply));
                }
                Some(race::Decided {
                    host,
                    verdict: Verdict::CompileError(reply),
                    ..
                }) => return ViaScheduler::Done(self.compile_error(&host, reply, None)),
                // Every copy failed (a race is never decided by a failure).
                Some(race::Decided {
                    verdict: Verdict::HostFailed { .. },
                    ..
                })
                | None => {}
            }
            answer = ask(job.clone()).and_then(lease::Pending::wait);
        }
        ViaScheduler::Fallback(Some(source))
    }

    /// The identity of the compiler this job would run here, to send the job only to a
    /// server with the same compiler ([`crate::identity`]).
    fn identity(&self) -> Option<ccfarm_proto::farm::CompilerKey> {
        let cache = IdentityCache::new(&self.ctx.settings.state_dir);
        let found = cache.identify(self.program, crate::identity::ask_compiler);
        match &found {
            Some(id) => self.ctx.log.info(&format!(
                "{} is {} for {}",
                self.argv[0], id.version, id.target
            )),
            None => self.ctx.log.info(&format!(
                "cannot tell {}'s version and target: any server may compile {}",
                self.argv[0], self.job.input
            )),
        }
        found.map(|id| ccfarm_proto::farm::CompilerKey {
            version: id.version,
            target: id.target,
        })
    }

    /// The compile-time memory and this job's key in it, unless turned off
    /// (`CCFARM_HISTORY=0`) or the job cannot be named.
    fn memory(&self) -> Option<(History, String)> {
        if !self.ctx.settings.history {
            return None;
        }
        let cwd = std::env::current_dir().ok()?;
        let key = history::key(&cwd, &self.job.input, &self.job.output)?;
        Some((History::new(&self.ctx.settings.state_dir), key))
    }

    /// Remember how long a job the scheduler placed took on `host`, for its next compile.
    fn remember(&self, history: &History, key: &str, host: &HostSpec, took: std::time::Duration) {
        let HostKind::Tcp { host, port } = &host.kind else {
            return;
        };
        // As the scheduler writes a server's address, so that it recognises the server.
        let server = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => std::net::SocketAddr::new(ip, *port).to_string(),
            Err(_) => format!("{host}:{port}"),
        };
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        if let Err(e) = history.record(key, ms, &server) {
            self.ctx.log.info(&format!(
                "not remembering {}'s compile time: {e}",
                self.job.input
            ));
        }
    }

    fn run_hosts(&self, mut source: Option<Bytes>) -> i32 {
        let settings = self.ctx.settings;
        let policy = BackoffPolicy {
            base: settings.backoff_period,
            max: settings.backoff_period,
        };
        let backoff = BackoffStore::open(&settings.state_dir).ok();
        let mut tried: HashSet<String> = HashSet::new();
        let mut early: Option<Grant> = None;
        let mut last_failure = exit::NO_HOSTS;

        loop {
            let now = SystemTime::now();
            let usable: Vec<&HostSpec> = self
                .ctx
                .hosts
                .hosts
                .iter()
                .filter(|h| !h.down && !matches!(h.kind, HostKind::Ssh { .. }))
                .filter(|h| !tried.contains(&h.key()))
                .filter(|h| {
                    matches!(h.kind, HostKind::Localhost)
                        || !backoff
                            .as_ref()
                            .is_some_and(|b| b.backed_off(&h.key(), &policy, now))
                })
                .collect();
            if usable.is_empty() {
                break;
            }
            let keys: Vec<String> = usable.iter().map(|h| h.key()).collect();
            let candidates: Vec<Candidate<'_>> = usable
                .iter()
                .zip(&keys)
                .map(|(h, key)| Candidate {
                    key,
                    slots: h.slots,
                })
                .collect();
            let host_of = |guard: &SlotGuard| {
                usable[keys
                    .iter()
                    .position(|k| k == guard.key())
                    .expect("granted key is a candidate")]
            };

            if source.is_none()
                && usable
                    .iter()
                    .any(|h| !matches!(h.kind, HostKind::Localhost))
            {
                // Overlap, as distcc does: while the preprocessor runs, take a slot if
                // one is free, connect and send the command line.
                let cpp = match self.start_preprocessor() {
                    Ok(cpp) => cpp,
                    Err(code) => return code,
                };
                if let Ok(Some(guard)) = self.slots.try_acquire(&candidates) {
                    let connection = match &host_of(&guard).kind {
                        HostKind::Tcp { host, port } => {
                            Some(self.connect(host, *port, host_of(&guard), None))
                        }
                        _ => None,
                    };
                    early = Some(Grant { guard, connection });
                }
                match self.finish_preprocessor(cpp) {
                    Ok(bytes) => source = Some(bytes),
                    Err(code) => return code,
                }
            }
            let grant = match early.take() {
                Some(grant) => grant,
                None => match self.slots.acquire(&candidates, None) {
                    Ok(Some(guard)) => Grant {
                        guard,
                        connection: None,
                    },
                    Ok(None) => break,
                    Err(e) => {
                        self.ctx.log.warn(&format!("cannot lock a slot: {e}"));
                        break;
                    }
                },
            };
            let host = host_of(&grant.guard);
            let (name, port) = match &host.kind {
                HostKind::Localhost => return self.local_under(grant.guard),
                HostKind::Tcp { host, port } => (host.as_str(), *port),
                HostKind::Ssh { .. } => unreachable!("filtered above"),
            };
            let source = source
                .as_ref()
                .expect("preprocessed before a remote host is tried");
            let connection = grant
                .connection
                .unwrap_or_else(|| self.connect(name, port, host, None));
            match self.try_host(host, connection, source) {
                Attempt::Done(code) => {
                    if let Some(b) = &backoff {
                        let _ = b.record_success(&host.key());
                    }
                    return code;
                }
                Attempt::CompileError(reply) => {
                    drop(grant.guard);
                    return self.compile_error(host, reply, backoff.as_ref());
                }
                Attempt::HostFailed {
                    code,
                    why,
                    back_off,
                } => {
                    drop(grant.guard);
                    self.ctx.log.warn(&format!(
                        "failed to distribute {} to {}: {why}",
                        self.job.input,
                        host.display()
                    ));
                    if back_off && let Some(b) = &backoff {
                        let _ = b.record_failure(&host.key(), SystemTime::now());
                    }
                    tried.insert(host.key());
                    last_failure = code;
                }
            }
        }

        if !self.ctx.settings.fallback {
            self.ctx
                .log
                .error("failed to distribute and fallbacks are disabled");
            return last_failure.into();
        }
        self.ctx.log.warn(&format!(
            "failed to distribute {}, running locally instead",
            self.job.input
        ));
        run_local_with(self.ctx, self.program, self.argv, self.slots, LOCAL_KEY)
    }

    fn version(host: &HostSpec) -> Version {
        if host.lzo { Version::V2 } else { Version::V1 }
    }

    fn server_argv(&self) -> Vec<Bytes> {
        ccfarm_compiler::strip_local_args(self.argv)
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    /// Connect and send the command line (the source follows once preprocessed).
    fn connect(
        &self,
        name: &str,
        port: u16,
        host: &HostSpec,
        proof: Option<&GrantProof>,
    ) -> Result<Connection, RemoteError> {
        let timeouts = Timeouts {
            connect: self.ctx.settings.connect_timeout,
            io: self.ctx.settings.io_timeout,
        };
        let mut connection = match proof {
            // A secure grant: TLS, to the server named in it, with its ticket.
            Some(proof) => {
                let credentials = self.ctx.credentials().map_err(|why| RemoteError::Refused {
                    addr: format!("{name}:{port}"),
                    why,
                })?;
                Connection::open_granted(name, port, timeouts, credentials, proof)?
            }
            None => Connection::open(name, port, timeouts)?,
        };
        connection.send(&encode_command(Self::version(host), &self.server_argv()))?;
        Ok(connection)
    }

    /// Start cpp (under a cpp slot). Already-preprocessed input needs none.
    fn start_preprocessor(&self) -> Result<Option<RunningCpp>, i32> {
        if self.job.preprocessed {
            return Ok(None);
        }
        let cpp_argv = ccfarm_compiler::local_cpp_argv(self.argv, self.job);
        let slot = acquire_local(self.ctx, self.slots, CPP_KEY);
        match local::spawn_preprocessor(self.program, &cpp_argv[1..], self.ctx.settings.safeguard) {
            Ok(child) => Ok(Some(RunningCpp { child, _slot: slot })),
            Err(e) => {
                self.ctx
                    .log
                    .error(&format!("failed to exec {}: {e}", self.program.display()));
                Err(exit::COMPILER_MISSING.into())
            }
        }
    }

    /// Collect cpp's output. On failure the preprocessor has already printed its
    /// diagnostics; its exit code is returned, and no host is blamed.
    fn finish_preprocessor(&self, cpp: Option<RunningCpp>) -> Result<Bytes, i32> {
        use std::io::Read;
        let Some(mut cpp) = cpp else {
            return std::fs::read(&self.job.input)
                .map(Bytes::from)
                .map_err(|e| {
                    self.ctx
                        .log
                        .error(&format!("cannot read {}: {e}", self.job.input));
                    i32::from(exit::GENERAL)
                });
        };
        let mut out = Vec::with_capacity(256 * 1024);
        let read = cpp
            .child
            .stdout
            .take()
            .expect("piped")
            .read_to_end(&mut out);
        let status = cpp.child.wait();
        match (read, status) {
            (Ok(_), Ok(s)) if s.success() => Ok(out.into()),
            (_, Ok(s)) if !s.success() => {
                self.ctx
                    .log
                    .info(&format!("cpp {} on localhost failed", self.job.input));
                Err(local::exit_code(s))
            }
            (Err(e), _) | (_, Err(e)) => {
                self.ctx
                    .log
                    .error(&format!("cannot read the preprocessor's output: {e}"));
                Err(exit::GENERAL.into())
            }
            (Ok(_), Ok(s)) => Err(local::exit_code(s)),
        }
    }

    fn try_host(
        &self,
        host: &HostSpec,
        connection: Result<Connection, RemoteError>,
        source: &Bytes,
    ) -> Attempt {
        self.log_exec(host);
        let version = Self::version(host);
        let reply = connection.and_then(|mut c| {
            c.send(&encode_source(version, source))?;
            c.read_reply(version)
        });
        self.conclude(host, remote::judge(reply))
    }

    /// One copy of a job granted by the scheduler, on its own thread: connect, send,
    /// and read the reply, giving up as soon as `breaker` trips. Writes nothing.
    fn copy(
        &self,
        host: &HostSpec,
        proof: Option<&GrantProof>,
        breaker: &Breaker,
        source: &Bytes,
    ) -> Verdict {
        let HostKind::Tcp { host: name, port } = &host.kind else {
            unreachable!("the scheduler grants TCP servers")
        };
        self.log_exec(host);
        if let Some(proof) = proof {
            self.ctx.log.info(&format!(
                "over TLS to {} (its certificate checked), with the scheduler's ticket",
                proof.server
            ));
        }
        let version = Self::version(host);
        let reply = self.connect(name, *port, host, proof).and_then(|mut c| {
            breaker.guard(&c)?;
            c.send(&encode_source(version, source))?;
            c.read_reply(version)
        });
        remote::judge(reply)
    }

    fn log_exec(&self, host: &HostSpec) {
        self.ctx.log.info(&format!(
            "exec on {}: {}",
            host.display(),
            ccfarm_compiler::strip_local_args(self.argv).join(" ")
        ));
    }

    /// Act on a host's verdict: write the outputs of a success.
    fn conclude(&self, host: &HostSpec, verdict: Verdict) -> Attempt {
        match verdict {
            Verdict::Success(reply) => Attempt::Done(self.deliver(host, &reply)),
            Verdict::CompileError(reply) => Attempt::CompileError(reply),
            Verdict::HostFailed {
                code,
                why,
                back_off,
            } => Attempt::HostFailed {
                code,
                why,
                back_off,
            },
        }
    }

    /// Write a successful reply's outputs, as a local compile would; the exit code.
    fn deliver(&self, host: &HostSpec, reply: &Reply) -> i32 {
        match write_outputs(reply, Path::new(&self.job.output)) {
            Ok(()) => {
                self.ctx.log.info(&format!(
                    "compile {} on {} completed ok",
                    self.job.input,
                    host.display()
                ));
                0
            }
            Err(e) => {
                self.ctx
                    .log
                    .error(&format!("cannot write {}: {e}", self.job.output));
                exit::IO_ERROR.into()
            }
        }
    }

    /// The compiler failed on the host: the user's error, not the host's. Re-run it
    /// here so the diagnostics are exactly local gcc's (a remote compiler sees only
    /// the preprocessed text and cannot quote source lines); if the local compile
    /// disagrees and succeeds, the host is the problem after all.
    fn compile_error(&self, host: &HostSpec, reply: Reply, backoff: Option<&BackoffStore>) -> i32 {
        let remote_code = local_code(reply.status);
        self.ctx.log.info(&format!(
            "compile {} on {} failed with exit code {remote_code}",
            self.job.input,
            host.display()
        ));
        if self.ctx.settings.skip_local_retry {
            emit(&reply);
            return remote_code;
        }
        let local = run_local_with(self.ctx, self.program, self.argv, self.slots, LOCAL_KEY);
        if local == 0 {
            self.ctx.log.warn(&format!(
                "remote compile of {} on {} failed but the local compile succeeded; avoiding that host",
                self.job.input,
                host.display()
            ));
            if let Some(b) = backoff {
                let _ = b.record_failure(&host.key(), SystemTime::now());
            }
            if !self.ctx.settings.fallback {
                emit(&reply);
                return remote_code;
            }
        }
        local
    }

    fn local_under(&self, guard: SlotGuard) -> i32 {
        let status = local::run(self.program, &self.argv[1..], self.ctx.settings.safeguard);
        drop(guard);
        report_local(self.ctx, self.program, status)
    }
}

/// How a job through the scheduler ended.
enum ViaScheduler {
    /// With this exit code.
    Done(i32),
    /// Not at all: use the host list (with the source, if already preprocessed).
    Fallback(Option<Bytes>),
}

enum Attempt {
    /// The job ran and its outputs are written; the exit code.
    Done(i32),
    /// The remote compiler reported an error.
    CompileError(Reply),
    /// The host could not run the job.
    HostFailed {
        code: u8,
        why: String,
        back_off: bool,
    },
}

/// A wait status as a process exit code.
fn local_code(status: u32) -> i32 {
    let signal = status & 0x7f;
    if signal != 0 {
        128 + signal as i32
    } else {
        ((status >> 8) & 0xff) as i32
    }
}

/// Print a reply's stdout and stderr as the compiler would have.
fn emit(reply: &Reply) {
    use std::io::Write;
    let _ = std::io::stdout().write_all(&reply.stdout);
    let _ = std::io::stderr().write_all(&reply.stderr);
}

/// Write the object (replacing any old file, mode 0666 less the umask, as a local
/// compile would), then relay the compiler's output.
fn write_outputs(reply: &Reply, output: &Path) -> std::io::Result<()> {
    if output != Path::new("/dev/null") {
        match std::fs::remove_file(output) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let result = std::fs::write(output, &reply.object);
    if result.is_err() && output != Path::new("/dev/null") {
        let _ = std::fs::remove_file(output);
    }
    result?;
    emit(reply);
    Ok(())
}

fn acquire_local(ctx: &Context<'_>, slots: &SlotDir, key: &str) -> Option<SlotGuard> {
    let count = if key == CPP_KEY {
        ctx.local_slots_cpp
    } else {
        ctx.local_slots
    };
    match slots.acquire(&[Candidate { key, slots: count }], None) {
        Ok(guard) => guard,
        Err(e) => {
            ctx.log.warn(&format!("cannot lock a local slot: {e}"));
            None
        }
    }
}

fn run_local_with(
    ctx: &Context<'_>,
    program: &Path,
    argv: &[String],
    slots: &SlotDir,
    key: &str,
) -> i32 {
    let _slot = acquire_local(ctx, slots, key);
    run_local(ctx, program, argv, None)
}

fn run_local(ctx: &Context<'_>, program: &Path, argv: &[String], slots: Option<&SlotDir>) -> i32 {
    let _slot = slots.and_then(|s| acquire_local(ctx, s, LOCAL_KEY));
    let status = local::run(program, &argv[1..], ctx.settings.safeguard);
    report_local(ctx, program, status)
}

fn report_local(
    ctx: &Context<'_>,
    program: &Path,
    status: std::io::Result<std::process::ExitStatus>,
) -> i32 {
    match status {
        Ok(s) => local::exit_code(s),
        Err(e) => {
            ctx.log
                .error(&format!("failed to exec {}: {e}", program.display()));
            exit::COMPILER_MISSING.into()
        }
    }
}
