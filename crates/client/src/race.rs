//! The decisions of one job on the servers the scheduler chose: the granted server and,
//! when the scheduler sees the job straggle there while a much faster server is idle
//! (`Speculate`), that server too. The first copy to finish decides.
//!
//! Pure: the copies run elsewhere (each in its own thread, only talking to its server);
//! this module is told what the scheduler said and how each copy ended, and answers with
//! what to do: start a copy, break one off, release a lease, log. Nothing is written
//! here: the deciding copy's outputs are written once every copy has been broken off and
//! joined, so they are written once, from one copy, exactly as without speculation.

use std::time::Duration;

use bytes::Bytes;
use ccfarm_proto::farm::JobResult;

use crate::actions::{Action, Level};
pub use crate::grant::{Grant, RaceEvent};
use crate::verdict::Verdict;

/// How a race ended.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per race, moved once: boxing the reply buys nothing"
)]
pub enum RaceEnd {
    /// A copy finished with [`Verdict::Success`] or [`Verdict::CompileError`] (a compile
    /// error is deterministic, so it decides as much as a success does).
    Decided {
        /// The server that ran the deciding copy.
        grant: Grant,
        /// What it answered.
        verdict: Verdict,
        /// How long that copy took (what its lease was released with).
        elapsed: Duration,
    },
    /// Every copy failed, each failure logged and its lease released as a transport
    /// failure; the scheduler is to be asked again, for a server other than these
    /// (`address:port`).
    AllFailed {
        /// The servers that failed the job.
        failed: Vec<String>,
        /// What the last server to fail it said, if it failed the job with a distcc
        /// status of its own ([`Verdict::HostFailed`]'s `message`).
        message: Option<Bytes>,
    },
}

/// A copy of the job, as the race tracks it.
#[derive(Debug)]
struct Copy {
    grant: Grant,
    running: bool,
    /// The scheduler revoked its lease: not to be released.
    revoked: bool,
}

/// One job under one grant, with any speculative copy.
#[derive(Debug)]
pub struct Race {
    input: String,
    attempt: u32,
    copies: Vec<Copy>,
    /// The scheduler connection is gone: nobody to release leases to, no copy to add.
    lost: bool,
}

impl Race {
    /// The race for `input` under `grant`, the scheduler's `attempt`th; the actions
    /// start its first copy.
    pub fn start(input: &str, attempt: u32, grant: Grant) -> (Race, Vec<Action>) {
        let mut race = Race {
            input: input.to_owned(),
            attempt,
            copies: Vec::new(),
            lost: false,
        };
        let start = race.add(grant);
        (race, vec![start])
    }

    fn add(&mut self, grant: Grant) -> Action {
        let copy = self.copies.len();
        self.copies.push(Copy {
            grant: grant.clone(),
            running: true,
            revoked: false,
        });
        Action::StartCopy { copy, grant }
    }

    fn running(&self) -> impl Iterator<Item = &Copy> {
        self.copies.iter().filter(|c| c.running)
    }

    /// Act on `event`: the actions to perform, and the end of the race if it ended. At
    /// the end every copy still running is broken off (not waited for, not released:
    /// the scheduler cancels a winner's twin itself, and closing the connection gives
    /// back any lease still held).
    pub fn handle(&mut self, event: RaceEvent) -> (Vec<Action>, Option<RaceEnd>) {
        let mut actions = Vec::new();
        let end = match event {
            RaceEvent::Cancel(lease) => {
                // A cancel for a copy that has already ended (or for a lease that is
                // not ours) changes nothing.
                if let Some((number, c)) = self
                    .copies
                    .iter_mut()
                    .enumerate()
                    .find(|(_, c)| c.running && c.grant.lease == lease)
                {
                    c.revoked = true;
                    actions.push(Action::BreakOff(number));
                }
                None
            }
            RaceEvent::Speculate { lease, copy } => {
                let running: Vec<&Copy> = self.running().collect();
                match running[..] {
                    [straggler] if straggler.grant.lease == lease && !self.lost => {
                        actions.push(info(format!(
                            "scheduler: {} straggles on {} (lease {lease}); also running it on {}:{} (lease {})",
                            self.input, straggler.grant, copy.host, copy.port, copy.lease
                        )));
                        actions.push(self.add(copy));
                    }
                    // Two copies already, or an offer for a copy that has ended: not
                    // taken. Its lease is given back when this job's connection closes,
                    // as soon as the job is decided; releasing it now would have to
                    // report a result for a job that never ran.
                    _ => actions.push(info(format!(
                        "scheduler: speculative lease {} for lease {lease} of {} not taken",
                        copy.lease, self.input
                    ))),
                }
                None
            }
            RaceEvent::Lost(why) => {
                // Not a reason to stop the job: the scheduler may just be restarting,
                // and closing the connection released the leases.
                self.lost = true;
                let hosts: Vec<String> = self.running().map(|c| c.grant.to_string()).collect();
                actions.push(info(format!(
                    "lost the scheduler connection while {} ran on {}: {why}",
                    self.input,
                    hosts.join(" and ")
                )));
                None
            }
            RaceEvent::Done {
                copy,
                verdict,
                elapsed,
            } => self.done(copy, verdict, elapsed, &mut actions),
        };
        if end.is_some() {
            for (number, c) in self.copies.iter_mut().enumerate() {
                if c.running {
                    c.running = false;
                    actions.push(Action::BreakOff(number));
                }
            }
        }
        (actions, end)
    }

