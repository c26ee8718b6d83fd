//! The clients' own cores as farm slots.
//!
//! A client may offer its machine's cores with each job ([`LocalOffer`]): a developer's
//! workstation is capacity too, and an idle one is wasted while its build queues for the
//! farm. The scheduler keeps, per machine, the slots offered, the jobs it told that machine
//! to run itself ([`Action::RunHere`]) and a speed learned from them, and decides per
//! request with the farm's own rule: a request runs on its machine when that finishes it
//! no later than the farm's fastest free slot would, counting what a remote job costs
//! besides its compile ([`Config::remote_overhead`]: the transfer both ways and the
//! server's setup), or when no farm slot is free. A busy faster host that may free in time
//! does not keep a machine's slot idle: every waiting request would count on the same
//! host, and the first to free goes to the first request in fair order.
//!
//! Those decisions come before each placement pass, so a request its machine finishes
//! soonest never takes a farm slot another machine's request needs. A machine's jobs are
//! held by leases of their own, kept apart from the hosts' (no host index entry, no
//! speculation, no health): the machine is the client's, and a client that goes away takes
//! its leases with it. Only requests of the machine that offered a slot ever run there.
//!
//! A machine's speed is learned from the jobs it ran, as a host's without a calibration
//! is, starting from the speed the farm's scale gives an untried host of weight 1.
//!
//! [`Config::remote_overhead`]: crate::Config::remote_overhead

use std::collections::BTreeMap;

use crate::action::Action;
use crate::error::{InvariantError, SchedError};
use crate::host::Speed;
use crate::ids::{LeaseId, RequestId};
use crate::job::{JobEnd, LocalOffer, ReleaseReport};
use crate::queue::Queued;
use crate::snapshot::MachineStatus;

use super::Scheduler;

/// At most this many waiting requests are looked at per pass for a machine's free slot:
/// a bound on the pass's cost under a crowd, far more than one machine's `-j`.
const SCAN: usize = 256;

/// One client machine's offered slots.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub(crate) name: String,
    pub(crate) slots: u32,
    pub(crate) running: u32,
    pub(crate) speed: Speed,
}

/// A job a machine runs for itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocalLease {
    pub(crate) machine: usize,
    pub(crate) request: RequestId,
    pub(crate) cost: f64,
}

/// Every machine that offered slots, and the leases they hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Machines {
    by_name: BTreeMap<String, usize>,
    list: Vec<Machine>,
    leases: BTreeMap<LeaseId, LocalLease>,
    by_request: BTreeMap<RequestId, LeaseId>,
}

impl Machines {
    /// Notes `offer` (the latest offer sets the slots) and returns the machine's index; a
    /// new machine's speed starts at `seed`.
    pub(crate) fn offer(&mut self, offer: &LocalOffer, seed: f64) -> usize {
        let i = match self.by_name.get(&offer.machine) {
            Some(&i) => i,
            None => {
                self.list.push(Machine {
                    name: offer.machine.clone(),
                    slots: 0,
                    running: 0,
                    speed: Speed::seeded(seed),
                });
                self.by_name
                    .insert(offer.machine.clone(), self.list.len() - 1);
                self.list.len() - 1
            }
        };
        self.list[i].slots = offer.slots;
        i
    }

    fn free(&self, i: usize) -> u32 {
        let m = &self.list[i];
        m.slots.saturating_sub(m.running)
    }

    fn any_free(&self) -> bool {
        self.list.iter().any(|m| m.running < m.slots)
    }

    /// The request holding a local lease.
    pub(crate) fn request_of(&self, lease: LeaseId) -> Option<RequestId> {
        self.leases.get(&lease).map(|l| l.request)
    }

    /// Whether `request` runs on its machine.
    pub(crate) fn runs(&self, request: RequestId) -> bool {
        self.by_request.contains_key(&request)
    }

    fn take(&mut self, lease: LeaseId) -> Option<LocalLease> {
        let l = self.leases.remove(&lease)?;
        self.by_request.remove(&l.request);
        self.list[l.machine].running -= 1;
        Some(l)
    }

    pub(crate) fn statuses(&self) -> Vec<MachineStatus> {
        self.list
            .iter()
            .map(|m| MachineStatus {
                name: m.name.clone(),
                slots: m.slots,
                running: m.running,
                speed: m.speed.value,
                samples: m.speed.samples,
            })
            .collect()
    }

