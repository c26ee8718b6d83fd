//! The command line of `ccfarm ca`, parsed without touching files.

use std::path::{Path, PathBuf};

use ccfarm_trust::authority::Serial;
use ccfarm_trust::identity::{Identity, Role};

/// `ccfarm ca --help`.
pub const USAGE: &str = "usage: ccfarm ca init [--ca DIR] [--farm NAME]
       ccfarm ca issue ROLE NAME [--ca DIR] [--out DIR] [--host H]... [--days N]
       ccfarm ca revoke (CERT.pem | CREDENTIAL_DIR | --serial HEX) [--ca DIR]
       ccfarm ca list [--ca DIR]
       ccfarm ca show CREDENTIAL_DIR [--ca DIR]

The farm's certificate authority. Every member (the scheduler, each compile server,
each user and admin) gets a credential directory: ca.pem, cert.pem, key.pem (0600) and
crl.pem, whose certificate names its ROLE (scheduler, server, user or admin) and NAME.

  init     create the authority in the CA directory; refuses to overwrite one
           --farm NAME   the farm's name in the authority's certificate [default: ccfarm]
  issue    write a credential directory for ROLE NAME and print its serial
           --out DIR     where [default: ./ROLE-NAME]; must not exist or be empty
           --host H      a DNS name or IP address the certificate names, for browsers
                         and HTTP clients checking host names (repeatable) [default for
                         the scheduler: localhost, 127.0.0.1, ::1 and this host's name]
           --days N      validity in days [default: 365]
  revoke   revoke a certificate (a cert.pem, a credential directory or a serial) and
           rewrite CA/crl.pem; copy it as crl.pem into the scheduler's and servers'
           credential directories and send them SIGHUP
  list     the certificates issued (CA/issued.txt) and revoked, with their status
  show     check a credential directory: identity, validity, serial; exits 1 with the
           reason if it is not usable (another authority, revoked, expired). Also
           checks against the authority's current revocation list when the CA
           directory is there.

  --ca DIR   the authority's directory [default: $CCFARM_CA, else ~/.ccfarm/ca]

Rotating a credential: issue a new one into a new directory
(ccfarm ca issue server build7 --out server-build7.new), put it in place of the old
directory on the member, send the member SIGHUP, then revoke the old certificate
(ccfarm ca revoke --serial OLD_SERIAL) and distribute crl.pem as above.

Exit status: 0 done, 1 failed, 2 wrong command line.";

/// How long an issued credential is valid unless `--days` says otherwise.
pub const DEFAULT_DAYS: u32 = 365;
/// The longest `--days` accepted: the authority itself is valid for ten years.
pub const MAX_DAYS: u32 = 3650;

/// A parsed `ccfarm ca` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print [`USAGE`].
    Help,
    /// `init`.
    Init { ca: PathBuf, farm: String },
    /// `issue`. `hosts` are the `--host` values; empty means the role's default.
    Issue {
        ca: PathBuf,
        identity: Identity,
        out: PathBuf,
        hosts: Vec<String>,
        days: u32,
    },
    /// `revoke`.
    Revoke { ca: PathBuf, what: Revoke },
    /// `list`.
    List { ca: PathBuf },
    /// `show`. `ca` is the authority to check against; `explicit` if `--ca` named it
    /// (then a missing or different authority is an error rather than a note).
    Show {
        dir: PathBuf,
        ca: Option<PathBuf>,
        explicit: bool,
    },
}

/// What `revoke` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoke {
    /// A certificate file or a credential directory.
    Certificate(PathBuf),
    /// A serial in hexadecimal.
    Serial(Serial),
}

/// A mistake on the `ccfarm ca` command line, worded for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parse `ccfarm ca ARGS...`; `env` reads environment variables.
pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Command, UsageError> {
    parse_words(args, env).map_err(UsageError)
}

