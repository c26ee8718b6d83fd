//! The farm's certificate authority: creating it, issuing credentials for the
//! scheduler, servers, users and admins, and revoking them.
//!
//! Everything here works on PEM text and a given time: the files it is kept in are the
//! caller's business ([`crate::store`]). Keys are Ed25519, which signs and verifies
//! fastest of what TLS 1.3 offers: a compile pays for up to two handshakes, so the
//! handshake's cost is the farm's per-job overhead.

use std::fmt;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PKCS_ED25519, RevokedCertParams, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::identity::{Identity, Role};

/// How long a farm's authority is valid.
pub const AUTHORITY_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long an issued credential is valid unless the operator says otherwise.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Certificates start this long before they are issued, so that a machine whose clock
/// is a little behind the authority's accepts them at once.
const BACKDATE: Duration = Duration::from_secs(3600);

/// Why the authority could not do something.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    /// Generating or signing failed, or a PEM input was not understood.
    #[error("certificate authority: {0}")]
    Crypto(#[from] rcgen::Error),
    /// The system's random source failed.
    #[error("certificate authority: no randomness available")]
    Random,
    /// A certificate given for revocation could not be read.
    #[error("certificate authority: {0}")]
    Unreadable(String),
}

/// A certificate's serial number, shown in hexadecimal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(pub Vec<u8>);

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Serial {
    type Err = AuthorityError;

    fn from_str(s: &str) -> Result<Serial, AuthorityError> {
        let s = s.trim();
        let bad = || AuthorityError::Unreadable(format!("{s:?} is not a hexadecimal serial"));
        if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 40 {
            return Err(bad());
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| bad()))
            .collect::<Result<Vec<_>, _>>()
            .map(Serial)
    }
}

impl Serial {
    /// The serial of a PEM certificate.
    pub fn of_certificate(pem: &str) -> Result<Serial, AuthorityError> {
        Ok(Details::of_certificate(pem)?.serial)
    }
}

/// What a certificate says besides its identity: for showing it to an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    /// Its serial, for revocation.
    pub serial: Serial,
    /// Valid from.
    pub not_before: SystemTime,
    /// Valid until.
    pub not_after: SystemTime,
    /// The DNS names and IP addresses it names for host-name checks.
    pub hosts: Vec<String>,
}

impl Details {
    /// The details of a PEM certificate (the first one in `pem`).
    pub fn of_certificate(pem: &str) -> Result<Details, AuthorityError> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        use x509_parser::prelude::GeneralName;
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| AuthorityError::Unreadable(format!("not a PEM certificate: {e}")))?;
        let (_, cert) = X509Certificate::from_der(&der)
            .map_err(|_| AuthorityError::Unreadable("not a certificate".into()))?;
        let time = |t: i64| match u64::try_from(t) {
            Ok(secs) => SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            Err(_) => SystemTime::UNIX_EPOCH - Duration::from_secs(t.unsigned_abs()),
        };
        let names = cert.subject_alternative_name().map_err(|e| {
            AuthorityError::Unreadable(format!("bad subject alternative names: {e}"))
        })?;
        let hosts = names
            .map(|ext| ext.value.general_names.iter())
            .into_iter()
            .flatten()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes)
                        .ok()
                        .map(|a| std::net::IpAddr::from(a).to_string()),
                    16 => <[u8; 16]>::try_from(*bytes)
                        .ok()
                        .map(|a| std::net::IpAddr::from(a).to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        Ok(Details {
            serial: Serial(cert.raw_serial().to_vec()),
            not_before: time(cert.validity().not_before.timestamp()),
            not_after: time(cert.validity().not_after.timestamp()),
            hosts,
        })
    }
}

/// A newly issued credential.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Who it is for.
    pub identity: Identity,
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (keep it secret).
    pub key_pem: String,
    /// Its serial, for revocation.
    pub serial: Serial,
}

/// A revoked certificate, as the authority remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Its serial.
    pub serial: Serial,
    /// When it was revoked.
    pub at: SystemTime,
}

/// The farm's certificate authority, loaded with its key.
pub struct Authority {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

impl Authority {
    /// Create a new authority for the farm called `farm`.
    pub fn create(farm: &str, now: SystemTime) -> Result<Authority, AuthorityError> {
        let key = KeyPair::generate_for(&PKCS_ED25519)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, farm.to_owned());
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{farm} certificate authority"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(random_serial()?);
        params.not_before = (now - BACKDATE).into();
        params.not_after = (now + AUTHORITY_VALIDITY).into();
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        Ok(Authority {
            cert_pem: cert.pem(),
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// An authority from its certificate and key.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Authority, AuthorityError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Authority {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            issuer,
        })
    }

    /// The authority's certificate: every member of the farm trusts it.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The authority's private key (keep it secret, off the farm's machines).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Issue a credential for `identity`, valid from now for `validity`.
    pub fn issue(
        &self,
        identity: &Identity,
        now: SystemTime,
        validity: Duration,
    ) -> Result<Issued, AuthorityError> {
        self.issue_for_hosts(identity, &[], now, validity)
    }

