//! The one task that owns the scheduler state machine. Connections send it events;
//! it applies them with the current time, turns the resulting actions into messages
//! for the connections concerned (grants, revocations, speculative copies), runs the
//! probes the state machine asks for, and ticks at the state machine's next deadline.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ccfarm_compiler::identity::Identity;
use ccfarm_placement::{
    Action, CompilerKey, FarmRefusal, Heartbeat, Held, HostId, HostSpec, JobEnd, JobInfo, LeaseId,
    Micros, PreviousRun, ReleaseReport, RequestId, Scheduler, Snapshot,
};
use ccfarm_proto::farm::{self, CompilerIdentity, FromScheduler, JobDescription};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::addresses::{Address, Addresses};
use crate::config::{FileConfig, StaticHost};
use crate::handle::{AdminError, AdminOp, Handle};
use crate::matching;
use crate::members::Members;
use crate::metrics::Metrics;
use crate::probe;
use ccfarm_trust::ticket::TicketKey;

/// Messages to one connection.
pub type Tx = mpsc::UnboundedSender<FromScheduler>;

/// What connections (and the actor's own probes) tell the actor.
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
    /// A client learned its job's preprocessed size.
    Size { conn: u64, number: u64, bytes: u64 },
    /// A client is done with a lease.
    Release {
        conn: u64,
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
        /// The key of its grant tickets, for a server that proved its name and takes TLS.
        tickets: Option<TicketKey>,
        /// Its connection, to refuse it on.
        tx: Tx,
        compilers: Vec<CompilerIdentity>,
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
    /// This connection runs one copy of a job at a time: speculative copies offered to it
    /// are declined on its behalf (the service's own ports: distcc proxy, balance lease).
    OneCopy { conn: u64 },
    /// A probe finished: with the compiler identity its object revealed, if any.
    ProbeDone {
        host: HostId,
        result: Result<Option<Identity>, String>,
    },
    /// The status page wants the state.
    Snapshot(oneshot::Sender<Snapshot>),
    /// The balance-daemon status port wants each host's name and distcc address.
    Addresses(oneshot::Sender<Vec<(String, SocketAddr)>>),
    /// An operator's change.
    Admin {
        op: AdminOp,
        reply: oneshot::Sender<Result<String, AdminError>>,
    },
    /// A new configuration (SIGHUP).
    Reload {
        file: Box<FileConfig>,
        reply: oneshot::Sender<Result<String, AdminError>>,
    },
}

/// What the actor needs besides the state machine.
pub struct Settings {
    /// The configuration file's contents (server weights, static hosts).
    pub file: FileConfig,
    /// Compiler name used by probes.
    pub probe_compiler: String,
    /// Probe deadline.
    pub probe_timeout: Duration,
    /// A registered server silent this long is down.
    pub heartbeat_timeout: Duration,
    /// Shared with the HTTP endpoint.
    pub metrics: Arc<Metrics>,
}

/// Start the actor on the current runtime.
pub fn spawn(sched: Scheduler, settings: Settings) -> Handle {
    let (events, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(sched, settings, rx, events.clone()));
    Handle::new(events)
}

