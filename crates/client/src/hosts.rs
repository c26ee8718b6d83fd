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
use std::net::Ipv6Addr;

use ccfarm_proto::distcc::Version;

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

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

/// A host list entry that could not be parsed; distcc exits 106 on these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host {entry:?}: {kind}")]
pub struct HostsError {
    /// The whole whitespace-delimited entry, as written.
    pub entry: String,
    /// 1-based line of the entry, so a hosts file error can point at the line.
    pub line: u32,
    /// What was wrong with it.
    pub kind: HostsErrorKind,
}

/// What was wrong with an entry; data rather than text, so callers can match or hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostsErrorKind {
    /// A required part is missing: hostname (`/4`, `user@`), port (`host:`), slot count
    /// (`host/`), ssh command (`@host:`) or auth name (`,auth=`).
    #[error("empty {0}")]
    Empty(&'static str),
    /// A character outside the field's alphabet (names: letters, digits, `-`, `.`, `_`).
    #[error("invalid character {1:?} in {0}")]
    InvalidChar(&'static str, char),
    /// A name starting with `-`, which ssh or a resolver could take for an option.
    #[error("{0} must not start with '-'")]
    LeadingDash(&'static str),
    /// A port or slot count that is not a plain decimal number (`host:http`, `host/abc`).
    #[error("invalid {0} {1:?}")]
    NotANumber(&'static str, String),
    /// Port 0 or above 65535, or more than `u32::MAX` slots.
    #[error("{0} out of range")]
    OutOfRange(&'static str),
    /// `host/0`: a host that may run no jobs is written `,down`.
    #[error("slot count must be at least 1")]
    ZeroSlots,
    /// `host:1:2` or `host/2:3632/3`: distcc silently takes the last, we refuse to guess.
    #[error("{0} given twice")]
    Duplicate(&'static str),
    /// `fe80::1`: without brackets the port separator would be ambiguous.
    #[error("IPv6 addresses must be written in brackets, e.g. [::1]:3632")]
    UnbracketedIpv6,
    /// `[` without a matching `]`.
    #[error("unterminated '['")]
    UnterminatedBracket,
    /// Brackets around something that is not an IPv6 address (with optional `%zone`).
    #[error("{0:?} is not an IPv6 address")]
    InvalidIpv6(String),
    /// Anything but `lzo`, `cpp`, `auth[=NAME]`, `down`, including an empty one (`host,`).
    #[error("unknown option {0:?}")]
    UnknownOption(String),
    /// `,cpp` without `,lzo`: protocol 3 has no uncompressed form.
    #[error("pump mode (,cpp) requires compression (,lzo)")]
    CppWithoutLzo,
    /// `localhost/2,lzo`: local jobs never touch the network, so options mean nothing.
    #[error("options are not allowed on localhost")]
    LocalhostOptions,
    /// Text left after a complete entry (`[::1]x`, `localhost/2:3632`), which distcc ignores.
    #[error("unexpected {0:?}")]
    Trailing(String),
    /// A `--` or `+` token that is not one of distcc's global options.
    #[error("unknown global option")]
    UnknownGlobal,
    /// `--localslots` without `=N`.
    #[error("expected {0}=N")]
    MissingValue(&'static str),
}

type Kind = HostsErrorKind;

/// Parse a whole host list: the value of `$DISTCC_HOSTS` or the contents of a hosts file.
///
/// An empty list (or one with only comments) is not an error here: distcc then compiles
/// locally with a warning, and only the caller knows where the text came from.
pub fn parse_hosts(text: &str) -> Result<HostList, HostsError> {
    let mut list = HostList::default();
    let bytes = text.as_bytes();
    let (mut i, mut line) = (0, 1u32);
    // Every delimiter is ASCII, so all slice boundaries below are char boundaries.
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line = line.saturating_add(1);
                i += 1;
            }
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
            }
            c if is_space(c) => i += 1,
            _ => {
                let start = i;
                while i < bytes.len() && !is_space(bytes[i]) && bytes[i] != b'#' {
                    i += 1;
                }
                let entry = &text[start..i];
                apply_token(&mut list, entry).map_err(|kind| HostsError {
                    entry: entry.to_owned(),
                    line,
                    kind,
                })?;
            }
        }
    }
    Ok(list)
}

/// C's `isspace`, which is what distcc splits on (includes `\v` and `\f`).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn apply_token(list: &mut HostList, token: &str) -> Result<(), Kind> {
    const CPP: &str = "--localslots_cpp";
    const LOCAL: &str = "--localslots";
    match token {
        "--randomize" => list.randomize = true,
        "+zeroconf" => list.zeroconf = true,
        _ if token.starts_with(CPP) => list.local_slots_cpp = Some(global_value(token, CPP)?),
        _ if token.starts_with(LOCAL) => list.local_slots = Some(global_value(token, LOCAL)?),
        _ if token.starts_with("--") || token.starts_with('+') => return Err(Kind::UnknownGlobal),
        _ => list.hosts.push(parse_host(token)?),
    }
    Ok(())
}

/// distcc reads these values with its `/N` multiplier parser, so `=N` and `/N` both work.
fn global_value(token: &str, name: &'static str) -> Result<u32, Kind> {
    let rest = &token[name.len()..];
    match rest.strip_prefix(['=', '/']) {
        Some(value) => parse_slots(value),
        None if rest.is_empty() => Err(Kind::MissingValue(name)),
        None => Err(Kind::UnknownGlobal),
    }
}

/// Parse one host entry (no whitespace, no `#`).
pub fn parse_host(token: &str) -> Result<HostEntry, HostsErrorKind> {
    // distcc's rule: exactly `localhost` or `localhost/...`; `localhost:4000` and
    // `localhost,lzo` are TCP hosts. We also take `localhost=N`, since `=N` spells `/N`.
    let local_rest = token
        .strip_prefix("localhost")
        .filter(|rest| rest.is_empty() || rest.starts_with(['/', '=']));
    if let Some(rest) = local_rest {
        let mut spec = HostEntry::new(HostTransport::Localhost);
        if let Some(tail) = rest.get(1..) {
            let (field, after) = split_field(tail, &['/', '=', ':', ',']);
            spec.slots = parse_slots(field)?;
            if after.starts_with(',') {
                return Err(Kind::LocalhostOptions);
            } else if !after.is_empty() {
                return Err(Kind::Trailing(after.to_owned()));
            }
        }
        return Ok(spec);
    }
    let (head, options) = token
        .split_once(',')
        .map_or((token, None), |(h, o)| (h, Some(o)));
    // `@` after the first comma belongs to an option (a Kerberos principal), not a user.
    let mut spec = match head.split_once('@') {
        Some((user, rest)) => parse_ssh(user, rest)?,
        None => parse_tcp(head)?,
    };
    for option in options.into_iter().flat_map(|o| o.split(',')) {
        match option {
            "lzo" => spec.lzo = true,
            "cpp" => spec.cpp = true,
            "down" => spec.down = true,
            "auth" => spec.auth = Some(String::new()),
            _ => match option.strip_prefix("auth=") {
                Some(name) => spec.auth = Some(text_field(name, "auth name")?),
                None => return Err(Kind::UnknownOption(option.to_owned())),
            },
        }
    }
    if spec.cpp && !spec.lzo {
        return Err(Kind::CppWithoutLzo);
    }
    Ok(spec)
}

fn parse_tcp(head: &str) -> Result<HostEntry, Kind> {
    let (host, mut rest) = if let Some(inner) = head.strip_prefix('[') {
        let (addr, after) = inner.split_once(']').ok_or(Kind::UnterminatedBracket)?;
        (parse_ipv6(addr)?, after)
    } else {
        let (host, rest) = split_field(head, &['/', '=', ':']);
        let (maybe_v6, _) = split_field(head, &['/', '=']);
        if rest.starts_with(':') && parse_ipv6(maybe_v6).is_ok() {
            return Err(Kind::UnbracketedIpv6);
        }
        check_name(host, "hostname")?;
        (host.to_owned(), rest)
    };
    let (mut port, mut slots) = (None, None);
    // distcc accepts both `:port/N` and the old `/N:port`; each may appear once.
    while let Some(c) = rest.chars().next() {
        if !matches!(c, '/' | '=' | ':') {
            return Err(Kind::Trailing(rest.to_owned()));
        }
        let (field, after) = split_field(&rest[1..], &['/', '=', ':']);
        if c == ':' {
            if port.replace(parse_port(field)?).is_some() {
                return Err(Kind::Duplicate("port"));
            }
        } else if slots.replace(parse_slots(field)?).is_some() {
            return Err(Kind::Duplicate("slot count"));
        }
        rest = after;
    }
    let port = port.unwrap_or(DEFAULT_PORT);
    Ok(HostEntry::new(HostTransport::Tcp { host, port })
        .with_slots(slots.unwrap_or(DEFAULT_REMOTE_SLOTS)))
}

fn parse_ssh(user: &str, rest: &str) -> Result<HostEntry, Kind> {
    if !user.is_empty() {
        check_name(user, "user name")?;
    }
    let (host, mut rest) = split_field(rest, &['/', '=', ':']);
    check_name(host, "hostname")?;
    let mut slots = DEFAULT_REMOTE_SLOTS;
    if let Some(tail) = rest.strip_prefix(['/', '=']) {
        let (field, after) = split_field(tail, &[':']);
        slots = parse_slots(field)?;
        rest = after;
    }
    // `rest` is now empty or `:command`.
    let command = rest.strip_prefix(':').map(|c| text_field(c, "ssh command"));
    let (user, host) = (
        Some(user.to_owned()).filter(|u| !u.is_empty()),
        host.to_owned(),
    );
    let kind = HostTransport::Ssh {
        user,
        host,
        command: command.transpose()?,
    };
    Ok(HostEntry::new(kind).with_slots(slots))
}

/// Split at the first of `delims`: the field before it, and the rest starting with it.
fn split_field<'a>(s: &'a str, delims: &[char]) -> (&'a str, &'a str) {
    s.split_at(s.find(delims).unwrap_or(s.len()))
}