    /// Issue a credential that also names `hosts` (DNS names or IP addresses), so that
    /// a browser or an HTTP client checking host names accepts it: the scheduler's
    /// dashboard and admin API. Farm members check identities, not these names.
    pub fn issue_for_hosts(
        &self,
        identity: &Identity,
        hosts: &[String],
        now: SystemTime,
        validity: Duration,
    ) -> Result<Issued, AuthorityError> {
        let key = KeyPair::generate_for(&PKCS_ED25519)?;
        let mut params = CertificateParams::new(hosts.to_vec())?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, identity.role.as_str());
        params
            .distinguished_name
            .push(DnType::CommonName, identity.name.clone());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // A server is a TLS server for clients and a TLS client of the scheduler; a
        // user or admin only ever connects; the scheduler only accepts.
        params.extended_key_usages = match identity.role {
            Role::Scheduler => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Role::Server => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            Role::User | Role::Admin => vec![ExtendedKeyUsagePurpose::ClientAuth],
        };
        params.use_authority_key_identifier_extension = true;
        let serial = random_serial()?;
        params.serial_number = Some(serial.clone());
        params.not_before = (now - BACKDATE).into();
        params.not_after = (now + validity).into();
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            identity: identity.clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial: Serial(serial.to_bytes()),
        })
    }

    /// A certificate revocation list naming `revoked`, numbered `number` (each new
    /// list must have a higher number), valid until `now + validity`.
    pub fn revocation_list(
        &self,
        revoked: &[Revoked],
        number: u64,
        now: SystemTime,
        validity: Duration,
    ) -> Result<String, AuthorityError> {
        let params = CertificateRevocationListParams {
            this_update: (now - BACKDATE).into(),
            next_update: (now + validity).into(),
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&r.serial.0),
                    revocation_time: r.at.into(),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }
}

/// Twenty random bytes, positive as DER wants a serial to be.
fn random_serial() -> Result<SerialNumber, AuthorityError> {
    let mut bytes = [0u8; 20];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthorityError::Random)?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_certificates_name_their_identity_and_carry_their_serial() {
        let now = SystemTime::now();
        let ca = Authority::create("test farm", now).unwrap();
        for (role, name) in [
            (Role::Server, "build7"),
            (Role::User, "alice"),
            (Role::Scheduler, "sched"),
            (Role::Admin, "ops"),
        ] {
            let identity = Identity::new(role, name).unwrap();
            let issued = ca.issue(&identity, now, DEFAULT_VALIDITY).unwrap();
            use rustls_pki_types::CertificateDer;
            use rustls_pki_types::pem::PemObject;
            let der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
            assert_eq!(Identity::from_certificate(&der).unwrap(), identity);
            assert_eq!(Identity::from_pem(&issued.cert_pem).unwrap(), identity);
            assert_eq!(
                Serial::of_certificate(&issued.cert_pem).unwrap(),
                issued.serial
            );
        }
    }

    #[test]
    fn an_authority_reloads_from_its_files_and_keeps_issuing() {
        let now = SystemTime::now();
        let ca = Authority::create("farm", now).unwrap();
        let again = Authority::load(ca.cert_pem(), ca.key_pem()).unwrap();
        let user = Identity::new(Role::User, "bob").unwrap();
        assert!(again.issue(&user, now, DEFAULT_VALIDITY).is_ok());
        let crl = again
            .revocation_list(&[], 1, now, Duration::from_secs(3600))
            .unwrap();
        assert!(crl.contains("BEGIN X509 CRL"));
    }

    #[test]
    fn details_show_validity_and_host_names() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ca = Authority::create("farm", now).unwrap();
        let scheduler = Identity::new(Role::Scheduler, "sched").unwrap();
        let hosts = ["sched.example".to_owned(), "10.0.0.1".into(), "::1".into()];
        let issued = ca
            .issue_for_hosts(&scheduler, &hosts, now, DEFAULT_VALIDITY)
            .unwrap();
        let details = Details::of_certificate(&issued.cert_pem).unwrap();
        assert_eq!(details.serial, issued.serial);
        assert_eq!(details.not_before, now - BACKDATE);
        assert_eq!(details.not_after, now + DEFAULT_VALIDITY);
        assert_eq!(details.hosts, hosts);
        assert!(Details::of_certificate("not a certificate").is_err());
    }

    #[test]
    fn serials_print_and_parse_as_hex() {
        let serial = Serial(vec![0x01, 0xab, 0xff]);
        assert_eq!(serial.to_string(), "01abff");
        assert_eq!("01abff".parse::<Serial>().unwrap(), serial);
        assert!("1ab".parse::<Serial>().is_err());
        assert!("zz".parse::<Serial>().is_err());
    }
}