/// Run the actor forever. `events` is a sender to its own queue, for probe results.
async fn run(
    mut sched: Scheduler,
    settings: Settings,
    mut rx: mpsc::UnboundedReceiver<Event>,
    events: mpsc::UnboundedSender<Event>,
) {
    let start = Instant::now();
    let now = move || Micros(start.elapsed().as_micros() as u64);
    let mut state = State {
        settings,
        events,
        next_request: 0,
        requests: HashMap::new(),
        leases: HashMap::new(),
        hosts: Addresses::default(),
        members: Members::default(),
        one_copy: HashSet::new(),
        conn_requests: HashMap::new(),
        history: HashMap::new(),
        configured_compilers: HashSet::new(),
    };
    for host in state.settings.file.hosts.clone() {
        if let Err(e) = state.add_static(&mut sched, now(), &host) {
            warn!("{e}; skipped");
        }
    }
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
            event = rx.recv() => match event {
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

/// A request waiting for an answer.
struct Waiting {
    conn: u64,
    number: u64,
    user: String,
    tx: Tx,
    since: Instant,
    key: Option<(String, String)>,
    /// The compiler the job named and its identity, to say what the farm has instead.
    wants: Option<Box<(String, CompilerKey)>>,
}

/// A lease held by a client connection.
struct Holder {
    conn: u64,
    user: String,
    tx: Tx,
    host: HostId,
    key: Option<(String, String)>,
}

/// Requests per connection whose `Size` is still listened for.
const RECENT_REQUESTS: usize = 16;

/// How many (user, source) durations are remembered for cost estimates.
const HISTORY_CAP: usize = 200_000;

struct State {
    settings: Settings,
    events: mpsc::UnboundedSender<Event>,
    next_request: u64,
    requests: HashMap<RequestId, Waiting>,
    leases: HashMap<LeaseId, Holder>,
    /// Where each host takes jobs, and the host at each address (a client's
    /// `previous_server`).
    hosts: Addresses,
    /// Registered servers' connections and ticket keys.
    members: Members,
    /// Connections that cannot run a second copy of a job.
    one_copy: HashSet<u64>,
    /// Each client connection's latest requests by its own numbers (for `Size`).
    conn_requests: HashMap<u64, Vec<(u64, RequestId)>>,
    /// The last compile of each (user, source): its duration and host, so that the next
    /// compile of the same file is placed knowing its cost.
    history: HashMap<(String, String), PreviousRun>,
    /// Static hosts whose compilers are configured: what their probes learn is ignored.
    configured_compilers: HashSet<HostId>,
}

impl State {
    fn add_static(
        &mut self,
        sched: &mut Scheduler,
        now: Micros,
        host: &StaticHost,
    ) -> Result<String, String> {
        let addr = host
            .socket_addr()
            .map_err(|e| format!("host {}: {e:#}", host.address))?;
        let spec = HostSpec {
            name: host.name(),
            slots: host.slots,
            weight: host.weight,
        };
        let (id, actions) = sched
            .add(now, spec)
            .map_err(|e| format!("host {}: {e}", host.address))?;
        info!(name = %host.name(), %addr, slots = host.slots, "static distcc host added");
        if !host.compilers.is_empty() {
            let keys: Vec<CompilerKey> = host.compilers.iter().map(matching::key).collect();
            let more = sched.set_compilers(now, id, &keys).unwrap_or_default();
            self.configured_compilers.insert(id);
            self.apply(sched, now, more);
        }
        self.hosts.insert(
            id,
            Address {
                addr,
                lzo: host.lzo,
            },
        );
        self.apply(sched, now, actions);
        Ok(format!(
            "{}: added ({addr}, {} slots)",
            host.name(),
            host.slots
        ))
    }

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
                let info = JobInfo {
                    user,
                    size_bytes: job.preprocessed_bytes.unwrap_or(0),
                    previous,
                    compiler,
                };
                sched.request(now, id, info)
            }
            Event::Release {
                conn,
                lease,
                result,
                duration_ms,
            } => {
                let lease = LeaseId(lease);
                match self.leases.get(&lease) {
                    Some(held) if held.conn == conn => {}
                    // Already revoked or cancelled, or not this connection's: nothing to do.
                    _ => {
                        debug!(lease = lease.0, "release of a lease not held; ignored");
                        return;
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
                if result != JobEnd::Transport
                    && let Some(key) = held.key
                {
                    if self.history.len() >= HISTORY_CAP {
                        // Crude but bounded: forget everything rather than grow forever.
                        self.history.clear();
                    }
                    self.history.insert(
                        key,
                        PreviousRun {
                            duration,
                            host: Some(held.host),
                        },
                    );
                }
                sched.release(now, lease, ReleaseReport { duration, result })
            }
            Event::Register {
                conn,
                name,
                ip,
                port,
                slots,
                lzo,
                tickets,
                tx,
                compilers,
            } => {
                // See `members` for who may take a name.
                let silent_for = self.settings.heartbeat_timeout * 2;
                if let Some(host) = sched.host_id(&name)
                    && self.members.taken(host, conn, silent_for)
                {
                    warn!(%name, %ip, "registration refused: a server of that name is connected");
                    self.settings.metrics.registration_refused();
                    let _ = tx.send(FromScheduler::Refused {
                        reason: format!(
                            "a server named {name:?} is already registered and connected; \
                             stop it first or give this one another name"
                        ),
                    });
                    return;
                }
                let weight = self.settings.file.server_weight(&name);
                match sched.join(
                    now,
                    HostSpec {
                        name: name.clone(),
                        slots,
                        weight,
                    },
                ) {
                    Ok((host, actions)) => {
                        info!(%name, %ip, port, slots, weight, "server registered");
                        self.hosts.insert(
                            host,
                            Address {
                                addr: SocketAddr::new(ip, port),
                                lzo,
                            },
                        );
                        if self
                            .members
                            .register(host, conn, name.clone(), tickets)
                            .is_some()
                        {
                            warn!(%name, "a silent connection of this server is replaced");
                        }
                        let keys = matching::registered(&compilers);
                        let more = sched.set_compilers(now, host, &keys).unwrap_or_default();
                        Ok(actions.into_iter().chain(more).collect())
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
            } => match self.members.heard(conn) {
                Some(host) => {
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
            Event::Size {
                conn,
                number,
                bytes,
            } => {
                let id = self
                    .conn_requests
                    .get(&conn)
                    .and_then(|r| r.iter().rev().find(|(n, _)| *n == number))
                    .map(|(_, id)| *id);
                match id {
                    Some(id) => match sched.set_size(now, id, bytes) {
                        Ok(actions) => Ok(actions),
                        // Already finished: nothing to learn.
                        Err(_) => Ok(Vec::new()),
                    },
                    None => Ok(Vec::new()),
                }
            }
            Event::Gone { conn } => {
                self.one_copy.remove(&conn);
                self.conn_requests.remove(&conn);
                self.gone(sched, now, conn)
            }
            Event::OneCopy { conn } => {
                self.one_copy.insert(conn);
                Ok(Vec::new())
            }
            Event::ProbeDone { host, result } => {
                let name = sched.host_name(host).unwrap_or("?").to_owned();
                match &result {
                    Ok(identity) => debug!(host = %name, ?identity, "probe ok"),
                    Err(why) => warn!(host = %name, "probe failed: {why}"),
                }
                self.settings.metrics.probe(result.is_ok());
                let mut actions = Vec::new();
                // A stock distccd's compiler as its object tells it, unless configured.
                if let Ok(Some(identity)) = &result
                    && !self.configured_compilers.contains(&host)
                {
                    let key = matching::probed(identity);
                    if sched.host_compilers(host) != [&key] {
                        info!(host = %name, compiler = %key, "probe identified the compiler");
                        actions = sched.set_compilers(now, host, &[key]).unwrap_or_default();
                    }
                }
                sched
                    .probe_result(now, host, result.is_ok())
                    .map(|more| actions.into_iter().chain(more).collect())
            }
            Event::Snapshot(reply) => {
                let _ = reply.send(sched.snapshot());
                Ok(Vec::new())
            }
            Event::Addresses(reply) => {
                let named = self
                    .hosts
                    .iter()
                    .filter_map(|(id, a)| Some((sched.host_name(id)?.to_owned(), a.addr)))
                    .collect();
                let _ = reply.send(named);
                Ok(Vec::new())
            }
            Event::Admin { op, reply } => {
                let answer = self.admin(sched, now, op);
                let _ = reply.send(answer);
                Ok(Vec::new())
            }
            Event::Reload { file, reply } => {
                let answer = self.reload(sched, now, *file);
                let _ = reply.send(answer);
                Ok(Vec::new())
            }
        };
        match result {
            Ok(actions) => self.apply(sched, now, actions),
            Err(e) => warn!("scheduler: {e}"),
        }
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

    /// Drop a removed host's address and connection: a registered server that is still
    /// connected is ignored until it registers again.
    fn forget(&mut self, id: HostId) {
        self.hosts.remove(id);
        self.configured_compilers.remove(&id);
        self.members.forget(id);
    }

    /// The host called `name`, or whose distcc address is `name` (`ip:port`).
    fn find_host(&self, sched: &Scheduler, name: &str) -> Result<HostId, AdminError> {
        if let Some(id) = sched.host_id(name) {
            return Ok(id);
        }
        let by_address: Vec<HostId> = self
            .hosts
            .iter()
            .filter(|(id, a)| a.addr.to_string() == name && sched.health(*id).is_some())
            .map(|(id, _)| id)
            .collect();
        match by_address[..] {
            [id] => Ok(id),
            _ => Err(AdminError::UnknownHost(name.to_owned())),
        }
    }

    fn admin(
        &mut self,
        sched: &mut Scheduler,
        now: Micros,
        op: AdminOp,
    ) -> Result<String, AdminError> {
        let refused = |e: ccfarm_placement::SchedError| AdminError::Refused(e.to_string());
        let (actions, done) = match &op {
            AdminOp::Drain(name) => {
                let id = self.find_host(sched, name)?;
                (
                    sched.drain(now, id).map_err(refused)?,
                    format!("{name}: draining"),
                )
            }
            AdminOp::Up(name) => {
                let id = self.find_host(sched, name)?;
                (sched.up(now, id).map_err(refused)?, format!("{name}: up"))
            }
            AdminOp::Down(name) => {
                let id = self.find_host(sched, name)?;
                (
                    sched.down(now, id).map_err(refused)?,
                    format!("{name}: down"),
                )
            }
            AdminOp::Remove(name) => {
                let id = self.find_host(sched, name)?;
                let actions = sched.remove(now, id).map_err(refused)?;
                self.forget(id);
                (actions, format!("{name}: removed"))
            }
            AdminOp::Add(host) => {
                let added = self
                    .add_static(sched, now, host)
                    .map_err(AdminError::Refused)?;
                (Vec::new(), added)
            }
        };
        info!("admin: {done}");
        self.apply(sched, now, actions);
        Ok(done)
    }

    /// Apply a new configuration: user and server weights, and the static host list
    /// (hosts added and removed by name; leases and connections are untouched).
    fn reload(
        &mut self,
        sched: &mut Scheduler,
        now: Micros,
        file: FileConfig,
    ) -> Result<String, AdminError> {
        for (user, weight) in &file.users {
            sched
                .set_user_weight(user, *weight)
                .map_err(|e| AdminError::Refused(format!("user {user}: {e}")))?;
        }
        let old: Vec<String> = self
            .settings
            .file
            .hosts
            .iter()
            .map(StaticHost::name)
            .collect();
        let new: Vec<String> = file.hosts.iter().map(StaticHost::name).collect();
        let mut changes = Vec::new();
        for name in old.iter().filter(|n| !new.contains(n)) {
            if let Ok(id) = self.find_host(sched, name) {
                let actions = sched.remove(now, id).unwrap_or_default();
                self.forget(id);
                self.apply(sched, now, actions);
                changes.push(format!("removed {name}"));
            }
        }
        for host in file.hosts.iter().filter(|h| !old.contains(&h.name())) {
            match self.add_static(sched, now, host) {
                Ok(_) => changes.push(format!("added {}", host.name())),
                Err(e) => warn!("reload: {e}"),
            }
        }
        self.settings.file = file;
        if changes.is_empty() {
            changes.push("weights updated; hosts unchanged".into());
        }
        Ok(changes.join(", "))
    }

    fn gone(
        &mut self,
        sched: &mut Scheduler,
        now: Micros,
        conn: u64,
    ) -> Result<Vec<Action>, ccfarm_placement::SchedError> {
        let mut actions = Vec::new();
        if let Some(host) = self.members.closed(conn) {
            info!(
                host = sched.host_name(host).unwrap_or("?"),
                "server disconnected"
            );
            actions.extend(sched.leave(now, host)?);
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
                sched
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
                    let (Some(waiting), Some(addr)) =
                        (self.requests.remove(&request), self.hosts.get(host))
                    else {
                        // The client or the host vanished in between: give the slot back.
                        let more = sched
                            .client_gone(now, Held::Lease(lease))
                            .unwrap_or_default();
                        self.apply(sched, now, more);
                        continue;
                    };
                    self.settings.metrics.granted(waiting.since.elapsed());
                    if tracing::enabled!(tracing::Level::DEBUG) {
                        let info = sched.lease(lease);
                        debug!(
                            lease = lease.0,
                            host = sched.host_name(host).unwrap_or("?"),
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
                            host,
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
                            (Some(wants), FarmRefusal::NoMatchingCompiler) => {
                                matching::no_match(&wants.0, &wants.1, &sched.compilers_offered())
                            }
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
                        let more = sched.decline(now, new_lease).unwrap_or_default();
                        self.apply(sched, now, more);
                        continue;
                    };
                    debug!(
                        lease = original_lease.0,
                        new_lease = new_lease.0,
                        host = sched.host_name(host).unwrap_or("?"),
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
                            host,
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
                        let more = sched.probe_result(now, host, false).unwrap_or_default();
                        self.apply(sched, now, more);
                    }
                },
            }
        }
    }
}
