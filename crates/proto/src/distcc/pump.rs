//! Validation of a protocol-3 source tree before anything is written to disk.
//!
//! The server rebuilds the client's files under a private root directory that stands
//! for the client's `/`. distcc 3.4 checks nothing here, so a hostile client can
//! write or link outside that root. ccfarm refuses, before creating anything:
//!
//! * names that are not absolute, contain `..`, or contain NUL;
//! * names that lie below a symlink of the same tree (writing through a link);
//! * the same name twice;
//! * link targets that, resolved lexically from the link's directory (absolute
//!   targets from the root, as distcc re-roots them), leave the root, or apply `..`
//!   after passing through another link of the tree (where the real directory may be
//!   shallower than the lexical one) — with one exception, below.
//!
//! distcc's include server sends no system headers: for each of the compiler's system
//! include directories it puts a link in the tree, at that directory's place, whose
//! target climbs out of the server's root with more `../` than any root is deep and
//! descends to the same directory, so that the server compiles against its own system
//! headers (`../../…/usr/lib/gcc/x86_64-linux-gnu/12/include`). Such a target, resolved
//! as the kernel resolves it (`..` at `/` stays at `/`), names an absolute directory; it
//! is accepted only if that directory is one of the system directories the server
//! names (its compiler's own include directories) or lies below one, and the link is
//! then written to that absolute directory. Any other way out of the root is refused.

use std::collections::HashSet;

use bytes::Bytes;

use super::request::{TreeEntry, TreeEntryKind};
use super::token::printable;

/// A path relative to the job root: normalised components, never empty components,
/// never `.` or `..`. The empty path is the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RootedPath(Vec<Bytes>);

impl RootedPath {
    /// The components, outermost first.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.iter().map(|c| c.as_ref())
    }

    /// The path with `/` separators and no leading slash (empty for the root).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.join(&b'/')
    }

    fn parent(&self) -> RootedPath {
        RootedPath(self.0[..self.0.len().saturating_sub(1)].to_vec())
    }

    /// Every proper ancestor, excluding the root.
    fn ancestors(&self) -> impl Iterator<Item = RootedPath> + '_ {
        (1..self.0.len()).map(|n| RootedPath(self.0[..n].to_vec()))
    }
}

/// A validated tree entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeEntry {
    /// Where to create it, relative to the job root.
    pub path: RootedPath,
    /// What to create.
    pub kind: SafeEntryKind,
}

/// Contents of a [`SafeEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SafeEntryKind {
    /// A regular file.
    File(Bytes),
    /// A symlink whose target is this path under the job root (absolute targets are
    /// re-rooted; relative ones are resolved). The server writes it as an absolute
    /// link into its root, so its meaning does not depend on where it sits.
    Link(RootedPath),
    /// A symlink out of the root to one of the server's system directories (or below
    /// one): this absolute path, `/`-separated, on the server itself.
    System(Vec<u8>),
}

/// A tree that can be written under a root directory without escaping it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeTree {
    /// The client's working directory, relative to the root.
    pub cwd: RootedPath,
    /// The files and links, in request order.
    pub entries: Vec<SafeEntry>,
}

/// Why a tree was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refusing {path:?} in the protocol-3 file tree: {reason}")]
pub struct TreeError {
    /// The offending name or target, made printable.
    pub path: String,
    /// Why it is refused.
    pub reason: &'static str,
}

fn refuse(path: &[u8], reason: &'static str) -> TreeError {
    TreeError {
        path: printable(path),
        reason,
    }
}

/// Parse an absolute client path into a [`RootedPath`].
fn absolute(path: &[u8]) -> Result<RootedPath, TreeError> {
    if path.first() != Some(&b'/') {
        return Err(refuse(path, "path is not absolute"));
    }
    relative_to(&RootedPath(Vec::new()), path, &HashSet::new())
}

/// Where a link's target leads.
enum Resolved {
    /// Inside the root.
    Inside(RootedPath),
    /// Out of the root: the absolute path it names on the server, `..` at `/` staying
    /// at `/`.
    Outside(RootedPath),
}

/// Resolve `path` lexically from `base`; `..` may not leave the root, nor follow a
/// component that is (or lies below) one of `links`.
fn relative_to(
    base: &RootedPath,
    path: &[u8],
    links: &HashSet<RootedPath>,
) -> Result<RootedPath, TreeError> {
    match resolve(base, path, links)? {
        Resolved::Inside(inside) => Ok(inside),
        Resolved::Outside(_) => Err(refuse(path, "path leaves the root with `..`")),
    }
}

