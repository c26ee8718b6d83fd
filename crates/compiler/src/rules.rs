//! Why a command line stays on this machine, and which single options force that.

use std::fmt;

/// Why a command must be run locally, unchanged.
///
/// One variant per rule. The first group comes from distcc's `dcc_scan_args` (notes §3.1);
/// the rest are ccfarm's additions, each fixing a case where distcc distributes a job whose
/// remote result would differ from a local one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocalReason {
    /// `argv` is empty, or `argv[0]` is an option rather than a compiler.
    MissingCompiler,
    /// An unexpanded `@file`; its contents could change everything.
    ResponseFile(String),
    /// `-E`: preprocessing only (distcc gives it a local cpp slot).
    PreprocessOnly,
    /// `-M`, `-MM` or any `-M…` other than `-MD -MMD -MG -MP -MF -MT -MQ`.
    DependencyOnly(String),
    /// `-march=native`, `-mtune=native`, `-mcpu=native`.
    NativeArch(String),
    /// `-Wa,` (or `-Xassembler`) asking for a listing (`-a…`) or `--MD`.
    AssemblerListing(String),
    /// Profile generation or use: `-fprofile-*`, `--coverage`, `-ftest-coverage`, ...
    Profiling(String),
    /// `-frepo`.
    Frepo,
    /// `-dr…`: RTL dumps.
    Dr(String),
    /// `-specs=`: a specs file on this machine.
    Specs(String),
    /// `-x LANG` (or a suffix) naming a language other than the C family.
    UnsupportedLanguage(String),
    /// The source is assembler (`.s`, `.S`, `.sx`).
    AssemblerSource(String),
    /// The source is standard input (`-`).
    StdinSource,
    /// Neither `-c` nor `-S`: a link, or a plain driver call.
    NoCompileFlag,
    /// No source file.
    NoSource,
    /// More than one input file.
    MultipleSources {
        /// The first input.
        first: String,
        /// The second input.
        second: String,
    },
    /// More than one `-o`.
    MultipleOutputs {
        /// The first output.
        first: String,
        /// The second output.
        second: String,
    },
    /// An autoconf probe (`conftest.*`, `tmp.conftest.*`).
    Conftest(String),
    /// `-o -`.
    OutputToStdout,
    /// An object or library among the inputs of a compile.
    LinkerInput(String),
    /// An option that writes a side file next to the output (`-gsplit-dwarf`,
    /// `-fstack-usage`, `-fdump-*`, `-save-temps`, ...), which a server cannot send back.
    ExtraOutputFile(String),
    /// An option after which the compiler produces no object (`-fsyntax-only`, `--version`,
    /// `-print-*`, `-###`, ...).
    NoObjectFile(String),
    /// C++ or clang modules, which read module files built on this machine.
    Modules(String),
    /// A long option spelling (`--output`, `--language`, ...) that ccfarm does not rewrite.
    LongOptionAlias(String),
    /// An option that needs a value came last.
    MissingArgument(String),
    /// Diagnostics that read the source's comments, with an object that would record how
    /// it was preprocessed (see [`crate::comments`]).
    CommentDiagnostics(String),
}

