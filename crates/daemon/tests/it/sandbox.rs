//! The compile sandbox: a compile cannot read files outside its toolchain and job
//! directory (Landlock by default, bubblewrap when asked), ordinary compiles are
//! byte-identical to local ones, and the resource limits stop runaway jobs.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccfarm_daemon::job::{self, CompilerExit, JobSpec};
use ccfarm_daemon::sandbox::{Mode, ProcessCap, ResourceLimits, Sandbox, SandboxSettings};
use ccfarm_testkit::*;

/// Whether bubblewrap is installed; when it is not, say so loudly (the test then
/// covers Landlock only). `.ci/setup` installs it.
fn have_bwrap() -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", "command -v bwrap"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!(
            "\n*** SKIPPING the bubblewrap half of this test: `bwrap` is not installed \
             (apt-get install -y bubblewrap, or run .ci/setup) ***\n"
        );
    }
    found
}

/// The sandboxes to test a ccfarmd in: its defaults, and bubblewrap when present.
fn server_flags() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut flags = vec![("default", vec![])];
    if have_bwrap() {
        flags.push(("bwrap", vec!["--sandbox", "bwrap"]));
    }
    flags
}

fn incbin(path: &Path) -> String {
    format!(
        "asm(\".section .rodata\\n.incbin \\\"{}\\\"\\n.previous\");\nint answer(void) {{ return 42; }}\n",
        path.display()
    )
}

#[test]
fn a_compile_cannot_read_files_outside_its_toolchain_and_job() {
    let scratch = Scratch::new();
    // A file of the client's own, outside the server's toolchain and job directory,
    // with bytes that cannot occur by chance.
    let secret_bytes = format!("secret-{}-{:?}", std::process::id(), Instant::now());
    let secret = scratch.write("secret.txt", &secret_bytes);
    scratch.write("shadow.c", incbin(Path::new("/etc/shadow")));
    scratch.write("mine.c", incbin(&secret));
    // The sources are valid: unconfined, gcc embeds the file.
    let local = run(&scratch, "gcc", &["-c", "mine.c", "-o", "local.o"]);
    assert!(local.status.success(), "{local:?}");
    assert!(
        contains(&scratch.read("local.o"), secret_bytes.as_bytes()),
        "the local object should embed the file"
    );

    for (name, flags) in server_flags() {
        let server = Server::start(&flags);
        let status = server.status();
        let sandbox = status["sandbox"].as_str().unwrap_or_default().to_owned();
        let expected = if name == "bwrap" { "bwrap" } else { "landlock" };
        assert!(
            sandbox.starts_with(expected),
            "{name}: sandbox in force is {sandbox:?}"
        );
        for (source, object) in [("shadow.c", "shadow.o"), ("mine.c", "mine.o")] {
            let out = distcc(&scratch, &server.host(""))
                .args(["gcc", "-c", source, "-o", object])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success(),
                "{name}: {source} compiled in the sandbox: {stderr}"
            );
            // The assembler's own complaint, as with a missing file locally: a
            // compile error, not a server failure.
            assert!(
                stderr.contains("Error: file not found"),
                "{name}: {source}: {stderr}"
            );
            assert_eq!(out.status.code(), Some(1), "{name}: {source}: {stderr}");
            let leaked = std::fs::read(scratch.path().join(object)).unwrap_or_default();
            assert!(
                !contains(&leaked, secret_bytes.as_bytes()),
                "{name}: the object holds the file's bytes"
            );
        }
        assert!(
            server.log().contains("COMPILE_ERROR"),
            "{name}: {}",
            server.log()
        );
        server.assert_no_leftovers();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

const UNITS: [(&str, &str, &str); 3] = [
    (
        "gcc",
        "math.c",
        "#include <math.h>\n#include <stdio.h>\ndouble hyp(double a, double b) { return sqrt(a*a + b*b); }\nvoid show(double x) { printf(\"%g\\n\", x); }\n",
    ),
    (
        "gcc",
        "list.c",
        "#include <stdlib.h>\n#include <string.h>\nstruct node { struct node *next; char name[16]; };\nstruct node *push(struct node *h, const char *s) { struct node *n = calloc(1, sizeof *n); strncpy(n->name, s, 15); n->next = h; return n; }\n",
    ),
    (
        "g++",
        "words.cpp",
        "#include <map>\n#include <string>\n#include <sstream>\nstd::map<std::string, int> count(const std::string &t) { std::map<std::string, int> m; std::istringstream in(t); std::string w; while (in >> w) ++m[w]; return m; }\n",
    ),
];

#[test]
fn sandboxed_compiles_are_byte_identical_to_local_ones() {
    let scratch = Scratch::new();
    for (compiler, source, text) in UNITS {
        scratch.write(source, text);
        let local = run(
            &scratch,
            compiler,
            &["-O2", "-c", source, "-o", &format!("{source}.local.o")],
        );
        assert!(local.status.success(), "{local:?}");
    }
    for (name, flags) in server_flags() {
        let server = Server::start(&flags);
        for (compiler, source, _) in UNITS {
            for opts in ["", ",lzo"] {
                let object = format!("{source}.{name}.o");
                distcc_ok(
                    &scratch,
                    &server.host(opts),
                    &[compiler, "-O2", "-c", source, "-o", &object],
                );
                assert_eq!(
                    scratch.read(&object),
                    scratch.read(&format!("{source}.local.o")),
                    "{name}{opts}: {source} differs from the local object"
                );
            }
        }
        server.assert_no_leftovers();
    }
}

#[test]
fn without_a_sandbox_the_server_says_so() {
    let server = Server::start(&["--sandbox", "off"]);
    assert!(
        server.wait_for_log("compiles are NOT confined", Duration::from_secs(5)),
        "{}",
        server.log()
    );
    let sandbox = server.status()["sandbox"].as_str().unwrap().to_owned();
    assert!(sandbox.starts_with("none: "), "{sandbox}");
}

/// A job running `script` under `sandbox`, with its job directory in `dir`.
fn shell_job(dir: &Path, script: &str, lifetime: Duration, sandbox: Sandbox) -> JobSpec {
    JobSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        cwd: dir.to_owned(),
        job_dir: dir.to_owned(),
        stdout: dir.join("stdout"),
        stderr: dir.join("stderr"),
        lifetime: Some(lifetime),
        grace: Duration::from_millis(200),
        sandbox: Arc::new(sandbox),
    }
}

