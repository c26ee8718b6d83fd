//! Slot locks shared by every concurrent `ccfarm` process of one user.
//!
//! As in distcc (`src/lock.c`, `src/where.c`), a *slot* is a zero-byte file
//! `<state_dir>/lock/cpu_<key>_<i>` held with a non-blocking exclusive lock. The kernel
//! drops the lock when the holder dies, so a crashed compile never leaks a slot and no
//! daemon is needed. The lock is `flock(2)`, not a classic `fcntl` lock: those belong to
//! the *process* and vanish when it closes *any* descriptor of the file, so probing a slot
//! it already holds would drop it; `flock` locks belong to the open file description, so
//! every [`SlotGuard`] (two in one process, or in two threads) is independent.
//!
//! Unlike distcc, which rescans every second while all slots are busy, a waiter sleeps on
//! inotify until a slot is released; see [`SlotDir::acquire`].

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag, open};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use nix::sys::stat::Mode;

/// How often a blocked [`SlotDir::acquire`] rescans even without a notification.
///
/// Releases are announced by [`SlotGuard`]'s `Drop`, but a killed holder (SIGKILL, OOM)
/// loses its kernel lock silently; only this rescan notices. 500 ms is half of distcc's
/// fixed pause and costs nothing while notifications work.
pub const FALLBACK_RESCAN: Duration = Duration::from_millis(500);

/// The file in the lock directory that releasing guards touch and waiters watch; it
/// cannot collide with a `cpu_*` slot file.
const RELEASED_FILE: &str = "released";

/// The lock directory, `<state_dir>/lock`, in which slot files live.
#[derive(Debug, Clone)]
pub struct SlotDir {
    dir: PathBuf,
}

/// A host the caller is willing to use, and how many concurrent jobs it accepts.
///
/// `key` names the host's lock files (`cpu_<key>_<i>`), so two candidates with the same
/// key share one pool. It must be non-empty and must not contain `/` or NUL; the caller
/// builds it (e.g. `tcp_10.0.0.2_3632`, `localhost`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Filesystem-safe host key.
    pub key: &'a str,
    /// Number of slots; `0` means the host is never chosen.
    pub slots: u32,
}

/// An acquired slot. Dropping it releases the lock and wakes waiting processes.
#[derive(Debug)]
pub struct SlotGuard {
    /// `None` only during `Drop`.
    lock: Option<Flock<OwnedFd>>,
    key: String,
    index: u32,
    dir: PathBuf,
}

impl SlotGuard {
    /// The key of the candidate this slot belongs to.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The slot number within the candidate, `0..slots`.
    pub fn index(&self) -> u32 {
        self.index
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            match lock.unlock() {
                Ok(fd) => drop(fd),
                // LOCK_UN cannot fail on a valid descriptor. If it ever does, leak the
                // descriptor rather than let `Flock`'s Drop panic inside ours; the lock
                // dies with this short-lived process, and waiters' fallback rescan sees it.
                Err((lock, _)) => std::mem::forget(lock),
            }
        }
        // Announce the release *after* unlocking, so a woken waiter's rescan sees the
        // slot free. Open-for-write + close raises IN_CLOSE_WRITE without growing the
        // file. Best effort: on failure waiters still rescan after FALLBACK_RESCAN.
        // O_NONBLOCK keeps a FIFO planted there from hanging us.
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
        let _ = open(
            &self.dir.join(RELEASED_FILE),
            flags,
            Mode::S_IRUSR | Mode::S_IWUSR,
        );
    }
}

impl SlotDir {
    /// Open (creating if needed, mode 0700) `<state_dir>/lock`. Missing parents are
    /// created too (also 0700); an existing directory's mode is left alone.
    pub fn open(state_dir: &Path) -> io::Result<SlotDir> {
        let dir = state_dir.join("lock");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?; // fails if `dir` exists but is not a directory
        Ok(SlotDir { dir })
    }

