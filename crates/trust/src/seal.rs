//! Signing what a farm member writes for other members to read — a shared cache entry —
//! and checking who wrote it.
//!
//! Whoever can write a shared store (Redis, WebDAV, S3) could otherwise plant an object
//! every reader would link. A sealed entry carries its writer's certificate and an
//! Ed25519 signature made with the writer's farm key; a reader accepts it only when the
//! certificate was issued by its own farm's authority, is in date and not revoked, and
//! names a role the reader trusts to write. Access to the store itself then decides
//! nothing about what is served.

use std::time::SystemTime;

use ring::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};
use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::KeyUsage;

use crate::credentials::Credentials;
use crate::identity::{Identity, Role};
use crate::verify::Checker;

/// Why a seal cannot be made or is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The member's key is not an Ed25519 key this farm issues.
    #[error("the credentials' key cannot sign: {0}")]
    Key(String),
    /// The farm's authority or revocation list cannot be used.
    #[error("the farm's authority is unusable: {0}")]
    Authority(String),
    /// The writer's certificate is not one this farm trusts.
    #[error("the writer's certificate is not accepted: {0}")]
    Certificate(String),
    /// The writer's role may not write.
    #[error("written by {writer}, and only {allowed} may write")]
    Role {
        /// Who the certificate names.
        writer: Identity,
        /// The role that may write.
        allowed: Role,
    },
    /// The signature does not match the contents: they were altered.
    #[error("the signature does not match the contents")]
    Signature,
}

/// What a writer signs with: its farm key and certificate.
pub struct Sealer {
    key: Ed25519KeyPair,
    cert: Vec<u8>,
    identity: Identity,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer for the member `credentials` belong to.
    pub fn new(credentials: &Credentials) -> Result<Sealer, SealError> {
        let pkcs8 = credentials.key.secret_der();
        let key = Ed25519KeyPair::from_pkcs8(pkcs8)
            .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8))
            .map_err(|e| SealError::Key(e.to_string()))?;
        let cert = credentials
            .chain
            .first()
            .map(|c| c.as_ref().to_vec())
            .ok_or_else(|| SealError::Key("no certificate".into()))?;
        Ok(Sealer {
            key,
            cert,
            identity: credentials.identity.clone(),
        })
    }

    /// Who seals.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The writer's certificate (DER) and its signature of `message`.
    pub fn seal(&self, message: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (self.cert.clone(), self.key.sign(message).as_ref().to_vec())
    }
}

/// A reader's check of seals: the farm's authority and revocation lists, and the role
/// allowed to write.
#[derive(Debug)]
pub struct SealChecker {
    checker: Checker,
    writer: Role,
}

impl SealChecker {
    /// A checker for the farm `credentials` belong to, accepting seals of `writer`s.
    pub fn new(credentials: &Credentials, writer: Role) -> Result<SealChecker, SealError> {
        let checker = Checker::new(&credentials.authority, &credentials.crls)
            .map_err(|e| SealError::Authority(e.to_string()))?;
        Ok(SealChecker { checker, writer })
    }

    /// Who wrote `message`, if `cert` (DER) is a trusted writer's and `signature` its
    /// signature of `message`.
    pub fn check(
        &self,
        cert: &[u8],
        message: &[u8],
        signature: &[u8],
        now: SystemTime,
    ) -> Result<Identity, SealError> {
        let der = CertificateDer::from(cert);
        let now = UnixTime::since_unix_epoch(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        // The scheduler's certificate is for serving only; every other writer's (a
        // server's) is also for connecting.
        let usage = match self.writer {
            Role::Scheduler => KeyUsage::server_auth(),
            _ => KeyUsage::client_auth(),
        };
        let writer = self
            .checker
            .check(&der, &[], now, usage)
            .map_err(|e| SealError::Certificate(e.to_string()))?;
        if writer.role != self.writer {
            return Err(SealError::Role {
                writer,
                allowed: self.writer,
            });
        }
        let public = public_key(cert)
            .ok_or_else(|| SealError::Certificate("its key is not an Ed25519 key".to_owned()))?;
        UnparsedPublicKey::new(&ED25519, public)
            .verify(message, signature)
            .map_err(|_| SealError::Signature)?;
        Ok(writer)
    }
}

/// The Ed25519 public key in a certificate.
fn public_key(cert: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, parsed) = X509Certificate::from_der(cert).ok()?;
    let spki = parsed.public_key();
    // 1.3.101.112: id-Ed25519.
    (spki.algorithm.algorithm.to_id_string() == "1.3.101.112")
        .then(|| spki.subject_public_key.data.to_vec())
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::authority::Authority;

    fn member(authority: &Authority, role: Role, name: &str) -> Credentials {
        let now = SystemTime::now();
        let issued = authority
            .issue(
                &Identity::new(role, name).unwrap(),
                now,
                std::time::Duration::from_secs(3600),
            )
            .unwrap();
        Credentials::issued(authority, &issued).unwrap()
    }

    #[test]
    fn a_servers_seal_is_accepted_and_binds_the_contents() {
        let farm = Authority::create("farm", SystemTime::now()).unwrap();
        let server = member(&farm, Role::Server, "build7");
        let reader = member(&farm, Role::User, "alice");
        let sealer = Sealer::new(&server).unwrap();
        let (cert, signature) = sealer.seal(b"entry");
        let checker = SealChecker::new(&reader, Role::Server).unwrap();
        let writer = checker
            .check(&cert, b"entry", &signature, SystemTime::now())
            .unwrap();
        assert_eq!(writer, Identity::new(Role::Server, "build7").unwrap());
        assert!(matches!(
            checker.check(&cert, b"entrY", &signature, SystemTime::now()),
            Err(SealError::Signature)
        ));
    }

    #[test]
    fn a_users_seal_and_another_farms_are_refused() {
        let farm = Authority::create("farm", SystemTime::now()).unwrap();
        let user = member(&farm, Role::User, "mallory");
        let checker = SealChecker::new(&member(&farm, Role::User, "alice"), Role::Server).unwrap();
        let (cert, signature) = Sealer::new(&user).unwrap().seal(b"entry");
        assert!(matches!(
            checker.check(&cert, b"entry", &signature, SystemTime::now()),
            Err(SealError::Role { .. })
        ));
        let other = Authority::create("other", SystemTime::now()).unwrap();
        let impostor = member(&other, Role::Server, "build7");
        let (cert, signature) = Sealer::new(&impostor).unwrap().seal(b"entry");
        assert!(matches!(
            checker.check(&cert, b"entry", &signature, SystemTime::now()),
            Err(SealError::Certificate(_))
        ));
    }
}
