//! What a compile and the agent say before the agent starts relaying: one request line,
//! one answer line. Text, so that a stray client gets a readable refusal; capped, so
//! that it cannot make the agent hold much.

use std::fmt;

use ccfarm_trust::record::TrafficKeys;

/// Changes whenever the request or answer changes; part of the agent's socket name,
/// so a `ccfarm` never talks to an agent of another version.
pub const VERSION: u32 = 2;

/// Longest request or answer line, newline included.
pub const MAX_LINE: usize = 4096;

/// Which farm member the connection must reach, proven by its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Peer {
    /// Whichever scheduler of the farm answers at the address.
    Scheduler,
    /// Exactly the compile server of this name (the one a grant names).
    Server(String),
}

/// "Connect me to `peer` at `addr`."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The member expected.
    pub peer: Peer,
    /// `host:port`, every address of `host` tried in turn.
    pub addr: String,
    /// Bound on the TCP connect and the TLS handshake, in milliseconds.
    pub connect_ms: u64,
    /// Longest silence in either direction once relaying, in milliseconds.
    pub idle_ms: u64,
}

/// Where a connection the agent was asked for failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// No TCP connection to any address.
    Connect,
    /// The TLS handshake failed or the peer is not the member expected.
    Handshake,
    /// The agent's credentials cannot be used.
    Credentials,
}

/// The agent's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Connected; everything from here on is relayed. `user` is the identity the
    /// agent proved, which the scheduler expects in the hello.
    Ready { user: String },
    /// Connected, and the connection itself comes with this line (its descriptor in
    /// the same message): the compile continues the TLS session with these keys, its
    /// sending (`tx`) and receiving (`rx`) ones.
    Handoff {
        user: String,
        tx: TrafficKeys,
        rx: TrafficKeys,
    },
    /// Not connected, and why.
    Failed { stage: Stage, why: String },
}

/// A line that is not a request or an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agent protocol: {0}")]
pub struct WireError(String);

fn bad(what: impl Into<String>) -> WireError {
    WireError(what.into())
}

/// A word that can stand in a line: no spaces, no line ends, not empty.
fn word(text: &str) -> Result<&str, WireError> {
    if text.is_empty() || text.contains(|c: char| c.is_whitespace()) {
        return Err(bad(format!("{text:?} is not a single word")));
    }
    Ok(text)
}

impl Request {
    /// The request's line, newline included.
    pub fn encode(&self) -> Result<String, WireError> {
        let peer = match &self.peer {
            Peer::Scheduler => "scheduler".to_owned(),
            Peer::Server(name) => format!("server:{}", word(name)?),
        };
        let line = format!(
            "dial {VERSION} {} {} {peer} {}\n",
            self.connect_ms,
            self.idle_ms,
            word(&self.addr)?
        );
        if line.len() > MAX_LINE {
            return Err(bad("request too long"));
        }
        Ok(line)
    }

    /// Parse a request line (without its newline).
    pub fn decode(line: &str) -> Result<Request, WireError> {
        let fields: Vec<&str> = line.split(' ').collect();
        let ["dial", version, connect_ms, idle_ms, peer, addr] = fields[..] else {
            return Err(bad(format!("not a request: {line:?}")));
        };
        if version != VERSION.to_string() {
            return Err(bad(format!(
                "version {version}, this agent speaks {VERSION}"
            )));
        }
        let number = |text: &str| {
            text.parse::<u64>()
                .map_err(|_| bad(format!("{text:?} is not a number of milliseconds")))
        };
        let peer = match peer.split_once(':') {
            None if peer == "scheduler" => Peer::Scheduler,
            Some(("server", name)) => Peer::Server(word(name)?.to_owned()),
            _ => return Err(bad(format!("unknown peer {peer:?}"))),
        };
        Ok(Request {
            peer,
            addr: word(addr)?.to_owned(),
            connect_ms: number(connect_ms)?,
            idle_ms: number(idle_ms)?,
        })
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connect",
            Stage::Handshake => "handshake",
            Stage::Credentials => "credentials",
        })
    }
}

