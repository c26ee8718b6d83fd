//! The other ccfarm programs `ccfarm` runs (`ccfarmd`, `ccfarm-scheduler`,
//! `ccfarm-sim`): beside the running executable, where a build directory or an
//! installation keeps them together, else on `PATH`.

use std::path::{Path, PathBuf};

/// A program that is neither beside `ccfarm` nor on `PATH`.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot find {program} beside {beside} or on PATH. Build it with `cargo build --release` \
     (which builds ccfarm, ccfarmd, ccfarm-scheduler and ccfarm-sim into target/release) and \
     run the ccfarm there, or put them on PATH"
)]
pub struct NotFound {
    /// The program's name.
    pub program: &'static str,
    /// Where `ccfarm` runs from.
    pub beside: String,
}

/// Where `program` is.
pub fn locate(program: &'static str) -> Result<PathBuf, NotFound> {
    let exe = std::env::current_exe().ok();
    let beside = exe
        .as_deref()
        .and_then(Path::parent)
        .map(|dir| dir.join(program));
    let on_path = || {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|p| is_executable(p))
        })
    };
    beside
        .filter(|p| is_executable(p))
        .or_else(on_path)
        .ok_or_else(|| NotFound {
            program,
            beside: exe.map_or_else(|| "ccfarm".to_owned(), |e| e.display().to_string()),
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_named_with_the_way_to_build_it() {
        let err = locate("ccfarm-no-such-program").unwrap_err().to_string();
        assert!(err.contains("ccfarm-no-such-program"), "{err}");
        assert!(err.contains("cargo build --release"), "{err}");
    }

    #[test]
    fn a_program_on_path_is_found() {
        // `sh` is on every PATH these tests run with, and never beside ccfarm's tests.
        let sh = locate("sh").unwrap();
        assert!(sh.ends_with("sh") && sh.is_absolute(), "{}", sh.display());
    }
}