fn limited(limits: ResourceLimits) -> Sandbox {
    Sandbox::limits_only(&limits, limits.nproc_for(1), "limits under test")
}

#[tokio::test]
async fn a_fork_bomb_is_capped_and_its_processes_go() {
    let limits = ResourceLimits {
        processes: 24,
        process_cap: ProcessCap::Cgroup,
        ..ResourceLimits::default()
    };
    let sandbox = limited(limits);
    if !sandbox.process_cap().contains("pids cgroup") {
        eprintln!(
            "\n*** SKIPPING the fork bomb test: no per-job process cap here ({}) ***\n",
            sandbox.process_cap()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Every child that gets to run records itself; a marker in its command line lets
    // the test count what is left on the host afterwards. The first child is waited for
    // (with the shell's builtins only, which fork nothing) before the rest are started:
    // at the cap the shell gives up at once and the job's processes are killed with it,
    // and on a loaded machine none of the children might have run by then.
    let marker = format!("3600.{}", std::process::id());
    let child = format!("sh -c 'echo $$ >> started; exec sleep {marker}' 2>/dev/null &");
    let script = format!(
        "{child} while [ ! -s started ]; do :; done; \
         i=1; while [ $i -lt 400 ]; do {child} i=$((i+1)); done; wait"
    );
    let spec = shell_job(dir.path(), &script, Duration::from_secs(4), sandbox);
    let end = job::run(&spec, std::future::pending()).await;
    // At the cap, fork fails and the shell gives up (dash exits 2); unconfined, it
    // would start all 400 and wait until its lifetime ran out.
    assert!(
        matches!(end, CompilerExit::Exited(_) | CompilerExit::TimedOut),
        "{end:?}"
    );
    let started = std::fs::read_to_string(dir.path().join("started"))
        .unwrap_or_default()
        .lines()
        .count();
    assert!(
        (1..24).contains(&started),
        "{started} of 400 children ran under a cap of 24 processes"
    );
    assert!(
        wait_gone(&marker, Duration::from_secs(10)).is_some(),
        "the capped job's processes outlived it: {:?}",
        processes_with(&marker)
    );
}

#[tokio::test]
async fn a_huge_output_is_stopped_at_the_file_size_limit() {
    let limits = ResourceLimits {
        file_size_mb: 1,
        ..ResourceLimits::default()
    };
    let dir = tempfile::tempdir().unwrap();
    // 100 GB of zeros.
    let spec = shell_job(
        dir.path(),
        "exec head -c 100000000000 /dev/zero > big.o",
        Duration::from_secs(60),
        limited(limits),
    );
    let started = Instant::now();
    let end = job::run(&spec, std::future::pending()).await;
    assert!(
        matches!(end, CompilerExit::Exited(status) if status & 0x7f == libc::SIGXFSZ as u32),
        "{end:?}"
    );
    let size = std::fs::metadata(dir.path().join("big.o")).unwrap().len();
    assert!(size <= 1 << 20, "the output grew to {size} bytes");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn a_spinning_compile_is_stopped_at_the_cpu_limit() {
    let limits = ResourceLimits {
        cpu_secs: 1,
        ..ResourceLimits::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = shell_job(
        dir.path(),
        "while :; do :; done",
        Duration::from_secs(60),
        limited(limits),
    );
    let started = Instant::now();
    let end = job::run(&spec, std::future::pending()).await;
    assert!(
        matches!(end, CompilerExit::Exited(status) if status & 0x7f == libc::SIGXCPU as u32),
        "{end:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A sandbox that cannot be set up for a job is the server's failure, not an exit
/// status of the compile.
#[tokio::test]
async fn a_sandbox_that_cannot_be_set_up_is_not_a_compile_result() {
    let mut modes = vec![Mode::Landlock];
    if have_bwrap() {
        modes.push(Mode::Bwrap);
    }
    for mode in modes {
        let trial = tempfile::tempdir().unwrap();
        let settings = SandboxSettings {
            mode,
            ..SandboxSettings::default()
        };
        let sandbox = Sandbox::start(&settings, 1, &["gcc".to_owned()], trial.path()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut spec = shell_job(dir.path(), "exit 1", Duration::from_secs(30), sandbox);
        // A job directory that is gone: neither Landlock nor bwrap can grant it.
        spec.job_dir = dir.path().join("removed");
        let end = job::run(&spec, std::future::pending()).await;
        assert!(
            matches!(end, CompilerExit::SandboxFailed(_)),
            "{mode:?}: {end:?}"
        );
    }
}
