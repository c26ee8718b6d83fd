//! Read-only views: the status snapshot, lookups, and a self-check for tests and simulators.

use std::collections::BTreeMap;

use crate::error::InvariantError;
use crate::health::Health;
use crate::ids::{HostId, LeaseId, RequestId};
use crate::lease::{Holding, Lease};
use crate::snapshot::{Counters, HostStatus, Snapshot, UserStatus};
use crate::time::Micros;

use super::Scheduler;

/// A waiting request, for simulators and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedRequest {
    /// The request.
    pub id: RequestId,
    /// Its user.
    pub user: String,
    /// When it arrived.
    pub enqueued: Micros,
    /// If the policy declined a free slot for it: the time by which it expected a better
    /// one. Never moves later; once passed, the request takes any free slot.
    pub wait_until: Option<Micros>,
    /// Expected work (seconds at speed 1).
    pub cost: f64,
}

/// A lease, for simulators and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseInfo {
    /// The lease.
    pub id: LeaseId,
    /// The request holding it.
    pub request: RequestId,
    /// Where it runs.
    pub host: HostId,
    /// When it was granted.
    pub granted_at: Micros,
    /// Expected work (seconds at speed 1).
    pub cost: f64,
    /// When it was expected to finish, at grant time.
    pub expected_end: Micros,
    /// Its speculative twin, if any.
    pub twin: Option<LeaseId>,
}

impl Scheduler {
    /// The id of the host called `name`.
    pub fn host_id(&self, name: &str) -> Option<HostId> {
        self.names.get(name).copied()
    }

    /// The name of a host.
    pub fn host_name(&self, host: HostId) -> Option<&str> {
        self.hosts.get(&host).map(|h| h.name.as_str())
    }

    /// The effective health of a host.
    pub fn health(&self, host: HostId) -> Option<Health> {
        self.hosts.get(&host).map(|h| h.health.effective())
    }

    /// Free usable slots across the farm (hosts up or on probation, within capacity).
    pub fn free_slots(&self) -> u32 {
        self.hosts.values().map(|h| h.free(&self.cfg)).sum()
    }

    /// Waiting requests, in no particular order.
    pub fn queued(&self) -> Vec<QueuedRequest> {
        self.queue
            .iter()
            .map(|q| QueuedRequest {
                id: q.id,
                user: self.queue.user_name(q.user).to_owned(),
                enqueued: q.enqueued,
                wait_until: q.wait_until,
                cost: q.cost,
            })
            .collect()
    }

    /// A lease.
    pub fn lease(&self, lease: LeaseId) -> Option<LeaseInfo> {
        self.leases.get(&lease).map(|l| LeaseInfo {
            id: l.id,
            request: l.request,
            host: l.host,
            granted_at: l.timing.granted_at,
            cost: l.cost,
            expected_end: l.timing.expected_end(),
            twin: l.twin,
        })
    }

    /// Every lease, in id order.
    pub fn leases(&self) -> Vec<LeaseInfo> {
        let mut ids: Vec<LeaseId> = self.leases.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter().filter_map(|l| self.lease(l)).collect()
    }

    /// Event counts since start.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Everything the status page shows.
    pub fn snapshot(&self) -> Snapshot {
        let mut running: BTreeMap<_, u32> = BTreeMap::new();
        for l in self.leases.values() {
            *running.entry(l.user).or_default() += 1;
        }
        let fastest = self
            .hosts
            .values()
            .map(|h| h.speed.value)
            .fold(f64::MIN_POSITIVE, f64::max);
        Snapshot {
            now: self.now,
            policy: self.placement.name().to_owned(),
            hosts: self
                .hosts
                .values()
                .map(|h| HostStatus {
                    id: h.id,
                    name: h.name.clone(),
                    kind: h.kind,
                    health: h.health.effective(),
                    down_reason: h.health.down_reason(),
                    slots: h.slots,
                    capacity: h.capacity(&self.cfg),
                    leases: h.running(),
                    foreign_jobs: h.external,
                    weight: h.weight,
                    speed: h.speed.value,
                    samples: h.speed.samples,
                    relative_speed: h.speed.value / fastest,
                    calibration_ms: h.calibration.map(|d| d.as_secs_f64() * 1e3),
                    load_avg: h.load_avg,
                    free_memory: h.free_memory,
                    consecutive_failures: h.health.consecutive_failures(),
                    last_heartbeat: h.last_heartbeat,
                    compilers: h
                        .compilers
                        .iter()
                        .map(|&c| self.compilers.key(c).clone())
                        .collect(),
                })
                .collect(),
            users: self
                .queue
                .users()
                .map(|u| UserStatus {
                    name: u.name.to_owned(),
                    weight: u.weight,
                    queued: u.queued,
                    running: running.get(&u.idx).copied().unwrap_or(0),
                    granted: u.granted,
                })
                .collect(),
            queued: self.queue.len(),
            leases: self.leases.len(),
            free_slots: self.free_slots(),
            secs_per_byte: self.cost.secs_per_byte(),
            size_line: self.cost.line(),
            speed_scale: self.scale.applied(),
            machines: self.machines.statuses(),
            counters: self.counters.clone(),
        }
    }

