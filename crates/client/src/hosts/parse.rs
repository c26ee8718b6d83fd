//! The host-list grammar, parsed into [`HostList`] values (see the parent module for
//! the grammar itself).

use std::net::Ipv6Addr;

use super::{DEFAULT_PORT, DEFAULT_REMOTE_SLOTS, HostEntry, HostList, HostTransport};

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
        _ => list.hosts.push(HostEntry {
            given: Some(token.to_owned()),
            ..parse_host(token)?
        }),
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

pub(super) fn is_name_char(c: char) -> bool {
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
