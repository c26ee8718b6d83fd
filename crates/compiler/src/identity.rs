//! Which compiler a command runs, as far as the object it produces is concerned: its full
//! version and its target. The client, ccfarmd and the scheduler's probe must agree on
//! these strings exactly (the scheduler matches them as they are), so the flags to ask
//! and the reading of the answers live here, once; running the compiler is the caller's.
//!
//! * A compiler that can be run answers `-dumpfullversion` (gcc ≥ 7, recent clang) or
//!   `-dumpversion` (older ones), and `-dumpmachine`: [`identify`].
//! * A stock distccd's compiler can only be made to compile: the object's `.comment`
//!   section holds the compiler's `.ident` (`GCC: (Debian 12.2.0-14) 12.2.0`, `Debian
//!   clang version 14.0.6`), and its ELF header the architecture: [`identify_object`]. The
//!   target is then the architecture's usual Linux triple, a guess an operator can
//!   override.

/// A compiler's identity: what makes two compilers produce the same object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The full version, e.g. `12.2.0`.
    pub version: String,
    /// The target triple, e.g. `x86_64-linux-gnu`.
    pub target: String,
}

/// The flags that print the version, the most precise first.
pub const VERSION_FLAGS: [&str; 2] = ["-dumpfullversion", "-dumpversion"];

/// The flag that prints the target triple.
pub const TARGET_FLAG: &str = "-dumpmachine";

/// A compiler's identity from its answers: `ask(flag)` runs the compiler with that one flag
/// and returns its standard output when it succeeded. `None` when it does not answer both.
pub fn identify(mut ask: impl FnMut(&str) -> Option<String>) -> Option<Identity> {
    let version = VERSION_FLAGS
        .iter()
        .find_map(|flag| ask(flag).as_deref().and_then(one_word))?;
    let target = ask(TARGET_FLAG).as_deref().and_then(one_word)?;
    Some(Identity { version, target })
}

/// The answer of a `-dump…` flag: one word on one line.
fn one_word(out: &str) -> Option<String> {
    let word = out.trim();
    (!word.is_empty() && !word.contains(char::is_whitespace)).then(|| word.to_owned())
}

/// The identity of the compiler that produced ELF object `object`: the version from its
/// `.comment` section, the target from its architecture. `None` when it is not an ELF
/// object, has no `.comment`, or names neither gcc nor clang.
pub fn identify_object(object: &[u8]) -> Option<Identity> {
    let elf = Elf::parse(object)?;
    let version = version_from_comment(elf.section(b".comment")?)?;
    let target = elf.target()?.to_owned();
    Some(Identity { version, target })
}

/// The compiler version in a `.comment` section (NUL-separated `.ident` strings): gcc
/// writes `GCC: (Debian 12.2.0-14) 12.2.0`, whose last word is `-dumpfullversion`'s
/// answer; clang writes `Debian clang version 14.0.6` or `clang version 17.0.1 (URL)`,
/// whose word after `clang version` is.
pub fn version_from_comment(comment: &[u8]) -> Option<String> {
    comment
        .split(|&b| b == 0)
        .filter_map(|s| std::str::from_utf8(s).ok())
        .find_map(|ident| {
            if let Some(rest) = ident.strip_prefix("GCC: ") {
                return rest.split_whitespace().last().map(str::to_owned);
            }
            let (_, rest) = ident.split_once("clang version ")?;
            rest.split_whitespace().next().map(str::to_owned)
        })
}

/// The little of an ELF file that identifies its compiler.
struct Elf<'a> {
    bytes: &'a [u8],
    wide: bool,
    little: bool,
    machine: u16,
}

