//! A per-job process cap: each compile joins its own pids cgroup (v1 `pids`
//! controller or cgroup v2) whose `pids.max` is the configured `processes`.
//!
//! `RLIMIT_NPROC` alone is not enough: it counts every process of the user (so it
//! cannot be per job), and the kernel does not enforce it for root at all. A cgroup
//! works for root and counts exactly the job's processes, but needs a cgroup the
//! daemon may create children in (root in most containers; with systemd,
//! `Delegate=pids`). Where there is none, the daemon says so and relies on
//! `RLIMIT_NPROC`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Which cgroup hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v1 with the `pids` controller.
    V1,
    /// The unified cgroup v2 hierarchy.
    V2,
}

/// Where the daemon's own pids cgroup is: the directory and its hierarchy, from
/// `/proc/self/cgroup` and `/proc/self/mountinfo`.
pub fn locate(cgroup: &str, mountinfo: &str) -> Option<(PathBuf, Hierarchy)> {
    let mut v1 = None;
    let mut v2 = None;
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.split(',').any(|c| c == "pids") {
            v1 = Some(path.to_owned());
        } else if controllers.is_empty() {
            v2 = Some(path.to_owned());
        }
    }
    for line in mountinfo.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let theirs: Vec<&str> = right.split(' ').collect();
        let (Some(root), Some(mount), Some(fstype)) =
            (fields.get(3), fields.get(4), theirs.first())
        else {
            continue;
        };
        let super_opts = theirs.get(2).copied().unwrap_or("");
        let (path, hierarchy) = match *fstype {
            "cgroup" if super_opts.split(',').any(|o| o == "pids") => {
                (v1.as_deref(), Hierarchy::V1)
            }
            "cgroup2" => (v2.as_deref(), Hierarchy::V2),
            _ => continue,
        };
        let Some(path) = path else { continue };
        // The mount shows the hierarchy from `root` down (a container sees "/").
        let Some(inside) = Path::new(path).strip_prefix(root).ok() else {
            continue;
        };
        if hierarchy == Hierarchy::V2 && v1.is_some() {
            continue; // the v1 pids controller owns pids; v2 cannot use it
        }
        return Some((Path::new(mount).join(inside), hierarchy));
    }
    None
}

/// Why no per-job cgroup can be used.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No pids controller is mounted.
    #[error("no pids cgroup controller is mounted")]
    NoController,
    /// None of the candidate cgroups lets the daemon make job cgroups.
    #[error("cannot create pids cgroups under {0} (needs root or a delegated cgroup)")]
    NotDelegated(PathBuf),
    /// A job's cgroup could not be made.
    #[error("cannot create the job's pids cgroup {path}: {source}")]
    Job {
        /// The cgroup directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The daemon's directory of job cgroups.
///
/// Creating and removing a cgroup costs milliseconds (measured: about 2 ms for
/// `mkdir`, 1.5 ms for `rmdir` on cgroup v1 under load), more than the rest of the
/// sandbox together, so cgroups are kept and reused: a finished job's cgroup, once
/// empty, serves the next job. There are about as many as there are compile slots.
#[derive(Debug)]
pub struct PidsCgroups {
    base: PathBuf,
    max: u64,
    next: AtomicU64,
    pool: Arc<Pool>,
}

/// The idle cgroups, and those whose processes were still exiting when their job
/// ended.
#[derive(Debug, Default)]
struct Pool {
    idle: Mutex<Vec<Cgroup>>,
    draining: Mutex<Vec<Cgroup>>,
}

/// One cgroup, with its `cgroup.procs` open for writing.
#[derive(Debug)]
struct Cgroup {
    path: PathBuf,
    procs: File,
}

/// Tells apart the cgroup directories of several sandboxes in one process (a
/// failed Landlock trial, then bubblewrap's).
static INSTANCE: AtomicU64 = AtomicU64::new(0);

impl PidsCgroups {
    /// Make `ccfarmd-<pid>` under the daemon's own pids cgroup or, when that holds
    /// processes and so cannot have controlled children (cgroup v2), its parent; its
    /// job cgroups allow `max` processes each.
    pub fn new(max: u64) -> Result<PidsCgroups, CgroupError> {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let (own, hierarchy) = locate(&read("/proc/self/cgroup"), &read("/proc/self/mountinfo"))
            .ok_or(CgroupError::NoController)?;
        let name = match INSTANCE.fetch_add(1, Ordering::Relaxed) {
            0 => format!("ccfarmd-{}", std::process::id()),
            n => format!("ccfarmd-{}.{n}", std::process::id()),
        };
        let candidates = [Some(own.as_path()), own.parent()];
        for parent in candidates.into_iter().flatten() {
            if hierarchy == Hierarchy::V2 {
                let _ = std::fs::write(parent.join("cgroup.subtree_control"), "+pids");
            }
            sweep(parent);
            let base = parent.join(&name);
            if std::fs::create_dir(&base).is_err() {
                continue;
            }
            let usable = base.join("pids.max").exists()
                && (hierarchy == Hierarchy::V1
                    || std::fs::write(base.join("cgroup.subtree_control"), "+pids").is_ok());
            if usable {
                return Ok(PidsCgroups {
                    base,
                    max,
                    next: AtomicU64::new(0),
                    pool: Arc::default(),
                });
            }
            let _ = std::fs::remove_dir(&base);
        }
        Err(CgroupError::NotDelegated(own))
    }

    /// Where the job cgroups are made.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// An empty cgroup for a job: an idle one, or a new one.
    pub fn job(&self) -> Result<JobCgroup, CgroupError> {
        self.pool.drain();
        let idle = self.pool.idle.lock().ok().and_then(|mut idle| idle.pop());
        let cgroup = match idle {
            Some(cgroup) => cgroup,
            None => self.create()?,
        };
        Ok(JobCgroup {
            cgroup: Some(cgroup),
            pool: self.pool.clone(),
        })
    }

    fn create(&self) -> Result<Cgroup, CgroupError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.base.join(format!("job-{n}"));
        let made = std::fs::create_dir(&path).and_then(|()| {
            std::fs::write(path.join("pids.max"), self.max.to_string())?;
            std::fs::OpenOptions::new()
                .write(true)
                .open(path.join("cgroup.procs"))
        });
        match made {
            Ok(procs) => Ok(Cgroup { path, procs }),
            Err(source) => {
                let _ = std::fs::remove_dir(&path);
                Err(CgroupError::Job { path, source })
            }
        }
    }
}