fn parse_words(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Command, String> {
    let Some((sub, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    let takes: &[&str] = match sub.as_str() {
        "help" | "--help" | "-h" => return Ok(Command::Help),
        "init" => &["--ca", "--farm"],
        "issue" => &["--ca", "--out", "--host", "--days"],
        "revoke" => &["--ca", "--serial"],
        "list" => &["--ca"],
        "show" => &["--ca"],
        other => {
            return Err(format!(
                "unknown command {other:?}: expected init, issue, revoke, list or show"
            ));
        }
    };
    let mut flags: Vec<(String, String)> = Vec::new();
    let mut positional = Vec::new();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        if arg == "--help" || arg == "-h" {
            return Ok(Command::Help);
        }
        if !arg.starts_with('-') || arg == "-" {
            positional.push(arg.clone());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        if !takes.contains(&name) {
            return Err(format!(
                "ccfarm ca {sub} does not take {name} (it takes {})",
                takes.join(", ")
            ));
        }
        let value = match inline.or_else(|| it.next().cloned()) {
            Some(v) if !v.is_empty() => v,
            _ => return Err(format!("{name} needs a value")),
        };
        if name != "--host" && flags.iter().any(|(n, _)| n == name) {
            return Err(format!("{name} given twice"));
        }
        flags.push((name.to_owned(), value));
    }
    let flag = |name: &str| {
        flags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let default_ca = || {
        env("CCFARM_CA")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                env("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| Path::new(&h).join(".ccfarm/ca"))
            })
    };
    let ca = || {
        flag("--ca")
            .map(PathBuf::from)
            .or_else(default_ca)
            .ok_or_else(|| {
                "where is the authority? pass --ca DIR or set CCFARM_CA (HOME is not set)"
                    .to_owned()
            })
    };
    let arity = |n: usize, what: &str| {
        if positional.len() == n {
            Ok(())
        } else {
            Err(format!("ccfarm ca {sub} takes {what}; got {positional:?}"))
        }
    };
    match sub.as_str() {
        "init" => {
            arity(0, "no arguments besides its options")?;
            let farm = flag("--farm").unwrap_or_else(|| "ccfarm".into());
            if farm.chars().any(char::is_control) {
                return Err("--farm: the name must be printable".into());
            }
            Ok(Command::Init { ca: ca()?, farm })
        }
        "issue" => {
            arity(2, "ROLE NAME, e.g. `ccfarm ca issue server build7`")?;
            let role: Role = positional[0].parse().map_err(|e| format!("{e}"))?;
            let identity = Identity::new(role, &positional[1]).map_err(|e| format!("{e}"))?;
            let days = match flag("--days") {
                None => DEFAULT_DAYS,
                Some(d) => d
                    .parse::<u32>()
                    .ok()
                    .filter(|d| (1..=MAX_DAYS).contains(d))
                    .ok_or_else(|| format!("--days: expected 1 to {MAX_DAYS}, got {d:?}"))?,
            };
            let hosts: Vec<String> = flags
                .iter()
                .filter(|(n, _)| n == "--host")
                .map(|(_, h)| h.clone())
                .collect();
            if let Some(bad) = hosts.iter().find(|h| !is_host(h)) {
                return Err(format!(
                    "--host {bad:?}: expected a DNS name (letters, digits, - and .) or an IP address"
                ));
            }
            let out = flag("--out").map_or_else(
                || PathBuf::from(format!("{role}-{}", identity.name)),
                PathBuf::from,
            );
            Ok(Command::Issue {
                ca: ca()?,
                identity,
                out,
                hosts,
                days,
            })
        }
        "revoke" => {
            let what = match (flag("--serial"), &positional[..]) {
                (Some(s), []) => Revoke::Serial(s.parse().map_err(|_| {
                    format!("--serial {s:?}: expected the hexadecimal serial `ccfarm ca issue` or `ccfarm ca list` printed")
                })?),
                (None, [path]) => Revoke::Certificate(PathBuf::from(path)),
                _ => {
                    return Err(
                        "ccfarm ca revoke takes one of CERT.pem, CREDENTIAL_DIR or --serial HEX"
                            .into(),
                    );
                }
            };
            Ok(Command::Revoke { ca: ca()?, what })
        }
        "list" => {
            arity(0, "no arguments besides --ca")?;
            Ok(Command::List { ca: ca()? })
        }
        _ => {
            arity(1, "the credential directory to check")?;
            let explicit = flag("--ca").is_some();
            Ok(Command::Show {
                dir: PathBuf::from(&positional[0]),
                ca: flag("--ca").map(PathBuf::from).or_else(default_ca),
                explicit,
            })
        }
    }
}

/// A DNS name (`*.` allowed first) or an IP address.
pub(super) fn is_host(h: &str) -> bool {
    if h.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = h.strip_prefix("*.").unwrap_or(h);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    fn parse_with(line: &str, vars: &[(&str, &str)]) -> Result<Command, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&args(line), move |k| {
            vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
        .map_err(|e| e.0)
    }

    fn p(line: &str) -> Result<Command, String> {
        parse_with(line, &[("HOME", "/home/op")])
    }

    #[test]
    fn no_command_or_help_prints_usage() {
        for line in [
            "",
            "--help",
            "help",
            "issue --help",
            "revoke -h",
            "init --ca x --help",
        ] {
            assert_eq!(p(line), Ok(Command::Help), "{line}");
        }
    }

    #[test]
    fn the_authority_comes_from_the_flag_then_the_environment_then_home() {
        let home = PathBuf::from("/home/op/.ccfarm/ca");
        assert_eq!(
            p("init"),
            Ok(Command::Init {
                ca: home.clone(),
                farm: "ccfarm".into()
            })
        );
        assert_eq!(
            parse_with("list", &[("CCFARM_CA", "/srv/ca"), ("HOME", "/h")]),
            Ok(Command::List {
                ca: "/srv/ca".into()
            })
        );
        assert_eq!(
            p("init --ca=/a --farm lab"),
            Ok(Command::Init {
                ca: "/a".into(),
                farm: "lab".into()
            })
        );
        assert!(parse_with("list", &[]).unwrap_err().contains("--ca DIR"));
    }

    #[test]
    fn issue_takes_a_role_a_name_and_options() {
        let Ok(Command::Issue {
            ca,
            identity,
            out,
            hosts,
            days,
        }) = p("issue scheduler sched --host a.example --host 10.0.0.1 --days 30 --ca c")
        else {
            panic!()
        };
        assert_eq!(ca, PathBuf::from("c"));
        assert_eq!(identity, Identity::new(Role::Scheduler, "sched").unwrap());
        assert_eq!(out, PathBuf::from("scheduler-sched"));
        assert_eq!(hosts, vec!["a.example".to_owned(), "10.0.0.1".into()]);
        assert_eq!(days, 30);
        let Ok(Command::Issue {
            out, hosts, days, ..
        }) = p("issue user alice --out /tmp/a")
        else {
            panic!()
        };
        assert_eq!((out, hosts, days), (PathBuf::from("/tmp/a"), vec![], 365));
    }

    #[test]
    fn mistakes_are_usage_errors_that_say_what_is_expected() {
        let err = |line: &str| p(line).unwrap_err();
        assert!(err("issue root bob").contains("expected scheduler, server, user or admin"));
        assert!(err("issue user ../bob").contains("invalid name"));
        assert!(err("issue user").contains("ROLE NAME"));
        assert!(err("issue user bob --days 0").contains("--days"));
        assert!(err("issue user bob --days 9999").contains("--days"));
        assert!(err("issue user bob --host bad_name").contains("--host"));
        assert!(err("issue user bob --out").contains("needs a value"));
        assert!(err("issue user bob --out a --out b").contains("twice"));
        assert!(err("init --serial 01").contains("does not take --serial"));
        assert!(err("init extra").contains("no arguments"));
        assert!(err("bogus").contains("unknown command"));
        assert!(err("revoke").contains("CERT.pem"));
        assert!(err("revoke x.pem --serial 01").contains("one of"));
        assert!(err("revoke --serial xyz").contains("hexadecimal"));
        assert!(err("show").contains("credential directory"));
    }

    #[test]
    fn revoke_takes_a_file_or_a_serial() {
        let ca = PathBuf::from("/home/op/.ccfarm/ca");
        assert_eq!(
            p("revoke server-build7/cert.pem"),
            Ok(Command::Revoke {
                ca: ca.clone(),
                what: Revoke::Certificate("server-build7/cert.pem".into())
            })
        );
        assert_eq!(
            p("revoke --serial 01ab"),
            Ok(Command::Revoke {
                ca,
                what: Revoke::Serial(Serial(vec![1, 0xab]))
            })
        );
    }

    #[test]
    fn show_checks_against_the_default_authority_unless_told() {
        assert_eq!(
            p("show d"),
            Ok(Command::Show {
                dir: "d".into(),
                ca: Some("/home/op/.ccfarm/ca".into()),
                explicit: false
            })
        );
        assert_eq!(
            p("show d --ca /c"),
            Ok(Command::Show {
                dir: "d".into(),
                ca: Some("/c".into()),
                explicit: true
            })
        );
        assert_eq!(
            parse_with("show d", &[]),
            Ok(Command::Show {
                dir: "d".into(),
                ca: None,
                explicit: false
            })
        );
    }

    #[test]
    fn host_names_and_addresses() {
        for good in [
            "localhost",
            "a.example",
            "*.farm.lan",
            "10.0.0.1",
            "::1",
            "b-7",
        ] {
            assert!(is_host(good), "{good}");
        }
        for bad in ["", "a..b", "-a", "a_b", "a b", "*", "a.-b"] {
            assert!(!is_host(bad), "{bad}");
        }
    }
}
