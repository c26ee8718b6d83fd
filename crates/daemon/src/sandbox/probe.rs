//! The start-up trial of a mechanism: a shell, confined like a compile, must be able
//! to write its job directory and must not be able to read a file next to it.
//!
//! A mechanism that passes this is used for every job; one that does not is
//! reported at start-up rather than turning every compile into a failure.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Sandbox, SandboxError};

/// How long the trial may take (bwrap's namespaces take milliseconds).
const TRIAL_WITHIN: Duration = Duration::from_secs(10);

/// Exit status of the trial when it could read what it must not.
const LEAKED: i32 = 3;

/// Run the trial of `sandbox` (called `mechanism` in errors) in a fresh directory
/// under `parent`.
pub fn trial(
    sandbox: &Sandbox,
    mechanism: &'static str,
    parent: &Path,
) -> Result<(), SandboxError> {
    let fail = |reason: String| SandboxError::Probe { mechanism, reason };
    let dir = tempfile::Builder::new()
        .prefix("ccfarmd-sandbox-trial-")
        .tempdir_in(parent)
        .map_err(|e| fail(format!("cannot create a trial directory: {e}")))?;
    let secret = dir.path().join("outside");
    let job = dir.path().join("job");
    std::fs::write(&secret, "not for compiles\n")
        .and_then(|()| std::fs::create_dir(&job))
        .map_err(|e| fail(format!("cannot prepare the trial directory: {e}")))?;
    let script = format!(
        "if cat '{}' >/dev/null 2>&1; then exit {LEAKED}; fi; echo ok > written",
        secret.display()
    );
    let confined = sandbox.confine(&job, &job, "/bin/sh", &["-c".to_owned(), script])?;
    let mut command = Command::new(confined.program());
    command
        .args(confined.args())
        .current_dir(&job)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    confined.install(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| fail(format!("cannot start the trial: {e}")))?;
    let check = confined.spawned();
    let deadline = Instant::now() + TRIAL_WITHIN;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("no answer within {TRIAL_WITHIN:?}")));
            }
        }
    };
    let stderr = child
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
        .unwrap_or_default();
    if !check.was_set_up() {
        return Err(fail(format!("the sandbox could not be set up: {stderr}")));
    }
    if status.code() == Some(LEAKED) {
        return Err(fail("a file outside the job directory was readable".into()));
    }
    if !status.success() {
        return Err(fail(format!("the trial exited with {status}: {stderr}")));
    }
    if !job.join("written").exists() {
        return Err(fail("the job directory was not writable".into()));
    }
    Ok(())
}
