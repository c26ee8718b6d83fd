//! The cache key: what determines a compile's output, and nothing else.

use std::fmt;

use ccfarm_compiler::{ArgForm, Classification, scan_args, strip_local_args};

use crate::framing::Fields;

/// Changes whenever what goes into a key changes, so old entries simply stop matching.
const KEY_FORMAT: &[u8] = b"ccfarm-cache-key-2";

/// A cache key: a BLAKE3 hash, shown as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

impl Key {
    /// The key as 64 lowercase hex digits (an entry's file name).
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key from its 32 bytes (as [`Key::as_bytes`] gave them).
    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        Key(bytes)
    }

    /// A key from its 64 hex digits (as [`Key::hex`] gave them), either case.
    pub fn from_hex(hex: &str) -> Option<Key> {
        let hex = hex.as_bytes();
        if hex.len() != 64 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Key(bytes))
    }

    /// The key's first byte, which spreads entries over subdirectories.
    pub fn first_byte(&self) -> u8 {
        self.0[0]
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", &self.hex()[..16])
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Why a compile is not cached; counted by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum NotCacheable {
    /// Not a single compile to an object or assembler file.
    #[error("not a compile")]
    NotACompile,
    /// Profiling or coverage: the compile reads or writes files besides its output.
    #[error("profiling or coverage")]
    Profiling,
    /// `-gsplit-dwarf`: a second output (`.dwo`) the cache does not keep.
    #[error("split debug information")]
    SplitDebugInfo,
    /// `-save-temps`, `-fdump-…`, `-fstack-usage` and the like: further outputs.
    #[error("extra output files")]
    ExtraOutputs,
    /// `-o -`: the object goes to stdout.
    #[error("output to stdout")]
    OutputToStdout,
    /// The server preprocesses (distcc's pump mode): there is no preprocessed source to
    /// key before the compile.
    #[error("source sent as a file tree (pump mode)")]
    SourceTree,
    /// An argument that is not UTF-8 text, which the key could not tell apart from
    /// another.
    #[error("an argument that is not text")]
    NotText,
}

/// What a compile's output depends on.
#[derive(Debug, Clone, Copy)]
pub struct KeyInputs<'a> {
    /// The exact compiler: its identity (version and target) and a stamp of its binary,
    /// as the caller knows them. Two compilers that may differ must differ here.
    pub compiler: &'a str,
    /// The command line as given (`argv[0]` is the compiler as invoked).
    pub argv: &'a [String],
    /// The working directory, which debug information records; `None` where it is not
    /// known (a server keying what a client sent): gcc writes it into the preprocessed
    /// source whenever debug information is on, so the source then keys it.
    pub cwd: Option<&'a str>,
    /// The preprocessed source.
    pub source: &'a [u8],
}

const PROFILING: &[&str] = &[
    "-fprofile-generate",
    "-fprofile-arcs",
    "-fprofile-use",
    "-fauto-profile",
    "-fbranch-probabilities",
    "-fprofile-instr-generate",
    "-fprofile-instr-use",
    "-fprofile-sample-use",
    "-fcs-profile-generate",
    "--coverage",
    "-ftest-coverage",
];

const EXTRA_OUTPUTS: &[&str] = &[
    "-save-temps",
    "-fdump-",
    "-fstack-usage",
    "-fcallgraph-info",
    "-aux-info",
    "-Wa,-a",
    "-Wa,--MD",
    "-fopt-info",
    "-ftime-report",
];

/// Why this command line cannot be cached, if it cannot.
fn refusal(argv: &[String]) -> Option<NotCacheable> {
    for (i, a) in argv.iter().enumerate().skip(1) {
        if PROFILING.iter().any(|p| a.starts_with(p)) {
            return Some(NotCacheable::Profiling);
        }
        if a == "-gsplit-dwarf" {
            return Some(NotCacheable::SplitDebugInfo);
        }
        if EXTRA_OUTPUTS.iter().any(|p| a.starts_with(p)) {
            return Some(NotCacheable::ExtraOutputs);
        }
        if (a == "-o" && argv.get(i + 1).is_some_and(|v| v == "-")) || a == "-o-" {
            return Some(NotCacheable::OutputToStdout);
        }
    }
    None
}

