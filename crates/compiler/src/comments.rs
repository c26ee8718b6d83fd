//! Whether a compile's diagnostics depend on the source's comments, and so how the
//! client preprocesses it.
//!
//! gcc's `-Wimplicit-fallthrough` (levels 1 to 4; `-Wextra` turns on level 3) accepts a
//! `/* FALLTHROUGH */` comment as the marker of an intended fall-through. A plain `-E`
//! drops every comment, so the server's compile warns where a local one does not, and
//! fails under `-Werror`. (The other warning about comments, `-Wcomment`, comes from
//! the preprocessor, which runs here with the user's options and warns as a local
//! compile would.) gcc's `-fdirectives-only` keeps comments and macros and expands only
//! the includes and conditionals; the server's compile then sees what a local one does
//! and gives the same diagnostics, at the cost of a larger preprocessed text. (`-C`
//! keeps comments too, but a directive after a comment on its line, such as
//! `/* x */ #endif`, is then not obeyed.)
//!
//! `-fdirectives-only` leaves a mark in the object, though: gcc records its switches in
//! the debug information's producer string, and this is one of them. Such a compile
//! (debug information, without `-gno-record-gcc-switches`) can have either the local
//! object or the local diagnostics from a server, not both, so it stays here.
//!
//! clang's fall-through warning ignores comments: for clang the text is always fully
//! expanded.

use crate::rules::LocalReason;

/// How the client preprocesses a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preprocessing {
    /// `-E`: macros expanded, comments dropped (what distcc does).
    #[default]
    Expanded,
    /// `-E -fdirectives-only`, and `-fdirectives-only` on the server's command line:
    /// comments and macros reach the real compile.
    DirectivesOnly,
}

/// What [`decide`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Distribute, preprocessed this way.
    Distribute(Preprocessing),
    /// Compile here.
    Local(LocalReason),
}

/// Whether `-Wimplicit-fallthrough` is on at a level that accepts comments.
fn fallthrough_reads_comments(argv: &[String]) -> bool {
    // gcc: an explicit -W[no-]implicit-fallthrough wins over -Wextra whatever the order,
    // and -Werror=implicit-fallthrough turns the warning on.
    let mut extra = false;
    let mut explicit = None;
    for a in argv.iter().skip(1).map(String::as_str) {
        let level = a
            .strip_prefix("-Wimplicit-fallthrough=")
            .or_else(|| a.strip_prefix("-Werror=implicit-fallthrough="));
        match a {
            "-w" => return false,
            "-Wextra" | "-W" => extra = true,
            "-Wno-extra" => extra = false,
            "-Wimplicit-fallthrough" | "-Werror=implicit-fallthrough" => explicit = Some(true),
            "-Wno-implicit-fallthrough" => explicit = Some(false),
            // Level 0 is off; level 5 accepts only attributes, never comments.
            _ => {
                if let Some(level) = level {
                    explicit = Some(matches!(level, "1" | "2" | "3" | "4"));
                }
            }
        }
    }
    explicit.unwrap_or(extra)
}

/// Whether gcc records its switches in the object: debug information is on (the last
/// `-g…` level is not `-g0`) and `-gno-record-gcc-switches` is not in force.
fn records_switches(argv: &[String]) -> bool {
    let (mut debug, mut record) = (false, true);
    for a in argv.iter().skip(1).map(String::as_str) {
        match a {
            "-g0" | "-ggdb0" | "-gstabs0" => debug = false,
            "-grecord-gcc-switches" => record = true,
            "-gno-record-gcc-switches" => record = false,
            // Options that start with -g but ask for no debug information.
            "-gsplit-dwarf" | "-gz" | "-gcolumn-info" | "-gno-column-info" | "-gstrict-dwarf"
            | "-gno-strict-dwarf" | "-gdescribe-dies" | "-gno-describe-dies" => {}
            _ if a.starts_with("-gz=")
                || a.starts_with("-gno-")
                || a.starts_with("-gdwarf-")
                    && !matches!(a, "-gdwarf-2" | "-gdwarf-3" | "-gdwarf-4" | "-gdwarf-5") => {}
            _ if a.starts_with("-g") => debug = true,
            _ => {}
        }
    }
    debug && record
}

