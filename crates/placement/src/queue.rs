//! Per-user fair queues.
//!
//! Waiting requests sit in one FIFO per user; users are served by weighted fair queueing
//! (start-time fair queueing with finish tags). Each user has a virtual time `vt`; granting one
//! of its requests advances it by `1 / weight`. The service order is the merge of all users'
//! queues by tag, where the `k`-th waiting request of user `u` has tag `vt(u) + (k + 1) /
//! weight(u)`. With equal weights that is plain round-robin: one user's 200 waiting jobs and
//! another's 8 alternate, so the 8 are all served within the first 16 grants.
//!
//! A user who starts waiting has its `vt` lifted to a few turns (`credit`,
//! [`crate::Config::fair_credit`]) before the system's virtual clock (the start tag of the
//! last grant), if it was further behind: a build that starts while others run goes first
//! for those few turns, then shares equally. Without the credit, builds of equal size that
//! start one after another share the farm at equal rates from the first moment, so the
//! first to start, which had the farm to itself for a while, ends far sooner than the
//! others: fair in rate, unequal in build time (Jain's index over the simulated W2's build
//! times 0.971; 0.993 with 16 turns). The credit is bounded, so being idle for long earns no
//! more than it, and a user who was granted many slots while the farm was empty is not
//! punished once it fills up. (Linux's CFS gives a waking task the same kind of bounded
//! head start.)
//!
//! The order is computed without changing anything ([`FairQueue::order`]), because a policy
//! may decline a free slot for a request (it expects a faster host to free up soon) and the
//! next request in order may take it instead — including a later request of the same user,
//! which is the one deliberate exception to FIFO within a user.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, BinaryHeap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::compilers::CompilerId;
use crate::error::InvariantError;
use crate::ids::{HostId, RequestId};
use crate::time::Micros;

/// Index of an interned user name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct UserIdx(pub(crate) u32);

/// A waiting request.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub(crate) id: RequestId,
    pub(crate) user: UserIdx,
    /// Expected work (seconds at speed 1).
    pub(crate) cost: f64,
    pub(crate) size: u64,
    /// Whether the cost came from the job (size or previous run), not the default.
    pub(crate) known: bool,
    /// Whether nothing tells its cost from another job's ([`crate::job::CostModel::blind`]).
    pub(crate) blind: bool,
    /// The client machine that offered its own slots for it (`scheduler::machines`).
    pub(crate) local: Option<usize>,
    pub(crate) enqueued: Micros,
    /// Set when the policy declined a free slot expecting a better one by this time; never
    /// moved later, and once passed the request takes any free slot.
    pub(crate) wait_until: Option<Micros>,
    /// The compiler it needs, if it named one.
    pub(crate) compiler: Option<CompilerId>,
    /// Hosts it must not go to (they failed it before); shared, so that copying an entry
    /// in a placement pass costs no allocation.
    pub(crate) avoid: Option<Arc<[HostId]>>,
}

impl Queued {
    /// Whether it may go to `host`.
    pub(crate) fn may_use(&self, host: HostId) -> bool {
        self.avoid.as_ref().is_none_or(|a| !a.contains(&host))
    }
}

#[derive(Debug, Clone)]
struct User {
    name: String,
    weight: f64,
    vt: f64,
    activation: u64,
    granted: u64,
    entries: VecDeque<Queued>,
    /// This user's entry in [`FairQueue::heads`], while it has requests waiting.
    head: Option<Slot>,
}

/// All users' queues.
#[derive(Debug, Clone, Default)]
pub(crate) struct FairQueue {
    users: Vec<User>,
    by_name: FxHashMap<String, UserIdx>,
    /// Whose queue each waiting request is in; hashed (with a fixed hasher), as it is only
    /// looked up, never walked.
    index: FxHashMap<RequestId, UserIdx>,
    waits: BTreeSet<(Micros, RequestId)>,
    /// Every waiting user's first request in the merge, kept up to date so that starting
    /// the fair order costs nothing (a placement pass usually takes one or two requests).
    heads: BTreeSet<Slot>,
    vclock: f64,
    activations: u64,
    /// How many turns ahead of the virtual clock a user starts waiting.
    credit: f64,
    /// Waiting requests per compiler they need, by [`CompilerId`].
    per_compiler: Vec<u32>,
}

