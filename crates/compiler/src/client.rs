//! The client's two rewrites for protocols 1 and 2: the local preprocessor command, and the
//! command sent to the server.

use crate::comments::Preprocessing;
use crate::options::takes_separate_value;
use crate::scan::{ArgForm, CompileJob};

/// The command that preprocesses `job` locally, writing the preprocessed text to stdout.
///
/// As distcc does (`src/cpp.c`), the output option is removed and `-c`/`-S` become `-E`;
/// dependency options stay, so the `.d` file is written here, by the preprocessor. Unlike
/// distcc, when a dependency file is requested the command also names it and its target
/// explicitly (`-MF`, `-MQ`) unless the user already did: with `-E` and no `-o`, gcc would
/// otherwise write `./x.d` with target `x.o` for `-MD -o obj/x.o` (notes §3.3).
pub fn local_cpp_argv(argv: &[String], job: &CompileJob) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len() + 4);
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        if let Some(pos) = job.output_arg.filter(|p| p.index == i) {
            if pos.form == ArgForm::Separate {
                i += 1;
            }
        } else if i > 0 && (a == "-c" || a == "-S") {
            out.push("-E".to_string());
            if job.preprocessing == Preprocessing::DirectivesOnly {
                out.push("-fdirectives-only".to_string());
            }
        } else {
            out.push(a.clone());
            if i > 0
                && takes_separate_value(a)
                && let Some(value) = argv.get(i + 1)
            {
                out.push(value.clone());
                i += 1;
            }
        }
        i += 1;
    }
    if let Some(dep_file) = job.dep_file() {
        if job.deps.file.is_none() {
            out.push("-MF".to_string());
            out.push(dep_file);
        }
        if job.deps.targets.is_empty() {
            out.push("-MQ".to_string());
            out.push(job.output.clone());
        }
    }
    out
}

/// Options, written alone, that are removed together with their value.
const STRIP_WITH_VALUE: &[&str] = &[
    "-D",
    "-I",
    "-U",
    "-L",
    "-l",
    "-MF",
    "-MT",
    "-MQ",
    "-include",
    "-imacros",
    "-iprefix",
    "-iwithprefix",
    "-isystem",
    "-iwithprefixbefore",
    "-idirafter",
    "-iquote",
    "-include-pch",
    "-ivfsoverlay",
    "-Xpreprocessor",
];

/// Prefixes of single arguments that are removed.
const STRIP_JOINED: &[&str] = &[
    "-Wp,",
    "-Wl,",
    "-D",
    "-U",
    "-I",
    "-l",
    "-L",
    "-MF",
    "-MT",
    "-MQ",
    "-isystem",
    "-stdlib",
    "-include",
    "-imacros",
    "-iprefix",
    "-iwithprefix",
    "-idirafter",
    "-iquote",
];

/// Options removed on their own.
const STRIP_ALONE: &[&str] = &[
    "-undef",
    "-nostdinc",
    "-nostdinc++",
    "-MD",
    "-MMD",
    "-MG",
    "-MP",
];

/// The command to send to a protocol 1/2 server: argv without the options that only
/// matter to the preprocessor or the linker, which already ran (or will run) here.
///
/// This is distcc's `dcc_strip_local_args` list, plus the joined forms of the include
/// options and clang's `-include-pch`/`-ivfsoverlay`, so that the result passes
/// [`crate::check_server_safety`] for protocols 1 and 2. Everything else (`-g -O2 -W… -f…`)
/// is sent verbatim.
pub fn strip_local_args(argv: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut i = 0;
    while i < argv.len() {
        let a = argv[i].as_str();
        if i == 0 {
            out.push(a.to_string());
        } else if STRIP_WITH_VALUE.contains(&a) {
            i += 1;
        } else if STRIP_ALONE.contains(&a) || STRIP_JOINED.iter().any(|p| a.starts_with(p)) {
            // dropped
        } else {
            out.push(a.to_string());
            if takes_separate_value(a)
                && let Some(value) = argv.get(i + 1)
            {
                out.push(value.clone());
                i += 1;
            }
        }
        i += 1;
    }
    out
}