/// Whether `compiler` (argv[0]) is clang rather than gcc.
fn is_clang(compiler: &str) -> bool {
    compiler
        .rsplit('/')
        .next()
        .is_some_and(|name| name.contains("clang"))
}

/// How to preprocess the distributable compile `argv` (already classified), or why it
/// must stay here.
pub fn decide(argv: &[String]) -> Decision {
    let Some(compiler) = argv.first() else {
        return Decision::Distribute(Preprocessing::Expanded);
    };
    if is_clang(compiler) || !fallthrough_reads_comments(argv) {
        return Decision::Distribute(Preprocessing::Expanded);
    }
    if records_switches(argv) {
        return Decision::Local(LocalReason::CommentDiagnostics(
            "-Wimplicit-fallthrough with debug information that records gcc's switches".into(),
        ));
    }
    Decision::Distribute(Preprocessing::DirectivesOnly)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(cmd: &str) -> Vec<String> {
        cmd.split_whitespace().map(str::to_string).collect()
    }

    fn decided(cmd: &str) -> Decision {
        decide(&argv(cmd))
    }

    const EXPANDED: Decision = Decision::Distribute(Preprocessing::Expanded);
    const DIRECTIVES: Decision = Decision::Distribute(Preprocessing::DirectivesOnly);

    #[test]
    fn a_fall_through_warning_keeps_the_comments_when_no_switches_are_recorded() {
        for cmd in [
            "gcc -O2 -Wextra -c a.c",
            "gcc -W -c a.c",
            "gcc -Wimplicit-fallthrough -c a.c",
            "gcc -Wimplicit-fallthrough=3 -c a.c",
            "gcc -Werror=implicit-fallthrough -c a.c",
            "gcc -Wno-implicit-fallthrough -Werror=implicit-fallthrough=2 -c a.c",
            "/usr/bin/x86_64-linux-gnu-gcc-12 -O2 -Wall -Wextra -c a.c",
            "g++ -Wextra -c a.cc",
            "gcc -g -gno-record-gcc-switches -Wextra -c a.c",
            "gcc -g -Wextra -g0 -c a.c",
            "gcc -gz -Wextra -c a.c",
        ] {
            assert_eq!(decided(cmd), DIRECTIVES, "{cmd}");
        }
    }

    #[test]
    fn without_it_or_with_clang_the_text_is_expanded() {
        for cmd in [
            "gcc -O2 -c a.c",
            "gcc -O2 -Wall -c a.c",
            "gcc -g -Wall -Werror -c a.c",
            "gcc -Wextra -Wno-implicit-fallthrough -c a.c",
            "gcc -Wno-implicit-fallthrough -Wextra -c a.c",
            "gcc -Wextra -Wimplicit-fallthrough=5 -c a.c",
            "gcc -Wimplicit-fallthrough=0 -c a.c",
            "gcc -Wall -Wextra -w -c a.c",
            "clang -Wall -Wextra -c a.c",
            "/opt/llvm/bin/clang-17 -g -Wextra -c a.c",
        ] {
            assert_eq!(decided(cmd), EXPANDED, "{cmd}");
        }
    }

    #[test]
    fn with_switches_recorded_in_debug_information_it_stays_here() {
        for cmd in [
            "gcc -g -O2 -Wall -Wextra -c a.c",
            "gcc -ggdb3 -Wextra -c a.c",
            "gcc -gdwarf-4 -Wimplicit-fallthrough -c a.c",
            "gcc -g0 -g -Wextra -c a.c",
            "gcc -gno-record-gcc-switches -grecord-gcc-switches -g -Wextra -c a.c",
        ] {
            assert!(
                matches!(
                    decided(cmd),
                    Decision::Local(LocalReason::CommentDiagnostics(_))
                ),
                "{cmd}"
            );
        }
    }
}
