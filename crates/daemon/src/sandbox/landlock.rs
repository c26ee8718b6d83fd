//! Landlock: the compile confines itself, between `fork` and `exec`, to read-only
//! toolchain paths and its read-write job directory; with ABI 4 it may neither bind
//! nor connect TCP sockets, with ABI 6 it may neither signal processes outside the
//! sandbox nor connect to abstract unix sockets created outside it.
//!
//! The ruleset is built in the daemon (opening paths, allocating), and the child only
//! makes two system calls on its file descriptor — `prctl(PR_SET_NO_NEW_PRIVS)` and
//! `landlock_restrict_self` — because the crate's `restrict_self` consumes and drops
//! the ruleset (freeing memory), which is not allowed after `fork` in a threaded
//! process.

use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, Scope,
};

/// The newest ABI this code has been checked against. Newer kernels add rights that
/// would be handled (denied) without a rule here, so the ruleset stops at this one.
const NEWEST: ABI = ABI::V7;

/// Why a ruleset could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    /// The kernel has no (enabled) Landlock.
    #[error("the kernel does not offer Landlock")]
    Unsupported,
    /// A path could not be opened for a rule.
    #[error("cannot open {path} for a Landlock rule: {source}")]
    Path {
        /// The path.
        path: PathBuf,
        /// Why.
        source: landlock::PathFdError,
    },
    /// Creating or filling the ruleset failed.
    #[error("cannot build the Landlock ruleset: {0}")]
    Ruleset(#[from] landlock::RulesetError),
}

/// The read-only half of every job's ruleset, opened once at start-up.
#[derive(Debug)]
pub struct Landlock {
    abi: ABI,
    read_only: Vec<(PathFd, bool)>,
}

impl Landlock {
    /// Find the ABI the kernel offers and open the read-only paths (those that do not
    /// exist are left out: `/lib32` is on few systems).
    pub fn new(read_only: &[PathBuf]) -> Result<Landlock, LandlockError> {
        let abi = newest_supported().ok_or(LandlockError::Unsupported)?;
        let read_only = read_only
            .iter()
            .filter(|p| p.exists())
            .map(|path| {
                let fd = PathFd::new(path).map_err(|source| LandlockError::Path {
                    path: path.clone(),
                    source,
                })?;
                Ok((fd, path.is_dir()))
            })
            .collect::<Result<_, LandlockError>>()?;
        Ok(Landlock { abi, read_only })
    }

    /// The ABI in force, as a number (for the status page).
    pub fn abi(&self) -> u32 {
        abi_number(self.abi)
    }

    /// What the network restriction covers at this ABI, for the status page and log.
    pub fn network_note(&self) -> &'static str {
        if self.abi < ABI::V4 {
            "network not restricted (Landlock ABI < 4)"
        } else {
            "TCP bind/connect denied; UDP and pathname unix sockets not restricted"
        }
    }

    /// A ruleset for one job: the read-only paths, `job_dir` read-write, `/dev/null`
    /// for reading and writing. The returned descriptor is close-on-exec.
    pub fn ruleset(&self, job_dir: &Path) -> Result<OwnedFd, LandlockError> {
        let abi = self.abi;
        let read = AccessFs::from_read(abi);
        let file_rights = AccessFs::from_file(abi);
        let mut created = handling_all(abi)?.create()?;
        for (fd, is_dir) in &self.read_only {
            let access = if *is_dir { read } else { read & file_rights };
            created = created.add_rule(PathBeneath::new(fd, access))?;
        }
        let open = |path: &Path| {
            PathFd::new(path).map_err(|source| LandlockError::Path {
                path: path.to_owned(),
                source,
            })
        };
        created = created.add_rule(PathBeneath::new(open(job_dir)?, AccessFs::from_all(abi)))?;
        let dev_null: BitFlags<AccessFs> = file_rights & !AccessFs::Execute;
        created = created.add_rule(PathBeneath::new(open(Path::new("/dev/null"))?, dev_null))?;
        Option::<OwnedFd>::from(created).ok_or(LandlockError::Unsupported)
    }
}

/// The newest ABI up to [`NEWEST`] under which a ruleset can be created with every
/// right of that ABI handled, found by trying: the crate keeps the kernel's version
/// private, and trying is what proves it works.
fn newest_supported() -> Option<ABI> {
    let candidates = [
        ABI::V7,
        ABI::V6,
        ABI::V5,
        ABI::V4,
        ABI::V3,
        ABI::V2,
        ABI::V1,
    ];
    debug_assert_eq!(candidates[0], NEWEST);
    candidates.into_iter().find(|&abi| {
        handling_all(abi)
            .and_then(|ruleset| ruleset.create())
            .is_ok()
    })
}

/// A ruleset that handles every right of `abi` — files, then TCP (ABI 4) and scopes
/// (ABI 6) — each required, not best effort: what a job's ruleset does not grant is
/// denied.
fn handling_all(abi: ABI) -> Result<Ruleset, landlock::RulesetError> {
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi))?;
    if abi >= ABI::V4 {
        ruleset = ruleset.handle_access(AccessNet::from_all(abi))?;
    }
    if abi >= ABI::V6 {
        ruleset = ruleset.scope(Scope::from_all(abi))?;
    }
    Ok(ruleset)
}

fn abi_number(abi: ABI) -> u32 {
    match abi {
        ABI::Unsupported => 0,
        ABI::V1 => 1,
        ABI::V2 => 2,
        ABI::V3 => 3,
        ABI::V4 => 4,
        ABI::V5 => 5,
        ABI::V6 => 6,
        _ => 7,
    }
}

/// Confine the calling process with the ruleset `fd`. Async-signal-safe: two system
/// calls, no allocation, for use between `fork` and `exec`.
#[allow(unsafe_code)]
pub fn restrict_self(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: prctl and syscall take plain integers; `fd` is a ruleset descriptor the
    // parent keeps open until the child has exec'd.
    unsafe {
        // Landlock requires no_new_privs (or CAP_SYS_ADMIN); it also keeps a setuid
        // program run by the compile from gaining privileges.
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
