//! TLS settings for every ccfarm endpoint: TLS 1.3 only, the farm's authority as the
//! only trust anchor, and a certificate on both sides.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::CertificateDer;

use crate::credentials::Credentials;
use crate::identity::{Identity, IdentityError};
use crate::verify::{Checker, Expect, FarmServerVerifier, provider};

pub use rustls;

/// Why a TLS configuration could not be built from credentials.
#[derive(Debug, thiserror::Error)]
#[error("TLS settings: {0}")]
pub struct TlsError(String);

/// Whether a server insists on a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every connection must present a farm certificate (control and compile ports).
    Required,
    /// A certificate is checked when offered; a connection without one is still
    /// encrypted (the dashboard in a browser; the admin API then wants its token).
    Optional,
}

impl Credentials {
    /// Settings for a listener: this member's certificate, and the farm's authority
    /// for client certificates (revoked ones refused).
    pub fn server_config(&self, auth: ClientAuth) -> Result<Arc<ServerConfig>, TlsError> {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.authority.clone())
            .map_err(|e| TlsError(format!("the farm's authority: {e}")))?;
        let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .only_check_end_entity_revocation()
            .allow_unknown_revocation_status();
        if !self.crls.is_empty() {
            verifier = verifier.with_crls(self.crls.iter().cloned());
        }
        if auth == ClientAuth::Optional {
            verifier = verifier.allow_unauthenticated();
        }
        let verifier = verifier
            .build()
            .map_err(|e| TlsError(format!("client verification: {e}")))?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError(format!("this member's certificate and key: {e}")))?;
        if auth == ClientAuth::Required {
            // Resumption: a member reconnecting (a user's agent, a server after a
            // restart of the scheduler) skips the certificates and their signatures,
            // about half of a handshake's CPU. Tickets are sealed with a key made here,
            // so settings rebuilt on reload (a renewed certificate, a new revocation
            // list) refuse every ticket issued before: a revoked member cannot resume.
            #[allow(deprecated)]
            let ticketer = rustls::crypto::ring::Ticketer::new()
                .map_err(|e| TlsError(format!("resumption tickets: {e}")))?;
            config.ticketer = ticketer;
            config.send_tls13_tickets = 1;
        }
        Ok(Arc::new(config))
    }

    /// Settings for connecting to `expect`, proving this member's identity.
    pub fn client_config(&self, expect: Expect) -> Result<Arc<ClientConfig>, TlsError> {
        let checker =
            Checker::new(&self.authority, &self.crls).map_err(|e| TlsError(e.to_string()))?;
        let verifier = Arc::new(FarmServerVerifier::new(checker, expect));
        let config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError(format!("this member's certificate and key: {e}")))?;
        Ok(Arc::new(config))
    }

    /// The authority's certificate in DER, for HTTP clients that take root certificates.
    pub fn authority_der(&self) -> &[u8] {
        &self.authority
    }
}

/// The identity a verified peer's certificate names; `None` when it sent none (only
/// possible with [`ClientAuth::Optional`]).
pub fn peer_identity(
    certificates: Option<&[CertificateDer<'_>]>,
) -> Result<Option<Identity>, IdentityError> {
    match certificates.and_then(|c| c.first()) {
        Some(leaf) => Identity::from_certificate(leaf).map(Some),
        None => Ok(None),
    }
}

/// The first byte of every TLS connection (a handshake record). ccfarm's own frames
/// start with a length's high byte, zero for any frame under 16 MiB, and a distcc
/// request with `D`, so one byte tells a TLS client from a plaintext one.
pub const TLS_HANDSHAKE_BYTE: u8 = 0x16;

/// The server name a client puts in its hello. Farm members are verified by identity,
/// not by name (see [`crate::verify`]), so this only has to be well-formed.
pub fn server_name(host: &str) -> rustls_pki_types::ServerName<'static> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => rustls_pki_types::ServerName::IpAddress(ip.into()),
        Err(_) => rustls_pki_types::ServerName::try_from(host.to_owned())
            .unwrap_or_else(|_| rustls_pki_types::ServerName::try_from("ccfarm").expect("valid")),
    }
}
