//! Running one compiler process: in its own process group, with stdin from
//! `/dev/null` and stdout/stderr to files in the job directory, killed as a whole
//! group when the client goes away or the job outlives `--job-lifetime`.
//!
//! The compiler driver forks `cc1` and `as`; killing only the driver would leave
//! them running, which is why everything here is done per process group.
//!
//! Every compile runs in the daemon's [`Sandbox`]: under resource limits and, where
//! the kernel allows, confined to its toolchain and its job directory.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::Command;

use crate::sandbox::{Sandbox, SandboxError, SetUpCheck};

/// What to run.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The program (an allow-listed name, found on `PATH`, or an absolute path).
    pub program: String,
    /// Its arguments (argv[1..]).
    pub args: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// The job directory: the only place the compile may write (and `TMPDIR`).
    pub job_dir: PathBuf,
    /// Where stdout goes.
    pub stdout: PathBuf,
    /// Where stderr goes.
    pub stderr: PathBuf,
    /// Kill the compile after this long.
    pub lifetime: Option<Duration>,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// What the compile runs in.
    pub sandbox: Arc<Sandbox>,
}

/// How the compile ended.
#[derive(Debug)]
pub enum CompilerExit {
    /// The compiler exited (or was killed by a signal of its own); the raw wait status.
    Exited(u32),
    /// `--job-lifetime` was exceeded and the group was killed.
    TimedOut,
    /// The caller's cancel future fired (the client went away) and the group was killed.
    Cancelled,
    /// The compiler could not be started.
    SpawnFailed(std::io::Error),
    /// The sandbox could not be set up: the server's fault, never the compile's.
    SandboxFailed(String),
    /// A process of the compile stayed stopped (SIGSTOP, a debugger) for
    /// [`STOPPED_LIMIT`]; the group was killed. The server's fault: the job can run
    /// elsewhere.
    Stopped,
}

/// How long a compile may have a process stopped before it is given up as hung: a
/// stopped compiler never finishes, and its client would otherwise wait for its I/O
/// timeout (minutes) before trying another server.
pub const STOPPED_LIMIT: Duration = Duration::from_secs(5);

