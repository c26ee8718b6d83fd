//! Placement policies: which host gets a job.
//!
//! The scheduler asks a [`Placement`] about one waiting request at a time, in fair order,
//! showing it every host that could take work ([`Candidate`]s: up or on probation, with
//! capacity). The policy answers [`Decision::Grant`] (a candidate with a free slot) or, if it
//! supports waiting, [`Decision::Wait`] (a full candidate it expects to free up in time to
//! finish the job sooner). The built-in policies ([`Policy`]) reproduce the peers' behaviour so
//! a simulator can compare them with ccfarm's own, [`Policy::EarliestFinish`]:
//!
//! | policy | picks, among hosts with a free slot |
//! |---|---|
//! | `list-order` | the first in configured order (distcc's `DISTCC_HOSTS`) |
//! | `random` | a uniformly random one, from a seeded generator (distcc `--randomize`) |
//! | `least-connections` | the lowest running/slots ratio |
//! | `fastest-free` | the highest configured weight (tcpbalance) |
//! | `icecream` | the highest `speed × (1 − load) × (1 − 0.5 running/slots)`, idle unmeasured hosts first, young hosts boosted (icecream's `pick_server_fastest`) |
//! | `earliest-finish` | the earliest expected finish `now + cost / speed`; waits instead when a full, faster host is expected to finish it sooner: `free_at + cost / speed` |

use core::fmt;
use core::str::FromStr;

use crate::ids::HostId;
use crate::rng::SplitMix64;
use crate::time::Micros;

/// A host that can take work, as a policy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The host.
    pub host: HostId,
    /// Configured order (join/add order; lower first).
    pub order: u32,
    /// Configured weight (relative speed guess).
    pub weight: f64,
    /// Learned speed (work per second), unadjusted.
    pub speed: f64,
    /// Learned speed adjusted for current load: what a job granted now gets.
    pub effective_speed: f64,
    /// Completed jobs the speed was learned from.
    pub samples: u32,
    /// Usable slots (slots minus foreign jobs, capped on probation).
    pub slots: u32,
    /// Leases held, including those granted earlier in this pass.
    pub running: u32,
    /// Free usable slots.
    pub free: u32,
    /// Load average per slot (0 when unknown).
    pub load: f64,
    /// For a full host, when a slot is expected to free, counting jobs other requests are
    /// already waiting for. Only computed for policies that ask for it
    /// ([`Placement::needs_availability`]).
    pub available_at: Option<Micros>,
}

/// The job being placed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobView {
    /// Expected work, in seconds at speed 1.
    pub cost: f64,
    /// Preprocessed size in bytes (0 when unknown).
    pub size: u64,
}

/// What a policy is asked.
#[derive(Debug)]
pub struct PlaceContext<'a> {
    /// The current time.
    pub now: Micros,
    /// The job.
    pub job: JobView,
    /// Hosts that can take work, in configured order; at least one has a free slot.
    pub candidates: &'a [Candidate],
    /// Whether [`Decision::Wait`] is allowed. False once the request's earlier wait promise
    /// has passed: it then takes a free slot.
    pub may_wait: bool,
}

/// A policy's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Grant the free slot of `candidates[i]`.
    Grant(usize),
    /// Keep the request queued, expecting `candidates[i]` (full) to free a slot at `until`.
    Wait(usize, Micros),
    /// No opinion: the request stays queued (built-in policies never say this while a slot
    /// is free).
    Skip,
}

/// A placement strategy. Implement it to try a new policy in a simulator.
pub trait Placement: Send + fmt::Debug {
    /// Short name, for reports.
    fn name(&self) -> &str;

    /// Whether [`Candidate::available_at`] should be computed (costs a sort per full host).
    fn needs_availability(&self) -> bool {
        false
    }

    /// Whether the scheduler may start stragglers again on faster idle hosts.
    fn speculates(&self) -> bool {
        false
    }

    /// Whether a placement pass, while requests may wait, shows this policy the requests it
    /// can consider biggest first rather than in fair order (see the scheduler's placement
    /// passes, "Biggest first").
    fn biggest_first(&self) -> bool {
        false
    }

    /// Chooses for one request.
    fn place(&mut self, ctx: &PlaceContext<'_>) -> Decision;
}

/// The built-in policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// distcc: the first host with a free slot, in configured order.
    ListOrder,
    /// distcc `--randomize`: a random host with a free slot, from a seeded generator.
    Random {
        /// Seed of the generator (the scheduler reads no OS randomness).
        seed: u64,
    },
    /// The host with the fewest running jobs per slot.
    LeastConnections,
    /// tcpbalance: the host with the highest configured weight that has a free slot.
    FastestFree,
    /// icecream's default `fastest` algorithm, with ccfarm's learned speeds.
    IcecreamLike,
    /// ccfarm: earliest expected finish, waiting for a faster host when that is sooner, and
    /// speculative re-dispatch of stragglers.
    EarliestFinish,
}

