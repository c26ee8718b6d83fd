//! Helpers for driving the `ccfarm` binary.

use std::process::{Command, Output, Stdio};

use ccfarm_testkit::Scratch;

pub const CCFARM: &str = env!("CARGO_BIN_EXE_ccfarm");

/// `ccfarm` with a clean environment: this host list, fallback off, verbose log to a
/// file in the scratch directory, and its own state directory.
pub fn ccfarm(scratch: &Scratch, hosts: &str) -> Command {
    let mut command = Command::new(CCFARM);
    farm_env(&mut command, scratch, hosts)
        .current_dir(scratch.path())
        .stdin(Stdio::null());
    command
}

/// The clean ccfarm environment of [`ccfarm`], for any command that runs ccfarm
/// (make, cmake, a masquerading gcc).
pub fn farm_env<'c>(command: &'c mut Command, scratch: &Scratch, hosts: &str) -> &'c mut Command {
    clean_env(command);
    command
        .env("CCFARM_HOSTS", hosts)
        .env("CCFARM_DIR", scratch.path().join(".ccfarm"))
        .env("CCFARM_FALLBACK", "0")
        .env("CCFARM_VERBOSE", "1")
        .env("CCFARM_LOG_FILE", scratch.path().join("ccfarm.log"))
}

/// Remove every ccfarm and distcc variable inherited from the test's environment.
pub fn clean_env(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("DISTCC_")
            || key_text.starts_with("CCFARM_")
            || key_text.starts_with("_CCFARM")
        {
            command.env_remove(key);
        }
    }
}

/// The client's log.
pub fn client_log(scratch: &Scratch) -> String {
    std::fs::read_to_string(scratch.path().join("ccfarm.log")).unwrap_or_default()
}

/// Run ccfarm and require success with a remote compile logged.
pub fn ccfarm_ok(scratch: &Scratch, hosts: &str, args: &[&str]) -> Output {
    ccfarm_ok_with(scratch, hosts, &[], args)
}

/// [`ccfarm_ok`] with extra environment variables.
pub fn ccfarm_ok_with(
    scratch: &Scratch,
    hosts: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> Output {
    let before = client_log(scratch).matches("completed ok").count();
    let mut command = ccfarm(scratch, hosts);
    command.envs(env.iter().copied());
    let out = command.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ccfarm {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        client_log(scratch)
    );
    let after = client_log(scratch).matches("completed ok").count();
    assert_eq!(
        after,
        before + 1,
        "ccfarm {args:?} did not compile remotely:\n{}",
        client_log(scratch)
    );
    out
}
