//! Direct mode: a hit without running the preprocessor.
//!
//! A manifest is keyed by what the preprocessor reads before it reads any header: the
//! exact compiler, the whole command line, the working directory, the environment
//! variables that add include directories, and the source file's contents. It lists
//! every file the preprocessor read (from the preprocessed text's line markers) with a
//! hash of its contents, the key of the result those inputs produced, and the
//! dependency file the preprocessor wrote. When every listed file still has its hash,
//! the result is the one a preprocessed look-up would find, and the preprocessor need
//! not run. As in ccache's direct mode, a header *added* earlier on the include path
//! than one listed is not noticed; a source that changes while it compiles is guarded
//! against by not writing a manifest that lists a file newer than the compile's start.

use crate::entry::EntryError;
use crate::framing::{Fields, checked, put_checksum, put_optional};
use crate::key::Key;

/// The first bytes of every manifest; a new layout gets a new header.
const HEADER: &[u8] = b"ccfarm-cache-manifest 1\n";
/// Changes whenever what goes into a manifest key changes.
const KEY_FORMAT: &[u8] = b"ccfarm-cache-direct-1";
/// Caps on what a manifest read back may claim, so a damaged one cannot make the reader
/// allocate without bound.
const MAX_FILES: usize = 1 << 17;
const MAX_PATH: usize = 1 << 16;

/// Environment variables that change what the preprocessor reads or writes.
pub const PREPROCESSOR_ENV: &[&str] = &[
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH",
    "OBJCPLUS_INCLUDE_PATH",
    "SOURCE_DATE_EPOCH",
    "DEPENDENCIES_OUTPUT",
    "SUNPRO_DEPENDENCIES",
];

/// What the preprocessor's output depends on before it opens any header.
#[derive(Debug, Clone, Copy)]
pub struct DirectInputs<'a> {
    /// The exact compiler (as for [`crate::KeyInputs::compiler`]).
    pub compiler: &'a str,
    /// The whole command line.
    pub argv: &'a [String],
    /// The working directory (relative include paths and file names resolve from it).
    pub cwd: &'a str,
    /// The values of [`PREPROCESSOR_ENV`] that are set, as `NAME=VALUE`.
    pub env: &'a [String],
    /// The source file's contents.
    pub source: &'a [u8],
}

/// The key of a job's manifest.
pub fn manifest_key(inputs: &DirectInputs<'_>) -> Key {
    let mut fields = Fields::new();
    fields.field(KEY_FORMAT);
    fields.field(inputs.compiler.as_bytes());
    fields.field(&(inputs.argv.len() as u64).to_le_bytes());
    for arg in inputs.argv {
        fields.field(arg.as_bytes());
    }
    fields.field(inputs.cwd.as_bytes());
    fields.field(&(inputs.env.len() as u64).to_le_bytes());
    for var in inputs.env {
        fields.field(var.as_bytes());
    }
    fields.field(inputs.source);
    Key::from_bytes(fields.finish())
}

/// The key a shared store files `writer`'s manifest for the manifest key `key` under.
/// A manifest says which entry a source with these headers compiled to, and only its
/// writer vouches for that (no reader can check it without preprocessing), so each
/// user's manifests are kept apart and read only by that user: a farm member cannot
/// point another's look-up at an entry of its choosing.
pub fn writer_key(writer: &str, key: &Key) -> Key {
    let mut fields = Fields::new();
    fields.field(b"ccfarm-manifest-writer 1");
    fields.field(writer.as_bytes());
    fields.field(key.as_bytes());
    Key::from_bytes(fields.finish())
}

/// One file the preprocessor read, and the hash of its contents then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// Its name as the line markers give it (relative to the working directory, or
    /// absolute).
    pub path: String,
    /// BLAKE3 of its contents.
    pub hash: [u8; 32],
}

/// A manifest: the files read, the result they produced, the dependency file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The result's key (the preprocessed look-up's).
    pub result: Key,
    /// Every file the preprocessor read.
    pub reads: Vec<Read>,
    /// The dependency file the preprocessor wrote, if the command asked for one.
    pub dotd: Option<Vec<u8>>,
}

impl Manifest {
    /// The manifest's bytes, with a checksum.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(HEADER);
        out.extend_from_slice(self.result.as_bytes());
        put_optional(&mut out, self.dotd.as_deref());
        out.extend_from_slice(&(self.reads.len() as u32).to_le_bytes());
        for read in &self.reads {
            out.extend_from_slice(&(read.path.len() as u32).to_le_bytes());
            out.extend_from_slice(read.path.as_bytes());
            out.extend_from_slice(&read.hash);
        }
        put_checksum(&mut out);
        out
    }

    /// The manifest in `bytes`, if they are a whole, unaltered one.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, EntryError> {
        let mut fields = checked(bytes, HEADER)?;
        let result = Key::from_bytes(fields.array()?);
        let dotd = fields.optional()?.map(<[u8]>::to_vec);
        let count = u32::from_le_bytes(fields.array()?) as usize;
        if count > MAX_FILES {
            return Err(EntryError::Format);
        }
        let mut reads = Vec::with_capacity(count);
        for _ in 0..count {
            let len = u32::from_le_bytes(fields.array()?) as usize;
            if len > MAX_PATH {
                return Err(EntryError::Format);
            }
            let path =
                String::from_utf8(fields.take(len)?.to_vec()).map_err(|_| EntryError::Format)?;
            let hash = fields.array()?;
            reads.push(Read { path, hash });
        }
        Ok(Manifest {
            result,
            reads,
            dotd,
        })
    }
}

