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
//!   shallower than the lexical one).

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

/// Resolve `path` lexically from `base`; `..` may not leave the root, nor follow a
/// component that is (or lies below) one of `links`.
fn relative_to(
    base: &RootedPath,
    path: &[u8],
    links: &HashSet<RootedPath>,
) -> Result<RootedPath, TreeError> {
    if path.contains(&0) {
        return Err(refuse(path, "path contains a NUL byte"));
    }
    let mut out = if path.first() == Some(&b'/') {
        RootedPath(Vec::new())
    } else {
        base.clone()
    };
    for component in path.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                if out.0.is_empty() {
                    return Err(refuse(path, "path leaves the root with `..`"));
                }
                if links.contains(&out) || out.ancestors().any(|a| links.contains(&a)) {
                    return Err(refuse(path, "`..` after a symlink of the tree"));
                }
                out.0.pop();
            }
            c => out.0.push(Bytes::copy_from_slice(c)),
        }
    }
    Ok(out)
}

/// Check a protocol-3 tree; see the module documentation for the rules.
pub fn validate_tree(cwd: &[u8], entries: &[TreeEntry]) -> Result<SafeTree, TreeError> {
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
                SafeEntryKind::Link(relative_to(&path.parent(), target, &links)?)
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
            SafeEntryKind::File(_) => panic!("not a link"),
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
            let err = validate_tree(b"/", entries).unwrap_err();
            assert!(err.to_string().contains(why), "{entries:?}: {err}");
        }
        assert!(validate_tree(b"../x", &[]).is_err());
        assert!(validate_tree(b"/a/../..", &[]).is_err());
    }
}
