//! Events from clients: requests for slots, the sizes learned after them, releases, and
//! connections that close or run one copy of a job only.

use std::net::SocketAddr;
use std::time::Duration;

use ccfarm_placement::{
    Action, Held, JobEnd, JobInfo, LeaseId, LocalOffer, Micros, PreviousRun, ReleaseReport,
    RequestId, SchedError,
};
use ccfarm_proto::farm::{self, JobDescription};
use tokio::time::Instant;
use tracing::{debug, info};

use crate::event::Tx;
use crate::matching;

use super::{Actor, Waiting};

/// Requests per connection whose `Size` is still listened for.
const RECENT_REQUESTS: usize = 16;

/// The most slots a client machine's offer counts for: more cores than any workstation.
const MAX_LOCAL_SLOTS: u32 = 256;

/// How many requests one client connection may have waiting or granted at once
/// (`max_requests_per_connection`): a compile asks for one slot, and holds two while a
/// copy of it is speculated.
pub const DEFAULT_MAX_REQUESTS_PER_CONNECTION: u32 = 8;

/// How many (user, source) durations are remembered for cost estimates.
const HISTORY_CAP: usize = 200_000;

impl Actor {
    /// Requests of connection `conn` waiting or granted. A connection that has not
    /// asked before (each compile's connection asks once, or again after a failed
    /// server) needs no walk over the farm's requests.
    fn outstanding(&self, conn: u64) -> u32 {
        if self.conn_requests.get(&conn).is_none_or(Vec::is_empty) {
            return 0;
        }
        self.held_by(|c, _| c == conn)
    }

    /// Requests of `user` waiting or granted, over all its connections (a walk over the
    /// farm's requests and leases, made only where a per-user cap is configured).
    fn outstanding_of_user(&self, user: &str) -> u32 {
        self.held_by(|_, u| u == user)
    }

    /// Requests waiting and leases held by the clients `of` picks (by connection and
    /// user).
    fn held_by(&self, of: impl Fn(u64, &str) -> bool) -> u32 {
        let waiting = self
            .requests
            .values()
            .filter(|w| of(w.conn, &w.user))
            .count();
        let held = self.leases.values().filter(|h| of(h.conn, &h.user)).count();
        (waiting + held) as u32
    }

    /// A client asks for a slot for `job`, under its own request `number`.
    pub(super) fn on_request(
        &mut self,
        now: Micros,
        conn: u64,
        number: u64,
        (user, machine): (String, String),
        job: JobDescription,
        tx: Tx,
    ) -> Result<Vec<Action>, SchedError> {
        let cap = self
            .settings
            .file
            .max_requests_per_connection
            .unwrap_or(DEFAULT_MAX_REQUESTS_PER_CONNECTION);
        if self.outstanding(conn) >= cap {
            // One connection asking for many slots at once is not a compile (which asks
            // for one, and holds two while a copy is speculated) but a client holding
            // slots others are waiting for.
            self.settings.metrics.sent_local("too_many_requests");
            let _ = tx.send(farm::FromScheduler::CompileLocally {
                request: number,
                reason: format!(
                    "this connection already has {cap} requests waiting or granted (max_requests_per_connection)"
                ),
            });
            return Ok(Vec::new());
        }
        if let Some(cap) = self.settings.file.max_requests_per_user
            && self.outstanding_of_user(&user) >= cap
        {
            self.settings.metrics.sent_local("too_many_requests");
            let _ = tx.send(farm::FromScheduler::CompileLocally {
                request: number,
                reason: format!(
                    "{user} already has {cap} requests waiting or granted (max_requests_per_user)"
                ),
            });
            return Ok(Vec::new());
        }
        self.next_request += 1;
        let id = RequestId(self.next_request);
        let recent = self.conn_requests.entry(conn).or_default();
        // A client sends a request's size right after it; only the latest few are
        // kept, so a connection that asks many times does not grow this forever.
        if recent.len() == RECENT_REQUESTS {
            recent.remove(0);
        }
        recent.push((number, id));
        let key = (!job.source.is_empty()).then(|| (user.clone(), job.source.clone()));
        let previous = match (job.previous_ms, &key) {
            (Some(ms), _) => {
                let run = self.reported_run(ms, job.previous_server.as_deref());
                self.settings.metrics.remembered(if run.host.is_some() {
                    "client"
                } else {
                    "client_elsewhere"
                });
                Some(run)
            }
            (None, Some(key)) => self.history.get(key).copied().inspect(|_| {
                self.settings.metrics.remembered("scheduler");
            }),
            (None, None) => None,
        };
        let compiler = job.compiler_identity.as_ref().map(matching::key);
        let wants = compiler
            .clone()
            .map(|k| Box::new((job.compiler.clone(), k)));
        self.requests.insert(
            id,
            Waiting {
                conn,
                number,
                user: user.clone(),
                tx,
                since: Instant::now(),
                key,
                wants,
            },
        );
        self.settings.metrics.requests.inc();
        let avoid = job
            .avoid
            .iter()
            .filter_map(|s| s.parse::<SocketAddr>().ok())
            .filter_map(|addr| self.hosts.host_at(addr))
            // A client fails a job on a few servers before it gives up on the farm; a
            // longer list is not a real client's and would only slow placement.
            .take(8)
            .collect();
        // A machine's slots are pooled per user: a name is only a client's claim, and
        // one user's claim must not take another's slots.
        let local = (job.local_slots > 0).then(|| LocalOffer {
            machine: format!("{user}@{machine}"),
            slots: job.local_slots.min(MAX_LOCAL_SLOTS),
        });
        let info = JobInfo {
            user,
            size_bytes: job.preprocessed_bytes.unwrap_or(0),
            previous,
            compiler,
            avoid,
            local,
        };
        self.sched.request(now, id, info)
    }

