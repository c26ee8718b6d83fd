//! `ccfarm ca`: an authority, one credential per role, revocation, and the mistakes an
//! operator makes, through the real binary.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{CCFARM, clean_env};

/// `ccfarm ca ARGS...` run in `dir`, with `HOME` there and `CCFARM_CA` at `dir/ca`.
fn ca(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(CCFARM);
    clean_env(&mut command);
    command
        .arg("ca")
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("CCFARM_CA", dir.join("ca"))
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = ca(dir, args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout}{stderr}");
    stdout
}

fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let out = ca(dir, args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stdout}{stderr}");
    stderr
}

#[test]
fn an_operator_issues_shows_and_revokes_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    let usage = ok(dir, &[]);
    assert!(usage.contains("ccfarm ca issue ROLE NAME"), "{usage}");
    assert_eq!(ok(dir, &["--help"]), usage);

    let init = ok(dir, &["init", "--farm", "lab"]);
    assert!(
        init.contains("ca-key.pem") && init.contains("next:"),
        "{init}"
    );
    let mode = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&dir.join("ca/ca-key.pem")), 0o600);
    let again = fails(dir, &["init"], 1);
    assert!(
        again.contains("already") && again.contains("--ca NEW_DIR"),
        "{again}"
    );

    let mut serials = Vec::new();
    for (role, name) in [
        ("scheduler", "sched"),
        ("server", "build7"),
        ("user", "alice"),
        ("admin", "ops"),
    ] {
        let issued = ok(dir, &["issue", role, name]);
        let out = dir.join(format!("{role}-{name}"));
        assert!(
            issued.contains(&format!("wrote {role}-{name}/")),
            "{issued}"
        );
        assert!(issued.contains("next:"), "{issued}");
        assert_eq!(mode(&out.join("key.pem")), 0o600);
        let serial = issued
            .split("serial ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap()
            .to_owned();
        let shown = ok(dir, &["show", out.to_str().unwrap()]);
        assert!(shown.contains(&format!("{role} \"{name}\"")), "{shown}");
        assert!(
            shown.contains(&serial) && shown.contains("ok: usable"),
            "{shown}"
        );
        serials.push(serial);
    }
    let shown = ok(dir, &["show", "scheduler-sched"]);
    assert!(shown.contains("localhost, 127.0.0.1, ::1"), "{shown}");
    let refused = fails(dir, &["issue", "user", "alice"], 1);
    assert!(
        refused.contains("not empty") && refused.contains("--out"),
        "{refused}"
    );

    let listed = ok(dir, &["list"]);
    assert_eq!(listed.lines().count(), 5, "{listed}");
    assert!(!listed.contains("revoked"), "{listed}");

    // Revoke the server's certificate; `show` finds out from the authority, then from
    // the revocation list copied into the credential directory alone.
    let revoked = ok(dir, &["revoke", "server-build7/cert.pem"]);
    assert!(
        revoked.contains(&serials[1]) && revoked.contains("server \"build7\""),
        "{revoked}"
    );
    assert!(
        revoked.contains("crl.pem") && revoked.contains("SIGHUP"),
        "{revoked}"
    );
    let listed = ok(dir, &["list"]);
    let line = listed.lines().find(|l| l.starts_with(&serials[1])).unwrap();
    assert!(line.contains("revoked"), "{listed}");
    let why = fails(dir, &["show", "server-build7"], 1);
    assert!(why.contains("revoked"), "{why}");
    std::fs::copy(dir.join("ca/crl.pem"), dir.join("server-build7/crl.pem")).unwrap();
    let other = tmp.path().join("elsewhere");
    std::fs::create_dir(&other).unwrap();
    let mut command = Command::new(CCFARM);
    clean_env(&mut command);
    let out = command
        .args(["ca", "show"])
        .arg(dir.join("server-build7"))
        .env("HOME", &other)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("revoked"), "{stderr}");
    let shown = ok(dir, &["show", "user-alice", "--ca", "ca"]);
    // Issued before the revocation: its crl.pem is missing the new list.
    assert!(
        shown.contains("user-alice/crl.pem is not the authority's current list"),
        "{shown}"
    );
    // The others are still fine, and a revocation by serial works too.
    ok(dir, &["show", "user-alice"]);
    let by_serial = ok(dir, &["revoke", "--serial", &serials[2]]);
    assert!(by_serial.contains("user \"alice\""), "{by_serial}");

    // A credential from another authority is refused when checked against this one.
    ok(dir, &["init", "--ca", "other-ca"]);
    ok(dir, &["issue", "user", "eve", "--ca", "other-ca"]);
    let foreign = fails(dir, &["show", "user-eve", "--ca", "ca"], 1);
    assert!(foreign.contains("another authority"), "{foreign}");
}

#[test]
fn mistakes_exit_2_and_say_what_is_expected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bad_role = fails(dir, &["issue", "root", "bob"], 2);
    assert!(bad_role.contains("unknown role"), "{bad_role}");
    let bad_name = fails(dir, &["issue", "user", "bob smith"], 2);
    assert!(bad_name.contains("invalid name"), "{bad_name}");
    let bad_flag = fails(dir, &["list", "--farm", "x"], 2);
    assert!(bad_flag.contains("--farm"), "{bad_flag}");
    fails(dir, &["frobnicate"], 2);
    // Right command line, no authority yet: a failure that says how to make one.
    let missing = fails(dir, &["issue", "user", "bob"], 1);
    assert!(missing.contains("ccfarm ca init"), "{missing}");
    assert!(!dir.join("user-bob").exists());
    let missing = fails(dir, &["show", "nowhere"], 1);
    assert!(
        missing.contains("cert.pem") || missing.contains("ca.pem"),
        "{missing}"
    );
}