    /// The lock directory itself.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Take a free slot without blocking, searching like distcc: slot 0 of every
    /// candidate in order, then slot 1 of every candidate, and so on.
    ///
    /// Breadth-first search spreads jobs over hosts; list order is the priority. Returns
    /// `Ok(None)` if every slot is busy. Errors: an invalid key (`InvalidInput`, checked
    /// before any lock is tried) or a lock file that cannot be opened or locked.
    pub fn try_acquire(&self, candidates: &[Candidate<'_>]) -> io::Result<Option<SlotGuard>> {
        for c in candidates {
            check_key(c.key)?;
        }
        let depth = candidates.iter().map(|c| c.slots).max().unwrap_or(0);
        for index in 0..depth {
            for c in candidates.iter().filter(|c| index < c.slots) {
                if let Some(lock) = self.try_lock_file(c.key, index)? {
                    return Ok(Some(SlotGuard {
                        lock: Some(lock),
                        key: c.key.to_owned(),
                        index,
                        dir: self.dir.clone(),
                    }));
                }
            }
        }
        Ok(None)
    }

    /// Block until a slot is free (same search order as [`try_acquire`](Self::try_acquire))
    /// or `deadline` passes (`None` waits forever); `Ok(None)` means the deadline passed.
    ///
    /// This does not poll. After a first scan fails, the waiter registers an inotify watch
    /// on the lock directory, scans *again* (so a release between the first scan and the
    /// watch cannot be missed), and sleeps until a releasing [`SlotGuard`] touches the
    /// `released` file. Because a killed holder releases its lock silently, the waiter also
    /// rescans every [`FALLBACK_RESCAN`]. If inotify is unavailable (e.g. more waiters than
    /// `fs.inotify.max_user_instances`, 128 by default) it degrades to that rescan alone.
    ///
    /// There is no queue: as in distcc, a newcomer may take a slot before an older waiter.
    pub fn acquire(
        &self,
        candidates: &[Candidate<'_>],
        deadline: Option<Instant>,
    ) -> io::Result<Option<SlotGuard>> {
        self.acquire_with_fallback(candidates, deadline, FALLBACK_RESCAN)
    }

    /// [`acquire`](Self::acquire) with an explicit fallback interval (tests use a long one
    /// to prove that wake-ups come from notifications).
    fn acquire_with_fallback(
        &self,
        candidates: &[Candidate<'_>],
        deadline: Option<Instant>,
        fallback: Duration,
    ) -> io::Result<Option<SlotGuard>> {
        // Fast path: most compiles find a slot at once and never pay for inotify.
        if let Some(guard) = self.try_acquire(candidates)? {
            return Ok(Some(guard));
        }
        // The watch exists from here on, so every release after this point is queued;
        // the scan below therefore cannot lose a release that happens before the sleep.
        let watch = ReleaseWatch::new(&self.dir);
        loop {
            if let Some(guard) = self.try_acquire(candidates)? {
                return Ok(Some(guard));
            }
            let now = Instant::now();
            let wait = match deadline {
                Some(d) if d <= now => return Ok(None),
                Some(d) => (d - now).min(fallback),
                None => fallback,
            };
            match &watch {
                Some(w) => w.wait(wait),
                None => thread::sleep(wait),
            }
        }
    }

    /// Open (creating) slot file `cpu_<key>_<index>` and try to lock it.
    fn try_lock_file(&self, key: &str, index: u32) -> io::Result<Option<Flock<OwnedFd>>> {
        let path = self.dir.join(format!("cpu_{key}_{index}"));
        // Read-only on purpose: closing a read-only descriptor raises IN_CLOSE_NOWRITE,
        // which nobody watches, so scans do not wake other waiters. CLOEXEC keeps the
        // compiler we exec from inheriting (and outliving us with) the lock.
        let flags = OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC;
        let fd = open(&path, flags, Mode::S_IRUSR | Mode::S_IWUSR)?;
        match Flock::lock(fd, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(lock)),
            Err((_, Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, errno)) => Err(errno.into()),
        }
    }
}

/// Reject keys that would escape the lock directory or are not valid file names.
fn check_key(key: &str) -> io::Result<()> {
    if key.is_empty() || key.contains(['/', '\0']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid slot key {key:?}: must be non-empty without '/' or NUL"),
        ));
    }
    Ok(())
}

