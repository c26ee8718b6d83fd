//! Events about compile servers: registered ccfarmd servers joining and heartbeating,
//! probes of stock distccd hosts coming back, and static hosts being added and forgotten.

use std::net::SocketAddr;

use ccfarm_compiler::identity::Identity;
use ccfarm_placement::{Action, CompilerKey, Heartbeat, HostId, HostSpec, Micros, SchedError};
use ccfarm_proto::farm::FromScheduler;
use tracing::{debug, info, warn};

use crate::addresses::Address;
use crate::config::StaticHost;
use crate::event::Registration;
use crate::matching;
use crate::probe::ProbeError;

use super::Actor;

/// Why a static host was not added.
#[derive(Debug, thiserror::Error)]
pub(super) enum AddHostError {
    /// Its address does not resolve to a socket address.
    #[error("host {address}: {detail}")]
    Address {
        /// The address as configured.
        address: String,
        /// Why it does not resolve.
        detail: String,
    },
    /// The state machine refused it (a duplicate name, a bad weight).
    #[error("host {address}: {refused}")]
    Refused {
        /// The address as configured.
        address: String,
        /// What the state machine said.
        refused: SchedError,
    },
}

impl Actor {
    /// A server registered: it joins under its name unless a connected server holds it.
    pub(super) fn on_register(
        &mut self,
        now: Micros,
        registration: Registration,
    ) -> Result<Vec<Action>, SchedError> {
        let Registration {
            conn,
            name,
            ip,
            port,
            slots,
            lzo,
            tickets,
            tx,
            compilers,
        } = registration;
        // See `members` for who may take a name.
        let silent_for = self.settings.heartbeat_timeout * 2;
        if let Some(host) = self.sched.host_id(&name)
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
            return Ok(Vec::new());
        }
        let weight = self.settings.file.server_weight(&name);
        let spec = HostSpec {
            name: name.clone(),
            slots,
            weight,
        };
        let (host, actions) = self.sched.join(now, spec)?;
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
        self.registered_compilers.insert(host, compilers);
        let more = self
            .sched
            .set_compilers(now, host, &keys)
            .unwrap_or_default();
        Ok(actions.into_iter().chain(more).collect())
    }

    /// A registered server's heartbeat on connection `conn`.
    pub(super) fn on_heartbeat(
        &mut self,
        now: Micros,
        conn: u64,
        beat: Heartbeat,
    ) -> Result<Vec<Action>, SchedError> {
        match self.members.heard(conn) {
            Some(host) => self.sched.heartbeat(now, host, beat),
            None => Ok(Vec::new()),
        }
    }

    /// A probe of `host` finished, with the compiler identity its object revealed, if any.
    pub(super) fn on_probe_done(
        &mut self,
        now: Micros,
        host: HostId,
        result: Result<Option<Identity>, ProbeError>,
    ) -> Result<Vec<Action>, SchedError> {
        let name = self.sched.host_name(host).unwrap_or("?").to_owned();
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
            if self.sched.host_compilers(host) != [&key] {
                info!(host = %name, compiler = %key, "probe identified the compiler");
                actions = self
                    .sched
                    .set_compilers(now, host, &[key])
                    .unwrap_or_default();
            }
        }
        self.sched
            .probe_result(now, host, result.is_ok())
            .map(|more| actions.into_iter().chain(more).collect())
    }

    /// Adds a stock distccd host from the configuration or an operator; says what was
    /// added, for the operator.
    pub(super) fn add_static(
        &mut self,
        now: Micros,
        host: &StaticHost,
    ) -> Result<String, AddHostError> {
        let addr = host.socket_addr().map_err(|e| AddHostError::Address {
            address: host.address.clone(),
            detail: format!("{e:#}"),
        })?;
        let spec = HostSpec {
            name: host.name(),
            slots: host.slots,
            weight: host.weight,
        };
        let (id, actions) = self
            .sched
            .add(now, spec)
            .map_err(|refused| AddHostError::Refused {
                address: host.address.clone(),
                refused,
            })?;
        info!(name = %host.name(), %addr, slots = host.slots, "static distcc host added");
        if !host.compilers.is_empty() {
            let keys: Vec<CompilerKey> = host.compilers.iter().map(matching::key).collect();
            let more = self.sched.set_compilers(now, id, &keys).unwrap_or_default();
            self.configured_compilers.insert(id);
            self.apply(now, more);
        }
        self.hosts.insert(
            id,
            Address {
                addr,
                lzo: host.lzo,
            },
        );
        self.apply(now, actions);
        Ok(format!(
            "{}: added ({addr}, {} slots)",
            host.name(),
            host.slots
        ))
    }

    /// Drop a removed host's address and connection: a registered server that is still
    /// connected is ignored until it registers again.
    pub(super) fn forget(&mut self, id: HostId) {
        self.hosts.remove(id);
        self.configured_compilers.remove(&id);
        self.registered_compilers.remove(&id);
        self.members.forget(id);
    }
}
