//! Protocol 3 ("pump"): the server preprocesses, inside a job root that stands for the
//! client's `/`, so absolute paths in the command must move under that root and the
//! dependency file the compiler writes must be translated back for the client.
//!
//! This is distcc's `tweak_arguments_for_server` and `dcc_cleanup_dotd`, with their bugs
//! fixed: every `-MT`/`-MQ` is dropped (distcc drops only the first, so a second one
//! silently replaced the target), the client's own `-MF` is dropped rather than
//! overridden, option prefixes are matched longest first, and the root is removed from
//! the `.d` file only where it starts a path.

use crate::options::{PATH_OPTIONS, takes_separate_value};
use crate::scan::{ArgForm, CompileJob};

/// A pump-mode command ready to run on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PumpArgs {
    /// The command to run, with the job root's working directory as cwd.
    pub argv: Vec<String>,
    /// The dependency rule's target as the client expects it (its `-MT`/`-MQ` values, or its
    /// output path); pass it to [`fix_dotd`].
    pub target: String,
}

/// Rewrite a protocol 3 command to run inside `root`, the server directory that stands for
/// the client's `/`.
///
/// `job` must be what [`crate::scan_args`] returned for this `argv`. The output becomes
/// `output` (replaced in place, or appended), `-MT`/`-MQ`/`-MF` are dropped (the targets are
/// returned in [`PumpArgs::target`]), `-MMD` is added unless `-MD` or `-MMD` is already
/// there, and `-MF dep_file` is appended. Absolute paths given to `-I -include -imacros
/// -idirafter -iprefix -iwithprefix -iwithprefixbefore -isystem -iquote -isysroot
/// --sysroot` (joined or separate) and an absolute source path are moved under `root`.
pub fn rewrite_for_pump(
    argv: &[String],
    job: &CompileJob,
    root: &str,
    dep_file: &str,
    output: &str,
) -> PumpArgs {
    let root = root.trim_end_matches('/');
    let reroot = |path: &str| -> String {
        if path.starts_with('/') {
            format!("{root}/{}", path.trim_start_matches('/'))
        } else {
            path.to_string()
        }
    };
    let mut out = Vec::with_capacity(argv.len() + 5);
    let mut i = 0;
    while i < argv.len() {
        let a = argv[i].as_str();
        let next = argv.get(i + 1);
        if i == 0 {
            out.push(a.to_string());
        } else if i == job.input_index {
            out.push(reroot(a));
        } else if let Some(pos) = job.output_arg.filter(|p| p.index == i) {
            out.push("-o".to_string());
            out.push(output.to_string());
            if pos.form == ArgForm::Separate {
                i += 1;
            }
        } else if matches!(a, "-MT" | "-MQ" | "-MF") {
            i += 1;
        } else if a.starts_with("-MT") || a.starts_with("-MQ") || a.starts_with("-MF") {
            // joined form: dropped with its value
        } else if let Some((opt, joined)) = PATH_OPTIONS
            .iter()
            .find(|(opt, joined)| a == *opt || a.starts_with(joined))
        {
            if a == *opt {
                out.push(a.to_string());
                if let Some(value) = next {
                    out.push(reroot(value));
                    i += 1;
                }
            } else {
                out.push(format!("{joined}{}", reroot(&a[joined.len()..])));
            }
        } else if takes_separate_value(a) {
            // Keep the value verbatim, so that e.g. `-D -MT` is not mistaken for `-MT`.
            out.push(a.to_string());
            if let Some(value) = next {
                out.push(value.clone());
                i += 1;
            }
        } else {
            out.push(a.to_string());
        }
        i += 1;
    }
    if job.output_arg.is_none() {
        out.push("-o".to_string());
        out.push(output.to_string());
    }
    if job.deps.style.is_none() {
        out.push("-MMD".to_string());
    }
    out.push("-MF".to_string());
    out.push(dep_file.to_string());
    PumpArgs {
        argv: out,
        target: job.dep_target(),
    }
}

/// Translate a dependency file written on the server into the one the client expects.
///
/// The first rule's target (the server's output path) becomes `target` (normally
/// [`PumpArgs::target`]), and `root` is removed wherever it starts a path, so that
/// `/tmp/job/usr/include/stdio.h` reads `/usr/include/stdio.h` again. Relative paths are
/// left alone: the server ran in the root's image of the client's working directory.
pub fn fix_dotd(dotd: &str, root: &str, target: &str) -> String {
    let root = root.trim_end_matches('/');
    let start = dotd.len() - dotd.trim_start().len();
    let (head, rest) = match rule_colon(dotd, start) {
        Some(colon) => (format!("{}{target}", &dotd[..start]), &dotd[colon..]),
        None => (String::new(), dotd),
    };
    head + &strip_root(rest, root)
}

