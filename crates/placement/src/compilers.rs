//! Compiler identity: which hosts compile a job exactly as the client's own compiler would.
//!
//! Two compilers produce the same object from the same preprocessed source when they are the
//! same version for the same target ([`CompilerKey`]). The name does not enter into it: a
//! client's `gcc` and a server's `x86_64-linux-gnu-gcc-12` are the same compiler when
//! version and target agree, and so are the language drivers of one installation (`gcc` and
//! `g++`, `cc` and `c++`): the driver only picks the language and the libraries to link,
//! and a distributed compile is always `-c` on preprocessed source whose language the
//! command line already says. The server runs the name the client sent.
//!
//! A request that names its compiler is placed only on hosts that have it; a request that
//! does not (an older client, stock distcc through the proxy) is placed anywhere, as before.
//! A host that reported no compiler (a stock distccd nobody identified) takes only requests
//! that name none: an unknown compiler is never assumed to be the right one.
//!
//! Keys are interned into [`CompilerId`]s, so that placement compares integers and a host's
//! compilers are a short sorted list.

use core::fmt;

use rustc_hash::FxHashMap;
use serde::Serialize;

/// What makes two compilers interchangeable for a job: version and target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CompilerKey {
    /// The full version (`gcc -dumpfullversion`, e.g. `12.2.0`).
    pub version: String,
    /// The target triple (`gcc -dumpmachine`, e.g. `x86_64-linux-gnu`).
    pub target: String,
}

impl fmt::Display for CompilerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} for {}", self.version, self.target)
    }
}

/// An interned [`CompilerKey`]: the scheduler's number for one compiler identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct CompilerId(pub(crate) u32);

/// Every compiler identity a host ever reported, with how many hosts have each now.
///
/// Only hosts intern keys: a request naming a compiler nobody has is answered without
/// adding it, so clients cannot grow this table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Compilers {
    keys: Vec<CompilerKey>,
    by_key: FxHashMap<CompilerKey, CompilerId>,
    /// Hosts (of any health) that have each compiler.
    hosts: Vec<u32>,
}

impl Compilers {
    /// Whether any host ever reported a compiler.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The id of `key`, adding it if new.
    pub(crate) fn intern(&mut self, key: &CompilerKey) -> CompilerId {
        if let Some(&id) = self.by_key.get(key) {
            return id;
        }
        let id = CompilerId(u32::try_from(self.keys.len()).expect("fewer than 2^32 compilers"));
        self.keys.push(key.clone());
        self.by_key.insert(key.clone(), id);
        self.hosts.push(0);
        id
    }

    /// The id of `key` if some host has that compiler now.
    pub(crate) fn offered(&self, key: &CompilerKey) -> Option<CompilerId> {
        self.by_key
            .get(key)
            .copied()
            .filter(|id| self.hosts[id.0 as usize] > 0)
    }

    pub(crate) fn key(&self, id: CompilerId) -> &CompilerKey {
        &self.keys[id.0 as usize]
    }

    /// Hosts that have each compiler now, by [`CompilerId`].
    pub(crate) fn host_counts(&self) -> &[u32] {
        &self.hosts
    }

    /// A host gained (`true`) or lost compiler `id`; returns how many hosts have it now.
    pub(crate) fn count(&mut self, id: CompilerId, gained: bool) -> u32 {
        let n = &mut self.hosts[id.0 as usize];
        *n = if gained { *n + 1 } else { n.saturating_sub(1) };
        *n
    }
}

/// Whether a host with `compilers` (sorted) can take a job for `wanted`.
pub(crate) fn serves(compilers: &[CompilerId], wanted: Option<CompilerId>) -> bool {
    wanted.is_none_or(|c| compilers.binary_search(&c).is_ok())
}

/// Whether every job a host with `narrow` can take, a host with `wide` can take too.
pub(crate) fn covers(wide: &[CompilerId], narrow: &[CompilerId]) -> bool {
    narrow.iter().all(|c| wide.binary_search(c).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(version: &str, target: &str) -> CompilerKey {
        CompilerKey {
            version: version.into(),
            target: target.into(),
        }
    }

    #[test]
    fn a_key_is_offered_only_while_a_host_has_it() {
        let mut c = Compilers::default();
        let gcc12 = key("12.2.0", "x86_64-linux-gnu");
        assert_eq!(c.offered(&gcc12), None);
        let id = c.intern(&gcc12);
        assert_eq!(c.intern(&gcc12), id, "interned once");
        assert_eq!(c.offered(&gcc12), None, "no host has it yet");
        assert_eq!(c.count(id, true), 1);
        assert_eq!(c.offered(&gcc12), Some(id));
        assert_eq!(c.offered(&key("12.2.0", "aarch64-linux-gnu")), None);
        assert_eq!(c.offered(&key("13.2.0", "x86_64-linux-gnu")), None);
        assert_eq!(c.count(id, false), 0);
        assert_eq!(c.offered(&gcc12), None);
        assert_eq!(c.key(id), &gcc12);
    }

    #[test]
    fn matching_is_membership_and_no_identity_matches_anything() {
        let (a, b, c) = (CompilerId(0), CompilerId(1), CompilerId(2));
        assert!(serves(&[a, c], Some(c)));
        assert!(!serves(&[a, c], Some(b)));
        assert!(
            !serves(&[], Some(a)),
            "an unidentified host takes no identified job"
        );
        assert!(serves(&[], None));
        assert!(serves(&[b], None));
        assert!(covers(&[a, b, c], &[a, c]));
        assert!(!covers(&[a], &[a, b]));
        assert!(covers(&[a], &[]));
    }
}
