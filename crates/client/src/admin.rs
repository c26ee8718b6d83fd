//! The operator's commands: `ccfarm hosts`, `drain`, `up`, `down`, `add`, `remove`.
//!
//! They talk to the scheduler's HTTP endpoint: `hosts` reads `/status` (no token
//! needed), the others call the admin API under `/admin`, which requires the token the
//! scheduler was configured with. Where the endpoint is: `--http HOST:PORT`, else
//! `$CCFARM_SCHEDULER_HTTP`, else the host of `$CCFARM_SCHEDULER` on port 7701. The
//! token: `--token-file FILE`, else `$CCFARM_ADMIN_TOKEN`, else `~/.ccfarm/admin-token`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// Default HTTP port of the scheduler, when only the control port is known.
pub const DEFAULT_HTTP_PORT: u16 = 7701;

/// What went wrong, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// No scheduler endpoint could be found.
    #[error(
        "where is the scheduler? pass --http HOST:PORT or set CCFARM_SCHEDULER_HTTP (or CCFARM_SCHEDULER)"
    )]
    NoEndpoint,
    /// No token for an admin command.
    #[error(
        "the admin API needs a token: set CCFARM_ADMIN_TOKEN, pass --token-file FILE, or write it to ~/.ccfarm/admin-token"
    )]
    NoToken,
    /// Talking to the scheduler failed.
    #[error("scheduler {0}: {1}")]
    Http(String, String),
    /// The scheduler refused.
    #[error("scheduler refused: {0}")]
    Refused(String),
}

/// Where to find the scheduler and with which token.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target {
    /// `host:port` of the HTTP endpoint.
    pub http: Option<String>,
    /// The admin token.
    pub token: Option<String>,
    /// A credential directory (`CCFARM_CREDENTIALS`): the endpoint is then HTTPS,
    /// checked against the farm's authority (and the scheduler's host names), and the
    /// certificate is offered.
    pub credentials: Option<PathBuf>,
}

impl Target {
    /// From flags (removed from `args`) and the environment.
    pub fn from_args(
        args: &mut Vec<String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Target, AdminError> {
        let mut http = None;
        let mut token_file = None;
        let mut i = 0;
        while i < args.len() {
            let flag = args[i].clone();
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (flag.clone(), None),
            };
            if name != "--http" && name != "--token-file" {
                i += 1;
                continue;
            }
            args.remove(i);
            let value = match inline {
                Some(v) => v,
                None if i < args.len() => args.remove(i),
                None => return Err(AdminError::Usage(format!("{name} needs a value"))),
            };
            if name == "--http" {
                http = Some(value);
            } else {
                token_file = Some(PathBuf::from(value));
            }
        }
        let http = http
            .or_else(|| env("CCFARM_SCHEDULER_HTTP").filter(|v| !v.is_empty()))
            .or_else(|| {
                let control = env("CCFARM_SCHEDULER").filter(|v| !v.is_empty())?;
                let host = control
                    .rsplit_once(':')
                    .map_or(control.as_str(), |(h, _)| h);
                Some(format!("{host}:{DEFAULT_HTTP_PORT}"))
            })
            .map(|h| {
                h.trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .trim_end_matches('/')
                    .to_owned()
            });
        let read = |path: PathBuf| {
            std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.lines().next().map(|l| l.trim().to_owned()))
                .filter(|t| !t.is_empty())
        };
        let token = match token_file {
            Some(path) => Some(
                read(path.clone())
                    .ok_or_else(|| AdminError::Usage(format!("no token in {}", path.display())))?,
            ),
            None => env("CCFARM_ADMIN_TOKEN")
                .filter(|v| !v.is_empty())
                .or_else(|| {
                    env("HOME").and_then(|h| read(PathBuf::from(h).join(".ccfarm/admin-token")))
                }),
        };
        let credentials = env("CCFARM_CREDENTIALS")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        Ok(Target {
            http,
            token,
            credentials,
        })
    }

    fn base(&self) -> Result<String, AdminError> {
        let scheme = if self.credentials.is_some() {
            "https"
        } else {
            "http"
        };
        self.http
            .as_ref()
            .map(|h| format!("{scheme}://{h}"))
            .ok_or(AdminError::NoEndpoint)
    }

    /// An HTTP client for this target: with credentials, TLS trusting only the farm's
    /// authority and offering the user's certificate.
    fn agent(&self) -> Result<ureq::Agent, AdminError> {
        use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            // 4xx answers carry the scheduler's explanation: read them, don't turn them
            // into errors.
            .http_status_as_error(false);
        if let Some(dir) = &self.credentials {
            let bad = |what: &str, e: &dyn std::fmt::Display| {
                AdminError::Usage(format!("CCFARM_CREDENTIALS {}: {what}: {e}", dir.display()))
            };
            let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| bad(name, &e));
            let ca = Certificate::from_pem(&read("ca.pem")?).map_err(|e| bad("ca.pem", &e))?;
            let cert =
                Certificate::from_pem(&read("cert.pem")?).map_err(|e| bad("cert.pem", &e))?;
            let key = PrivateKey::from_pem(&read("key.pem")?).map_err(|e| bad("key.pem", &e))?;
            config = config.tls_config(
                TlsConfig::builder()
                    .unversioned_rustls_crypto_provider(ccfarm_trust::verify::provider())
                    .root_certs(RootCerts::new_with_certs(&[ca]))
                    .client_cert(Some(ClientCert::new_with_certs(&[cert], key)))
                    .build(),
            );
        }
        Ok(config.build().into())
    }
}

