//! Test support shared by ccfarm's integration tests: real `ccfarmd` processes on
//! loopback, real Debian `distcc` clients, real gcc. Each test gets its own
//! directory, port, job directory and log.
#![allow(missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod distcc;
pub mod stores;

pub use distcc::{Distccd, distcc, distcc_ok};

/// The workspace's build directory (`target/debug`), found from the running test binary
/// (`target/debug/deps/NAME-HASH`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary under target/<profile>/deps")
        .to_owned()
}

/// The binary `bin` of workspace package `package`, built once per test process and
/// binary: cargo builds only the binaries of the package under test, and a test may
/// need another's (into the same target directory, so a no-op once the workspace is
/// built).
fn built(package: &str, bin: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == bin) {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", package, "--bin", bin])
            .env("CARGO_TARGET_DIR", bin_dir().parent().unwrap())
            .status()
            .expect("run cargo");
        assert!(status.success(), "building {bin} failed");
        built.push(bin.to_owned());
    }
    bin_dir().join(bin)
}

/// The `ccfarmd` binary (see [`built`]).
pub fn ccfarmd() -> PathBuf {
    built("ccfarm-daemon", "ccfarmd")
}

/// The `ccfarm-scheduler` binary (see [`built`]).
pub fn ccfarm_scheduler() -> PathBuf {
    built("ccfarm-scheduler", "ccfarm-scheduler")
}

/// The `ccfarm-sim` binary (see [`built`]).
pub fn ccfarm_sim() -> PathBuf {
    built("ccfarm-placement", "ccfarm-sim")
}

