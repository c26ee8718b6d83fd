//! Argument expansions that must happen before a command line is classified.
//!
//! * `-Wp,…` hides preprocessor options (notably the Linux kernel's `-Wp,-MD,file`) from the
//!   driver; distcc rewrites them into ordinary driver options so that its scanner and its
//!   argument stripping see them, and ccfarm does the same.
//! * `@file` response files splice a file's contents into argv. Reading the file is I/O, so
//!   this crate only tokenises contents the caller has read; [`crate::scan_args`] treats an
//!   unexpanded `@file` as a reason to compile locally.

/// Rewrite every `-Wp,…` argument into the driver options it stands for, as distcc 3.4's
/// `dcc_expand_preprocessor_options` does.
///
/// `-Wp,-MD,f` and `-Wp,-MMD,f` become `-MD -MF f` / `-MMD -MF f` (the preprocessor's `-MD`
/// takes a file name, the driver's does not); every other comma-separated item becomes an
/// argument of its own. gcc itself splits `-Wp,` at every comma, so no item can contain one.
/// Empty items are dropped. `argv[0]` (the compiler) is never expanded.
pub fn expand_preprocessor_options(argv: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    for (i, arg) in argv.iter().enumerate() {
        match arg.strip_prefix("-Wp,") {
            Some(items) if i > 0 => expand_wp_items(items, &mut out),
            _ => out.push(arg.clone()),
        }
    }
    out
}

/// Push the driver spelling of the comma-separated items of one `-Wp,` argument.
pub(crate) fn expand_wp_items(items: &str, out: &mut Vec<String>) {
    let mut items = items.split(',').filter(|item| !item.is_empty());
    while let Some(item) = items.next() {
        out.push(item.to_string());
        if (item == "-MD" || item == "-MMD")
            && let Some(file) = items.next()
        {
            out.push("-MF".to_string());
            out.push(file.to_string());
        }
    }
}

/// Split the contents of a gcc response file (`@file`) into arguments, the way libiberty's
/// `buildargv` does.
///
/// Arguments are separated by runs of whitespace. A backslash makes the next character
/// literal, even inside quotes; single and double quotes group characters (including
/// whitespace) and are removed; `''` and `""` yield an empty argument. Leading and trailing
/// whitespace produce no arguments, so an empty or blank file expands to nothing.
///
/// gcc also expands `@file` arguments found *inside* a response file; the caller, which can
/// read files, is responsible for that recursion (and for bounding it).
pub fn split_response_file(contents: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = contents.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| is_space(*c)) {
            chars.next();
        }
        if chars.peek().is_none() {
            return args;
        }
        let mut arg = String::new();
        let (mut squote, mut dquote, mut escaped) = (false, false, false);
        while let Some(&c) = chars.peek() {
            if is_space(c) && !squote && !dquote && !escaped {
                break;
            }
            chars.next();
            if escaped {
                escaped = false;
                arg.push(c);
            } else if c == '\\' {
                escaped = true;
            } else if squote {
                if c == '\'' {
                    squote = false;
                } else {
                    arg.push(c);
                }
            } else if dquote {
                if c == '"' {
                    dquote = false;
                } else {
                    arg.push(c);
                }
            } else if c == '\'' {
                squote = true;
            } else if c == '"' {
                dquote = true;
            } else {
                arg.push(c);
            }
        }
        args.push(arg);
    }
}

/// libiberty's `ISSPACE`: the C locale's whitespace set.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn wp_md_becomes_md_mf() {
        let cases = [
            (
                "gcc -Wp,-MD,.foo.o.d -c foo.c",
                "gcc -MD -MF .foo.o.d -c foo.c",
            ),
            ("gcc -Wp,-MMD,dep/x.d -c x.c", "gcc -MMD -MF dep/x.d -c x.c"),
            ("gcc -Wp,-DFOO,-UBAR -c x.c", "gcc -DFOO -UBAR -c x.c"),
            (
                "gcc -Wp,-DA,-MD,a.d,-DB -c x.c",
                "gcc -DA -MD -MF a.d -DB -c x.c",
            ),
            // -MD as the last item has no file to take.
            ("gcc -Wp,-MD -c x.c", "gcc -MD -c x.c"),
            // empty items vanish
            ("gcc -Wp,,-DX, -c x.c", "gcc -DX -c x.c"),
            ("gcc -Wp, -c x.c", "gcc -c x.c"),
            // nothing to do
            ("gcc -c x.c -o x.o", "gcc -c x.c -o x.o"),
            // -Wa, and -Wl, are not the preprocessor
            ("gcc -Wa,-x -Wl,-y -c x.c", "gcc -Wa,-x -Wl,-y -c x.c"),
        ];
        for (input, want) in cases {
            assert_eq!(expand_preprocessor_options(&v(input)), v(want), "{input}");
        }
    }

    #[test]
    fn wp_as_argv0_is_left_alone() {
        let argv = vec!["-Wp,-MD,x".to_string(), "-c".to_string()];
        assert_eq!(expand_preprocessor_options(&argv), argv);
        assert!(expand_preprocessor_options(&[]).is_empty());
    }

    #[test]
    fn response_file_tokenising() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("   \n\t ", &[]),
            ("-c foo.c", &["-c", "foo.c"]),
            ("  -c\n\tfoo.c  \r\n", &["-c", "foo.c"]),
            ("-DMSG='hello world'", &["-DMSG=hello world"]),
            ("\"a b\" 'c d'", &["a b", "c d"]),
            ("a\\ b", &["a b"]),
            ("\"a\\\"b\"", &["a\"b"]),
            ("'it\\'s'", &["it's"]),
            ("\"\" ''", &["", ""]),
            ("x\"y z\"w", &["xy zw"]),
            ("-I\"C:\\\\dir\"", &["-IC:\\dir"]),
            ("trailing\\", &["trailing"]),
            ("\"unterminated quote", &["unterminated quote"]),
            ("a\\\nb", &["a\nb"]),
        ];
        for (input, want) in cases {
            let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            assert_eq!(split_response_file(input), want, "{input:?}");
        }
    }
}