    pub(crate) fn check(&self) -> Result<(), InvariantError> {
        let mut running = vec![0u32; self.list.len()];
        for (id, l) in &self.leases {
            running[l.machine] += 1;
            if self.by_request.get(&l.request) != Some(id) {
                return Err(InvariantError::Machines(format!(
                    "{id} of {} not found by its request",
                    l.request
                )));
            }
        }
        for (m, n) in self.list.iter().zip(running) {
            if m.running != n {
                return Err(InvariantError::Machines(format!(
                    "{} counts {} jobs, runs {n}",
                    m.name, m.running
                )));
            }
        }
        if self.by_request.len() != self.leases.len() {
            return Err(InvariantError::Machines(
                "a request without its lease".into(),
            ));
        }
        Ok(())
    }
}

impl Scheduler {
    /// The machine index of `offer`, noting it ([`Machines::offer`]).
    pub(super) fn machine_of(&mut self, offer: &LocalOffer) -> usize {
        let seed = self.scale.applied();
        self.machines.offer(offer, seed)
    }

    /// Before a placement pass: every waiting request whose machine has a free slot and
    /// finishes it no later than the farm would runs there ([`Action::RunHere`]).
    pub(super) fn run_on_machines(&mut self) {
        if self.queue.is_empty() || !self.machines.any_free() {
            return;
        }
        let mut taken: BTreeMap<usize, u32> = BTreeMap::new();
        let mut chosen: Vec<(RequestId, usize)> = Vec::new();
        for q in self.queue.order().take(SCAN) {
            let Some(m) = q.local else { continue };
            let busy = taken.get(&m).copied().unwrap_or(0);
            if self.machines.free(m) <= busy {
                continue;
            }
            let here = q.cost / self.machines.list[m].speed.value.max(1e-9);
            if !self.farm_sooner(q, here) {
                taken.insert(m, busy + 1);
                chosen.push((q.id, m));
            }
        }
        for (request, machine) in chosen {
            let q = self.queue.take(request).expect("chosen from the queue");
            let lease = LeaseId(self.next_lease);
            self.next_lease += 1;
            self.machines.leases.insert(
                lease,
                LocalLease {
                    machine,
                    request,
                    cost: q.cost,
                },
            );
            self.machines.by_request.insert(request, lease);
            self.machines.list[machine].running += 1;
            self.counters.run_here += 1;
            self.out.push(Action::RunHere { request, lease });
        }
    }

    /// Whether the farm would finish `q` sooner than `here` seconds: on its fastest free
    /// slot, plus the remote overhead.
    fn farm_sooner(&self, q: &Queued, here: f64) -> bool {
        let overhead = self.cfg.remote_overhead.as_secs_f64();
        let avoid = q.avoid.as_deref().unwrap_or_default();
        let usable = |id| {
            let h = &self.hosts[&id];
            h.health.accepts_new()
                && h.free(&self.cfg) > 0
                && h.serves(q.compiler)
                && !avoid.contains(&id)
        };
        let fastest_free = if self.builtin.is_some() {
            self.index
                .fast()
                .iter()
                .map(|&(_, id)| id)
                .find(|&id| usable(id))
        } else {
            self.hosts
                .values()
                .filter(|h| usable(h.id))
                .max_by(|a, b| a.effective_speed().total_cmp(&b.effective_speed()))
                .map(|h| h.id)
        };
        match fastest_free {
            Some(id) => {
                let speed = self.hosts[&id].effective_speed().max(1e-9);
                q.cost / speed + overhead < here
            }
            // Every slot is taken while requests wait: the first host to free goes to the
            // first request in fair order, which may not be this one, so a free slot here
            // is not traded for a share of a busy one.
            None => false,
        }
    }

    /// Releases a local lease, if `lease` is one: frees its machine's slot and, for a job
    /// that compiled, teaches the machine's speed. `None` when it is not a local lease.
    pub(super) fn release_local(
        &mut self,
        lease: LeaseId,
        outcome: ReleaseReport,
    ) -> Option<Result<Vec<Action>, SchedError>> {
        let l = self.machines.take(lease)?;
        if outcome.result == JobEnd::Ok {
            let secs = outcome
                .duration
                .as_secs_f64()
                .max(self.cfg.min_cost.as_secs_f64());
            // A blind job's cost is the mean job's: over several jobs, the machine's speed
            // is measured against the mean, as a host's learned speed is.
            self.machines.list[l.machine]
                .speed
                .learn(l.cost, secs, self.cfg.speed_alpha);
            self.counters.released_ok += 1;
        } else if outcome.result == JobEnd::CompileError {
            self.counters.released_compile_error += 1;
        }
        Some(Ok(self.finish()))
    }

    /// Frees the local lease of `request`, whose client went away; whether it had one.
    pub(super) fn forget_local(&mut self, request: RequestId) -> bool {
        match self.machines.by_request.get(&request).copied() {
            Some(lease) => {
                self.machines.take(lease);
                true
            }
            None => false,
        }
    }
}
