//! Real storage services for the shared cache's tests: `redis-server` and a WebDAV
//! server (`rclone serve webdav`), each on a free loopback port, stopped when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::{require, spawn_listening};

/// A running `redis-server` with no persistence.
pub struct Redis {
    port: u16,
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl Redis {
    /// Start one, keeping its files (none are written) under `dir`.
    pub fn start(dir: &Path) -> Redis {
        require("redis-server");
        let (port, child) = spawn_listening(|port| redis_command(port, dir));
        Redis {
            port,
            child: Some(child),
            dir: dir.to_owned(),
        }
    }

    /// Its URL for `--cache`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kill it (SIGKILL: a store that dies, not one that shuts down politely).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again, empty, on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let mut child = redis_command(self.port, &self.dir).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "redis-server did not restart on port {}",
                self.port
            );
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// Run `redis-cli` against it with `args`; its stdout.
    pub fn cli(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "redis-cli {args:?} failed");
        out.stdout
    }
}

fn redis_command(port: u16, dir: &Path) -> Command {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running WebDAV server over a directory.
pub struct WebDav {
    port: u16,
    child: Child,
}

impl WebDav {
    /// Serve `dir` over WebDAV, with `user`/`password` required.
    pub fn start(dir: &Path, user: &str, password: &str) -> WebDav {
        require("rclone");
        // A port that accepts is not proof that rclone listens there: two stores started
        // at once by parallel tests can be handed the same free port, and the one that
        // lost the bind exits while the other answers. So it must answer HTTP as well.
        for _attempt in 0..5 {
            let (port, mut child) = spawn_listening(|port| {
                let mut command = Command::new("rclone");
                command
                    .args(["serve", "webdav"])
                    .arg(dir)
                    .args(["--addr", &format!("127.0.0.1:{port}")])
                    .args(["--user", user, "--pass", password])
                    .args(["--config", "/dev/null"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                command
            });
            if answers_http(port) && child.try_wait().unwrap().is_none() {
                return WebDav { port, child };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("rclone never served WebDAV on a port of its own in five tries");
    }

    /// Its URL for `--cache`, with the credentials.
    pub fn url(&self, user: &str, password: &str, path: &str) -> String {
        format!(
            "webdav+http://{user}:{password}@127.0.0.1:{}{path}",
            self.port
        )
    }
}

/// Whether something on `port` answers a plain HTTP request with an HTTP status line
/// within a few seconds.
fn answers_http(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    if stream
        .write_all(b"OPTIONS / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

impl Drop for WebDav {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
