//! Which file a command line compiles, for naming a job in logs, statistics and the
//! scheduler's history, where a server or proxy sees only the arguments.

use crate::scan::{Classification, scan_args};

/// The source file `argv` compiles (`argv[0]` being the compiler).
///
/// For a single distributable compile this is the input [`scan_args`] finds, the same
/// name a ccfarm client reports for its own jobs. Any other command (a probe, a link,
/// several inputs) is still named by its last argument that looks like a file to
/// compile: not an option, with a dot, not an object file. `None` when nothing does.
pub fn source_name(argv: &[String]) -> Option<&str> {
    if let Classification::Distributable(job) = scan_args(argv)
        && let Some(input) = argv.get(job.input_index)
    {
        return Some(input);
    }
    argv.iter()
        .skip(1)
        .map(String::as_str)
        .rfind(|a| !a.starts_with('-') && a.contains('.') && !a.ends_with(".o"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(args: &[&str]) -> Option<String> {
        let argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        source_name(&argv).map(str::to_owned)
    }

    #[test]
    fn a_compile_is_named_by_its_input() {
        assert_eq!(
            name(&["gcc", "-O2", "-c", "src/ascii.c", "-o", "ascii.o"]).as_deref(),
            Some("src/ascii.c")
        );
        // A dependency file after the source is not mistaken for it.
        assert_eq!(
            name(&["gcc", "-c", "x.c", "-MD", "-MF", "x.d"]).as_deref(),
            Some("x.c")
        );
        assert_eq!(
            name(&["g++", "-x", "c++", "-c", "weird"]).as_deref(),
            Some("weird")
        );
    }

    #[test]
    fn other_commands_fall_back_to_the_last_file_like_argument() {
        assert_eq!(name(&["gcc", "-E", "a.c"]).as_deref(), Some("a.c"));
        assert_eq!(
            name(&["gcc", "a.c", "b.c", "-o", "prog"]).as_deref(),
            Some("b.c")
        );
        assert_eq!(name(&["gcc", "main.o", "-o", "prog"]), None);
        assert_eq!(name(&["gcc", "--version"]), None);
        assert_eq!(name(&["gcc"]), None);
        assert_eq!(name(&[]), None);
    }
}
