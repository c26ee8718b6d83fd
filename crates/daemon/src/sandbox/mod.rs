//! The compile sandbox: every compile runs under resource limits, and — where the
//! kernel allows — sees only its toolchain (read-only) and its job directory
//! (read-write), with no network.
//!
//! The mechanism is chosen once at start-up ([`Sandbox::start`]), by trying each
//! candidate on a trivial child, so that a kernel without Landlock or without user
//! namespaces is found out before the first job, not reported as compile errors.
//! Per job, [`Sandbox::confine`] prepares everything in the daemon and leaves the
//! child only system calls to make (see [`child`]).

mod bwrap;
pub mod cgroup;
mod child;
mod landlock;
mod probe;
pub mod rlimits;
mod settings;
pub mod toolchain;

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;

use self::rlimits::RlimitPlan;
pub use self::rlimits::{ProcessCap, ResourceLimits, UnknownProcessCap};
pub use self::settings::{
    FileSandbox, Mode, SandboxFlags, SandboxSettings, SettingsError, UnknownMode,
};

/// Why the sandbox cannot be set up (at start-up) or cannot confine a job.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Landlock failed.
    #[error(transparent)]
    Landlock(#[from] landlock::LandlockError),
    /// bwrap is not installed.
    #[error("bwrap is not installed (Debian package bubblewrap)")]
    NoBwrap,
    /// The status pipe for bwrap could not be made.
    #[error("cannot create bwrap's status pipe: {0}")]
    Pipe(nix::Error),
    /// The job's pids cgroup could not be made.
    #[error(transparent)]
    Cgroup(#[from] cgroup::CgroupError),
    /// The start-up trial failed.
    #[error("a trial run in the {mechanism} sandbox failed: {reason}")]
    Probe {
        /// Which mechanism.
        mechanism: &'static str,
        /// What happened.
        reason: String,
    },
}

#[derive(Debug)]
enum Mechanism {
    Landlock(landlock::Landlock),
    Bwrap {
        program: PathBuf,
        mounts: bwrap::Mounts,
    },
    Unconfined,
}

/// The sandbox every compile of this daemon runs in.
#[derive(Debug)]
pub struct Sandbox {
    mechanism: Mechanism,
    rlimits: RlimitPlan,
    description: String,
    /// The per-job process cap, where the daemon may create cgroups.
    pids: Option<cgroup::PidsCgroups>,
    /// How the number of processes is capped, for the status page.
    process_cap: String,
}

impl Sandbox {
    /// Neither confinement nor limits (for embedded servers that compile the user's
    /// own code on the user's own machine).
    pub fn off() -> Sandbox {
        Sandbox {
            mechanism: Mechanism::Unconfined,
            rlimits: RlimitPlan::NONE,
            description: "none: not configured".into(),
            pids: None,
            process_cap: "none".into(),
        }
    }

    /// Only resource limits, with `nproc` as the per-user process limit (and a
    /// per-job pids cgroup where possible).
    pub fn limits_only(limits: &ResourceLimits, nproc: u64, why: &str) -> Sandbox {
        let (pids, process_cap) = process_cap(limits, nproc);
        Sandbox {
            mechanism: Mechanism::Unconfined,
            rlimits: RlimitPlan::for_this_process(limits, nproc),
            description: format!("none: {why}"),
            pids,
            process_cap,
        }
    }

    /// Choose and try the mechanism for `settings`, with read-only access to the base
    /// paths, `compilers`' own paths and the configured ones. `trial_dir` is where
    /// the trial's directory is made (the job directory's parent, so that it is on
    /// the same filesystem as jobs). An explicitly requested mechanism that fails is
    /// an error; `auto` falls back to limits only, saying why in the description.
    pub fn start(
        settings: &SandboxSettings,
        jobs: usize,
        compilers: &[String],
        trial_dir: &Path,
    ) -> Result<Sandbox, SandboxError> {
        let nproc = settings.limits.nproc_for(jobs);
        let rlimits = RlimitPlan::for_this_process(&settings.limits, nproc);
        if settings.mode == Mode::Off {
            return Ok(Sandbox::limits_only(
                &settings.limits,
                nproc,
                "sandbox = \"off\" in the configuration",
            ));
        }
        let mut paths: Vec<PathBuf> = toolchain::BASE_PATHS.iter().map(PathBuf::from).collect();
        paths.extend(toolchain::discover(compilers));
        paths.extend(settings.extra_paths.iter().cloned());
        paths.retain(|p| p.exists());

        let landlock = || -> Result<Sandbox, SandboxError> {
            let ll = landlock::Landlock::new(&toolchain::minimal(paths.clone()))?;
            let description = format!("landlock (ABI {}; {})", ll.abi(), ll.network_note());
            let (pids, process_cap) = process_cap(&settings.limits, nproc);
            let sandbox = Sandbox {
                mechanism: Mechanism::Landlock(ll),
                rlimits,
                description,
                pids,
                process_cap,
            };
            probe::trial(&sandbox, "landlock", trial_dir)?;
            Ok(sandbox)
        };
        let bwrap = || -> Result<Sandbox, SandboxError> {
            let program = toolchain::find_program("bwrap").ok_or(SandboxError::NoBwrap)?;
            let mounts = bwrap::Mounts::plan(
                &paths,
                |p| p.canonicalize().ok(),
                bwrap::Mounts::links_on_disk,
            );
            let (pids, process_cap) = process_cap(&settings.limits, nproc);
            let sandbox = Sandbox {
                description: format!("bwrap ({})", program.display()),
                mechanism: Mechanism::Bwrap { program, mounts },
                rlimits,
                pids,
                process_cap,
            };
            probe::trial(&sandbox, "bwrap", trial_dir)?;
            Ok(sandbox)
        };
        match settings.mode {
            Mode::Landlock => landlock(),
            Mode::Bwrap => bwrap(),
            Mode::Off => unreachable!("handled above"),
            Mode::Auto => landlock().or_else(|landlock_err| {
                bwrap().or_else(|bwrap_err| {
                    Ok(Sandbox::limits_only(
                        &settings.limits,
                        nproc,
                        &format!("Landlock: {landlock_err}; bubblewrap: {bwrap_err}"),
                    ))
                })
            }),
        }
    }

    /// What confines compiles: `landlock (...)`, `bwrap (...)` or `none: <reason>`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether compiles are confined to their toolchain and job directory.
    pub fn is_confined(&self) -> bool {
        !matches!(self.mechanism, Mechanism::Unconfined)
    }

    /// The limits each compile gets.
    pub fn rlimits(&self) -> &RlimitPlan {
        &self.rlimits
    }

    /// How the processes of a compile are capped: `pids cgroup (...)`, `RLIMIT_NPROC
    /// ...` or `none`.
    pub fn process_cap(&self) -> &str {
        &self.process_cap
    }

    /// Prepare to run `program args` in `cwd` confined to `job_dir`.
    pub fn confine(
        &self,
        job_dir: &Path,
        cwd: &Path,
        program: &str,
        args: &[String],
    ) -> Result<Confined, SandboxError> {
        let cgroup = match &self.pids {
            Some(cgroups) => Some(cgroups.job()?),
            None => None,
        };
        let mut confined = Confined {
            program: program.into(),
            args: args.iter().map(OsString::from).collect(),
            rlimits: self.rlimits,
            landlock: None,
            status: None,
            cgroup,
        };
        match &self.mechanism {
            Mechanism::Unconfined => {}
            Mechanism::Landlock(ll) => confined.landlock = Some(ll.ruleset(job_dir)?),
            Mechanism::Bwrap {
                program: bwrap,
                mounts,
            } => {
                let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
                    .map_err(SandboxError::Pipe)?;
                confined.args = mounts.argv(job_dir, cwd, write.as_raw_fd(), program, args);
                confined.program = bwrap.into();
                confined.status = Some((read, write));
            }
        }
        Ok(confined)
    }
}

/// The per-job process cap: a pids cgroup where wanted and possible, else only the
/// per-user `RLIMIT_NPROC` (which the kernel does not enforce for root).
fn process_cap(limits: &ResourceLimits, nproc: u64) -> (Option<cgroup::PidsCgroups>, String) {
    let processes = limits.processes;
    if processes == 0 {
        return (None, "none: processes = 0 in the configuration".into());
    }
    let root = nix::unistd::geteuid().is_root();
    let rlimit = if root {
        "none: RLIMIT_NPROC does not bind root".to_owned()
    } else {
        format!("RLIMIT_NPROC {nproc} for all of the server user's processes")
    };
    if !limits.process_cap.wants_cgroup(root) {
        return (None, rlimit);
    }
    match cgroup::PidsCgroups::new(processes) {
        Ok(cgroups) => {
            let cap = format!(
                "{processes} per job (pids cgroup under {})",
                cgroups.base().display()
            );
            (Some(cgroups), cap)
        }
        Err(e) => (None, format!("{rlimit} ({e})")),
    }
}

/// One job's command, ready to spawn in its sandbox.
#[derive(Debug)]
pub struct Confined {
    program: OsString,
    args: Vec<OsString>,
    rlimits: RlimitPlan,
    landlock: Option<OwnedFd>,
    /// bwrap's status pipe: (the daemon's end, the child's end).
    status: Option<(OwnedFd, OwnedFd)>,
    cgroup: Option<cgroup::JobCgroup>,
}

impl Confined {
    /// The program to execute (the compiler, or bwrap).
    pub fn program(&self) -> &OsString {
        &self.program
    }

    /// Its arguments.
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// Make `command`'s child confine itself before `exec`. The descriptors the
    /// child uses stay open until [`Confined::spawned`].
    pub fn install(&self, command: &mut std::process::Command) {
        fn raw(fd: Option<&impl AsRawFd>) -> i32 {
            fd.map_or(-1, AsRawFd::as_raw_fd)
        }
        child::install(
            command,
            child::ChildPlan {
                rlimits: self.rlimits,
                cgroup_procs: raw(self.cgroup.as_ref().and_then(|c| c.procs())),
                landlock: raw(self.landlock.as_ref()),
                inherit: raw(self.status.as_ref().map(|(_, w)| w)),
            },
        );
    }

    /// After the spawn: close what only the child needed; keep what tells, once the
    /// child has exited, whether its sandbox was ever set up, and the job's cgroup
    /// (removed, with anything left in it killed, when the returned value is dropped).
    pub fn spawned(self) -> SetUpCheck {
        SetUpCheck {
            status: self.status.map(|(read, _write)| read),
            _cgroup: self.cgroup,
        }
    }
}

/// Whether a finished job's sandbox was set up (always, without bwrap: Landlock is
/// applied before `exec`, so a failure there is a failed spawn).
#[derive(Debug)]
pub struct SetUpCheck {
    status: Option<OwnedFd>,
    _cgroup: Option<cgroup::JobCgroup>,
}

impl SetUpCheck {
    /// Call after the child has exited.
    pub fn was_set_up(&self) -> bool {
        let Some(fd) = &self.status else {
            return true;
        };
        let mut text = Vec::new();
        let mut buf = [0u8; 512];
        // Non-blocking: everything bwrap wrote is in the pipe once it has exited.
        while let Ok(n) = nix::unistd::read(fd, &mut buf) {
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
        }
        bwrap::sandbox_was_set_up(&String::from_utf8_lossy(&text))
    }
}