/// Fail loudly (not skip) when a peer the suite depends on is missing.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "`{tool}` is not installed; run .ci/setup (apt-get install -y distcc gcc g++)"
    );
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scratch directory for one test.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch::new()
    }
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::Builder::new()
                .prefix("ccfarm-it-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

/// A running ccfarmd in the foreground, logging to a file, with its own job directory.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub stats_port: u16,
    pub log: PathBuf,
    pub jobs_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with_config(extra, None)
    }

    pub fn start_with_config(extra: &[&str], config: Option<&str>) -> Server {
        Server::start_with_env(extra, config, &[])
    }

    /// [`Server::start_with_config`] with `env` added to ccfarmd's environment.
    pub fn start_with_env(extra: &[&str], config: Option<&str>, env: &[(&str, &str)]) -> Server {
        require("distcc");
        let dir = tempfile::Builder::new()
            .prefix("ccfarmd-it-")
            .tempdir()
            .unwrap();
        let jobs_dir = dir.path().join("jobs");
        std::fs::create_dir(&jobs_dir).unwrap();
        let log = dir.path().join("ccfarmd.log");
        for _attempt in 0..5 {
            let port = free_port();
            let stats_port = free_port();
            let mut command = Command::new(ccfarmd());
            command
                .args([
                    "--no-detach",
                    "--listen",
                    "127.0.0.1",
                    "--log-level",
                    "debug",
                ])
                .args([
                    "--port",
                    &port.to_string(),
                    "--stats",
                    "--stats-port",
                    &stats_port.to_string(),
                ])
                .arg("--log-file")
                .arg(&log)
                .arg("--tmp-dir")
                .arg(&jobs_dir)
                .args(extra)
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            if let Some(config) = config {
                let path = dir.path().join("ccfarmd.toml");
                std::fs::write(&path, config).unwrap();
                command.arg("--config").arg(path);
            }
            let mut child = command.spawn().unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait().unwrap() {
                    let mut err = String::new();
                    child
                        .stderr
                        .take()
                        .unwrap()
                        .read_to_string(&mut err)
                        .unwrap();
                    if status.code() == Some(102) {
                        break; // port taken by someone else: try another
                    }
                    panic!("ccfarmd exited with {status}: {err}");
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Server {
                        child,
                        port,
                        stats_port,
                        log,
                        jobs_dir,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start ccfarmd");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// `DISTCC_HOSTS` for this server.
    pub fn host(&self, opts: &str) -> String {
        format!("127.0.0.1:{}/8{opts}", self.port)
    }

    /// A raw HTTP GET on the stats port; returns the whole response.
    pub fn http_get(&self, path: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.stats_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// The value of one series on `/metrics` (`name{label="value"}`), 0 while absent.
    pub fn metric(&self, series: &str) -> u64 {
        metric_in(&self.http_get("/metrics"), series)
    }

    /// The `/status` document.
    pub fn status(&self) -> serde_json::Value {
        let response = self.http_get("/status");
        let body = response.split("\r\n\r\n").nth(1).expect("HTTP body");
        serde_json::from_str(body).unwrap()
    }

    /// Send raw bytes to the distcc port and read until the server closes.
    pub fn exchange(&self, request: &[u8]) -> Vec<u8> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        // The server may close before reading everything (a refused header);
        // a failed write is then expected.
        let _ = s.write_all(request);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    }

    /// Job directories left behind (there must be none once the server is idle).
    pub fn leftover_job_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.jobs_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    /// Assert the job directory empties (jobs may take a moment to clean up).
    pub fn assert_no_leftovers(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.leftover_job_files().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            self.leftover_job_files(),
            Vec::<PathBuf>::new(),
            "temporary files survived"
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a command in the scratch directory.
pub fn run(scratch: &Scratch, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(scratch.path())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Whether a process runs; a zombie (exited, not yet reaped) counts as gone.
pub fn alive(pid: u32) -> bool {
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

/// Live processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(marker) && alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Wait until no process matches `marker`; returns how long it took.
pub fn wait_gone(marker: &str, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if processes_with(marker).is_empty() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Build `args` with `compiler` in `dir` and return the exit status and stderr.
pub fn compile_in(dir: &Path, compiler: &str, args: &[&str]) -> Output {
    Command::new(compiler)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Every `*.o` under `dir`, relative path → contents.
pub fn objects_under(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if path.extension().is_some_and(|e| e == "o") {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The bundled C projects, under `demo/` at the workspace root.
pub fn demo_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../demo")
        .join(name)
        .canonicalize()
        .unwrap()
}

/// A copy of the demo project `name` at `to` (which must not exist), for a build that
/// may write beside its sources: stock distcc, for one, writes a `-MD` compile's
/// dependency file into the working directory when `-o` points elsewhere.
pub fn copy_demo(name: &str, to: &Path) -> PathBuf {
    let status = Command::new("cp")
        .arg("-r")
        .arg(demo_dir(name))
        .arg(to)
        .status()
        .expect("cp");
    assert!(
        status.success(),
        "cannot copy demo/{name} to {}",
        to.display()
    );
    to.to_owned()
}

/// Build `project` locally with make into `out` (the reference a farm build is compared
/// with), passing `args`; panics with make's stderr when it fails.
pub fn make_locally(project: &Path, out: &Path, args: &[&str]) {
    let result = Command::new("make")
        .arg("-C")
        .arg(project)
        .arg(format!("OUT={}", out.display()))
        .args(args)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "local build: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// Spawn a foreground daemon built by `make(port)` on a free loopback port and wait
/// until it listens, trying another port when it exits with 102 (another test took
/// the port between our check and its bind).
pub fn spawn_listening(make: impl Fn(u16) -> Command) -> (u16, Child) {
    for _attempt in 0..5 {
        let port = free_port();
        let mut child = make(port).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert_eq!(status.code(), Some(102), "the daemon exited with {status}");
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (port, child);
            }
            assert!(
                Instant::now() < deadline,
                "the daemon never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("no free port in five tries");
}

/// The `ccfarm` client binary (see [`built`]).
pub fn ccfarm_client() -> PathBuf {
    built("ccfarm-client", "ccfarm")
}

/// The value of `series` (`name{label="value"}`) in a Prometheus text page, 0 while
/// absent.
pub fn metric_in(page: &str, series: &str) -> u64 {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Every `*.d` file under `dir`, by its path relative to `dir`.
pub fn dependency_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut found = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "d") {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                found.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

/// Assert that the `*.o` files under `farm` are exactly those under `local`, byte for
/// byte; returns how many there are.
pub fn assert_same_objects(local: &Path, farm: &Path) -> usize {
    let local = objects_under(local);
    let farm = objects_under(farm);
    assert_eq!(
        local.keys().collect::<Vec<_>>(),
        farm.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &local {
        assert!(farm[name] == *bytes, "{name} differs from the local build");
    }
    local.len()
}