impl Policy {
    /// Every built-in policy (random with seed 0), for side-by-side comparisons.
    pub const ALL: [Policy; 6] = [
        Policy::ListOrder,
        Policy::Random { seed: 0 },
        Policy::LeastConnections,
        Policy::FastestFree,
        Policy::IcecreamLike,
        Policy::EarliestFinish,
    ];

    /// The name used by [`FromStr`] and [`Placement::name`].
    pub fn name(self) -> &'static str {
        match self {
            Policy::ListOrder => "list-order",
            Policy::Random { .. } => "random",
            Policy::LeastConnections => "least-connections",
            Policy::FastestFree => "fastest-free",
            Policy::IcecreamLike => "icecream",
            Policy::EarliestFinish => "earliest-finish",
        }
    }

    /// Instantiates the policy.
    pub fn build(self) -> Box<dyn Placement> {
        match self {
            Policy::ListOrder => Box::new(ListOrder),
            Policy::Random { seed } => Box::new(Random {
                rng: SplitMix64(seed),
            }),
            Policy::LeastConnections => Box::new(LeastConnections),
            Policy::FastestFree => Box::new(FastestFree),
            Policy::IcecreamLike => Box::new(IcecreamLike),
            Policy::EarliestFinish => Box::new(EarliestFinish),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Random { seed } => write!(f, "random:{seed}"),
            other => f.write_str(other.name()),
        }
    }
}

/// A policy name that is not one of [`Policy::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown policy {0:?} (list-order, random[:SEED], least-connections, fastest-free, icecream, earliest-finish)"
)]
pub struct UnknownPolicy(pub String);

impl FromStr for Policy {
    type Err = UnknownPolicy;

    /// Parses a name as printed by [`Display`](fmt::Display); `random:SEED` sets the seed.
    fn from_str(s: &str) -> Result<Policy, UnknownPolicy> {
        let bad = || UnknownPolicy(s.to_owned());
        if let Some(seed) = s.strip_prefix("random:") {
            return Ok(Policy::Random {
                seed: seed.parse().map_err(|_| bad())?,
            });
        }
        Policy::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(bad)
    }
}

impl Policy {
    /// How the policy ranks a host with a free slot (larger is better; ties go to the earlier
    /// configured host), for the policies that pick the best free host by a per-host key. The
    /// scheduler's incremental index and the policies' [`Placement::place`] share it, so both
    /// decide alike. `None` for `random`, which ranks nothing.
    pub(crate) fn free_key(self, c: &Candidate) -> Option<f64> {
        match self {
            Policy::ListOrder => Some(-f64::from(c.order)),
            Policy::Random { .. } => None,
            Policy::LeastConnections => Some(-(f64::from(c.running) / f64::from(c.slots.max(1)))),
            Policy::FastestFree => Some(c.weight),
            Policy::IcecreamLike => Some(IcecreamLike::score(c)),
            // The earliest finish on a free slot, `now + cost / speed`, is the fastest free
            // slot whatever the cost.
            Policy::EarliestFinish => Some(c.effective_speed.max(1e-9)),
        }
    }

    /// icecream measures an idle host that never compiled anything before ranking.
    pub(crate) fn is_newcomer(c: &Candidate) -> bool {
        c.free > 0 && c.samples == 0 && c.running == 0
    }
}

/// The best candidate with a free slot by `key` (larger is better); ties go to the earlier
/// configured host, so every policy is deterministic.
fn best_free(cands: &[Candidate], key: impl Fn(&Candidate) -> f64) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, c) in cands.iter().enumerate() {
        if c.free == 0 {
            continue;
        }
        let k = key(c);
        let better = match best {
            None => true,
            Some((j, bk)) => k > bk || (k == bk && c.order < cands[j].order),
        };
        if better {
            best = Some((i, k));
        }
    }
    best.map(|(i, _)| i)
}

fn grant_or_skip(i: Option<usize>) -> Decision {
    i.map_or(Decision::Skip, Decision::Grant)
}

#[derive(Debug)]
struct ListOrder;

impl Placement for ListOrder {
    fn name(&self) -> &str {
        Policy::ListOrder.name()
    }

    fn place(&mut self, ctx: &PlaceContext<'_>) -> Decision {
        let key = |c: &Candidate| Policy::ListOrder.free_key(c).unwrap_or_default();
        grant_or_skip(best_free(ctx.candidates, key))
    }
}

#[derive(Debug)]
struct Random {
    rng: SplitMix64,
}