/// Reads the scheduler's `/status` document.
pub fn status(target: &Target) -> Result<Value, AdminError> {
    let base = target.base()?;
    let http = |e: ureq::Error| AdminError::Http(base.clone(), e.to_string());
    let mut response = target
        .agent()?
        .get(format!("{base}/status"))
        .call()
        .map_err(http)?;
    if !response.status().is_success() {
        return Err(AdminError::Http(
            base.clone(),
            format!("/status answered {}", response.status()),
        ));
    }
    let text = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .map_err(http)?;
    serde_json::from_str(&text).map_err(|e| AdminError::Http(base.clone(), format!("/status: {e}")))
}

/// Runs one admin operation; returns the scheduler's confirmation.
fn admin(
    target: &Target,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<String, AdminError> {
    let base = target.base()?;
    let token = target.token.as_ref().ok_or(AdminError::NoToken)?;
    let http = |e: ureq::Error| AdminError::Http(base.clone(), e.to_string());
    let url = format!("{base}{path}");
    let auth = format!("Bearer {token}");
    let agent = target.agent()?;
    let response = match (method, body) {
        ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call(),
        (_, Some(body)) => agent
            .post(&url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(body.to_string()),
        (_, None) => agent.post(&url).header("Authorization", &auth).send_empty(),
    };
    let mut response = response.map_err(http)?;
    let ok = response.status().is_success();
    let answer: Value = response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    if ok {
        Ok(answer["ok"].as_str().unwrap_or("done").to_owned())
    } else {
        Err(AdminError::Refused(answer["error"].as_str().map_or_else(
            || response.status().to_string(),
            str::to_owned,
        )))
    }
}

/// Percent-encodes a host name for a URL path segment.
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `HOST[:PORT]/N[,lzo]` as `ccfarm add` takes it (distcc's host syntax).
pub fn parse_add(spec: &str) -> Result<Value, AdminError> {
    let usage = || {
        AdminError::Usage(format!(
            "expected HOST[:PORT]/SLOTS[,lzo], e.g. build7:3632/8,lzo; got {spec:?}"
        ))
    };
    let (address, rest) = spec.split_once('/').ok_or_else(usage)?;
    let mut options = rest.split(',');
    let slots: u32 = options
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .ok_or_else(usage)?;
    let mut lzo = false;
    for option in options {
        match option {
            "lzo" => lzo = true,
            other => {
                return Err(AdminError::Usage(format!(
                    "unknown host option {other:?} (only lzo)"
                )));
            }
        }
    }
    if address.is_empty() {
        return Err(usage());
    }
    Ok(serde_json::json!({ "address": address, "slots": slots, "lzo": lzo }))
}

/// Runs `ccfarm COMMAND ARGS...`; returns what to print.
pub fn run(command: &str, args: &[String], target: &Target) -> Result<String, AdminError> {
    let one = || match args {
        [host] => Ok(host.as_str()),
        _ => Err(AdminError::Usage(format!("usage: ccfarm {command} HOST"))),
    };
    match command {
        "hosts" => {
            if !args.is_empty() {
                return Err(AdminError::Usage("usage: ccfarm hosts".into()));
            }
            Ok(hosts_table(&status(target)?))
        }
        "drain" | "up" | "down" => {
            let host = one()?;
            admin(
                target,
                "POST",
                &format!("/admin/hosts/{}/{command}", segment(host)),
                None,
            )
        }
        "remove" => {
            let host = one()?;
            admin(
                target,
                "DELETE",
                &format!("/admin/hosts/{}", segment(host)),
                None,
            )
        }
        "add" => {
            let body = parse_add(one()?)?;
            admin(target, "POST", "/admin/hosts", Some(body))
        }
        other => Err(AdminError::Usage(format!("unknown command {other}"))),
    }
}

/// A host's compilers as `VERSION TARGET`, comma-separated; `-` when it has none known
/// (an unidentified host, or a scheduler from before compilers were shown).
fn compilers(list: &Value) -> String {
    let known: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some(format!(
                "{} {}",
                c["version"].as_str()?,
                c["target"].as_str()?
            ))
        })
        .collect();
    if known.is_empty() {
        "-".into()
    } else {
        known.join(",")
    }
}

/// The table `ccfarm hosts` prints.
pub fn hosts_table(status: &Value) -> String {
    let mut rows = vec![[
        "HOST".to_owned(),
        "KIND".into(),
        "HEALTH".into(),
        "SLOTS".into(),
        "RUNNING".into(),
        "SPEED".into(),
        "JOBS".into(),
        "LOAD".into(),
        "COMPILERS".into(),
    ]];
    for h in status["hosts"].as_array().into_iter().flatten() {
        let text = |v: &Value| match v {
            Value::String(s) => s.to_lowercase(),
            Value::Null => "-".into(),
            other => other.to_string(),
        };
        rows.push([
            text(&h["name"]),
            text(&h["kind"]),
            text(&h["health"]),
            text(&h["slots"]),
            text(&h["leases"]),
            h["speed"]
                .as_f64()
                .map_or_else(|| "-".into(), |s| format!("{s:.2}")),
            text(&h["samples"]),
            h["load_avg"]
                .as_f64()
                .map_or_else(|| "-".into(), |l| format!("{l:.2}")),
            compilers(&h["compilers"]),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                if c == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "{} running, {} waiting, {} free slots (policy {})\n",
        status["leases"],
        status["queued"],
        status["free_slots"],
        status["policy"].as_str().unwrap_or("?")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_endpoint_comes_from_flags_then_environment() {
        let mut args = vec!["--http".into(), "s:9000".into(), "h1".into()];
        let t = Target::from_args(&mut args, env(&[("CCFARM_SCHEDULER_HTTP", "x:1")])).unwrap();
        assert_eq!(t.http.as_deref(), Some("s:9000"));
        assert_eq!(args, vec!["h1".to_owned()]);
        let t = Target::from_args(&mut vec![], env(&[("CCFARM_SCHEDULER_HTTP", "x:1")])).unwrap();
        assert_eq!(t.http.as_deref(), Some("x:1"));
        let t = Target::from_args(
            &mut vec![],
            env(&[
                ("CCFARM_SCHEDULER", "sched:7700"),
                ("CCFARM_ADMIN_TOKEN", "t0k"),
            ]),
        )
        .unwrap();
        assert_eq!(t.http.as_deref(), Some("sched:7701"));
        assert_eq!(t.token.as_deref(), Some("t0k"));
        let t = Target::from_args(&mut vec![], env(&[])).unwrap();
        assert!(matches!(t.base(), Err(AdminError::NoEndpoint)));
        assert!(Target::from_args(&mut vec!["--http".into()], env(&[])).is_err());
    }

    #[test]
    fn add_takes_distcc_host_syntax() {
        assert_eq!(
            parse_add("build7:3632/8,lzo").unwrap(),
            serde_json::json!({"address": "build7:3632", "slots": 8, "lzo": true})
        );
        assert_eq!(parse_add("10.0.0.5/2").unwrap()["lzo"], false);
        for bad in ["build7", "build7/0", "/4", "b/4,cpp", "b/x"] {
            assert!(parse_add(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_names_are_escaped_in_paths() {
        assert_eq!(segment("10.0.0.5:3632"), "10.0.0.5:3632");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn the_table_lines_up() {
        let status = serde_json::json!({
            "policy": "earliest-finish", "leases": 3, "queued": 0, "free_slots": 5,
            "hosts": [
                {"name": "fast1", "kind": "Registered", "health": "Up", "slots": 8,
                 "leases": 3, "speed": 1.234, "samples": 40, "load_avg": 2.5,
                 "compilers": [{"version": "12.2.0", "target": "x86_64-linux-gnu"}]},
                {"name": "10.0.0.9:3632", "kind": "Static", "health": "Down", "slots": 2,
                 "leases": 0, "speed": 0.5, "samples": 0, "load_avg": null},
            ]
        });
        let table = hosts_table(&status);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[1].starts_with("fast1 "), "{table}");
        assert!(
            lines[1].contains("registered") && lines[1].contains("1.23"),
            "{table}"
        );
        assert!(lines[1].ends_with("12.2.0 x86_64-linux-gnu"), "{table}");
        assert!(
            lines[2].contains("down") && lines[2].ends_with('-'),
            "{table}"
        );
        // Right-aligned columns: every row of the table is as wide as the header.
        assert!(
            lines[1..3].iter().all(|l| l.len() == lines[0].len()),
            "{table}"
        );
        assert!(lines[3].starts_with("3 running"), "{table}");
    }
}