/// The `:` that ends the first rule's target list: the first one followed by whitespace or
/// the end of the text.
fn rule_colon(dotd: &str, from: usize) -> Option<usize> {
    let bytes = dotd.as_bytes();
    (from..bytes.len())
        .find(|&i| bytes[i] == b':' && bytes.get(i + 1).is_none_or(|b| b.is_ascii_whitespace()))
}

/// Remove `root` where it begins a path: at the start of the text or after whitespace or
/// `:`, and followed by `/` or the end of the path.
fn strip_root(text: &str, root: &str) -> String {
    if root.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev_boundary = true;
    while let Some(found) = rest.find(root) {
        let before = &rest[..found];
        let at_boundary = match before.chars().last() {
            None => prev_boundary,
            Some(c) => c.is_whitespace() || c == ':',
        };
        let after = &rest[found + root.len()..];
        let path_end = after.chars().next();
        out.push_str(before);
        match path_end {
            Some('/') if at_boundary => {}
            None if at_boundary => out.push('/'),
            Some(c) if at_boundary && (c.is_whitespace() || c == ':') => out.push('/'),
            _ => out.push_str(root),
        }
        prev_boundary = root.ends_with(|c: char| c.is_whitespace() || c == ':');
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::scan_args;
    use proptest::prelude::*;

    fn argv(cmd: &str) -> Vec<String> {
        cmd.split_whitespace().map(str::to_string).collect()
    }

    fn pump(cmd: &str) -> PumpArgs {
        let args = argv(cmd);
        let job = scan_args(&args).job().cloned().expect("distributable");
        rewrite_for_pump(&args, &job, "/tmp/root", "/tmp/deps.d", "/tmp/root.o")
    }

    #[test]
    fn distcc_experiment() {
        // notes §1.6: `gcc -c hello.c -o /tmp/distccd_X.o -MMD -MF /tmp/distcc_X.deps`
        let p = pump("gcc -c hello.c -o hello.o -MT hello.o");
        assert_eq!(
            p.argv.join(" "),
            "gcc -c hello.c -o /tmp/root.o -MMD -MF /tmp/deps.d"
        );
        assert_eq!(p.target, "hello.o");
    }

    #[test]
    fn rewrites() {
        let cases = [
            (
                "gcc -c hello.c",
                "gcc -c hello.c -o /tmp/root.o -MMD -MF /tmp/deps.d",
                "hello.o",
            ),
            (
                "gcc -ohello.o -MD -c /home/u/hello.c",
                "gcc -o /tmp/root.o -MD -c /tmp/root/home/u/hello.c -MF /tmp/deps.d",
                "hello.o",
            ),
            (
                "gcc -I/usr/include/x -I rel -I /abs -isystem /sys -iquote/q -c a.c -o obj/a.o",
                "gcc -I/tmp/root/usr/include/x -I rel -I /tmp/root/abs -isystem /tmp/root/sys \
                 -iquote/tmp/root/q -c a.c -o /tmp/root.o -MMD -MF /tmp/deps.d",
                "obj/a.o",
            ),
            (
                "gcc -include /p/cfg.h -imacros/p/m.h -idirafter /late -iprefix /pre/ \
                 -iwithprefixbefore/wpb -iwithprefix /wp -c a.c",
                "gcc -include /tmp/root/p/cfg.h -imacros/tmp/root/p/m.h -idirafter /tmp/root/late \
                 -iprefix /tmp/root/pre/ -iwithprefixbefore/tmp/root/wpb -iwithprefix /tmp/root/wp \
                 -c a.c -o /tmp/root.o -MMD -MF /tmp/deps.d",
                "a.o",
            ),
            (
                "gcc --sysroot=/sdk -isysroot /sdk2 -c a.c",
                "gcc --sysroot=/tmp/root/sdk -isysroot /tmp/root/sdk2 -c a.c -o /tmp/root.o \
                 -MMD -MF /tmp/deps.d",
                "a.o",
            ),
            (
                "gcc -MD -MT a.o -MT b.o -MQ $x -MFa.d -MTjoined -MF b.d -c a.c",
                "gcc -MD -c a.c -o /tmp/root.o -MF /tmp/deps.d",
                "a.o b.o $$x joined",
            ),
            (
                "gcc -D -MT -c a.c",
                "gcc -D -MT -c a.c -o /tmp/root.o -MMD -MF /tmp/deps.d",
                "a.o",
            ),
            (
                "gcc -DX=/abs -c a.c",
                "gcc -DX=/abs -c a.c -o /tmp/root.o -MMD -MF /tmp/deps.d",
                "a.o",
            ),
        ];
        for (cmd, want, target) in cases {
            let p = pump(cmd);
            assert_eq!(p.argv, argv(want), "{cmd}");
            assert_eq!(p.target, target, "{cmd}");
        }
    }

    #[test]
    fn root_with_trailing_slash() {
        let args = argv("gcc -I/x -c /src/a.c");
        let job = scan_args(&args).job().cloned().expect("distributable");
        let p = rewrite_for_pump(&args, &job, "/tmp/r/", "d.d", "o.o");
        assert_eq!(
            p.argv,
            argv("gcc -I/tmp/r/x -c /tmp/r/src/a.c -o o.o -MMD -MF d.d")
        );
    }

    #[test]
    fn dotd_cleanup() {
        let server = "/tmp/ccfarmd-1/job.o: /tmp/ccfarmd-1/home/u/p/hello.c \\\n \
                      /tmp/ccfarmd-1/usr/include/stdio.h hello.h\n";
        assert_eq!(
            fix_dotd(server, "/tmp/ccfarmd-1", "obj/hello.o"),
            "obj/hello.o: /home/u/p/hello.c \\\n /usr/include/stdio.h hello.h\n"
        );
        // -MP phony rules, a trailing slash on the root, and the root as a whole path.
        let server = "/r/o.o: /r/a.h /r\n\n/r/a.h:\n";
        assert_eq!(fix_dotd(server, "/r/", "t"), "t: /a.h /\n\n/a.h:\n");
        // The root only counts where a path starts, and only as a whole component.
        let server = "/r/o.o: x/r/a.h /rr/b.h /r/c.h\n";
        assert_eq!(fix_dotd(server, "/r", "t"), "t: x/r/a.h /rr/b.h /c.h\n");
        // Escaped spaces in the target survive; nothing to do without a rule.
        assert_eq!(fix_dotd("", "/r", "t"), "");
        assert_eq!(fix_dotd("\n", "/r", "t"), "\n");
        assert_eq!(fix_dotd("/r/a.h", "/r", "t"), "/a.h");
        assert_eq!(fix_dotd("  o.o:\n", "/r", "a\\ b.o"), "  a\\ b.o:\n");
        // A root of "/" means no translation.
        assert_eq!(fix_dotd("o: /a.h\n", "/", "t"), "t: /a.h\n");
    }

    proptest! {
        #[test]
        fn fix_dotd_never_panics(dotd in any::<String>(), root in any::<String>(), target in any::<String>()) {
            let _ = fix_dotd(&dotd, &root, &target);
        }

        #[test]
        fn pump_argv_has_one_output_and_one_dep_file(
            extra in prop::collection::vec(prop_oneof![
                Just("-MD"), Just("-MMD"), Just("-MT"), Just("-MFx.d"), Just("-MQ"),
                Just("-I/abs"), Just("-I"), Just("-O2"), Just("-o"), Just("out.o"),
            ], 0..8),
        ) {
            let mut args: Vec<String> = vec!["gcc".into(), "-c".into(), "/src/a.c".into()];
            args.extend(extra.iter().map(|s| s.to_string()));
            if let Some(job) = scan_args(&args).job().cloned() {
                let p = rewrite_for_pump(&args, &job, "/root", "/srv/d.d", "/srv/o.o");
                let count = |s: &str| p.argv.iter().filter(|a| *a == s).count();
                prop_assert_eq!(count("-MF"), 1, "{:?}", p.argv);
                prop_assert_eq!(count("/srv/d.d"), 1);
                prop_assert_eq!(count("/srv/o.o"), 1);
                prop_assert_eq!(count("/root/src/a.c"), 1);
                let again = scan_args(&p.argv);
                let again = again.job().expect("still distributable");
                prop_assert!(again.deps.targets.is_empty(), "{:?}", p.argv);
                prop_assert_eq!(again.deps.file.as_deref(), Some("/srv/d.d"));
                prop_assert!(again.deps.style.is_some());
                prop_assert_eq!(again.output.as_str(), "/srv/o.o");
            }
        }
    }
}
