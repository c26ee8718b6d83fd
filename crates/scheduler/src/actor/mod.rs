//! The one task that owns the scheduler state machine. Connections send it events;
//! it applies them with the current time, turns the resulting actions into messages
//! for the connections concerned (grants, revocations, speculative copies), runs the
//! probes the state machine asks for, and ticks at the state machine's next deadline.
//!
//! Each event has its own method, grouped by whom it comes from: [`clients`] (requests,
//! sizes, releases, departures), [`servers`] (registrations, heartbeats, probes, static
//! hosts) and [`admin`] (operators, reloads, views); [`apply`] carries out the state
//! machine's actions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ccfarm_placement::{
    Action, CompilerKey, HostId, LeaseId, Micros, PreviousRun, RequestId, SchedError, Scheduler,
};
use ccfarm_proto::farm::CompilerIdentity;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::warn;

use crate::addresses::Addresses;
use crate::config::FileConfig;
use crate::event::{Event, Tx};
use crate::handle::Handle;
use crate::members::Members;
use crate::metrics::Metrics;

mod admin;
mod apply;
mod clients;
mod servers;

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
    sched: Scheduler,
    settings: Settings,
    mut rx: mpsc::UnboundedReceiver<Event>,
    events: mpsc::UnboundedSender<Event>,
) {
    let start = Instant::now();
    let now = move || Micros(start.elapsed().as_micros() as u64);
    let mut actor = Actor {
        sched,
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
        registered_compilers: HashMap::new(),
    };
    for host in actor.settings.file.hosts.clone() {
        if let Err(e) = actor.add_static(now(), &host) {
            warn!("{e}; skipped");
        }
    }
    loop {
        let deadline = actor
            .sched
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
                Some(event) => actor.handle(now(), event),
                None => return,
            },
            () = sleep => {
                let actions = actor.sched.tick(now());
                actor.apply(now(), actions);
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
    /// Where the job runs; `None`: on the client's own machine ([`Action::RunHere`]).
    ///
    /// [`Action::RunHere`]: ccfarm_placement::Action::RunHere
    host: Option<HostId>,
    key: Option<(String, String)>,
}

/// The state machine and everything the service keeps beside it: who is waiting, who
/// holds what, where each host takes jobs.
struct Actor {
    sched: Scheduler,
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
    /// The compilers each registered server runs, by the names clients use.
    registered_compilers: HashMap<HostId, Vec<CompilerIdentity>>,
}

impl Actor {
    /// Hands `event` to its method and carries out the actions it caused; a refusal of
    /// the state machine is logged, as the event's sender waits for no answer.
    fn handle(&mut self, now: Micros, event: Event) {
        let result: Result<Vec<Action>, SchedError> = match event {
            Event::Request {
                conn,
                number,
                user,
                machine,
                job,
                tx,
            } => self.on_request(now, conn, number, (user, machine), job, tx),
            Event::Size {
                conn,
                number,
                bytes,
            } => self.on_size(now, conn, number, bytes),
            Event::Release {
                conn,
                lease,
                result,
                duration_ms,
            } => self.on_release(now, conn, lease, result, duration_ms),
            Event::Register(registration) => self.on_register(now, registration),
            Event::Heartbeat {
                conn,
                slots,
                running,
                load,
                free_memory_mb,
                calibration,
            } => {
                let beat = ccfarm_placement::Heartbeat {
                    slots,
                    running,
                    load_avg: Some(load),
                    free_memory: Some(free_memory_mb * 1024 * 1024),
                    calibration,
                };
                self.on_heartbeat(now, conn, beat)
            }
            Event::Gone { conn } => self.on_gone(now, conn),
            Event::OneCopy { conn } => self.on_one_copy(conn),
            Event::ProbeDone { host, result } => self.on_probe_done(now, host, result),
            Event::Snapshot(reply) => self.on_snapshot(reply),
            Event::Addresses(reply) => self.on_addresses(reply),
            Event::Identities { name, reply } => self.on_identities(&name, reply),
            Event::Admin { op, reply } => self.on_admin(now, op, reply),
            Event::Reload { file, reply } => self.on_reload(now, *file, reply),
        };
        match result {
            Ok(actions) => self.apply(now, actions),
            Err(e) => warn!("scheduler: {e}"),
        }
    }
}
