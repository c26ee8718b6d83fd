//! Compiler identity in the service (the matching itself is `ccfarm_placement::compilers`):
//! the wire's and the configuration's identities turned into the state machine's keys,
//! and the words a client is sent home with.

use ccfarm_compiler::identity::Identity;
use ccfarm_placement::{CompilerKey, FarmRefusal};
use ccfarm_proto::farm::{self, CompilerIdentity};

/// A client's or a configuration's identity.
pub fn key(k: &farm::CompilerKey) -> CompilerKey {
    CompilerKey {
        version: k.version.clone(),
        target: k.target.clone(),
    }
}

/// A registered server's compilers (their names do not matter to matching).
pub fn registered(compilers: &[CompilerIdentity]) -> Vec<CompilerKey> {
    compilers
        .iter()
        .map(|c| CompilerKey {
            version: c.version.clone(),
            target: c.target.clone(),
        })
        .collect()
}

/// What a probe learned of a stock distccd's compiler.
pub fn probed(identity: &Identity) -> CompilerKey {
    CompilerKey {
        version: identity.version.clone(),
        target: identity.target.clone(),
    }
}

/// Why a request was sent home, for the client's log.
pub fn local_reason(reason: FarmRefusal) -> String {
    match reason {
        FarmRefusal::WaitedTooLong => "waited too long for a slot".into(),
        FarmRefusal::NoUsableHost => "no compile server is up".into(),
        FarmRefusal::QueueFull => "the farm's queue is full".into(),
        FarmRefusal::NoMatchingCompiler => "no compile server has this compiler".into(),
    }
}

/// The `reason` label of `ccfarm_scheduler_compile_locally_total`.
pub fn reason_label(reason: FarmRefusal) -> &'static str {
    match reason {
        FarmRefusal::WaitedTooLong => "waited_too_long",
        FarmRefusal::NoUsableHost => "no_usable_host",
        FarmRefusal::QueueFull => "queue_full",
        FarmRefusal::NoMatchingCompiler => "no_matching_compiler",
    }
}

/// Hosts named per compiler in [`no_match`], before "and N more".
const NAMED_HOSTS: usize = 4;

/// Why a job for compiler `name` (`wanted`) is compiled locally: what the farm's servers
/// have instead (`offered`, from `Scheduler::compilers_offered`).
pub fn no_match(name: &str, wanted: &CompilerKey, offered: &[(CompilerKey, Vec<&str>)]) -> String {
    let name = name.rsplit('/').next().unwrap_or(name);
    let mut text = format!(
        "no server has {name} {} for {}; servers have: ",
        wanted.version, wanted.target
    );
    if offered.is_empty() {
        text.push_str("no identified compiler");
    }
    for (i, (key, hosts)) in offered.iter().enumerate() {
        if i > 0 {
            text.push_str("; ");
        }
        text.push_str(&format!("{} {} on ", key.version, key.target));
        text.push_str(&hosts[..hosts.len().min(NAMED_HOSTS)].join(", "));
        if hosts.len() > NAMED_HOSTS {
            text.push_str(&format!(" and {} more", hosts.len() - NAMED_HOSTS));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(version: &str, target: &str) -> CompilerKey {
        CompilerKey {
            version: version.into(),
            target: target.into(),
        }
    }

    #[test]
    fn the_reason_says_what_was_wanted_and_what_the_farm_has() {
        let wanted = key("13.2.0", "x86_64-linux-gnu");
        let offered = [
            (key("12.2.0", "x86_64-linux-gnu"), vec!["build1", "build2"]),
            (
                key("14.1.0", "aarch64-linux-gnu"),
                vec!["a1", "a2", "a3", "a4", "a5", "a6"],
            ),
        ];
        assert_eq!(
            no_match("/usr/bin/gcc", &wanted, &offered),
            "no server has gcc 13.2.0 for x86_64-linux-gnu; servers have: \
             12.2.0 x86_64-linux-gnu on build1, build2; \
             14.1.0 aarch64-linux-gnu on a1, a2, a3, a4 and 2 more"
        );
        assert_eq!(
            no_match("cc", &wanted, &[]),
            "no server has cc 13.2.0 for x86_64-linux-gnu; servers have: no identified compiler"
        );
    }
}