/// Hostnames and user names: letters, digits, `-`, `.`, `_`, not starting with `-`.
fn check_name(name: &str, field: &'static str) -> Result<(), Kind> {
    if name.is_empty() {
        return Err(Kind::Empty(field));
    }
    check_chars(name, field, is_name_char)?;
    if name.starts_with('-') {
        return Err(Kind::LeadingDash(field));
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')
}

/// Free text (ssh command, auth name): anything printable that does not end the entry.
fn text_field(text: &str, field: &'static str) -> Result<String, Kind> {
    if text.is_empty() {
        return Err(Kind::Empty(field));
    }
    check_chars(text, field, |c| c.is_ascii_graphic())?;
    Ok(text.to_owned())
}

fn check_chars(s: &str, field: &'static str, ok: impl Fn(char) -> bool) -> Result<(), Kind> {
    match s.chars().find(|&c| !ok(c)) {
        Some(ch) => Err(Kind::InvalidChar(field, ch)),
        None => Ok(()),
    }
}

/// Canonicalise so that `[0::1]` and `[::1]` share lock files; keep a `%zone` suffix.
fn parse_ipv6(text: &str) -> Result<String, Kind> {
    let (addr, zone) = text
        .split_once('%')
        .map_or((text, None), |(a, z)| (a, Some(z)));
    let addr: Ipv6Addr = addr
        .parse()
        .map_err(|_| Kind::InvalidIpv6(text.to_owned()))?;
    match zone {
        None => Ok(addr.to_string()),
        Some(zone) if check_name(zone, "zone").is_ok() => Ok(format!("{addr}%{zone}")),
        Some(_) => Err(Kind::InvalidIpv6(text.to_owned())),
    }
}

/// A plain decimal number: distcc's `atoi`/`strtol` would also take `+4` or `4abc`.
fn number(field: &str, what: &'static str) -> Result<u32, Kind> {
    if field.is_empty() {
        return Err(Kind::Empty(what));
    }
    if !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Kind::NotANumber(what, field.to_owned()));
    }
    field.parse().map_err(|_| Kind::OutOfRange(what))
}

