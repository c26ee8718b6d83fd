//! What the load generator reads from /proc: a process's CPU time and resident memory,
//! and the kernel's TCP buffer pages.

use std::time::Duration;

use anyhow::Context;

/// `/proc/PID/stat` counts CPU time in USER_HZ ticks, which the kernel fixes at 100 for
/// userspace whatever its internal HZ.
const TICKS_PER_SEC: u64 = 100;

/// User plus system CPU time of all the threads of `pid` (`"self"` for this process).
pub fn cpu_time(pid: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces and parentheses: count fields from
    // the last ')', after which field 3 (state) comes first.
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        fields
            .get(n - 3)
            .context("short stat")?
            .parse()
            .context("malformed stat field")
    };
    let ticks = field(14)? + field(15)?;
    Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SEC))
}

/// A `kB` line of `/proc/PID/status` (`VmRSS`, `VmHWM`), in bytes.
pub fn status_bytes(pid: &str, key: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .with_context(|| format!("no {key} in /proc/{pid}/status"))
}

/// CPU time of the whole machine, all cores summed: (busy, total), from the first line
/// of `/proc/stat`. Busy is everything but idle and iowait, so that other processes on a
/// shared machine show up in the report.
pub fn machine_cpu() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(|t| t.parse().unwrap_or(0))
        .collect();
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    let ms = |t: u64| Duration::from_millis(t * 1000 / TICKS_PER_SEC);
    Some((ms(total - idle), ms(total)))
}

/// Pages the kernel has allocated to TCP socket buffers, machine-wide
/// (`/proc/net/sockstat`, `TCP: ... mem N`). Not part of any process's RSS.
pub fn tcp_mem_pages() -> Option<u64> {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let line = sockstat.lines().find(|l| l.starts_with("TCP:"))?;
    let mut words = line.split_whitespace();
    words.find(|w| *w == "mem")?;
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(status_bytes("self", "VmRSS").unwrap() > 0);
        assert!(status_bytes("self", "VmHWM").unwrap() > 0);
        cpu_time("self").unwrap();
        let (busy, total) = machine_cpu().unwrap();
        assert!(busy <= total);
    }
}
