//! Incremental indexes over hosts, so that a placement decision costs a few ordered-set
//! look-ups instead of a scan of the farm.
//!
//! Why: a farm of a thousand hosts makes thousands of decisions a second, and the policies'
//! [`Placement::place`](crate::Placement::place) sees every host on every decision. The
//! built-in policies rank a free host by a key that depends only on that host's state, so
//! the scheduler keeps every host with a free slot in an ordered set under its policy's key
//! and takes the first. Every change to a host (a grant, a release, a heartbeat, a health
//! change, a learned speed) marks it dirty, and the dirty hosts are re-keyed before the next
//! placement pass; [`Scheduler::check_invariants`](crate::Scheduler::check_invariants)
//! rebuilds the index from scratch and compares.
//!
//! Earliest-finish also needs, for a full host, when its next slot is expected to free
//! ([`availability`]). That moves with time for an overdue lease (its expected end grows),
//! but never backwards, so the index keeps the value computed when the host last changed as a
//! lower bound and refreshes it when a search finds it stale.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::compilers::CompilerId;
use crate::config::Config;
use crate::error::InvariantError;
use crate::host::{Host, Hosts};
use crate::ids::HostId;
use crate::policy::{Candidate, Policy, full_finish};
use crate::time::Micros;

use super::fenwick::Fenwick;

mod order;

pub(crate) use order::{Class, Rank};

/// Where one host sits in the indexes; `None` (or `false`) means absent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Entry {
    /// Has a free slot: the built-in policy's rank.
    free: Option<Rank>,
    /// Has a free slot: by effective speed, fastest first.
    fast: Option<Rank>,
    /// Full (earliest-finish only): a lower bound of when a usable slot frees.
    full: Option<Micros>,
    /// With `full`: the host's effective speed, and until when `full` is exact (no lease is
    /// overdue before then), so a search needs neither the host nor its leases.
    full_info: Option<FullInfo>,
    /// Can take work (earliest-finish only).
    usable: bool,
    /// Holds leases: by class of effective speed, slowest first (speculation's stragglers).
    /// A class rather than the speed itself, so that a learned speed's every small move
    /// does not re-key the host; the search checks each host's own speed.
    loaded: Option<Reverse<Class>>,
    /// Idle, free and never measured (icecream serves these first).
    newcomer: bool,
}

/// The full hosts of one speed class.
#[derive(Debug, Clone, Default, PartialEq)]
struct FullClass {
    /// By (a lower bound of) availability.
    by_time: BTreeMap<(Micros, HostId), FullInfo>,
    /// No host in the class is faster: the fastest speed it has held since it was last
    /// empty. An upper bound rather than the fastest host it holds now, which would need a
    /// second ordered set, changed on every grant and release (a host filling up or freeing
    /// a slot); speeds within a class differ by under 2 %, so the bound stays tight.
    top: f64,
}
/// What a search over full hosts needs besides the availability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FullInfo {
    speed: f64,
    exact_until: Micros,
}

/// The indexes. Which are kept depends on the built-in policy served (none for a custom
/// placement, which is shown every host anyway); the free-by-speed and loaded sets are
/// always kept, for the cheap "any free slot?" test and for speculation.
///
/// Placement sets are kept for the whole farm and again for each compiler, over the hosts
/// that have it ([`crate::compilers`]): a request that names a compiler reads its
/// compiler's sets, so finding a matching host costs what finding any host does, and a
/// farm where no host reported a compiler keeps only the first.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostIndex {
    policy: Option<Policy>,
    all: Sets,
    /// By [`CompilerId`].
    by_compiler: Vec<Sets>,
    pub(crate) loaded: BTreeSet<(Reverse<Class>, HostId)>,
    /// Where each host sits, by [`HostId`] (ids are never reused, so a position in a vector
    /// serves as the key); a host never indexed, or taken out, sits nowhere.
    entries: Vec<Entry>,
}

