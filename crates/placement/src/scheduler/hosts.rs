//! Host membership, heartbeats, probes and admin operations.

use crate::action::Action;
use crate::error::SchedError;
use crate::health::Failure;
use std::time::Duration;

use crate::host::{Heartbeat, Host, HostKind, HostSpec, Speed};
use crate::ids::HostId;
use crate::time::Micros;

use super::Scheduler;

fn validate(spec: &HostSpec) -> Result<(), SchedError> {
    if spec.name.is_empty() {
        return Err(SchedError::EmptyHostName);
    }
    if !(spec.weight.is_finite() && spec.weight > 0.0) {
        return Err(SchedError::InvalidWeight(spec.weight));
    }
    Ok(())
}

impl Scheduler {
    /// A ccfarmd registers (or re-registers after a restart or reconnect). A known name keeps
    /// its id and learned speed; if it was down for any reason but an operator's, it comes
    /// back on probation.
    pub fn join(
        &mut self,
        now: Micros,
        spec: HostSpec,
    ) -> Result<(HostId, Vec<Action>), SchedError> {
        validate(&spec)?;
        let now = self.advance(now);
        let id = match self.names.get(&spec.name) {
            Some(&id) => {
                let h = self.host_mut(id);
                h.kind = HostKind::Registered;
                h.slots = spec.slots;
                h.last_heartbeat = now;
                h.next_probe_at = None;
                h.probe_sent = None;
                h.health.rejoin();
                self.set_host_weight(id, spec.weight);
                id
            }
            None => self.insert_host(spec, HostKind::Registered, now),
        };
        Ok((id, self.finish()))
    }

    /// Operator: add a statically configured host (a stock distccd). It starts on probation
    /// and is probed at once, then every [`crate::Config::probe_interval`].
    pub fn add(
        &mut self,
        now: Micros,
        spec: HostSpec,
    ) -> Result<(HostId, Vec<Action>), SchedError> {
        validate(&spec)?;
        if self.names.contains_key(&spec.name) {
            return Err(SchedError::DuplicateHost(spec.name));
        }
        let now = self.advance(now);
        let id = self.insert_host(spec, HostKind::Static, now);
        self.host_mut(id).next_probe_at = Some(now);
        self.ask_probes(now);
        Ok((id, self.finish()))
    }

    fn insert_host(&mut self, spec: HostSpec, kind: HostKind, now: Micros) -> HostId {
        let id = HostId(self.next_host);
        self.next_host += 1;
        self.names.insert(spec.name.clone(), id);
        let mut host = Host::new(id, spec, kind, now);
        self.scale.admit(&mut host);
        self.hosts.insert(id, host);
        self.touch(id);
        id
    }

    /// A registered host reports its state. It proves the host alive: a host down for
    /// missed heartbeats comes back on probation.
    pub fn heartbeat(
        &mut self,
        now: Micros,
        host: HostId,
        hb: Heartbeat,
    ) -> Result<Vec<Action>, SchedError> {
        self.known(host)?;
        let now = self.advance(now);
        let h = self.host_mut(host);
        h.last_heartbeat = now;
        h.slots = hb.slots;
        h.external = hb.running.saturating_sub(h.running());
        h.load_avg = hb.load_avg.filter(|l| l.is_finite() && *l >= 0.0);
        h.free_memory = hb.free_memory;
        h.health.heartbeat();
        if let Some(took) = hb.calibration.filter(|t| !t.is_zero()) {
            self.calibrate(host, took);
        }
        Ok(self.finish())
    }

    /// A host's calibration compile — the same translation unit on every host, run while
    /// the host had nothing else to do — took `took`. From now on its speed is that
    /// measurement (`1 / seconds`), not learned from its jobs, until the next calibration.
    /// The shell gets it from the host's registration and heartbeats, or times it itself.
    pub fn calibrated(
        &mut self,
        now: Micros,
        host: HostId,
        took: Duration,
    ) -> Result<Vec<Action>, SchedError> {
        self.known(host)?;
        if took.is_zero() {
            return Err(SchedError::InvalidCalibration(took));
        }
        self.advance(now);
        self.calibrate(host, took);
        Ok(self.finish())
    }

