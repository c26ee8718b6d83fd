//! Requests, releases and departed clients.

use crate::action::{Action, FarmRefusal};
use crate::error::SchedError;
use crate::ids::{Held, LeaseId, RequestId};
use crate::job::{CostModel, JobEnd, JobInfo, ReleaseReport};
use crate::lease::Lease;
use crate::queue::{Queued, UserIdx};
use crate::time::Micros;

use super::Scheduler;

impl Scheduler {
    /// A client asks for a slot. The answer is in the returned actions: a
    /// [`Action::Grant`] for it, [`Action::CompileLocally`] (no usable host, queue full), or
    /// nothing, meaning it waits (a later operation or tick grants it or sends it home).
    /// Other requests may be granted by the same pass.
    pub fn request(
        &mut self,
        now: Micros,
        id: RequestId,
        job: JobInfo,
    ) -> Result<Vec<Action>, SchedError> {
        if self.queue.contains(id)
            || self.granted.contains_key(&id)
            || self.held.iter().any(|(h, _)| *h == id)
        {
            return Err(SchedError::DuplicateRequest(id));
        }
        let now = self.advance(now);
        self.counters.requests += 1;
        self.admit(now, id, job);
        Ok(std::mem::take(&mut self.out))
    }

    /// Places `job` in the queue (a placement pass may grant it at once), or answers
    /// "compile locally", or holds it through the start-up grace; the actions go to
    /// `self.out`.
    fn admit(&mut self, now: Micros, id: RequestId, job: JobInfo) {
        let compiler = match &job.compiler {
            None => None,
            Some(key) => match self.compilers.offered(key) {
                Some(id) => Some(id),
                None if self.in_grace(now) => return self.held.push((id, job)),
                None => return self.refuse(id, FarmRefusal::NoMatchingCompiler),
            },
        };
        let usable =
            |h: &crate::host::Host| h.slots > 0 && h.health.accepts_new() && h.serves(compiler);
        if !self.hosts.values().any(usable) {
            if self.in_grace(now) {
                return self.held.push((id, job));
            }
            return self.refuse(id, FarmRefusal::NoUsableHost);
        }
        // A host that failed the job is passed over while another could run it; with
        // none, a second try there beats no try at all.
        let elsewhere = self
            .hosts
            .values()
            .any(|h| usable(h) && !job.avoid.contains(&h.id));
        let avoid = (elsewhere && !job.avoid.is_empty()).then(|| job.avoid.as_slice().into());
        let weight = self.cfg.user_weights.get(&job.user).copied().unwrap_or(1.0);
        let user = self.queue.intern(&job.user, weight);
        let hosts = &self.hosts;
        let cost = self
            .cost
            .estimate(&job, &self.cfg, |h| hosts.get(&h).map(|h| h.speed.value));
        let local = job
            .local
            .as_ref()
            .filter(|o| o.slots > 0)
            .map(|o| self.machine_of(o));
        self.queue.push(Queued {
            id,
            user,
            cost,
            size: job.size_bytes,
            known: CostModel::knows(&job),
            blind: self.cost.blind(&job),
            local,
            enqueued: now,
            wait_until: None,
            compiler,
            avoid,
        });
        self.settle(now);
        if self.queue.contains(id) {
            self.counters.waits += 1;
            if self.queue.len() > self.cfg.max_queued {
                self.queue.remove(id);
                self.refuse(id, FarmRefusal::QueueFull);
            }
        }
    }

    /// Admits again the requests held through the start-up grace: a server has come, or
    /// the grace is over and they are told to compile locally.
    pub(super) fn retry_held(&mut self, now: Micros) {
        if self.held.is_empty() {
            return;
        }
        for (id, job) in std::mem::take(&mut self.held) {
            self.admit(now, id, job);
        }
    }

    fn refuse(&mut self, request: RequestId, reason: FarmRefusal) {
        self.counters.local += 1;
        self.out.push(Action::CompileLocally { request, reason });
        self.settle(self.now);
    }

