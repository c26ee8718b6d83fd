//! The identity (version and target) of the compiler this client would run, sent with
//! every request to a scheduler so that the job goes only to a server whose compiler
//! produces the same object.
//!
//! Asking the compiler costs three process starts, so the answer is kept in
//! `$CCFARM_DIR/compilers`, one line per compiler: its resolved path, size and
//! modification time (so an upgrade, which replaces the file, is noticed), then version
//! and target. A compile then costs a `stat` and a read of a small file. Writers replace
//! the file whole; two compiles that identify different compilers at the same moment may
//! lose one line, which the next compile puts back.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ccfarm_compiler::identity::Identity;

/// Compilers remembered; the least recently identified go first.
const CAP: usize = 64;

/// The remembered identities under a state directory.
pub struct IdentityCache {
    file: PathBuf,
}

impl IdentityCache {
    /// The cache in `state_dir/compilers`.
    pub fn new(state_dir: &Path) -> IdentityCache {
        IdentityCache {
            file: state_dir.join("compilers"),
        }
    }

    /// The identity of `program`: remembered, or asked with `ask` and remembered. `None`
    /// when the program cannot be found or does not say (the request then names no
    /// compiler, and any server may take it).
    pub fn identify(
        &self,
        program: &Path,
        ask: impl FnOnce(&Path) -> Option<Identity>,
    ) -> Option<Identity> {
        let real = program.canonicalize().ok()?;
        let meta = real.metadata().ok()?;
        let stamp = Stamp {
            path: real.to_str()?.to_owned(),
            size: meta.len(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        };
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        if let Some(known) = text.lines().find_map(|l| stamp.recall(l)) {
            return Some(known);
        }
        let identity = ask(&real)?;
        // Not being able to remember only costs the next compile the same question.
        let _ = self.remember(&text, &stamp, &identity);
        Some(identity)
    }

    fn remember(&self, text: &str, stamp: &Stamp, id: &Identity) -> std::io::Result<()> {
        let dir = self.file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut kept: Vec<&str> = text
            .lines()
            .filter(|l| l.split('\t').next() != Some(stamp.path.as_str()))
            .collect();
        let drop = (kept.len() + 1).saturating_sub(CAP);
        kept.drain(..drop);
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        for line in kept {
            writeln!(tmp, "{line}")?;
        }
        writeln!(
            tmp,
            "{}\t{}\t{}\t{}\t{}",
            stamp.path, stamp.size, stamp.mtime_ns, id.version, id.target
        )?;
        tmp.persist(&self.file).map_err(|e| e.error)?;
        Ok(())
    }
}

/// What tells one installed compiler from another, or from itself after an upgrade.
struct Stamp {
    path: String,
    size: u64,
    mtime_ns: i128,
}

impl Stamp {
    /// The identity on cache line `line`, if the line is this compiler's, as it is now.
    fn recall(&self, line: &str) -> Option<Identity> {
        let mut fields = line.split('\t');
        let (path, size, mtime) = (fields.next()?, fields.next()?, fields.next()?);
        let (version, target) = (fields.next()?, fields.next()?);
        let same = path == self.path
            && size.parse() == Ok(self.size)
            && mtime.parse() == Ok(self.mtime_ns);
        (same && fields.next().is_none() && !version.is_empty() && !target.is_empty()).then(|| {
            Identity {
                version: version.to_owned(),
                target: target.to_owned(),
            }
        })
    }
}

/// The identity of the compiler `program` (a path, or a name run through `PATH`), by
/// running it with each flag [`ccfarm_compiler::identity::identify`] asks about; `None`
/// when it does not run or answer. ccfarmd asks its compilers the same way.
pub fn ask_compiler(program: &Path) -> Option<Identity> {
    ccfarm_compiler::identity::identify(|flag| {
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
    use std::cell::Cell;

    use super::*;

    fn id(version: &str) -> Identity {
        Identity {
            version: version.into(),
            target: "x86_64-linux-gnu".into(),
        }
    }

    /// A real compiler answers with one word each (its version and its target); a
    /// program that does not run has no identity.
    #[test]
    fn a_compiler_is_asked_its_version_and_target() {
        let cc = ask_compiler(Path::new("cc")).expect("cc answers -dumpmachine here");
        assert!(
            cc.version
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit()),
            "{cc:?}"
        );
        assert!(cc.target.contains('-'), "{cc:?}");
        assert_eq!(ask_compiler(Path::new("/nonexistent/cc")), None);
        // Runs, but answers neither flag successfully.
        assert_eq!(ask_compiler(Path::new("false")), None);
    }

    #[test]
    fn a_compiler_is_asked_once_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cc = dir.path().join("cc");
        std::fs::write(&cc, "v12").unwrap();
        let cache = IdentityCache::new(&dir.path().join("state"));
        let asked = Cell::new(0);
        let ask = |version: &'static str| {
            let asked = &asked;
            move |_: &Path| {
                asked.set(asked.get() + 1);
                Some(id(version))
            }
        };
        assert_eq!(cache.identify(&cc, ask("12.2.0")), Some(id("12.2.0")));
        assert_eq!(cache.identify(&cc, ask("wrong")), Some(id("12.2.0")));
        // Through a symlink, the same compiler.
        let link = dir.path().join("gcc");
        std::os::unix::fs::symlink(&cc, &link).unwrap();
        assert_eq!(cache.identify(&link, ask("wrong")), Some(id("12.2.0")));
        assert_eq!(asked.get(), 1);
        // Upgraded: a new file in its place.
        std::fs::write(&cc, "v13 is longer").unwrap();
        assert_eq!(cache.identify(&cc, ask("13.2.0")), Some(id("13.2.0")));
        assert_eq!(asked.get(), 2);
        let text = std::fs::read_to_string(dir.path().join("state/compilers")).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        // A compiler that does not say is asked again next time, and nothing is kept.
        let other = dir.path().join("tcc");
        std::fs::write(&other, "").unwrap();
        assert_eq!(cache.identify(&other, |_| None), None);
        assert_eq!(cache.identify(&dir.path().join("missing"), ask("x")), None);
        assert_eq!(asked.get(), 2);
    }

    #[test]
    fn the_cache_keeps_the_latest_compilers_and_ignores_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let cache = IdentityCache::new(dir.path());
        std::fs::write(dir.path().join("compilers"), "garbage\n\t\t\t\t\n").unwrap();
        for i in 0..CAP + 3 {
            let cc = dir.path().join(format!("cc{i}"));
            std::fs::write(&cc, "").unwrap();
            assert_eq!(cache.identify(&cc, |_| Some(id("1"))), Some(id("1")));
        }
        let text = std::fs::read_to_string(dir.path().join("compilers")).unwrap();
        assert_eq!(text.lines().count(), CAP);
        assert!(
            text.lines()
                .last()
                .unwrap()
                .contains(&format!("cc{}", CAP + 2))
        );
    }
}