/// Whether debug information, which records the working directory, is produced: the
/// last `-g…` option is not `-g0`.
fn records_directory(argv: &[String]) -> bool {
    argv.iter()
        .skip(1)
        .rfind(|a| a.starts_with("-g"))
        .is_some_and(|a| a != "-g0")
}

/// The options that reach the compiler proper, without the compiler's, the input's
/// and the output's names: none of them changes the output (the compiler is keyed by
/// its identity, the input by its preprocessed text, and `-o x.o` is the default
/// `x.o` under another name).
fn compiler_options(
    argv: &[String],
    input: usize,
    output: Option<(usize, ArgForm)>,
) -> Vec<String> {
    let mut drop = vec![false; argv.len()];
    drop[input] = true;
    if let Some((at, form)) = output {
        drop[at] = true;
        if form == ArgForm::Separate {
            drop[at - 1] = true;
        }
    }
    let mut args: Vec<String> = argv
        .iter()
        .zip(drop)
        .filter(|(_, dropped)| !dropped)
        .map(|(a, _)| a.clone())
        .collect();
    // The driver's name stays: `gcc` and `g++` of one installation report the same
    // identity, and compile a `.c` file as different languages.
    let name = argv[0].rsplit('/').next().unwrap_or_default();
    args[0] = name.to_owned();
    strip_local_args(&args)
}

/// Whether the command line `argv` can be cached at all, and if not, why.
pub fn cacheable(argv: &[String]) -> Result<(), NotCacheable> {
    if let Some(why) = refusal(argv) {
        return Err(why);
    }
    match scan_args(argv) {
        Classification::Distributable(_) => Ok(()),
        _ => Err(NotCacheable::NotACompile),
    }
}