    /// A client is done with a lease and reports how it went. The slot returns; an `Ok`
    /// teaches the host's speed and the size model; a transport failure counts against the
    /// host; a compile error counts for nothing. If the lease had a speculative twin, a
    /// result (ok or compile error) wins the race and the twin is cancelled; a transport
    /// failure leaves the twin running alone.
    pub fn release(
        &mut self,
        now: Micros,
        lease: LeaseId,
        outcome: ReleaseReport,
    ) -> Result<Vec<Action>, SchedError> {
        if self.machines.request_of(lease).is_some() {
            self.advance(now);
            return self.release_local(lease, outcome).expect("a local lease");
        }
        if !self.leases.contains_key(&lease) {
            return Err(SchedError::UnknownLease(lease));
        }
        let now = self.advance(now);
        let l = self.unlink_lease(lease).expect("checked above");
        match outcome.result {
            JobEnd::Ok => {
                self.counters.released_ok += 1;
                self.learn(&l, outcome);
                self.host_success(&l);
                self.vouch(l.user);
            }
            JobEnd::CompileError => {
                self.counters.released_compile_error += 1;
                self.host_success(&l);
                self.vouch(l.user);
            }
            JobEnd::Transport => {
                self.counters.released_transport += 1;
                // Only a user whose jobs succeed is believed: a report is the client's
                // word, and one client's word must not take the farm down.
                let credit = self.credit.entry(l.user).or_default();
                if *credit > 0 {
                    *credit -= 1;
                    self.count_failure(l.host, now);
                } else {
                    self.counters.unvouched_failures += 1;
                }
            }
        }
        if let Some(twin) = l.twin
            && outcome.result != JobEnd::Transport
        {
            self.cancel_lease(twin);
        }
        Ok(self.finish())
    }

    /// A job of `user` succeeded (or failed in the compiler): its next failure report
    /// is believed.
    fn vouch(&mut self, user: UserIdx) {
        let credit = self.credit.entry(user).or_default();
        *credit = (*credit + 1).min(super::REPORT_CREDIT);
    }

    fn host_success(&mut self, l: &Lease) {
        self.touch(l.host);
        let cfg = &self.cfg;
        if let Some(h) = self.hosts.get_mut(&l.host) {
            h.health.success(cfg);
        }
    }

    /// Learns the host's speed (work / seconds, with the load at grant time divided back out)
    /// and the size model (work done per byte) from a successful job.
    fn learn(&mut self, l: &Lease, outcome: ReleaseReport) {
        let secs = outcome
            .duration
            .as_secs_f64()
            .max(self.cfg.min_cost.as_secs_f64());
        self.touch(l.host);
        let Some(h) = self.hosts.get_mut(&l.host) else {
            return;
        };
        let (was, samples) = (h.speed.value, h.speed.samples);
        let work = secs * h.speed.value * l.load_factor;
        if l.known_cost {
            h.speed
                .learn(l.cost / l.load_factor, secs, self.cfg.speed_alpha);
            self.cost.learn(l.size, work, self.cfg.size_alpha);
        } else {
            // Nothing was known about this job when it was placed: measure the host
            // against the mean such job rather than against a made-up cost. A size that
            // arrived later still teaches the size model.
            self.cost.learn_unknown(work, self.cfg.speed_alpha);
            self.cost.learn(l.size, work, self.cfg.size_alpha);
            h.speed.learn(
                self.cost.unknown_work() / l.load_factor,
                secs,
                self.cfg.speed_alpha,
            );
        }
        self.scale.learned(h, was, samples);
        self.rescale();
    }

    /// A client went away (its connection closed). Everything the request held is freed: its
    /// place in the queue, or its leases. Nothing counts against any host.
    pub fn client_gone(
        &mut self,
        now: Micros,
        held: impl Into<Held>,
    ) -> Result<Vec<Action>, SchedError> {
        let request = match held.into() {
            Held::Request(r) => r,
            Held::Lease(l) => match self.machines.request_of(l) {
                Some(r) => r,
                None => {
                    self.leases
                        .get(&l)
                        .ok_or(SchedError::UnknownLease(l))?
                        .request
                }
            },
        };
        if self.forget_local(request) {
            self.advance(now);
            self.counters.clients_gone += 1;
            return Ok(self.finish());
        }
        if let Some(at) = self.held.iter().position(|(h, _)| *h == request) {
            self.advance(now);
            self.counters.clients_gone += 1;
            self.held.remove(at);
            return Ok(self.finish());
        }
        if !self.queue.contains(request) && !self.granted.contains_key(&request) {
            return Err(SchedError::UnknownRequest(request));
        }
        self.advance(now);
        self.counters.clients_gone += 1;
        if self.queue.remove(request).is_none() {
            for lease in self
                .granted
                .get(&request)
                .copied()
                .unwrap_or_default()
                .iter()
            {
                self.unlink_lease(lease);
            }
        }
        Ok(self.finish())
    }

