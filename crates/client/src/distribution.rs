//! Where one compile job runs, decided as a pure state machine: events in, actions out.
//!
//! The rules, in the order a job meets them:
//!
//! * With a scheduler, the source is preprocessed first and the scheduler asked with its
//!   size. A grant runs as a [`Race`] (the granted server, and a speculative copy when
//!   the scheduler offers one); a race in which every copy failed asks the scheduler
//!   again, up to [`SCHEDULER_ATTEMPTS`] servers. "Compile locally" is obeyed and
//!   logged; with fallback off it is a failure to distribute, never a local compile. A
//!   scheduler that cannot be used, or too many failed servers, hands the job (and its
//!   preprocessed source) to the host list: the scheduler is never a single point of
//!   failure for a build.
//! * On the host list, hosts are tried in list order, skipping `,down` and ssh entries,
//!   those already tried and those backed off (never `localhost`). While the preprocessor
//!   runs, a free slot is taken and its host connected, as distcc does.
//! * A transport failure backs the host off (unless it was a refusal of this job) and
//!   moves the job to the next host; a compile error is the user's and never touches
//!   host state (unless a local compile then succeeds, proving the host wrong).
//! * With every host failed, the job compiles locally, or with fallback off
//!   (`CCFARM_FALLBACK=0`) fails loudly with the last failure's distcc exit code.
//!
//! No sockets, threads, clock or files: the shell (`driver.rs`) performs each
//! [`Action`] and reports what came of it as an [`Event`]. An action answers with at
//! most one event, and only the last action of a batch does; a batch without one leaves
//! the machine waiting for a race's events.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use ccfarm_proto::distcc::Reply;

use crate::backoff::BackoffPolicy;
use crate::exit;
use crate::hosts::{HostList, HostTransport};
use crate::race::{Race, RaceEnd};
use crate::records::{CacheNote, LocalCause, Place};
use crate::verdict::Verdict;

pub use crate::actions::{Action, Answer, Event, Level, Lookup, Slot};

/// How many granted servers may fail one job before the host list is tried.
pub const SCHEDULER_ATTEMPTS: u32 = 3;

/// The pauses before asking the schedulers again, once each has failed in turn: about
/// 12 s in all, long enough for a scheduler restarted in place to listen again (its
/// servers then register within its start-up grace, while the request waits there).
pub const SCHEDULER_RETRY_DELAYS: [Duration; 6] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(4),
];

/// The back-off key under which the user's compiles remember that no scheduler could be
/// reached even after [`SCHEDULER_RETRY_DELAYS`]: until it decays, compiles go to the
/// host list at once instead of each waiting out the retries.
pub const SCHEDULER_KEY: &str = "scheduler";

/// The rules a job is placed by.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Whether a scheduler is configured.
    pub scheduler: bool,
    /// How many schedulers the list names (`CCFARM_SCHEDULER=A,B`), each asked in turn.
    pub schedulers: usize,
    /// The longest the job waits, in pauses between rounds of asking, for a scheduler
    /// to become reachable (`CCFARM_SCHEDULER_RETRY`; the pauses are
    /// [`SCHEDULER_RETRY_DELAYS`], cut to fit).
    pub scheduler_retry: Duration,
    /// Compile locally when distribution fails (`CCFARM_FALLBACK`).
    pub fallback: bool,
    /// On a remote compile error, show the remote diagnostics instead of re-running
    /// locally (`CCFARM_SKIP_LOCAL_RETRY`).
    pub skip_local_retry: bool,
    /// How long failing hosts are avoided.
    pub backoff: BackoffPolicy,
    /// Look each job up in the result cache once preprocessed, and store what the farm
    /// compiles (`CCFARM_CACHE`).
    pub cache: bool,
    /// Before preprocessing, look the job up by its source and the headers it read last
    /// time (`CCFARM_CACHE_DIRECT`, with the cache on).
    pub direct: bool,
    /// After a direct miss in the local cache, look the job up the same way in the
    /// farm's shared cache through the scheduler (`CCFARM_CACHE_SHARED`, with direct
    /// look-ups and a scheduler).
    pub shared: bool,
}

