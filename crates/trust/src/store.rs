//! The authority's directory and the credential directories it hands out.
//!
//! ```text
//! CA_DIR/ca.pem        the authority's certificate (copied into every credential)
//! CA_DIR/ca-key.pem    its private key (mode 0600; keep it off the farm's machines)
//! CA_DIR/revoked.txt   one line per revoked certificate: SERIAL UNIX_SECONDS
//! CA_DIR/crl.pem       the signed revocation list, rewritten on every revocation
//! CA_DIR/crl-number    the last list's number
//! CA_DIR/issued.txt    one line per issued certificate: SERIAL ROLE NAME NOT_AFTER
//!                      (NOT_AFTER in Unix seconds), appended by [`issue`]
//! ```

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::authority::{Authority, AuthorityError, Issued, Revoked, Serial};
use crate::credentials::{CA_FILE, CERT_FILE, CRL_FILE, KEY_FILE};
use crate::identity::{Identity, Role};

const CA_KEY_FILE: &str = "ca-key.pem";
const REVOKED_FILE: &str = "revoked.txt";
const CRL_NUMBER_FILE: &str = "crl-number";
const ISSUED_FILE: &str = "issued.txt";
/// How long a revocation list stays valid: members re-read it on reload; an operator
/// rewrites it (any revocation does) well before then.
pub const CRL_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// Why a directory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The authority refused.
    #[error(transparent)]
    Authority(#[from] AuthorityError),
    /// The directory already holds an authority or credentials.
    #[error("{0} already exists; refusing to overwrite it")]
    Exists(PathBuf),
    /// A file's contents are not understood.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Write `contents` to a new file `path` with `mode`, refusing to replace one.
fn create(path: &Path, contents: &str, mode: u32) -> Result<(), StoreError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                StoreError::Exists(path.to_owned())
            } else {
                io(path)(e)
            }
        })?;
    file.write_all(contents.as_bytes()).map_err(io(path))
}

/// Replace `path` with `contents` atomically (written beside it, then renamed).
fn replace(path: &Path, contents: &str) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn make_dir(dir: &Path, mode: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(io(dir))
}

/// Create a new authority for `farm` in `dir` (made if missing).
pub fn init_authority(dir: &Path, farm: &str, now: SystemTime) -> Result<Authority, StoreError> {
    make_dir(dir, 0o700)?;
    for name in [CA_FILE, CA_KEY_FILE] {
        if dir.join(name).exists() {
            return Err(StoreError::Exists(dir.join(name)));
        }
    }
    let authority = Authority::create(farm, now)?;
    create(&dir.join(CA_KEY_FILE), authority.key_pem(), 0o600)?;
    create(&dir.join(CA_FILE), authority.cert_pem(), 0o644)?;
    Ok(authority)
}

/// The authority kept in `dir`.
pub fn load_authority(dir: &Path) -> Result<Authority, StoreError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(io(&path))
    };
    Ok(Authority::load(&read(CA_FILE)?, &read(CA_KEY_FILE)?)?)
}

/// Issue a credential for `identity` into the new directory `out`: the authority's
/// certificate, the member's certificate and key, and the current revocation list.
/// `hosts` are names the certificate also carries for host-name checks (see
/// [`Authority::issue_for_hosts`]).
pub fn issue(
    ca_dir: &Path,
    identity: &Identity,
    hosts: &[String],
    out: &Path,
    now: SystemTime,
    validity: Duration,
) -> Result<Issued, StoreError> {
    let authority = load_authority(ca_dir)?;
    let issued = authority.issue_for_hosts(identity, hosts, now, validity)?;
    write_credential(&authority, &issued, out)?;
    if let Ok(crl) = std::fs::read_to_string(ca_dir.join(CRL_FILE)) {
        replace(&out.join(CRL_FILE), &crl)?;
    }
    let not_after = unix_seconds(now + validity);
    let line = format!(
        "{} {} {} {not_after}\n",
        issued.serial, identity.role, identity.name
    );
    let path = ca_dir.join(ISSUED_FILE);
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(&path)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .map_err(io(&path))?;
    Ok(issued)
}

/// A certificate the authority issued, as its log remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedRecord {
    /// Its serial.
    pub serial: Serial,
    /// Who it was issued to.
    pub identity: Identity,
    /// When it expires.
    pub not_after: SystemTime,
}

/// The certificates issued so far, oldest first. Authorities that predate the log,
/// and certificates issued with [`Authority::issue`] directly, are not in it.
pub fn issued(ca_dir: &Path) -> Result<Vec<IssuedRecord>, StoreError> {
    read_records(&ca_dir.join(ISSUED_FILE), |line| {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [serial, role, name, not_after] = parts[..] else {
            return Err("expected SERIAL ROLE NAME NOT_AFTER".into());
        };
        let serial: Serial = serial.parse().map_err(|e: AuthorityError| e.to_string())?;
        let role: Role = role.parse().map_err(|e| format!("{e}"))?;
        let identity = Identity::new(role, name).map_err(|e| e.to_string())?;
        let secs: u64 = not_after
            .parse()
            .map_err(|_| "NOT_AFTER is not a number of seconds".to_owned())?;
        Ok(IssuedRecord {
            serial,
            identity,
            not_after: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        })
    })
}