    fn calibrate(&mut self, host: HostId, took: Duration) {
        let h = self.hosts.get_mut(&host).expect("checked");
        if h.calibration == Some(took) {
            return;
        }
        self.scale.forget(h);
        let samples = h.speed.samples;
        h.speed = Speed::calibrated(took.as_secs_f64());
        h.speed.samples = h.speed.samples.max(samples);
        h.calibration = Some(took);
        self.scale.admit(h);
        self.touch(host);
        self.rescale();
    }

    /// A registered host says goodbye: it is down (its leases are revoked) until it joins
    /// again. Its learned speed is kept for then.
    pub fn leave(&mut self, now: Micros, host: HostId) -> Result<Vec<Action>, SchedError> {
        self.known(host)?;
        self.advance(now);
        if self.host_mut(host).health.left() {
            self.host_went_down(host);
        }
        Ok(self.finish())
    }

    /// The shell's answer to an [`Action::Probe`] (or a probe it made on its own). Success
    /// brings a host down for failures onto probation; failure counts like a transport
    /// failure and backs off.
    pub fn probe_result(
        &mut self,
        now: Micros,
        host: HostId,
        ok: bool,
    ) -> Result<Vec<Action>, SchedError> {
        self.known(host)?;
        let now = self.advance(now);
        self.probe_done(host, ok, now);
        Ok(self.finish())
    }

    pub(super) fn probe_done(&mut self, host: HostId, ok: bool, now: Micros) {
        self.touch(host);
        let (interval, cfg) = (self.cfg.probe_interval, &self.cfg);
        let h = self.hosts.get_mut(&host).expect("caller checked");
        h.probe_sent = None;
        h.next_probe_at = (h.kind == HostKind::Static).then(|| now + interval);
        if ok {
            h.health.probe_ok(cfg);
        } else {
            self.count_failure(host, now);
        }
    }

    /// Counts a transport failure (or failed probe) against `host`: after too many, the host
    /// goes down (its leases are revoked) and is probed again after the backoff.
    pub(super) fn count_failure(&mut self, host: HostId, now: Micros) {
        self.touch(host);
        let cfg = &self.cfg;
        let h = self.hosts.get_mut(&host).expect("caller checked");
        match h.health.failure(cfg) {
            Failure::Counted => {}
            Failure::StillDown(backoff) => h.next_probe_at = Some(now + backoff),
            Failure::WentDown(backoff) => {
                h.next_probe_at = Some(now + backoff);
                self.host_went_down(host);
            }
        }
    }

    /// Emits [`Action::Probe`] for every host whose probe is due.
    pub(super) fn ask_probes(&mut self, now: Micros) {
        for id in self.due_hosts(now) {
            let Some(h) = self.hosts.get_mut(&id) else {
                continue;
            };
            if h.probe_sent.is_none() && h.next_probe_at.is_some_and(|at| at <= now) {
                h.next_probe_at = None;
                h.probe_sent = Some(now);
                self.dirty.push(h.id);
                self.out.push(Action::Probe { host: h.id });
            }
        }
    }

    /// Operator: drain. Running leases finish; nothing new is granted until [`Scheduler::up`].
    pub fn drain(&mut self, now: Micros, host: HostId) -> Result<Vec<Action>, SchedError> {
        self.known(host)?;
        self.advance(now);
        self.host_mut(host).health.admin_drain();
        Ok(self.finish())
    }

    /// Operator: down, now. Leases are revoked (clients retry elsewhere); nothing is granted
    /// until [`Scheduler::up`], whatever heartbeats or probes say.
    pub fn down(&mut self, now: Micros, host: HostId) -> Result<Vec<Action>, SchedError> {
        self.known(host)?;
        self.advance(now);
        if self.host_mut(host).health.admin_down() {
            self.host_went_down(host);
        }
        Ok(self.finish())
    }