/// A host-list entry as the machine sees it.
#[derive(Debug, Clone)]
struct Listed {
    key: String,
    name: String,
    local: bool,
    /// Neither `,down` nor an ssh entry (ccfarm does not start servers over ssh).
    eligible: bool,
}

/// Where the job is.
#[derive(Debug)]
enum Stage {
    /// Waiting for the direct look-up's answer, before anything else.
    Direct,
    /// Waiting for the shared cache's direct answer, after a local miss.
    SharedDirect,
    /// The scheduler's source is being preprocessed; `started` once the preprocessor runs.
    SchedulerCpp { started: bool },
    /// Waiting for the result cache's answer; on a miss, the job goes on as `then` says.
    LookingUp(AfterMiss),
    /// Waiting for the scheduler's answer.
    Asking,
    /// Running under a grant.
    Racing(Race),
    /// Waiting for the back-off states of `keys`.
    Backoff { keys: Vec<String> },
    /// Waiting for the preprocessor to start, before a free slot is looked for.
    EarlyCpp { usable: Vec<usize> },
    /// Waiting for a free slot while the preprocessor runs.
    EarlySlot { usable: Vec<usize> },
    /// Waiting for the preprocessor, with this slot (if any) held.
    EarlyFinish {
        usable: Vec<usize>,
        slot: Option<usize>,
    },
    /// Waiting for a slot.
    Waiting,
    /// Waiting for the job's verdict on this entry.
    Sending(usize),
    /// A compile error's local re-run: the remote reply, the host as the log names it,
    /// and the key to back off if the local compile proves the host wrong.
    Rerun {
        reply: Reply,
        host: String,
        key: Option<String>,
    },
    /// Writing outputs; then forget this key's failures, if any.
    Delivering { key: Option<String> },
    /// A local compile whose code is the job's.
    Local,
    /// Exited.
    Over,
}

/// Where a job goes after a cache miss.
#[derive(Debug)]
enum AfterMiss {
    /// To the scheduler.
    Scheduler,
    /// To the host list: this slot (if any) is held, these entries are usable.
    HostList {
        usable: Vec<usize>,
        slot: Option<usize>,
    },
}

/// The state machine of one job's distribution.
#[derive(Debug)]
pub struct Distribution {
    input: String,
    rules: Rules,
    hosts: Vec<Listed>,
    /// Keys of hosts that failed this job.
    tried: HashSet<String>,
    /// Whether the source has been preprocessed.
    preprocessed: bool,
    /// The scheduler's attempt under way (1-based).
    attempt: u32,
    /// Answers in a row that no scheduler could be used.
    unreachable: u32,
    /// The pauses taken so far waiting for a scheduler.
    waited: Duration,
    /// distcc's exit code of the last host failure, for a strict failure.
    last_failure: u8,
    /// What the server of the last host failure said, when it failed the job with a
    /// distcc status of its own.
    last_message: Option<Bytes>,
    /// Where the job ran, for its record.
    place: Place,
    /// What the result cache said, for its record (and, a miss, the farm's result is
    /// stored).
    cache: Option<CacheNote>,
    stage: Stage,
}

impl Distribution {
    /// The machine for a job compiling `input`, placed by `rules` on `hosts`.
    pub fn new(input: &str, hosts: &HostList, rules: Rules) -> Distribution {
        let hosts = hosts
            .hosts
            .iter()
            .map(|h| Listed {
                key: h.key(),
                name: h.log_name(),
                local: matches!(h.transport, HostTransport::Localhost),
                eligible: !h.down && !matches!(h.transport, HostTransport::Ssh { .. }),
            })
            .collect();
        Distribution {
            input: input.to_owned(),
            rules,
            hosts,
            tried: HashSet::new(),
            preprocessed: false,
            attempt: 1,
            unreachable: 0,
            waited: Duration::ZERO,
            last_failure: exit::NO_HOSTS,
            last_message: None,
            place: Place::Nowhere,
            cache: None,
            stage: Stage::Over,
        }
    }

