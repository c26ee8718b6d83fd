//! distcc's host list (`$DISTCC_HOSTS`, `~/.distcc/hosts`): the whole grammar distcc 3.4
//! accepts, parsed into values.
//!
//! Pure on purpose: the caller reads the environment or the file and applies `--randomize`
//! itself, so parsing is deterministic and testable. Where distcc silently ignores trailing
//! text or accepts port 0, we report a [`HostsError`] instead; the caller maps it to
//! distcc's exit code 106 (bad host spec).
//!
//! ```text
//! localhost[/N]                            run in place; 2 slots
//! HOST[:PORT][/N][,OPT]...                 TCP, port 3632; 4 slots
//! HOST[/N][:PORT][,OPT]...                 the same, in the old order
//! [USER]@HOST[/N][:COMMAND][,OPT]...       SSH; 4 slots
//! HOST = name | [IPv6]   /N = =N   OPT = lzo | cpp | auth[=NAME] | down
//! --randomize  --localslots=N  --localslots_cpp=N  +zeroconf     global tokens
//! ```

use std::fmt;

use ccfarm_proto::distcc::Version;

mod parse;

use parse::is_name_char;
pub use parse::{HostsError, HostsErrorKind, parse_host, parse_hosts};

/// distcc's registered TCP port, used when a TCP entry names none.
pub const DEFAULT_PORT: u16 = 3632;
/// Slots for a bare `localhost`: distcc keeps local work modest by default.
pub const DEFAULT_LOCAL_SLOTS: u32 = 2;
/// Slots for a remote host without `/N`: a little more than local, to cover jobs in transit.
pub const DEFAULT_REMOTE_SLOTS: u32 = 4;

/// Everything a host list says, in list order, before any `--randomize` shuffle.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostList {
    /// Hosts in the order written; list position is the only priority distcc has.
    pub hosts: Vec<HostEntry>,
    /// `--randomize`: the caller shuffles `hosts` once per process.
    pub randomize: bool,
    /// `--localslots=N`: limit for jobs that must run locally; `None` means distcc's default.
    pub local_slots: Option<u32>,
    /// `--localslots_cpp=N`: limit for concurrent local preprocessing; `None` means default.
    pub local_slots_cpp: Option<u32>,
    /// `+zeroconf` was present. Recorded so the caller can warn: ccfarm does not browse mDNS.
    pub zeroconf: bool,
}

/// One host entry, with defaults filled in, so callers never re-derive distcc's defaults.
#[derive(Debug, Clone)]
pub struct HostEntry {
    /// Where jobs sent to this entry run.
    pub transport: HostTransport,
    /// How many jobs may run there at once (`/N`); always at least 1.
    pub slots: u32,
    /// `,lzo`: the server takes LZO-compressed bodies (protocol 2).
    pub lzo: bool,
    /// `,cpp`: the server preprocesses (pump mode, protocol 3); implies `lzo`.
    pub cpp: bool,
    /// `,down`: listed (and counted by `-j`) but never chosen, as `lsdistcc -x` emits it.
    pub down: bool,
    /// `,auth` or `,auth=NAME` (GSS-API); `Some("")` for bare `auth`, meaning the default
    /// principal.
    pub auth: Option<String>,
    /// The entry as the host list spells it, which the log names it by, as distcc's
    /// does; `None` for an entry built in code.
    pub given: Option<String>,
}

/// Two entries are the same whatever their spelling (`a` and `a:3632/4`).
impl PartialEq for HostEntry {
    fn eq(&self, other: &HostEntry) -> bool {
        (
            &self.transport,
            self.slots,
            self.lzo,
            self.cpp,
            self.down,
            &self.auth,
        ) == (
            &other.transport,
            other.slots,
            other.lzo,
            other.cpp,
            other.down,
            &other.auth,
        )
    }
}

impl Eq for HostEntry {}

/// How a host-list entry reaches its compiler: the three ways distcc knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostTransport {
    /// `localhost`: compile in place under a local lock, no daemon involved.
    Localhost,
    /// A `distccd` listening on TCP. IPv6 addresses are stored canonical and unbracketed,
    /// possibly with a `%zone` suffix.
    Tcp {
        /// Hostname, IPv4 or IPv6 address, resolved later by the caller.
        host: String,
        /// Never 0.
        port: u16,
    },
    /// A `distccd --inetd` started over ssh. Parsed for compatibility; ccfarm skips these.
    Ssh {
        /// `user@`; `None` for a bare `@host`, which lets ssh pick the user.
        user: Option<String>,
        /// The ssh destination.
        host: String,
        /// `:command` replacing `distccd` on the remote side.
        command: Option<String>,
    },
}

impl HostList {
    /// What `distcc -j` prints: every listed host's slots, including `localhost` and `,down`
    /// hosts (distcc counts the list, not what is usable), excluding `--localslots`, and
    /// excluding ssh entries, which ccfarm never sends work to: `make -j$(distcc -j)`
    /// then runs no more jobs than there are slots to take them.
    pub fn total_slots(&self) -> u32 {
        self.hosts
            .iter()
            .filter(|h| !matches!(h.transport, HostTransport::Ssh { .. }))
            .fold(0, |sum, h| sum.saturating_add(h.slots))
    }

