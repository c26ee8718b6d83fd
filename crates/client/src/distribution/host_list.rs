//! The host list's rules ([`super`]): hosts in list order, skipping those that are down,
//! tried or backed off; a free slot taken (early, while the preprocessor runs, as distcc
//! does); a failure moves the job to the next host; with every host failed, a local
//! compile or, with fallback off, a failure.

use std::collections::HashSet;
use std::time::SystemTime;

use super::{Action, Distribution, Level, Stage, warn};
use crate::backoff::{HostState, is_backed_off};
use crate::records::{LocalCause, Place};
use crate::verdict::Verdict;

impl Distribution {
    /// The next round on the host list: first the back-off state of the hosts left.
    pub(super) fn host_list(&mut self) -> Vec<Action> {
        let keys: Vec<String> = self
            .hosts
            .iter()
            .filter(|h| h.eligible && !h.local && !self.tried.contains(&h.key))
            .map(|h| h.key.clone())
            .collect();
        self.stage = Stage::Backoff { keys: keys.clone() };
        vec![Action::ReadBackoff(keys)]
    }

    pub(super) fn choose(
        &mut self,
        keys: &[String],
        now: SystemTime,
        states: &[Option<HostState>],
    ) -> Vec<Action> {
        let backed_off: HashSet<&str> = keys
            .iter()
            .zip(states)
            .filter(|(_, state)| {
                state
                    .as_ref()
                    .is_some_and(|s| is_backed_off(&self.rules.backoff, s, now))
            })
            .map(|(key, _)| key.as_str())
            .collect();
        let usable: Vec<usize> = (0..self.hosts.len())
            .filter(|&i| {
                let h = &self.hosts[i];
                h.eligible && !self.tried.contains(&h.key) && !backed_off.contains(h.key.as_str())
            })
            .collect();
        if usable.is_empty() {
            return self.give_up();
        }
        if !self.preprocessed && usable.iter().any(|&i| !self.hosts[i].local) {
            self.stage = Stage::EarlyCpp { usable };
            return vec![Action::StartPreprocessor];
        }
        self.wait_for_slot(usable)
    }

    pub(super) fn wait_for_slot(&mut self, usable: Vec<usize>) -> Vec<Action> {
        self.stage = Stage::Waiting;
        vec![Action::TakeSlot {
            among: usable,
            wait: true,
        }]
    }

    pub(super) fn run_on(&mut self, index: usize) -> Vec<Action> {
        if self.hosts[index].local {
            self.place = Place::Local(LocalCause::Localhost);
            self.stage = Stage::Local;
            vec![Action::CompileInSlot]
        } else {
            self.stage = Stage::Sending(index);
            vec![Action::Send(index)]
        }
    }

    pub(super) fn judged(&mut self, index: usize, verdict: Verdict) -> Vec<Action> {
        let host = self.hosts[index].clone();
        match verdict {
            Verdict::Success(reply) => {
                self.place = Place::Farm(host.name.clone());
                self.stage = Stage::Delivering {
                    key: Some(host.key),
                };
                let mut actions: Vec<Action> = self.store(&reply).into_iter().collect();
                actions.push(Action::Deliver {
                    reply,
                    host: host.name,
                });
                actions
            }
            Verdict::CompileError(reply) => {
                let mut actions = vec![Action::ReleaseSlot];
                actions.extend(self.compile_error(host.name, reply, Some(host.key)));
                actions
            }
            Verdict::HostFailed {
                code,
                why,
                back_off,
                message,
            } => {
                let mut actions = vec![
                    Action::ReleaseSlot,
                    warn(format!(
                        "failed to distribute {} to {}: {why}",
                        self.input, host.name
                    )),
                ];
                if back_off {
                    actions.push(Action::RecordFailure(host.key.clone()));
                }
                self.tried.insert(host.key);
                self.last_failure = code;
                self.last_message = message;
                actions.extend(self.host_list());
                actions
            }
        }
    }

    /// No host could run the job: compile here, or with fallback off fail with the last
    /// failure's code rather than compile locally behind the user's back.
    pub(super) fn give_up(&mut self) -> Vec<Action> {
        if !self.rules.fallback {
            // The job fails here: what the last server said about it is the user's
            // to read, as distcc shows it, wherever the log goes.
            let mut actions: Vec<Action> = self
                .last_message
                .take()
                .map(Action::ShowServerMessage)
                .into_iter()
                .collect();
            actions.push(Action::Log(
                Level::Error,
                "failed to distribute and fallbacks are disabled".into(),
            ));
            actions.extend(self.exit(self.last_failure.into()));
            return actions;
        }
        let mut actions = vec![warn(format!(
            "failed to distribute {}, running locally instead",
            self.input
        ))];
        self.place = Place::Local(LocalCause::NoServer);
        actions.extend(self.compile_locally());
        actions
    }
}
