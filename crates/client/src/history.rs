//! The client's memory of how long each file took to compile, so that the next compile of
//! the same file tells the scheduler its cost (`previous_ms`, with the server it ran on).
//!
//! Why the client remembers and not only the scheduler: the scheduler's memory is lost when
//! it restarts, and it keys files by the name a client gives (`main.c` is in every project);
//! the client knows the absolute paths, and its memory survives every restart of the farm.
//! A build whose sizes say nothing of cost (every file including the same headers) is
//! placed blind the first time and knowing each job's cost from the second build on.
//!
//! Storage: `$CCFARM_DIR/times/NN`, 64 bucket files chosen by a hash of the key, each with
//! at most [`BUCKET_CAP`] lines `MS SERVER KEY`, most recent last. A bucket is replaced
//! whole (written to a temporary file and renamed), so a reader never sees half of one,
//! and writers take turns on `NN.lock` without blocking: the memory is advisory, so a
//! bucket that stays busy, is unreadable or is malformed is skipped, never waited for and
//! never a failure of the compile.

use std::fs::{File, OpenOptions};
use std::hash::Hasher;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Buckets: enough that concurrent compiles of one build rarely share one.
const BUCKETS: u64 = 64;
/// Lines kept per bucket (32,768 files in all).
pub const BUCKET_CAP: usize = 512;
/// Longest key remembered: longer paths are not worth a bucket's space.
const MAX_KEY: usize = 1024;
/// Bytes read of a bucket at most (its cap of lines at the longest key, with room).
const MAX_BUCKET_BYTES: u64 = (BUCKET_CAP as u64) * (MAX_KEY as u64 + 64);
/// How long a writer tries for a bucket's lock before it leaves the bucket alone.
const LOCK_PATIENCE: Duration = Duration::from_millis(20);

/// What the client remembers of a file's last compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// How long the job held its server (the figure released to the scheduler).
    pub ms: u64,
    /// The server it ran on, `address:port` as granted.
    pub server: String,
}

/// The memory under one state directory.
#[derive(Debug, Clone)]
pub struct History {
    dir: PathBuf,
}

/// Names one compile: the source and the output, as absolute paths, so that the same file
/// compiled twice into different objects (`-fPIC` and not) is remembered twice. `None`
/// for a key that cannot be stored (a path with a line break, or too long).
pub fn key(cwd: &Path, input: &str, output: &str) -> Option<String> {
    let key = format!(
        "{}\t{}",
        cwd.join(input).display(),
        cwd.join(output).display()
    );
    (key.len() <= MAX_KEY && !key.contains(['\n', '\r'])).then_some(key)
}

impl History {
    /// The memory kept in `state_dir/times`.
    pub fn new(state_dir: &Path) -> History {
        History {
            dir: state_dir.join("times"),
        }
    }

    /// What is remembered of `key`, if anything.
    pub fn recall(&self, key: &str) -> Option<Remembered> {
        let text = read_capped(&self.bucket(key)).ok()?;
        find(&text, key)
    }

    /// Remember that `key` took `ms` on `server`. Errors are for the log only.
    pub fn record(&self, key: &str, ms: u64, server: &str) -> std::io::Result<()> {
        if server.contains(char::is_whitespace) || server.is_empty() {
            return Err(std::io::Error::other(format!(
                "server name {server:?} cannot be stored"
            )));
        }
        std::fs::create_dir_all(&self.dir)?;
        let bucket = self.bucket(key);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(bucket.with_extension("lock"))?;
        let _held = hold(lock)?;
        // A bucket that is missing, oversized or not text starts afresh: what it held is
        // lost either way, and replacing it heals it.
        let old = read_capped(&bucket).unwrap_or_default();
        let new = updated(&old, key, ms, server, BUCKET_CAP);
        // Dropped unpersisted on any error, which removes it.
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(new.as_bytes())?;
        tmp.persist(&bucket).map_err(|e| e.error)?;
        Ok(())
    }

