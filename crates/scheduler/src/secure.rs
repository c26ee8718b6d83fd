//! The scheduler's side of the trust model: TLS on the control port and the HTTP
//! endpoint, who may listen where without credentials, and reloading credentials.
//!
//! One port serves both kinds of client: the first byte of a connection tells a TLS
//! handshake from a plaintext frame, so a plaintext client reaching a secure scheduler
//! is told in its own protocol what to configure instead of failing a handshake it
//! never started.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ccfarm_trust::reload::Reloadable;
use ccfarm_trust::tls::{TLS_HANDSHAKE_BYTE, peer_identity};
use ccfarm_trust::{ClientAuth, Credentials, Identity, Role};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// How long a new connection has to send its first byte and finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the scheduler must not start as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExposureError {
    /// A port is reachable from the network and nothing protects it.
    #[error(
        "{what} would listen on {addr}, which is reachable from the network, without credentials: \
         set `credentials = \"/etc/ccfarm/scheduler\"` in the configuration (a directory made by \
         `ccfarm ca issue scheduler NAME`), listen on a loopback address, or pass --insecure to \
         accept unauthenticated, unencrypted traffic"
    )]
    Unprotected {
        /// Which port.
        what: &'static str,
        /// Where.
        addr: SocketAddr,
    },
}