impl fmt::Display for LocalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LocalReason::*;
        match self {
            MissingCompiler => write!(f, "no compiler named: argv[0] is missing or is an option"),
            ResponseFile(a) => write!(
                f,
                "`{a}` is an unexpanded response file, so the real command line is unknown"
            ),
            PreprocessOnly => write!(f, "`-E` only preprocesses, which always runs locally"),
            DependencyOnly(a) => write!(
                f,
                "`{a}` makes the preprocessor produce dependency information instead of compiling"
            ),
            NativeArch(a) => write!(
                f,
                "`{a}` targets the machine running the compiler, so it must be this machine"
            ),
            AssemblerListing(a) => write!(
                f,
                "`{a}` makes the assembler write a listing or dependency file that a server cannot send back"
            ),
            Profiling(a) => write!(
                f,
                "`{a}` reads or writes profile data files on the machine that compiles"
            ),
            Frepo => write!(f, "`-frepo` writes template repository (.rpo) files"),
            Dr(a) => write!(f, "`{a}` writes RTL dump files next to the output"),
            Specs(a) => write!(f, "`{a}` names a specs file that only this machine has"),
            UnsupportedLanguage(l) => write!(
                f,
                "language `{l}` is not distributed; only C, C++, Objective-C and Objective-C++ are"
            ),
            AssemblerSource(s) => {
                write!(f, "`{s}` is assembler source, which is assembled locally")
            }
            StdinSource => write!(f, "the source is read from standard input"),
            NoCompileFlag => write!(
                f,
                "neither `-c` nor `-S` is given, so this is a link or a plain driver call"
            ),
            NoSource => write!(f, "no source file was found on the command line"),
            MultipleSources { first, second } => write!(
                f,
                "more than one input (`{first}` and `{second}`); a remote job compiles exactly one"
            ),
            MultipleOutputs { first, second } => {
                write!(f, "more than one output (`{first}` and `{second}`)")
            }
            Conftest(s) => write!(
                f,
                "`{s}` is an autoconf probe, which must see this machine's compiler"
            ),
            OutputToStdout => write!(f, "`-o -` sends the output to standard output"),
            LinkerInput(s) => write!(
                f,
                "`{s}` is a linker input in a compile-only command; the local compiler decides what that means"
            ),
            ExtraOutputFile(a) => write!(
                f,
                "`{a}` writes a side file next to the output, which a server cannot send back"
            ),
            NoObjectFile(a) => write!(f, "`{a}` means the compiler produces no object file"),
            Modules(a) => write!(f, "`{a}` uses module files built on this machine"),
            LongOptionAlias(a) => write!(
                f,
                "`{a}` is a long option spelling that ccfarm does not interpret; use the short form to distribute"
            ),
            MissingArgument(a) => write!(f, "`{a}` is missing its value"),
            CommentDiagnostics(why) => write!(
                f,
                "{why}: a server gives either the local object or the local diagnostics, not both (add -gno-record-gcc-switches to distribute)"
            ),
        }
    }
}

/// Long option names (after `--`) that change the mode, the output or the inputs, or take a
/// separate value. ccfarm keeps them local rather than teaching every rewrite their forms.
const LONG_ALIASES: &[&str] = &[
    "output",
    "language",
    "compile",
    "assemble",
    "include",
    "imacros",
    "prefix",
    "include-directory",
    "include-directory-after",
    "include-prefix",
    "include-with-prefix",
    "include-with-prefix-before",
    "include-with-prefix-after",
    "define-macro",
    "undefine-macro",
    "assert",
    "for-assembler",
    "for-linker",
    "force-link",
    "library-directory",
    "entry",
    "write-dependencies",
    "write-user-dependencies",
    "print-missing-file-dependencies",
    "dumpbase",
    "dumpdir",
];

/// Whether a single option, on its own, keeps a command local; `None` if it does not.
///
/// `-E`, `-M…`, `-o`, `-x`, `-c`, `-S` and `-Xassembler` need context and are handled by the
/// scanner; everything else that matters is here.
pub(crate) fn option_forces_local(a: &str) -> Option<LocalReason> {
    use LocalReason::*;
    let owned = || a.to_string();
    if matches!(a, "-march=native" | "-mtune=native" | "-mcpu=native") {
        return Some(NativeArch(owned()));
    }
    if let Some(items) = a.strip_prefix("-Wa,") {
        // distcc: `strstr(a, ",-a") || strstr(a, "--MD")`.
        if items
            .split(',')
            .any(|item| item.starts_with("-a") || item.contains("--MD"))
        {
            return Some(AssemblerListing(owned()));
        }
        return None;
    }
    if is_profiling(a) {
        return Some(Profiling(owned()));
    }
    if a == "-frepo" {
        return Some(Frepo);
    }
    if a.starts_with("-dr") {
        return Some(Dr(owned()));
    }
    if a.starts_with("-specs") || a.starts_with("--specs") {
        return Some(Specs(owned()));
    }
    if is_no_object(a) {
        return Some(NoObjectFile(owned()));
    }
    if writes_side_file(a) {
        return Some(ExtraOutputFile(owned()));
    }
    if a.starts_with("-fmodule") || a == "-fcxx-modules" {
        return Some(Modules(owned()));
    }
    if let Some(long) = a.strip_prefix("--") {
        let name = long.split('=').next().unwrap_or(long);
        match name {
            "preprocess" => return Some(PreprocessOnly),
            "dependencies" | "user-dependencies" => return Some(DependencyOnly(owned())),
            _ if LONG_ALIASES.contains(&name) => return Some(LongOptionAlias(owned())),
            _ => {}
        }
    }
    None
}