/// The files a preprocessed text says were read, in order, each once: the names of its
/// line markers (`# 12 "include/x.h" 1`), without gcc's pseudo-files (`<built-in>`,
/// `<command-line>`) and the working-directory marker (`"/home/ann/p//"`).
pub fn files_read(preprocessed: &[u8]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for line in preprocessed.split(|&b| b == b'\n') {
        let Some(rest) = line.strip_prefix(b"# ") else {
            continue;
        };
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            continue;
        }
        let Some(quoted) = rest[digits..].strip_prefix(b" \"") else {
            continue;
        };
        let Some(name) = unquote(quoted) else {
            continue;
        };
        if name.starts_with('<') || name.ends_with("//") || found.contains(&name) {
            continue;
        }
        found.push(name);
    }
    found
}

/// The text of a quoted line-marker name up to its closing quote, with gcc's escapes
/// (`\\`, `\"`) undone.
fn unquote(quoted: &[u8]) -> Option<String> {
    let mut out = Vec::new();
    let mut bytes = quoted.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'"' => return String::from_utf8(out).ok(),
            b'\\' => out.push(*bytes.next()?),
            other => out.push(other),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_files_read_come_from_the_line_markers() {
        let text = b"# 0 \"src/a.c\"\n# 0 \"<built-in>\"\n# 0 \"<command-line>\"\n\
            # 1 \"/home/ann/p//\"\n# 1 \"/usr/include/stdc-predef.h\" 1 3 4\n# 0 \"<command-line>\" 2\n\
            # 1 \"src/a.c\"\n# 1 \"include/we\\\\ird \\\"x\\\".h\" 1\nint x;\n#pragma once\n\
            # 3 \"src/a.c\" 2\n";
        assert_eq!(
            files_read(text),
            [
                "src/a.c",
                "/usr/include/stdc-predef.h",
                "include/we\\ird \"x\".h"
            ]
        );
    }

    #[test]
    fn each_writer_files_a_manifest_apart() {
        let key = Key::from_bytes([5; 32]);
        let alice = writer_key("alice", &key);
        assert_eq!(alice, writer_key("alice", &key));
        assert_ne!(alice, writer_key("bob", &key));
        assert_ne!(alice, key);
        assert_ne!(alice, writer_key("alice", &Key::from_bytes([6; 32])));
    }

    #[test]
    fn everything_in_the_key_changes_it() {
        let argv: Vec<String> = ["gcc", "-c", "a.c"].map(String::from).to_vec();
        let env = vec!["CPATH=/opt/inc".to_owned()];
        let base = DirectInputs {
            compiler: "gcc 12",
            argv: &argv,
            cwd: "/p",
            env: &env,
            source: b"int x;\n",
        };
        let key = manifest_key(&base);
        let other_argv: Vec<String> = ["gcc", "-DX", "-c", "a.c"].map(String::from).to_vec();
        let no_env: Vec<String> = Vec::new();
        for changed in [
            DirectInputs {
                compiler: "gcc 13",
                ..base
            },
            DirectInputs {
                argv: &other_argv,
                ..base
            },
            DirectInputs { cwd: "/q", ..base },
            DirectInputs {
                env: &no_env,
                ..base
            },
            DirectInputs {
                source: b"int y;\n",
                ..base
            },
        ] {
            assert_ne!(manifest_key(&changed), key, "{changed:?}");
        }
    }

    proptest! {
        #[test]
        fn manifests_round_trip_and_any_altered_byte_is_refused(
            paths in proptest::collection::vec("[a-z/._]{1,20}", 0..5),
            dotd in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            flip in any::<proptest::sample::Index>(),
        ) {
            let manifest = Manifest {
                result: Key::from_bytes([3; 32]),
                reads: paths.into_iter().map(|path| Read { path, hash: [9; 32] }).collect(),
                dotd,
            };
            let bytes = manifest.encode();
            prop_assert_eq!(Manifest::decode(&bytes).unwrap(), manifest);
            let mut altered = bytes.clone();
            let at = flip.index(altered.len());
            altered[at] ^= 1;
            prop_assert!(Manifest::decode(&altered).is_err());
            prop_assert!(Manifest::decode(&bytes[..bytes.len() - 1]).is_err());
        }
    }
}
