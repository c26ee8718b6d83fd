//! The resource limits every compile runs under, whatever confines its filesystem.
//!
//! The values are computed in the daemon ([`RlimitPlan::new`], a plain function of
//! the settings and the daemon's own hard limits) into a fixed-size, heap-free
//! plan, because applying them happens in the forked child before `exec`, where
//! only async-signal-safe calls are allowed.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// The configured limits of one compile; 0 means "no limit".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLimits {
    /// CPU seconds of each process (`RLIMIT_CPU`): SIGXCPU, then SIGKILL 5 s later.
    pub cpu_secs: u64,
    /// Address space of each process in MiB (`RLIMIT_AS`).
    pub address_space_mb: u64,
    /// Largest file a compile may write, in MiB (`RLIMIT_FSIZE`): SIGXFSZ / EFBIG.
    pub file_size_mb: u64,
    /// Processes of one compile (a pids cgroup, or `RLIMIT_NPROC`: see
    /// [`ProcessCap`] and [`ResourceLimits::nproc_for`]).
    pub processes: u64,
    /// How `processes` is enforced.
    pub process_cap: ProcessCap,
}

/// How the number of processes is capped.
///
/// A per-job pids cgroup is exact and binds root, but joining it costs the job a
/// kernel RCU grace period (`cgroup.procs` writes take the threadgroup lock for
/// writing): measured at about 14 ms per `gcc -c` job on a 2-core VM. `RLIMIT_NPROC`
/// costs nothing but counts all of the server user's processes and does not bind
/// root. So by default a cgroup is used only where the rlimit would not bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcessCap {
    /// A pids cgroup when running as root, else `RLIMIT_NPROC`.
    #[default]
    Auto,
    /// A pids cgroup per job where the daemon may create one.
    Cgroup,
    /// `RLIMIT_NPROC` only.
    Rlimit,
}

/// A process cap other than `auto`, `cgroup` or `rlimit`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown process cap {0:?}: use auto, cgroup or rlimit")]
pub struct UnknownProcessCap(pub String);

impl std::str::FromStr for ProcessCap {
    type Err = UnknownProcessCap;

    fn from_str(s: &str) -> Result<ProcessCap, UnknownProcessCap> {
        match s {
            "auto" => Ok(ProcessCap::Auto),
            "cgroup" => Ok(ProcessCap::Cgroup),
            "rlimit" => Ok(ProcessCap::Rlimit),
            other => Err(UnknownProcessCap(other.to_owned())),
        }
    }
}

impl ProcessCap {
    /// Whether a job cgroup is wanted, for a daemon running as root or not.
    pub fn wants_cgroup(self, root: bool) -> bool {
        match self {
            ProcessCap::Auto => root,
            ProcessCap::Cgroup => true,
            ProcessCap::Rlimit => false,
        }
    }
}

impl Default for ResourceLimits {
    /// Generous enough for the biggest C++ translation units seen in practice (cc1plus
    /// of template-heavy code at -O2 -g stays well under 4 GiB and a few minutes of
    /// CPU), tight enough to stop a runaway compile long before it hurts the host.
    fn default() -> ResourceLimits {
        ResourceLimits {
            cpu_secs: 1800,
            address_space_mb: 8192,
            file_size_mb: 4096,
            processes: 256,
            process_cap: ProcessCap::Auto,
        }
    }
}

/// Seconds between SIGXCPU (the soft CPU limit) and SIGKILL (the hard one).
const CPU_GRACE_SECS: u64 = 5;
/// Processes of the server's user that are not compiles (the daemon's own threads,
/// and on a donated desktop the owner's programs), on top of every slot's share.
const NPROC_HEADROOM: u64 = 1024;

impl ResourceLimits {
    /// `RLIMIT_NPROC` counts every process of the user, not those of one compile,
    /// so the per-user value leaves room for every slot and for the daemon itself.
    pub fn nproc_for(&self, jobs: usize) -> u64 {
        if self.processes == 0 {
            return 0;
        }
        self.processes
            .saturating_mul(jobs as u64)
            .saturating_add(NPROC_HEADROOM)
    }
}

/// One limit to set: the resource, soft and hard values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Which limit.
    pub resource: Resource,
    /// The soft value.
    pub soft: u64,
    /// The hard value.
    pub hard: u64,
}

/// The limits to set in the child, without a heap allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RlimitPlan {
    entries: [Option<Limit>; 4],
}

impl RlimitPlan {
    /// No limits at all.
    pub const NONE: RlimitPlan = RlimitPlan { entries: [None; 4] };