/// The command sent to a protocol 1/2 server for `job`: [`strip_local_args`], and
/// `-fdirectives-only` when the text was preprocessed that way (gcc then takes the
/// `.i` input as preprocessed with it: the macros are expanded there).
pub fn server_argv(argv: &[String], job: &CompileJob) -> Vec<String> {
    let mut out = strip_local_args(argv);
    if job.preprocessing == Preprocessing::DirectivesOnly {
        out.push("-fdirectives-only".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::scan_args;
    use crate::server::check_server_safety;

    fn argv(cmd: &str) -> Vec<String> {
        cmd.split_whitespace().map(str::to_string).collect()
    }

    fn cpp(cmd: &str) -> String {
        let args = argv(cmd);
        let job = scan_args(&args).job().cloned().expect("distributable");
        local_cpp_argv(&args, &job).join(" ")
    }

    #[test]
    fn a_fall_through_warning_keeps_comments_on_both_sides() {
        let args = argv("gcc -O2 -Wextra -c ft.c -o ft.o");
        let job = crate::scan::scan_client_args(&args)
            .job()
            .cloned()
            .expect("distributable");
        assert_eq!(job.preprocessing, Preprocessing::DirectivesOnly);
        assert_eq!(
            local_cpp_argv(&args, &job).join(" "),
            "gcc -O2 -Wextra -E -fdirectives-only ft.c"
        );
        let sent = server_argv(&args, &job);
        assert_eq!(
            sent.join(" "),
            "gcc -O2 -Wextra -c ft.c -o ft.o -fdirectives-only"
        );
        assert!(check_server_safety(&sent, 2).is_ok());
        // A server classifies what it is sent without the client's decision.
        assert!(
            scan_args(&argv("gcc -g -Wextra -c ft.c -o ft.o"))
                .job()
                .is_some()
        );
        let plain = scan_args(&argv("gcc -O2 -c ft.c")).job().cloned().unwrap();
        assert_eq!(
            server_argv(&argv("gcc -O2 -c ft.c"), &plain).join(" "),
            "gcc -O2 -c ft.c"
        );
    }

    #[test]
    fn local_preprocessor_command() {
        let cases = [
            ("gcc -c hello.c -o hello.o", "gcc -E hello.c"),
            ("gcc -c hello.c", "gcc -E hello.c"),
            ("gcc -S -c -ohello.s hello.c", "gcc -E -E hello.c"),
            ("gcc -x c -c foo -DX -Iinc", "gcc -x c -E foo -DX -Iinc"),
            // distcc's bug: the .d file belongs next to the object, with the object as target.
            (
                "gcc -MD -c src/foo.c -o obj/foo.o",
                "gcc -MD -E src/foo.c -MF obj/foo.d -MQ obj/foo.o",
            ),
            (
                "gcc -MD -MF foo.d -c foo.c -o obj/foo.o",
                "gcc -MD -MF foo.d -E foo.c -MQ obj/foo.o",
            ),
            (
                "gcc -MMD -MT t -c foo.c -o obj/foo.o",
                "gcc -MMD -MT t -E foo.c -MF obj/foo.d",
            ),
            (
                "gcc -DHAVE_CONFIG_H -I. -g -O2 -MT foo.o -MD -MP -MF .deps/foo.Tpo -c -o foo.o foo.c",
                "gcc -DHAVE_CONFIG_H -I. -g -O2 -MT foo.o -MD -MP -MF .deps/foo.Tpo -E foo.c",
            ),
            // An option value that happens to be -c is not the -c option.
            ("gcc -D -c -c a.c", "gcc -D -c -E a.c"),
        ];
        for (cmd, want) in cases {
            assert_eq!(cpp(cmd), want, "{cmd}");
        }
    }

    #[test]
    fn stripping_matches_distcc() {
        // distcc's StripArgs_Case
        let cases = [
            ("gcc -c hello.c", "gcc -c hello.c"),
            ("cc -Dhello hello.c -c", "cc hello.c -c"),
            (
                "gcc -g -O2 -W -Wall -Wshadow -Wpointer-arith -Wcast-align -c -o h_strip.o h_strip.c",
                "gcc -g -O2 -W -Wall -Wshadow -Wpointer-arith -Wcast-align -c -o h_strip.o h_strip.c",
            ),
            ("cc -c -DDEBUG -DFOO=23 -D BAR -c foo.c", "cc -c -c foo.c"),
            (
                "cc -c -I./foo -U BAR -MD -MF foo.d -MT foo.o -c foo.c",
                "cc -c -c foo.c",
            ),
            (
                "gcc -c -include x.h -imacros y.h -isystem /s -idirafter /d foo.c",
                "gcc -c foo.c",
            ),
            (
                "gcc -Wp,-MD,x.d -Wl,-rpath,/x -lm -L/usr/lib -c foo.c",
                "gcc -c foo.c",
            ),
            (
                "gcc -undef -nostdinc -nostdinc++ -MMD -MG -MP -stdlib=libc++ -c foo.c",
                "gcc -c foo.c",
            ),
            (
                "gcc -Xpreprocessor -DX -Xlinker -y -c foo.c",
                "gcc -Xlinker -y -c foo.c",
            ),
            ("gcc -o -DX -c foo.c", "gcc -o -DX -c foo.c"),
        ];
        for (cmd, want) in cases {
            assert_eq!(strip_local_args(&argv(cmd)).join(" "), want, "{cmd}");
        }
    }

    #[test]
    fn stripped_real_commands_pass_the_server_checks() {
        let commands = [
            "/usr/bin/c++ -DFOO -I/x/include -O3 -DNDEBUG -std=gnu++17 -MD -MT a.o -MF a.o.d -o a.o -c /abs/a.cpp",
            "gcc -DHAVE_CONFIG_H -I. -g -O2 -MT foo.o -MD -MP -MF .deps/foo.Tpo -c -o foo.o foo.c",
            "gcc -Wp,-MMD,.x.o.d -nostdinc -isystem /usr/lib/gcc/include -include ./kconfig.h -D__KERNEL__ -O2 -c -o x.o x.c",
            "clang -iquote src -Iinclude -include-pch pch.h.pch -c a.c",
        ];
        for cmd in commands {
            let stripped = strip_local_args(&argv(cmd));
            for protocol in [1, 2] {
                assert_eq!(check_server_safety(&stripped, protocol), Ok(()), "{cmd}");
            }
            assert!(scan_args(&stripped).job().is_some(), "{cmd}");
        }
    }
}
