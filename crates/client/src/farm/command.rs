//! The command a farm runs, with the farm's address in its environment, and the
//! signals the farm catches to stop it and itself.

use std::path::Path;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use ccfarm_client::exit;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

use super::Ports;
use super::services::POLL;

/// How long a command gets to exit after the farm forwarded a signal to it.
const COMMAND_GRACE: Duration = Duration::from_secs(10);

/// Run the user's command against the farm; its exit status, or 128 + the signal
/// that killed it, as a shell reports it.
pub(super) fn run_command(
    command: &[String],
    ports: &Ports,
    user_credentials: Option<&Path>,
    signals: &Signals,
) -> i32 {
    println!("ccfarm farm: running {}", shell_words(command));
    let mut command_line = std::process::Command::new(&command[0]);
    match user_credentials {
        Some(dir) => command_line.env("CCFARM_CREDENTIALS", dir),
        // A farm without credentials must not be asked over TLS.
        None => command_line.env_remove("CCFARM_CREDENTIALS"),
    };
    let child = command_line
        .args(&command[1..])
        .env("CCFARM_SCHEDULER", ports.listen.to_string())
        .env("CCFARM_SCHEDULER_HTTP", ports.http.to_string())
        // An empty static list: no compile can bypass the scheduler through a host
        // list inherited from the environment or ~/.distcc/hosts.
        .env("CCFARM_HOSTS", "")
        .spawn();
    let mut child = match child {
        Ok(c) => KillOnDrop(c),
        Err(e) => {
            eprintln!("ccfarm farm: cannot run {:?}: {e}", command[0]);
            return 127;
        }
    };
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        if let Some(signal) = signals.pending() {
            // Ctrl-C at a terminal reaches the command too; a SIGTERM sent to the
            // farm alone has to be passed on.
            println!("ccfarm farm: {signal}: passing it on to the command");
            if let Ok(pid) = i32::try_from(child.0.id()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
            }
            break child.wait_within(COMMAND_GRACE, signal);
        }
        std::thread::sleep(POLL);
    };
    match status {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .unwrap_or(exit::GENERAL.into())
        }
        Err(e) => {
            eprintln!("ccfarm farm: waiting for the command: {e}");
            exit::GENERAL.into()
        }
    }
}

/// The command, killed should the farm unwind without having waited for it.
struct KillOnDrop(std::process::Child);

impl KillOnDrop {
    /// Its status once it exits within `grace` of `signal`; killed after that.
    fn wait_within(&mut self, grace: Duration, signal: Signal) -> std::io::Result<ExitStatus> {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(POLL);
        }
        eprintln!(
            "ccfarm farm: the command did not stop within {}s of {signal}; killing it",
            grace.as_secs()
        );
        let _ = self.0.kill();
        self.0.wait()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn shell_words(command: &[String]) -> String {
    command
        .iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The signal caught and not yet handled (0: none).
static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn note_signal(signal: libc::c_int) {
    CAUGHT.store(signal, Ordering::SeqCst);
}

/// SIGTERM and SIGINT, caught from the start, so that one arriving while the farm
/// starts stops it cleanly too rather than killing it with its default action (and
/// leaving its services to the kernel's SIGTERM). A caught signal's handler is reset by
/// `exec`, so the services and the command get them as usual.
pub(super) struct Signals(());

impl Signals {
    #[allow(unsafe_code)]
    pub(super) fn catch() -> nix::Result<Signals> {
        let action = SigAction::new(
            SigHandler::Handler(note_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for signal in [Signal::SIGTERM, Signal::SIGINT] {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            unsafe { sigaction(signal, &action) }?;
        }
        Ok(Signals(()))
    }

    /// A signal that arrived since the last call, if any.
    pub(super) fn pending(&self) -> Option<Signal> {
        Signal::try_from(CAUGHT.swap(0, Ordering::SeqCst)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        assert_eq!(
            shell_words(&args(&["make", "-j8", "CC=ccfarm gcc", "it's"])),
            r"make -j8 'CC=ccfarm gcc' 'it'\''s'"
        );
    }
}
