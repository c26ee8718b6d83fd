//! What the forked child does before `exec`: join its job's pids cgroup, set its
//! resource limits, confine itself with Landlock, keep bwrap's status descriptor.
//!
//! The daemon is multi-threaded (tokio's blocking pool at least), so after `fork`
//! only async-signal-safe calls are allowed: everything here is a plain system call
//! on values prepared by the parent, with no allocation and no lock.

use std::os::fd::RawFd;

use super::landlock;
use super::rlimits::RlimitPlan;

/// Everything the child needs, as plain integers: `Copy`, no heap.
#[derive(Debug, Clone, Copy)]
pub struct ChildPlan {
    /// Limits to set.
    pub rlimits: RlimitPlan,
    /// The job's `cgroup.procs`, opened for writing (or -1).
    pub cgroup_procs: RawFd,
    /// The Landlock ruleset to restrict to (or -1).
    pub landlock: RawFd,
    /// A descriptor to pass through `exec` (bwrap's status pipe), or -1.
    pub inherit: RawFd,
}

impl ChildPlan {
    /// Run in the child between `fork` and `exec`.
    fn apply(&self) -> std::io::Result<()> {
        if self.cgroup_procs >= 0 {
            // "0" moves the writing process; its children are then counted too.
            write_all(self.cgroup_procs, b"0")?;
        }
        self.rlimits.apply()?;
        if self.inherit >= 0 {
            clear_cloexec(self.inherit)?;
        }
        if self.landlock >= 0 {
            landlock::restrict_self(self.landlock)?;
        }
        Ok(())
    }
}

/// Arrange for `plan` to be applied in the child `command` starts.
#[allow(unsafe_code)]
pub fn install(command: &mut std::process::Command, plan: ChildPlan) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only makes async-signal-safe system calls (write, setrlimit,
    // fcntl, prctl, landlock_restrict_self) on integers copied into it; it neither
    // allocates nor takes a lock, so it is sound after fork in a threaded process.
    // The descriptors it names stay open in the parent until the spawn has returned.
    unsafe {
        command.pre_exec(move || plan.apply());
    }
}

#[allow(unsafe_code)]
fn write_all(fd: RawFd, bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: writing a borrowed buffer to a descriptor the parent keeps open.
    let written = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    if written == bytes.len() as isize {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[allow(unsafe_code)]
fn clear_cloexec(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor the parent keeps open.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
