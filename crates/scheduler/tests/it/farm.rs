//! The test farm: one scheduler on loopback, ccfarmd servers registered with it by name,
//! and builds of demo/strkit whose every compile asks the scheduler (no host list,
//! fallback off unless a test says otherwise).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use ccfarm_testkit::*;

pub const SCHEDULER: &str = env!("CARGO_BIN_EXE_ccfarm-scheduler");

/// A running scheduler with servers registered under their names.
pub struct Farm {
    pub scheduler: Child,
    pub port: u16,
    pub address: String,
    pub http: u16,
    pub servers: Vec<(String, Server)>,
    config: Option<PathBuf>,
    /// `--startup-grace` of the schedulers started from now on (0 unless a test sets it,
    /// so that "compile locally" is answered at once as the tests expect).
    pub startup_grace: f64,
    /// Listening on every address (`--insecure`), for servers in network namespaces.
    open: bool,
    _dir: tempfile::TempDir,
}

impl Farm {
    /// A scheduler with default settings and servers called `names`.
    pub fn start(names: &[&str]) -> Farm {
        Farm::start_with(names, "")
    }

    /// A scheduler with this configuration file's text and servers called `names`.
    pub fn start_with(names: &[&str], config: &str) -> Farm {
        let dir = tempfile::tempdir().unwrap();
        let config_path = (!config.is_empty()).then(|| {
            let path = dir.path().join("scheduler.toml");
            std::fs::write(&path, config).unwrap();
            path
        });
        // A port another test takes before the scheduler binds it makes the scheduler
        // exit 102, and the next attempt takes other ports.
        let http = std::cell::Cell::new(0);
        let (port, scheduler) = spawn_listening(|port| {
            http.set(free_port());
            scheduler_command(port, http.get(), &config_path, 0.0, false)
        });
        let http = http.get();
        let address = format!("127.0.0.1:{port}");
        let mut farm = Farm {
            scheduler,
            port,
            address,
            http,
            servers: Vec::new(),
            config: config_path,
            startup_grace: 0.0,
            open: false,
            _dir: dir,
        };
        for name in names {
            farm.add_server(name);
        }
        farm.wait_for(|s| registered(s) >= names.len(), "the servers to register");
        farm
    }

    /// A scheduler listening on every address (`--insecure`: plaintext from beyond
    /// loopback), for servers in network namespaces of the test's own; no servers yet.
    pub fn start_open(config: &str) -> Farm {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scheduler.toml");
        std::fs::write(&path, config).unwrap();
        let config = Some(path);
        let http = std::cell::Cell::new(0);
        let (port, scheduler) = spawn_listening(|port| {
            http.set(free_port());
            scheduler_command(port, http.get(), &config, 0.0, true)
        });
        let http = http.get();
        Farm {
            scheduler,
            port,
            address: format!("127.0.0.1:{port}"),
            http,
            servers: Vec::new(),
            config,
            startup_grace: 0.0,
            open: true,
            _dir: dir,
        }
    }

    /// Start another ccfarmd registering as `name`.
    pub fn add_server(&mut self, name: &str) {
        self.add_server_with(name, &[]);
    }

    /// Start another ccfarmd registering as `name`, with `extra` flags.
    pub fn add_server_with(&mut self, name: &str, extra: &[&str]) {
        let mut args = vec!["--scheduler", &self.address, "--name", name];
        args.extend_from_slice(extra);
        let server = Server::start(&args);
        self.servers.push((name.to_owned(), server));
    }

    /// The server registered as `name`.
    pub fn server(&self, name: &str) -> &Server {
        &self.servers.iter().find(|(n, _)| n == name).unwrap().1
    }

