//! What the user sees: compile errors exactly as local gcc prints them, with the same
//! exit status and no host put in backoff; dependency files where local gcc puts them.

use ccfarm_testkit::*;

use crate::common::*;

#[test]
fn syntax_error_is_reported_as_local_gcc_reports_it() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write("bad.c", "int main(void) {\n  int x = 1\n  return x;\n}\n");
    let local = run(&scratch, "gcc", &["-c", "bad.c", "-o", "bad.o"]);
    assert!(!local.status.success());
    for opts in ["", ",lzo"] {
        let out = ccfarm(&scratch, &server.host(opts))
            .args(["gcc", "-c", "bad.c", "-o", "bad.o"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), local.status.code());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&local.stderr),
            "stderr differs"
        );
        assert!(!scratch.path().join("bad.o").exists());
    }
    // The compile was tried remotely, failed there as a compile error, and the host
    // was not blamed.
    assert_eq!(server.status()["results"]["compile_error"], 2);
    let backoff = scratch.path().join(".ccfarm/backoff");
    let entries: Vec<_> = std::fs::read_dir(&backoff)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        entries.is_empty(),
        "a compile error backed a host off: {entries:?}"
    );
    // The next compile goes remote at once.
    scratch.write("good.c", "int good(void) { return 1; }\n");
    ccfarm_ok(
        &scratch,
        &server.host(""),
        &["gcc", "-c", "good.c", "-o", "good.o"],
    );
}

#[test]
fn dependency_file_lands_where_local_gcc_puts_it() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write("src/x.c", "#include \"x.h\"\nint x(void) { return X; }\n");
    scratch.write("src/x.h", "#define X 3\n");
    std::fs::create_dir_all(scratch.path().join("obj")).unwrap();
    std::fs::create_dir_all(scratch.path().join("ref")).unwrap();
    assert!(
        run(&scratch, "gcc", &["-MD", "-c", "src/x.c", "-o", "ref/x.o"])
            .status
            .success()
    );
    let local_d = String::from_utf8(scratch.read("ref/x.d")).unwrap();
    ccfarm_ok(
        &scratch,
        &server.host(""),
        &["gcc", "-MD", "-c", "src/x.c", "-o", "obj/x.o"],
    );
    let dotd = String::from_utf8(scratch.read("obj/x.d")).unwrap();
    assert!(dotd.starts_with("obj/x.o:"), "{dotd}");
    assert_eq!(
        dotd,
        local_d.replace("ref/x.o", "obj/x.o"),
        "the .d differs from local gcc's"
    );
    assert!(
        !scratch.path().join("x.d").exists(),
        "distcc's bug: ./x.d written"
    );
    assert_eq!(scratch.read("obj/x.o"), scratch.read("ref/x.o"));
}