    /// A client learned the preprocessed size of its request `number`.
    pub(super) fn on_size(
        &mut self,
        now: Micros,
        conn: u64,
        number: u64,
        bytes: u64,
    ) -> Result<Vec<Action>, SchedError> {
        let id = self
            .conn_requests
            .get(&conn)
            .and_then(|r| r.iter().rev().find(|(n, _)| *n == number))
            .map(|(_, id)| *id);
        match id {
            Some(id) => match self.sched.set_size(now, id, bytes) {
                Ok(actions) => Ok(actions),
                // Already finished: nothing to learn.
                Err(_) => Ok(Vec::new()),
            },
            None => Ok(Vec::new()),
        }
    }

    /// A client is done with `lease`: the job's result and how long it held the slot.
    pub(super) fn on_release(
        &mut self,
        now: Micros,
        conn: u64,
        lease: u64,
        result: farm::JobResult,
        duration_ms: u64,
    ) -> Result<Vec<Action>, SchedError> {
        let lease = LeaseId(lease);
        match self.leases.get(&lease) {
            Some(held) if held.conn == conn => {}
            // Already revoked or cancelled, or not this connection's: nothing to do.
            _ => {
                debug!(lease = lease.0, "release of a lease not held; ignored");
                return Ok(Vec::new());
            }
        }
        let held = self.leases.remove(&lease).expect("checked above");
        let result = match result {
            farm::JobResult::Ok => JobEnd::Ok,
            farm::JobResult::CompileError => JobEnd::CompileError,
            farm::JobResult::TransportFailure => JobEnd::Transport,
        };
        let duration = Duration::from_millis(duration_ms);
        self.settings.metrics.released(result, duration);
        // A compile on the client's own machine is timed there, in no server's units:
        // not remembered as the file's cost.
        if result != JobEnd::Transport
            && let (Some(key), Some(host)) = (held.key, held.host)
        {
            if self.history.len() >= HISTORY_CAP {
                // Crude but bounded: forget everything rather than grow forever.
                self.history.clear();
            }
            self.history.insert(
                key,
                PreviousRun {
                    duration,
                    host: Some(host),
                },
            );
        }
        self.sched
            .release(now, lease, ReleaseReport { duration, result })
    }

    /// A connection closed: its requests and leases (client) or its host (server) go.
    pub(super) fn on_gone(&mut self, now: Micros, conn: u64) -> Result<Vec<Action>, SchedError> {
        self.one_copy.remove(&conn);
        self.conn_requests.remove(&conn);
        let mut actions = Vec::new();
        if let Some(host) = self.members.closed(conn) {
            info!(
                host = self.sched.host_name(host).unwrap_or("?"),
                "server disconnected"
            );
            self.registered_compilers.remove(&host);
            actions.extend(self.sched.leave(now, host)?);
        }
        let leases: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(_, held)| held.conn == conn)
            .map(|(l, _)| *l)
            .collect();
        for lease in leases {
            self.leases.remove(&lease);
            actions.extend(
                self.sched
                    .client_gone(now, Held::Lease(lease))
                    .unwrap_or_default(),
            );
        }
        let requests: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, w)| w.conn == conn)
            .map(|(r, _)| *r)
            .collect();
        for request in requests {
            self.requests.remove(&request);
            actions.extend(
                self.sched
                    .client_gone(now, Held::Request(request))
                    .unwrap_or_default(),
            );
        }
        Ok(actions)
    }

    /// `conn` runs one copy of a job at a time: speculative copies are declined for it.
    pub(super) fn on_one_copy(&mut self, conn: u64) -> Result<Vec<Action>, SchedError> {
        self.one_copy.insert(conn);
        Ok(Vec::new())
    }

    /// A previous compile a client reports: `ms` on `server`, which is converted to work
    /// with that server's learned speed if it is a host of this farm (else the duration is
    /// taken as work at speed 1, as for a server this scheduler never knew).
    fn reported_run(&self, ms: u64, server: Option<&str>) -> PreviousRun {
        let host = server
            .and_then(|s| s.parse::<SocketAddr>().ok())
            .and_then(|addr| self.hosts.host_at(addr));
        PreviousRun {
            duration: Duration::from_millis(ms),
            host,
        }
    }
}
