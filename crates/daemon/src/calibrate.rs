//! The calibration compile: how fast this server compiles, measured on the same translation
//! unit every server compiles ([`SOURCE`]), so that the scheduler compares servers on like
//! work instead of guessing speeds from whichever jobs each server happened to get.
//!
//! It runs before the server first registers (a server joins measured), then again every
//! [`EVERY`] while the server is idle, so that a machine that changed (another compiler, a
//! throttled CPU) is measured anew. Each measurement is the fastest of [`RUNS`] compiles:
//! the first run pays for a cold page cache, and noise only ever adds time. A measurement
//! during which a job ran is thrown away: it timed the job as much as the calibration.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::compilers::CompilerPolicy;
use crate::daemon::Daemon;

/// The translation unit: no headers (the same work whatever a server has installed), and
/// loops, branches and inlining for the optimiser, about a quarter of a second with gcc -O2
/// on a current machine.
pub const SOURCE: &str = include_str!("calibrate.c");

/// The flags it is compiled with.
pub const FLAGS: [&str; 2] = ["-O2", "-c"];

/// Compiles per measurement; the fastest counts.
pub const RUNS: usize = 3;

/// How often an idle server measures itself again.
pub const EVERY: Duration = Duration::from_secs(600);

/// The longest one calibration compile may take before it is given up.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Where the measurement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calibration {
    /// Not measured yet: registration waits for it.
    Pending,
    /// The fastest of [`RUNS`] compiles of [`SOURCE`].
    Measured(Duration),
    /// Off, or the compiler failed: the scheduler learns this server's speed from its jobs.
    Unavailable,
}

/// Why a calibration compile gave no time.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// The job directory could not hold the source.
    #[error("cannot write the calibration unit: {0}")]
    Write(#[source] std::io::Error),
    /// The compiler did not start.
    #[error("cannot run {compiler}: {source}")]
    Spawn {
        /// The program.
        compiler: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The compiler failed on it.
    #[error("{compiler} failed on the calibration unit ({status}): {stderr}")]
    Failed {
        /// The program.
        compiler: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it said, trimmed.
        stderr: String,
    },
    /// It took longer than [`DEADLINE`].
    #[error("the calibration compile took longer than {DEADLINE:?}")]
    Timeout,
}

/// The compiler a server calibrates with: the configured one (`off`: none), else `cc` when
/// it is allowed, else the first allowed compiler. It should be the compiler the farm's
/// builds use, since that is whose speed placement needs.
pub fn choose(policy: &CompilerPolicy, configured: Option<&str>) -> Option<String> {
    match configured {
        Some("off") => None,
        Some(name) => Some(name.to_owned()),
        None if policy.resolve("cc").is_ok() => Some("cc".to_owned()),
        None => policy.programs().next(),
    }
}

/// One measurement: the fastest of [`RUNS`] compiles of [`SOURCE`] with `compiler`, in a
/// directory under `tmp_dir` that is removed afterwards.
pub async fn measure(compiler: &str, tmp_dir: &Path) -> Result<Duration, CalibrationError> {
    let dir = tempfile::Builder::new()
        .prefix("ccfarmd-calibrate-")
        .tempdir_in(tmp_dir)
        .map_err(CalibrationError::Write)?;
    let source = dir.path().join("calibrate.c");
    std::fs::write(&source, SOURCE).map_err(CalibrationError::Write)?;
    let mut fastest = Duration::MAX;
    for _ in 0..RUNS {
        let started = Instant::now();
        let run = Command::new(compiler)
            .args(FLAGS)
            .arg(&source)
            .arg("-o")
            .arg(dir.path().join("calibrate.o"))
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(DEADLINE, run)
            .await
            .map_err(|_| CalibrationError::Timeout)?
            .map_err(|source| CalibrationError::Spawn {
                compiler: compiler.to_owned(),
                source,
            })?;
        let took = started.elapsed();
        if !out.status.success() {
            return Err(CalibrationError::Failed {
                compiler: compiler.to_owned(),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        fastest = fastest.min(took);
    }
    Ok(fastest)
}

/// Measures at once, publishes the result, then measures again every [`EVERY`] while no
/// job runs. Runs until the receivers are gone.
pub async fn run(
    daemon: std::sync::Arc<Daemon>,
    compiler: Option<String>,
    tx: watch::Sender<Calibration>,
) {
    let Some(compiler) = compiler else {
        tx.send_replace(Calibration::Unavailable);
        return;
    };
    let tmp_dir = daemon.config.tmp_dir.clone();
    match measure(&compiler, &tmp_dir).await {
        Ok(took) => {
            info!(compiler = %compiler, ms = took.as_secs_f64() * 1e3, "calibration compile timed");
            tx.send_replace(Calibration::Measured(took));
        }
        Err(e) => {
            warn!(
                "no calibration: {e}; the scheduler will learn this server's speed from its jobs"
            );
            tx.send_replace(Calibration::Unavailable);
            return;
        }
    }
    loop {
        tokio::time::sleep(EVERY).await;
        if tx.is_closed() {
            return;
        }
        if daemon.stats.running_now() > 0 {
            continue;
        }
        let jobs_before = daemon.stats.accepted_total();
        match measure(&compiler, &tmp_dir).await {
            Ok(took)
                if daemon.stats.accepted_total() == jobs_before
                    && daemon.stats.running_now() == 0 =>
            {
                tx.send_replace(Calibration::Measured(took));
            }
            Ok(_) => {}
            Err(e) => warn!("calibration compile failed, keeping the last measurement: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiler_is_the_configured_one_then_cc_then_the_first_allowed() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["gcc", "cc"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let with_cc = CompilerPolicy::load(&[dir.path()], &[]);
        assert_eq!(choose(&with_cc, None).as_deref(), Some("cc"));
        assert_eq!(choose(&with_cc, Some("gcc")).as_deref(), Some("gcc"));
        assert_eq!(choose(&with_cc, Some("off")), None);
        let without = CompilerPolicy::load(&[], &["/opt/x/bin/gcc".to_owned(), "clang".to_owned()]);
        assert_eq!(choose(&without, None).as_deref(), Some("clang"));
        assert_eq!(choose(&CompilerPolicy::default(), None), None);
    }

    /// The unit compiles with the real compiler, and a failing compiler is an error that
    /// says what it printed.
    #[tokio::test]
    async fn a_measurement_times_a_real_compile_and_reports_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let took = measure("cc", dir.path())
            .await
            .expect("cc compiles the calibration unit");
        assert!(took > Duration::ZERO);
        let err = measure("false", dir.path()).await.unwrap_err();
        assert!(matches!(err, CalibrationError::Failed { .. }), "{err}");
        let err = measure("/nonexistent/cc", dir.path()).await.unwrap_err();
        assert!(matches!(err, CalibrationError::Spawn { .. }), "{err}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing left behind"
        );
    }
}
