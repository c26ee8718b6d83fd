//! The one task that owns the scheduler state machine. Connections send it events;
//! it applies them with the current time, turns the resulting actions into messages
//! for the connections concerned, and ticks at the state machine's next deadline.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use ccfarm_proto::farm::{self, FromScheduler, JobDescription};
use ccfarm_sched::{
    Action, Heartbeat, Held, HostId, HostSpec, JobInfo, JobResult, LeaseId, Micros, Outcome,
    RequestId, Scheduler, Snapshot,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{info, warn};

/// Messages to one connection.
pub type Tx = mpsc::UnboundedSender<FromScheduler>;

/// What connections tell the actor.
#[derive(Debug)]
pub enum Event {
    /// A client asks for a slot.
    Request {
        conn: u64,
        number: u64,
        user: String,
        job: JobDescription,
        tx: Tx,
    },
    /// A client is done with a lease.
    Release {
        lease: u64,
        result: farm::JobResult,
        duration_ms: u64,
    },
    /// A server registered.
    Register {
        conn: u64,
        name: String,
        ip: IpAddr,
        port: u16,
        slots: u32,
        lzo: bool,
    },
    /// A server's heartbeat.
    Heartbeat {
        conn: u64,
        slots: u32,
        running: u32,
        load: f64,
        free_memory_mb: u64,
    },
    /// A connection closed: its requests and leases (client) or its host (server) go.
    Gone { conn: u64 },
    /// The status page wants the state.
    Snapshot(oneshot::Sender<Snapshot>),
}

struct Address {
    ip: IpAddr,
    port: u16,
    lzo: bool,
}

/// Run the actor until every sender is gone.
pub async fn run(mut sched: Scheduler, mut events: mpsc::UnboundedReceiver<Event>) {
    let start = Instant::now();
    let now = move || Micros(start.elapsed().as_micros() as u64);
    let mut state = State::default();
    loop {
        let deadline = sched
            .next_deadline()
            .map(|d| start + Duration::from_micros(d.0));
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => state.handle(&mut sched, now(), event),
                None => return,
            },
            () = sleep => {
                let actions = sched.tick(now());
                state.apply(&mut sched, now(), actions);
            }
        }
    }
}

#[derive(Default)]
struct State {
    next_request: u64,
    requests: HashMap<RequestId, (u64, u64, Tx)>,
    leases: HashMap<LeaseId, u64>,
    hosts: HashMap<HostId, Address>,
    conn_host: HashMap<u64, HostId>,
}

impl State {
    fn handle(&mut self, sched: &mut Scheduler, now: Micros, event: Event) {
        let result = match event {
            Event::Request {
                conn,
                number,
                user,
                job,
                tx,
            } => {
                self.next_request += 1;
                let id = RequestId(self.next_request);
                self.requests.insert(id, (conn, number, tx));
                let info = JobInfo {
                    user,
                    size_bytes: job.preprocessed_bytes.unwrap_or(0),
                    previous: None,
                };
                sched.request(now, id, info)
            }
            Event::Release {
                lease,
                result,
                duration_ms,
            } => {
                let lease = LeaseId(lease);
                self.leases.remove(&lease);
                let result = match result {
                    farm::JobResult::Ok => JobResult::Ok,
                    farm::JobResult::CompileError => JobResult::CompileError,
                    farm::JobResult::TransportFailure => JobResult::Transport,
                };
                sched.release(
                    now,
                    lease,
                    Outcome {
                        duration: Duration::from_millis(duration_ms),
                        result,
                    },
                )
            }
            Event::Register {
                conn,
                name,
                ip,
                port,
                slots,
                lzo,
            } => {
                match sched.join(
                    now,
                    HostSpec {
                        name: name.clone(),
                        slots,
                        weight: 1.0,
                    },
                ) {
                    Ok((host, actions)) => {
                        info!(%name, %ip, port, slots, "server registered");
                        self.hosts.insert(host, Address { ip, port, lzo });
                        self.conn_host.insert(conn, host);
                        Ok(actions)
                    }
                    Err(e) => Err(e),
                }
            }
            Event::Heartbeat {
                conn,
                slots,
                running,
                load,
                free_memory_mb,
            } => match self.conn_host.get(&conn) {
                Some(&host) => {
                    let beat = Heartbeat {
                        slots,
                        running,
                        load_avg: Some(load),
                        free_memory: Some(free_memory_mb * 1024 * 1024),
                    };
                    sched.heartbeat(now, host, beat)
                }
                None => Ok(Vec::new()),
            },
            Event::Gone { conn } => self.gone(sched, now, conn),
            Event::Snapshot(reply) => {
                let _ = reply.send(sched.snapshot());
                Ok(Vec::new())
            }
        };
        match result {
            Ok(actions) => self.apply(sched, now, actions),
            Err(e) => warn!("scheduler: {e}"),
        }
    }

    fn gone(
        &mut self,
        sched: &mut Scheduler,
        now: Micros,
        conn: u64,
    ) -> Result<Vec<Action>, ccfarm_sched::SchedError> {
        let mut actions = Vec::new();
        if let Some(host) = self.conn_host.remove(&conn) {
            self.hosts.remove(&host);
            actions.extend(sched.leave(now, host)?);
        }
        let leases: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(_, c)| **c == conn)
            .map(|(l, _)| *l)
            .collect();
        for lease in leases {
            self.leases.remove(&lease);
            actions.extend(
                sched
                    .client_gone(now, Held::Lease(lease))
                    .unwrap_or_default(),
            );
        }
        let requests: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, (c, _, _))| *c == conn)
            .map(|(r, _)| *r)
            .collect();
        for request in requests {
            self.requests.remove(&request);
            actions.extend(
                sched
                    .client_gone(now, Held::Request(request))
                    .unwrap_or_default(),
            );
        }
        Ok(actions)
    }

    fn apply(&mut self, sched: &mut Scheduler, now: Micros, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Grant {
                    request,
                    lease,
                    host,
                } => {
                    let (Some((conn, number, tx)), Some(addr)) =
                        (self.requests.remove(&request), self.hosts.get(&host))
                    else {
                        // The client or the host vanished in between: give the slot back.
                        let more = sched
                            .client_gone(now, Held::Lease(lease))
                            .unwrap_or_default();
                        self.apply(sched, now, more);
                        continue;
                    };
                    self.leases.insert(lease, conn);
                    let _ = tx.send(FromScheduler::Grant {
                        request: number,
                        lease: lease.0,
                        host: addr.ip.to_string(),
                        port: addr.port,
                        lzo: addr.lzo,
                    });
                }
                Action::CompileLocally { request, reason } => {
                    if let Some((_, number, tx)) = self.requests.remove(&request) {
                        let _ = tx.send(FromScheduler::CompileLocally {
                            request: number,
                            reason: format!("{reason:?}"),
                        });
                    }
                }
                // A client runs one copy of a job; a second copy is not started (yet).
                Action::Speculate { new_lease, .. } => {
                    let more = sched
                        .client_gone(now, Held::Lease(new_lease))
                        .unwrap_or_default();
                    self.apply(sched, now, more);
                }
                Action::Cancel { lease, .. } | Action::RetryElsewhere { lease, .. } => {
                    self.leases.remove(&lease);
                }
                Action::Probe { .. } => {}
            }
        }
    }
}
