//! Which paths a compile may read: the system's shared libraries and loader cache,
//! plus whatever the allowed compilers say they use (their program and library
//! search directories, their system include directories, the programs they run).
//!
//! Asking the compilers, rather than only listing `/usr`, is what makes a toolchain
//! in `/opt/gcc-13` or a cross compiler in its own prefix work in the sandbox.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Read-only everywhere: the loader, shared libraries, the loader's cache and
/// configuration, `update-alternatives` links (`/usr/bin/cc` points through them).
pub const BASE_PATHS: [&str; 11] = [
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
];

/// The directories named in `-print-search-dirs` output (gcc and clang print
/// `install:`, `programs: =a:b` and `libraries: =a:b`).
pub fn parse_search_dirs(out: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for line in out.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if !matches!(key.trim(), "install" | "programs" | "libraries") {
            continue;
        }
        let value = value.trim();
        let value = value.strip_prefix('=').unwrap_or(value);
        dirs.extend(
            value
                .split(':')
                .filter(|d| d.starts_with('/'))
                .map(PathBuf::from),
        );
    }
    dirs
}

/// The system include directories in the stderr of `cc -E -v`: the lines between
/// `#include <...> search starts here:` and `End of search list.`.
pub fn parse_include_dirs(stderr: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut inside = false;
    for line in stderr.lines() {
        if line.starts_with("#include <...> search starts here:") {
            inside = true;
        } else if line.starts_with("End of search list.") {
            inside = false;
        } else if inside {
            // macOS-style " (framework directory)" suffixes do not occur on Linux,
            // but a trailing annotation must not become part of the path.
            let path = line.trim().split(" (").next().unwrap_or_default();
            if path.starts_with('/') {
                dirs.push(PathBuf::from(path));
            }
        }
    }
    dirs
}

/// The fewest paths covering all of `paths`: sorted, without duplicates, without
/// any path that lies under another one.
pub fn minimal(mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
    paths.sort();
    paths.dedup();
    let mut kept: Vec<PathBuf> = Vec::new();
    for path in paths {
        // Sorted order puts a directory right before everything under it.
        if kept.last().is_some_and(|last| path.starts_with(last)) {
            continue;
        }
        kept.push(path);
    }
    kept
}

/// How long the compilers may take to answer, all questions together: start-up
/// waits for them, and an allowed program that is no gcc-like compiler (a wrapper
/// script) may not answer at all.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// The paths the given compilers (names found on `PATH`, or absolute paths) need,
/// canonical and existing, without the base paths.
pub fn discover(programs: &[String]) -> Vec<PathBuf> {
    let mut binaries: Vec<PathBuf> = programs
        .iter()
        .filter_map(|p| find_program(p)?.canonicalize().ok())
        .collect();
    // gcc, cc, gcc-12 and x86_64-linux-gnu-gcc-12 are usually one binary.
    binaries.sort();
    binaries.dedup();
    let deadline = Instant::now() + ANSWER_WITHIN;
    let questions: [&[&str]; 4] = [
        &["-print-search-dirs"],
        &["-E", "-v", "-x", "c", "/dev/null"],
        &["-E", "-v", "-x", "c++", "/dev/null"],
        // What the driver runs from PATH rather than its own directories (binutils'
        // `as`); a bare name means "found on PATH".
        &["-print-prog-name=as"],
    ];
    let mut found: Vec<PathBuf> = binaries
        .iter()
        .filter_map(|b| b.parent().map(Path::to_owned))
        .collect();
    // Only real compiler drivers are asked: a script (a wrapper, a test's fake
    // compiler) may do anything when run, so it gets its own directory and whatever
    // the configuration adds.
    binaries.retain(|b| is_elf(b));
    std::thread::scope(|scope| {
        let asked: Vec<_> = binaries
            .iter()
            .flat_map(|binary| questions.iter().map(move |args| (binary, *args)))
            .map(|(binary, args)| scope.spawn(move || (args, ask(binary, args, deadline))))
            .collect();
        for handle in asked {
            let Ok((args, Some((stdout, stderr)))) = handle.join() else {
                continue;
            };
            match args[0] {
                "-print-search-dirs" => found.extend(parse_search_dirs(&stdout)),
                "-E" => found.extend(parse_include_dirs(&stderr)),
                _ => {
                    let named = stdout.trim();
                    let tool = if named.contains('/') {
                        Some(PathBuf::from(named))
                    } else {
                        find_program(named)
                    };
                    found.extend(
                        tool.and_then(|p| p.canonicalize().ok())
                            .and_then(|p| p.parent().map(Path::to_owned)),
                    );
                }
            }
        }
    });
    found
        .into_iter()
        .filter_map(|p| p.canonicalize().ok())
        .collect()
}

/// The system include directories of `program` (a compiler, as found by
/// [`find_program`]) for C and C++, as it prints them and canonical: where distcc's
/// include server links a protocol-3 tree out to. A program that is not a compiler
/// binary, or does not answer in time, has none.
pub fn system_include_dirs(program: &Path) -> Vec<PathBuf> {
    if !is_elf(program) {
        return Vec::new();
    }
    let deadline = Instant::now() + ANSWER_WITHIN;
    let mut dirs = Vec::new();
    for language in ["c", "c++"] {
        if let Some((_, stderr)) = ask(
            program,
            &["-E", "-v", "-x", language, "/dev/null"],
            deadline,
        ) {
            dirs.extend(parse_include_dirs(&stderr));
        }
    }
    let canonical: Vec<PathBuf> = dirs.iter().filter_map(|d| d.canonicalize().ok()).collect();
    dirs.extend(canonical);
    dirs.sort();
    dirs.dedup();
    dirs
}

