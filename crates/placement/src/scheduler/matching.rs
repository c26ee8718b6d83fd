//! Hosts' compilers ([`crate::compilers`]): what each host has, and what the farm offers a
//! request whose compiler no host has.

use crate::action::{Action, FarmRefusal};
use crate::compilers::{CompilerId, CompilerKey};
use crate::error::{InvariantError, SchedError};
use crate::ids::{HostId, RequestId};
use crate::time::Micros;

use super::Scheduler;

impl Scheduler {
    /// The compilers `host` has, as it reported them (a ccfarmd's registration) or as they
    /// were configured or learned (a stock distccd): it then takes requests for any of
    /// them, and still those that name no compiler. An empty list makes it an unidentified
    /// host, which takes only those. Requests waiting for a compiler that no host has any
    /// more are sent home.
    pub fn set_compilers(
        &mut self,
        now: Micros,
        host: HostId,
        compilers: &[CompilerKey],
    ) -> Result<Vec<Action>, SchedError> {
        if !self.hosts.contains_key(&host) {
            return Err(SchedError::UnknownHost(host));
        }
        self.advance(now);
        let mut ids: Vec<CompilerId> = compilers.iter().map(|k| self.compilers.intern(k)).collect();
        ids.sort_unstable();
        ids.dedup();
        let h = self.hosts.get_mut(&host).expect("checked above");
        if h.compilers != ids {
            // Out of the old compilers' sets before it changes, back into the new ones
            // when the index is next refreshed.
            self.index.remove(h);
            let old = std::mem::replace(&mut h.compilers, ids);
            for &c in &h.compilers {
                self.compilers.count(c, true);
            }
            self.touch(host);
            self.lost_compilers(&old);
        }
        Ok(self.finish())
    }

    /// Hosts stopped having the compilers in `old` (one removed, or reporting others):
    /// requests waiting for one that no host has now are sent home.
    pub(super) fn lost_compilers(&mut self, old: &[CompilerId]) {
        let mut gone = Vec::new();
        for &c in old {
            if self.compilers.count(c, false) == 0 {
                gone.push(c);
            }
        }
        if gone.is_empty() {
            return;
        }
        let orphans: Vec<RequestId> = self
            .queue
            .iter()
            .filter(|q| q.compiler.is_some_and(|c| gone.contains(&c)))
            .map(|q| q.id)
            .collect();
        for request in orphans {
            self.queue.remove(request);
            self.counters.local += 1;
            self.out.push(Action::CompileLocally {
                request,
                reason: FarmRefusal::NoMatchingCompiler,
            });
        }
    }

    /// The compilers `host` has (none for an unknown host).
    pub fn host_compilers(&self, host: HostId) -> Vec<&CompilerKey> {
        self.hosts.get(&host).map_or(Vec::new(), |h| {
            h.compilers.iter().map(|&c| self.compilers.key(c)).collect()
        })
    }

    /// Every compiler some host has, with the names of the hosts that have it, in host
    /// order: what to tell a client sent home with [`FarmRefusal::NoMatchingCompiler`].
    pub fn compilers_offered(&self) -> Vec<(CompilerKey, Vec<&str>)> {
        let mut offered: Vec<(CompilerId, Vec<&str>)> = Vec::new();
        for h in self.hosts.values() {
            for &c in &h.compilers {
                match offered.iter_mut().find(|(id, _)| *id == c) {
                    Some((_, names)) => names.push(&h.name),
                    None => offered.push((c, vec![&h.name])),
                }
            }
        }
        offered
            .into_iter()
            .map(|(c, names)| (self.compilers.key(c).clone(), names))
            .collect()
    }

    /// Whether the counts of hosts and waiting requests per compiler are those the hosts
    /// and the queue imply, and no request waits for a compiler no host has.
    pub(super) fn check_compilers(&self) -> Result<(), InvariantError> {
        let mut hosts = vec![0u32; self.compilers.host_counts().len()];
        for h in self.hosts.values() {
            if !h.compilers.is_sorted() || h.compilers.windows(2).any(|w| w[0] == w[1]) {
                return Err(InvariantError::Compilers(format!(
                    "{}'s compilers are not a sorted set",
                    h.id
                )));
            }
            for c in &h.compilers {
                hosts[c.0 as usize] += 1;
            }
        }
        if hosts != self.compilers.host_counts() {
            return Err(InvariantError::Compilers(
                "hosts per compiler out of step".into(),
            ));
        }
        let mut waiting = vec![0u32; self.queue.per_compiler().len()];
        for q in self.queue.iter() {
            if let Some(c) = q.compiler {
                if hosts.get(c.0 as usize).is_none_or(|&n| n == 0) {
                    return Err(InvariantError::Compilers(format!(
                        "{} waits for a compiler no host has",
                        q.id
                    )));
                }
                waiting[c.0 as usize] += 1;
            }
        }
        if waiting != self.queue.per_compiler() {
            return Err(InvariantError::Compilers(
                "waiting requests per compiler out of step".into(),
            ));
        }
        Ok(())
    }
}
