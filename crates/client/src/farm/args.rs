//! The command line of `ccfarm farm`.

use std::net::SocketAddr;

pub(super) const USAGE: &str =
    "usage: ccfarm farm [--servers N] [--jobs J] [--listen ADDR:PORT] [--http ADDR:PORT]
                   [--distcc-proxy ADDR:PORT] [--cache URL] [--secure]
                   [-- COMMAND ARGS...]

Runs a scheduler (ccfarm-scheduler) and N compile servers (ccfarmd) on loopback, as
child processes, until Ctrl-C or SIGTERM. With a COMMAND, runs it with
CCFARM_SCHEDULER pointing at the farm (and CCFARM_HOSTS empty, so every compile goes
through the scheduler), prints the farm's status when it ends, and exits with its
status. ccfarmd and ccfarm-scheduler are found beside ccfarm, else on PATH.

  --servers N            compile servers [default: 2]
  --jobs J               compile slots per server [default: CPUs / servers, at least 1]
  --listen ADDR:PORT     the scheduler's port [default: 127.0.0.1:7700; with a COMMAND,
                         any free port]
  --http ADDR:PORT       dashboard, /status and /metrics [default: 127.0.0.1:7701; with a
                         COMMAND, any free port]
  --distcc-proxy ADDR:PORT  a port for stock distcc clients [default: none]
  --cache URL            a shared result cache (redis://HOST:PORT, webdav+http://...):
                         the servers store what they compile there, and the scheduler
                         answers its clients and its distcc proxy from it
  --secure               credentials made on the fly for the scheduler, the servers and
                         the user; every channel TLS and authenticated, every job with
                         the scheduler's grant; the COMMAND gets CCFARM_CREDENTIALS

Environment: CCFARM_LOG (a tracing filter) for the services' logs, which are kept in
the farm's temporary directory under TMPDIR while it runs and shown when one fails.";

/// A mistake on the command line.
#[derive(Debug, PartialEq, thiserror::Error)]
pub(super) enum ArgsError {
    #[error("nothing after `--`: give the command to run")]
    NoCommand,
    #[error("unknown option {0:?} (a command to run goes after `--`)")]
    Unknown(String),
    #[error("{0} needs a value")]
    NoValue(String),
    #[error("{0} {1:?}: expected a number from 1 to 64")]
    Count(String, String),
    #[error("{0} {1:?}: expected ADDR:PORT, e.g. 127.0.0.1:7700")]
    Addr(String, String),
    #[error("--cache {0:?}: expected a store's URL, e.g. redis://127.0.0.1:6379")]
    Cache(String),
}

/// The command line of `ccfarm farm`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Args {
    pub(super) servers: usize,
    pub(super) jobs: Option<usize>,
    pub(super) listen: Option<SocketAddr>,
    pub(super) http: Option<SocketAddr>,
    pub(super) distcc_proxy: Option<SocketAddr>,
    pub(super) cache: Option<String>,
    pub(super) secure: bool,
    pub(super) command: Vec<String>,
}

pub(super) fn parse(args: &[String]) -> Result<Option<Args>, ArgsError> {
    let mut parsed = Args {
        servers: 2,
        jobs: None,
        listen: None,
        http: None,
        distcc_proxy: None,
        cache: None,
        secure: false,
        command: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        if flag == "--secure" {
            parsed.secure = true;
            continue;
        }
        if flag == "--" {
            parsed.command = it.cloned().collect();
            if parsed.command.is_empty() {
                return Err(ArgsError::NoCommand);
            }
            break;
        }
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
            _ => (flag.as_str(), None),
        };
        let known = [
            "--servers",
            "--jobs",
            "--listen",
            "--http",
            "--distcc-proxy",
            "--cache",
        ];
        if !known.contains(&name) {
            return Err(ArgsError::Unknown(flag.clone()));
        }
        let Some(value) = inline.or_else(|| it.next().cloned()) else {
            return Err(ArgsError::NoValue(name.to_owned()));
        };
        let count = |v: &str| match v.parse::<usize>() {
            Ok(n) if (1..=64).contains(&n) => Ok(n),
            _ => Err(ArgsError::Count(name.to_owned(), v.to_owned())),
        };
        let addr = |v: &str| {
            v.parse()
                .map_err(|_| ArgsError::Addr(name.to_owned(), v.to_owned()))
        };
        match name {
            "--servers" => parsed.servers = count(&value)?,
            "--jobs" => parsed.jobs = Some(count(&value)?),
            "--listen" => parsed.listen = Some(addr(&value)?),
            "--http" => parsed.http = Some(addr(&value)?),
            "--cache" => parsed.cache = Some(cache_url(&value)?),
            _ => parsed.distcc_proxy = Some(addr(&value)?),
        }
    }
    Ok(Some(parsed))
}

/// A cache URL as the scheduler's configuration file can quote it.
fn cache_url(value: &str) -> Result<String, ArgsError> {
    let printable = value
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
    if printable && value.contains("://") {
        Ok(value.to_owned())
    } else {
        Err(ArgsError::Cache(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn defaults_and_command() {
        let a = parse(&args(&["--", "make", "-j8", "CC=ccfarm gcc"]))
            .unwrap()
            .unwrap();
        assert_eq!(a.servers, 2);
        assert_eq!(a.jobs, None);
        assert_eq!(a.listen, None);
        assert_eq!(a.command, ["make", "-j8", "CC=ccfarm gcc"]);
    }

    #[test]
    fn flags_with_and_without_equals() {
        let a = parse(&args(&[
            "--servers=3",
            "--jobs",
            "4",
            "--listen",
            "127.0.0.1:0",
            "--distcc-proxy=127.0.0.1:3632",
            "--cache",
            "redis://127.0.0.1:6379",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((a.servers, a.jobs), (3, Some(4)));
        assert_eq!(a.listen, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(a.distcc_proxy, Some("127.0.0.1:3632".parse().unwrap()));
        assert_eq!(a.cache.as_deref(), Some("redis://127.0.0.1:6379"));
        assert!(a.command.is_empty());
    }

    #[test]
    fn mistakes_are_explained() {
        for (words, needle) in [
            (&["--servers", "0"][..], "1 to 64"),
            (&["--jobs"][..], "needs a value"),
            (&["--listen", "7700"][..], "ADDR:PORT"),
            (&["make"][..], "after `--`"),
            (&["--"][..], "nothing after"),
            (&["--cache", "localhost"][..], "a store's URL"),
            (&["--cache", "redis://a\"b"][..], "a store's URL"),
        ] {
            let err = parse(&args(words)).unwrap_err().to_string();
            assert!(err.contains(needle), "{words:?}: {err}");
        }
        assert_eq!(parse(&args(&["--help"])).unwrap(), None);
    }
}
