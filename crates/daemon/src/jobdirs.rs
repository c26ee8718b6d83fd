//! Job directories are named `ccfarmd-<pid>-<random>`, so that a daemon starting up
//! can remove the ones left behind by a daemon that was killed (SIGKILL, power loss)
//! without touching those of another daemon still running on the same machine.

use std::path::Path;

/// The name prefix of this process's job directories.
pub fn prefix(pid: u32) -> String {
    format!("ccfarmd-{pid}-")
}

/// The pid in a job directory's name, if it is one.
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("ccfarmd-")?;
    let (pid, random) = rest.split_once('-')?;
    (!random.is_empty()).then_some(())?;
    pid.parse().ok()
}

/// Remove job directories under `tmp` whose daemon is gone; returns how many. `alive`
/// says whether a pid belongs to a running process (injected for tests).
pub fn sweep(tmp: &Path, alive: impl Fn(u32) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner) else {
            continue;
        };
        if pid == std::process::id() || alive(pid) {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_dir())
            && std::fs::remove_dir_all(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Whether `pid` is a live process (a zombie counts as gone).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(owner("ccfarmd-123-abcDEF"), Some(123));
        assert_eq!(owner("ccfarmd-123-"), None);
        assert_eq!(owner("ccfarmd-abc-x"), None);
        assert_eq!(owner("distccd_123"), None);
        assert!(prefix(7).starts_with("ccfarmd-7-"));
    }

    #[test]
    fn sweeps_only_dead_daemons_directories() {
        let tmp = tempfile::tempdir().unwrap();
        for name in [
            "ccfarmd-111-aaa",
            "ccfarmd-222-bbb",
            "ccfarmd-333-ccc",
            "unrelated",
            "ccfarmd-nope",
        ] {
            std::fs::create_dir(tmp.path().join(name)).unwrap();
            std::fs::write(tmp.path().join(name).join("input.i"), "x").unwrap();
        }
        std::fs::write(tmp.path().join("ccfarmd-444-file"), "a file, not a job").unwrap();
        let removed = sweep(tmp.path(), |pid| pid == 222);
        assert_eq!(removed, 2);
        let mut left: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "ccfarmd-222-bbb",
                "ccfarmd-444-file",
                "ccfarmd-nope",
                "unrelated"
            ]
        );
    }
}