impl Placement for Random {
    fn name(&self) -> &str {
        "random"
    }

    fn place(&mut self, ctx: &PlaceContext<'_>) -> Decision {
        let free = ctx.candidates.iter().filter(|c| c.free > 0).count() as u64;
        if free == 0 {
            return Decision::Skip;
        }
        let pick = self.rng.below(free) as usize;
        let i = ctx
            .candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.free > 0)
            .nth(pick)
            .map(|(i, _)| i);
        grant_or_skip(i)
    }
}

#[derive(Debug)]
struct LeastConnections;

impl Placement for LeastConnections {
    fn name(&self) -> &str {
        Policy::LeastConnections.name()
    }

    fn place(&mut self, ctx: &PlaceContext<'_>) -> Decision {
        let key = |c: &Candidate| Policy::LeastConnections.free_key(c).unwrap_or_default();
        grant_or_skip(best_free(ctx.candidates, key))
    }
}

#[derive(Debug)]
struct FastestFree;

impl Placement for FastestFree {
    fn name(&self) -> &str {
        Policy::FastestFree.name()
    }

    fn place(&mut self, ctx: &PlaceContext<'_>) -> Decision {
        let key = |c: &Candidate| Policy::FastestFree.free_key(c).unwrap_or_default();
        grant_or_skip(best_free(ctx.candidates, key))
    }
}

#[derive(Debug)]
struct IcecreamLike;

impl IcecreamLike {
    /// icecream's `server_speed` for a non-submitter host: speed × (1000 − load)/1000 ×
    /// (1 − 0.5 · jobs/max_jobs), times a bonus of (4.5 − 0.5 n) for hosts with n < 7
    /// samples. icecream's load is a 0..1000 CPU/memory grade; the load average per slot
    /// stands in for it.
    pub(crate) fn score(c: &Candidate) -> f64 {
        let load = c.load.clamp(0.0, 1.0);
        let busy = f64::from(c.running) / f64::from(c.slots.max(1));
        let young = if c.samples < 7 {
            4.5 - 0.5 * f64::from(c.samples)
        } else {
            1.0
        };
        c.speed * (1.0 - load) * (1.0 - 0.5 * busy) * young
    }
}

impl Placement for IcecreamLike {
    fn name(&self) -> &str {
        Policy::IcecreamLike.name()
    }

    fn place(&mut self, ctx: &PlaceContext<'_>) -> Decision {
        // pick_server_new: an idle host that never compiled anything is measured first.
        if let Some(i) = ctx.candidates.iter().position(Policy::is_newcomer) {
            return Decision::Grant(i);
        }
        grant_or_skip(best_free(ctx.candidates, Self::score))
    }
}

/// ccfarm's policy; see the module docs and [`EarliestFinish::finish_times`].
#[derive(Debug)]
struct EarliestFinish;

/// One way to run the job: on candidate `idx`, finishing `finish` seconds from now, starting
/// at `start`.
#[derive(Debug, Clone, Copy)]
struct Choice {
    idx: usize,
    finish: f64,
    start: Micros,
}

impl EarliestFinish {
    /// The best free candidate and the best full one, by expected finish: `cost / speed` from
    /// now on a free host (so the fastest free host, whatever the cost); `available_at + cost
    /// / speed` on a full one. Ties go to the earlier configured host.
    fn finish_times(ctx: &PlaceContext<'_>) -> (Option<Choice>, Option<Choice>) {
        let cost = ctx.job.cost;
        let key = |c: &Candidate| Policy::EarliestFinish.free_key(c).unwrap_or_default();
        let free = best_free(ctx.candidates, key).map(|idx| Choice {
            idx,
            finish: cost / key(&ctx.candidates[idx]),
            start: ctx.now,
        });
        let mut full: Option<Choice> = None;
        for (idx, c) in ctx.candidates.iter().enumerate() {
            let Some(start) = c.available_at.filter(|_| c.free == 0) else {
                continue;
            };
            let finish = full_finish(ctx.now, start, cost, c.effective_speed);
            if full.is_none_or(|o| finish < o.finish) {
                full = Some(Choice { idx, finish, start });
            }
        }
        (free, full)
    }
}

/// Seconds from `now` until a job of `cost` finishes on a full host of `speed` whose next slot
/// frees at `start`. The scheduler's index computes exactly this, so both paths agree.
pub(crate) fn full_finish(now: Micros, start: Micros, cost: f64, speed: f64) -> f64 {
    start.saturating_since(now).as_secs_f64() + cost / speed.max(1e-9)
}

impl Placement for EarliestFinish {
    fn name(&self) -> &str {
        Policy::EarliestFinish.name()
    }

    fn needs_availability(&self) -> bool {
        true
    }

    fn speculates(&self) -> bool {
        true
    }

