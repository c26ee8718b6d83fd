//! What the compile sandbox adds to every job, measured on the job runner itself
//! (no network, no client): `job::run` of a program through each mechanism, the
//! mechanisms interleaved round by round so that a change in the machine's load
//! affects them alike.
//!
//! cargo run --release -p ccfarm-daemon --example sandbox_cost -- [ROUNDS]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ccfarm_daemon::job::{self, CompilerExit, JobSpec};
use ccfarm_daemon::sandbox::{Mode, ProcessCap, ResourceLimits, Sandbox, SandboxSettings};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let work = tempfile::tempdir().expect("a scratch directory");
    std::fs::write(
        work.path().join("t.c"),
        "int answer(int x) { return x * 6 + 7; }\n",
    )
    .expect("the source");
    let start = |mode, process_cap| {
        let settings = SandboxSettings {
            mode,
            limits: ResourceLimits {
                process_cap,
                ..ResourceLimits::default()
            },
            ..SandboxSettings::default()
        };
        Arc::new(
            Sandbox::start(&settings, 4, &["gcc".to_owned()], work.path())
                .unwrap_or_else(|e| panic!("{mode:?}: {e}")),
        )
    };
    // Every row but the first has the four resource limits; "+ cgroup" rows also
    // put each job in its own pids cgroup (the default when running as root).
    let sandboxes: Vec<(&str, Arc<Sandbox>)> = vec![
        ("nothing", Arc::new(Sandbox::off())),
        ("rlimits", start(Mode::Off, ProcessCap::Rlimit)),
        ("rlimits + cgroup", start(Mode::Off, ProcessCap::Cgroup)),
        ("landlock", start(Mode::Landlock, ProcessCap::Rlimit)),
        (
            "landlock + cgroup",
            start(Mode::Landlock, ProcessCap::Cgroup),
        ),
        ("bwrap", start(Mode::Bwrap, ProcessCap::Rlimit)),
        ("bwrap + cgroup", start(Mode::Bwrap, ProcessCap::Cgroup)),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    for (name, sandbox) in &sandboxes {
        println!(
            "{name}: {}; processes: {}",
            sandbox.description(),
            sandbox.process_cap()
        );
    }
    println!("rounds: {rounds}; load average before: {}", load().trim());
    for (what, program, args) in [
        ("/bin/true", "/bin/true", vec![]),
        ("gcc -c t.c", "gcc", vec!["-c", "t.c", "-o", "t.o"]),
    ] {
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); sandboxes.len()];
        for round in 0..rounds {
            for k in 0..sandboxes.len() {
                let i = (round + k) % sandboxes.len();
                let job = tempfile::tempdir_in(work.path()).expect("a job directory");
                std::fs::copy(work.path().join("t.c"), job.path().join("t.c")).expect("copy");
                let spec = JobSpec {
                    program: program.to_owned(),
                    args: args.iter().map(|a| a.to_string()).collect(),
                    cwd: job.path().to_owned(),
                    job_dir: job.path().to_owned(),
                    stdout: job.path().join("stdout"),
                    stderr: job.path().join("stderr"),
                    lifetime: Some(Duration::from_secs(60)),
                    grace: Duration::from_millis(100),
                    sandbox: sandboxes[i].1.clone(),
                };
                let started = Instant::now();
                let end = runtime.block_on(job::run(&spec, std::future::pending()));
                times[i].push(started.elapsed());
                assert!(
                    matches!(end, CompilerExit::Exited(0)),
                    "{}: {end:?}",
                    sandboxes[i].0
                );
            }
        }
        println!("\n{what}:");
        println!(
            "{:<18} {:>9} {:>10} {:>9} {:>16}",
            "mechanism", "mean ms", "median ms", "p90 ms", "vs nothing (median)"
        );
        let median = |t: &mut Vec<Duration>| {
            t.sort();
            t[t.len() / 2]
        };
        let base = median(&mut times[0].clone());
        for (i, (name, _)) in sandboxes.iter().enumerate() {
            let t = &mut times[i];
            let mean = t.iter().sum::<Duration>() / t.len() as u32;
            let med = median(t);
            let p90 = t[t.len() * 9 / 10];
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            println!(
                "{name:<18} {:>9.2} {:>10.2} {:>9.2} {:>+16.2}",
                ms(mean),
                ms(med),
                ms(p90),
                ms(med) - ms(base)
            );
        }
    }
    println!("\nload average after: {}", load().trim());
}