/// [`relative_to`], telling a path that leaves the root where it leads on the server
/// instead of refusing it.
fn resolve(
    base: &RootedPath,
    path: &[u8],
    links: &HashSet<RootedPath>,
) -> Result<Resolved, TreeError> {
    if path.contains(&0) {
        return Err(refuse(path, "path contains a NUL byte"));
    }
    let mut out = if path.first() == Some(&b'/') {
        RootedPath(Vec::new())
    } else {
        base.clone()
    };
    let mut outside = false;
    for component in path.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                if out.0.is_empty() {
                    outside = true;
                    continue;
                }
                if outside {
                    // Out of the root, the server's own directories: nothing of the
                    // tree is below them.
                    out.0.pop();
                    continue;
                }
                if links.contains(&out) || out.ancestors().any(|a| links.contains(&a)) {
                    return Err(refuse(path, "`..` after a symlink of the tree"));
                }
                out.0.pop();
            }
            c => out.0.push(Bytes::copy_from_slice(c)),
        }
    }
    Ok(if outside {
        Resolved::Outside(out)
    } else {
        Resolved::Inside(out)
    })
}

/// Whether `path` (absolute on the server) is one of `system_dirs` or below one.
fn within(path: &RootedPath, system_dirs: &[RootedPath]) -> bool {
    system_dirs
        .iter()
        .any(|dir| !dir.0.is_empty() && path.0.starts_with(&dir.0))
}

/// A server's system directories (absolute paths) in the form [`validate_tree`] takes;
/// paths that are not absolute, or that `..` would take above `/`, are left out.
pub fn system_dirs<'a>(paths: impl IntoIterator<Item = &'a [u8]>) -> Vec<RootedPath> {
    paths
        .into_iter()
        .filter_map(|p| absolute(p).ok())
        .filter(|p| !p.0.is_empty())
        .collect()
}