/// Per-user figures for the status page.
#[derive(Debug, Clone)]
pub(crate) struct UserFigures<'a> {
    pub(crate) idx: UserIdx,
    pub(crate) name: &'a str,
    pub(crate) weight: f64,
    pub(crate) queued: usize,
    pub(crate) granted: u64,
}

impl FairQueue {
    /// An empty queue in which a user that starts waiting is placed `credit` turns (of a
    /// weight-1 user) ahead of the virtual clock.
    pub(crate) fn with_credit(credit: f64) -> FairQueue {
        FairQueue {
            credit,
            ..FairQueue::default()
        }
    }

    /// The index of user `name`, registering it with `weight` if new.
    pub(crate) fn intern(&mut self, name: &str, weight: f64) -> UserIdx {
        if let Some(&idx) = self.by_name.get(name) {
            return idx;
        }
        let idx = UserIdx(u32::try_from(self.users.len()).expect("fewer than 2^32 users"));
        self.users.push(User {
            name: name.to_owned(),
            weight,
            vt: self.vclock - self.credit,
            activation: 0,
            granted: 0,
            entries: VecDeque::new(),
            head: None,
        });
        self.by_name.insert(name.to_owned(), idx);
        idx
    }

    pub(crate) fn set_weight(&mut self, user: UserIdx, weight: f64) {
        self.users[user.0 as usize].weight = weight;
        self.sync_head(user.0 as usize);
    }

    /// Re-keys user `i` in [`FairQueue::heads`] after its queue, tag or weight changed.
    fn sync_head(&mut self, i: usize) {
        let u = &mut self.users[i];
        let new = (!u.entries.is_empty()).then(|| Slot {
            tag: u.vt + 1.0 / u.weight,
            activation: u.activation,
            user: i,
            pos: 0,
        });
        if u.head == new {
            return;
        }
        if let Some(old) = std::mem::replace(&mut u.head, new) {
            self.heads.remove(&old);
        }
        if let Some(new) = new {
            self.heads.insert(new);
        }
    }

    pub(crate) fn user_name(&self, user: UserIdx) -> &str {
        &self.users[user.0 as usize].name
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub(crate) fn contains(&self, id: RequestId) -> bool {
        self.index.contains_key(&id)
    }

    /// Appends `q` to its user's FIFO.
    pub(crate) fn push(&mut self, q: Queued) {
        let u = &mut self.users[q.user.0 as usize];
        if u.entries.is_empty() {
            u.vt = u.vt.max(self.vclock - self.credit);
            self.activations += 1;
            u.activation = self.activations;
        }
        self.index.insert(q.id, q.user);
        if let Some(c) = q.compiler {
            let i = c.0 as usize;
            if i >= self.per_compiler.len() {
                self.per_compiler.resize(i + 1, 0);
            }
            self.per_compiler[i] += 1;
        }
        if let Some(t) = q.wait_until {
            self.waits.insert((t, q.id));
        }
        let i = q.user.0 as usize;
        u.entries.push_back(q);
        self.sync_head(i);
    }

    /// Removes a request without charging its user (it was not served: gone, expired).
    pub(crate) fn remove(&mut self, id: RequestId) -> Option<Queued> {
        let q = self.unlink(id)?;
        self.sync_head(q.user.0 as usize);
        Some(q)
    }

    /// Removes a request that is being granted, charging its user one turn.
    pub(crate) fn take(&mut self, id: RequestId) -> Option<Queued> {
        let q = self.unlink(id)?;
        let u = &mut self.users[q.user.0 as usize];
        let start = u.vt;
        u.vt += 1.0 / u.weight;
        u.granted += 1;
        self.vclock = self.vclock.max(start);
        self.sync_head(q.user.0 as usize);
        Some(q)
    }

    /// Takes a request out of its user's FIFO and the indexes, leaving the user's head
    /// entry for the caller to bring up to date (once, after any change to `vt`).
    fn unlink(&mut self, id: RequestId) -> Option<Queued> {
        let user = self.index.remove(&id)?;
        let entries = &mut self.users[user.0 as usize].entries;
        let pos = entries.iter().position(|q| q.id == id)?;
        let q = entries.remove(pos)?;
        if let Some(t) = q.wait_until {
            self.waits.remove(&(t, id));
        }
        if let Some(c) = q.compiler {
            self.per_compiler[c.0 as usize] -= 1;
        }
        Some(q)
    }

    /// Waiting requests per compiler they need, by [`CompilerId`] (requests that need none
    /// are not counted).
    pub(crate) fn per_compiler(&self) -> &[u32] {
        &self.per_compiler
    }

    /// The waiting request `id`.
    pub(crate) fn get(&self, id: RequestId) -> Option<&Queued> {
        let user = *self.index.get(&id)?;
        self.users[user.0 as usize]
            .entries
            .iter()
            .find(|q| q.id == id)
    }

    /// The waiting request `id`, to correct what is known about it.
    pub(crate) fn get_mut(&mut self, id: RequestId) -> Option<&mut Queued> {
        let user = *self.index.get(&id)?;
        self.users[user.0 as usize]
            .entries
            .iter_mut()
            .find(|q| q.id == id)
    }

    /// Records that `id` waits for a better slot until `until` (never later than an earlier
    /// promise).
    pub(crate) fn set_wait_until(&mut self, id: RequestId, until: Micros) {
        let Some(&user) = self.index.get(&id) else {
            return;
        };
        let Some(q) = self.users[user.0 as usize]
            .entries
            .iter_mut()
            .find(|q| q.id == id)
        else {
            return;
        };
        let new = q.wait_until.map_or(until, |old| old.min(until));
        if q.wait_until == Some(new) {
            return;
        }
        if let Some(old) = q.wait_until.replace(new) {
            self.waits.remove(&(old, id));
        }
        self.waits.insert((new, id));
    }

    /// Requests enqueued at or before `cutoff` (each user's FIFO is in arrival order, so only
    /// the fronts are looked at).
    pub(crate) fn enqueued_by(&self, cutoff: Micros) -> Vec<RequestId> {
        self.users
            .iter()
            .flat_map(|u| u.entries.iter().take_while(|q| q.enqueued <= cutoff))
            .map(|q| q.id)
            .collect()
    }

    /// The oldest waiting request's arrival.
    pub(crate) fn earliest_enqueued(&self) -> Option<Micros> {
        self.users
            .iter()
            .filter_map(|u| u.entries.front())
            .map(|q| q.enqueued)
            .min()
    }

    /// The earliest wait promise that is still in the future.
    pub(crate) fn next_wait_after(&self, now: Micros) -> Option<Micros> {
        self.waits
            .range((Micros(now.0.saturating_add(1)), RequestId(0))..)
            .next()
            .map(|&(t, _)| t)
    }

    /// Every waiting request, in the order fairness would serve them.
    pub(crate) fn order(&self) -> FairOrder<'_> {
        FairOrder {
            queue: self,
            cursor: self.cursor(),
        }
    }