    /// What the user should be told about this list: the parts of distcc's grammar
    /// ccfarm reads but does not act on. Empty for a list it uses whole.
    pub fn notices(&self) -> Vec<String> {
        let mut notices = Vec::new();
        if self.zeroconf {
            notices.push(
                "+zeroconf in the host list is ignored: ccfarm does not browse mDNS; \
                 a scheduler (CCFARM_SCHEDULER) finds the farm's servers instead"
                    .to_owned(),
            );
        }
        let ssh: Vec<String> = self
            .hosts
            .iter()
            .filter(|h| matches!(h.transport, HostTransport::Ssh { .. }))
            .map(HostEntry::display)
            .collect();
        if !ssh.is_empty() {
            notices.push(format!(
                "ssh hosts in the host list are skipped ({}): ccfarm does not start \
                 servers over ssh; run ccfarmd or distccd there and list it as HOST:PORT",
                ssh.join(" ")
            ));
        }
        notices
    }

    /// Whether any entry can take a job (`localhost`, or a TCP server not `,down`).
    pub fn usable(&self) -> bool {
        self.hosts.iter().any(|h| match h.transport {
            HostTransport::Localhost => true,
            HostTransport::Tcp { .. } => !h.down,
            HostTransport::Ssh { .. } => false,
        })
    }
}

impl HostEntry {
    /// An entry with distcc's defaults (2 slots for localhost, 4 otherwise, no options), so
    /// callers building hosts in code agree with the parser.
    pub fn new(transport: HostTransport) -> HostEntry {
        let slots = match transport {
            HostTransport::Localhost => DEFAULT_LOCAL_SLOTS,
            _ => DEFAULT_REMOTE_SLOTS,
        };
        HostEntry {
            transport,
            slots,
            lzo: false,
            cpp: false,
            down: false,
            auth: None,
            given: None,
        }
    }

    fn with_slots(self, slots: u32) -> HostEntry {
        HostEntry { slots, ..self }
    }

    /// The protocol this entry's options select, which is what goes in the `DIST` token.
    pub fn protocol(&self) -> Version {
        match (self.lzo, self.cpp) {
            (false, _) => Version::V1,
            (true, false) => Version::V2,
            (true, true) => Version::V3,
        }
    }

    /// A stable, filesystem-safe key naming this host for lock and backoff files, like
    /// distcc's `tcp_10.0.0.2_3632` / `localhost` / `ssh_user@host`.
    ///
    /// It is injective over parsed hosts, so two entries share slots only if they name the
    /// same host (and port). Only `[A-Za-z0-9._+=@-]` appears: an IPv6 `:` becomes `+`, and
    /// any other character outside the hostname alphabet becomes `=XX` (hex bytes).
    pub fn key(&self) -> String {
        match &self.transport {
            HostTransport::Localhost => "localhost".to_owned(),
            HostTransport::Tcp { host, port } => format!("tcp_{}_{port}", key_part(host)),
            HostTransport::Ssh {
                user: None, host, ..
            } => format!("ssh_{}", key_part(host)),
            HostTransport::Ssh {
                user: Some(user),
                host,
                ..
            } => {
                format!("ssh_{}@{}", key_part(user), key_part(host))
            }
        }
    }

    /// How the log names it: as the host list spells it, else [`HostEntry::display`].
    pub fn log_name(&self) -> String {
        self.given.clone().unwrap_or_else(|| self.display())
    }

    /// How `--show-hosts` prints it: canonical, with port and slots always spelled out (e.g.
    /// `127.0.0.1:3632/4,lzo`, `localhost/2`, `[::1]:4000/8`), and parseable back to an
    /// equal spec. Options on `localhost` cannot be written, so they are not shown.
    pub fn display(&self) -> String {
        self.to_string()
    }
}

fn key_part(part: &str) -> String {
    let escape = |c: char| c.to_string().bytes().map(|b| format!("={b:02X}")).collect();
    let map = |c: char| match c {
        ':' => "+".to_owned(),
        c if is_name_char(c) => c.to_string(),
        c => escape(c),
    };
    part.chars().map(map).collect()
}

/// The same text as [`HostEntry::display`].
impl fmt::Display for HostEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots = self.slots;
        match &self.transport {
            HostTransport::Localhost => return write!(f, "localhost/{slots}"),
            HostTransport::Tcp { host, port } if host.contains(':') => {
                write!(f, "[{host}]:{port}/{slots}")?;
            }
            HostTransport::Tcp { host, port } => write!(f, "{host}:{port}/{slots}")?,
            HostTransport::Ssh {
                user,
                host,
                command,
            } => {
                write!(f, "{}@{host}/{slots}", user.as_deref().unwrap_or(""))?;
                if let Some(command) = command {
                    write!(f, ":{command}")?;
                }
            }
        }
        if self.lzo {
            f.write_str(",lzo")?;
        }
        if self.cpp {
            f.write_str(",cpp")?;
        }
        match self.auth.as_deref() {
            Some("") => f.write_str(",auth")?,
            Some(name) => write!(f, ",auth={name}")?,
            None => {}
        }
        if self.down {
            f.write_str(",down")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
