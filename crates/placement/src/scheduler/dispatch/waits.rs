//! The requests that chose to wait in one placement pass, their promises, and the trades
//! that give a free slot to a shorter job so that a longer one waits for the faster host.

use crate::compilers::CompilerId;
use crate::ids::RequestId;
use crate::time::Micros;

/// A request that chose, in a placement pass, to wait for a full host.
pub(super) struct Waiting {
    pub(super) request: RequestId,
    /// When the host's slot is expected to free.
    pub(super) until: Micros,
    /// The job's cost, the speed of the host it waits for, and that of the free slot it
    /// declined.
    pub(super) cost: f64,
    pub(super) speed: f64,
    pub(super) free_speed: f64,
    /// The compiler it needs: it only trades places with a request that needs the same.
    pub(super) compiler: Option<CompilerId>,
}

impl Waiting {
    /// The request's promise: until when it may go on waiting. The later of the host's
    /// expected free time and half the run time the faster host saves it, counted from
    /// now (past the promise it takes any slot: [`crate::queue::Queued::wait_until`]).
    /// Not the expected free time alone: jobs overrun their estimates as often as not, and
    /// a big job whose host freed a little late then took a four times slower free slot,
    /// the worst place for it (seen on the benchmark harness: a 2.7 s job waited for a fast
    /// host, its promise passed, and it ran 10 s on a slowness-4 host). In the simulator
    /// (40 draws, earliest-finish, W1 / W2): the expected free time alone 1.131 / 1.077;
    /// this 1.108 / 1.054 (constant sizes 1.207 / 1.093 against 1.210 / 1.088); the whole
    /// saving 1.145 / 1.061; a quarter 1.123 / 1.060; the expected free time plus half of
    /// what waiting gains over the free slot 1.141 / 1.060.
    fn promise(&self, now: Micros) -> Micros {
        let saved = self.cost / self.free_speed - self.cost / self.speed;
        self.until.max(now.plus_secs_f64(saved.max(0.0) / 2.0))
    }
}

/// The requests that chose to wait in one placement pass, in the order they chose.
#[derive(Default)]
pub(super) struct Waits(Vec<Waiting>);

impl Waits {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn push(&mut self, w: Waiting) {
        self.0.push(w);
    }

    /// Request `request` (cost `cost`, needing `compiler`) is about to take a free slot of
    /// speed `free_speed`:
    /// returns the request that should take it instead, if any, and puts `request` in that
    /// one's place, waiting for its host until its time.
    ///
    /// The one traded is the waiting job whose trade finishes the pair soonest, if any
    /// trade finishes it sooner at all. Only a job at most half as long is traded, so that
    /// estimates which differ only by noise (every job the same size, say) never trade.
    /// This is the pairwise exchange that improves a list schedule, applied where list
    /// scheduling in fair order goes wrong: a long job behind shorter ones that have taken
    /// the fast hosts' reservations.
    pub(super) fn trade(
        &mut self,
        now: Micros,
        request: RequestId,
        cost: f64,
        free_speed: f64,
        compiler: Option<CompilerId>,
    ) -> Option<(RequestId, f64)> {
        let mut best: Option<(usize, f64)> = None;
        for (i, w) in self.0.iter().enumerate() {
            // Each must be able to run where the other was going.
            if w.cost * 2.0 > cost || w.compiler != compiler {
                continue;
            }
            let wait = w.until.saturating_since(now).as_secs_f64();
            let before = (wait + w.cost / w.speed).max(cost / free_speed);
            let after = (w.cost / free_speed).max(wait + cost / w.speed);
            let gain = before - after;
            if gain > 1e-6 && best.is_none_or(|(_, g)| gain > g) {
                best = Some((i, gain));
            }
        }
        let w = &mut self.0[best?.0];
        let other = (w.request, w.cost);
        (w.request, w.cost, w.free_speed) = (request, cost, free_speed);
        Some(other)
    }

    /// Every waiting request with its promise ([`Waiting::promise`]), emptying the list.
    pub(super) fn drain(&mut self, now: Micros) -> impl Iterator<Item = (RequestId, Micros)> + '_ {
        self.0.drain(..).map(move |w| (w.request, w.promise(now)))
    }
}