    /// The same order as [`FairQueue::order`], as a cursor that does not borrow the queue,
    /// so that the caller may change other state between steps. The queue itself must not
    /// change while the cursor is in use.
    pub(crate) fn cursor(&self) -> FairCursor {
        FairCursor {
            heap: BinaryHeap::new(),
            after: None,
        }
    }

    /// Whether the standing heads are those the users' queues imply.
    pub(crate) fn check(&self) -> Result<(), InvariantError> {
        let mut want = BTreeSet::new();
        for (i, u) in self.users.iter().enumerate() {
            if !u.entries.is_empty() {
                want.insert(Slot {
                    tag: u.vt + 1.0 / u.weight,
                    activation: u.activation,
                    user: i,
                    pos: 0,
                });
            }
        }
        if want == self.heads {
            Ok(())
        } else {
            Err(InvariantError::Queue(
                "the fair queue's heads are stale".into(),
            ))
        }
    }

    /// Every waiting request, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.users.iter().flat_map(|u| u.entries.iter())
    }

    pub(crate) fn users(&self) -> impl Iterator<Item = UserFigures<'_>> {
        self.users.iter().enumerate().map(|(i, u)| UserFigures {
            idx: UserIdx(i as u32),
            name: &u.name,
            weight: u.weight,
            queued: u.entries.len(),
            granted: u.granted,
        })
    }
}

/// A user's next waiting request in the merge, ordered by tag, then by who started waiting
/// first.
#[derive(Debug, Clone, Copy)]
struct Slot {
    tag: f64,
    activation: u64,
    user: usize,
    pos: usize,
}

impl PartialEq for Slot {
    fn eq(&self, other: &Slot) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Slot {}

impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Slot) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Slot {
    fn cmp(&self, other: &Slot) -> Ordering {
        self.tag
            .total_cmp(&other.tag)
            .then(self.activation.cmp(&other.activation))
            .then(self.pos.cmp(&other.pos))
            .then(self.user.cmp(&other.user))
    }
}