    /// Where the job ran (so far): what its record says.
    pub fn place(&self) -> &Place {
        &self.place
    }

    /// What the result cache said about the job, if it was asked.
    pub fn cache_note(&self) -> Option<&CacheNote> {
        self.cache.as_ref()
    }

    /// The first actions.
    pub fn start(&mut self) -> Vec<Action> {
        if self.rules.direct {
            self.stage = Stage::Direct;
            return vec![Action::LookUpDirect];
        }
        self.distribute()
    }

    /// The first actions of distributing the job (after a direct look-up's miss).
    fn distribute(&mut self) -> Vec<Action> {
        if self.rules.scheduler {
            self.stage = Stage::SchedulerCpp { started: false };
            vec![Action::StartPreprocessor]
        } else {
            self.host_list()
        }
    }

    /// Whether the machine waits for a race's events (and nothing else).
    pub fn racing(&self) -> bool {
        matches!(self.stage, Stage::Racing(_))
    }

    /// Act on `event`.
    ///
    /// # Panics
    ///
    /// On an event the current stage does not wait for: the shell answers each action
    /// as documented, so that is a bug in the shell.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let stage = std::mem::replace(&mut self.stage, Stage::Over);
        match (stage, event) {
            (_, Event::PreprocessFailed(code)) => self.exit(code),
            (Stage::Direct, Event::Direct(found)) => match found {
                Some(reply) => {
                    self.cache = Some(CacheNote::Hit);
                    self.cache_hit(AfterMiss::Scheduler, reply)
                }
                None if self.rules.shared && self.rules.scheduler => {
                    self.stage = Stage::SharedDirect;
                    vec![Action::LookUpShared]
                }
                None => self.distribute(),
            },
            (Stage::SharedDirect, Event::Direct(found)) => match found {
                Some(reply) => {
                    self.cache = Some(CacheNote::SharedHit);
                    self.cache_hit(AfterMiss::Scheduler, reply)
                }
                None => self.distribute(),
            },
            (Stage::SchedulerCpp { started: false }, Event::PreprocessorStarted) => {
                self.stage = Stage::SchedulerCpp { started: true };
                vec![Action::FinishPreprocessor]
            }
            (Stage::SchedulerCpp { started: true }, Event::Preprocessed) => {
                self.preprocessed = true;
                // Asked once the preprocessed source is ready, not while the
                // preprocessor runs: a slot granted meanwhile would sit idle, and a
                // request placed before its size is known is placed blind.
                self.look_up_or(AfterMiss::Scheduler)
            }
            (Stage::LookingUp(then), Event::Cache(lookup)) => {
                let (note, hit) = match lookup {
                    Lookup::Hit(reply) => (CacheNote::Hit, Some(reply)),
                    Lookup::Miss => (CacheNote::Miss, None),
                    Lookup::NotCacheable(why) => (CacheNote::NotCacheable(why), None),
                    Lookup::Unusable(why) => (CacheNote::Unusable(why), None),
                };
                self.cache = Some(note);
                match hit {
                    Some(reply) => self.cache_hit(then, reply),
                    None => self.cache_missed(then),
                }
            }
            (Stage::Asking, Event::Answer(answer)) => {
                let mut actions = Vec::new();
                let reached = matches!(answer, Answer::Granted(_) | Answer::CompileLocally(_));
                if reached && self.unreachable > 0 {
                    // A scheduler answered after failures: forget them for every compile.
                    self.unreachable = 0;
                    actions.push(Action::RecordSuccess(SCHEDULER_KEY.into()));
                }
                actions.extend(self.answered(answer));
                actions
            }
            (Stage::Racing(mut race), Event::Race(event)) => {
                let (mut actions, end) = race.handle(event);
                match end {
                    None => self.stage = Stage::Racing(race),
                    Some(end) => {
                        actions.push(Action::EndRace);
                        actions.extend(self.race_ended(end));
                    }
                }
                actions
            }
            (Stage::Backoff { keys }, Event::Backoff { now, states }) => {
                self.choose(&keys, now, &states)
            }
            (Stage::EarlyCpp { usable }, Event::PreprocessorStarted) => {
                self.stage = Stage::EarlySlot {
                    usable: usable.clone(),
                };
                vec![Action::TakeSlot {
                    among: usable,
                    wait: false,
                }]
            }
            (Stage::EarlySlot { usable }, Event::Slot(slot)) => {
                // Overlap, as distcc does: a remote slot found free is connected to and
                // sent the command line while the preprocessor runs. A busy or
                // unlockable directory only means no overlap.
                let slot = match slot {
                    Slot::Taken(index) => Some(index),
                    Slot::Busy | Slot::Failed(_) => None,
                };
                let mut actions = Vec::new();
                // With the cache on, a hit would leave a server holding a command line
                // it never gets the source for: the connection waits for the miss.
                if let Some(index) = slot.filter(|&i| !self.hosts[i].local && !self.rules.cache) {
                    actions.push(Action::Connect(index));
                }
                actions.push(Action::FinishPreprocessor);
                self.stage = Stage::EarlyFinish { usable, slot };
                actions
            }
            (Stage::EarlyFinish { usable, slot }, Event::Preprocessed) => {
                self.preprocessed = true;
                self.look_up_or(AfterMiss::HostList { usable, slot })
            }
            (Stage::Waiting, Event::Slot(slot)) => match slot {
                Slot::Taken(index) => self.run_on(index),
                Slot::Busy => self.give_up(),
                Slot::Failed(why) => {
                    let mut actions = vec![warn(format!("cannot lock a slot: {why}"))];
                    actions.extend(self.give_up());
                    actions
                }
            },
            (Stage::Sending(index), Event::Verdict(verdict)) => self.judged(index, verdict),
            (Stage::Rerun { reply, host, key }, Event::LocalFinished(code)) => {
                let mut actions = Vec::new();
                if code == 0 {
                    actions.push(warn(format!(
                        "remote compile of {} on {host} failed but the local compile succeeded; avoiding that host",
                        self.input
                    )));
                    actions.extend(key.map(Action::RecordFailure));
                    if !self.rules.fallback {
                        let remote = local_code(reply.status);
                        actions.push(Action::Emit(reply));
                        actions.extend(self.exit(remote));
                        return actions;
                    }
                }
                actions.extend(self.exit(code));
                actions
            }
            (Stage::Delivering { key }, Event::Delivered(code)) => {
                let mut actions: Vec<Action> = key.map(Action::RecordSuccess).into_iter().collect();
                actions.extend(self.exit(code));
                actions
            }
            (Stage::Local, Event::LocalFinished(code)) => self.exit(code),
            (stage, event) => panic!("{event:?} while {stage:?}"),
        }
    }

    /// Look the job up in the cache if it is on, else go on as after a miss.
    fn look_up_or(&mut self, then: AfterMiss) -> Vec<Action> {
        if self.rules.cache {
            self.stage = Stage::LookingUp(then);
            vec![Action::LookUpCache]
        } else {
            self.cache_missed(then)
        }
    }

    fn cache_missed(&mut self, then: AfterMiss) -> Vec<Action> {
        match then {
            AfterMiss::Scheduler => {
                self.stage = Stage::Asking;
                vec![Action::AskScheduler]
            }
            AfterMiss::HostList { usable, slot } => match slot {
                Some(index) => self.run_on(index),
                None => self.wait_for_slot(usable),
            },
        }
    }

    /// A hit is delivered as the compile it stands for; a host-list slot taken while
    /// preprocessing is given back unused.
    fn cache_hit(&mut self, then: AfterMiss, reply: Reply) -> Vec<Action> {
        let mut actions = Vec::new();
        if let AfterMiss::HostList { slot: Some(_), .. } = then {
            actions.push(Action::ReleaseSlot);
        }
        self.place = Place::Cache;
        self.stage = Stage::Delivering { key: None };
        actions.push(info(format!("cache hit for {}", self.input)));
        actions.push(Action::Deliver {
            reply,
            host: "the cache".into(),
        });
        actions
    }

    /// What a successful remote compile is stored as, after a cache miss: only a miss
    /// is worth storing, the rest could never be looked up.
    fn store(&self, reply: &Reply) -> Option<Action> {
        (self.cache == Some(CacheNote::Miss)).then(|| Action::StoreInCache(reply.clone()))
    }

    fn exit(&mut self, code: i32) -> Vec<Action> {
        self.stage = Stage::Over;
        vec![Action::Exit(code)]
    }

    fn compile_locally(&mut self) -> Vec<Action> {
        self.stage = Stage::Local;
        vec![Action::CompileLocally]
    }

    fn answered(&mut self, answer: Answer) -> Vec<Action> {
        if self.attempt > SCHEDULER_ATTEMPTS {
            // The scheduler is asked once more after the last failed server, and that
            // answer, whatever it is, is not used: the job goes to the host list. (The
            // request costs the scheduler a grant given back at once, or the job a
            // wait for the answer of up to `CCFARM_SCHEDULER_WAIT`.)
            let mut actions = Vec::new();
            if matches!(answer, Answer::Granted(_)) {
                actions.push(Action::GiveBackGrant);
            }
            actions.extend(self.host_list());
            return actions;
        }
        match answer {
            Answer::Granted(grant) => {
                let (race, start) = Race::start(&self.input, self.attempt, grant);
                self.stage = Stage::Racing(race);
                let mut actions = vec![Action::WatchLease];
                actions.extend(start);
                actions
            }
            Answer::RunHere => {
                // Not a fallback: the user offered this machine's slots, and the farm
                // chose one as the soonest place, so strict mode allows it.
                self.place = Place::Local(LocalCause::Offered);
                self.stage = Stage::Local;
                vec![
                    info(format!(
                        "scheduler: compile {} here, in a slot this machine offers",
                        self.input
                    )),
                    Action::CompileHere,
                ]
            }
            Answer::CompileLocally(reason) if !self.rules.fallback => {
                // Strict mode promises that every object was compiled on the farm: the
                // farm's "compile here" is then a failure to distribute, said as such.
                let mut actions = vec![Action::Log(
                    Level::Error,
                    format!(
                        "the scheduler answered \"compile {} locally\" ({reason}) and fallbacks are disabled (CCFARM_FALLBACK=0)",
                        self.input
                    ),
                )];
                actions.extend(self.exit(exit::NO_HOSTS.into()));
                actions
            }
            Answer::CompileLocally(reason) => {
                let mut actions = vec![info(format!(
                    "scheduler: compile {} locally: {reason}",
                    self.input
                ))];
                self.place = Place::Local(LocalCause::Scheduler(reason));
                actions.extend(self.compile_locally());
                actions
            }
            Answer::Unusable(why) => self.scheduler_unusable(why),
            Answer::NotAsked(why) => {
                let mut actions = vec![warn(format!("{why}; using the host list"))];
                actions.extend(self.host_list());
                actions
            }
        }
    }

    /// No scheduler could be used: ask the next one of the list at once, or, once each
    /// has failed in turn, all of them again after a pause, until the pauses would
    /// exceed the retry budget; then the host list, and every compile of the user skips
    /// the schedulers for a while ([`SCHEDULER_KEY`]).
    fn scheduler_unusable(&mut self, why: String) -> Vec<Action> {
        self.unreachable += 1;
        let schedulers = self.rules.schedulers.max(1) as u32;
        if !self.unreachable.is_multiple_of(schedulers) {
            self.stage = Stage::Asking;
            return vec![
                info(format!("{why}; asking the next scheduler")),
                Action::AskSchedulerAgain(Duration::ZERO),
            ];
        }
        let round = (self.unreachable / schedulers) as usize;
        let pause = SCHEDULER_RETRY_DELAYS
            .get(round - 1)
            .copied()
            .filter(|p| self.waited + *p <= self.rules.scheduler_retry);
        match pause {
            Some(pause) => {
                self.waited += pause;
                self.stage = Stage::Asking;
                vec![
                    info(format!("{why}; asking again in {} ms", pause.as_millis())),
                    Action::AskSchedulerAgain(pause),
                ]
            }
            None => {
                let mut actions = vec![
                    warn(format!("{why}; using the host list")),
                    Action::RecordFailure(SCHEDULER_KEY.into()),
                ];
                actions.extend(self.host_list());
                actions
            }
        }
    }

    fn race_ended(&mut self, end: RaceEnd) -> Vec<Action> {
        match end {
            RaceEnd::Decided {
                grant,
                verdict: Verdict::Success(reply),
                elapsed,
            } => {
                self.place = Place::Farm(grant.to_string());
                self.stage = Stage::Delivering { key: None };
                let mut actions = vec![Action::Remember {
                    server: grant.server_address(),
                    elapsed,
                }];
                actions.extend(self.store(&reply));
                actions.push(Action::Deliver {
                    reply,
                    host: grant.to_string(),
                });
                actions
            }
            RaceEnd::Decided {
                grant,
                verdict: Verdict::CompileError(reply),
                ..
            } => self.compile_error(grant.to_string(), reply, None),
            // A race is never decided by a failure; treated as one all the same.
            RaceEnd::Decided {
                grant,
                verdict: Verdict::HostFailed { .. },
                ..
            } => self.ask_elsewhere(vec![grant.server_address()]),
            RaceEnd::AllFailed { failed, message } => {
                self.last_message = message.or(self.last_message.take());
                self.ask_elsewhere(failed)
            }
        }
    }

    /// The servers `failed` could not run the job: the scheduler is asked for another.
    fn ask_elsewhere(&mut self, failed: Vec<String>) -> Vec<Action> {
        self.attempt += 1;
        self.stage = Stage::Asking;
        vec![Action::Avoid(failed), Action::AskScheduler]
    }

    /// The compiler failed on a host: the user's error, not the host's. It is re-run
    /// here so the diagnostics are exactly local gcc's (a remote compiler sees only the
    /// preprocessed text and cannot quote source lines); if the local compile disagrees
    /// and succeeds, the host is the problem after all, and `key` is backed off.
    fn compile_error(&mut self, host: String, reply: Reply, key: Option<String>) -> Vec<Action> {
        let remote = local_code(reply.status);
        let mut actions = vec![info(format!(
            "compile {} on {host} failed with exit code {remote}",
            self.input
        ))];
        if self.rules.skip_local_retry {
            self.place = Place::Farm(host);
            actions.push(Action::Emit(reply));
            actions.extend(self.exit(remote));
            return actions;
        }
        self.place = Place::Local(LocalCause::Rerun);
        self.stage = Stage::Rerun { reply, host, key };
        actions.push(Action::CompileLocally);
        actions
    }
}

/// A wait status as a process exit code.
pub fn local_code(status: u32) -> i32 {
    let signal = status & 0x7f;
    if signal != 0 {
        128 + signal as i32
    } else {
        ((status >> 8) & 0xff) as i32
    }
}

fn info(message: String) -> Action {
    Action::Log(Level::Info, message)
}

fn warn(message: String) -> Action {
    Action::Log(Level::Warn, message)
}

mod host_list;
#[cfg(test)]
mod tests;
