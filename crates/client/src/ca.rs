//! `ccfarm ca`: the farm's certificate authority from the command line — create it,
//! issue credentials for the scheduler, servers, users and admins, revoke them, list
//! them, and check a credential directory.
//!
//! The files are kept by `ccfarm_trust::store`; this module parses the command line
//! ([`parse`], pure) and words what happened and what to do next. Exit status: 0 done,
//! 2 the command line is wrong, 1 anything else.

use std::path::Path;
use std::time::{Duration, SystemTime};

use ccfarm_trust::authority::{Details, Serial};
use ccfarm_trust::identity::{Identity, Role};
use ccfarm_trust::store::{self, StoreError};
use ccfarm_trust::{CredentialError, Credentials};

mod args;

use args::is_host;
pub use args::{Command, DEFAULT_DAYS, MAX_DAYS, Revoke, USAGE, parse};

const DAY: u64 = 24 * 3600;

/// Why a command failed, worded with what to do about it.
#[derive(Debug)]
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure(e.to_string())
    }
}

/// Run `ccfarm ca ARGS...`: print what happened, return the exit status.
pub fn main(args: &[String], env: impl Fn(&str) -> Option<String>) -> i32 {
    let command = match parse(args, env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ccfarm ca: {e}\n(`ccfarm ca --help` lists the commands)");
            return 2;
        }
    };
    match run(&command, SystemTime::now()) {
        Ok(out) => {
            print!("{out}");
            0
        }
        Err(Failure(e)) => {
            eprintln!("ccfarm ca: {e}");
            1
        }
    }
}

/// Run a parsed command at `now`; returns what to print.
pub fn run(command: &Command, now: SystemTime) -> Result<String, Failure> {
    match command {
        Command::Help => Ok(format!("{USAGE}\n")),
        Command::Init { ca, farm } => init(ca, farm, now),
        Command::Issue {
            ca,
            identity,
            out,
            hosts,
            days,
        } => issue(ca, identity, out, hosts, *days, now),
        Command::Revoke { ca, what } => revoke(ca, what, now),
        Command::List { ca } => list(ca, now),
        Command::Show { dir, ca, explicit } => show(dir, ca.as_deref(), *explicit, now),
    }
}

/// The authority in `ca`, or what to do when there is none.
fn authority_missing(ca: &Path, e: StoreError) -> Failure {
    if !ca.join("ca.pem").exists() {
        Failure(format!(
            "no authority in {d}: create one with `ccfarm ca init --ca {d}`, or point --ca (or CCFARM_CA) at the existing one",
            d = ca.display()
        ))
    } else {
        Failure(format!(
            "the authority in {} cannot be used: {e}",
            ca.display()
        ))
    }
}

fn init(ca: &Path, farm: &str, now: SystemTime) -> Result<String, Failure> {
    match store::init_authority(ca, farm, now) {
        Ok(_) => Ok(format!(
            "created the certificate authority of farm {farm:?} in {d}
  {d}/ca.pem      its certificate (public: every credential carries a copy)
  {d}/ca-key.pem  its private key (mode 0600): back it up, keep it off the farm's machines
next: ccfarm ca issue scheduler NAME --ca {d}   (then one `issue server NAME` per compile server)\n",
            d = ca.display()
        )),
        Err(StoreError::Exists(path)) => Err(Failure(format!(
            "{} already exists: {} already holds an authority and it is not overwritten. Keep using it, or pass --ca NEW_DIR to create another",
            path.display(),
            ca.display()
        ))),
        Err(e) => Err(Failure(format!(
            "could not create the authority in {}: {e}",
            ca.display()
        ))),
    }
}

