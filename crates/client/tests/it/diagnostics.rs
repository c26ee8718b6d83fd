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