    fn done(
        &mut self,
        number: usize,
        verdict: Verdict,
        elapsed: Duration,
        actions: &mut Vec<Action>,
    ) -> Option<RaceEnd> {
        let lost = self.lost;
        let c = self.copies.get_mut(number)?;
        if !c.running {
            return None;
        }
        c.running = false;
        let result = match &verdict {
            Verdict::Success(_) => JobResult::Ok,
            Verdict::CompileError(_) => JobResult::CompileError,
            Verdict::HostFailed { .. } => JobResult::TransportFailure,
        };
        // A revoked lease is already gone on the scheduler's side; after the
        // connection was lost there is nobody to tell.
        if !c.revoked && !lost {
            actions.push(Action::ReleaseLease {
                lease: c.grant.lease,
                result,
                elapsed,
            });
        }
        let (grant, revoked) = (c.grant.clone(), c.revoked);
        let others_running = self.running().next().is_some();
        match verdict {
            Verdict::HostFailed {
                why, message: said, ..
            } => {
                // After a revocation the failure is our own abort; the revocation is
                // the real cause.
                let why = if revoked {
                    format!("the scheduler revoked lease {}", grant.lease)
                } else {
                    why
                };
                let message = format!(
                    "failed to distribute {} to {grant} ({}, attempt {}): {why}",
                    self.input,
                    if number > 0 {
                        "a speculative copy"
                    } else {
                        "granted by the scheduler"
                    },
                    self.attempt
                );
                if others_running {
                    // The job carries on elsewhere, unharmed: not worth a warning on
                    // the user's terminal.
                    actions.push(info(format!("{message}; the other copy carries on")));
                    None
                } else {
                    actions.push(Action::Log(Level::Warn, message));
                    let failed = self
                        .copies
                        .iter()
                        .map(|c| c.grant.server_address())
                        .collect();
                    Some(RaceEnd::AllFailed {
                        failed,
                        message: said,
                    })
                }
            }
            verdict => {
                if revoked {
                    // The reply was complete before the abort took effect: the outputs
                    // are good, whatever became of the lease.
                    actions.push(info(format!(
                        "the scheduler revoked lease {} on {grant} after {} was compiled there; result kept",
                        grant.lease, self.input
                    )));
                }
                if others_running {
                    actions.push(info(format!(
                        "{}: the copy on {grant} (lease {}) finished first",
                        self.input, grant.lease
                    )));
                }
                Some(RaceEnd::Decided {
                    grant,
                    verdict,
                    elapsed,
                })
            }
        }
    }
}