/// Check a protocol-3 tree; see the module documentation for the rules.
/// `system_dirs` are the server's system directories, which links may lead out to
/// (from [`system_dirs`]).
pub fn validate_tree(
    cwd: &[u8],
    entries: &[TreeEntry],
    system_dirs: &[RootedPath],
) -> Result<SafeTree, TreeError> {
    let cwd = absolute(cwd)?;
    let mut names = HashSet::new();
    let mut paths = Vec::with_capacity(entries.len());
    for entry in entries {
        if entry.name.split(|&b| b == b'/').any(|c| c == b"..") {
            return Err(refuse(&entry.name, "name contains `..`"));
        }
        let path = absolute(&entry.name)?;
        if path.0.is_empty() {
            return Err(refuse(&entry.name, "name is the root directory"));
        }
        if !names.insert(path.clone()) {
            return Err(refuse(&entry.name, "name appears twice"));
        }
        paths.push(path);
    }
    let links: HashSet<RootedPath> = entries
        .iter()
        .zip(&paths)
        .filter(|(e, _)| matches!(e.kind, TreeEntryKind::Link(_)))
        .map(|(_, p)| p.clone())
        .collect();

    let mut safe = Vec::with_capacity(entries.len());
    for (entry, path) in entries.iter().zip(paths) {
        if path.ancestors().any(|a| links.contains(&a)) {
            return Err(refuse(&entry.name, "name lies below a symlink of the tree"));
        }
        let kind = match &entry.kind {
            TreeEntryKind::File(data) => SafeEntryKind::File(data.clone()),
            TreeEntryKind::Link(target) => {
                if target.is_empty() {
                    return Err(refuse(&entry.name, "symlink has an empty target"));
                }
                match resolve(&path.parent(), target, &links)? {
                    Resolved::Inside(inside) => SafeEntryKind::Link(inside),
                    Resolved::Outside(out) if within(&out, system_dirs) => {
                        SafeEntryKind::System([b"/".as_slice(), &out.to_bytes()].concat())
                    }
                    Resolved::Outside(_) => {
                        return Err(refuse(
                            target,
                            "path leaves the root with `..`, and not into one of the server's system directories",
                        ));
                    }
                }
            }
        };
        safe.push(SafeEntry { path, kind });
    }
    Ok(SafeTree { cwd, entries: safe })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> TreeEntry {
        TreeEntry {
            name: Bytes::copy_from_slice(name.as_bytes()),
            kind: TreeEntryKind::File(Bytes::from_static(b"x")),
        }
    }

    fn link(name: &str, target: &str) -> TreeEntry {
        TreeEntry {
            name: Bytes::copy_from_slice(name.as_bytes()),
            kind: TreeEntryKind::Link(Bytes::copy_from_slice(target.as_bytes())),
        }
    }

    fn target_of(tree: &SafeTree, i: usize) -> String {
        match &tree.entries[i].kind {
            SafeEntryKind::Link(p) => String::from_utf8(p.to_bytes()).unwrap(),
            other => panic!("not a link into the root: {other:?}"),
        }
    }

    #[test]
    fn accepts_an_ordinary_tree() {
        let tree = validate_tree(
            b"/home/u/src",
            &[
                file("/home/u/src/hello.c"),
                file("/usr/include/stdio.h"),
                link("/home/u/src/inc", "../include"),
                link("/lib64", "/usr/lib64"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(tree.cwd.to_bytes(), b"home/u/src");
        assert_eq!(tree.entries[0].path.to_bytes(), b"home/u/src/hello.c");
        assert_eq!(target_of(&tree, 2), "home/u/include");
        assert_eq!(target_of(&tree, 3), "usr/lib64");
    }

    #[test]
    fn refuses_escapes() {
        let cases: &[(&[TreeEntry], &str)] = &[
            (&[file("/../etc/passwd")], "`..`"),
            (&[file("/a/../../x")], "`..`"),
            (&[file("relative/x.c")], "not absolute"),
            (&[file("/")], "root directory"),
            (&[file("/a\0b")], "NUL"),
            (&[file("/a"), file("//a")], "twice"),
            (&[link("/a/l", "../../etc")], "leaves the root"),
            (&[link("/l", "..")], "leaves the root"),
            (&[link("/a/l", "/../etc")], "leaves the root"),
            (&[link("/l", "")], "empty target"),
            (&[link("/d", "/"), file("/d/x")], "below a symlink"),
            (&[file("/d/x"), link("/d", "/tmp")], "below a symlink"),
            // /a/b/c points at the root; lexically /m -> a/b/c/../../.. is "/", but on
            // disk it is three levels above the root.
            (
                &[link("/a/b/c", "/"), link("/m", "a/b/c/../../..")],
                "after a symlink",
            ),
        ];
        for (entries, why) in cases {
            let err = validate_tree(b"/", entries, &gcc_dirs()).unwrap_err();
            assert!(err.to_string().contains(why), "{entries:?}: {err}");
        }
        assert!(validate_tree(b"../x", &[], &[]).is_err());
        assert!(validate_tree(b"/a/../..", &[], &[]).is_err());
    }

    fn gcc_dirs() -> Vec<RootedPath> {
        system_dirs(
            [
                "/usr/lib/gcc/x86_64-linux-gnu/12/include",
                "/usr/include/x86_64-linux-gnu",
                "/usr/include",
                "relative/ignored",
            ]
            .map(str::as_bytes),
        )
    }

    fn system_of(tree: &SafeTree, i: usize) -> String {
        match &tree.entries[i].kind {
            SafeEntryKind::System(p) => String::from_utf8(p.clone()).unwrap(),
            other => panic!("not a link out of the root: {other:?}"),
        }
    }

    /// As distcc's include server makes them (`compiler_defaults.py`): a link at the
    /// system directory's place, `../` for twenty root components plus the link's own
    /// depth, then the directory again.
    fn include_server_link(dir: &str) -> TreeEntry {
        let depth = dir.matches('/').count();
        link(dir, &format!("{}{}", "../".repeat(20 + depth), &dir[1..]))
    }

    #[test]
    fn the_include_servers_links_lead_to_the_servers_own_system_directories() {
        let tree = validate_tree(
            b"/home/u/src",
            &[
                file("/home/u/src/hello.c"),
                include_server_link("/usr/lib/gcc/x86_64-linux-gnu/12/include"),
                include_server_link("/usr/include"),
                link(
                    "/home/u/src/sys",
                    "../../../../../../usr/include/x86_64-linux-gnu/sys",
                ),
            ],
            &gcc_dirs(),
        )
        .unwrap();
        assert_eq!(
            system_of(&tree, 1),
            "/usr/lib/gcc/x86_64-linux-gnu/12/include"
        );
        assert_eq!(system_of(&tree, 2), "/usr/include");
        assert_eq!(system_of(&tree, 3), "/usr/include/x86_64-linux-gnu/sys");
        // Anywhere else out of the root, or with no system directories, is refused.
        for (entries, dirs) in [
            (vec![include_server_link("/etc")], gcc_dirs()),
            (
                vec![link("/usr/include", "../../../../../../usr")],
                gcc_dirs(),
            ),
            (
                vec![link("/a/l", "../../../usr/include/../../etc")],
                gcc_dirs(),
            ),
            (vec![link("/a/l", "../../../usr/includes")], gcc_dirs()),
            (vec![include_server_link("/usr/include")], Vec::new()),
        ] {
            let err = validate_tree(b"/", &entries, &dirs).unwrap_err();
            assert!(
                err.to_string()
                    .contains("not into one of the server's system directories"),
                "{entries:?}: {err}"
            );
        }
        // A link out of the root is still a link: nothing may be written below it.
        let below = validate_tree(
            b"/",
            &[
                include_server_link("/usr/include"),
                file("/usr/include/stdio.h"),
            ],
            &gcc_dirs(),
        );
        assert!(below.unwrap_err().to_string().contains("below a symlink"));
    }
}