/// An inotify watch on the lock directory plus a thread turning its events into
/// channel messages.
///
/// The crate's `nix` features include no `poll`/`select` and the workspace denies
/// `unsafe`, so the only safe way to wait on the inotify descriptor *with a timeout* is a
/// helper thread doing a blocking read, and `recv_timeout` on the channel it feeds.
struct ReleaseWatch {
    inotify: Arc<Inotify>,
    wd: WatchDescriptor,
    rx: mpsc::Receiver<()>,
    thread: Option<thread::JoinHandle<()>>,
}

impl ReleaseWatch {
    /// `None` if inotify or the thread is unavailable; the caller then just sleeps
    /// [`FALLBACK_RESCAN`] between scans, which is still correct, only slower.
    fn new(dir: &Path) -> Option<ReleaseWatch> {
        let inotify = Arc::new(Inotify::init(InitFlags::IN_CLOEXEC).ok()?);
        let mask =
            AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_ONLYDIR;
        let wd = inotify.add_watch(dir, mask).ok()?;
        let (tx, rx) = mpsc::channel();
        let reader = Arc::clone(&inotify);
        let thread = thread::Builder::new()
            .name("ccfarm-slot-wait".into())
            .stack_size(64 * 1024)
            .spawn(move || forward_releases(&reader, &tx))
            .ok();
        Some(ReleaseWatch {
            inotify,
            wd,
            rx,
            thread: Some(thread?),
        })
    }

    /// Sleep until a release is announced or `timeout` passes.
    ///
    /// All queued announcements are consumed *before* returning, and the caller scans
    /// after that, so an announcement is never consumed after the scan it should trigger.
    fn wait(&self, timeout: Duration) {
        match self.rx.recv_timeout(timeout) {
            Ok(()) => while self.rx.try_recv().is_ok() {},
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // The reader died (read error, directory removed): keep the fallback cadence
            // instead of spinning.
            Err(mpsc::RecvTimeoutError::Disconnected) => thread::sleep(timeout),
        }
    }
}

impl Drop for ReleaseWatch {
    fn drop(&mut self) {
        // Removing the watch queues IN_IGNORED, which wakes the reader's blocking read
        // and makes it exit. If removal fails, the watch is already gone (and IN_IGNORED
        // already queued) or something odd happened; don't risk a hang, just detach.
        if let (Ok(()), Some(thread)) = (self.inotify.rm_watch(self.wd), self.thread.take()) {
            let _ = thread.join();
        }
    }
}