/// Why a compile could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its sandbox could not be prepared.
    #[error("cannot prepare the compile sandbox: {0}")]
    Sandbox(#[from] SandboxError),
    /// The process could not be started (or, with Landlock, confined before `exec`).
    #[error(transparent)]
    Spawn(#[from] std::io::Error),
}

/// Kills the whole process group when dropped, so that no exit path (including the
/// session task being dropped) can leave compiler processes behind.
struct GroupGuard(Pid);

impl GroupGuard {
    fn signal(&self, signal: Signal) {
        // ESRCH (the group is already gone) is the normal case after a clean exit.
        let _ = killpg(self.0, signal);
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// A started compiler.
pub struct Running {
    child: tokio::process::Child,
    guard: GroupGuard,
    deadline: Option<tokio::time::Instant>,
    set_up: SetUpCheck,
    stderr: PathBuf,
}

/// Start `spec`'s compiler. With `stdin_piped`, the caller feeds the source through
/// [`Running::stdin`]; otherwise stdin is `/dev/null`. The lifetime counts from here.
pub fn start(spec: &JobSpec, stdin_piped: bool) -> Result<Running, StartError> {
    let confined = spec
        .sandbox
        .confine(&spec.job_dir, &spec.cwd, &spec.program, &spec.args)?;
    let stdout = std::fs::File::create(&spec.stdout)?;
    let stderr = std::fs::File::create(&spec.stderr)?;
    let mut command = Command::new(confined.program());
    command.args(confined.args()).current_dir(&spec.cwd);
    // gcc's own temporaries (ccXXXXXX.s, .res, ...) go into the job directory, so that
    // a compiler killed mid-job (client gone, lifetime, shutdown) leaves nothing behind
    // when the directory is removed — and because it is the only writable place.
    command.env("TMPDIR", &spec.job_dir);
    command
        .stdin(if stdin_piped {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .kill_on_drop(true);
    confined.install(command.as_std_mut());
    let child = command.spawn()?;
    let set_up = confined.spawned();
    let pid = child
        .id()
        .ok_or_else(|| std::io::Error::other("compiler exited before it could be tracked"))?;
    Ok(Running {
        child,
        guard: GroupGuard(Pid::from_raw(pid as i32)),
        deadline: spec.lifetime.map(|l| tokio::time::Instant::now() + l),
        set_up,
        stderr: spec.stderr.clone(),
    })
}

impl Running {
    /// The compiler's stdin, when it was started with a pipe (taken once).
    pub fn stdin(&mut self) -> Option<tokio::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// Wait until the compiler exits, its lifetime runs out, or `cancel` completes;
    /// in the last two cases the whole group is killed.
    pub async fn finish(
        mut self,
        grace: Duration,
        cancel: impl std::future::Future<Output = ()>,
    ) -> CompilerExit {
        let lifetime = async {
            match self.deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(cancel);
        let root = self.child.id();
        let end = tokio::select! {
            status = self.child.wait() => {
                return match status {
                    Ok(_) if !self.set_up.was_set_up() => {
                        CompilerExit::SandboxFailed(last_line(&self.stderr))
                    }
                    Ok(status) => CompilerExit::Exited(status.into_raw() as u32),
                    Err(e) => CompilerExit::SpawnFailed(e),
                };
            }
            () = lifetime => CompilerExit::TimedOut,
            () = &mut cancel => CompilerExit::Cancelled,
            () = stopped_for(root, STOPPED_LIMIT) => CompilerExit::Stopped,
        };
        self.guard.signal(Signal::SIGTERM);
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            self.guard.signal(Signal::SIGKILL);
            let _ = self.child.wait().await;
        }
        // The guard's drop sends SIGKILL to whatever is left of the group.
        end
    }
}

/// Returns once a process of the tree under `root` has been seen stopped for `limit`
/// (looked at every second); never without a root.
async fn stopped_for(root: Option<u32>, limit: Duration) {
    let Some(root) = root else {
        return std::future::pending().await;
    };
    let mut since: Option<tokio::time::Instant> = None;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if tree_has_stopped(root) {
            let first = *since.get_or_insert_with(tokio::time::Instant::now);
            if first.elapsed() + Duration::from_secs(1) >= limit {
                return;
            }
        } else {
            since = None;
        }
    }
}

/// Whether `root` or a process below it is stopped (`T`) or stopped by a tracer (`t`),
/// from `/proc` (each process's `children` list; a compile has a handful).
fn tree_has_stopped(root: u32) -> bool {
    let mut pending = vec![root];
    let mut visited = 0;
    while let Some(pid) = pending.pop() {
        visited += 1;
        if visited > 1024 {
            break;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ...`: comm may hold spaces and parentheses, so the state is
        // the first field after the last ')'.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if matches!(state, Some('T' | 't')) {
            return true;
        }
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            pending.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    false
}

/// The sandbox's own complaint, which it wrote where the compiler's stderr goes.
fn last_line(stderr: &std::path::Path) -> String {
    let text = std::fs::read_to_string(stderr).unwrap_or_default();
    let line = text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    if line.is_empty() {
        "the sandbox exited before starting the compiler".into()
    } else {
        line.to_owned()
    }
}

/// Run `spec` until it exits, its lifetime runs out, or `cancel` completes.
pub async fn run(spec: &JobSpec, cancel: impl std::future::Future<Output = ()>) -> CompilerExit {
    match start(spec, false) {
        Ok(running) => running.finish(spec.grace, cancel).await,
        Err(StartError::Sandbox(e)) => CompilerExit::SandboxFailed(e.to_string()),
        Err(StartError::Spawn(e)) => CompilerExit::SpawnFailed(e),
    }
}

#[cfg(test)]
mod tests {
    use ccfarm_testkit::alive;

    use super::*;

    fn spec(dir: &tempfile::TempDir, script: &str, lifetime: Option<Duration>) -> JobSpec {
        JobSpec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            cwd: dir.path().to_owned(),
            job_dir: dir.path().to_owned(),
            stdout: dir.path().join("out"),
            stderr: dir.path().join("err"),
            lifetime,
            grace: Duration::from_millis(500),
            sandbox: Arc::new(Sandbox::off()),
        }
    }

    /// The process whose pid the job wrote to `grandchild` is gone (killed with the group)
    /// moments after the job ended.
    async fn grandchild_is_gone(dir: &tempfile::TempDir) {
        let pid: u32 = std::fs::read_to_string(dir.path().join("grandchild"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!alive(pid), "grandchild {pid} survived");
    }

    #[tokio::test]
    async fn captures_output_and_status() {
        let dir = tempfile::tempdir().unwrap();
        let end = run(
            &spec(&dir, "echo out; echo err >&2; exit 3", None),
            std::future::pending(),
        )
        .await;
        assert!(
            matches!(end, CompilerExit::Exited(s) if s == 3 << 8),
            "{end:?}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out")).unwrap(),
            "out\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("err")).unwrap(),
            "err\n"
        );
    }

    /// A grandchild that stops itself (as a SIGSTOPped cc1 would be) is noticed within
    /// the limit and the whole group is killed, stopped process included.
    #[tokio::test]
    async fn a_stopped_process_in_the_compile_ends_it_as_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let script = "sh -c 'echo $$ > grandchild; kill -STOP $$; sleep 30' & wait";
        let started = std::time::Instant::now();
        let end = run(&spec(&dir, script, None), std::future::pending()).await;
        assert!(matches!(end, CompilerExit::Stopped), "{end:?}");
        let took = started.elapsed();
        assert!(
            took >= STOPPED_LIMIT - Duration::from_secs(1) && took < STOPPED_LIMIT * 3,
            "{took:?}"
        );
        grandchild_is_gone(&dir).await;
    }

    /// A compile that merely waits (sleeps, reads) is not taken for a stopped one.
    #[tokio::test]
    async fn a_waiting_compile_is_not_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let end = run(&spec(&dir, "sleep 7; exit 0", None), std::future::pending()).await;
        assert!(matches!(end, CompilerExit::Exited(0)), "{end:?}");
    }

    #[tokio::test]
    async fn lifetime_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        // A grandchild that ignores SIGTERM: only the SIGKILL escalation stops it.
        let script = "sh -c 'trap \"\" TERM; echo $$ > grandchild; sleep 30' & wait";
        let end = run(
            &spec(&dir, script, Some(Duration::from_millis(300))),
            std::future::pending(),
        )
        .await;
        assert!(matches!(end, CompilerExit::TimedOut), "{end:?}");
        grandchild_is_gone(&dir).await;
    }

    #[tokio::test]
    async fn cancel_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let script = "sleep 30 & echo $! > grandchild; wait";
        let cancel = tokio::time::sleep(Duration::from_millis(300));
        let end = run(&spec(&dir, script, None), cancel).await;
        assert!(matches!(end, CompilerExit::Cancelled), "{end:?}");
        grandchild_is_gone(&dir).await;
    }

    #[tokio::test]
    async fn missing_program() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(&dir, "", None);
        s.program = "/nonexistent/cc".into();
        assert!(matches!(
            run(&s, std::future::pending()).await,
            CompilerExit::SpawnFailed(_)
        ));
    }
}
