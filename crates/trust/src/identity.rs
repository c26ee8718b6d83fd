//! Who a certificate speaks for: a role in the farm and a name.
//!
//! Every certificate the farm's authority issues names exactly one identity, in its
//! subject: the organisational unit is the role (`scheduler`, `server`, `user`,
//! `admin`) and the common name is the name (`build7`, `alice`). The role is what keeps
//! a user's certificate from registering as a compile server and a server's from
//! taking a user's place in the fair queue; the name is what the scheduler checks
//! against a server's registration and what the fair queue, the dashboard and the job
//! records show for a user.

use std::fmt;
use std::str::FromStr;

use x509_parser::prelude::{FromDer, X509Certificate};

/// What a certificate's holder may do in the farm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The scheduler: clients and servers connect to it.
    Scheduler,
    /// A compile server (`ccfarmd`): registers with the scheduler, runs granted jobs.
    Server,
    /// A developer whose builds ask for slots.
    User,
    /// An operator: the admin API and the admin commands.
    Admin,
}

impl Role {
    /// The word used in certificates, flags and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Scheduler => "scheduler",
            Role::Server => "server",
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Role, IdentityError> {
        match s {
            "scheduler" => Ok(Role::Scheduler),
            "server" => Ok(Role::Server),
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(IdentityError::UnknownRole(other.to_owned())),
        }
    }
}

/// A role and a name, as proven by a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    /// What the holder may do.
    pub role: Role,
    /// Who the holder is: a server's name or a user's login.
    pub name: String,
}

impl Identity {
    /// An identity after checking the name.
    pub fn new(role: Role, name: &str) -> Result<Identity, IdentityError> {
        check_name(name)?;
        Ok(Identity {
            role,
            name: name.to_owned(),
        })
    }

    /// Read the identity a DER certificate's subject names. The certificate's chain
    /// is not checked here; only a certificate that passed the TLS verification
    /// should be asked.
    pub fn from_certificate(der: &[u8]) -> Result<Identity, IdentityError> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|_| IdentityError::Unreadable)?;
        let subject = cert.subject();
        let single = |values: Vec<&str>, what: &'static str| match values[..] {
            [one] => Ok(one.to_owned()),
            [] => Err(IdentityError::Missing(what)),
            _ => Err(IdentityError::Ambiguous(what)),
        };
        let units = subject
            .iter_organizational_unit()
            .map(|a| a.as_str().map_err(|_| IdentityError::Unreadable))
            .collect::<Result<Vec<_>, _>>()?;
        let names = subject
            .iter_common_name()
            .map(|a| a.as_str().map_err(|_| IdentityError::Unreadable))
            .collect::<Result<Vec<_>, _>>()?;
        let role: Role = single(units, "role (organisational unit)")?.parse()?;
        let name = single(names, "name (common name)")?;
        Identity::new(role, &name)
    }
}

impl Identity {
    /// Read the identity the first certificate in PEM text names; as
    /// [`Identity::from_certificate`], the chain is not checked.
    pub fn from_pem(pem: &str) -> Result<Identity, IdentityError> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| IdentityError::Unreadable)?;
        Identity::from_certificate(&der)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.role, self.name)
    }
}

/// Why a certificate names no usable identity, or a name is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The certificate could not be parsed.
    #[error("the certificate cannot be read")]
    Unreadable,
    /// The subject lacks a part.
    #[error("the certificate names no {0}")]
    Missing(&'static str),
    /// The subject has a part twice.
    #[error("the certificate names more than one {0}")]
    Ambiguous(&'static str),
    /// The role is not one of ccfarm's.
    #[error("unknown role {0:?} (expected scheduler, server, user or admin)")]
    UnknownRole(String),
    /// The name is empty, too long or has characters that would be ambiguous in logs.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
}

/// The longest name a credential may carry.
pub const MAX_NAME: usize = 128;

/// Names appear in logs, on the dashboard and in metric labels: keep them to printable
/// ASCII without spaces, quotes or slashes, so that one name is never mistaken for
/// another or for a path.
pub fn check_name(name: &str) -> Result<(), IdentityError> {
    let invalid = |reason| IdentityError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    if name.len() > MAX_NAME {
        return Err(invalid("longer than 128 bytes"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@');
    if !name.chars().all(allowed) {
        return Err(invalid(
            "only letters, digits and - _ . : @ are allowed in a name",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_words() {
        for role in [Role::Scheduler, Role::Server, Role::User, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!(matches!(
            "root".parse::<Role>(),
            Err(IdentityError::UnknownRole(_))
        ));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("build7").is_ok());
        assert!(check_name("build7:3632").is_ok());
        assert!(check_name("alice@example.org").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("../etc").is_err());
        assert!(check_name("a\"b").is_err());
        assert!(check_name(&"x".repeat(129)).is_err());
        assert!(check_name(&"x".repeat(128)).is_ok());
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(
            Identity::from_certificate(b"not a certificate"),
            Err(IdentityError::Unreadable)
        );
        assert_eq!(
            Identity::from_pem("not a certificate"),
            Err(IdentityError::Unreadable)
        );
    }
}
