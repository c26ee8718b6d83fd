//! Refusing arguments that would let a remote client choose what runs, or what is read or
//! written, on the server.
//!
//! distccd blocks only `-fplugin=` and `-specs=` (notes §1.8–1.9) and its authors call the
//! approach whack-a-mole. ccfarmd blocks every option family below, says why, and relies on
//! a sandbox for the rest. Every argument is checked as if it were an option, including the
//! values of other options: that refuses a few absurd but harmless commands (`-D @x`) in
//! exchange for not having to trust the option-value table.
//!
//! Deliberately allowed: ordinary code-generation and warning flags; `-D`/`-U`/`-I` (inert
//! when compiling preprocessed text, re-rooted in pump mode); `-Wl,`, `-l`, `-L` (no link
//! runs under `-c`); `--sysroot`/`-isysroot` (inert on preprocessed text; re-rooted in pump
//! mode; cross builds pass them on every line); side files that land next to the
//! temporary output, i.e. inside the job directory (`-fstack-usage`, `-fcallgraph-info`,
//! `-gsplit-dwarf`, `-fdump-*` without `=path`).

use std::fmt;

use crate::rules::is_profiling;

/// Why an argument is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusalKind {
    /// The request has no command at all.
    EmptyCommand,
    /// The protocol version is not 1, 2 or 3.
    UnsupportedProtocol,
    /// An argument contains a NUL byte.
    NulByte,
    /// `argv[0]` is a relative path, a non-normalised absolute path, or an option.
    CompilerPath,
    /// `-fplugin=`, `-fplugin-arg-…`, `-fpass-plugin=`, `-iplugindir=`.
    Plugin,
    /// `-specs=`, `--specs`, clang's `--config`.
    SpecsOrConfig,
    /// `-B`, `--prefix`, `-ccc-…`, `--gcc-toolchain`, `-resource-dir`, `-fuse-ld=/path`, ...
    ProgramPrefix,
    /// `-wrapper`.
    Wrapper,
    /// `@file`.
    ResponseFile,
    /// `-Xassembler`, `-Xpreprocessor`, `-Xlinker`, `-Xclang`, `-mllvm`, `-Wp,`, ...
    PassThrough,
    /// `-Wa,` items that read or write files (`-a…`, `--MD`, `-o`, `-I`, `@file`).
    AssemblerFileOption,
    /// Options that write to a path of the client's choosing (`-dumpdir`, `-aux-info`,
    /// `-fdump-…=path`, `-MJ`, `--output`, ...).
    WritesChosenPath,
    /// `-save-temps`.
    SaveTemps,
    /// `-fprofile-*`, `--coverage`, `-ftest-coverage`, `-fauto-profile`, ...
    Profiling,
    /// Options that read a server file of the client's choosing.
    ReadsChosenFile,
    /// `-M…` options a stock client never sends in this protocol.
    DependencyOutput,
    /// C++/clang modules (`-fmodules`, `-fmodule-mapper=`, ...).
    Modules,
}

impl fmt::Display for RefusalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RefusalKind::*;
        f.write_str(match self {
            EmptyCommand => "the request contains no command",
            UnsupportedProtocol => "only distcc protocols 1, 2 and 3 exist",
            NulByte => "an argument contains a NUL byte, which no program can receive",
            CompilerPath => {
                "the compiler must be a bare name or a normalised absolute path; anything else would run a program the client chose"
            }
            Plugin => "it loads a compiler plugin chosen by the client",
            SpecsOrConfig => {
                "a specs or config file can add any option and run any program, and it names a file the client chose"
            }
            ProgramPrefix => {
                "it tells the driver where to find the programs it runs (cc1, as, ld), so the client would choose what runs"
            }
            Wrapper => "it runs every compiler subprogram under a program chosen by the client",
            ResponseFile => "gcc would read a server file chosen by the client into the command line",
            PassThrough => {
                "it passes arguments straight to an inner tool, where these checks cannot see them"
            }
            AssemblerFileOption => "it makes the assembler read or write a file chosen by the client",
            WritesChosenPath => {
                "it writes a file at a path chosen by the client, outside the job directory"
            }
            SaveTemps => "it leaves intermediate files on the server, possibly outside the job directory",
            Profiling => "it reads or writes profile data at paths outside the job directory",
            ReadsChosenFile => "it reads a server file chosen by the client",
            DependencyOutput => {
                "a distcc client strips dependency options before sending (protocols 1 and 2), so here they can only be an attempt to write a file"
            }
            Modules => {
                "modules read and write module files outside the job directory (and `-fmodule-mapper=|cmd` runs a program)"
            }
        })
    }
}