    fn bucket(&self, key: &str) -> PathBuf {
        // FNV-1a: a fixed function, so every version of ccfarm finds the same bucket.
        let mut h = fnv::FnvHasher::default();
        h.write(key.as_bytes());
        self.dir.join(format!("{:02}", h.finish() % BUCKETS))
    }
}

/// Takes `lock` exclusively (`flock`), trying for [`LOCK_PATIENCE`]; released when the
/// returned guard drops.
fn hold(mut lock: File) -> std::io::Result<Flock<File>> {
    let start = std::time::Instant::now();
    loop {
        match Flock::lock(lock, FlockArg::LockExclusiveNonblock) {
            Ok(held) => return Ok(held),
            Err((file, Errno::EWOULDBLOCK)) if start.elapsed() < LOCK_PATIENCE => {
                lock = file;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((_, Errno::EWOULDBLOCK)) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "bucket busy",
                ));
            }
            Err((_, e)) => return Err(e.into()),
        }
    }
}

/// A bucket's text, refusing one larger than any bucket this module writes.
fn read_capped(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    File::open(path)?
        .take(MAX_BUCKET_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_BUCKET_BYTES {
        return Err(std::io::Error::other("bucket larger than its cap"));
    }
    Ok(text)
}

/// One line of a bucket: `MS SERVER KEY`.
fn parse(line: &str) -> Option<(u64, &str, &str)> {
    let mut fields = line.splitn(3, ' ');
    let ms = fields.next()?.parse().ok()?;
    let server = fields.next().filter(|s| !s.is_empty())?;
    let key = fields.next()?;
    Some((ms, server, key))
}

/// The latest line for `key` in a bucket's text; malformed lines are passed over.
fn find(bucket: &str, key: &str) -> Option<Remembered> {
    bucket.lines().rev().find_map(|line| {
        let (ms, server, k) = parse(line)?;
        (k == key).then(|| Remembered {
            ms,
            server: server.to_owned(),
        })
    })
}

/// A bucket's text with `key`'s line replaced by the new one at the end (most recent
/// last), malformed lines dropped, and the oldest lines dropped beyond `cap`.
fn updated(bucket: &str, key: &str, ms: u64, server: &str, cap: usize) -> String {
    let kept: Vec<&str> = bucket
        .lines()
        .filter(|line| parse(line).is_some_and(|(_, _, k)| k != key))
        .collect();
    let skip = (kept.len() + 1).saturating_sub(cap);
    let mut out = String::with_capacity(bucket.len() + key.len() + 32);
    for line in &kept[skip..] {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!("{ms} {server} {key}\n"));
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn keys_are_absolute_and_name_source_and_output() {
        let cwd = Path::new("/home/ann/proj");
        assert_eq!(
            key(cwd, "src/a.c", "a.o").as_deref(),
            Some("/home/ann/proj/src/a.c\t/home/ann/proj/a.o")
        );
        assert_eq!(
            key(cwd, "/abs/b.c", "/tmp/b.o").as_deref(),
            Some("/abs/b.c\t/tmp/b.o")
        );
        assert_ne!(key(cwd, "a.c", "a.o"), key(cwd, "a.c", "pic/a.o"));
        assert_eq!(key(cwd, "odd\nname.c", "a.o"), None);
        assert_eq!(key(cwd, &"x".repeat(MAX_KEY), "a.o"), None);
    }

    #[test]
    fn the_latest_line_wins_and_malformed_lines_are_passed_over() {
        let text = "12 h:1 k\ngarbage\n7  k\n30 h:2 k\nnot-a-number h:3 k\n";
        assert_eq!(
            find(text, "k"),
            Some(Remembered {
                ms: 30,
                server: "h:2".into()
            })
        );
        assert_eq!(find(text, "other"), None);
        // A key with spaces is the rest of the line.
        let spaced = updated("", "/a b/c.c\t/a b/c.o", 5, "h:1", 4);
        assert_eq!(find(&spaced, "/a b/c.c\t/a b/c.o").unwrap().ms, 5);
    }

    #[test]
    fn an_update_moves_the_key_last_and_drops_the_oldest_beyond_the_cap() {
        let mut text = String::new();
        for (k, ms) in [("a", 1), ("b", 2), ("c", 3)] {
            text = updated(&text, k, ms, "s:1", 3);
        }
        text = updated(&text, "a", 10, "s:2", 3);
        assert_eq!(text, "2 s:1 b\n3 s:1 c\n10 s:2 a\n");
        text = updated(&text, "d", 4, "s:1", 3);
        assert_eq!(text, "3 s:1 c\n10 s:2 a\n4 s:1 d\n");
        assert_eq!(find(&text, "b"), None);
    }

    #[test]
    fn recorded_times_are_recalled_across_instances_and_nothing_is_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let key = key(Path::new("/p"), "a.c", "a.o").unwrap();
        assert_eq!(History::new(dir.path()).recall(&key), None);
        History::new(dir.path())
            .record(&key, 1234, "127.0.0.1:3632")
            .unwrap();
        History::new(dir.path())
            .record(&key, 1500, "[::1]:3632")
            .unwrap();
        assert_eq!(
            History::new(dir.path()).recall(&key),
            Some(Remembered {
                ms: 1500,
                server: "[::1]:3632".into()
            })
        );
        // One bucket and its lock file; no temporary file survives.
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("times"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[1].ends_with(".lock"), "{names:?}");
        assert!(
            History::new(dir.path())
                .record(&key, 1, "two words")
                .is_err()
        );
    }

    #[test]
    fn a_busy_bucket_is_left_alone_rather_than_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path());
        history.record("k", 1, "s:1").unwrap();
        let lock = File::open(history.bucket("k").with_extension("lock")).unwrap();
        let held = Flock::lock(lock, FlockArg::LockExclusive).unwrap();
        let started = std::time::Instant::now();
        let err = history.record("k", 2, "s:1").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(history.recall("k").unwrap().ms, 1);
        drop(held);
        history.record("k", 3, "s:1").unwrap();
        assert_eq!(history.recall("k").unwrap().ms, 3);
    }

    #[test]
    fn an_oversized_or_foreign_bucket_is_ignored_and_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path());
        std::fs::create_dir_all(&history.dir).unwrap();
        std::fs::write(
            history.bucket("k"),
            vec![b'1'; MAX_BUCKET_BYTES as usize + 1],
        )
        .unwrap();
        assert_eq!(history.recall("k"), None);
        history.record("k", 5, "s:1").unwrap();
        assert_eq!(history.recall("k").unwrap().ms, 5);
        std::fs::write(history.bucket("k"), [0xff, 0xfe, b'\n']).unwrap();
        assert_eq!(history.recall("k"), None);
        history.record("k", 6, "s:1").unwrap();
        assert_eq!(history.recall("k").unwrap().ms, 6);
    }

    proptest! {
        /// Whatever the updates, a bucket keeps at most `cap` lines, one per key, the
        /// latest value of each key it keeps, and always the key just written.
        #[test]
        fn buckets_stay_bounded_and_current(
            writes in prop::collection::vec((0u8..12, 0u64..1_000_000), 1..60),
            cap in 1usize..8,
        ) {
            let mut text = String::new();
            let mut latest = std::collections::HashMap::new();
            for (k, ms) in &writes {
                let key = format!("/src/{k}.c\t/obj/{k}.o");
                text = updated(&text, &key, *ms, "h:1", cap);
                latest.insert(key, *ms);
            }
            let lines: Vec<_> = text.lines().map(|l| parse(l).unwrap()).collect();
            prop_assert!(lines.len() <= cap);
            let keys: std::collections::HashSet<_> = lines.iter().map(|l| l.2).collect();
            prop_assert_eq!(keys.len(), lines.len());
            for (ms, _, key) in &lines {
                prop_assert_eq!(latest[*key], *ms);
            }
            let (k, ms) = writes.last().unwrap();
            prop_assert_eq!(lines.last().unwrap().0, *ms);
            prop_assert_eq!(lines.last().unwrap().2, format!("/src/{k}.c\t/obj/{k}.o"));
        }
    }
}