impl<'a> Elf<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Elf<'a>> {
        if bytes.get(..4)? != b"\x7fELF" {
            return None;
        }
        let wide = match bytes.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let little = match bytes.get(5)? {
            1 => true,
            2 => false,
            _ => return None,
        };
        let mut elf = Elf {
            bytes,
            wide,
            little,
            machine: 0,
        };
        elf.machine = elf.u16_at(18)?;
        Some(elf)
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at + 2)?.try_into().ok()?;
        Some(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    /// An address-sized field (4 or 8 bytes).
    fn word_at(&self, at: usize) -> Option<usize> {
        if !self.wide {
            return usize::try_from(self.u32_at(at)?).ok();
        }
        let b: [u8; 8] = self.bytes.get(at..at + 8)?.try_into().ok()?;
        let v = if self.little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        };
        usize::try_from(v).ok()
    }

    /// The contents of the section called `name`.
    fn section(&self, name: &[u8]) -> Option<&'a [u8]> {
        let (shoff, entsize, count, strndx) = if self.wide {
            (self.word_at(0x28)?, 0x3a, 0x3c, 0x3e)
        } else {
            (self.word_at(0x20)?, 0x2e, 0x30, 0x32)
        };
        let entsize = usize::from(self.u16_at(entsize)?);
        let count = usize::from(self.u16_at(count)?);
        let strndx = usize::from(self.u16_at(strndx)?);
        let header = |i: usize| -> Option<(usize, usize, usize)> {
            let at = shoff.checked_add(i.checked_mul(entsize)?)?;
            let name = usize::try_from(self.u32_at(at)?).ok()?;
            let (offset, size) = if self.wide {
                (self.word_at(at + 0x18)?, self.word_at(at + 0x20)?)
            } else {
                (self.word_at(at + 0x10)?, self.word_at(at + 0x14)?)
            };
            Some((name, offset, size))
        };
        let contents =
            |offset: usize, size: usize| self.bytes.get(offset..offset.checked_add(size)?);
        let (_, str_offset, str_size) = header(strndx)?;
        let names = contents(str_offset, str_size)?;
        (0..count).find_map(|i| {
            let (n, offset, size) = header(i)?;
            let rest = names.get(n..)?;
            let end = rest.iter().position(|&b| b == 0)?;
            (&rest[..end] == name).then(|| contents(offset, size))?
        })
    }

    /// The usual Linux triple of the object's architecture (Debian's multiarch names, which
    /// are also what Debian's and Ubuntu's compilers answer to `-dumpmachine`).
    fn target(&self) -> Option<&'static str> {
        Some(match (self.machine, self.wide, self.little) {
            (62, true, true) => "x86_64-linux-gnu",
            (3, false, true) => "i686-linux-gnu",
            (183, true, true) => "aarch64-linux-gnu",
            (40, false, true) => "arm-linux-gnueabihf",
            (243, true, true) => "riscv64-linux-gnu",
            (21, true, true) => "powerpc64le-linux-gnu",
            (22, true, false) => "s390x-linux-gnu",
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_precise_version_wins_and_answers_must_be_one_word() {
        let gcc = |flag: &str| match flag {
            "-dumpfullversion" => Some("12.2.0\n".to_owned()),
            "-dumpversion" => Some("12\n".to_owned()),
            "-dumpmachine" => Some("x86_64-linux-gnu\n".to_owned()),
            _ => None,
        };
        assert_eq!(
            identify(gcc),
            Some(Identity {
                version: "12.2.0".into(),
                target: "x86_64-linux-gnu".into()
            })
        );
        // An old compiler that does not know -dumpfullversion.
        let old = |flag: &str| gcc(flag).filter(|_| flag != "-dumpfullversion");
        assert_eq!(identify(old).unwrap().version, "12");
        let noisy = |flag: &str| match flag {
            "-dumpmachine" => Some("x86_64-linux-gnu".to_owned()),
            _ => Some("gcc: warning: something\n12.2.0".to_owned()),
        };
        assert_eq!(identify(noisy), None);
        assert_eq!(identify(|_| None), None);
        assert_eq!(identify(|f| gcc(f).filter(|_| f != "-dumpmachine")), None);
    }

    #[test]
    fn comments_name_the_version_as_the_compiler_prints_it() {
        let gcc = b"\0GCC: (Debian 12.2.0-14) 12.2.0\0";
        assert_eq!(version_from_comment(gcc).as_deref(), Some("12.2.0"));
        let clang = b"Debian clang version 14.0.6\0";
        assert_eq!(version_from_comment(clang).as_deref(), Some("14.0.6"));
        let upstream = b"clang version 17.0.1 (https://github.com/llvm/llvm-project e19b7dc)\0";
        assert_eq!(version_from_comment(upstream).as_deref(), Some("17.0.1"));
        assert_eq!(version_from_comment(b"Linker: LLD 17\0"), None);
        assert_eq!(version_from_comment(b""), None);
    }

    /// A minimal 64-bit little-endian ELF object with a `.comment` section.
    fn object(machine: u16, comment: &[u8]) -> Vec<u8> {
        let names = b"\0.shstrtab\0.comment\0";
        let mut o = vec![0u8; 64];
        o[..6].copy_from_slice(b"\x7fELF\x02\x01");
        o[18..20].copy_from_slice(&machine.to_le_bytes());
        let names_at = o.len();
        o.extend_from_slice(names);
        let comment_at = o.len();
        o.extend_from_slice(comment);
        let shoff = o.len();
        o[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        o[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        o[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        o[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        let section = |name: u32, offset: usize, size: usize| {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&(offset as u64).to_le_bytes());
            h[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            h
        };
        o.extend(section(0, 0, 0));
        o.extend(section(1, names_at, names.len()));
        o.extend(section(11, comment_at, comment.len()));
        o
    }

    #[test]
    fn an_object_tells_its_compiler() {
        let o = object(62, b"\0GCC: (Debian 12.2.0-14) 12.2.0\0");
        assert_eq!(
            identify_object(&o),
            Some(Identity {
                version: "12.2.0".into(),
                target: "x86_64-linux-gnu".into()
            })
        );
        assert_eq!(
            identify_object(&object(183, b"clang version 16.0.6\0"))
                .unwrap()
                .target,
            "aarch64-linux-gnu"
        );
        assert_eq!(identify_object(&object(62, b"")), None, "no ident");
        assert_eq!(identify_object(&object(9999, b"GCC: 12\0")), None);
        assert_eq!(identify_object(b"not an object"), None);
        // Truncated anywhere, it is refused, never a panic.
        for cut in 0..o.len() {
            let _ = identify_object(&o[..cut]);
        }
    }
}