/// A refused request: which argument, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ccfarmd refuses `{argument}`: {kind}")]
pub struct Refusal {
    /// Index of the offending argument in argv; `None` when the refusal is about the
    /// request as a whole (empty command, protocol).
    pub index: Option<usize>,
    /// The offending argument, verbatim.
    pub argument: String,
    /// Why it is refused.
    pub kind: RefusalKind,
}

/// Decide whether a client's command may run on this server at all.
///
/// Check the argv exactly as received from the client, before [`crate::rewrite_for_server`]
/// or [`crate::rewrite_for_pump`] adds the server's own options. `protocol` is the distcc
/// protocol version of the request: in protocols 1 and 2 the client has already
/// preprocessed and stripped its preprocessor options, so `-include`, `-imacros` and any
/// `-M…` option can only be hostile; in protocol 3 (pump) they are legitimate, and the
/// rewrite replaces `-MF`.
///
/// The compiler itself is only checked for shape here: allow-listing names and paths is
/// the daemon's job (see [`crate::compiler_name`]).
pub fn check_server_safety(argv: &[String], protocol: u32) -> Result<(), Refusal> {
    let whole = |argument: String, kind| Refusal {
        index: None,
        argument,
        kind,
    };
    if !(1..=3).contains(&protocol) {
        return Err(whole(
            format!("protocol {protocol}"),
            RefusalKind::UnsupportedProtocol,
        ));
    }
    let Some(compiler) = argv.first() else {
        return Err(whole(String::new(), RefusalKind::EmptyCommand));
    };
    for (index, arg) in argv.iter().enumerate() {
        let kind = if arg.contains('\0') {
            Some(RefusalKind::NulByte)
        } else if index == 0 {
            (!compiler_path_ok(compiler)).then_some(RefusalKind::CompilerPath)
        } else {
            check_arg(arg, protocol)
        };
        if let Some(kind) = kind {
            return Err(Refusal {
                index: Some(index),
                argument: arg.clone(),
                kind,
            });
        }
    }
    Ok(())
}

/// A bare name (`gcc`), or an absolute path with no `.`/`..`/empty components.
fn compiler_path_ok(c: &str) -> bool {
    if c.is_empty() || c == "." || c == ".." || c.starts_with('-') || c.contains('\\') {
        return false;
    }
    if !c.contains('/') {
        return true;
    }
    match c.strip_prefix('/') {
        Some(rest) => rest
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".."),
        None => false,
    }
}

/// Long options (after `--`) that are dangerous, with why. gcc's driver also accepts
/// unambiguous abbreviations of long options, so any prefix of these is refused too.
const DANGEROUS_LONG: &[(&str, RefusalKind)] = &[
    ("output", RefusalKind::WritesChosenPath),
    ("dumpbase", RefusalKind::WritesChosenPath),
    ("dumpdir", RefusalKind::WritesChosenPath),
    ("serialize-diagnostics", RefusalKind::WritesChosenPath),
    ("save-temps", RefusalKind::SaveTemps),
    ("specs", RefusalKind::SpecsOrConfig),
    ("config", RefusalKind::SpecsOrConfig),
    ("prefix", RefusalKind::ProgramPrefix),
    ("gcc-toolchain", RefusalKind::ProgramPrefix),
    ("gcc-install-dir", RefusalKind::ProgramPrefix),
    ("ld-path", RefusalKind::ProgramPrefix),
    ("ptxas-path", RefusalKind::ProgramPrefix),
    ("for-assembler", RefusalKind::PassThrough),
    ("for-linker", RefusalKind::PassThrough),
    ("include", RefusalKind::ReadsChosenFile),
    ("imacros", RefusalKind::ReadsChosenFile),
    ("cuda-path", RefusalKind::ReadsChosenFile),
    ("coverage", RefusalKind::Profiling),
    ("dependencies", RefusalKind::DependencyOutput),
    ("user-dependencies", RefusalKind::DependencyOutput),
    ("write-dependencies", RefusalKind::DependencyOutput),
    ("write-user-dependencies", RefusalKind::DependencyOutput),
];