/// The placement sets over one group of hosts (the farm, or the hosts with one compiler).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sets {
    free: BTreeSet<(Rank, HostId)>,
    pub(crate) fast: BTreeSet<(Rank, HostId)>,
    /// Full hosts by speed class, fastest first (no class is empty).
    full: BTreeMap<Class, FullClass>,
    /// How many hosts can take work (earliest-finish only).
    usable: usize,
    newcomers: BTreeSet<HostId>,
    /// Free hosts by id, for `random`'s "n-th free host in configured order".
    by_id: Fenwick,
}

static NO_HOSTS: Sets = Sets {
    free: BTreeSet::new(),
    fast: BTreeSet::new(),
    full: BTreeMap::new(),
    usable: 0,
    newcomers: BTreeSet::new(),
    by_id: Fenwick::EMPTY,
};

/// A host as a policy sees it, or `None` when it can take no work (down, draining, no
/// usable slot). `available_at` is left for the caller.
pub(crate) fn candidate(h: &Host, cfg: &Config) -> Option<Candidate> {
    let cap = h.capacity(cfg);
    if cap == 0 {
        return None;
    }
    let running = h.running();
    Some(Candidate {
        host: h.id,
        order: h.id.0,
        weight: h.weight,
        speed: h.speed.value,
        effective_speed: h.effective_speed(),
        samples: h.speed.samples,
        slots: cap,
        running,
        free: cap.saturating_sub(running),
        load: h.load_per_slot(),
        available_at: None,
    })
}

/// When a usable slot of a full host is expected to free: the leases' estimated ends in
/// order, less those beyond the usable capacity (they must end before a usable slot frees).
pub(crate) fn usable_ends(h: &Host, cap: u32, now: Micros) -> Vec<Micros> {
    let mut ends = Vec::with_capacity(h.leases.len());
    usable_ends_into(h, cap, now, &mut ends);
    ends
}

/// [`usable_ends`] into a buffer (cleared first).
pub(crate) fn usable_ends_into(h: &Host, cap: u32, now: Micros, ends: &mut Vec<Micros>) {
    ends.clear();
    ends.extend(h.leases.timings().map(|t| t.estimated_end(now)));
    ends.sort_unstable();
    let skip = (h.running().saturating_sub(cap) as usize).min(ends.len());
    ends.drain(..skip);
}

/// The earliest of [`usable_ends`] (a placement pass's reservations included), without
/// sorting when nothing is beyond capacity.
pub(crate) fn availability(h: &Host, cap: u32, now: Micros) -> Option<Micros> {
    if let Some(ends) = &h.pass_ends {
        return ends.first().copied();
    }
    if h.running() <= cap {
        h.leases.timings().map(|t| t.estimated_end(now)).min()
    } else {
        usable_ends(h, cap, now).first().copied()
    }
}

/// Until when [`availability`] stays what it is now: leases' estimated ends are their
/// expected ends until they become overdue (at 95 % of the estimate; see
/// [`crate::lease::LeaseTiming::estimated_end`]), and only then start to grow.
fn exact_until(h: &Host, now: Micros) -> Micros {
    if h.pass_ends.is_some() {
        return now;
    }
    h.leases
        .timings()
        .map(|t| t.on_time_until)
        .min()
        .unwrap_or(Micros::MAX)
}

/// [`availability`] and [`exact_until`] together. While no lease is overdue (the common
/// case: a host is re-keyed on every grant and release) every lease's estimated end is its
/// expected end, so one pass of integer comparisons gives both.
fn full_times(h: &Host, cap: u32, now: Micros) -> (Option<Micros>, Micros) {
    if h.pass_ends.is_none() && h.running() <= cap {
        let mut end = Micros::MAX;
        let mut on_time = Micros::MAX;
        for t in h.leases.timings() {
            end = end.min(t.expected_end());
            on_time = on_time.min(t.on_time_until);
        }
        if now <= on_time {
            let first = (on_time != Micros::MAX).then(|| end.max(now));
            return (first, on_time);
        }
    }
    (availability(h, cap, now), exact_until(h, now))
}

/// A full host worth waiting for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wait {
    pub(crate) host: HostId,
    pub(crate) start: Micros,
    pub(crate) finish: f64,
}