    /// Checks the internal bookkeeping; `Err` describes the first inconsistency. Meant for
    /// tests and simulators (it walks everything).
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        self.machines.check()?;
        // In id order, so that the first inconsistency reported is the same on every run.
        let mut leases: Vec<(&LeaseId, &Lease)> = self.leases.iter().collect();
        leases.sort_unstable_by_key(|&(id, _)| *id);
        for (id, l) in leases {
            let h = self
                .hosts
                .get(&l.host)
                .ok_or_else(|| InvariantError::Leases(format!("{id} on unknown {}", l.host)))?;
            if !h.leases.contains(*id) {
                return Err(InvariantError::Leases(format!(
                    "{id} missing from {}",
                    l.host
                )));
            }
            if h.health.is_down() {
                return Err(InvariantError::Leases(format!(
                    "{id} lives on down {}",
                    l.host
                )));
            }
            if !self
                .granted
                .get(&l.request)
                .is_some_and(|v| v.contains(*id))
            {
                return Err(InvariantError::Leases(format!(
                    "{id} missing from {}",
                    l.request
                )));
            }
            if self.queue.contains(l.request) {
                return Err(InvariantError::Leases(format!(
                    "{} both queued and granted",
                    l.request
                )));
            }
            if let Some(t) = l.twin {
                let twin = self
                    .leases
                    .get(&t)
                    .ok_or_else(|| InvariantError::Leases(format!("{id}'s twin gone")))?;
                if twin.twin != Some(*id) || twin.request != l.request || twin.host == l.host {
                    return Err(InvariantError::Leases(format!(
                        "{id} and {t} are not proper twins"
                    )));
                }
            }
        }
        for h in self.hosts.values() {
            if let Some(l) = h.leases.ids().find(|l| !self.leases.contains_key(l)) {
                return Err(InvariantError::Leases(format!(
                    "{} lists released {l}",
                    h.id
                )));
            }
        }
        let mut granted: Vec<(&RequestId, &Holding)> = self.granted.iter().collect();
        granted.sort_unstable_by_key(|&(r, _)| *r);
        for (r, ls) in granted {
            if ls.is_empty() || ls.iter().any(|l| !self.leases.contains_key(&l)) {
                return Err(InvariantError::Leases(format!("{r} holds {ls:?}")));
            }
        }
        self.queue.check()?;
        let deadlines: std::collections::BTreeSet<_> = self
            .hosts
            .values()
            .filter_map(|h| super::clock::host_deadline(h, &self.cfg).map(|t| (t, h.id)))
            .collect();
        if deadlines != self.deadlines {
            return Err(InvariantError::Hosts("host deadlines out of step".into()));
        }
        if self.queue.iter().count() != self.queue.len() {
            return Err(InvariantError::Queue("queue index out of step".into()));
        }
        if !self.dirty.is_empty() {
            return Err(InvariantError::Hosts(format!(
                "hosts {:?} changed but not re-indexed",
                self.dirty
            )));
        }
        self.scale.check(&self.hosts)?;
        self.check_compilers()?;
        self.index.check(&self.hosts, &self.cfg, self.now)?;
        Ok(())
    }
}
