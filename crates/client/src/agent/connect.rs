//! A TLS connection to a farm member, made by the agent for a compile or by the
//! compile itself when no agent answers.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use ccfarm_trust::tls::rustls::ClientConfig;
use ccfarm_trust::{Credentials, Expect, Identity, Role};

use super::wire::{Peer, Stage};
use crate::channel::{self, Channel};

/// Why a connection to a member could not be made.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct Failure {
    /// Where it failed.
    pub stage: Stage,
    /// The error itself.
    pub source: io::Error,
}

impl Failure {
    fn at(stage: Stage) -> impl FnOnce(io::Error) -> Failure {
        move |source| Failure { stage, source }
    }
}

/// The identity a certificate must prove for `peer`.
pub fn expect(peer: &Peer) -> Result<Expect, Failure> {
    Ok(match peer {
        Peer::Scheduler => Expect::Role(Role::Scheduler),
        Peer::Server(name) => Expect::Exactly(
            Identity::new(Role::Server, name)
                .map_err(|e| Failure::at(Stage::Handshake)(io::Error::other(e.to_string())))?,
        ),
    })
}

/// TLS settings for reaching `peer` with `credentials`.
pub fn config(credentials: &Credentials, peer: &Peer) -> Result<Arc<ClientConfig>, Failure> {
    credentials
        .client_config(expect(peer)?)
        .map_err(|e| Failure::at(Stage::Credentials)(io::Error::other(e.to_string())))
}

/// Connect to `addr` (each of its addresses in turn) and complete a TLS handshake with
/// `config`, each step bounded by `connect`. The channel's reads and writes are then
/// bounded by `connect` too, until the caller sets its own bounds.
pub fn connect(
    addr: &str,
    config: Arc<ClientConfig>,
    connect: Duration,
) -> Result<Channel, Failure> {
    let tcp = channel::connect_any(addr, connect).map_err(Failure::at(Stage::Connect))?;
    let setup = || -> io::Result<()> {
        tcp.set_read_timeout(Some(connect))?;
        tcp.set_write_timeout(Some(connect))
    };
    setup().map_err(Failure::at(Stage::Connect))?;
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    Channel::tls(tcp, config, ccfarm_trust::tls::server_name(host))
        .map_err(Failure::at(Stage::Handshake))
}