/// Reader thread: block on inotify, send one message per batch mentioning `released`
/// (or an overflowed queue, which may have hidden one), exit on IN_IGNORED or when the
/// waiter hung up.
fn forward_releases(inotify: &Inotify, tx: &mpsc::Sender<()>) {
    loop {
        let events = match inotify.read_events() {
            Ok(events) => events,
            Err(Errno::EINTR) => continue,
            Err(_) => return,
        };
        let released = events.iter().any(|e| {
            e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW)
                || e.name.as_deref() == Some(OsStr::new(RELEASED_FILE))
        });
        let ignored = events
            .iter()
            .any(|e| e.mask.contains(AddWatchFlags::IN_IGNORED));
        if (released && tx.send(()).is_err()) || ignored {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, ChildStdout, Command, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    /// Set (by the parent, on the child's command line only) to make `child_holder` act.
    const CHILD_ENV: &str = "CCFARM_SLOTS_CHILD";

    fn cand(key: &str, slots: u32) -> Candidate<'_> {
        Candidate { key, slots }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Not a real test: re-executed with `CHILD_ENV=<state_dir>\t<key>`, it takes slot 0
    /// of `key`, prints `LOCKED`, and holds it until a line (or EOF) arrives on stdin.
    /// Without the variable it does nothing.
    #[test]
    fn child_holder() {
        let Ok(spec) = std::env::var(CHILD_ENV) else {
            return;
        };
        // Never outlive a parent that hangs or forgets us.
        thread::spawn(|| {
            thread::sleep(ms(60_000));
            std::process::exit(2)
        });
        let (state, key) = spec.split_once('\t').unwrap();
        let dir = SlotDir::open(Path::new(state)).unwrap();
        let guard = dir.try_acquire(&[cand(key, 1)]).unwrap().expect("free");
        println!("LOCKED");
        io::stdout().flush().unwrap();
        let _ = io::stdin().lock().read_line(&mut String::new());
        drop(guard);
    }

    /// Slot 0 of a key, held by another process (a re-executed copy of this test binary).
    struct Holder {
        child: Child,
        /// Kept open so the child's remaining libtest output does not hit EPIPE.
        stdout: Option<BufReader<ChildStdout>>,
    }

    impl Holder {
        fn spawn(state: &Path, key: &str) -> Holder {
            let exe = std::env::current_exe().unwrap();
            let mut holder = Holder {
                child: Command::new(exe)
                    .args(["--exact", "slots::tests::child_holder", "--nocapture"])
                    .env(CHILD_ENV, format!("{}\t{key}", state.display()))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap(),
                stdout: None,
            };
            let mut stdout = BufReader::new(holder.child.stdout.take().unwrap());
            let mut line = String::new();
            // libtest prints "test ... " before our output on the same line.
            while !line.contains("LOCKED") {
                line.clear();
                let n = stdout.read_line(&mut line).unwrap();
                assert!(n > 0, "child did not lock");
            }
            holder.stdout = Some(stdout);
            holder
        }

        /// Ask the holder to drop its guard (which notifies) and exit.
        fn release(&mut self) {
            writeln!(self.child.stdin.take().unwrap(), "release").unwrap();
        }
    }

    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Start a thread waiting for slot 0 of `key`; it sends when it got it.
    fn spawn_waiter(dir: &SlotDir, key: &str, fallback: Duration) -> mpsc::Receiver<Instant> {
        let (dir, key, (tx, rx)) = (dir.clone(), key.to_owned(), mpsc::channel());
        thread::spawn(move || {
            let deadline = Some(Instant::now() + Duration::from_secs(20));
            let got = dir.acquire_with_fallback(&[cand(&key, 1)], deadline, fallback);
            assert_eq!(got.unwrap().expect("slot before deadline").index(), 0);
            tx.send(Instant::now()).unwrap();
        });
        thread::sleep(ms(200)); // let it scan and fall asleep
        rx
    }

    #[test]
    fn search_order_is_breadth_first_and_release_frees() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SlotDir::open(tmp.path()).unwrap();
        let cands = [cand("a", 2), cand("b", 3)];
        let mut guards: Vec<SlotGuard> = (0..5)
            .map(|_| dir.try_acquire(&cands).unwrap().unwrap())
            .collect();
        let got: Vec<(&str, u32)> = guards.iter().map(|g| (g.key(), g.index())).collect();
        assert_eq!(got, [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("b", 2)]);
        assert!(dir.try_acquire(&cands).unwrap().is_none());
        drop(guards.remove(3)); // (b, 1)
        let again = dir.try_acquire(&cands).unwrap().unwrap();
        assert_eq!((again.key(), again.index()), ("b", 1));
    }

    #[test]
    fn open_mode_and_bad_keys() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = SlotDir::open(&tmp.path().join("state")).unwrap();
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        SlotDir::open(&tmp.path().join("state")).unwrap(); // reopening is fine
        for key in ["", "a/b", "..\0x"] {
            let err = dir.try_acquire(&[cand("ok", 1), cand(key, 1)]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{key:?}");
        }
        assert!(dir.try_acquire(&[cand("none", 0)]).unwrap().is_none());
        assert!(dir.try_acquire(&[]).unwrap().is_none());
    }

    #[test]
    fn slot_held_by_other_process_is_not_granted() {
        let tmp = tempfile::tempdir().unwrap();
        let _holder = Holder::spawn(tmp.path(), "h");
        let dir = SlotDir::open(tmp.path()).unwrap();
        assert!(dir.try_acquire(&[cand("h", 1)]).unwrap().is_none());
        let soon = Some(Instant::now() + ms(100));
        assert!(dir.acquire(&[cand("h", 1)], soon).unwrap().is_none());
        assert_eq!(
            dir.try_acquire(&[cand("h", 2)]).unwrap().unwrap().index(),
            1
        );
    }

    #[test]
    fn waiter_wakes_on_release_without_polling() {
        let tmp = tempfile::tempdir().unwrap();
        let mut holder = Holder::spawn(tmp.path(), "h");
        let dir = SlotDir::open(tmp.path()).unwrap();
        // A 60 s fallback: a prompt wake-up can only come from the notification.
        let rx = spawn_waiter(&dir, "h", Duration::from_secs(60));
        assert!(rx.try_recv().is_err(), "slot granted while held");
        let released = Instant::now();
        holder.release();
        let latency = rx.recv_timeout(Duration::from_secs(10)).unwrap() - released;
        eprintln!("wake-up latency after release: {latency:?}");
        assert!(latency < ms(300), "{latency:?}");
    }

    #[test]
    fn waiter_recovers_slot_of_killed_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let mut holder = Holder::spawn(tmp.path(), "h");
        let dir = SlotDir::open(tmp.path()).unwrap();
        let rx = spawn_waiter(&dir, "h", FALLBACK_RESCAN);
        assert!(rx.try_recv().is_err(), "slot granted while held");
        let killed = Instant::now();
        holder.child.kill().unwrap(); // SIGKILL: nobody touches `released`
        let latency = rx.recv_timeout(Duration::from_secs(10)).unwrap() - killed;
        eprintln!("latency after SIGKILL of holder: {latency:?}");
        assert!(latency < FALLBACK_RESCAN + ms(700), "{latency:?}");
    }

    #[test]
    fn deadline_expiry_returns_none() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SlotDir::open(tmp.path()).unwrap();
        let _held = dir.try_acquire(&[cand("h", 1)]).unwrap().unwrap();
        let start = Instant::now();
        let got = dir.acquire(&[cand("h", 1)], Some(start + ms(250))).unwrap();
        let waited = start.elapsed();
        assert!(got.is_none());
        assert!(waited >= ms(250) && waited < ms(2000), "{waited:?}");
        // A deadline in the past still performs one non-blocking scan.
        assert!(dir.acquire(&[cand("h", 2)], Some(start)).unwrap().is_some());
    }

    #[test]
    fn sixteen_threads_never_exceed_three_slots() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SlotDir::open(tmp.path()).unwrap();
        let (busy, peak, done) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    for _ in 0..5 {
                        let guard = dir.acquire(&[cand("x", 2), cand("y", 1)], None);
                        let guard = guard.unwrap().unwrap();
                        peak.fetch_max(busy.fetch_add(1, SeqCst) + 1, SeqCst);
                        thread::sleep(ms(3));
                        busy.fetch_sub(1, SeqCst);
                        drop(guard);
                        done.fetch_add(1, SeqCst);
                    }
                });
            }
        });
        assert_eq!(done.load(SeqCst), 80);
        assert!((1..=3).contains(&peak.load(SeqCst)), "peak {peak:?}");
    }
}
