//! ccfarm as distcc: invoked through a `distcc` symlink, with distcc's options,
//! variables and log lines; and as a masquerading `gcc`.

use std::process::Command;

use ccfarm_testkit::*;

use crate::common::*;

fn link_as(scratch: &Scratch, dir: &str, name: &str) -> std::path::PathBuf {
    let d = scratch.path().join(dir);
    std::fs::create_dir_all(&d).unwrap();
    let link = d.join(name);
    std::os::unix::fs::symlink(CCFARM, &link).unwrap();
    link
}

fn as_distcc(scratch: &Scratch, distcc: &std::path::Path, hosts: &str) -> Command {
    let mut c = Command::new(distcc);
    clean_env(&mut c);
    c.current_dir(scratch.path())
        .env("DISTCC_HOSTS", hosts)
        .env("DISTCC_DIR", scratch.path().join(".distcc"))
        .env("DISTCC_FALLBACK", "0")
        .env("DISTCC_VERBOSE", "1");
    c
}

#[test]
fn distcc_options_and_log_lines() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    let distcc = link_as(&scratch, "bin", "distcc");
    let hosts = format!(
        "localhost/3 127.0.0.1:{}/5,lzo otherhost --randomize",
        server.port
    );

    // distcc's count, without the ssh host ccfarm never sends work to.
    let out = as_distcc(&scratch, &distcc, "localhost/3 a:4000/5,lzo b @c/7,lzo,cpp")
        .arg("-j")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "12");
    let out = as_distcc(&scratch, &distcc, &hosts)
        .arg("--show-hosts")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains(&format!("127.0.0.1:{}/5,lzo", server.port))
            && shown.contains("localhost/3"),
        "{shown}"
    );
    let out = as_distcc(&scratch, &distcc, "")
        .arg("--version")
        .output()
        .unwrap();
    // Laid out as distcc's: scripts and distcc's own suite read these two lines.
    let version = String::from_utf8_lossy(&out.stdout);
    let mut lines = version.lines();
    let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
    assert_eq!(first.len(), 3, "{version}");
    assert_eq!(first[0], "distcc", "{version}");
    assert_eq!(first[1], env!("CARGO_PKG_VERSION"), "{version}");
    assert_eq!(
        lines.next().unwrap(),
        "  (protocols 1 and 2) (default port 3632)",
        "{version}"
    );

    // A host is named in the log as the list spells it, as distcc names it.
    scratch.write("w.c", "int w(void) { return 4; }\n");
    let given = format!("127.0.0.1:{}", server.port);
    let out = as_distcc(&scratch, &distcc, &given)
        .args(["gcc", "-c", "w.c", "-o", "w.o"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("compile w.c on {given} completed ok")),
        "{stderr}"
    );

    scratch.write("v.c", "int v(void) { return 5; }\n");
    let out = as_distcc(&scratch, &distcc, &server.host(",lzo"))
        .args(["gcc", "-c", "v.c", "-o", "v.o"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("distcc[")
            && stderr.contains(&format!(
                "compile v.c on {} completed ok",
                server.host(",lzo")
            )),
        "{stderr}"
    );

    let down = format!("127.0.0.1:{}/1", free_port());
    let out = as_distcc(&scratch, &distcc, &down)
        .env("DISTCC_FALLBACK", "1")
        .args(["gcc", "-c", "v.c", "-o", "v2.o"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("failed to distribute v.c, running locally instead"),
        "{stderr}"
    );

    // distcc's implicit compiler: `distcc -c x.c` compiles with cc.
    let out = as_distcc(&scratch, &distcc, &server.host(""))
        .args(["-c", "v.c", "-o", "v3.o"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(scratch.read("v3.o"), scratch.read("v.o"));
}

#[test]
fn masquerading_as_gcc() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    let gcc = link_as(&scratch, "masq", "gcc");
    scratch.write("m.c", "int m(void) { return 6; }\n");
    assert!(
        run(&scratch, "/usr/bin/gcc", &["-c", "m.c", "-o", "ref.o"])
            .status
            .success()
    );
    let path = format!(
        "{}:{}",
        gcc.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("gcc");
    let out = farm_env(&mut c, &scratch, &server.host(""))
        .current_dir(scratch.path())
        .env("PATH", &path)
        .args(["-c", "m.c", "-o", "m.o"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(scratch.read("m.o"), scratch.read("ref.o"));
    assert_eq!(
        server.status()["results"]["compile_ok"],
        1,
        "the masquerading gcc did not distribute"
    );
    // A link through the masquerade runs the real gcc locally (no recursion).
    let out = Command::new("gcc")
        .current_dir(scratch.path())
        .env("PATH", &path)
        .args(["-shared", "m.o", "-o", "libm.so"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// distcc host-list entries ccfarm reads but does not act on (`+zeroconf`, ssh hosts)
/// are said once, clearly, not dropped in silence; a list with nothing usable says so
/// rather than asking for a variable that is set; `--randomize` shuffles what
/// `--show-hosts` prints, as it shuffles the order compiles try.
#[test]
fn unused_host_entries_are_told_once_and_randomize_shows_shuffled() {
    let scratch = Scratch::new();
    let distcc = link_as(&scratch, "bin", "distcc");
    scratch.write("u.c", "int u(void) { return 6; }\n");
    let compile = || {
        let out = as_distcc(&scratch, &distcc, "+zeroconf @buildbox")
            .env("DISTCC_FALLBACK", "1")
            .args(["gcc", "-c", "u.c", "-o", "u.o"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = compile();
    assert!(
        first.contains("+zeroconf in the host list is ignored")
            && first.contains("ssh hosts in the host list are skipped (@buildbox")
            && first.contains("no usable hosts in $DISTCC_HOSTS"),
        "{first}"
    );
    assert!(!first.contains("set $CCFARM_HOSTS"), "{first}");
    assert!(scratch.path().join("u.o").exists());
    // The next compile of the same build does not say it again.
    let second = compile();
    assert!(
        !second.contains("+zeroconf") && !second.contains("ssh hosts"),
        "{second}"
    );

    let hosts: Vec<String> = (1..=8).map(|i| format!("10.0.0.{i}")).collect();
    let list = format!("--randomize {}", hosts.join(" "));
    let orders: std::collections::HashSet<Vec<String>> = (0..8)
        .map(|_| {
            let out = as_distcc(&scratch, &distcc, &list)
                .arg("--show-hosts")
                .output()
                .unwrap();
            let shown: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| l.split(':').next().unwrap().to_owned())
                .collect();
            let mut sorted = shown.clone();
            sorted.sort();
            assert_eq!(sorted, hosts, "every host shown once");
            shown
        })
        .collect();
    // Eight shuffles of eight hosts all alike would happen once in 40320^7 lists.
    assert!(orders.len() > 1, "--randomize did not shuffle: {orders:?}");
}

/// A mistyped ccfarm command is not run as a compiler that does not exist.
#[test]
fn a_mistyped_command_is_named_not_run() {
    let scratch = Scratch::new();
    let out = ccfarm(&scratch, "").arg("hots").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("did you mean `ccfarm hosts`?"), "{stderr}");
    // A compiler on PATH whose name is near a command still runs as the compiler.
    let out = ccfarm(&scratch, "")
        .args(["cc", "--version"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An already preprocessed source is sent to the server even when this machine has no
/// such compiler, as distcc sends it: only the server compiles it.
#[test]
fn a_preprocessed_source_goes_to_the_server_without_a_compiler_here() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write("p.c", "#define N 7\nint p(void) { return N; }\n");
    let cpp = run(&scratch, "gcc", &["-E", "p.c", "-o", "p.i"]);
    assert!(cpp.status.success());
    let local = run(&scratch, "gcc", &["-c", "p.i", "-o", "local.o"]);
    assert!(local.status.success());
    let nothing = scratch.path().join("empty-path");
    std::fs::create_dir(&nothing).unwrap();
    ccfarm_ok_with(
        &scratch,
        &server.host(""),
        &[("PATH", nothing.to_str().unwrap())],
        &["gcc", "-c", "p.i", "-o", "p.o"],
    );
    assert_eq!(
        std::fs::read(scratch.path().join("p.o")).unwrap(),
        std::fs::read(scratch.path().join("local.o")).unwrap()
    );
    // A source that still needs the preprocessor does need the compiler here.
    let out = ccfarm(&scratch, &server.host(""))
        .env("PATH", &nothing)
        .args(["gcc", "-c", "p.c", "-o", "p2.o"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(client_log(&scratch).contains("compiler not found"));
}