/// A server that refuses the job says why; with fallback off the job fails there, and
/// the user reads the server's reason on stderr even when the log goes to a file, as
/// with distcc.
#[test]
fn a_refused_strict_job_shows_the_servers_reason() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write("ok.c", "int ok(void) { return 1; }\n");
    // A compiler the client can run that the server does not allow.
    let bin = scratch.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let gcc = String::from_utf8(run(&scratch, "sh", &["-c", "command -v gcc"]).stdout).unwrap();
    std::os::unix::fs::symlink(gcc.trim(), bin.join("farmgcc")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = ccfarm(&scratch, &server.host(""))
        .env("PATH", &path)
        .args(["farmgcc", "-c", "ok.c", "-o", "ok.o"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!scratch.path().join("ok.o").exists());
    assert!(
        stderr.contains("ccfarmd: ") && stderr.contains("farmgcc") && stderr.contains("allow"),
        "the server's reason is not on stderr: {stderr:?}\nlog: {}",
        client_log(&scratch)
    );
    assert!(
        server.wait_for_log("refused_compiler", std::time::Duration::from_secs(5)),
        "the server did not refuse the compiler"
    );
}

/// A switch whose first fall-through is marked by a comment (which gcc's
/// `-Wimplicit-fallthrough` accepts) and whose second is not (which it reports).
const FALLS_THROUGH: &str = "int f(int c) {\n  int r = 0;\n  switch (c) {\n  case 1:\n    r += 1;\n    /* FALLTHROUGH */\n  case 2:\n    r += 2;\n  case 3:\n    r += 3;\n    break;\n  }\n  return r;\n}\n";

/// The diagnostics themselves, without the source lines gcc quotes under them (a
/// server has only the preprocessed text and quotes none).
fn diagnostics(stderr: &str) -> Vec<&str> {
    let quoted = |l: &str| {
        let gutter = l.split('|').next().unwrap_or_default().trim();
        l.contains('|') && (gutter.is_empty() || gutter.parse::<u32>().is_ok())
    };
    stderr.lines().filter(|l| !quoted(l)).collect()
}

#[test]
fn fall_through_comments_reach_the_server_so_its_warnings_are_the_local_ones() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write("ft.c", FALLS_THROUGH);
    for flags in [
        &["-O2", "-Wall", "-Wextra"][..],
        &[
            "-O2",
            "-Wimplicit-fallthrough=3",
            "-g",
            "-gno-record-gcc-switches",
        ][..],
    ] {
        let args: Vec<&str> = flags.iter().copied().chain(["-c", "ft.c"]).collect();
        let local = run(&scratch, "gcc", &[&args[..], &["-o", "local.o"]].concat());
        assert!(local.status.success());
        let warned = String::from_utf8_lossy(&local.stderr).into_owned();
        assert_eq!(
            warned.matches("[-Wimplicit-fallthrough=]").count(),
            1,
            "{warned}"
        );
        for opts in ["", ",lzo"] {
            let out = ccfarm_ok(
                &scratch,
                &server.host(opts),
                &[&["gcc"][..], &args[..], &["-o", "ft.o"]].concat(),
            );
            assert_eq!(
                diagnostics(&String::from_utf8_lossy(&out.stderr)),
                diagnostics(&warned),
                "{flags:?}"
            );
            assert!(
                scratch.read("ft.o") == scratch.read("local.o"),
                "{flags:?}: the object differs from the local one"
            );
        }
    }
    // Made an error, the marked fall-through still passes and the other still fails,
    // as here; the host is not blamed.
    scratch.write(
        "marked.c",
        FALLS_THROUGH.replace("  case 3:\n", "    /* fall through */\n  case 3:\n"),
    );
    let strict = [
        "gcc",
        "-O2",
        "-Werror=implicit-fallthrough",
        "-c",
        "marked.c",
        "-o",
        "marked.o",
    ];
    ccfarm_ok(&scratch, &server.host(""), &strict);
    let out = ccfarm(&scratch, &server.host(""))
        .args([
            "gcc",
            "-O2",
            "-Werror=implicit-fallthrough",
            "-c",
            "ft.c",
            "-o",
            "ft.o",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(server.status()["results"]["compile_error"], 1);
}

#[test]
fn with_switches_recorded_in_debug_information_a_fall_through_warning_keeps_the_job_here() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write("ft.c", FALLS_THROUGH);
    let out = ccfarm(&scratch, &server.host(""))
        .args(["gcc", "-g", "-O2", "-Wextra", "-c", "ft.c", "-o", "ft.o"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let local = run(
        &scratch,
        "gcc",
        &["-g", "-O2", "-Wextra", "-c", "ft.c", "-o", "local.o"],
    );
    assert_eq!(out.stderr, local.stderr);
    assert!(scratch.read("ft.o") == scratch.read("local.o"));
    let log = client_log(&scratch);
    assert!(
        log.contains("add -gno-record-gcc-switches to distribute"),
        "no reason given:\n{log}"
    );
    assert_eq!(server.status()["results"]["compile_ok"], 0, "{log}");
}
