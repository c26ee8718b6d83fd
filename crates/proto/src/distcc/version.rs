//! The `--version` text of a distcc-compatible program, in distcc's own layout: scripts
//! and distcc's test suite read the program, its version and platform from the first
//! line and the protocols from the second.

/// The platform as distcc names it on its first line: architecture, system and C
/// library (`x86_64-linux-gnu`).
pub fn platform() -> String {
    let mut platform = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    let libc = if cfg!(target_env = "gnu") {
        "gnu"
    } else if cfg!(target_env = "musl") {
        "musl"
    } else {
        ""
    };
    if !libc.is_empty() {
        platform.push('-');
        platform.push_str(libc);
    }
    platform
}

/// `--version`'s text for `program` (as invoked: `distcc`, `ccfarm`, `distccd`,
/// `ccfarmd`) at `version`, speaking `protocols` (`1 and 2`, `1, 2 and 3`).
pub fn version_text(program: &str, version: &str, protocols: &str) -> String {
    format!(
        "{program} {version} {}\n  (protocols {protocols}) (default port 3632)\n  ccfarm, a compile farm for C and C++; MIT OR Apache-2.0\n",
        platform()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What distcc's own suite (`VersionOption_Case`) requires: the first line is the
    /// program, a version and a platform, each a run of word characters, dots or
    /// dashes; the second, indented, names the protocols and the default port.
    fn distcc_suite_accepts(program: &str, text: &str) -> bool {
        let Some(text) = text.strip_suffix('\n') else {
            return false;
        };
        let mut lines = text.splitn(3, '\n');
        let (Some(first), Some(second), Some(_)) = (lines.next(), lines.next(), lines.next())
        else {
            return false;
        };
        let word = |w: &str| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-')
        };
        let words: Vec<&str> = first.split(' ').collect();
        let first_ok = words.len() == 3 && words[0] == program && word(words[1]) && word(words[2]);
        let indent = second.len() - second.trim_start_matches([' ', '\t']).len();
        let rest = &second[indent..];
        let second_ok =
            indent > 0 && rest.starts_with("(protocol") && rest.ends_with(") (default port 3632)");
        first_ok && second_ok
    }

    #[test]
    fn the_text_is_laid_out_as_distccs() {
        for (program, protocols) in [
            ("distcc", "1 and 2"),
            ("ccfarm", "1 and 2"),
            ("distccd", "1, 2 and 3"),
            ("ccfarmd", "1, 2 and 3"),
        ] {
            let text = version_text(program, "0.1.0", protocols);
            assert!(distcc_suite_accepts(program, &text), "{text}");
        }
        // The check itself refuses what distcc's suite refuses.
        assert!(!distcc_suite_accepts(
            "distcc",
            "distcc 0.1.0 (ccfarm)\n  protocols 1 and 2 (default port 3632)\n  x\n"
        ));
        assert!(!distcc_suite_accepts(
            "distccd",
            "ccfarmd 0.1.0 x86_64-linux\n  (protocols 1) (default port 3632)\n  x\n"
        ));
        assert!(platform().starts_with(std::env::consts::ARCH));
    }
}