/// Prefixes of options that write to a path the client chooses.
const WRITES_CHOSEN_PATH: &[&str] = &[
    "-dumpdir",
    "-dumpbase",
    "-aux-info",
    "-time=",
    "-ftime-trace=",
    "-foptimization-record-file",
    "-fcrash-diagnostics-dir",
    "-fproc-stat-report=",
    "-fdiagnostics-add-output",
    "-fdiagnostics-set-output",
    "-fltrans-output-list",
    "-fresolution",
    "-MJ",
];

/// Prefixes of options that read a server file the client chooses.
const READS_CHOSEN_FILE: &[&str] = &[
    "-fsanitize-blacklist",
    "-fsanitize-ignorelist",
    "-fsanitize-coverage-allowlist",
    "-fsanitize-coverage-ignorelist",
    "-fsanitize-coverage-whitelist",
    "-fsanitize-coverage-blacklist",
    "-fxray-attr-list",
    "-fxray-always-instrument",
    "-fxray-never-instrument",
    "-fself-test",
    "-fembed-offload-object",
    "-include-pch",
    "-ivfsoverlay",
];

/// Prefixes of options that choose which programs the driver runs.
const PROGRAM_PREFIX: &[&str] = &["-B", "-ccc-", "-gcc-toolchain", "-resource-dir"];

fn check_arg(a: &str, protocol: u32) -> Option<RefusalKind> {
    use RefusalKind::*;
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| a.starts_with(p));
    if a.starts_with('@') {
        return Some(ResponseFile);
    }
    if let Some(long) = a.strip_prefix("--") {
        let name = long.split('=').next().unwrap_or(long);
        if !name.is_empty()
            && let Some((_, kind)) = DANGEROUS_LONG.iter().find(|(n, _)| n.starts_with(name))
        {
            return Some(*kind);
        }
        // gcc maps many `--name` spellings onto `-name`; judge that form too.
        return check_arg(&a[1..], protocol);
    }
    if a.starts_with("-fno-") {
        // Negations turn features off; none of them loads, reads or writes anything.
        return None;
    }
    if starts(&["-fplugin", "-fpass-plugin", "-iplugindir"]) {
        return Some(Plugin);
    }
    if a.starts_with("-specs") {
        return Some(SpecsOrConfig);
    }
    if starts(PROGRAM_PREFIX) || (a.starts_with("-fuse-ld=") && a.contains('/')) {
        return Some(ProgramPrefix);
    }
    if a.starts_with("-wrapper") {
        return Some(Wrapper);
    }
    if a.starts_with("-X") || a.starts_with("-mllvm") || a.starts_with("-Wp,") {
        return Some(PassThrough);
    }
    if let Some(items) = a.strip_prefix("-Wa,") {
        return items
            .split(',')
            .any(assembler_item_touches_files)
            .then_some(AssemblerFileOption);
    }
    if starts(WRITES_CHOSEN_PATH)
        || ((a.starts_with("-fdump-") || a.starts_with("-fopt-info")) && a.contains('='))
    {
        return Some(WritesChosenPath);
    }
    if a.starts_with("-save-temps") {
        return Some(SaveTemps);
    }
    if is_profiling(a) {
        return Some(Profiling);
    }
    if starts(READS_CHOSEN_FILE) {
        return Some(ReadsChosenFile);
    }
    if a.starts_with("-fmodule") || a.starts_with("-fprebuilt-module") || a == "-fcxx-modules" {
        return Some(Modules);
    }
    if protocol < 3 && (a.starts_with("-include") || a.starts_with("-imacros")) {
        return Some(ReadsChosenFile);
    }
    if a.starts_with("-M") && (protocol < 3 || !pump_dependency_option(a)) {
        return Some(DependencyOutput);
    }
    None
}

/// `-M…` options a pump client legitimately sends; the pump rewrite drops `-MF`, `-MT` and
/// `-MQ` and supplies its own `-MF`.
fn pump_dependency_option(a: &str) -> bool {
    matches!(a, "-MD" | "-MMD" | "-MG" | "-MP")
        || a.starts_with("-MF")
        || a.starts_with("-MT")
        || a.starts_with("-MQ")
}

/// GNU as options that read or write files: listings (`-a…[=file]`), dependency output
/// (`--MD file`), the output itself (`-o`), include paths for `.include` (`-I`), response
/// files (`@file`).
fn assembler_item_touches_files(item: &str) -> bool {
    item.starts_with("-a")
        || item.starts_with("--MD")
        || item == "-MD"
        || item.starts_with("-o")
        || item.starts_with("-I")
        || item.starts_with('@')
}

#[cfg(test)]
#[path = "safety_tests.rs"]
mod tests;