/// Check that every port the scheduler speaks its own protocol on (control, HTTP) is
/// either on loopback or protected by credentials, unless the operator said
/// `--insecure`. The distcc proxy and balance ports cannot carry credentials; their
/// allow-lists protect them instead.
pub fn check_exposure(
    ports: &[(&'static str, SocketAddr)],
    has_credentials: bool,
    insecure: bool,
) -> Result<(), ExposureError> {
    if has_credentials || insecure {
        return Ok(());
    }
    match ports.iter().find(|(_, addr)| !addr.ip().is_loopback()) {
        Some(&(what, addr)) => Err(ExposureError::Unprotected { what, addr }),
        None => Ok(()),
    }
}

/// The TLS settings in force, replaced as a whole on reload.
struct Tls {
    control: TlsAcceptor,
    http: TlsAcceptor,
    identity: Identity,
}

/// The scheduler's credentials and what follows from them.
pub struct Security {
    tls: Reloadable<Tls>,
    insecure: bool,
}

/// Why credentials could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// They could not be loaded.
    #[error(transparent)]
    Credentials(#[from] ccfarm_trust::CredentialError),
    /// TLS settings could not be built.
    #[error(transparent)]
    Tls(#[from] ccfarm_trust::TlsError),
}

fn load(dir: &Path) -> Result<Tls, SecurityError> {
    let credentials = Credentials::load_as(dir, Role::Scheduler)?;
    Ok(Tls {
        control: TlsAcceptor::from(credentials.server_config(ClientAuth::Required)?),
        http: TlsAcceptor::from(credentials.server_config(ClientAuth::Optional)?),
        identity: credentials.identity,
    })
}

impl Security {
    /// Load the credentials in `dir`, if any.
    pub fn new(dir: Option<&Path>, insecure: bool) -> Result<Security, SecurityError> {
        Ok(Security {
            tls: Reloadable::load(dir, load)?,
            insecure,
        })
    }

    /// Re-read the credentials (SIGHUP): new connections use them, open ones keep
    /// theirs. On failure the old ones stay.
    pub fn reload(&self) -> Result<Option<String>, SecurityError> {
        Ok(self
            .tls
            .reload(load)?
            .map(|tls| format!("credentials reloaded ({})", tls.identity)))
    }

    fn current(&self) -> Option<Arc<Tls>> {
        self.tls.current()
    }

    /// Whether the scheduler has credentials.
    pub fn secure(&self) -> bool {
        self.current().is_some()
    }

    /// Whether plaintext is accepted from anyone although credentials are configured.
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// The acceptor for the HTTP endpoint.
    pub fn http_acceptor(&self) -> Option<TlsAcceptor> {
        self.current().map(|t| t.http.clone())
    }
}

/// A control connection after its first bytes.
pub enum Admitted {
    /// TLS, with the identity the client's certificate proved.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>, Identity),
    /// Plaintext, on a scheduler that accepts it: identities are as claimed.
    Plain(TcpStream),
    /// Refused: say this to the client in plaintext, then close.
    Refuse(TcpStream, String),
    /// Nothing to say (a TLS client on a scheduler without credentials, a failed
    /// handshake, a silent connection): close.
    Drop(String),
}

/// Why a new connection's first byte never came.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FirstByteError {
    /// Nothing within [`HANDSHAKE_TIMEOUT`].
    #[error("sent nothing")]
    Silent,
    /// Reading it failed.
    #[error("{0}")]
    Io(#[source] std::io::Error),
    /// The peer closed the connection without sending anything.
    #[error("closed at once")]
    Closed,
}

/// Whether a new connection starts a TLS handshake, by its first byte (left unread);
/// why not, when it sends nothing within [`HANDSHAKE_TIMEOUT`].
pub(crate) async fn starts_tls(stream: &TcpStream) -> Result<bool, FirstByteError> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        Err(_) => Err(FirstByteError::Silent),
        Ok(Err(e)) => Err(FirstByteError::Io(e)),
        Ok(Ok(0)) => Err(FirstByteError::Closed),
        Ok(Ok(_)) => Ok(first[0] == TLS_HANDSHAKE_BYTE),
    }
}

/// Sort a new control connection by its first byte and run the handshake.
pub async fn admit(stream: TcpStream, security: &Security) -> Admitted {
    let starts_tls = match starts_tls(&stream).await {
        Ok(tls) => tls,
        Err(why) => return Admitted::Drop(why.to_string()),
    };
    match (starts_tls, security.current()) {
        (true, Some(tls)) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.control.accept(stream)).await {
                Err(_) => Admitted::Drop("TLS handshake timed out".into()),
                Ok(Err(e)) => Admitted::Drop(format!("TLS handshake failed: {e}")),
                Ok(Ok(stream)) => match peer_identity(stream.get_ref().1.peer_certificates()) {
                    Ok(Some(identity)) => Admitted::Tls(Box::new(stream), identity),
                    Ok(None) => Admitted::Drop("no client certificate".into()),
                    Err(e) => Admitted::Drop(format!("client certificate: {e}")),
                },
            }
        }
        (true, None) => Admitted::Drop(
            "a TLS client, but this scheduler has no credentials (set `credentials` in its configuration)"
                .into(),
        ),
        (false, Some(_)) if !security.insecure => Admitted::Refuse(
            stream,
            "this scheduler accepts only TLS with a farm credential: set CCFARM_CREDENTIALS \
             (ccfarm) or `credentials` (ccfarmd) to a directory made by `ccfarm ca issue`"
                .into(),
        ),
        (false, _) => Admitted::Plain(stream),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_needs_nothing_and_the_network_needs_credentials_or_insecure() {
        let local = [
            ("control port", at("127.0.0.1:7700")),
            ("HTTP", at("[::1]:7701")),
        ];
        assert_eq!(check_exposure(&local, false, false), Ok(()));
        let exposed = [
            ("control port", at("127.0.0.1:7700")),
            ("HTTP endpoint", at("0.0.0.0:7701")),
        ];
        let err = check_exposure(&exposed, false, false).unwrap_err();
        assert_eq!(
            err,
            ExposureError::Unprotected {
                what: "HTTP endpoint",
                addr: at("0.0.0.0:7701")
            }
        );
        assert!(err.to_string().contains("--insecure"));
        assert!(err.to_string().contains("credentials"));
        assert_eq!(check_exposure(&exposed, true, false), Ok(()));
        assert_eq!(check_exposure(&exposed, false, true), Ok(()));
    }
}