/// Profile instrumentation or feedback: its data files live on the machine that compiles.
pub(crate) fn is_profiling(a: &str) -> bool {
    matches!(
        a,
        "--coverage" | "-ftest-coverage" | "-fbranch-probabilities"
    ) || a.starts_with("-fprofile-")
        || a.starts_with("-fauto-profile")
        || a.starts_with("-fcs-profile-generate")
}

/// Driver queries and checks after which no object file is written.
fn is_no_object(a: &str) -> bool {
    matches!(
        a,
        "-fsyntax-only"
            | "-###"
            | "--version"
            | "--target-help"
            | "-dumpversion"
            | "-dumpfullversion"
            | "-dumpmachine"
            | "-dumpspecs"
    ) || a.starts_with("--help")
        || a.starts_with("-print-")
        || a.starts_with("--print-")
}

/// Options that make the compiler write a file besides the output. On a server that file
/// would be left in the job directory and lost, so the local build would silently lack it.
fn writes_side_file(a: &str) -> bool {
    let harmless_dump = matches!(
        a,
        "-fdump-noaddr" | "-fdump-unnumbered" | "-fdump-unnumbered-links" | "-fdump-passes"
    );
    a.starts_with("-gsplit-dwarf")
        || a == "-fstack-usage"
        || a.starts_with("-fcallgraph-info")
        || (a.starts_with("-fdump-") && !harmless_dump)
        || a.starts_with("-save-temps")
        || a.starts_with("--save-temps")
        || a.starts_with("-aux-info")
        || a.starts_with("-dumpdir")
        || a.starts_with("-dumpbase")
        || a == "-ftime-trace"
        || a.starts_with("-ftime-trace=")
        || a.starts_with("-fsave-optimization-record")
        || a.starts_with("-foptimization-record-file")
        || (a.starts_with("-fopt-info") && a.contains('='))
        || a.starts_with("-fdiagnostics-format=sarif-file")
        || a.starts_with("-fdiagnostics-format=json-file")
        || a.starts_with("-fdiagnostics-add-output")
        || a.starts_with("-fdiagnostics-set-output")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_options() {
        let local = [
            "-march=native",
            "-mtune=native",
            "-mcpu=native",
            "-Wa,-alh,-a=foo.lst",
            "-Wa,--MD",
            "-fprofile-arcs",
            "-fprofile-generate=dir",
            "-fprofile-use",
            "-fauto-profile=x.afdo",
            "--coverage",
            "-ftest-coverage",
            "-frepo",
            "-dr",
            "-specs=foo.specs",
            "-fsyntax-only",
            "-print-file-name=libc.a",
            "-gsplit-dwarf",
            "-fstack-usage",
            "-fdump-tree-all",
            "-save-temps=obj",
            "-fmodules-ts",
            "--output=x.o",
            "--preprocess",
            "--user-dependencies",
        ];
        for a in local {
            assert!(option_forces_local(a).is_some(), "{a} should force local");
        }
        let fine = [
            "-march=x86-64-v3",
            "-mtune=generic",
            "-Wa,-xarch=v8",
            "-Wa,--noexecstack",
            "-O2",
            "-g",
            "-Wall",
            "-fPIC",
            "-fno-profile-arcs",
            "-fdump-noaddr",
            "-ftime-trace-granularity=10",
            "-pipe",
            "-std=c11",
            "--param=ssp-buffer-size=4",
            "--sysroot=/opt/sdk",
            "-fdiagnostics-color=always",
            "-dA",
        ];
        for a in fine {
            assert_eq!(option_forces_local(a), None, "{a} should be distributable");
        }
    }
}