impl HostIndex {
    pub(crate) fn new(policy: Option<Policy>) -> HostIndex {
        HostIndex {
            policy,
            ..HostIndex::default()
        }
    }

    fn earliest_finish(&self) -> bool {
        self.policy == Some(Policy::EarliestFinish)
    }

    /// The sets over the hosts that can take a job for `compiler` (every host for `None`).
    fn sets(&self, compiler: Option<CompilerId>) -> &Sets {
        match compiler {
            None => &self.all,
            Some(c) => self.by_compiler.get(c.0 as usize).unwrap_or(&NO_HOSTS),
        }
    }

    /// Free hosts, fastest first.
    pub(crate) fn fast(&self) -> &BTreeSet<(Rank, HostId)> {
        &self.all.fast
    }

    /// Where host `id` sits now.
    pub(crate) fn indexed(&self, id: HostId) -> Entry {
        self.entries.get(id.0 as usize).copied().unwrap_or_default()
    }

    /// Where `h` belongs now.
    pub(crate) fn entry(&self, h: &Host, cfg: &Config, now: Micros) -> Entry {
        let mut e = Entry::default();
        if !h.leases.is_empty() {
            e.loaded = Some(Reverse(Class::of(h.effective_speed())));
        }
        let Some(c) = candidate(h, cfg) else {
            return e;
        };
        e.usable = self.earliest_finish();
        if c.free == 0 {
            if self.earliest_finish() {
                let (full, exact_until) = full_times(h, c.slots, now);
                e.full = full;
                e.full_info = e.full.map(|_| FullInfo {
                    speed: c.effective_speed,
                    exact_until,
                });
            }
            return e;
        }
        e.fast = Some(Rank::desc(c.effective_speed));
        if let Some(p) = self.policy.filter(|p| *p != Policy::EarliestFinish) {
            e.free = Some(Rank::desc(p.free_key(&c).unwrap_or_default()));
            e.newcomer = p == Policy::IcecreamLike && Policy::is_newcomer(&c);
        }
        e
    }

    /// Re-keys `h`.
    pub(crate) fn update(&mut self, h: &Host, cfg: &Config, now: Micros) {
        let new = self.entry(h, cfg, now);
        self.set(h, new);
    }

    /// Takes `h` out of every index (it is being forgotten, or its compilers change: it is
    /// then indexed again under its new ones).
    pub(crate) fn remove(&mut self, h: &Host) {
        self.set(h, Entry::default());
    }

    fn set(&mut self, h: &Host, new: Entry) {
        let id = h.id;
        let i = id.0 as usize;
        if i >= self.entries.len() {
            self.entries.resize_with(i + 1, Entry::default);
        }
        let old = std::mem::replace(&mut self.entries[i], new);
        if old == new {
            return;
        }
        self.all.set(id, old, new);
        for c in &h.compilers {
            let i = c.0 as usize;
            if i >= self.by_compiler.len() {
                self.by_compiler.resize_with(i + 1, Sets::default);
            }
            self.by_compiler[i].set(id, old, new);
        }
        swap(&mut self.loaded, old.loaded, new.loaded, id);
    }

    /// Moves a full host to a later lower bound: a stale bound refreshed, or a placement
    /// pass's reservation (exact only at `now`, the pass's time).
    pub(crate) fn rekey_full(&mut self, h: &Host, at: Option<Micros>, exact_until: Micros) {
        let old = self.indexed(h.id);
        let full_info = old.full_info.map(|i| FullInfo { exact_until, ..i });
        let new = Entry {
            full: at,
            full_info,
            ..old
        };
        self.set(h, new);
    }

    /// Puts `h` back where it was (`entry`, taken from it earlier in a placement pass).
    pub(crate) fn restore(&mut self, h: &Host, entry: Entry) {
        self.set(h, entry);
    }

    /// Whether any usable slot is free.
    pub(crate) fn any_free(&self) -> bool {
        !self.all.fast.is_empty()
    }