fn issue(
    ca: &Path,
    identity: &Identity,
    out: &Path,
    hosts: &[String],
    days: u32,
    now: SystemTime,
) -> Result<String, Failure> {
    let hosts = if hosts.is_empty() && identity.role == Role::Scheduler {
        default_hosts()
    } else {
        hosts.to_vec()
    };
    if let Ok(mut entries) = std::fs::read_dir(out)
        && entries.next().is_some()
    {
        return Err(Failure(format!(
            "{} already exists and is not empty: pass --out NEW_DIR (to replace a credential, issue into a new directory and swap; see `ccfarm ca --help`)",
            out.display()
        )));
    }
    store::load_authority(ca).map_err(|e| authority_missing(ca, e))?;
    let validity = Duration::from_secs(u64::from(days) * DAY);
    let issued = store::issue(ca, identity, &hosts, out, now, validity)
        .map_err(|e| Failure(format!("could not issue {identity}: {e}")))?;
    let d = out.display();
    let mut text = format!(
        "issued {identity}, serial {}, valid until {} ({days} days)\nwrote {d}/\n  ca.pem    the farm's authority\n  cert.pem  the certificate\n  key.pem   its private key (mode 0600: it proves the identity; move it privately)\n",
        issued.serial,
        date(now + validity),
    );
    if out.join("crl.pem").exists() {
        text.push_str("  crl.pem   the authority's current revocation list\n");
    }
    if !hosts.is_empty() {
        text.push_str(&format!("host names: {}\n", hosts.join(", ")));
    }
    let there = Path::new("/etc/ccfarm").join(out.file_name().unwrap_or(out.as_os_str()));
    let there = there.display();
    let next = match identity.role {
        Role::Scheduler => format!(
            "copy {d} to the scheduler's machine (e.g. as {there}) and set credentials = \"{there}\" in the scheduler's configuration"
        ),
        Role::Server => format!(
            "copy {d} to the server {:?} (e.g. as {there}) and set credentials = \"{there}\" in its ccfarmd.toml",
            identity.name
        ),
        Role::User | Role::Admin => format!(
            "give {d} to {:?} over a private channel (key.pem is what proves the identity)",
            identity.name
        ),
    };
    text.push_str(&format!(
        "next: {next}\nto withdraw it later: ccfarm ca revoke --serial {} --ca {}\n",
        issued.serial,
        ca.display()
    ));
    Ok(text)
}

/// The names a scheduler is reached by on this machine.
fn default_hosts() -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
    if let Ok(name) = nix::unistd::gethostname()
        && let Some(name) = name.to_str()
        && is_host(name)
        && !hosts.iter().any(|h| h == name)
    {
        hosts.push(name.to_owned());
    }
    hosts
}

fn revoke(ca: &Path, what: &Revoke, now: SystemTime) -> Result<String, Failure> {
    store::load_authority(ca).map_err(|e| authority_missing(ca, e))?;
    let serial = match what {
        Revoke::Serial(serial) => serial.clone(),
        Revoke::Certificate(path) => {
            let file = if path.is_dir() {
                path.join("cert.pem")
            } else {
                path.clone()
            };
            let pem = std::fs::read_to_string(&file).map_err(|e| {
                Failure(format!("{}: {e}: pass a cert.pem, a credential directory or --serial HEX (`ccfarm ca list` shows serials)", file.display()))
            })?;
            Serial::of_certificate(&pem).map_err(|e| {
                Failure(format!(
                    "{}: {e}: pass a cert.pem, a credential directory or --serial HEX",
                    file.display()
                ))
            })?
        }
    };
    let log = store::issued(ca)?;
    let before = store::revoked(ca)?;
    let crl = store::revoke(ca, serial.clone(), now)
        .map_err(|e| Failure(format!("could not revoke {serial}: {e}")))?;
    let whose = log
        .iter()
        .find(|r| r.serial == serial)
        .map_or_else(String::new, |r| format!(" ({})", r.identity));
    let mut text = match before.iter().find(|r| r.serial == serial) {
        Some(r) => format!(
            "serial {serial}{whose} was already revoked on {}; the list is rewritten\n",
            date(r.at)
        ),
        None => format!("revoked serial {serial}{whose}\n"),
    };
    if whose.is_empty() && !log.is_empty() {
        text.push_str(&format!(
            "note: {serial} is not in {}: check that it is this farm's certificate\n",
            ca.join("issued.txt").display()
        ));
    }
    text.push_str(&format!(
        "wrote {c} ({n} revoked)\nnext: copy {c} as crl.pem into the credential directory of the scheduler and of every server, and send them SIGHUP; the scheduler checks every connection against it\n",
        c = crl.display(),
        n = before.len() + usize::from(!before.iter().any(|r| r.serial == serial)),
    ));
    Ok(text)
}