impl Answer {
    /// The answer's line, newline included; a reason too long is cut short.
    pub fn encode(&self) -> String {
        let mut line = match self {
            Answer::Ready { user } => format!("ready {user}"),
            Answer::Handoff { user, tx, rx } => {
                format!("handoff {user} {} {}", tx.encode(), rx.encode())
            }
            Answer::Failed { stage, why } => {
                format!("failed {stage} {}", why.replace(['\n', '\r'], " "))
            }
        };
        if line.len() >= MAX_LINE {
            let mut cut = MAX_LINE - 1;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        line.push('\n');
        line
    }

    /// Parse an answer line (without its newline).
    pub fn decode(line: &str) -> Result<Answer, WireError> {
        match line.split_once(' ') {
            Some(("ready", user)) => Ok(Answer::Ready {
                user: word(user)?.to_owned(),
            }),
            Some(("handoff", rest)) => {
                let [user, tx, rx] = rest.split(' ').collect::<Vec<_>>()[..] else {
                    return Err(bad("a handoff is a user and two sets of keys"));
                };
                let keys = |word: &str| TrafficKeys::decode(word).map_err(|e| bad(e.to_string()));
                Ok(Answer::Handoff {
                    user: word(user)?.to_owned(),
                    tx: keys(tx)?,
                    rx: keys(rx)?,
                })
            }
            Some(("failed", rest)) => {
                let (stage, why) = rest.split_once(' ').unwrap_or((rest, ""));
                let stage = match stage {
                    "connect" => Stage::Connect,
                    "handshake" => Stage::Handshake,
                    "credentials" => Stage::Credentials,
                    other => return Err(bad(format!("unknown stage {other:?}"))),
                };
                Ok(Answer::Failed {
                    stage,
                    why: why.to_owned(),
                })
            }
            _ => Err(bad(format!("not an answer: {line:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_handoff_reads_back_with_both_sets_of_keys() {
        let keys = |seq: u64, byte: &str| {
            TrafficKeys::decode(&format!(
                "aes128gcm:{seq}:{}:{}",
                byte.repeat(16),
                "01".repeat(12)
            ))
            .unwrap()
        };
        let handoff = Answer::Handoff {
            user: "alice".into(),
            tx: keys(0, "0a"),
            rx: keys(1, "0b"),
        };
        let line = handoff.encode();
        assert!(line.len() < MAX_LINE && line.ends_with('\n'));
        assert_eq!(Answer::decode(line.trim_end()).unwrap(), handoff);
    }

    #[test]
    fn a_request_reads_back_as_written() {
        for peer in [Peer::Scheduler, Peer::Server("build7".into())] {
            let request = Request {
                peer,
                addr: "[::1]:3632".into(),
                connect_ms: 4000,
                idle_ms: 300_000,
            };
            let line = request.encode().unwrap();
            assert!(line.ends_with('\n'));
            assert_eq!(Request::decode(line.trim_end()).unwrap(), request);
        }
    }

    #[test]
    fn requests_that_could_be_misread_are_refused() {
        let spaced = Request {
            peer: Peer::Server("a b".into()),
            addr: "h:1".into(),
            connect_ms: 1,
            idle_ms: 1,
        };
        assert!(spaced.encode().is_err());
        for line in [
            "",
            "dial",
            "dial 1 1 1 scheduler h:1",
            "dial 2 x 1 scheduler h:1",
            "dial 2 1 1 admin h:1",
            "dial 2 1 1 server: h:1",
            "dial 2 1 1 scheduler h:1 extra",
            "GET / HTTP/1.1",
        ] {
            assert!(Request::decode(line).is_err(), "{line:?} accepted");
        }
    }

    #[test]
    fn an_answer_reads_back_and_a_long_reason_is_cut_to_one_line() {
        let ready = Answer::Ready {
            user: "alice".into(),
        };
        assert_eq!(Answer::decode(ready.encode().trim_end()).unwrap(), ready);
        let failed = Answer::Failed {
            stage: Stage::Handshake,
            why: "reached server build8,\nexpected server build7".into(),
        };
        let line = failed.encode();
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(
            Answer::decode(line.trim_end()).unwrap(),
            Answer::Failed {
                stage: Stage::Handshake,
                why: "reached server build8, expected server build7".into()
            }
        );
        let long = Answer::Failed {
            stage: Stage::Connect,
            why: "é".repeat(MAX_LINE),
        }
        .encode();
        assert!(long.len() <= MAX_LINE && long.ends_with('\n'));
        assert!(matches!(
            Answer::decode(long.trim_end()),
            Ok(Answer::Failed {
                stage: Stage::Connect,
                ..
            })
        ));
        assert!(Answer::decode("ready").is_err());
        assert!(Answer::decode("handoff alice").is_err());
        assert!(Answer::decode("handoff alice x y").is_err());
        assert!(Answer::decode("failed nowhere why").is_err());
    }

    proptest! {
        #[test]
        fn no_line_makes_the_decoders_panic(line in ".{0,200}") {
            let _ = Request::decode(&line);
            let _ = Answer::decode(&line);
        }
    }
}