    /// The free host with `compiler` the built-in policy picks (`random` draws from `rng`
    /// first).
    pub(crate) fn pick_free(
        &self,
        compiler: Option<CompilerId>,
        avoid: &[HostId],
        rng: &mut crate::rng::SplitMix64,
    ) -> Option<HostId> {
        let sets = self.sets(compiler);
        let first = |set: &BTreeSet<(Rank, HostId)>| {
            set.iter().map(|&(_, id)| id).find(|id| !avoid.contains(id))
        };
        match self.policy? {
            Policy::EarliestFinish => first(&sets.fast),
            Policy::Random { .. } => {
                let n = sets.by_id.count();
                if n == 0 {
                    return None;
                }
                // The drawn host, or the next free one in configured order that the job
                // does not avoid.
                let k = rng.below(u64::from(n)) as u32;
                (0..n)
                    .map(|i| HostId(sets.by_id.nth((k + i) % n) as u32))
                    .find(|id| !avoid.contains(id))
            }
            Policy::IcecreamLike => sets
                .newcomers
                .iter()
                .copied()
                .find(|id| !avoid.contains(id))
                .or_else(|| first(&sets.free)),
            _ => first(&sets.free),
        }
    }

    /// Earliest-finish's other option: the full host with `compiler` on which a job of
    /// `cost` would finish soonest, if that is sooner than `limit` seconds from `now` (the
    /// free slot's finish). Ties go to the lower host id, as in
    /// [`Placement::place`](crate::Placement::place).
    ///
    /// Branch and bound over full hosts, one speed class at a time (fastest first), each in
    /// order of (a lower bound of) availability: no host further on in a class can finish
    /// before its availability plus the job's run time at the class's top speed, so the class
    /// is left there. Without the classes, a slow host freeing soon could not be told apart
    /// from a fast one, and the search would walk every host freeing before the best one.
    /// Bounds found stale are pushed to `stale`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn best_full(
        &self,
        compiler: Option<CompilerId>,
        hosts: &Hosts,
        cfg: &Config,
        now: Micros,
        cost: f64,
        limit: f64,
        stale: &mut Vec<(HostId, Option<Micros>)>,
    ) -> Option<Wait> {
        let sets = self.sets(compiler);
        if sets.usable == 0 {
            return None;
        }
        let mut best: Option<Wait> = None;
        for class in sets.full.values() {
            let top = class.top;
            // Classes come fastest first: once even the top speed cannot win, nothing can.
            let run = full_finish(now, now, cost, top);
            if best.map_or(run >= limit, |b| run > b.finish) {
                break;
            }
            for (&(bound, id), info) in &class.by_time {
                // No host further on in this class can do better.
                let lower = full_finish(now, bound, cost, top);
                let done = match best {
                    Some(b) => lower > b.finish,
                    None => lower >= limit,
                };
                if done {
                    break;
                }
                // A host no faster than the best so far cannot win, however soon it frees.
                let run = full_finish(now, now, cost, info.speed);
                if best.map_or(run >= limit, |b| run > b.finish) {
                    continue;
                }
                let start = if now <= info.exact_until {
                    bound
                } else {
                    let h = &hosts[&id];
                    let Some(start) = availability(h, h.capacity(cfg), now) else {
                        continue;
                    };
                    if start != bound {
                        stale.push((id, Some(start)));
                    }
                    start
                };
                let finish = full_finish(now, start, cost, info.speed);
                let better = match best {
                    None => finish < limit,
                    Some(b) => finish < b.finish || (finish == b.finish && id < b.host),
                };
                if better {
                    best = Some(Wait {
                        host: id,
                        start,
                        finish,
                    });
                }
            }
        }
        best
    }

    /// Every difference between the index and one rebuilt from `hosts`, for
    /// [`Scheduler::check_invariants`](crate::Scheduler::check_invariants). A full host's
    /// availability may lag behind (it only grows), never lead.
    pub(crate) fn check(
        &self,
        hosts: &Hosts,
        cfg: &Config,
        now: Micros,
    ) -> Result<(), InvariantError> {
        let mut rebuilt = HostIndex::new(self.policy);
        for h in hosts.values() {
            let mut want = self.entry(h, cfg, now);
            let indexed = self.indexed(h.id);
            if h.pass_ends.is_some() {
                return Err(InvariantError::Index(format!(
                    "{} keeps a placement pass's reservations",
                    h.id
                )));
            }
            if let (Some(have), Some(exact)) = (indexed.full, want.full) {
                if have > exact {
                    return Err(InvariantError::Index(format!(
                        "{} indexed as free at {have}, not {exact}",
                        h.id
                    )));
                }
                let claimed = indexed.full_info.map_or(Micros::ZERO, |i| i.exact_until);
                if have != exact && claimed >= now {
                    return Err(InvariantError::Index(format!(
                        "{} claims {have} exact until {claimed}",
                        h.id
                    )));
                }
                want.full = Some(have);
                want.full_info = indexed.full_info;
            }
            if indexed != want {
                return Err(InvariantError::Index(format!(
                    "{} indexed as {:?}, not {want:?}",
                    h.id, indexed
                )));
            }
            rebuilt.set(h, want);
        }
        let compilers = self.by_compiler.len().max(rebuilt.by_compiler.len());
        let forgotten_left = self
            .entries
            .iter()
            .enumerate()
            .any(|(i, e)| *e != Entry::default() && !hosts.contains_key(&HostId(i as u32)));
        let same = !forgotten_left
            && rebuilt.all.same_as(&self.all)
            && rebuilt.loaded == self.loaded
            && (0..compilers).all(|c| {
                let c = Some(CompilerId(c as u32));
                rebuilt.sets(c).same_as(self.sets(c))
            });
        if same {
            Ok(())
        } else {
            Err(InvariantError::Index(
                "host index holds hosts that are gone or misplaced".into(),
            ))
        }
    }
}