/// `program` as the daemon will run it: absolute as given, or the first match on `PATH`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == *b"\x7fELF")
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Run `program args` and return (stdout, stderr) when it exits successfully before
/// `deadline`; otherwise kill it with everything it started.
fn ask(program: &Path, args: &[&str], deadline: Instant) -> Option<(String, String)> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .ok()?;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            _ => {
                let group = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                return None;
            }
        }
    }
    // The answers are a few kilobytes, far below a pipe's buffer, so the child could
    // not have blocked on a full pipe before exiting.
    let out = child.wait_with_output().ok()?;
    out.status.success().then(|| {
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GCC_SEARCH_DIRS: &str = "install: /usr/lib/gcc/x86_64-linux-gnu/12/
programs: =/usr/lib/gcc/x86_64-linux-gnu/12/:/usr/lib/gcc/x86_64-linux-gnu/:/usr/lib/gcc/x86_64-linux-gnu/12/../../../../x86_64-linux-gnu/bin/
libraries: =/usr/lib/gcc/x86_64-linux-gnu/12/:/lib/x86_64-linux-gnu/:/opt/cross/lib/
";

    #[test]
    fn search_dirs_of_gcc() {
        let dirs = parse_search_dirs(GCC_SEARCH_DIRS);
        assert_eq!(dirs.len(), 7);
        assert_eq!(dirs[0], Path::new("/usr/lib/gcc/x86_64-linux-gnu/12/"));
        assert_eq!(dirs[6], Path::new("/opt/cross/lib/"));
    }

    #[test]
    fn search_dirs_of_clang() {
        let out = "programs: =/usr/lib/llvm-14/bin:/usr/bin/../lib/gcc-cross/bin\n\
                   libraries: =/usr/lib/llvm-14/lib/clang/14.0.6\n";
        assert_eq!(
            parse_search_dirs(out),
            [
                PathBuf::from("/usr/lib/llvm-14/bin"),
                PathBuf::from("/usr/bin/../lib/gcc-cross/bin"),
                PathBuf::from("/usr/lib/llvm-14/lib/clang/14.0.6"),
            ]
        );
    }

    #[test]
    fn include_dirs_between_the_markers() {
        let stderr = "ignoring nonexistent directory \"/usr/local/include/x86_64-linux-gnu\"
#include \"...\" search starts here:
 /quoted/only
#include <...> search starts here:
 /usr/lib/gcc/x86_64-linux-gnu/12/include
 /usr/local/include
 /opt/sdk/include (framework directory)
End of search list.
 /after/the/end
";
        assert_eq!(
            parse_include_dirs(stderr),
            [
                PathBuf::from("/usr/lib/gcc/x86_64-linux-gnu/12/include"),
                PathBuf::from("/usr/local/include"),
                PathBuf::from("/opt/sdk/include"),
            ]
        );
    }

    #[test]
    fn minimal_drops_what_is_covered() {
        let paths = [
            "/usr/lib/gcc",
            "/usr",
            "/opt/x/lib",
            "/usr",
            "/opt/x",
            "/usrlocal",
        ]
        .map(PathBuf::from)
        .to_vec();
        assert_eq!(
            minimal(paths),
            ["/opt/x", "/usr", "/usrlocal"].map(PathBuf::from)
        );
    }

    #[test]
    fn a_script_is_not_run_but_its_directory_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        let script = dir.path().join("wrapper-cc");
        std::fs::write(&script, format!("#!/bin/sh\ntouch {}\n", ran.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let found = discover(&[script.to_string_lossy().into_owned()]);
        assert_eq!(found, [dir.path().canonicalize().unwrap()]);
        assert!(!ran.exists(), "the script was run");
    }

    #[test]
    fn a_compiler_that_never_answers_is_given_up_on() {
        // A real executable that ignores its arguments and never exits, like a hung
        // compiler driver.
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("hang.c");
        std::fs::write(
            &source,
            "#include <unistd.h>\nint main(void) { for (;;) pause(); }\n",
        )
        .unwrap();
        let program = dir.path().join("hung-cc");
        let built = Command::new("gcc")
            .arg(&source)
            .arg("-o")
            .arg(&program)
            .status()
            .unwrap();
        assert!(built.success());
        let started = Instant::now();
        let found = discover(&[program.to_string_lossy().into_owned()]);
        let took = started.elapsed();
        assert!(
            took >= ANSWER_WITHIN && took < ANSWER_WITHIN + Duration::from_secs(3),
            "{took:?}"
        );
        assert_eq!(found, [dir.path().canonicalize().unwrap()]);
    }

    #[test]
    fn the_installed_gcc_is_discovered() {
        // gcc is a dependency of the whole suite (.ci/setup installs it).
        let found = discover(&["gcc".to_owned()]);
        assert!(
            found.iter().any(|p| p.ends_with("include")),
            "no include directory in {found:?}"
        );
        assert!(
            found.iter().all(|p| p.is_absolute() && p.exists()),
            "{found:?}"
        );
    }
}