/// The key of a compile, or why it is not cached.
pub fn key(inputs: &KeyInputs<'_>) -> Result<Key, NotCacheable> {
    if let Some(why) = refusal(inputs.argv) {
        return Err(why);
    }
    let Classification::Distributable(job) = scan_args(inputs.argv) else {
        return Err(NotCacheable::NotACompile);
    };
    let output = job.output_arg.map(|p| (p.value_index(), p.form));
    let options = compiler_options(inputs.argv, job.input_index, output);
    let mut fields = Fields::new();
    let mut field = |bytes: &[u8]| fields.field(bytes);
    field(KEY_FORMAT);
    field(inputs.compiler.as_bytes());
    field(job.language.x_name().as_bytes());
    field(job.mode.output_extension().as_bytes());
    field(&(options.len() as u64).to_le_bytes());
    for option in &options {
        field(option.as_bytes());
    }
    let directory = match inputs.cwd {
        Some(cwd) if records_directory(inputs.argv) => cwd,
        _ => "",
    };
    field(directory.as_bytes());
    field(inputs.source);
    Ok(Key::from_bytes(fields.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_from_its_hex() {
        let key = Key::from_bytes(std::array::from_fn(|i| i as u8 * 7));
        assert_eq!(Key::from_hex(&key.hex()), Some(key));
        assert_eq!(Key::from_hex(&key.hex().to_uppercase()), Some(key));
        assert_eq!(Key::from_hex(&key.hex()[1..]), None);
        assert_eq!(Key::from_hex(&"+1".repeat(32)), None);
        assert_eq!(Key::from_hex(&"zz".repeat(32)), None);
    }

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn key_of(line: &str, cwd: &str, source: &str) -> Result<Key, NotCacheable> {
        let argv = argv(line);
        key(&KeyInputs {
            compiler: "gcc 12.2.0 x86_64-linux-gnu",
            argv: &argv,
            cwd: Some(cwd),
            source: source.as_bytes(),
        })
    }

    const SRC: &str = "int f(void) { return 1; }\n";

    #[test]
    fn names_and_preprocessor_options_do_not_change_the_key() {
        let base = key_of("gcc -O2 -c a.c -o a.o", "/home/ann/p", SRC).unwrap();
        for same in [
            "/usr/bin/gcc -O2 -c b.c -o obj/b.o",
            "gcc -O2 -c a.c -oa.o",
            "gcc -O2 -c a.c",
            "gcc -O2 -DX=1 -Iinclude -c a.c -o a.o",
            "gcc -O2 -MD -MF a.d -MT a.o -c a.c -o a.o",
        ] {
            assert_eq!(key_of(same, "/home/ann/p", SRC).unwrap(), base, "{same}");
        }
        // Without debug information the directory is not recorded.
        assert_eq!(
            key_of("gcc -O2 -c a.c -o a.o", "/home/bob/q", SRC).unwrap(),
            base
        );
    }

    #[test]
    fn whatever_can_change_the_output_changes_the_key() {
        let base = key_of("gcc -O2 -c a.c -o a.o", "/p", SRC).unwrap();
        for different in [
            "gcc -O3 -c a.c -o a.o",
            "gcc -O2 -S a.c -o a.s",
            "gcc -O2 -c a.cpp -o a.o",
            "gcc -O2 -x c++ -c a.c -o a.o",
            "gcc -O2 -fPIC -c a.c -o a.o",
            "gcc -O2 -Werror -c a.c -o a.o",
            "gcc -O2 -g -c a.c -o a.o",
            // The same installation's C++ driver compiles `a.c` as C++.
            "g++ -O2 -c a.c -o a.o",
        ] {
            assert_ne!(key_of(different, "/p", SRC).unwrap(), base, "{different}");
        }
        assert_ne!(
            key_of("gcc -O2 -c a.c -o a.o", "/p", "int g;\n").unwrap(),
            base
        );
        let argv = argv("gcc -O2 -c a.c -o a.o");
        let other_compiler = key(&KeyInputs {
            compiler: "gcc 13.1.0 x86_64-linux-gnu",
            argv: &argv,
            cwd: Some("/p"),
            source: SRC.as_bytes(),
        })
        .unwrap();
        assert_ne!(other_compiler, base);
    }

    #[test]
    fn debug_builds_in_different_directories_do_not_share_entries() {
        let line = "gcc -g -O2 -c a.c -o a.o";
        assert_ne!(
            key_of(line, "/home/ann/p", SRC),
            key_of(line, "/home/bob/p", SRC)
        );
        assert_eq!(
            key_of(line, "/home/ann/p", SRC),
            key_of(line, "/home/ann/p", SRC)
        );
        // -g0 last: no debug information, no directory.
        let line = "gcc -g -g0 -O2 -c a.c -o a.o";
        assert_eq!(
            key_of(line, "/home/ann/p", SRC),
            key_of(line, "/home/bob/p", SRC)
        );
    }

    #[test]
    fn compiles_with_other_outputs_are_not_cached() {
        for (line, why) in [
            (
                "gcc -fprofile-generate -c a.c -o a.o",
                NotCacheable::Profiling,
            ),
            ("gcc --coverage -c a.c -o a.o", NotCacheable::Profiling),
            (
                "gcc -fprofile-use=x.gcda -c a.c -o a.o",
                NotCacheable::Profiling,
            ),
            (
                "gcc -g -gsplit-dwarf -c a.c -o a.o",
                NotCacheable::SplitDebugInfo,
            ),
            ("gcc -save-temps -c a.c -o a.o", NotCacheable::ExtraOutputs),
            (
                "gcc -fdump-tree-all -c a.c -o a.o",
                NotCacheable::ExtraOutputs,
            ),
            ("gcc -c a.c -o -", NotCacheable::OutputToStdout),
            ("gcc a.c -o a", NotCacheable::NotACompile),
        ] {
            assert_eq!(key_of(line, "/p", SRC), Err(why), "{line}");
        }
    }

    #[test]
    fn a_key_is_64_hex_digits() {
        let key = key_of("gcc -c a.c", "/p", SRC).unwrap();
        let hex = key.hex();
        assert_eq!(hex.len(), 64);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(u8::from_str_radix(&hex[..2], 16).unwrap(), key.first_byte());
    }
}
