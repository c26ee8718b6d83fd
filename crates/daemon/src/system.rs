//! Facts about this machine for the stats page and status: load, memory, disk, and
//! the busiest process. Read from `/proc` on demand; failures read as zero, since a
//! missing figure must never break the stats page.

use std::path::Path;

/// A snapshot of the machine's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SystemInfo {
    /// 1, 5 and 15 minute load averages.
    pub load: [f64; 3],
    /// Runnable processes now.
    pub runnable: u32,
    /// Processes in uninterruptible sleep (usually waiting for I/O).
    pub procs_in_d_state: u32,
    /// Resident size of the largest process other than compilers, in KiB.
    pub max_rss_kb: u64,
    /// Name of that process.
    pub max_rss_name: String,
    /// Available memory.
    pub free_mem_mb: u64,
    /// Free space in the job directory's filesystem.
    pub free_space_mb: u64,
    /// Why the job directory's filesystem cannot take a compile, if it cannot
    /// ([`disk_trouble`]).
    pub disk_trouble: Option<&'static str>,
}

/// Below this much free space a job directory's disk counts as full: a compile needs
/// room for its source, its outputs and its diagnostics, and a disk this close to full
/// fails some of them in ways that look like the user's compile errors.
pub const FULL_DISK_BYTES: u64 = 1024 * 1024;

/// Whether the filesystem holding `path` cannot take a compile: read-only, or with
/// less than [`FULL_DISK_BYTES`] or no inode left for the daemon's user; what to say.
pub fn disk_trouble(path: &Path) -> Option<&'static str> {
    trouble_of(&nix::sys::statvfs::statvfs(path).ok()?)
}

/// [`disk_trouble`] of a filesystem already looked at.
fn trouble_of(stat: &nix::sys::statvfs::Statvfs) -> Option<&'static str> {
    use nix::sys::statvfs::FsFlags;
    if stat.flags().contains(FsFlags::ST_RDONLY) {
        Some("is read-only")
    } else if stat.blocks_available() * stat.fragment_size() < FULL_DISK_BYTES
        // Some filesystems (btrfs) keep no inode count and report zero of zero.
        || (stat.files() > 0 && stat.files_available() == 0)
    {
        Some("is full")
    } else {
        None
    }
}

impl SystemInfo {
    /// Read the current state; `tmp` is where jobs are written.
    pub fn read(tmp: &Path) -> SystemInfo {
        let mut info = SystemInfo::read_light(tmp);
        info.scan_processes();
        info
    }

    /// Load, memory and disk only: cheap enough for a heartbeat every second.
    pub fn read_light(tmp: &Path) -> SystemInfo {
        let mut info = SystemInfo::default();
        if let Ok(loadavg) = std::fs::read_to_string("/proc/loadavg") {
            let fields: Vec<&str> = loadavg.split_whitespace().collect();
            for (i, slot) in info.load.iter_mut().enumerate() {
                *slot = fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0.0);
            }
            info.runnable = fields
                .get(3)
                .and_then(|f| f.split('/').next())
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
        }
        if let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") {
            info.free_mem_mb = meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kb| kb / 1024);
        }
        if let Ok(vfs) = nix::sys::statvfs::statvfs(tmp) {
            info.free_space_mb = vfs.blocks_available() * vfs.fragment_size() / (1024 * 1024);
            info.disk_trouble = trouble_of(&vfs);
        }
        info
    }

    /// Count D-state processes and find the largest non-compiler process, as distccd
    /// does (it skips names ending in `cc` or `++`).
    fn scan_processes(&mut self) {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name();
            if !name
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let Some((comm, rest)) = parse_stat(&stat) else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.first() == Some(&"D") {
                self.procs_in_d_state += 1;
            }
            // Field 24 of stat (rss, in pages) is index 21 after "state".
            let rss_kb = fields
                .get(21)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
                * 4;
            if rss_kb > self.max_rss_kb && !comm.ends_with("cc") && !comm.ends_with("++") {
                self.max_rss_kb = rss_kb;
                self.max_rss_name = comm.to_owned();
            }
        }
    }
}

/// Split `/proc/PID/stat` into the command name and the fields after it. The name is
/// in parentheses and may itself contain spaces and parentheses.
fn parse_stat(stat: &str) -> Option<(&str, &str)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    Some((stat.get(open + 1..close)?, stat.get(close + 1..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_odd_process_names() {
        let stat = "42 (my (odd) name) S 1 2 3";
        assert_eq!(parse_stat(stat), Some(("my (odd) name", " S 1 2 3")));
    }

    #[test]
    fn reads_this_machine() {
        let info = SystemInfo::read(Path::new("/tmp"));
        assert!(info.free_mem_mb > 0);
        assert!(info.free_space_mb > 0);
        assert!(!info.max_rss_name.is_empty());
    }
}