fn parse_port(field: &str) -> Result<u16, Kind> {
    match u16::try_from(number(field, "port")?) {
        Ok(0) | Err(_) => Err(Kind::OutOfRange("port")),
        Ok(port) => Ok(port),
    }
}

fn parse_slots(field: &str) -> Result<u32, Kind> {
    match number(field, "slot count")? {
        0 => Err(Kind::ZeroSlots),
        n => Ok(n),
    }
}

impl HostList {
    /// What `distcc -j` prints: every listed host's slots, including `localhost` and `,down`
    /// hosts (distcc counts the list, not what is usable), excluding `--localslots`.
    pub fn total_slots(&self) -> u32 {
        self.hosts
            .iter()
            .fold(0, |sum, h| sum.saturating_add(h.slots))
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
mod tests {
    use super::*;
    use proptest::{collection::vec, option::of, prelude::*};
    use std::collections::HashSet;

    fn with(mut spec: HostEntry, edit: impl FnOnce(&mut HostEntry)) -> HostEntry {
        edit(&mut spec);
        spec
    }
    fn local(slots: u32) -> HostEntry {
        HostEntry::new(HostTransport::Localhost).with_slots(slots)
    }
    fn tcp(host: &str, port: u16, slots: u32) -> HostEntry {
        HostEntry::new(HostTransport::Tcp {
            host: host.into(),
            port,
        })
        .with_slots(slots)
    }
    /// What the proptests feed back to the parser: every host's `display()` and the globals.
    fn render(list: &HostList) -> String {
        let mut words: Vec<String> = list.hosts.iter().map(HostEntry::display).collect();
        words.extend(list.randomize.then(|| "--randomize".into()));
        words.extend(list.local_slots.map(|n| format!("--localslots={n}")));
        words.extend(
            list.local_slots_cpp
                .map(|n| format!("--localslots_cpp={n}")),
        );
        words.extend(list.zeroconf.then(|| "+zeroconf".into()));
        words.join("\n")
    }
    fn one(text: &str) -> HostEntry {
        let list = parse_hosts(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(list.hosts.len(), 1, "{text}");
        list.hosts[0].clone()
    }

    #[test]
    fn every_grammar_form_and_its_display() {
        let cases = [
            ("localhost", "localhost/2"),
            ("localhost/3", "localhost/3"),
            ("localhost=5", "localhost/5"),
            ("localhostbutnotreally", "localhostbutnotreally:3632/4"),
            ("localhost:4000", "localhost:4000/4"),
            ("localhost,lzo", "localhost:3632/4,lzo"),
            ("127.0.0.1,lzo", "127.0.0.1:3632/4,lzo"),
            ("build-1.farm_a:65535/8", "build-1.farm_a:65535/8"),
            ("host=8", "host:3632/8"),
            ("host/8:4000", "host:4000/8"),
            ("host:4000=8", "host:4000/8"),
            ("[::1]", "[::1]:3632/4"),
            ("[0:0::1]/8:4000", "[::1]:4000/8"),
            ("[FE80::1%eth0]:4000", "[fe80::1%eth0]:4000/4"),
            ("@host", "@host/4"),
            ("u@h/3:/usr/bin/distccd", "u@h/3:/usr/bin/distccd"),
            ("u@h=2", "u@h/2"),
            ("u@h:cmd/4", "u@h/4:cmd/4"),
            ("@h/7,cpp,lzo", "@h/7,lzo,cpp"),
            ("h,lzo,lzo", "h:3632/4,lzo"),
            ("h,down,auth", "h:3632/4,auth,down"),
            ("h,auth=distcc/h@REALM", "h:3632/4,auth=distcc/h@REALM"),
        ];
        for (text, shown) in cases {
            let spec = one(text);
            assert_eq!(spec.display(), shown, "{text}");
            assert_eq!(one(shown), spec, "{shown}");
        }
        // The structure behind a few of them.
        let kind = |text| format!("{:?}", one(text).transport);
        assert_eq!(kind("localhost=5"), "Localhost");
        assert_eq!(
            kind("localhost,lzo"),
            r#"Tcp { host: "localhost", port: 3632 }"#
        );
        assert_eq!(
            kind("[FE80::1%eth0]"),
            r#"Tcp { host: "fe80::1%eth0", port: 3632 }"#
        );
        let ssh = r#"Ssh { user: Some("u"), host: "h", command: Some("/bin/d") }"#;
        assert_eq!(kind("u@h:/bin/d"), ssh);
        assert_eq!(
            kind("@h"),
            r#"Ssh { user: None, host: "h", command: None }"#
        );
        let fields = |h: HostEntry| (h.slots, h.lzo, h.cpp, h.down, h.auth);
        let auth = |name: &str| Some(name.to_owned());
        assert_eq!(fields(one("localhost")), (2, false, false, false, None));
        assert_eq!(
            fields(one("h:1/2,down,auth")),
            (2, false, false, true, auth(""))
        );
        assert_eq!(
            fields(one("@h/7,cpp,auth=x,lzo")),
            (7, true, true, false, auth("x"))
        );
        assert_eq!(one("@h,cpp,lzo").protocol(), Version::V3);
        assert_eq!(one("h,lzo").protocol(), Version::V2);
        assert_eq!(one("h").protocol(), Version::V1);
    }

    #[test]
    fn every_error() {
        let nan = |what, text: &str| Kind::NotANumber(what, text.into());
        let cases = [
            ("host/0", Kind::ZeroSlots),
            ("foo:99999", Kind::OutOfRange("port")),
            ("foo:0", Kind::OutOfRange("port")),
            ("foo:", Kind::Empty("port")),
            ("foo:http", nan("port", "http")),
            ("foo,cpp", Kind::CppWithoutLzo),
            ("foo,lzo,zstd", Kind::UnknownOption("zstd".into())),
            ("foo,auth=", Kind::Empty("auth name")),
            ("[::1", Kind::UnterminatedBracket),
            ("[1.2.3.4]", Kind::InvalidIpv6("1.2.3.4".into())),
            ("[::1%]", Kind::InvalidIpv6("::1%".into())),
            ("[::1]x", Kind::Trailing("x".into())),
            ("fe80::1", Kind::UnbracketedIpv6),
            ("::1/4", Kind::UnbracketedIpv6),
            ("host/abc", nan("slot count", "abc")),
            ("host/4abc", nan("slot count", "4abc")),
            ("host/", Kind::Empty("slot count")),
            ("host/99999999999", Kind::OutOfRange("slot count")),
            ("/4", Kind::Empty("hostname")),
            ("user@", Kind::Empty("hostname")),
            ("@host:", Kind::Empty("ssh command")),
            ("@h/x:cmd", nan("slot count", "x")),
            ("host:1:2", Kind::Duplicate("port")),
            ("host/2:3632/3", Kind::Duplicate("slot count")),
            ("ho$t", Kind::InvalidChar("hostname", '$')),
            ("a@b@c", Kind::InvalidChar("hostname", '@')),
            ("-oProxyCommand=x", Kind::LeadingDash("hostname")),
            ("us%r@host", Kind::InvalidChar("user name", '%')),
            ("-l@host", Kind::LeadingDash("user name")),
            ("localhost/2,lzo", Kind::LocalhostOptions),
            ("localhost/2:3632", Kind::Trailing(":3632".into())),
            ("--frobnicate", Kind::UnknownGlobal),
            ("--localslots", Kind::MissingValue("--localslots")),
            ("--localslots_cpp", Kind::MissingValue("--localslots_cpp")),
            ("--localslots=0", Kind::ZeroSlots),
            ("--localslots=x", nan("slot count", "x")),
            ("+zeroconfx", Kind::UnknownGlobal),
        ];
        for (text, kind) in cases {
            let err = parse_hosts(&format!("good:1\n\t{text} later")).unwrap_err();
            let prefix = format!("invalid host {text:?}: ");
            assert!(err.to_string().starts_with(&prefix), "{err}");
            assert_eq!((err.entry.as_str(), err.line, err.kind), (text, 2, kind));
        }
        let msg = |text| parse_hosts(text).unwrap_err().to_string();
        let port = r#"invalid host "foo:99999": port out of range"#;
        assert_eq!(msg("foo:99999"), port);
        let cpp = r#"invalid host "h,cpp": pump mode (,cpp) requires compression (,lzo)"#;
        assert_eq!(msg("h,cpp"), cpp);
    }

    #[test]
    fn hosts_file_with_comments_and_globals() {
        let text = "# farm\n  localhost/3\t# local too\r\n--randomize\r\n\n\
                    a:4000/5,lzo\x0bb # trailing\n@c/7,lzo,cpp#no space\n\
                    --localslots=6 --localslots_cpp/10 +zeroconf --localslots=5\n#end";
        let list = parse_hosts(text).unwrap();
        let pump = one("@c/7,lzo,cpp");
        let hosts = vec![local(3), one("a:4000/5,lzo"), tcp("b", 3632, 4), pump];
        let want = HostList {
            hosts,
            randomize: true,
            local_slots: Some(5),
            local_slots_cpp: Some(10),
            zeroconf: true,
        };
        assert_eq!(list, want);
        assert_eq!(parse_hosts(" # nothing\n\t\n"), Ok(HostList::default()));
        assert_eq!(parse_hosts("a\n# x\nb:0").unwrap_err().line, 3);
        // `--localslots N` is not a form distcc knows: the bare flag is rejected.
        assert!(parse_hosts("--localslots 4").is_err());
    }

    #[test]
    fn total_slots_is_distcc_minus_j() {
        let list = parse_hosts("localhost/3 a:4000/5,lzo b @c/7,lzo,cpp").unwrap();
        assert_eq!(list.total_slots(), 19);
        let down = parse_hosts("a,down localhost --localslots=9").unwrap();
        assert_eq!(down.total_slots(), 6);
        let huge = parse_hosts("a/4294967295 b/2").unwrap();
        assert_eq!(huge.total_slots(), u32::MAX);
    }

    #[test]
    fn keys_are_unique_and_filesystem_safe() {
        let cases = [
            ("localhost/3", "localhost"),
            ("10.0.0.2", "tcp_10.0.0.2_3632"),
            ("[::1]:4000", "tcp_++1_4000"),
            ("[fe80::1%eth0]", "tcp_fe80++1=25eth0_3632"),
            ("u@h:cmd", "ssh_u@h"),
            ("@h", "ssh_h"),
        ];
        for (text, key) in cases {
            assert_eq!(one(text).key(), key);
        }
        let tricky = "a:1 a:10 a_1:2 a:12 __1 [::1] [::1]:1 a_b@c a@b_c @a_b_c a@b localhost:3632 \
                      localhost";
        let list = parse_hosts(tricky).unwrap();
        let keys: HashSet<String> = list.hosts.iter().map(HostEntry::key).collect();
        assert_eq!(keys.len(), list.hosts.len(), "{keys:?}");
        keys.iter().for_each(|k| assert!(fs_safe(k), "{k}"));
    }

    fn fs_safe(key: &str) -> bool {
        let safe = |c: char| c.is_ascii_alphanumeric() || "._+=@-".contains(c);
        !key.is_empty() && key.chars().all(safe)
    }

    fn name() -> impl Strategy<Value = String> {
        "[a-z0-9_.][a-zA-Z0-9_.-]{0,10}"
    }

    fn kind() -> impl Strategy<Value = HostTransport> {
        let v6 = (any::<[u16; 8]>(), of("[a-z0-9]{1,4}")).prop_map(|(seg, zone)| {
            let addr = Ipv6Addr::from(seg);
            zone.map_or(addr.to_string(), |z| format!("{addr}%{z}"))
        });
        prop_oneof![
            Just(HostTransport::Localhost),
            (prop_oneof![name(), v6], 1..=u16::MAX)
                .prop_map(|(host, port)| HostTransport::Tcp { host, port }),
            (of(name()), name(), of("[a-zA-Z0-9/._:@=+-]{1,12}")).prop_map(|(user, host, cmd)| {
                HostTransport::Ssh {
                    user,
                    host,
                    command: cmd,
                }
            }),
        ]
    }

    fn spec() -> impl Strategy<Value = HostEntry> {
        let auth = of(prop_oneof![Just(String::new()), "[A-Za-z0-9/@._=-]{1,12}"]);
        let flags = (any::<bool>(), any::<bool>(), any::<bool>());
        (kind(), 1..=u32::MAX, flags, auth).prop_map(|(kind, slots, (lzo, cpp, down), auth)| {
            let spec = HostEntry::new(kind);
            match spec.transport {
                HostTransport::Localhost => local(slots),
                _ => with(spec, |h| {
                    (h.slots, h.lzo, h.cpp, h.down, h.auth) = (slots, lzo, cpp && lzo, down, auth);
                }),
            }
        })
    }

    fn list() -> impl Strategy<Value = HostList> {
        let slots = || of(1..=u32::MAX);
        let globals = (any::<bool>(), slots(), slots(), any::<bool>());
        (vec(spec(), 0..6), globals).prop_map(|(hosts, (randomize, slots, cpp, zeroconf))| {
            let (local_slots, local_slots_cpp) = (slots, cpp);
            HostList {
                hosts,
                randomize,
                local_slots,
                local_slots_cpp,
                zeroconf,
            }
        })
    }

    fn identity(spec: &HostEntry) -> (u8, Option<&str>, &str, u16) {
        match &spec.transport {
            HostTransport::Localhost => (0, None, "", 0),
            HostTransport::Tcp { host, port } => (1, None, host, *port),
            HostTransport::Ssh { user, host, .. } => (2, user.as_deref(), host, 0),
        }
    }

    proptest! {
        #[test]
        fn render_then_parse_round_trips(list in list()) {
            prop_assert_eq!(parse_hosts(&render(&list)), Ok(list.clone()));
            prop_assert_eq!(parse_hosts(&render(&list).replace('\n', " \t ")), Ok(list));
        }

        #[test]
        fn keys_are_injective_and_safe(a in spec(), b in spec()) {
            prop_assert!(fs_safe(&a.key()), "{}", a.key());
            prop_assert_eq!(a.key() == b.key(), identity(&a) == identity(&b));
        }

        #[test]
        fn any_text_never_panics_and_normalises(
            text in prop_oneof![any::<String>(), "[a-z0-9@:/=,%#+\\[\\] \t\n.-]{0,40}"]
        ) {
            if let Ok(list) = parse_hosts(&text) {
                prop_assert_eq!(parse_hosts(&render(&list)), Ok(list));
            }
        }
    }
}
