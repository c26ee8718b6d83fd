//! Checking a peer's certificate: issued by the farm's authority, not revoked, meant
//! for the use it is put to, and naming the identity expected.
//!
//! Farm members are recognised by the identity in their certificate, not by a host
//! name: a client is granted "server build7", not an address it could check against a
//! DNS name, and a scheduler may be reached by any of its addresses. So a server's
//! certificate is checked here for its role and name rather than by rustls's host
//! name verification.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, ServerName, TrustAnchor, UnixTime,
};
use webpki::{
    CertRevocationList, EndEntityCert, KeyUsage, OwnedCertRevocationList, RevocationCheckDepth,
    RevocationOptionsBuilder, UnknownStatusPolicy,
};

use crate::identity::{Identity, Role};

/// Which peer a client expects to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Any member with this role (a client reaching "the scheduler").
    Role(Role),
    /// Exactly this member (a client reaching the server it was granted).
    Exactly(Identity),
}

impl Expect {
    fn admits(&self, identity: &Identity) -> bool {
        match self {
            Expect::Role(role) => identity.role == *role,
            Expect::Exactly(expected) => identity == expected,
        }
    }
}

/// The provider every ccfarm TLS endpoint uses.
pub fn provider() -> Arc<CryptoProvider> {
    // ring's provider has no post-quantum key exchange, hence the deprecation; it is
    // chosen because it builds without cmake or a C++ toolchain and keeps the
    // per-compile binary small, and the farm's handshakes never leave the site.
    //
    // Key exchange: X25519 only. This rustls's ring provider lists P-384 first, and
    // ring's P-384 is generic code: its two scalar multiplications per side cost about
    // a millisecond, and every remote compile makes two handshakes (scheduler and
    // server), so P-384 added several milliseconds to each job. X25519 matches the
    // strength of the farm's Ed25519 keys; every ccfarm endpoint uses this provider.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    provider.kx_groups = vec![rustls::crypto::ring::kx_group::X25519];
    Arc::new(provider)
}

/// Why a certificate is not accepted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VerifyError {
    #[error("the farm's authority certificate is unusable: {0}")]
    Authority(webpki::Error),
    #[error("the revocation list is unusable: {0}")]
    RevocationList(webpki::Error),
    #[error("no certificate")]
    NoCertificate,
    #[error("bad certificate: {0}")]
    BadCertificate(webpki::Error),
    #[error("the certificate has been revoked")]
    Revoked,
    #[error("not issued by this farm's authority")]
    UnknownIssuer,
    #[error("the certificate has expired")]
    Expired,
    #[error("{0}")]
    Rejected(webpki::Error),
    #[error("{0}")]
    Identity(#[from] crate::identity::IdentityError),
}

/// The farm's authority and revocation lists, parsed once, for checking certificates.
#[derive(Debug)]
pub(crate) struct Checker {
    anchor: TrustAnchor<'static>,
    crls: Vec<CertRevocationList<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Checker {
    /// The checker of the farm `credentials` belong to.
    pub(crate) fn new(
        authority: &CertificateDer<'_>,
        crls: &[CertificateRevocationListDer<'_>],
    ) -> Result<Checker, VerifyError> {
        let anchor = webpki::anchor_from_trusted_cert(authority)
            .map_err(VerifyError::Authority)?
            .to_owned();
        let crls = crls
            .iter()
            .map(|der| OwnedCertRevocationList::from_der(der).map(CertRevocationList::from))
            .collect::<Result<Vec<_>, _>>()
            .map_err(VerifyError::RevocationList)?;
        Ok(Checker {
            anchor,
            crls,
            algorithms: provider().signature_verification_algorithms,
        })
    }

    /// Check `end_entity` against the authority and the revocation lists, for `usage`,
    /// and return the identity it names.
    pub(crate) fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        usage: KeyUsage,
    ) -> Result<Identity, VerifyError> {
        let cert = EndEntityCert::try_from(end_entity).map_err(VerifyError::BadCertificate)?;
        let crl_refs: Vec<&CertRevocationList<'_>> = self.crls.iter().collect();
        let revocation = RevocationOptionsBuilder::new(&crl_refs).ok().map(|b| {
            b.with_depth(RevocationCheckDepth::EndEntity)
                .with_status_policy(UnknownStatusPolicy::Allow)
                .build()
        });
        cert.verify_for_usage(
            self.algorithms.all,
            std::slice::from_ref(&self.anchor),
            intermediates,
            now,
            usage,
            revocation,
            None,
        )
        .map_err(|e| match e {
            webpki::Error::CertRevoked => VerifyError::Revoked,
            webpki::Error::UnknownIssuer => VerifyError::UnknownIssuer,
            webpki::Error::CertExpired { .. } => VerifyError::Expired,
            other => VerifyError::Rejected(other),
        })?;
        Ok(Identity::from_certificate(end_entity)?)
    }
}

/// Check that a member's own certificate is usable: issued by its authority, in date,
/// not revoked.
pub(crate) fn own_certificate(
    authority: &CertificateDer<'_>,
    chain: &[CertificateDer<'_>],
    crls: &[CertificateRevocationListDer<'_>],
    now: UnixTime,
) -> Result<(), VerifyError> {
    let leaf = chain.first().ok_or(VerifyError::NoCertificate)?;
    let usage = match Identity::from_certificate(leaf) {
        Ok(identity) if identity.role == Role::Scheduler => KeyUsage::server_auth(),
        _ => KeyUsage::client_auth(),
    };
    Checker::new(authority, crls)?
        .check(leaf, &chain[1..], now, usage)
        .map(|_| ())
}

/// A client's check of the server it reached.
#[derive(Debug)]
pub(crate) struct FarmServerVerifier {
    checker: Checker,
    expect: Expect,
}

impl FarmServerVerifier {
    pub(crate) fn new(checker: Checker, expect: Expect) -> FarmServerVerifier {
        FarmServerVerifier { checker, expect }
    }
}

impl ServerCertVerifier for FarmServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let identity = self
            .checker
            .check(end_entity, intermediates, now, KeyUsage::server_auth())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        if !self.expect.admits(&identity) {
            let wanted = match &self.expect {
                Expect::Role(role) => format!("a {role}"),
                Expect::Exactly(identity) => identity.to_string(),
            };
            return Err(rustls::Error::General(format!(
                "reached {identity}, expected {wanted}"
            )));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.checker.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.checker.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.checker.algorithms.supported_schemes()
    }
}
