//! Sending a job to a server: a scheduler's grant and a host-list entry are connected to
//! differently (TLS with the grant's ticket, or the entry's plain TCP) and then sent the
//! command line and the source by the same code.

use bytes::Bytes;
use ccfarm_proto::distcc::{Version, encode_command, encode_source};
use ccfarm_proto::farm::GrantProof;

use crate::hosts::{HostEntry, HostTransport};
use crate::job::Job;
use crate::race::Grant;
use crate::remote::{Breaker, Connection, RemoteError, Timeouts};
use crate::verdict::{self, Verdict};

/// A server a job is sent to: a host-list entry or a scheduler's grant.
pub(crate) enum Remote<'r> {
    Listed(&'r HostEntry),
    Granted(&'r Grant),
}

impl Remote<'_> {
    pub(crate) fn address(&self) -> (&str, u16) {
        match self {
            Remote::Listed(entry) => match &entry.transport {
                HostTransport::Tcp { host, port } => (host, *port),
                _ => unreachable!("only TCP entries are sent jobs"),
            },
            Remote::Granted(grant) => (&grant.host, grant.port),
        }
    }

    pub(crate) fn version(&self) -> Version {
        let lzo = match self {
            Remote::Listed(entry) => entry.lzo,
            Remote::Granted(grant) => grant.lzo,
        };
        if lzo { Version::V2 } else { Version::V1 }
    }

    pub(crate) fn proof(&self) -> Option<&GrantProof> {
        match self {
            Remote::Listed(_) => None,
            Remote::Granted(grant) => grant.proof.as_ref(),
        }
    }

    /// As the log names it.
    pub(crate) fn name(&self) -> String {
        match self {
            Remote::Listed(entry) => entry.log_name(),
            Remote::Granted(grant) => grant.to_string(),
        }
    }
}

impl Job<'_> {
    /// Connect and send the command line (the source follows once preprocessed).
    pub(crate) fn connect(&self, remote: &Remote<'_>) -> Result<Connection, RemoteError> {
        let (name, port) = remote.address();
        let timeouts = Timeouts {
            connect: self.ctx.settings.connect_timeout,
            io: self.ctx.settings.io_timeout,
        };
        let mut connection = match remote.proof() {
            // A secure grant: TLS, to the server named in it, with its ticket.
            Some(proof) => {
                let dialer = self.ctx.dialer().map_err(|why| RemoteError::Refused {
                    addr: format!("{name}:{port}"),
                    why: why.to_string(),
                })?;
                Connection::open_granted(name, port, timeouts, dialer, proof)?
            }
            None => Connection::open(name, port, timeouts)?,
        };
        connection.send(&encode_command(remote.version(), &self.server_argv()))?;
        Ok(connection)
    }

    /// Run the job on `remote`, on `connection` if one was opened early, giving up as
    /// soon as `breaker` (if any) trips. Writes nothing.
    pub(crate) fn exchange(
        &self,
        remote: &Remote<'_>,
        connection: Option<Result<Connection, RemoteError>>,
        breaker: Option<&Breaker>,
        source: &Bytes,
    ) -> Verdict {
        self.ctx.log.info(&format!(
            "exec on {}: {}",
            remote.name(),
            ccfarm_compiler::server_argv(self.argv, self.job).join(" ")
        ));
        let version = remote.version();
        let reply = connection
            .unwrap_or_else(|| self.connect(remote))
            .and_then(|mut c| {
                if let Some(proof) = remote.proof() {
                    self.ctx.log.info(&format!(
                        "over TLS to {} (its certificate checked){}, with the scheduler's ticket",
                        proof.server,
                        match (c.through_agent(), c.handed_over()) {
                            (true, true) => " by the user's agent, which handed it over",
                            (true, false) => " by the user's agent, which relays it",
                            (false, _) => "",
                        }
                    ));
                }
                if let Some(breaker) = breaker {
                    breaker.guard(&c)?;
                }
                c.send(&encode_source(version, source))?;
                c.read_reply(version)
            });
        verdict::judge(reply)
    }

    /// The command line as a server is sent it.
    pub(crate) fn server_argv(&self) -> Vec<Bytes> {
        ccfarm_compiler::server_argv(self.argv, self.job)
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }
}