    /// Kill the scheduler (SIGKILL) and start a new one on the same ports.
    pub fn restart_scheduler(&mut self) {
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut child = scheduler_command(
                self.port,
                self.http,
                &self.config,
                self.startup_grace,
                self.open,
            )
            .spawn()
            .unwrap();
            std::thread::sleep(Duration::from_millis(200));
            match child.try_wait().unwrap() {
                None => {
                    self.scheduler = child;
                    return;
                }
                // The port may linger for a moment; try again.
                Some(_) => assert!(Instant::now() < deadline, "could not restart the scheduler"),
            }
        }
    }

    /// Replace the configuration file with `config` and send the scheduler SIGHUP.
    pub fn reload(&self, config: &str) {
        let path = self.config.as_ref().expect("started with a configuration");
        std::fs::write(path, config).unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.scheduler.id() as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .unwrap();
    }

    /// The scheduler's `/status` document.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.http_get("/status")).unwrap()
    }

    /// GET `path` on the scheduler's HTTP endpoint.
    pub fn http_get(&self, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.http)).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out.split_once("\r\n\r\n").unwrap().1.to_owned()
    }

    /// The status entry of the host called `name`.
    pub fn host(&self, name: &str) -> serde_json::Value {
        let s = self.status();
        s["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no host {name}: {s}"))
    }

    /// Wait (up to 30 s) until `ready` holds for the status document.
    pub fn wait_for(&self, ready: impl Fn(&serde_json::Value) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.status();
            if ready(&s) {
                return;
            }
            assert!(Instant::now() < deadline, "waited 30 s for {what}: {s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The environment that sends every compile through this scheduler.
    pub fn client_env(&self, scratch: &Scratch, dir: &str) -> Vec<(String, String)> {
        let at = |name: &str| scratch.path().join(dir).join(name).display().to_string();
        vec![
            ("CCFARM_HOSTS".into(), String::new()),
            ("CCFARM_SCHEDULER".into(), self.address.clone()),
            ("CCFARM_DIR".into(), at(".ccfarm")),
            ("CCFARM_FALLBACK".into(), "0".into()),
            ("CCFARM_VERBOSE".into(), "1".into()),
            ("CCFARM_LOG_FILE".into(), at("ccfarm.log")),
        ]
    }

    /// Start `make -j16 check` of demo/strkit into `scratch/<dir>` as `user`, every
    /// compile asking this scheduler.
    pub fn spawn_build(&self, scratch: &Scratch, dir: &str, user: &str) -> Child {
        self.spawn_make(scratch, dir, user, &["check"], &[])
    }

    /// Start `make -j16 TARGETS...` of demo/strkit into `scratch/<dir>` as `user`, with
    /// `env` added to the client's environment.
    pub fn spawn_make(
        &self,
        scratch: &Scratch,
        dir: &str,
        user: &str,
        targets: &[&str],
        env: &[(&str, &str)],
    ) -> Child {
        std::fs::create_dir_all(scratch.path().join(dir)).unwrap();
        Command::new("make")
            .arg("-C")
            .arg(demo_dir("strkit"))
            .arg(format!(
                "OUT={}",
                scratch.path().join(dir).join("out").display()
            ))
            .arg(format!("CC={} gcc", ccfarm_client().display()))
            .arg("-j16")
            .args(targets)
            .envs(self.client_env(scratch, dir))
            .env("USER", user)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Build the first `n` objects of demo/strkit into `scratch/<dir>` (fallback off) and
    /// check each against the local build; returns the client's log.
    pub fn build_some(&self, scratch: &Scratch, dir: &str, n: usize) -> String {
        self.build_some_with(scratch, dir, n, &[])
    }

    /// [`Farm::build_some`] with `env` added to the client's environment.
    pub fn build_some_with(
        &self,
        scratch: &Scratch,
        dir: &str,
        n: usize,
        env: &[(&str, &str)],
    ) -> String {
        let targets: Vec<String> = strkit_sources()
            .iter()
            .take(n)
            .map(|stem| format!("{}/out/obj/{stem}.o", scratch.path().join(dir).display()))
            .collect();
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        let out = self
            .spawn_make(scratch, dir, "tester", &targets, env)
            .wait_with_output()
            .unwrap();
        let log = std::fs::read_to_string(scratch.path().join(dir).join("ccfarm.log"))
            .unwrap_or_default();
        assert!(
            out.status.success(),
            "build: {}\n{log}",
            String::from_utf8_lossy(&out.stderr)
        );
        let local = objects_under(&scratch.path().join("local"));
        let farm = objects_under(&scratch.path().join(dir).join("out"));
        assert_eq!(farm.len(), n);
        for (name, bytes) in &farm {
            assert!(local[name] == *bytes, "{name} differs from the local build");
        }
        log
    }
}

/// The stems of demo/strkit's library sources, sorted.
pub fn strkit_sources() -> Vec<String> {
    let mut stems: Vec<String> = std::fs::read_dir(demo_dir("strkit").join("src"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".c").map(str::to_owned)
        })
        .collect();
    stems.sort();
    stems
}

/// Listening sockets the test holds for the schedulers it starts, as a socket unit
/// holds them for systemd: each scheduler started on them serves the same ports, one
/// after another or, during an upgrade, side by side.
pub struct Sockets {
    pub control: std::net::TcpListener,
    pub http: std::net::TcpListener,
    pub proxy: std::net::TcpListener,
    /// Up to five more, for ports the configuration names (the balance ports).
    pub more: Vec<std::net::TcpListener>,
}

impl Sockets {
    pub fn bind() -> Sockets {
        Sockets::bind_more(0)
    }

    /// [`Sockets::bind`] and `n` more: held by the test from the start, no other test can
    /// take a port the configuration names before the scheduler binds it.
    pub fn bind_more(n: usize) -> Sockets {
        assert!(n <= 5, "at most eight sockets in all");
        let bind = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        Sockets {
            control: bind(),
            http: bind(),
            proxy: bind(),
            more: (0..n).map(|_| bind()).collect(),
        }
    }

    pub fn port(listener: &std::net::TcpListener) -> u16 {
        listener.local_addr().unwrap().port()
    }
}

impl Farm {
    /// A farm whose scheduler runs on `sockets` (its distcc proxy on `sockets.proxy`),
    /// with servers called `names`.
    pub fn start_on(sockets: &Sockets, names: &[&str]) -> Farm {
        Farm::start_on_with(sockets, names, "")
    }

    /// [`Farm::start_on`] with `more` added to the configuration (top-level keys).
    pub fn start_on_with(sockets: &Sockets, names: &[&str], more: &str) -> Farm {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scheduler.toml");
        let proxy = Sockets::port(&sockets.proxy);
        std::fs::write(
            &path,
            format!("distcc_proxy = \"127.0.0.1:{proxy}\"\n{more}"),
        )
        .unwrap();
        let port = Sockets::port(&sockets.control);
        let mut farm = Farm {
            scheduler: spawn_on(sockets, &path, 0.0),
            port,
            address: format!("127.0.0.1:{port}"),
            http: Sockets::port(&sockets.http),
            servers: Vec::new(),
            config: Some(path),
            startup_grace: 0.0,
            open: false,
            _dir: dir,
        };
        for name in names {
            farm.add_server(name);
        }
        farm.wait_for(|s| registered(s) >= names.len(), "the servers to register");
        farm
    }

    /// Start another scheduler on `sockets` with this farm's configuration and start-up
    /// grace: the new process of an upgrade.
    pub fn spawn_on(&self, sockets: &Sockets) -> Child {
        spawn_on(sockets, self.config.as_ref().unwrap(), self.startup_grace)
    }
}

/// A scheduler given `sockets` as systemd's socket activation gives them: descriptors
/// 3 onwards, `LISTEN_FDS` their number and `LISTEN_PID` its own pid (set by the shell
/// that then becomes the scheduler). The descriptors are placed between fork and exec,
/// which only `pre_exec` can do.
#[allow(unsafe_code)]
fn spawn_on(sockets: &Sockets, config: &std::path::Path, grace: f64) -> Child {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    // A fixed array: nothing may allocate between fork and exec.
    let mut fds = [-1; 8];
    let all = [&sockets.control, &sockets.http, &sockets.proxy]
        .into_iter()
        .chain(&sockets.more);
    let mut n = 0;
    for (slot, listener) in fds.iter_mut().zip(all) {
        *slot = listener.as_raw_fd();
        n += 1;
    }
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!(
            r#"export LISTEN_PID=$$ LISTEN_FDS={n}; exec "$0" "$@""#
        ))
        .arg(SCHEDULER)
        .args([
            "--listen",
            &format!("127.0.0.1:{}", Sockets::port(&sockets.control)),
            "--http",
            &format!("127.0.0.1:{}", Sockets::port(&sockets.http)),
            "--startup-grace",
            &grace.to_string(),
            "--config",
        ])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
    unsafe {
        c.pre_exec(move || {
            // Out of the way first, so that no descriptor is overwritten before it is
            // copied; dup2 leaves the copies open across exec.
            let mut high = [0; 8];
            for i in 0..n {
                high[i] = libc::fcntl(fds[i], libc::F_DUPFD_CLOEXEC, 100);
                if high[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, fd) in high.iter().enumerate().take(n) {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    c.spawn().unwrap()
}

impl Drop for Farm {
    fn drop(&mut self) {
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
    }
}

fn scheduler_command(
    port: u16,
    http: u16,
    config: &Option<PathBuf>,
    grace: f64,
    open: bool,
) -> Command {
    let mut c = Command::new(SCHEDULER);
    let ip = if open { "0.0.0.0" } else { "127.0.0.1" };
    if open {
        c.arg("--insecure");
    }
    c.args([
        "--listen",
        &format!("{ip}:{port}"),
        "--http",
        &format!("127.0.0.1:{http}"),
        "--startup-grace",
        &grace.to_string(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Some(config) = config {
        c.arg("--config").arg(config);
    }
    c
}

/// Hosts registered and up (or on probation).
pub fn registered(status: &serde_json::Value) -> usize {
    status["hosts"].as_array().map_or(0, |hosts| {
        hosts
            .iter()
            .filter(|h| h["health"] == "Up" || h["health"] == "Probation")
            .count()
    })
}

/// Build demo/strkit locally into `scratch/local`, the reference.
pub fn local_build(scratch: &Scratch) {
    make_locally(&demo_dir("strkit"), &scratch.path().join("local"), &["-j4"]);
}

/// Wait for the farm build into `scratch/<dir>` and check it against the local one;
/// returns the number of objects and the client's log.
pub fn finish_build(scratch: &Scratch, dir: &str, build: Child) -> (usize, String) {
    let out = build.wait_with_output().unwrap();
    let client_log =
        std::fs::read_to_string(scratch.path().join(dir).join("ccfarm.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "farm build: {}\n{client_log}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects = assert_same_objects(
        &scratch.path().join("local"),
        &scratch.path().join(dir).join("out"),
    );
    (objects, client_log)
}

/// One fault scenario's figures, on the `FAULT` line `scripts/faults.sh` collects.
pub fn report_fault(scenario: &str, figures: &str) {
    println!("FAULT {scenario}: {figures}");
}

/// Compiles a server finished successfully.
pub fn compiled(server: &Server) -> u64 {
    server.status()["results"]["compile_ok"]
        .as_u64()
        .unwrap_or(0)
}

/// Wait until `server` has compiled at least `n` jobs.
pub fn wait_compiled(server: &Server, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while compiled(server) < n {
        assert!(Instant::now() < deadline, "the server never got {n} jobs");
        std::thread::sleep(Duration::from_millis(10));
    }
}
