//! The 12-byte token header that starts every distcc frame: four ASCII letters and
//! eight hex digits. distcc writes lowercase hex and parses with `strtoul(.., 16)`, so
//! we emit lowercase and accept either case.

use super::error::ProtoError;

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 12;

/// The distcc frame tokens ccfarm understands.
///
/// For `Dist`, `Argc`, `Nfil`, `Done` and `Stat` the header's parameter is a value;
/// for all others it is the length of the body that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Token {
    /// Request: protocol version.
    Dist,
    /// Request: number of arguments.
    Argc,
    /// Request: one argument.
    Argv,
    /// Request (v1/v2): the preprocessed source.
    Doti,
    /// Request (v3): the client's working directory.
    Cdir,
    /// Request (v3): number of files that follow.
    Nfil,
    /// Request (v3): absolute client path of the next file or link.
    Name,
    /// Request (v3): file contents (LZO-compressed).
    File,
    /// Request (v3): symlink target.
    Link,
    /// Reply: protocol version.
    Done,
    /// Reply: the compiler's wait status.
    Stat,
    /// Reply: the compiler's stderr.
    Serr,
    /// Reply: the compiler's stdout.
    Sout,
    /// Reply: the object file.
    Doto,
    /// Reply (v3): the dependency file.
    Dotd,
}

impl Token {
    const ALL: [Token; 15] = [
        Token::Dist,
        Token::Argc,
        Token::Argv,
        Token::Doti,
        Token::Cdir,
        Token::Nfil,
        Token::Name,
        Token::File,
        Token::Link,
        Token::Done,
        Token::Stat,
        Token::Serr,
        Token::Sout,
        Token::Doto,
        Token::Dotd,
    ];

    /// The four ASCII bytes on the wire.
    pub fn as_bytes(self) -> &'static [u8; 4] {
        match self {
            Token::Dist => b"DIST",
            Token::Argc => b"ARGC",
            Token::Argv => b"ARGV",
            Token::Doti => b"DOTI",
            Token::Cdir => b"CDIR",
            Token::Nfil => b"NFIL",
            Token::Name => b"NAME",
            Token::File => b"FILE",
            Token::Link => b"LINK",
            Token::Done => b"DONE",
            Token::Stat => b"STAT",
            Token::Serr => b"SERR",
            Token::Sout => b"SOUT",
            Token::Doto => b"DOTO",
            Token::Dotd => b"DOTD",
        }
    }

    /// The token as text, for error messages and logs.
    pub fn as_str(self) -> &'static str {
        // Every token is ASCII by construction.
        std::str::from_utf8(self.as_bytes()).unwrap_or("????")
    }

    fn from_bytes(bytes: &[u8]) -> Option<Token> {
        Token::ALL.into_iter().find(|t| t.as_bytes() == bytes)
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Append a header `TOKEN%08x` to `out`.
pub fn write_header(out: &mut Vec<u8>, token: Token, param: u32) {
    out.extend_from_slice(token.as_bytes());
    out.extend_from_slice(format!("{param:08x}").as_bytes());
}

/// Parse a complete 12-byte header, checking that it carries `expected`.
pub fn parse_header(
    header: &[u8; HEADER_LEN],
    expected: &[Token],
) -> Result<(Token, u32), ProtoError> {
    let token = Token::from_bytes(&header[..4]).filter(|t| expected.contains(t));
    let Some(token) = token else {
        return Err(ProtoError::UnexpectedToken {
            expected: expected
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(" or "),
            found: printable(&header[..4]),
        });
    };
    let param = parse_hex(&header[4..]).ok_or_else(|| ProtoError::BadParameter {
        token: token.as_str(),
        found: printable(&header[4..]),
    })?;
    Ok((token, param))
}

/// Exactly eight hex digits, either case; nothing else (no sign, no spaces).
fn parse_hex(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = (d as char).to_digit(16)?;
        Some(acc << 4 | v)
    })
}

/// Render untrusted bytes for a log line without control characters.
pub(crate) fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> [u8; 12] {
        s.as_bytes().try_into().unwrap()
    }

    #[test]
    fn writes_lowercase_hex() {
        let mut out = Vec::new();
        write_header(&mut out, Token::Doto, 0x450);
        assert_eq!(out, b"DOTO00000450");
        out.clear();
        write_header(&mut out, Token::Stat, 0xABCDEF01);
        assert_eq!(out, b"STATabcdef01");
    }

    #[test]
    fn accepts_either_case() {
        assert_eq!(
            parse_header(&header("SERR000000C5"), &[Token::Serr]).unwrap(),
            (Token::Serr, 0xc5)
        );
        assert_eq!(
            parse_header(&header("SERR000000c5"), &[Token::Serr]).unwrap(),
            (Token::Serr, 0xc5)
        );
        assert_eq!(
            parse_header(&header("DIST00000003"), &[Token::Dist])
                .unwrap()
                .1,
            3
        );
    }

    #[test]
    fn rejects_wrong_token_and_bad_digits() {
        let err = parse_header(&header("ARGV00000001"), &[Token::Dist]).unwrap_err();
        assert!(err.to_string().contains("expected DIST"), "{err}");
        let err = parse_header(&header("DIST0000000g"), &[Token::Dist]).unwrap_err();
        assert!(matches!(err, ProtoError::BadParameter { .. }));
        assert!(parse_header(&header("DIST 0000001"), &[Token::Dist]).is_err());
        assert!(parse_header(&header("DIST-0000001"), &[Token::Dist]).is_err());
        assert!(parse_header(&header("dist00000001"), &[Token::Dist]).is_err());
    }

    #[test]
    fn alternatives() {
        let alts = [Token::File, Token::Link];
        assert_eq!(
            parse_header(&header("LINK00000004"), &alts).unwrap().0,
            Token::Link
        );
        let err = parse_header(&header("NAME00000004"), &alts).unwrap_err();
        assert!(err.to_string().contains("FILE or LINK"), "{err}");
    }
}
