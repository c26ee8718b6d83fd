//! `ccfarm`'s own commands, and what a mistyped one was probably meant to be.

/// `ccfarm`'s own commands.
pub const COMMANDS: [&str; 11] = [
    "hosts", "drain", "up", "down", "add", "remove", "farm", "stats", "agent", "ca", "simulate",
];

/// The command `word` is a mistyped letter or two away from, if any (one for a command
/// of three or four letters, two for a longer one): a missing, extra or changed letter,
/// or two letters swapped, counting as one.
pub fn did_you_mean(word: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .map(|c| (strsim::osa_distance(word, c), *c))
        // Two-letter commands are one typo from too many compiler names (`cc`).
        .filter(|&(d, c)| {
            let most = match c.len() {
                0..=2 => 0,
                3 | 4 => 1,
                _ => 2,
            };
            d > 0 && d <= most
        })
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_miss_names_the_command_and_anything_else_does_not() {
        for (typed, meant) in [
            ("hots", "hosts"),
            ("hsots", "hosts"),
            ("host", "hosts"),
            ("stat", "stats"),
            ("darin", "drain"),
            ("farn", "farm"),
            ("simualte", "simulate"),
            ("dwn", "down"),
        ] {
            assert_eq!(did_you_mean(typed), Some(meant), "{typed}");
        }
        // Exact commands, compilers and words far from every command are not guesses.
        for typed in [
            "hosts",
            "gcc",
            "clang++",
            "cc",
            "c++",
            "x86_64-linux-gnu-gcc",
            "make",
        ] {
            assert_eq!(did_you_mean(typed), None, "{typed}");
        }
    }
}