    /// The plan for `limits` with `nproc` as the per-user process limit, never above
    /// `hard_of(resource)` (the daemon's own hard limits: an unprivileged process can
    /// only lower them, and a failed `setrlimit` in the child would be a failed job).
    pub fn new(limits: &ResourceLimits, nproc: u64, hard_of: impl Fn(Resource) -> u64) -> Self {
        const MIB: u64 = 1024 * 1024;
        let wanted = [
            (
                Resource::RLIMIT_CPU,
                limits.cpu_secs,
                limits.cpu_secs.saturating_add(CPU_GRACE_SECS),
            ),
            (
                Resource::RLIMIT_AS,
                limits.address_space_mb.saturating_mul(MIB),
                limits.address_space_mb.saturating_mul(MIB),
            ),
            (
                Resource::RLIMIT_FSIZE,
                limits.file_size_mb.saturating_mul(MIB),
                limits.file_size_mb.saturating_mul(MIB),
            ),
            (Resource::RLIMIT_NPROC, nproc, nproc),
        ];
        let mut entries = [None; 4];
        for (slot, (resource, soft, hard)) in entries.iter_mut().zip(wanted) {
            if soft == 0 {
                continue;
            }
            let ceiling = hard_of(resource);
            *slot = Some(Limit {
                resource,
                soft: soft.min(ceiling),
                hard: hard.min(ceiling),
            });
        }
        RlimitPlan { entries }
    }

    /// The plan for this process's current hard limits.
    pub fn for_this_process(limits: &ResourceLimits, nproc: u64) -> Self {
        RlimitPlan::new(limits, nproc, |resource| {
            getrlimit(resource).map_or(u64::MAX, |(_, hard)| hard)
        })
    }

    /// The limits that will be set.
    pub fn limits(&self) -> impl Iterator<Item = &Limit> {
        self.entries.iter().flatten()
    }

    /// Set the limits on the calling process. Async-signal-safe (only `setrlimit`),
    /// for use between `fork` and `exec`.
    pub fn apply(&self) -> std::io::Result<()> {
        for limit in self.entries.iter().flatten() {
            setrlimit(limit.resource, limit.soft, limit.hard)
                .map_err(|errno| std::io::Error::from_raw_os_error(errno as i32))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(limits: ResourceLimits, nproc: u64, ceiling: u64) -> Vec<Limit> {
        RlimitPlan::new(&limits, nproc, |_| ceiling)
            .limits()
            .copied()
            .collect()
    }

    #[test]
    fn defaults_become_four_limits() {
        let got = plan(ResourceLimits::default(), 2048, u64::MAX);
        assert_eq!(
            got,
            [
                Limit {
                    resource: Resource::RLIMIT_CPU,
                    soft: 1800,
                    hard: 1805
                },
                Limit {
                    resource: Resource::RLIMIT_AS,
                    soft: 8 << 30,
                    hard: 8 << 30
                },
                Limit {
                    resource: Resource::RLIMIT_FSIZE,
                    soft: 4 << 30,
                    hard: 4 << 30
                },
                Limit {
                    resource: Resource::RLIMIT_NPROC,
                    soft: 2048,
                    hard: 2048
                },
            ]
        );
    }

    #[test]
    fn zero_means_no_limit() {
        let limits = ResourceLimits {
            cpu_secs: 0,
            address_space_mb: 0,
            file_size_mb: 3,
            processes: 0,
            process_cap: ProcessCap::Auto,
        };
        let got = plan(limits, limits.nproc_for(8), u64::MAX);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].resource, Resource::RLIMIT_FSIZE);
        assert_eq!(got[0].soft, 3 << 20);
    }

    #[test]
    fn never_above_the_daemons_hard_limit() {
        let got = plan(ResourceLimits::default(), 2048, 1000);
        assert!(
            got.iter().all(|l| l.soft <= 1000 && l.hard <= 1000),
            "{got:?}"
        );
        assert_eq!(got[0].soft, 1000, "CPU clamped");
    }

    #[test]
    fn a_cgroup_by_default_only_where_the_rlimit_does_not_bind() {
        assert!(ProcessCap::Auto.wants_cgroup(true));
        assert!(!ProcessCap::Auto.wants_cgroup(false));
        assert!(ProcessCap::Cgroup.wants_cgroup(false));
        assert!(!ProcessCap::Rlimit.wants_cgroup(true));
        assert_eq!("cgroup".parse::<ProcessCap>(), Ok(ProcessCap::Cgroup));
        assert!("pids".parse::<ProcessCap>().is_err());
    }

    #[test]
    fn nproc_leaves_room_for_every_slot() {
        let limits = ResourceLimits::default();
        assert_eq!(limits.nproc_for(4), 4 * 256 + NPROC_HEADROOM);
        assert_eq!(
            ResourceLimits {
                processes: 0,
                ..limits
            }
            .nproc_for(4),
            0
        );
    }
}
