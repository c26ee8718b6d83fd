//! Running the real compiler on this machine: for commands that are not distributed,
//! for fallback, and for preprocessing.
//!
//! The real compiler is found on `PATH`, skipping any entry that is ccfarm itself (a
//! masquerading `gcc -> ccfarm` symlink early on `PATH` must not call itself).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// The environment variable counting how deeply ccfarm is nested in itself.
pub const SAFEGUARD: &str = "_CCFARM_SAFEGUARD";

/// Find the program to run for `compiler` (a name or a path), never ccfarm itself.
pub fn resolve_compiler(compiler: &str, path_var: Option<&str>) -> Option<PathBuf> {
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok());
    let is_me = |p: &Path| me.is_some() && p.canonicalize().ok() == me;
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let name = if compiler.contains('/') {
        let path = Path::new(compiler);
        if !is_me(path) {
            return executable(path).then(|| path.to_owned());
        }
        // An absolute masquerade link: look for the real one by name.
        path.file_name()?.to_str()?
    } else {
        compiler
    };
    std::env::split_paths(path_var.unwrap_or("/usr/local/bin:/usr/bin:/bin"))
        .map(|dir| dir.join(name))
        .find(|candidate| executable(candidate) && !is_me(candidate))
}

/// The exit code a shell would report for `status`: the code, or 128 + signal.
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// A command for the real compiler with the recursion guard raised.
pub fn command(program: &Path, args: &[String], safeguard: u32) -> Command {
    let mut command = Command::new(program);
    command
        .args(args)
        .env(SAFEGUARD, (safeguard + 1).to_string());
    command
}

/// Run the compiler with this process's stdin, stdout and stderr.
pub fn run(program: &Path, args: &[String], safeguard: u32) -> std::io::Result<ExitStatus> {
    command(program, args, safeguard).status()
}

/// Start the preprocessor with its output on a pipe; stderr is the user's (warnings
/// show once, where a local compile would show them).
pub fn spawn_preprocessor(
    program: &Path,
    args: &[String],
    safeguard: u32,
) -> std::io::Result<std::process::Child> {
    command(program, args, safeguard)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
}