impl Sets {
    /// Moves host `id` from `old` to `new`.
    fn set(&mut self, id: HostId, old: Entry, new: Entry) {
        swap(&mut self.free, old.free, new.free, id);
        swap(&mut self.fast, old.fast, new.fast, id);
        if (old.full, old.full_info) != (new.full, new.full_info) {
            if let (Some(k), Some(info)) = (old.full, old.full_info) {
                let class = Class::of(info.speed);
                let c = self.full.get_mut(&class).expect("indexed in its class");
                c.by_time.remove(&(k, id));
                if c.by_time.is_empty() {
                    self.full.remove(&class);
                }
            }
            if let (Some(k), Some(info)) = (new.full, new.full_info) {
                let c = self.full.entry(Class::of(info.speed)).or_default();
                c.by_time.insert((k, id), info);
                c.top = c.top.max(info.speed);
            }
        }
        self.usable = self.usable + usize::from(new.usable) - usize::from(old.usable);
        if old.newcomer != new.newcomer {
            if new.newcomer {
                self.newcomers.insert(id);
            } else {
                self.newcomers.remove(&id);
            }
        }
        if old.free.is_some() != new.free.is_some() {
            self.by_id.set(id.0 as usize, new.free.is_some());
        }
    }

    /// Whether these sets, rebuilt from scratch, agree with `kept`. A class's top may be
    /// above its hosts' speeds in the kept sets (it is an upper bound), never below.
    fn same_as(&self, kept: &Sets) -> bool {
        let full_same = self.full.len() == kept.full.len()
            && self
                .full
                .iter()
                .zip(&kept.full)
                .all(|((rk, r), (k, c))| rk == k && r.by_time == c.by_time && c.top >= r.top);
        self.free == kept.free
            && self.fast == kept.fast
            && full_same
            && self.usable == kept.usable
            && self.newcomers == kept.newcomers
            && self.by_id.count() == kept.by_id.count()
    }
}

fn swap<K: Ord + Copy>(
    set: &mut BTreeSet<(K, HostId)>,
    old: Option<K>,
    new: Option<K>,
    id: HostId,
) {
    if old.map(|k| (k, id)) == new.map(|k| (k, id)) {
        return;
    }
    if let Some(k) = old {
        set.remove(&(k, id));
    }
    if let Some(k) = new {
        set.insert((k, id));
    }
}