    /// Operator: up. Clears drain, down, failure counts and backoff; the host is trusted with
    /// all its slots (and must keep heartbeating, if registered).
    pub fn up(&mut self, now: Micros, host: HostId) -> Result<Vec<Action>, SchedError> {
        self.known(host)?;
        let now = self.advance(now);
        let interval = self.cfg.probe_interval;
        let h = self.host_mut(host);
        h.health.admin_up();
        h.last_heartbeat = now;
        h.probe_sent = None;
        h.next_probe_at = (h.kind == HostKind::Static).then(|| now + interval);
        Ok(self.finish())
    }

    /// Operator: forget a host. Its leases are revoked, and requests waiting for a compiler
    /// only it had are sent home.
    pub fn remove(&mut self, now: Micros, host: HostId) -> Result<Vec<Action>, SchedError> {
        self.known(host)?;
        self.advance(now);
        self.revoke_host_leases(host);
        if let Some(h) = self.hosts.remove(&host) {
            self.index.remove(&h);
            self.scale.forget(&h);
            self.rescale();
            if let Some(t) = h.deadline {
                self.deadlines.remove(&(t, host));
            }
            self.names.remove(&h.name);
            self.lost_compilers(&h.compilers);
        }
        Ok(self.finish())
    }

    /// Marks missing heartbeats at `now`.
    pub(super) fn check_heartbeats(&mut self, now: Micros) {
        let timeout = self.cfg.heartbeat_timeout;
        let silent: Vec<HostId> = self
            .due_hosts(now)
            .into_iter()
            .filter_map(|id| self.hosts.get(&id))
            .filter(|h| {
                h.kind == HostKind::Registered
                    && h.health.watching_heartbeats()
                    && h.last_heartbeat + timeout <= now
            })
            .map(|h| h.id)
            .collect();
        for id in silent {
            if self.host_mut(id).health.silent() {
                self.host_went_down(id);
            }
        }
    }

    /// Probes that went unanswered count as failures.
    pub(super) fn check_probe_timeouts(&mut self, now: Micros) {
        let timeout = self.cfg.probe_timeout;
        let late: Vec<HostId> = self
            .due_hosts(now)
            .into_iter()
            .filter_map(|id| self.hosts.get(&id))
            .filter(|h| h.probe_sent.is_some_and(|s| s + timeout <= now))
            .map(|h| h.id)
            .collect();
        for id in late {
            self.probe_done(id, false, now);
        }
    }

    /// Hosts whose deadline ([`super::clock::host_deadline`]) has come, in id order: the
    /// only ones a heartbeat or probe check at `now` can concern.
    fn due_hosts(&mut self, now: Micros) -> Vec<HostId> {
        self.refresh_index();
        let mut due: Vec<HostId> = self
            .deadlines
            .range(..=(now, HostId(u32::MAX)))
            .map(|&(_, id)| id)
            .collect();
        due.sort_unstable();
        due
    }

    /// A host just became down: count it and revoke its leases.
    fn host_went_down(&mut self, host: HostId) {
        self.counters.host_downs += 1;
        self.revoke_host_leases(host);
    }

    fn revoke_host_leases(&mut self, host: HostId) {
        let leases: Vec<_> = self.host_mut(host).leases.ids().collect();
        for lease in leases {
            self.revoke_lease(lease);
        }
    }

    fn known(&self, host: HostId) -> Result<(), SchedError> {
        if self.hosts.contains_key(&host) {
            Ok(())
        } else {
            Err(SchedError::UnknownHost(host))
        }
    }

    /// The host, to change: it is marked for re-indexing.
    fn host_mut(&mut self, host: HostId) -> &mut Host {
        self.touch(host);
        self.hosts
            .get_mut(&host)
            .expect("caller checked the host exists")
    }
}