    /// The client learned its job's preprocessed size after asking (it asks while its
    /// preprocessor runs, to overlap the two). A waiting request that had no cost signal
    /// is re-estimated from the size, and may now be placed differently; a granted one
    /// keeps its timing, and its size teaches the size model when it is released.
    pub fn set_size(
        &mut self,
        now: Micros,
        request: RequestId,
        size_bytes: u64,
    ) -> Result<Vec<Action>, SchedError> {
        if size_bytes == 0 {
            return Ok(Vec::new());
        }
        self.advance(now);
        if let Some((_, job)) = self.held.iter_mut().find(|(h, _)| *h == request) {
            job.size_bytes = size_bytes;
            return Ok(Vec::new());
        }
        if self.machines.runs(request) {
            return Ok(Vec::new());
        }
        if let Some(q) = self.queue.get_mut(request) {
            q.size = size_bytes;
            if !q.known {
                q.cost = self.cost.of_size(size_bytes, &self.cfg);
                q.known = true;
            }
            q.blind &= !self.cost.sizes_tell();
            return Ok(self.finish());
        }
        let leases = self
            .granted
            .get(&request)
            .copied()
            .ok_or(SchedError::UnknownRequest(request))?;
        for lease in leases.iter() {
            if let Some(l) = self.leases.get_mut(&lease) {
                l.size = size_bytes;
            }
        }
        Ok(self.finish())
    }

    /// The holder will not run `lease`, a speculative copy offered by
    /// [`Action::Speculate`] (a client that runs one copy at a time): its slot returns at
    /// once, its twin carries on alone and is not offered another copy. Nothing counts
    /// against the host. Unlike [`Scheduler::client_gone`], the request keeps its lease.
    pub fn decline(&mut self, now: Micros, lease: LeaseId) -> Result<Vec<Action>, SchedError> {
        let twin = self
            .leases
            .get(&lease)
            .ok_or(SchedError::UnknownLease(lease))?
            .twin;
        self.advance(now);
        self.unlink_lease(lease);
        if let Some(t) = twin.and_then(|t| self.leases.get_mut(&t)) {
            t.no_twin = true;
        }
        Ok(self.finish())
    }

    /// Operator: set a user's fair-share weight (default 1).
    pub fn set_user_weight(&mut self, user: &str, weight: f64) -> Result<(), SchedError> {
        if !(weight.is_finite() && weight > 0.0) {
            return Err(SchedError::InvalidWeight(weight));
        }
        let idx = self.queue.intern(user, weight);
        self.queue.set_weight(idx, weight);
        self.cfg.user_weights.insert(user.to_owned(), weight);
        Ok(())
    }

    /// Removes a lease from every index (its host, its request, its twin) and returns it.
    pub(super) fn unlink_lease(&mut self, id: LeaseId) -> Option<Lease> {
        let l = self.leases.remove(&id)?;
        self.touch(l.host);
        if let Some(h) = self.hosts.get_mut(&l.host) {
            h.leases.remove(id);
        }
        if let Some(t) = l.twin.and_then(|t| self.leases.get_mut(&t)) {
            t.twin = None;
        }
        if let Some(held) = self.granted.get_mut(&l.request) {
            held.remove(id);
            if held.is_empty() {
                self.granted.remove(&l.request);
            }
        }
        Some(l)
    }

    /// Cancels a lease whose request is served elsewhere.
    fn cancel_lease(&mut self, id: LeaseId) {
        if let Some(l) = self.unlink_lease(id) {
            self.counters.cancels += 1;
            self.out.push(Action::Cancel {
                request: l.request,
                lease: id,
                host: l.host,
            });
        }
    }

    /// Revokes a lease whose host went away: if a twin carries on, the lease is just
    /// cancelled; otherwise the client is told to retry elsewhere.
    pub(super) fn revoke_lease(&mut self, id: LeaseId) {
        let Some(l) = self.unlink_lease(id) else {
            return;
        };
        if l.twin.is_some() {
            self.counters.cancels += 1;
            self.out.push(Action::Cancel {
                request: l.request,
                lease: id,
                host: l.host,
            });
        } else {
            self.counters.revocations += 1;
            self.out.push(Action::RetryElsewhere {
                request: l.request,
                lease: id,
                host: l.host,
            });
        }
    }

    /// Sends requests that waited too long home.
    pub(super) fn expire_waiting(&mut self, now: Micros) {
        let Some(cutoff) = now.0.checked_sub(duration_micros(self.cfg.max_wait)) else {
            return;
        };
        for request in self.queue.enqueued_by(Micros(cutoff)) {
            self.queue.remove(request);
            self.counters.local += 1;
            self.out.push(Action::CompileLocally {
                request,
                reason: FarmRefusal::WaitedTooLong,
            });
        }
    }
}

pub(super) fn duration_micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