impl Pool {
    /// Move the draining cgroups that have emptied back to the idle ones.
    fn drain(&self) {
        let (Ok(mut draining), Ok(mut idle)) = (self.draining.lock(), self.idle.lock()) else {
            return;
        };
        let mut still = Vec::new();
        for cgroup in draining.drain(..) {
            kill_all(&cgroup.path);
            if is_empty(&cgroup.path) {
                idle.push(cgroup);
            } else {
                still.push(cgroup);
            }
        }
        *draining = still;
    }
}

impl Drop for PidsCgroups {
    /// At shutdown: the processes of the last jobs were killed moments ago and may
    /// still be exiting, so give them a moment (a daemon killed before this runs has
    /// its cgroups removed by the next one to start).
    fn drop(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            self.pool.drain();
            let done = self.pool.draining.lock().map_or(true, |d| d.is_empty());
            if done || std::time::Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        for pool in [&self.pool.idle, &self.pool.draining] {
            if let Ok(mut cgroups) = pool.lock() {
                for cgroup in cgroups.drain(..) {
                    let _ = std::fs::remove_dir(&cgroup.path);
                }
            }
        }
        let _ = std::fs::remove_dir(&self.base);
    }
}

/// The pid in the name of a daemon's cgroup directory (`ccfarmd-<pid>[.<n>]`).
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("ccfarmd-")?;
    rest.split('.').next()?.parse().ok()
}

/// Remove the cgroups under `parent` of daemons that are gone (killed before they
/// could remove their own), with anything still running in them.
fn sweep(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(owner) else {
            continue;
        };
        if pid == std::process::id() || crate::jobdirs::process_alive(pid) {
            continue;
        }
        for job in std::fs::read_dir(entry.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if job.file_type().is_ok_and(|t| t.is_dir()) {
                kill_all(&job.path());
                let _ = std::fs::remove_dir(job.path());
            }
        }
        let _ = std::fs::remove_dir(entry.path());
    }
}

fn pids_in(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn is_empty(path: &Path) -> bool {
    pids_in(path).is_empty()
}

/// SIGKILL every process in the cgroup at `path`: this also reaches processes that
/// left the compile's process group (`setsid`).
fn kill_all(path: &Path) {
    for pid in pids_in(path) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// One job's cgroup. Dropping it kills what is left in it and gives it back for the
/// next job (once its processes are gone).
#[derive(Debug)]
pub struct JobCgroup {
    cgroup: Option<Cgroup>,
    pool: Arc<Pool>,
}

impl JobCgroup {
    /// `cgroup.procs`, open for writing: the child writes "0" to join.
    pub fn procs(&self) -> Option<&File> {
        self.cgroup.as_ref().map(|c| &c.procs)
    }
}

impl Drop for JobCgroup {
    fn drop(&mut self) {
        let Some(cgroup) = self.cgroup.take() else {
            return;
        };
        kill_all(&cgroup.path);
        let pool = if is_empty(&cgroup.path) {
            &self.pool.idle
        } else {
            &self.pool.draining
        };
        if let Ok(mut pool) = pool.lock() {
            pool.push(cgroup);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_MOUNTS: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
40 30 0:35 / /sys/fs/cgroup/pids rw,relatime shared:17 - cgroup cgroup rw,pids
41 30 0:36 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
42 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn v1_pids_in_a_container() {
        let cgroup = "8:pids:/\n4:memory:/x\n0::/\n";
        assert_eq!(
            locate(cgroup, V1_MOUNTS),
            Some((PathBuf::from("/sys/fs/cgroup/pids/"), Hierarchy::V1))
        );
    }

    #[test]
    fn v2_under_systemd() {
        let cgroup = "0::/system.slice/ccfarmd.service\n";
        let mounts =
            "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            locate(cgroup, mounts),
            Some((
                PathBuf::from("/sys/fs/cgroup/system.slice/ccfarmd.service"),
                Hierarchy::V2
            ))
        );
    }

    #[test]
    fn a_mount_of_part_of_the_hierarchy() {
        let cgroup = "3:pids:/docker/abc/inner\n";
        let mounts = "50 30 0:35 /docker/abc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        assert_eq!(
            locate(cgroup, mounts),
            Some((PathBuf::from("/sys/fs/cgroup/pids/inner"), Hierarchy::V1))
        );
    }

    #[test]
    fn names_of_daemon_cgroups() {
        assert_eq!(owner("ccfarmd-123"), Some(123));
        assert_eq!(owner("ccfarmd-123.2"), Some(123));
        assert_eq!(owner("ccfarmd-123-x"), None);
        assert_eq!(owner("job-3"), None);
    }

    #[test]
    fn nothing_mounted() {
        assert_eq!(
            locate("0::/\n", "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"),
            None
        );
    }
}
