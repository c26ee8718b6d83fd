//! A member's credentials: the farm's authority to trust, its own certificate and key,
//! and the authority's revocation list when there is one.
//!
//! On disk they are one directory, as `ccfarm ca issue` writes it:
//!
//! ```text
//! ca.pem     the farm's authority (public)
//! cert.pem   this member's certificate
//! key.pem    this member's private key (mode 0600)
//! crl.pem    optional: the authority's revocation list (`ccfarm ca revoke` writes it)
//! ```

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};

use crate::authority::{Authority, Issued};
use crate::identity::{Identity, IdentityError, Role};
use crate::verify;

/// The files of a credential directory.
pub const CA_FILE: &str = "ca.pem";
/// This member's certificate.
pub const CERT_FILE: &str = "cert.pem";
/// This member's key.
pub const KEY_FILE: &str = "key.pem";
/// The revocation list.
pub const CRL_FILE: &str = "crl.pem";

/// Why credentials could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file's contents are not what it should hold.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The credentials are another role's (a user's given to a server, ...).
    #[error("{dir}: these credentials are for {identity}, not a {expected}")]
    WrongRole {
        /// Where they are.
        dir: PathBuf,
        /// Whose they are.
        identity: Identity,
        /// The role they were loaded for.
        expected: Role,
    },
    /// The certificate names no usable identity.
    #[error("{path}: {source}")]
    Identity {
        /// The certificate file.
        path: PathBuf,
        /// Why.
        source: IdentityError,
    },
}

/// Loaded credentials.
#[derive(Debug)]
pub struct Credentials {
    /// Who these credentials prove.
    pub identity: Identity,
    /// Where they were loaded from (for messages), if from files.
    pub dir: Option<PathBuf>,
    pub(crate) authority: CertificateDer<'static>,
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) crls: Vec<CertificateRevocationListDer<'static>>,
}

impl Clone for Credentials {
    fn clone(&self) -> Credentials {
        Credentials {
            identity: self.identity.clone(),
            dir: self.dir.clone(),
            authority: self.authority.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            crls: self.crls.clone(),
        }
    }
}

impl Credentials {
    /// Load the credentials in `dir`.
    pub fn load(dir: &Path) -> Result<Credentials, CredentialError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| CredentialError::Read { path, source })
        };
        let crl = match std::fs::read(dir.join(CRL_FILE)) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(CredentialError::Read {
                    path: dir.join(CRL_FILE),
                    source,
                });
            }
        };
        let mut credentials = Credentials::from_pem(
            &read(CA_FILE)?,
            &read(CERT_FILE)?,
            &read(KEY_FILE)?,
            crl.as_deref(),
        )
        .map_err(|e| e.in_dir(dir))?;
        credentials.dir = Some(dir.to_owned());
        Ok(credentials)
    }

    /// Load the credentials in `dir`, which must be a `role`'s.
    pub fn load_as(dir: &Path, role: Role) -> Result<Credentials, CredentialError> {
        let credentials = Credentials::load(dir)?;
        if credentials.identity.role != role {
            return Err(CredentialError::WrongRole {
                dir: dir.to_owned(),
                identity: credentials.identity,
                expected: role,
            });
        }
        Ok(credentials)
    }

    /// The credentials `authority` just issued, as a member would load them, with no
    /// revocation list: for members made in memory (tests, benchmarks).
    pub fn issued(authority: &Authority, issued: &Issued) -> Result<Credentials, CredentialError> {
        Credentials::from_pem(
            authority.cert_pem().as_bytes(),
            issued.cert_pem.as_bytes(),
            issued.key_pem.as_bytes(),
            None,
        )
    }

    /// Credentials from PEM text. The certificate must have been issued by the
    /// authority and still be valid, so that a wrong file is reported at start-up
    /// rather than as a failed handshake later.
    pub fn from_pem(
        authority: &[u8],
        cert: &[u8],
        key: &[u8],
        crl: Option<&[u8]>,
    ) -> Result<Credentials, CredentialError> {
        let invalid = |file: &str, reason: String| CredentialError::Invalid {
            path: PathBuf::from(file),
            reason,
        };
        let authority = CertificateDer::from_pem_slice(authority)
            .map_err(|e| invalid(CA_FILE, format!("not a PEM certificate: {e}")))?;
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(CERT_FILE, format!("not a PEM certificate: {e}")))?;
        let Some(leaf) = chain.first() else {
            return Err(invalid(CERT_FILE, "no certificate in the file".into()));
        };
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| invalid(KEY_FILE, format!("not a PEM private key: {e}")))?;
        let crls = match crl {
            Some(crl) => CertificateRevocationListDer::pem_slice_iter(crl)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid(CRL_FILE, format!("not a PEM revocation list: {e}")))?,
            None => Vec::new(),
        };
        let identity =
            Identity::from_certificate(leaf).map_err(|source| CredentialError::Identity {
                path: PathBuf::from(CERT_FILE),
                source,
            })?;
        let credentials = Credentials {
            identity,
            dir: None,
            authority,
            chain,
            key,
            crls,
        };
        let now = UnixTime::since_unix_epoch(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        verify::own_certificate(
            &credentials.authority,
            &credentials.chain,
            &credentials.crls,
            now,
        )
        .map_err(|reason| {
            invalid(
                CERT_FILE,
                format!("not usable with this {CA_FILE}: {reason}"),
            )
        })?;
        Ok(credentials)
    }
}

impl CredentialError {
    /// Point a relative file name in the error at the directory it was read from.
    fn in_dir(self, dir: &Path) -> CredentialError {
        match self {
            CredentialError::Invalid { path, reason } => CredentialError::Invalid {
                path: dir.join(path),
                reason,
            },
            CredentialError::Identity { path, source } => CredentialError::Identity {
                path: dir.join(path),
                source,
            },
            read => read,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::authority::DEFAULT_VALIDITY;
    use crate::store;

    #[test]
    fn credentials_load_only_as_their_own_role() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca");
        store::init_authority(&ca, "farm", SystemTime::now()).unwrap();
        let user = dir.path().join("alice");
        let alice = Identity::new(Role::User, "alice").unwrap();
        store::issue(&ca, &alice, &[], &user, SystemTime::now(), DEFAULT_VALIDITY).unwrap();
        assert_eq!(
            Credentials::load_as(&user, Role::User).unwrap().identity,
            alice
        );
        let err = Credentials::load_as(&user, Role::Server).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("these credentials are for user \"alice\", not a server"),
            "{err}"
        );
    }
}