fn info(message: String) -> Action {
    Action::Log(Level::Info, message)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use ccfarm_proto::distcc::{Reply, Version};

    use super::*;
    use crate::exit;

    fn grant(lease: u64, host: &str) -> Grant {
        Grant {
            lease,
            host: host.into(),
            port: 3632,
            lzo: false,
            proof: None,
        }
    }

    fn reply(status: u32) -> Reply {
        Reply {
            version: Version::V1,
            status,
            stderr: Bytes::new(),
            stdout: Bytes::new(),
            object: Bytes::new(),
            dotd: None,
        }
    }

    fn failed(why: &str) -> Verdict {
        Verdict::HostFailed {
            code: exit::CONNECT_FAILED,
            why: why.into(),
            back_off: true,
            message: None,
        }
    }

    fn done(copy: usize, verdict: Verdict) -> RaceEvent {
        RaceEvent::Done {
            copy,
            verdict,
            elapsed: Duration::from_millis(10 * (copy as u64 + 1)),
        }
    }

    fn speculate(lease: u64, new_lease: u64, host: &str) -> RaceEvent {
        RaceEvent::Speculate {
            lease,
            copy: grant(new_lease, host),
        }
    }

    /// The log lines among `actions`.
    fn logs(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Log(level, m) => Some(format!("{level:?}: {m}")),
                _ => None,
            })
            .collect()
    }

    /// The actions that are not log lines, as text.
    fn deeds(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter(|a| !matches!(a, Action::Log(..)))
            .map(|a| match a {
                Action::StartCopy { copy, grant } => format!("start {copy} {}", grant.host),
                Action::BreakOff(copy) => format!("break off {copy}"),
                Action::ReleaseLease { lease, result, .. } => format!("release {lease} {result:?}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn raced(first: &str) -> Race {
        let (race, actions) = Race::start("a.c", 1, grant(42, first));
        assert_eq!(deeds(&actions), ["start 0 first"]);
        race
    }

    #[test]
    fn a_grant_is_logged_as_its_host_entry_would_be_and_remembered_as_the_scheduler_writes_it() {
        let mut g = grant(1, "10.1.2.3");
        assert_eq!(g.to_string(), "10.1.2.3:3632/4");
        assert_eq!(g.server_address(), "10.1.2.3:3632");
        g.host = "::1".into();
        g.lzo = true;
        assert_eq!(g.to_string(), "[::1]:3632/4,lzo");
        assert_eq!(g.server_address(), "[::1]:3632");
        g.host = "build7".into();
        assert_eq!(g.server_address(), "build7:3632");
        let entry = crate::hosts::parse_host("[::1]:3632,lzo").unwrap();
        assert_eq!(entry.display(), "[::1]:3632/4,lzo");
    }

    #[test]
    fn a_lone_copy_deciding_is_released_with_its_result() {
        let mut race = raced("first");
        let (actions, end) = race.handle(done(0, Verdict::Success(reply(0))));
        assert_eq!(deeds(&actions), ["release 42 Ok"]);
        assert!(logs(&actions).is_empty(), "{:?}", logs(&actions));
        assert!(matches!(
            end,
            Some(RaceEnd::Decided { grant, verdict: Verdict::Success(_), elapsed })
                if grant.lease == 42 && elapsed == Duration::from_millis(10)
        ));
    }

    #[test]
    fn the_faster_copy_wins_and_the_straggler_is_broken_off() {
        let mut race = raced("first");
        let (actions, end) = race.handle(speculate(42, 43, "fast"));
        assert!(end.is_none());
        assert_eq!(deeds(&actions), ["start 1 fast"]);
        assert_eq!(
            logs(&actions),
            [
                "Info: scheduler: a.c straggles on first:3632/4 (lease 42); also running it on fast:3632 (lease 43)"
            ]
        );
        let (actions, end) = race.handle(done(1, Verdict::Success(reply(0))));
        // The winner is released; the loser is broken off, not released.
        assert_eq!(deeds(&actions), ["release 43 Ok", "break off 0"]);
        assert_eq!(
            logs(&actions),
            ["Info: a.c: the copy on fast:3632/4 (lease 43) finished first"]
        );
        assert!(matches!(end, Some(RaceEnd::Decided { grant, .. }) if grant.host == "fast"));
        // The loser's end, arriving after the decision, changes nothing.
        let (actions, end) = race.handle(done(0, failed("broken off")));
        assert!(actions.is_empty() && end.is_none());
    }

    #[test]
    fn a_failed_speculative_copy_leaves_the_first_to_finish() {
        let mut race = raced("first");
        race.handle(speculate(42, 43, "dead"));
        let (actions, end) = race.handle(done(1, failed("connection refused")));
        assert!(end.is_none());
        assert_eq!(deeds(&actions), ["release 43 TransportFailure"]);
        assert_eq!(
            logs(&actions),
            [
                "Info: failed to distribute a.c to dead:3632/4 (a speculative copy, attempt 1): connection refused; the other copy carries on"
            ]
        );
        let (actions, end) = race.handle(done(0, Verdict::Success(reply(0))));
        assert_eq!(deeds(&actions), ["release 42 Ok"]);
        assert!(matches!(end, Some(RaceEnd::Decided { grant, .. }) if grant.lease == 42));
    }

    #[test]
    fn a_revoked_copy_is_broken_off_and_not_released() {
        let mut race = raced("first");
        race.handle(speculate(42, 43, "spare"));
        let (actions, end) = race.handle(RaceEvent::Cancel(42));
        assert!(end.is_none());
        assert_eq!(deeds(&actions), ["break off 0"]);
        let (actions, end) = race.handle(done(0, failed("broken off")));
        assert!(end.is_none());
        assert!(deeds(&actions).is_empty(), "{:?}", deeds(&actions));
        assert_eq!(
            logs(&actions),
            [
                "Info: failed to distribute a.c to first:3632/4 (granted by the scheduler, attempt 1): the scheduler revoked lease 42; the other copy carries on"
            ]
        );
        let (actions, end) = race.handle(done(1, Verdict::Success(reply(0))));
        assert_eq!(deeds(&actions), ["release 43 Ok"]);
        assert!(matches!(end, Some(RaceEnd::Decided { grant, .. }) if grant.lease == 43));
    }

    #[test]
    fn a_reply_complete_before_its_revocation_is_kept() {
        let mut race = raced("first");
        race.handle(RaceEvent::Cancel(42));
        let (actions, end) = race.handle(done(0, Verdict::Success(reply(0))));
        assert!(deeds(&actions).is_empty());
        assert_eq!(
            logs(&actions),
            [
                "Info: the scheduler revoked lease 42 on first:3632/4 after a.c was compiled there; result kept"
            ]
        );
        assert!(matches!(end, Some(RaceEnd::Decided { .. })));
    }

    #[test]
    fn a_compile_error_decides_the_race() {
        let mut race = raced("first");
        race.handle(speculate(42, 43, "slow"));
        let (actions, end) = race.handle(done(0, Verdict::CompileError(reply(1 << 8))));
        assert_eq!(deeds(&actions), ["release 42 CompileError", "break off 1"]);
        assert!(matches!(
            end,
            Some(RaceEnd::Decided {
                verdict: Verdict::CompileError(_),
                ..
            })
        ));
    }

    #[test]
    fn every_copy_failing_ends_the_race_with_the_last_failure_a_warning() {
        let mut race = raced("first");
        race.handle(speculate(42, 43, "dead"));
        let (_, end) = race.handle(done(1, failed("connection refused")));
        assert!(end.is_none());
        race.handle(RaceEvent::Cancel(42));
        let (actions, end) = race.handle(done(0, failed("broken off")));
        assert!(
            matches!(&end, Some(RaceEnd::AllFailed { failed, .. }) if failed == &["first:3632", "dead:3632"]),
            "{end:?}"
        );
        assert!(deeds(&actions).is_empty(), "revoked: not released");
        assert_eq!(
            logs(&actions),
            [
                "Warn: failed to distribute a.c to first:3632/4 (granted by the scheduler, attempt 1): the scheduler revoked lease 42"
            ]
        );
    }

    #[test]
    fn offers_not_for_the_one_running_copy_are_not_taken() {
        let mut race = raced("first");
        let (actions, _) = race.handle(speculate(99, 44, "stranger"));
        assert!(deeds(&actions).is_empty());
        assert_eq!(
            logs(&actions),
            ["Info: scheduler: speculative lease 44 for lease 99 of a.c not taken"]
        );
        race.handle(speculate(42, 43, "fast"));
        let (actions, _) = race.handle(speculate(42, 45, "third"));
        assert!(deeds(&actions).is_empty(), "a third copy while two run");
        // An offer for a copy that has ended.
        race.handle(done(1, failed("refused")));
        let (actions, _) = race.handle(speculate(43, 46, "late"));
        assert!(deeds(&actions).is_empty());
    }

    #[test]
    fn after_the_connection_is_lost_nothing_is_released_and_no_copy_is_added() {
        let mut race = raced("first");
        let (actions, _) = race.handle(RaceEvent::Lost("closed".into()));
        assert_eq!(
            logs(&actions),
            ["Info: lost the scheduler connection while a.c ran on first:3632/4: closed"]
        );
        let (actions, _) = race.handle(speculate(42, 43, "fast"));
        assert!(deeds(&actions).is_empty());
        let (actions, end) = race.handle(done(0, Verdict::Success(reply(0))));
        assert!(deeds(&actions).is_empty(), "{:?}", deeds(&actions));
        assert!(matches!(end, Some(RaceEnd::Decided { .. })));
    }
}
