//! Carrying out the state machine's actions: grants and "compile locally" answers to
//! waiting clients, speculative copies offered to holders, cancellations, and probes.

use ccfarm_placement::{Action, FarmRefusal, Held, LeaseId, Micros};
use ccfarm_proto::farm::FromScheduler;
use tracing::debug;

use crate::event::Event;
use crate::{matching, probe};

use super::{Actor, Holder};

impl Actor {
    /// Carries out the state machine's actions: answers to waiting clients, speculative
    /// copies, cancellations and probes. An action whose client, holder or host has
    /// vanished in between hands its slot back to the state machine instead.
    pub(super) fn apply(&mut self, now: Micros, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Grant {
                    request,
                    lease,
                    host,
                } => {
                    let (Some(waiting), Some(addr)) =
                        (self.requests.remove(&request), self.hosts.get(host))
                    else {
                        // The client or the host vanished in between: give the slot back.
                        self.give_back(now, lease);
                        continue;
                    };
                    self.settings.metrics.granted(waiting.since.elapsed());
                    if tracing::enabled!(tracing::Level::DEBUG) {
                        let info = self.sched.lease(lease);
                        debug!(
                            lease = lease.0,
                            host = self.sched.host_name(host).unwrap_or("?"),
                            source = waiting.key.as_ref().map_or("", |k| k.1.as_str()),
                            cost = info.as_ref().map(|l| l.cost),
                            expected_secs = info
                                .as_ref()
                                .map(|l| (l.expected_end - l.granted_at).as_secs_f64()),
                            waited_ms = waiting.since.elapsed().as_millis() as u64,
                            "granted"
                        );
                    }
                    let _ = waiting.tx.send(FromScheduler::Grant {
                        request: waiting.number,
                        lease: lease.0,
                        host: addr.addr.ip().to_string(),
                        port: addr.addr.port(),
                        lzo: addr.lzo,
                        proof: self.members.proof(host, &waiting.user, lease),
                    });
                    self.leases.insert(
                        lease,
                        Holder {
                            conn: waiting.conn,
                            user: waiting.user,
                            tx: waiting.tx,
                            host: Some(host),
                            key: waiting.key,
                        },
                    );
                }
                Action::RunHere { request, lease } => {
                    let Some(waiting) = self.requests.remove(&request) else {
                        self.give_back(now, lease);
                        continue;
                    };
                    self.settings.metrics.granted(waiting.since.elapsed());
                    debug!(lease = lease.0, user = %waiting.user, "run on the client's machine");
                    let _ = waiting.tx.send(FromScheduler::RunHere {
                        request: waiting.number,
                        lease: lease.0,
                    });
                    self.leases.insert(
                        lease,
                        Holder {
                            conn: waiting.conn,
                            user: waiting.user,
                            tx: waiting.tx,
                            host: None,
                            key: waiting.key,
                        },
                    );
                }
                Action::CompileLocally { request, reason } => {
                    if let Some(waiting) = self.requests.remove(&request) {
                        self.settings
                            .metrics
                            .sent_local(matching::reason_label(reason));
                        let text = match (&waiting.wants, reason) {
                            (Some(wants), FarmRefusal::NoMatchingCompiler) => matching::no_match(
                                &wants.0,
                                &wants.1,
                                &self.sched.compilers_offered(),
                            ),
                            _ => matching::local_reason(reason),
                        };
                        let _ = waiting.tx.send(FromScheduler::CompileLocally {
                            request: waiting.number,
                            reason: text,
                        });
                    }
                }
                Action::Speculate {
                    original_lease,
                    new_lease,
                    host,
                    ..
                } => {
                    let target = self.hosts.get(host);
                    // A holder that runs one copy only is no taker.
                    let holder = self
                        .leases
                        .get(&original_lease)
                        .filter(|h| !self.one_copy.contains(&h.conn))
                        .map(|h| (h.conn, h.user.clone(), h.tx.clone(), h.key.clone()));
                    // Declined, not dropped: the original copy keeps its lease.
                    let (Some(addr), Some((conn, user, tx, key))) = (target, holder) else {
                        let more = self.sched.decline(now, new_lease).unwrap_or_default();
                        self.apply(now, more);
                        continue;
                    };
                    debug!(
                        lease = original_lease.0,
                        new_lease = new_lease.0,
                        host = self.sched.host_name(host).unwrap_or("?"),
                        "speculative copy"
                    );
                    let _ = tx.send(FromScheduler::Speculate {
                        lease: original_lease.0,
                        new_lease: new_lease.0,
                        host: addr.addr.ip().to_string(),
                        port: addr.addr.port(),
                        lzo: addr.lzo,
                        proof: self.members.proof(host, &user, new_lease),
                    });
                    self.leases.insert(
                        new_lease,
                        Holder {
                            conn,
                            user,
                            tx,
                            host: Some(host),
                            key,
                        },
                    );
                }
                Action::Cancel { lease, .. } | Action::RetryElsewhere { lease, .. } => {
                    // The slot is already free in the state machine; tell the holder to stop
                    // (it then asks again, or keeps the other copy's result).
                    if let Some(held) = self.leases.remove(&lease) {
                        let _ = held.tx.send(FromScheduler::Cancel { lease: lease.0 });
                    }
                }
                Action::Probe { host } => match self.hosts.get(host) {
                    Some(addr) => {
                        let events = self.events.clone();
                        let compiler = self.settings.probe_compiler.clone();
                        let deadline = self.settings.probe_timeout;
                        tokio::spawn(async move {
                            let result = probe::probe(addr.addr, &compiler, deadline).await;
                            let _ = events.send(Event::ProbeDone { host, result });
                        });
                    }
                    None => {
                        let more = self
                            .sched
                            .probe_result(now, host, false)
                            .unwrap_or_default();
                        self.apply(now, more);
                    }
                },
            }
        }
    }

    /// Hands the slot of `lease`, which nobody will use (its client or host vanished
    /// before the answer went out), back to the state machine.
    fn give_back(&mut self, now: Micros, lease: LeaseId) {
        let more = self
            .sched
            .client_gone(now, Held::Lease(lease))
            .unwrap_or_default();
        self.apply(now, more);
    }
}
