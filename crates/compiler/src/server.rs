//! What a compile server needs from a client's command line: is it safe to run here, and
//! how must it change to read the job's temporary input and write its temporary output.
//!
//! The intended order on the server is:
//! 1. [`check_server_safety`] on the argv exactly as received (before any rewriting, which
//!    adds options such as `-MF` that a client may not send);
//! 2. [`crate::scan_args`] on the same argv, refusing anything not distributable;
//! 3. [`rewrite_for_server`] (protocols 1 and 2) or [`rewrite_for_pump`] (protocol 3).
//!
//! These checks stop a client from *choosing* programs, plugins or file paths through
//! arguments. They cannot stop source text from reading server files (an
//! `asm(".incbin \"/etc/passwd\"")` in protocol 1/2, or `#include "/etc/passwd"` in pump
//! mode): the daemon must still run compilers in a sandbox that only sees the job
//! directory and the toolchain.

mod pump;
mod safety;

pub use pump::{PumpArgs, fix_dotd, rewrite_for_pump};
pub use safety::{Refusal, RefusalKind, check_server_safety};

use crate::lang::basename;
use crate::scan::{ArgForm, CompileJob};

/// The bare program name of a compiler path (`/usr/bin/gcc-12` → `gcc-12`), for matching
/// against the daemon's allow-list of names.
pub fn compiler_name(argv0: &str) -> &str {
    basename(argv0)
}

/// Rewrite a protocol 1/2 command so that it compiles `input` (the preprocessed text the
/// server saved, named with [`crate::preprocessed_extension`]) into `output`.
///
/// `job` must be what [`crate::scan_args`] returned for this same `argv`. The source
/// argument is replaced; the `-o` value is replaced in whichever spelling it had (`-o x` or
/// `-ox`), or `-o output` is appended when the output was implicit. A `-x LANG` in force
/// for the source is changed to its preprocessed form (`-x c` → `-x cpp-output`) so that
/// the compiler does not preprocess the text a second time. Nothing else changes.
pub fn rewrite_for_server(
    argv: &[String],
    job: &CompileJob,
    input: &str,
    output: &str,
) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len() + 2);
    let mut i = 0;
    while i < argv.len() {
        if i == job.input_index {
            out.push(input.to_string());
        } else if let Some(pos) = job.output_arg.filter(|p| p.index == i) {
            i += push_replaced(&mut out, "-o", output, pos.form);
        } else if let Some(pos) = job
            .language_arg
            .filter(|p| p.index == i && !job.preprocessed)
        {
            i += push_replaced(&mut out, "-x", job.language.preprocessed_x_name(), pos.form);
        } else {
            out.push(argv[i].clone());
        }
        i += 1;
    }
    if job.output_arg.is_none() {
        out.push("-o".to_string());
        out.push(output.to_string());
    }
    out
}