/// The records of one of the authority's line files (`issued.txt`, `revoked.txt`), each
/// non-blank line read by `parse`; a missing file holds none. A line that does not parse
/// is an error naming the file and the line.
fn read_records<T>(
    path: &Path,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path)(e)),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            parse(line).map_err(|reason| StoreError::Invalid {
                path: path.to_owned(),
                reason: format!("{line:?}: {reason}"),
            })
        })
        .collect()
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Write an issued credential into the new directory `out`.
pub fn write_credential(
    authority: &Authority,
    issued: &Issued,
    out: &Path,
) -> Result<(), StoreError> {
    make_dir(out, 0o700)?;
    create(&out.join(KEY_FILE), &issued.key_pem, 0o600)?;
    create(&out.join(CERT_FILE), &issued.cert_pem, 0o644)?;
    create(&out.join(CA_FILE), authority.cert_pem(), 0o644)?;
    Ok(())
}

/// The certificates revoked so far.
pub fn revoked(ca_dir: &Path) -> Result<Vec<Revoked>, StoreError> {
    read_records(&ca_dir.join(REVOKED_FILE), |line| {
        let mut parts = line.split_whitespace();
        let serial: Serial = parts
            .next()
            .unwrap_or_default()
            .parse()
            .map_err(|e: AuthorityError| e.to_string())?;
        let secs: u64 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or("expected SERIAL SECONDS")?;
        Ok(Revoked {
            serial,
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        })
    })
}

/// Revoke `serial`: add it to the list and rewrite `crl.pem`, whose path is returned.
/// Revoking a certificate twice keeps one entry.
pub fn revoke(ca_dir: &Path, serial: Serial, now: SystemTime) -> Result<PathBuf, StoreError> {
    let authority = load_authority(ca_dir)?;
    let mut list = revoked(ca_dir)?;
    if !list.iter().any(|r| r.serial == serial) {
        list.push(Revoked { serial, at: now });
    }
    write_revocation_list(ca_dir, &authority, &list, now)
}

/// Sign and write the revocation list for `list`, with the next number.
pub fn write_revocation_list(
    ca_dir: &Path,
    authority: &Authority,
    list: &[Revoked],
    now: SystemTime,
) -> Result<PathBuf, StoreError> {
    let number_path = ca_dir.join(CRL_NUMBER_FILE);
    let number = match std::fs::read_to_string(&number_path) {
        Ok(text) => text.trim().parse::<u64>().unwrap_or(0) + 1,
        Err(_) => 1,
    };
    let crl = authority.revocation_list(list, number, now, CRL_VALIDITY)?;
    let text: String = list
        .iter()
        .map(|r| format!("{} {}\n", r.serial, unix_seconds(r.at)))
        .collect();
    replace(&ca_dir.join(REVOKED_FILE), &text)?;
    let crl_path = ca_dir.join(CRL_FILE);
    replace(&crl_path, &crl)?;
    replace(&number_path, &format!("{number}\n"))?;
    Ok(crl_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuing_logs_each_certificate_and_revoking_lists_it() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        init_authority(&ca, "farm", now).unwrap();
        assert!(matches!(
            init_authority(&ca, "farm", now),
            Err(StoreError::Exists(_))
        ));
        assert_eq!(issued(&ca).unwrap(), vec![]);
        let day = Duration::from_secs(24 * 3600);
        let alice = Identity::new(Role::User, "alice").unwrap();
        let build7 = Identity::new(Role::Server, "build7").unwrap();
        let a = issue(&ca, &alice, &[], &dir.path().join("a"), now, day).unwrap();
        let b = issue(&ca, &build7, &[], &dir.path().join("b"), now, 2 * day).unwrap();
        let log = issued(&ca).unwrap();
        assert_eq!(
            log,
            vec![
                IssuedRecord {
                    serial: a.serial.clone(),
                    identity: alice,
                    not_after: now + day,
                },
                IssuedRecord {
                    serial: b.serial.clone(),
                    identity: build7.clone(),
                    not_after: now + 2 * day,
                },
            ]
        );
        // A second credential into a used directory is refused and not logged.
        assert!(issue(&ca, &build7, &[], &dir.path().join("b"), now, day).is_err());
        assert_eq!(issued(&ca).unwrap().len(), 2);

        let crl = revoke(&ca, b.serial.clone(), now).unwrap();
        revoke(&ca, b.serial.clone(), now).unwrap();
        assert!(crl.exists());
        let list = revoked(&ca).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].serial, b.serial);
    }

    #[test]
    fn a_damaged_log_is_reported_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ISSUED_FILE), "0a0b user\n").unwrap();
        let err = issued(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("issued.txt") && err.contains("0a0b user"),
            "{err}"
        );
    }
}