/// Iterator over waiting requests in fair service order.
pub(crate) struct FairOrder<'a> {
    queue: &'a FairQueue,
    cursor: FairCursor,
}

impl<'a> Iterator for FairOrder<'a> {
    type Item = &'a Queued;

    fn next(&mut self) -> Option<&'a Queued> {
        self.cursor.next(self.queue)
    }
}

/// A position in the fair service order of an unchanged [`FairQueue`]: users whose first
/// request was not served yet are read from the queue's standing heads (in order, after
/// `after`); the others wait in `heap` with their next request.
#[derive(Default)]
pub(crate) struct FairCursor {
    heap: BinaryHeap<Reverse<Slot>>,
    after: Option<Slot>,
}

impl FairCursor {
    /// Back to the start of the order, keeping the heap's buffer (a placement pass reuses
    /// one cursor rather than allocate a heap per pass).
    pub(crate) fn restart(&mut self) {
        self.heap.clear();
        self.after = None;
    }

    /// The next waiting request of `queue` (the queue the cursor was made from).
    pub(crate) fn next<'a>(&mut self, queue: &'a FairQueue) -> Option<&'a Queued> {
        let standing = match self.after {
            None => queue.heads.first(),
            Some(a) => queue
                .heads
                .range((Bound::Excluded(a), Bound::Unbounded))
                .next(),
        };
        let slot = match (standing, self.heap.peek()) {
            (Some(&s), Some(Reverse(h))) if *h < s => self.heap.pop()?.0,
            (Some(&s), _) => {
                self.after = Some(s);
                s
            }
            (None, _) => self.heap.pop()?.0,
        };
        let user = &queue.users[slot.user];
        if slot.pos + 1 < user.entries.len() {
            self.heap.push(Reverse(Slot {
                tag: slot.tag + 1.0 / user.weight,
                pos: slot.pos + 1,
                ..slot
            }));
        }
        user.entries.get(slot.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(id: u64, user: UserIdx, at: u64) -> Queued {
        Queued {
            id: RequestId(id),
            user,
            cost: 1.0,
            size: 0,
            known: true,
            blind: false,
            local: None,
            enqueued: Micros(at),
            wait_until: None,
            compiler: None,
            avoid: None,
        }
    }

    /// Grants `n` requests in fair order and returns their users.
    fn serve(fq: &mut FairQueue, n: usize) -> Vec<u32> {
        (0..n)
            .map(|_| {
                let head = fq.order().next().unwrap().id;
                fq.take(head).unwrap().user.0
            })
            .collect()
    }

    #[test]
    fn equal_weights_alternate() {
        let mut fq = FairQueue::default();
        let a = fq.intern("a", 1.0);
        let b = fq.intern("b", 1.0);
        for i in 0..200 {
            fq.push(q(i, a, i));
        }
        for i in 0..8 {
            fq.push(q(1000 + i, b, 300));
        }
        let order = serve(&mut fq, 16);
        assert_eq!(order, [0, 1].repeat(8));
        assert_eq!(fq.len(), 192);
    }

    #[test]
    fn weights_share_proportionally() {
        let mut fq = FairQueue::default();
        let a = fq.intern("a", 2.0);
        let b = fq.intern("b", 1.0);
        for i in 0..30 {
            fq.push(q(i, a, 0));
            fq.push(q(100 + i, b, 0));
        }
        let order = serve(&mut fq, 30);
        let a_count = order.iter().filter(|&&u| u == 0).count();
        assert_eq!(a_count, 20);
    }

    /// Queues `n` requests of `user` at time 100, with ids from `first`.
    fn queue_up(fq: &mut FairQueue, user: UserIdx, first: u64, n: u64) {
        for i in 0..n {
            fq.push(q(first + i, user, 100));
        }
    }

    /// A queue with `credit` in which user `a` was served 50 times while alone and now has
    /// `waiting` requests queued (ids from 100, enqueued at 100).
    fn busy_alone(credit: f64, waiting: u64) -> (FairQueue, UserIdx) {
        let mut fq = FairQueue::with_credit(credit);
        let a = fq.intern("a", 1.0);
        for i in 0..50 {
            fq.push(q(i, a, i));
            serve(&mut fq, 1);
        }
        queue_up(&mut fq, a, 100, waiting);
        (fq, a)
    }

    #[test]
    fn idle_users_bank_no_credit_and_busy_users_are_not_punished() {
        let (mut fq, _) = busy_alone(0.0, 10);
        let b = fq.intern("b", 1.0);
        queue_up(&mut fq, b, 200, 10);
        let order = serve(&mut fq, 6);
        assert_eq!(order.iter().filter(|&&u| u == 0).count(), 3, "{order:?}");
    }

    #[test]
    fn a_user_that_starts_waiting_goes_first_for_its_credit_and_no_more() {
        let (mut fq, _) = busy_alone(3.0, 20);
        // b arrives (new here): three turns ahead of the clock, and a's next tag is one
        // turn past it, so b goes first four times; then they alternate.
        let b = fq.intern("b", 1.0);
        queue_up(&mut fq, b, 200, 20);
        let order = serve(&mut fq, 9);
        assert_eq!(order, [1, 1, 1, 1, 0, 1, 0, 1, 0], "{order:?}");
        // b empties its queue, idles while a is served on, and comes back: the same head
        // start, however long it was idle.
        while fq.order().any(|r| r.user == b) {
            let id = fq.order().find(|r| r.user == b).unwrap().id;
            fq.remove(id);
        }
        serve(&mut fq, 5);
        for i in 0..5 {
            fq.push(q(300 + i, b, 200));
        }
        let order = serve(&mut fq, 5);
        assert_eq!(order, [1, 1, 1, 1, 0], "{order:?}");
    }

    /// The merge of every user's queue by tag, computed from scratch.
    fn merged(fq: &FairQueue) -> Vec<u64> {
        let mut all: Vec<(Slot, u64)> = Vec::new();
        for (i, u) in fq.users.iter().enumerate() {
            for (pos, q) in u.entries.iter().enumerate() {
                let mut tag = u.vt;
                for _ in 0..=pos {
                    tag += 1.0 / u.weight;
                }
                let slot = Slot {
                    tag,
                    activation: u.activation,
                    user: i,
                    pos,
                };
                all.push((slot, q.id.0));
            }
        }
        all.sort_by_key(|a| a.0);
        all.into_iter().map(|(_, id)| id).collect()
    }

    #[test]
    fn the_standing_heads_give_the_full_merge() {
        let mut fq = FairQueue::default();
        let users: Vec<UserIdx> = (0..5)
            .map(|i| fq.intern(&format!("u{i}"), 1.0 + f64::from(i % 3)))
            .collect();
        let mut x: u64 = 1;
        let mut next = 0;
        for step in 0..2_000u64 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = (x >> 33) as usize;
            match r % 7 {
                0..=2 => {
                    next += 1;
                    fq.push(q(next, users[r / 7 % users.len()], step));
                }
                3 | 4 => {
                    let id = fq.order().nth(r / 7 % 3).map(|q| q.id);
                    if let Some(id) = id {
                        fq.take(id);
                    }
                }
                5 => {
                    let id = fq.iter().nth(r / 7 % 4).map(|q| q.id);
                    if let Some(id) = id {
                        fq.remove(id);
                    }
                }
                _ => fq.set_weight(users[r / 7 % users.len()], 0.5 + (r % 4) as f64),
            }
            fq.check().unwrap();
            let got: Vec<u64> = fq.order().map(|q| q.id.0).collect();
            assert_eq!(got, merged(&fq), "step {step}");
        }
    }

    #[test]
    fn removal_wait_promises_and_expiry() {
        let mut fq = FairQueue::default();
        let a = fq.intern("a", 1.0);
        fq.push(q(1, a, 10));
        fq.push(q(2, a, 20));
        fq.push(q(3, a, 30));
        fq.set_wait_until(RequestId(2), Micros(100));
        fq.set_wait_until(RequestId(2), Micros(200));
        assert_eq!(fq.next_wait_after(Micros(0)), Some(Micros(100)));
        assert_eq!(fq.next_wait_after(Micros(100)), None);
        assert_eq!(fq.enqueued_by(Micros(20)), vec![RequestId(1), RequestId(2)]);
        assert_eq!(fq.earliest_enqueued(), Some(Micros(10)));
        assert!(fq.remove(RequestId(2)).is_some());
        assert!(fq.remove(RequestId(2)).is_none());
        assert_eq!(fq.next_wait_after(Micros(0)), None);
        let ids: Vec<_> = fq.order().map(|q| q.id.0).collect();
        assert_eq!(ids, [1, 3]);
    }
}