    fn biggest_first(&self) -> bool {
        true
    }

    fn place(&mut self, ctx: &PlaceContext<'_>) -> Decision {
        match Self::finish_times(ctx) {
            (Some(free), Some(wait))
                if ctx.may_wait && wait.finish < free.finish && wait.start > ctx.now =>
            {
                Decision::Wait(wait.idx, wait.start)
            }
            (Some(free), _) => Decision::Grant(free.idx),
            (None, _) => Decision::Skip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(order: u32, weight: f64, slots: u32, running: u32) -> Candidate {
        Candidate {
            host: HostId(order),
            order,
            weight,
            speed: weight,
            effective_speed: weight,
            samples: 10,
            slots,
            running,
            free: slots.saturating_sub(running),
            load: 0.0,
            available_at: None,
        }
    }

    fn ctx<'a>(cands: &'a [Candidate], cost: f64) -> PlaceContext<'a> {
        PlaceContext {
            now: Micros::ZERO,
            job: JobView { cost, size: 0 },
            candidates: cands,
            may_wait: true,
        }
    }

    fn decide(p: Policy, cands: &[Candidate], cost: f64) -> Decision {
        p.build().place(&ctx(cands, cost))
    }

    #[test]
    fn peers_policies_pick_as_their_peers_do() {
        let cands = [
            cand(0, 0.25, 2, 0),
            cand(1, 1.0, 4, 3),
            cand(2, 0.5, 4, 0),
            cand(3, 2.0, 1, 1),
        ];
        assert_eq!(decide(Policy::ListOrder, &cands, 1.0), Decision::Grant(0));
        assert_eq!(decide(Policy::FastestFree, &cands, 1.0), Decision::Grant(1));
        assert_eq!(
            decide(Policy::LeastConnections, &cands, 1.0),
            Decision::Grant(0)
        );
        // icecream: 1.0 × (1 − 0.5·3/4) = 0.625 beats 0.5 and 0.25
        assert_eq!(
            decide(Policy::IcecreamLike, &cands, 1.0),
            Decision::Grant(1)
        );
        assert_eq!(
            decide(Policy::EarliestFinish, &cands, 1.0),
            Decision::Grant(1)
        );
    }

    #[test]
    fn icecream_measures_idle_new_hosts_first() {
        let mut cands = [cand(0, 1.0, 4, 0), cand(1, 0.25, 4, 0)];
        cands[1].samples = 0;
        assert_eq!(
            decide(Policy::IcecreamLike, &cands, 1.0),
            Decision::Grant(1)
        );
    }

    #[test]
    fn random_is_seeded_and_only_picks_free_hosts() {
        let cands = [cand(0, 1.0, 1, 1), cand(1, 1.0, 1, 0), cand(2, 1.0, 1, 0)];
        let mut a = Policy::Random { seed: 7 }.build();
        let mut b = Policy::Random { seed: 7 }.build();
        let mut seen = [0; 3];
        for _ in 0..100 {
            let d = a.place(&ctx(&cands, 1.0));
            assert_eq!(d, b.place(&ctx(&cands, 1.0)));
            let Decision::Grant(i) = d else { panic!() };
            seen[i] += 1;
        }
        assert_eq!(seen[0], 0);
        assert!(seen[1] > 20 && seen[2] > 20, "{seen:?}");
    }

    #[test]
    fn earliest_finish_waits_for_a_fast_host_only_when_it_pays() {
        let mut fast = cand(0, 1.0, 1, 1);
        fast.available_at = Some(Micros::from_secs(10));
        let slow = cand(1, 0.25, 1, 0);
        let cands = [fast, slow];
        // big job: 10 + 10 = 20 on the fast host after waiting, 40 on the slow one
        assert_eq!(
            decide(Policy::EarliestFinish, &cands, 10.0),
            Decision::Wait(0, Micros::from_secs(10))
        );
        // small job: 10 + 1 = 11 waiting, 4 on the slow host now
        assert_eq!(
            decide(Policy::EarliestFinish, &cands, 1.0),
            Decision::Grant(1)
        );
        // a request whose wait promise expired takes the free slot
        let mut c = ctx(&cands, 10.0);
        c.may_wait = false;
        assert_eq!(Policy::EarliestFinish.build().place(&c), Decision::Grant(1));
    }

    #[test]
    fn names_round_trip() {
        for p in Policy::ALL {
            assert_eq!(p.to_string().parse::<Policy>(), Ok(p));
            assert_eq!(p.build().name(), p.name());
        }
        assert_eq!("random:42".parse(), Ok(Policy::Random { seed: 42 }));
        assert!("fifo".parse::<Policy>().is_err());
        assert!("random:x".parse::<Policy>().is_err());
    }
}