fn list(ca: &Path, now: SystemTime) -> Result<String, Failure> {
    store::load_authority(ca).map_err(|e| authority_missing(ca, e))?;
    let log = store::issued(ca)?;
    let revoked = store::revoked(ca)?;
    if log.is_empty() && revoked.is_empty() {
        return Ok(format!(
            "no certificates issued or revoked yet by the authority in {}\n",
            ca.display()
        ));
    }
    let mut rows = vec![["SERIAL", "ROLE", "NAME", "EXPIRES", "STATUS"].map(String::from)];
    let status = |serial: &Serial, not_after: Option<SystemTime>| match (
        revoked.iter().find(|r| &r.serial == serial),
        not_after,
    ) {
        (Some(r), _) => format!("revoked {}", date(r.at)),
        (None, Some(t)) if t <= now => "expired".into(),
        (None, _) => "valid".into(),
    };
    for r in &log {
        rows.push([
            r.serial.to_string(),
            r.identity.role.to_string(),
            r.identity.name.clone(),
            date(r.not_after),
            status(&r.serial, Some(r.not_after)),
        ]);
    }
    for r in revoked
        .iter()
        .filter(|r| !log.iter().any(|l| l.serial == r.serial))
    {
        rows.push([
            r.serial.to_string(),
            "?".into(),
            "?".into(),
            "?".into(),
            status(&r.serial, None),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    Ok(out)
}

fn show(dir: &Path, ca: Option<&Path>, explicit: bool, now: SystemTime) -> Result<String, Failure> {
    let unusable = |reason: String, who: Option<&Identity>| {
        let (role, name) = who.map_or(("ROLE", "NAME"), |i| (i.role.as_str(), &i.name));
        Failure(format!(
            "{} is not usable: {reason}\nissue a new credential: ccfarm ca issue {role} {name} --out NEW_DIR",
            dir.display()
        ))
    };
    let credentials = Credentials::load(dir).map_err(|e| match e {
        CredentialError::Read { path, source } => Failure(format!(
            "{}: {source}: a credential directory holds ca.pem, cert.pem and key.pem, as `ccfarm ca issue` writes it",
            path.display()
        )),
        other => {
            let who = std::fs::read_to_string(dir.join("cert.pem"))
                .ok()
                .and_then(|pem| Identity::from_pem(&pem).ok());
            unusable(other.to_string(), who.as_ref())
        }
    })?;
    let who = Some(&credentials.identity);
    let cert = std::fs::read_to_string(dir.join("cert.pem"))?;
    let details = Details::of_certificate(&cert)?;
    let mut text = format!(
        "{}: {}\n  serial   {}\n  valid    {} to {}",
        dir.display(),
        credentials.identity,
        details.serial,
        date(details.not_before),
        date(details.not_after)
    );
    let left = details
        .not_after
        .duration_since(now)
        .unwrap_or_default()
        .as_secs()
        / DAY;
    text.push_str(&format!(" ({left} days left)\n"));
    if !details.hosts.is_empty() {
        text.push_str(&format!("  hosts    {}\n", details.hosts.join(", ")));
    }
    let crl = dir.join("crl.pem");
    text.push_str(if crl.exists() {
        "  crl.pem  present: not revoked by it\n"
    } else {
        "  crl.pem  absent\n"
    });
    if let Some(ca) = ca {
        let theirs = std::fs::read_to_string(ca.join("ca.pem"));
        let ours = std::fs::read_to_string(dir.join("ca.pem"))?;
        match theirs {
            Err(e) if explicit => {
                return Err(Failure(format!(
                    "{}: {e}: --ca must name the authority's directory",
                    ca.join("ca.pem").display()
                )));
            }
            Err(_) => text.push_str(&format!(
                "  ca       no authority in {} to check against (--ca DIR names one)\n",
                ca.display()
            )),
            Ok(theirs) if theirs.trim() != ours.trim() => {
                if explicit {
                    return Err(unusable(
                        format!(
                            "it was issued by another authority than the one in {}",
                            ca.display()
                        ),
                        who,
                    ));
                }
                text.push_str(&format!(
                    "  note     not issued by the authority in {}; not checked against its list\n",
                    ca.display()
                ));
            }
            Ok(_) => {
                if let Some(r) = store::revoked(ca)?
                    .into_iter()
                    .find(|r| r.serial == details.serial)
                {
                    return Err(unusable(
                        format!(
                            "the certificate was revoked on {} (by the authority in {}); {} does not say so yet: copy {} into it",
                            date(r.at),
                            ca.display(),
                            crl.display(),
                            ca.join("crl.pem").display()
                        ),
                        who,
                    ));
                }
                text.push_str(&format!("  ca       {}: not revoked\n", ca.display()));
                let current = std::fs::read_to_string(ca.join("crl.pem")).ok();
                if current.is_some() && current != std::fs::read_to_string(&crl).ok() {
                    text.push_str(&format!(
                        "  note     {} is not the authority's current list: copy {} into {}\n",
                        crl.display(),
                        ca.join("crl.pem").display(),
                        dir.display()
                    ));
                }
            }
        }
    }
    if left < 30 {
        text.push_str(&format!(
            "  note     expires in {left} days: rotate it (see `ccfarm ca --help`)\n"
        ));
    }
    text.push_str("ok: usable\n");
    Ok(text)
}

/// `2026-03-01 14:05 UTC`.
pub fn date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    // Howard Hinnant's days-to-civil.
    let days = (secs / DAY) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let rem = secs % DAY;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        assert_eq!(date(SystemTime::UNIX_EPOCH), "1970-01-01 00:00 UTC");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_301_900);
        assert_eq!(date(t), "2024-03-01 14:05 UTC");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(date(t), "2000-02-29 00:00 UTC");
    }
}
