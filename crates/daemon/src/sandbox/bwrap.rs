//! bubblewrap: the compile runs in new namespaces (mount, pid, network, ipc, uts,
//! and user and cgroup where possible) whose filesystem holds only the toolchain
//! paths (read-only), a minimal `/dev`, `/proc`, and the job directory.
//!
//! bwrap reports its own set-up failures with exit status 1, which is also what a
//! failed compile returns; `--json-status-fd` tells them apart: bwrap writes the
//! child's exit code there only when the child got as far as `exec` (its pid is
//! written in any case, before the mounts are made).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The mounts of every job, worked out once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mounts {
    /// Read-only bind mounts, each at its own path (canonical, minimal).
    pub binds: Vec<PathBuf>,
    /// Symbolic links to recreate: (where, pointing to). `/lib64 -> usr/lib64` must
    /// exist for every dynamically linked program (its loader path is `/lib64/...`).
    pub links: Vec<(PathBuf, PathBuf)>,
}

impl Mounts {
    /// The mounts for `paths` (as configured or discovered, possibly through
    /// symbolic links), given how the filesystem resolves them: `canonical` of a
    /// path, and `link_along` (every symbolic link on the way to a path, with its
    /// target).
    pub fn plan(
        paths: &[PathBuf],
        canonical: impl Fn(&Path) -> Option<PathBuf>,
        link_along: impl Fn(&Path) -> Vec<(PathBuf, PathBuf)>,
    ) -> Mounts {
        let binds = super::toolchain::minimal(paths.iter().filter_map(|p| canonical(p)).collect());
        let mut links: Vec<(PathBuf, PathBuf)> = paths
            .iter()
            .flat_map(|p| link_along(p))
            // A link inside a bind mount is there already (and the mount is read-only).
            .filter(|(at, _)| !binds.iter().any(|b| at.starts_with(b)))
            .collect();
        links.sort();
        links.dedup();
        Mounts { binds, links }
    }

    /// Every symbolic link on the way to `path` in the running system, with targets.
    pub fn links_on_disk(path: &Path) -> Vec<(PathBuf, PathBuf)> {
        let mut links = Vec::new();
        let mut prefix = PathBuf::new();
        for part in path.components() {
            prefix.push(part);
            if let Ok(target) = std::fs::read_link(&prefix) {
                links.push((prefix.clone(), target));
            }
        }
        links
    }

    /// The bwrap command line running `program args` in `cwd`, with `job_dir`
    /// writable, writing its status to descriptor `status_fd`.
    pub fn argv(
        &self,
        job_dir: &Path,
        cwd: &Path,
        status_fd: i32,
        program: &str,
        args: &[String],
    ) -> Vec<OsString> {
        let mut argv: Vec<OsString> = [
            "--die-with-parent",
            "--unshare-all",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
        ]
        .map(OsString::from)
        .to_vec();
        for bind in &self.binds {
            argv.extend(["--ro-bind".into(), bind.into(), bind.into()]);
        }
        for (at, target) in &self.links {
            argv.extend(["--symlink".into(), target.into(), at.into()]);
        }
        argv.extend(["--bind".into(), job_dir.into(), job_dir.into()]);
        argv.extend(["--chdir".into(), cwd.into()]);
        argv.extend(["--json-status-fd".into(), status_fd.to_string().into()]);
        argv.push("--".into());
        argv.push(program.into());
        argv.extend(args.iter().map(OsString::from));
        argv
    }
}

/// What bwrap wrote on its status descriptor: whether the sandbox was set up and
/// the program started in it (bwrap reports `"exit-code"` only then).
pub fn sandbox_was_set_up(status: &str) -> bool {
    status.contains("\"exit-code\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian_links(path: &Path) -> Vec<(PathBuf, PathBuf)> {
        // A merged-/usr system: /lib64 -> usr/lib64, /bin -> usr/bin.
        ["/lib64", "/bin"]
            .iter()
            .filter(|l| path.starts_with(l))
            .map(|l| (PathBuf::from(l), PathBuf::from(format!("usr{l}"))))
            .collect()
    }

    fn debian_canonical(path: &Path) -> Option<PathBuf> {
        let s = path.to_str().unwrap();
        if s.starts_with("/missing") {
            return None;
        }
        for l in ["/lib64", "/bin"] {
            if let Some(rest) = s.strip_prefix(l) {
                return Some(PathBuf::from(format!("/usr{l}{rest}")));
            }
        }
        Some(path.to_owned())
    }

    #[test]
    fn links_are_recreated_and_binds_are_minimal() {
        let paths = [
            "/usr",
            "/lib64",
            "/bin",
            "/usr/lib/gcc",
            "/opt/cc",
            "/missing",
        ]
        .map(PathBuf::from)
        .to_vec();
        let mounts = Mounts::plan(&paths, debian_canonical, debian_links);
        assert_eq!(mounts.binds, ["/opt/cc", "/usr"].map(PathBuf::from));
        assert_eq!(
            mounts.links,
            [
                (PathBuf::from("/bin"), PathBuf::from("usr/bin")),
                (PathBuf::from("/lib64"), PathBuf::from("usr/lib64")),
            ]
        );
    }

    #[test]
    fn a_link_inside_a_bind_is_not_recreated() {
        let paths = [PathBuf::from("/usr/bin/cc")];
        let mounts = Mounts::plan(
            &paths,
            |_| Some(PathBuf::from("/usr")),
            |_| vec![(PathBuf::from("/usr/bin/cc"), PathBuf::from("gcc"))],
        );
        assert!(mounts.links.is_empty(), "{mounts:?}");
    }

    #[test]
    fn the_command_line() {
        let mounts = Mounts {
            binds: vec![PathBuf::from("/usr")],
            links: vec![(PathBuf::from("/lib64"), PathBuf::from("usr/lib64"))],
        };
        let argv = mounts.argv(
            Path::new("/tmp/job"),
            Path::new("/tmp/job/root/src"),
            7,
            "gcc",
            &["-c".into(), "x.c".into()],
        );
        let text: Vec<&str> = argv.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            text.join(" "),
            "--die-with-parent --unshare-all --dev /dev --proc /proc \
             --ro-bind /usr /usr --symlink usr/lib64 /lib64 --bind /tmp/job /tmp/job \
             --chdir /tmp/job/root/src --json-status-fd 7 -- gcc -c x.c"
        );
    }

    #[test]
    fn status_tells_set_up_from_not() {
        // As bwrap 0.8 writes them: a compile that failed, and a bind that failed.
        assert!(sandbox_was_set_up(
            "{ \"child-pid\": 12, \"mnt-namespace\": 4026532174 }\n{ \"exit-code\": 1 }\n"
        ));
        assert!(!sandbox_was_set_up(
            "{ \"child-pid\": 13, \"mnt-namespace\": 4026532174 }\n"
        ));
        assert!(!sandbox_was_set_up(""));
    }
}
