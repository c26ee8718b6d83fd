//! Shared knowledge about how gcc and clang spell their options.
//!
//! The one fact every walker over an argv needs is which options swallow the *next*
//! argument: without it, the `foo.h` in `-include foo.h` or the `x.o` in `-MT x.o` would be
//! mistaken for an input or an output.

/// Options that, written alone, take the following argument as their value.
///
/// gcc accepts most of these joined as well (`-Idir`, `-DX`); the joined forms need no
/// special care because they are a single argument. The list covers gcc's driver and
/// preprocessor options and the clang driver options that real build systems emit.
const SEPARATE_VALUE: &[&str] = &[
    "-o",
    "-x",
    "-D",
    "-U",
    "-I",
    "-A",
    "-L",
    "-l",
    "-u",
    "-T",
    "-z",
    "-e",
    "-B",
    "-F",
    "-MF",
    "-MT",
    "-MQ",
    "-MJ",
    "-include",
    "-imacros",
    "-idirafter",
    "-iprefix",
    "-iwithprefix",
    "-iwithprefixbefore",
    "-isystem",
    "-iquote",
    "-isysroot",
    "-imultilib",
    "-imultiarch",
    "-iframework",
    "-iwithsysroot",
    "-isystem-after",
    "-ivfsoverlay",
    "-include-pch",
    "-Xpreprocessor",
    "-Xassembler",
    "-Xlinker",
    "-Xclang",
    "-Xanalyzer",
    "-mllvm",
    "-aux-info",
    "-dumpbase",
    "-dumpbase-ext",
    "-dumpdir",
    "-wrapper",
    "-specs",
    "--specs",
    "--sysroot",
    "--param",
    "-target",
    "-arch",
    "-framework",
    "-gcc-toolchain",
    "-resource-dir",
    "-install_name",
    "--output",
    "--language",
    "--include",
    "--imacros",
    "--prefix",
    "--dumpbase",
    "--dumpdir",
];

/// Whether `opt`, written as a whole argument, consumes the argument after it.
pub(crate) fn takes_separate_value(opt: &str) -> bool {
    SEPARATE_VALUE.contains(&opt) || opt.starts_with("-Xarch_")
}

/// Options whose value can be a file or directory that a pump-mode server must move under
/// its job root, as (separate spelling, joined prefix) pairs.
///
/// Longest spelling first, so that `-iwithprefixbefore/x` is not read as `-iwithprefix`
/// with value `before/x` (distcc's table has that bug).
pub(crate) const PATH_OPTIONS: &[(&str, &str)] = &[
    ("-iwithprefixbefore", "-iwithprefixbefore"),
    ("-iwithprefix", "-iwithprefix"),
    ("-idirafter", "-idirafter"),
    ("-isysroot", "-isysroot"),
    ("-isystem", "-isystem"),
    ("-imacros", "-imacros"),
    ("-include", "-include"),
    ("-iprefix", "-iprefix"),
    ("-iquote", "-iquote"),
    ("--sysroot", "--sysroot="),
    ("-I", "-I"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separate_value_options() {
        for opt in ["-o", "-MT", "-include", "-Xarch_x86_64", "--sysroot", "-x"] {
            assert!(takes_separate_value(opt), "{opt}");
        }
        for opt in ["-c", "-S", "-O2", "-Ifoo", "-ofoo", "-MD", "-g"] {
            assert!(!takes_separate_value(opt), "{opt}");
        }
    }

    #[test]
    fn path_options_longest_first() {
        for (i, (_, a)) in PATH_OPTIONS.iter().enumerate() {
            for (_, b) in &PATH_OPTIONS[i + 1..] {
                assert!(
                    !b.starts_with(a),
                    "{a} is a prefix of {b} and must come after it"
                );
            }
        }
    }
}
