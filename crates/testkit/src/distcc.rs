//! Debian's real distcc, the peer ccfarm must interoperate with: its client with a clean
//! environment, and its server in the foreground on loopback.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{Scratch, free_port, require};

/// A `distcc` (Debian's real client) command with a clean environment: fallback off,
/// backoff off, its own state directory, and the compiler name not rewritten. Its temporary
/// files go to the scratch directory too: a client a test kills leaves its `distcc_*.i`
/// and `distcc_server_stderr_*.txt` behind, and they must go with the scratch directory
/// rather than pile up in the machine's `/tmp`.
pub fn distcc(scratch: &Scratch, hosts: &str) -> Command {
    let state = scratch.path().join(".distcc");
    std::fs::create_dir_all(&state).unwrap();
    let tmp = scratch.path().join(".tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut command = Command::new("distcc");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("DISTCC_") {
            command.env_remove(key);
        }
    }
    command
        .current_dir(scratch.path())
        .env("DISTCC_HOSTS", hosts)
        .env("DISTCC_FALLBACK", "0")
        .env("DISTCC_BACKOFF_PERIOD", "0")
        .env("DISTCC_DIR", &state)
        .env("DISTCC_VERBOSE", "1")
        .env("DISTCC_IO_TIMEOUT", "60")
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null());
    command
}

/// Run a distcc compile, asserting it went remote (distcc logs the host it used).
pub fn distcc_ok(scratch: &Scratch, hosts: &str, args: &[&str]) -> Output {
    let out = distcc(scratch, hosts).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "distcc {args:?} failed: {stderr}");
    assert!(
        stderr.contains("completed ok"),
        "distcc {args:?} did not compile remotely: {stderr}"
    );
    out
}

/// Debian's real `distccd`, in the foreground on loopback. As root it drops to the
/// `distccd` user, so its temporary directory is world-writable and it logs to stderr
/// (captured in a file).
pub struct Distccd {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Distccd {
    pub fn start(extra: &[&str]) -> Distccd {
        require("distccd");
        let dir = tempfile::Builder::new()
            .prefix("distccd-it-")
            .tempdir()
            .unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let log = dir.path().join("distccd.log");
        for _attempt in 0..5 {
            let port = free_port();
            let mut child = Command::new("distccd")
                .args([
                    "--daemon",
                    "--no-detach",
                    "--listen",
                    "127.0.0.1",
                    "--allow",
                    "127.0.0.1",
                ])
                .args([
                    "--port",
                    &port.to_string(),
                    "--log-stderr",
                    "--log-level",
                    "info",
                ])
                .args(extra)
                .env("TMPDIR", &tmp)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait().unwrap() {
                    if status.code() == Some(102) {
                        break;
                    }
                    panic!(
                        "distccd exited with {status}: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Distccd {
                        child,
                        port,
                        log,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start distccd");
    }

    pub fn host(&self, opts: &str) -> String {
        format!("127.0.0.1:{}/4{opts}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Distccd {
    fn drop(&mut self) {
        // distccd preforks workers into its own process group (even with --no-detach);
        // SIGTERM to the group stops them all, SIGKILL of the parent alone would not.
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
