//! Which compilers a client may ask ccfarmd to run.
//!
//! By default, exactly the names distccd would allow: the entries of its masquerade
//! directories (`/usr/lib/distcc`, filled by Debian's `update-distcc-symlinks` with
//! `cc`, `gcc`, `x86_64-linux-gnu-gcc-12`, `clang`, …). The configuration adds names
//! (run through the daemon's `PATH`) or absolute paths (run as they are).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ccfarm_compiler::identity;

/// The directories distccd reads its allow-list from.
pub const MASQUERADE_DIRS: [&str; 2] = ["/usr/lib/distcc", "/usr/local/lib/distcc"];

/// Why a client's `argv[0]` is not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    /// The command line's first argument is empty.
    #[error("the command line names no compiler")]
    NoCompiler,
    /// An absolute path not in the configuration, nor a listed name under `/usr/bin`.
    #[error(
        "compiler {0:?} is not allow-listed on this server (absolute paths must be listed in allowed_compilers)"
    )]
    Path(String),
    /// A name not in the masquerade directories nor the configuration.
    #[error(
        "compiler {0:?} is not allow-listed on this server (allowed: the names in /usr/lib/distcc and the configured allowed_compilers)"
    )]
    Name(String),
}

/// The allow-list of compilers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompilerPolicy {
    names: BTreeSet<String>,
    paths: BTreeSet<PathBuf>,
}

impl CompilerPolicy {
    /// A policy allowing the names found in `dirs` plus `extra` entries (a name, or
    /// an absolute path). Directories that do not exist are skipped.
    pub fn load(dirs: &[&Path], extra: &[String]) -> CompilerPolicy {
        let mut policy = CompilerPolicy::default();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if let Some(name) = entry.file_name().to_str() {
                    policy.names.insert(name.to_owned());
                }
            }
        }
        for entry in extra {
            if entry.starts_with('/') {
                policy.paths.insert(PathBuf::from(entry));
            } else {
                policy.names.insert(entry.clone());
            }
        }
        policy
    }

    /// Whether nothing at all is allowed (a misconfiguration worth failing on).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.paths.is_empty()
    }

    /// How many entries the policy has, for the startup log.
    pub fn len(&self) -> usize {
        self.names.len() + self.paths.len()
    }

    /// The allowed names (not paths), for announcing them to a scheduler.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Every program the policy may run: the names (looked up on `PATH`) and the
    /// absolute paths.
    pub fn programs(&self) -> impl Iterator<Item = String> + '_ {
        self.names
            .iter()
            .cloned()
            .chain(self.paths.iter().map(|p| p.to_string_lossy().into_owned()))
    }

    /// The program to execute for the client's `argv[0]`, or why not.
    ///
    /// A leading `/usr/bin/` or `/bin/` is dropped before the name check, as distccd
    /// does (build tools such as QtCreator send `/usr/bin/clang++`).
    pub fn resolve(&self, argv0: &str) -> Result<String, NotAllowed> {
        if argv0.is_empty() {
            return Err(NotAllowed::NoCompiler);
        }
        if argv0.contains('/') {
            if self.paths.contains(Path::new(argv0)) {
                return Ok(argv0.to_owned());
            }
            let name = argv0
                .strip_prefix("/usr/bin/")
                .or_else(|| argv0.strip_prefix("/bin/"));
            return match name {
                Some(name) if !name.contains('/') && self.names.contains(name) => {
                    Ok(name.to_owned())
                }
                _ => Err(NotAllowed::Path(argv0.to_owned())),
            };
        }
        if self.names.contains(argv0) {
            Ok(argv0.to_owned())
        } else {
            Err(NotAllowed::Name(argv0.to_owned()))
        }
    }
}

/// The identity of the compiler `program` (a name run through `PATH`, or a path), by
/// asking it ([`identity::identify`]); `None` when it does not run or answer.
pub fn identify_one(program: impl AsRef<std::ffi::OsStr>) -> Option<identity::Identity> {
    let program = program.as_ref();
    identity::identify(|flag| {
        let out = std::process::Command::new(program)
            .arg(flag)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CompilerPolicy {
        let dir = tempfile::tempdir().unwrap();
        for name in ["gcc", "x86_64-linux-gnu-gcc", "cc"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        CompilerPolicy::load(
            &[dir.path(), Path::new("/nonexistent")],
            &["/opt/cc/bin/mycc".into(), "tcc".into()],
        )
    }

    #[test]
    fn names_and_paths() {
        let p = policy();
        assert_eq!(p.len(), 5);
        assert_eq!(p.resolve("gcc").unwrap(), "gcc");
        assert_eq!(
            p.resolve("x86_64-linux-gnu-gcc").unwrap(),
            "x86_64-linux-gnu-gcc"
        );
        assert_eq!(p.resolve("tcc").unwrap(), "tcc");
        assert_eq!(p.resolve("/usr/bin/gcc").unwrap(), "gcc");
        assert_eq!(p.resolve("/bin/cc").unwrap(), "cc");
        assert_eq!(p.resolve("/opt/cc/bin/mycc").unwrap(), "/opt/cc/bin/mycc");
    }

    #[test]
    fn refusals_explain() {
        let p = policy();
        for bad in [
            "sh",
            "/bin/sh",
            "/usr/bin/../bin/sh",
            "/tmp/gcc",
            "/usr/bin/x/gcc",
            "",
            "python3",
        ] {
            let err = p.resolve(bad).unwrap_err().to_string();
            assert!(
                err.contains("allow-listed") || err.contains("no compiler"),
                "{bad}: {err}"
            );
        }
    }
}