/// Push `opt` with a new `value` in the given spelling; returns how many extra arguments
/// of the original argv that consumed (1 for the separate value, else 0).
fn push_replaced(out: &mut Vec<String>, opt: &str, value: &str, form: ArgForm) -> usize {
    match form {
        ArgForm::Separate => {
            out.push(opt.to_string());
            out.push(value.to_string());
            1
        }
        ArgForm::Joined => {
            out.push(format!("{opt}{value}"));
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::{Language, preprocessed_extension};
    use crate::scan::{Classification, scan_args};
    use proptest::prelude::*;

    fn argv(cmd: &str) -> Vec<String> {
        cmd.split_whitespace().map(str::to_string).collect()
    }

    fn rewrite(cmd: &str, input: &str, output: &str) -> String {
        let args = argv(cmd);
        let job = scan_args(&args).job().cloned().expect("distributable");
        rewrite_for_server(&args, &job, input, output).join(" ")
    }

    #[test]
    fn rewrites_input_and_output() {
        let cases = [
            ("gcc -c hello.c -o hello.o", "gcc -c /j/in.i -o /j/out.o"),
            ("gcc -c hello.c", "gcc -c /j/in.i -o /j/out.o"),
            ("gcc -o hello.o -c hello.c", "gcc -o /j/out.o -c /j/in.i"),
            ("gcc -c hello.c -ohello.o", "gcc -c /j/in.i -o/j/out.o"),
            ("gcc -S -O2 hello.c", "gcc -S -O2 /j/in.i -o /j/out.o"),
            (
                "x86_64-linux-gnu-gcc -g -O2 -fPIC -c src/a.c -o obj/a.o",
                "x86_64-linux-gnu-gcc -g -O2 -fPIC -c /j/in.i -o /j/out.o",
            ),
            (
                "gcc -x c -c foo",
                "gcc -x cpp-output -c /j/in.i -o /j/out.o",
            ),
            (
                "gcc -xc++ -c foo",
                "gcc -xc++-cpp-output -c /j/in.i -o /j/out.o",
            ),
            (
                "gcc -x cpp-output -c foo",
                "gcc -x cpp-output -c /j/in.i -o /j/out.o",
            ),
            // A -x that does not apply to the input is left alone.
            ("gcc -c a.c -x c", "gcc -c /j/in.i -x c -o /j/out.o"),
            // Option values that look like files are not touched.
            (
                "gcc -DX=hello.c -c hello.c -o -o.o",
                "gcc -DX=hello.c -c /j/in.i -o /j/out.o",
            ),
        ];
        for (cmd, want) in cases {
            assert_eq!(rewrite(cmd, "/j/in.i", "/j/out.o"), want, "{cmd}");
        }
    }

    #[test]
    fn compiler_names() {
        assert_eq!(compiler_name("/usr/bin/gcc-12"), "gcc-12");
        assert_eq!(compiler_name("cc"), "cc");
        assert_eq!(compiler_name(""), "");
    }

    #[test]
    fn extension_by_language() {
        assert_eq!(preprocessed_extension(Language::C), "i");
        assert_eq!(preprocessed_extension(Language::Cxx), "ii");
        assert_eq!(preprocessed_extension(Language::ObjC), "mi");
        assert_eq!(preprocessed_extension(Language::ObjCxx), "mii");
    }

    fn piece() -> impl Strategy<Value = Vec<String>> {
        let one = |s: &str| vec![s.to_string()];
        prop_oneof![
            Just(one("-O2")),
            Just(one("-g")),
            Just(one("-Wall")),
            Just(one("-fPIC")),
            Just(one("-S")),
            Just(one("-MD")),
            Just(vec!["-D".into(), "X=a.c".into()]),
            Just(vec!["-I".into(), "inc".into()]),
            Just(vec!["-MT".into(), "t.o".into()]),
            Just(vec!["-include".into(), "cfg.h".into()]),
            Just(one("-DY=b.o")),
            Just(one("-Iinclude")),
            Just(one("-std=c11")),
            Just(one("unknownword")),
        ]
    }

    fn distributable_argv() -> impl Strategy<Value = Vec<String>> {
        let source = prop_oneof![
            Just(vec!["src/a.c".to_string()]),
            Just(vec!["/abs/b.cpp".to_string()]),
            Just(vec!["m.mm".to_string()]),
            Just(vec!["p.ii".to_string()]),
            Just(vec![
                "-x".into(),
                "c".into(),
                "noext".into(),
                "-x".into(),
                "none".into()
            ]),
            Just(vec!["-xc++".into(), "x.txt".into(), "-xnone".into()]),
        ];
        let output = prop_oneof![
            Just(vec![]),
            Just(vec!["-o".to_string(), "obj/a.o".to_string()]),
            Just(vec!["-oa.o".to_string()]),
        ];
        (
            prop::collection::vec(piece(), 0..6),
            source,
            output,
            prop::collection::vec(piece(), 0..6),
            0usize..3,
        )
            .prop_map(|(before, source, output, after, c_at)| {
                let mut parts = before;
                parts.insert(c_at.min(parts.len()), vec!["-c".to_string()]);
                parts.push(source);
                parts.push(output);
                parts.extend(after);
                let mut argv = vec!["gcc".to_string()];
                argv.extend(parts.into_iter().flatten());
                argv
            })
    }

    proptest! {
        #[test]
        fn rewritten_command_has_one_input_and_one_output(args in distributable_argv()) {
            let Classification::Distributable(job) = scan_args(&args) else {
                return Err(TestCaseError::fail(format!("not distributable: {args:?}")));
            };
            let input = format!("/job/in.{}", preprocessed_extension(job.language));
            let rewritten = rewrite_for_server(&args, &job, &input, "/job/out.o");
            let outputs = rewritten
                .iter()
                .enumerate()
                .filter(|(i, a)| a.starts_with("-o") && !crate::options::takes_separate_value(
                    rewritten.get(i.wrapping_sub(1)).map_or("", String::as_str)))
                .count();
            prop_assert_eq!(outputs, 1, "{:?}", rewritten);
            prop_assert_eq!(rewritten.iter().filter(|a| **a == input).count(), 1);
            let again = scan_args(&rewritten);
            let again = again.job().expect("still distributable");
            prop_assert_eq!(&again.input, &input);
            prop_assert_eq!(again.output.as_str(), "/job/out.o");
            prop_assert_eq!(again.language, job.language);
            prop_assert!(again.preprocessed);
            prop_assert_eq!(again.mode, job.mode);
        }
    }
}
