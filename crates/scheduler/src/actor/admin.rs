//! Events from the operator's side: admin commands, configuration reloads, and the views
//! the status page and the balance-daemon port ask for.

use std::net::SocketAddr;

use ccfarm_placement::{Action, HostId, Micros, SchedError, Snapshot};
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::config::{FileConfig, StaticHost};
use crate::event::{AdminError, AdminOp};

use super::Actor;

/// Where the answer to an operator's change goes.
type Reply = oneshot::Sender<Result<String, AdminError>>;

impl Actor {
    /// The status page wants the state.
    pub(super) fn on_snapshot(
        &mut self,
        reply: oneshot::Sender<Snapshot>,
    ) -> Result<Vec<Action>, SchedError> {
        let _ = reply.send(self.sched.snapshot());
        Ok(Vec::new())
    }

    /// The balance-daemon status port wants each host's name and distcc address.
    pub(super) fn on_addresses(
        &mut self,
        reply: oneshot::Sender<Vec<(String, SocketAddr)>>,
    ) -> Result<Vec<Action>, SchedError> {
        let named = self
            .hosts
            .iter()
            .filter_map(|(id, a)| Some((self.sched.host_name(id)?.to_owned(), a.addr)))
            .collect();
        let _ = reply.send(named);
        Ok(Vec::new())
    }

    /// The identities of the compilers registered servers run as `name` (compared by
    /// the program's file name, as ccfarmd resolves it), each once.
    pub(super) fn on_identities(
        &mut self,
        name: &str,
        reply: oneshot::Sender<Vec<(String, String)>>,
    ) -> Result<Vec<Action>, SchedError> {
        let wanted = name.rsplit('/').next().unwrap_or(name);
        let mut found: Vec<(String, String)> = Vec::new();
        for compiler in self.registered_compilers.values().flatten() {
            let offered = compiler.name.rsplit('/').next().unwrap_or(&compiler.name);
            let identity = (compiler.version.clone(), compiler.target.clone());
            if offered == wanted && !found.contains(&identity) {
                found.push(identity);
            }
        }
        let _ = reply.send(found);
        Ok(Vec::new())
    }

    /// An operator's change; the answer says what was done or why not.
    pub(super) fn on_admin(
        &mut self,
        now: Micros,
        op: AdminOp,
        reply: Reply,
    ) -> Result<Vec<Action>, SchedError> {
        let answer = self.admin(now, op);
        let _ = reply.send(answer);
        Ok(Vec::new())
    }

    /// A new configuration (SIGHUP); the answer says what changed.
    pub(super) fn on_reload(
        &mut self,
        now: Micros,
        file: FileConfig,
        reply: Reply,
    ) -> Result<Vec<Action>, SchedError> {
        let answer = self.reload(now, file);
        let _ = reply.send(answer);
        Ok(Vec::new())
    }

    /// The host called `name`, or whose distcc address is `name` (`ip:port`).
    fn find_host(&self, name: &str) -> Result<HostId, AdminError> {
        if let Some(id) = self.sched.host_id(name) {
            return Ok(id);
        }
        let by_address: Vec<HostId> = self
            .hosts
            .iter()
            .filter(|(id, a)| a.addr.to_string() == name && self.sched.health(*id).is_some())
            .map(|(id, _)| id)
            .collect();
        match by_address[..] {
            [id] => Ok(id),
            _ => Err(AdminError::UnknownHost(name.to_owned())),
        }
    }

    fn admin(&mut self, now: Micros, op: AdminOp) -> Result<String, AdminError> {
        let refused = |e: SchedError| AdminError::Refused(e.to_string());
        let (actions, done) = match &op {
            AdminOp::Drain(name) => {
                let id = self.find_host(name)?;
                (
                    self.sched.drain(now, id).map_err(refused)?,
                    format!("{name}: draining"),
                )
            }
            AdminOp::Up(name) => {
                let id = self.find_host(name)?;
                (
                    self.sched.up(now, id).map_err(refused)?,
                    format!("{name}: up"),
                )
            }
            AdminOp::Down(name) => {
                let id = self.find_host(name)?;
                (
                    self.sched.down(now, id).map_err(refused)?,
                    format!("{name}: down"),
                )
            }
            AdminOp::Remove(name) => {
                let id = self.find_host(name)?;
                let actions = self.sched.remove(now, id).map_err(refused)?;
                self.forget(id);
                (actions, format!("{name}: removed"))
            }
            AdminOp::Add(host) => {
                let added = self
                    .add_static(now, host)
                    .map_err(|e| AdminError::Refused(e.to_string()))?;
                (Vec::new(), added)
            }
        };
        info!("admin: {done}");
        self.apply(now, actions);
        Ok(done)
    }

    /// Apply a new configuration: user and server weights, and the static host list
    /// (hosts added and removed by name; leases and connections are untouched).
    fn reload(&mut self, now: Micros, file: FileConfig) -> Result<String, AdminError> {
        for (user, weight) in &file.users {
            self.sched
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
            if let Ok(id) = self.find_host(name) {
                let actions = self.sched.remove(now, id).unwrap_or_default();
                self.forget(id);
                self.apply(now, actions);
                changes.push(format!("removed {name}"));
            }
        }
        for host in file.hosts.iter().filter(|h| !old.contains(&h.name())) {
            match self.add_static(now, host) {
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
}
