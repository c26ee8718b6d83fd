//! The farm's services as child processes: `ccfarm-scheduler` and `ccfarmd`, found
//! with [`crate::sibling`], each writing its output to a log file in the
//! farm's directory, and stopped with SIGTERM, then SIGKILL past a deadline.
//!
//! They run in a process group of their own, so that a Ctrl-C at the terminal reaches
//! the farm (which reads the status, then stops them) and not them directly; and they
//! get SIGTERM from the kernel should the farm die without stopping them.

use std::ffi::OsString;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::sibling::NotFound;

/// How often a wait looks again.
pub const POLL: Duration = Duration::from_millis(50);

/// A service that could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The program is neither beside `ccfarm` nor on `PATH`.
    #[error("{0} (the farm runs ccfarmd and ccfarm-scheduler)")]
    Missing(#[from] NotFound),
    /// Its log file could not be made.
    #[error("cannot create the log file {path}: {source}")]
    Log {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The program did not start.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Bind `addr` (port 0: any free port) to learn that it is free, and which port it is.
/// Another process may take the port between its release and the service binding it;
/// the service then fails to start and says so in its log.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
}

/// The name prefix of a farm's directory: its process id, so that a later farm can
/// tell the directory of one that was killed (SIGKILL leaves it behind) from one that
/// still runs.
pub fn farm_dir_prefix(pid: u32) -> String {
    format!("ccfarm-farm-{pid}-")
}

/// Remove the directories (logs, credentials) of farms under `tmp` that are gone.
pub fn sweep_farm_dirs(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("ccfarm-farm-"))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new(&format!("/proc/{pid}")).exists();
        if !alive && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// One running service.
pub struct Service {
    /// Its name in the farm's messages: `scheduler`, `server1`, ...
    pub name: String,
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Service {
    /// Start `program ARGS` in `dir`, its output (stdout and stderr) in `dir/NAME.log`.
    pub fn start(
        name: &str,
        program: &Path,
        args: &[OsString],
        dir: &Path,
    ) -> Result<Service, ServiceError> {
        let log = dir.join(format!("{name}.log"));
        let open = || {
            File::create(&log).map_err(|source| ServiceError::Log {
                path: log.clone(),
                source,
            })
        };
        let (out, err) = (open()?, open()?);
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        die_with_parent(&mut command);
        let child = command.spawn().map_err(|source| ServiceError::Spawn {
            program: program.to_owned(),
            source,
        })?;
        Ok(Service {
            name: name.to_owned(),
            child,
            log,
            status: None,
        })
    }

    /// Its exit status, once it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// The last `lines` lines of its log, for an error message.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let tail = all[all.len().saturating_sub(lines)..].join("\n");
        if tail.is_empty() {
            format!("{} (its log {} is empty)", self.name, self.log.display())
        } else {
            format!("{} (end of {}):\n{tail}", self.name, self.log.display())
        }
    }

    fn signal(&mut self, signal: Signal) {
        if self.exited().is_none()
            && let Ok(pid) = i32::try_from(self.child.id())
        {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }
}

impl Drop for Service {
    /// The last resort (a panic): nothing the farm started outlives it.
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Stop every service: SIGTERM, so that each finishes as it would at a shutdown (a
/// server kills its compilers and removes their job directories), then SIGKILL to those
/// still running after `within`. Returns once all have exited.
pub fn stop_all(services: &mut [Service], within: Duration) {
    for service in services.iter_mut() {
        service.signal(Signal::SIGTERM);
    }
    let deadline = Instant::now() + within;
    while Instant::now() < deadline && services.iter_mut().any(|s| s.exited().is_none()) {
        std::thread::sleep(POLL);
    }
    for service in services.iter_mut() {
        if service.exited().is_none() {
            eprintln!(
                "ccfarm farm: {} did not stop within {}s of SIGTERM; killing it",
                service.name,
                within.as_secs()
            );
            let _ = service.child.kill();
            service.status = service.child.wait().ok();
        }
    }
}

/// Have the kernel send the child SIGTERM when the farm dies, even by SIGKILL.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe system calls (prctl, getppid), allocating nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
            // The farm died between fork and prctl: there is no one to stop us.
            if u32::try_from(nix::unistd::getppid().as_raw()).ok() != Some(parent) {
                return Err(std::io::Error::other("ccfarm farm is gone"));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_directories_of_farms_that_are_gone_are_swept() {
        let tmp = tempfile::tempdir().unwrap();
        // No process has pid u32::MAX; this test's process is alive.
        let gone = tmp.path().join(format!("{}abc", farm_dir_prefix(u32::MAX)));
        let alive = tmp
            .path()
            .join(format!("{}abc", farm_dir_prefix(std::process::id())));
        let other = tmp.path().join("ccfarm-farm-credentials-xyz");
        for dir in [&gone, &alive, &other] {
            std::fs::create_dir(dir).unwrap();
            std::fs::write(dir.join("scheduler.log"), "x").unwrap();
        }
        sweep_farm_dirs(tmp.path());
        assert!(!gone.exists());
        assert!(alive.exists() && other.exists());
    }

    #[test]
    fn a_service_logs_to_its_file_and_stops_on_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<OsString> = ["-c", "echo started; exec sleep 30"]
            .iter()
            .map(OsString::from)
            .collect();
        let mut services =
            vec![Service::start("sleeper", Path::new("/bin/sh"), &args, dir.path()).unwrap()];
        let start = Instant::now();
        while !services[0].log_tail(5).contains("started") {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no output logged"
            );
            std::thread::sleep(POLL);
        }
        assert!(services[0].exited().is_none());
        stop_all(&mut services, Duration::from_secs(5));
        let status = services[0].exited().expect("stopped");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
