//! The I/O around [`Distribution`]: the one place a job's distribution acts. Each
//! [`Action`] is performed here (preprocess, take a slot, connect, send, read the
//! result, ask the scheduler, run a copy on its thread, compile locally, write the
//! outputs, record back-off and compile times) and what came of it is handed back to
//! the machine as an [`Event`]; the machine decides everything else.
//!
//! A scheduler grant and a host-list entry are sent the job by the same code
//! ([`crate::send::Remote`]); they differ only in how they are connected to.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use ccfarm_proto::farm::{JobDescription, JobResult};

use crate::agent::Dialer;
use crate::agent::wire::Peer;
use crate::backoff::{BackoffPolicy, BackoffStore, HostState, is_backed_off};
use crate::distribution::{Action, Answer, Distribution, Event, Level, Rules, SCHEDULER_KEY, Slot};
use crate::exit;
use crate::history::History;
use crate::hosts::HostEntry;
use crate::job::{self, Job};
use crate::lease::Caller;
use crate::lease::{self, Lease, Notice, Watched};
use crate::preprocess::{self, RunningCpp};
use crate::race::{Grant, RaceEvent};
use crate::records::{CacheNote, Place};
use crate::remote::{Breaker, Connection, RemoteError};
use crate::result_cache;
use crate::send::Remote;
use crate::shared_cache::{self, Found, SharedCache};
use crate::slots::{Candidate, SlotGuard};
use crate::verdict::Verdict;

/// Distribute `job`; the process exit code, and where the job ran.
pub(crate) fn distribute(job: &Job<'_>) -> (i32, Place, Option<CacheNote>) {
    let settings = job.ctx.settings;
    let rules = Rules {
        scheduler: settings.scheduler.is_some(),
        schedulers: settings.schedulers().len(),
        scheduler_retry: settings.scheduler_retry,
        fallback: settings.fallback,
        skip_local_retry: settings.skip_local_retry,
        backoff: BackoffPolicy {
            base: settings.backoff_period,
            max: settings.backoff_period,
        },
        cache: settings.cache,
        direct: settings.cache && settings.cache_direct,
        shared: settings.cache && settings.cache_direct && settings.cache_shared,
    };
    let mut machine = Distribution::new(&job.job.input, job.ctx.hosts, rules.clone());
    std::thread::scope(|scope| {
        let mut shell = Shell {
            job,
            policy: rules.backoff,
            backoff: BackoffStore::open(&settings.state_dir).ok(),
            cpp: None,
            source: None,
            cache_key: None,
            direct: None,
            shared: None,
            slot: None,
            early: None,
            request: None,
            memory: None,
            lease: None,
            here: None,
            race: None,
            scheduler: 0,
            avoid: Vec::new(),
        };
        let mut actions: VecDeque<Action> = machine.start().into();
        loop {
            let Some(action) = actions.pop_front() else {
                // Only a race leaves the machine waiting: its events come from the
                // copies' threads and the lease watcher.
                assert!(machine.racing(), "the machine waits outside a race");
                let event = shell.next_race_event();
                actions.extend(machine.handle(Event::Race(event)));
                continue;
            };
            match shell.perform(scope, action) {
                Performed::Nothing => {}
                Performed::Event(event) => {
                    debug_assert!(actions.is_empty(), "an answered action ends its batch");
                    actions.extend(machine.handle(event));
                }
                Performed::Exit(code) => {
                    return (code, machine.place().clone(), machine.cache_note().cloned());
                }
            }
        }
    })
}

/// What performing an action came to.
enum Performed {
    Nothing,
    Event(Event),
    Exit(i32),
}

/// A scheduler request as first prepared for the job, asked again after a failed server.
struct Request {
    description: JobDescription,
    secure: Option<&'static Dialer>,
}

/// The I/O side of a race: its events, the watched lease, and the copies.
struct RaceIo<'scope> {
    tx: Sender<RaceEvent>,
    rx: Receiver<RaceEvent>,
    watched: Watched,
    /// Each copy's breaker and thread (none if it could not be started).
    copies: Vec<(Arc<Breaker>, Option<ScopedJoinHandle<'scope, ()>>)>,
}

/// What the actions hold between them.
struct Shell<'a, 'scope> {
    job: &'a Job<'a>,
    policy: BackoffPolicy,
    backoff: Option<BackoffStore>,
    cpp: Option<RunningCpp>,
    source: Option<Bytes>,
    /// The job's cache key, from the look-up, for storing the farm's result.
    cache_key: Option<ccfarm_cache::Key>,
    /// The direct look-up's missed manifest, written once the result is in the cache.
    direct: Option<result_cache::Direct>,
    /// The connection to the scheduler's shared cache, once tried (`Some(None)`: it
    /// has none, or could not be reached).
    shared: Option<Option<SharedCache>>,
    slot: Option<SlotGuard>,
    /// A connection opened while the preprocessor ran, with the command line sent.
    early: Option<Result<Connection, RemoteError>>,
    request: Option<Request>,
    memory: Option<(History, String)>,
    /// A grant not yet watched.
    lease: Option<Lease>,
    /// The slot of this machine's own the scheduler placed the job in.
    here: Option<lease::HereLease>,
    race: Option<RaceIo<'scope>>,
    /// Which scheduler of the list is asked (counting round the list).
    scheduler: usize,
    /// Servers that failed the job, which the schedulers are asked to pass over.
    avoid: Vec<String>,
}

impl<'a, 'scope> Shell<'a, 'scope> {
    fn perform<'env>(&mut self, scope: &'scope Scope<'scope, 'env>, action: Action) -> Performed
    where
        'a: 'scope,
    {
        let log = self.job.ctx.log;
        match action {
            Action::Log(Level::Info, message) => log.info(&message),
            Action::Log(Level::Warn, message) => log.warn(&message),
            Action::Log(Level::Error, message) => log.error(&message),
            Action::StartPreprocessor => {
                self.dial_scheduler_ahead();
                return Performed::Event(match self.job.start_preprocessor() {
                    Ok(cpp) => {
                        self.cpp = cpp;
                        Event::PreprocessorStarted
                    }
                    Err(e) => self.preprocess_failed(&e),
                });
            }
            Action::FinishPreprocessor => {
                return Performed::Event(
                    match preprocess::finish(self.cpp.take(), &self.job.job.input) {
                        Ok(source) => {
                            self.source = Some(source);
                            Event::Preprocessed
                        }
                        Err(e) => self.preprocess_failed(&e),
                    },
                );
            }
            Action::LookUpDirect => {
                self.direct = result_cache::direct_of(self.job);
                let hit = self
                    .direct
                    .and_then(|direct| result_cache::look_up_direct(self.job, &direct));
                return Performed::Event(Event::Direct(hit));
            }
            Action::LookUpShared => {
                let hit = match self.direct {
                    Some(direct) => self
                        .open_shared(Some(&direct))
                        .and_then(|found| result_cache::shared_hit(self.job, found)),
                    None => None,
                };
                return Performed::Event(Event::Direct(hit));
            }
            Action::LookUpCache => {
                let source = self.source.as_deref().unwrap_or_default();
                let (lookup, key) = result_cache::look_up(self.job, source);
                self.cache_key = key;
                if let (crate::actions::Lookup::Hit(_), Some(key)) = (&lookup, &key) {
                    self.remember_manifest(key);
                }
                return Performed::Event(Event::Cache(lookup));
            }
            Action::StoreInCache(reply) => {
                if let Some(key) = self.cache_key
                    && result_cache::keep(self.job, &key, &reply)
                {
                    self.remember_manifest(&key);
                }
            }
            Action::AskScheduler => {
                return Performed::Event(Event::Answer(if self.scheduler_avoided() {
                    Answer::NotAsked("no scheduler could be reached moments ago".into())
                } else {
                    self.ask()
                }));
            }
            Action::AskSchedulerAgain(pause) => {
                std::thread::sleep(pause);
                self.scheduler += 1;
                return Performed::Event(Event::Answer(self.ask()));
            }
            Action::Avoid(servers) => self.avoid.extend(servers),
            Action::GiveBackGrant => self.lease = None,
            Action::ReadBackoff(keys) => {
                let now = SystemTime::now();
                let states = keys.iter().map(|key| self.stored_state(key)).collect();
                return Performed::Event(Event::Backoff { now, states });
            }
            Action::TakeSlot { among, wait } => {
                return Performed::Event(Event::Slot(self.take_slot(&among, wait)));
            }
            Action::Connect(index) => {
                let entry = self.entry(index);
                self.early = Some(self.job.connect(&Remote::Listed(entry)));
            }
            Action::Send(index) => {
                let entry = self.entry(index);
                let source = self
                    .source
                    .clone()
                    .expect("preprocessed before a host is sent the job");
                let verdict =
                    self.job
                        .exchange(&Remote::Listed(entry), self.early.take(), None, &source);
                return Performed::Event(Event::Verdict(verdict));
            }
            Action::ReleaseSlot => self.slot = None,
            Action::RecordFailure(key) => {
                if let Some(store) = &self.backoff {
                    let _ = store.record_failure(&key, SystemTime::now());
                }
            }
            Action::RecordSuccess(key) => {
                if let Some(store) = &self.backoff {
                    let _ = store.record_success(&key);
                }
            }
            Action::CompileInSlot => {
                let code = self.job.compile_here();
                self.slot = None;
                return Performed::Event(Event::LocalFinished(code));
            }
            Action::CompileLocally => {
                return Performed::Event(Event::LocalFinished(self.job.compile_locally()));
            }
            Action::CompileHere => {
                let started = Instant::now();
                let code = self.job.compile_locally();
                if let Some(here) = self.here.take() {
                    let result = if code == 0 {
                        JobResult::Ok
                    } else {
                        JobResult::CompileError
                    };
                    here.release(result, started.elapsed());
                }
                return Performed::Event(Event::LocalFinished(code));
            }
            Action::WatchLease => {
                let lease = self.lease.take().expect("a grant to watch");
                let (tx, rx) = mpsc::channel();
                let watched = lease.watch(tx.clone(), notice);
                self.race = Some(RaceIo {
                    tx,
                    rx,
                    watched,
                    copies: Vec::new(),
                });
            }
            Action::StartCopy { copy, grant } => self.start_copy(scope, copy, grant),
            Action::BreakOff(copy) => {
                if let Some((breaker, _)) = self.race_io().copies.get(copy) {
                    breaker.trip();
                }
            }
            Action::ReleaseLease {
                lease,
                result,
                elapsed,
            } => self.race_io().watched.release(lease, result, elapsed),
            Action::EndRace => {
                let race = self.race.take().expect("a race under way");
                race.watched.end();
                // Each copy was broken off or has ended: joining them is prompt (or, for
                // one still connecting, within the connect timeout).
                for (_, copy) in race.copies {
                    if let Some(thread) = copy {
                        let _ = thread.join();
                    }
                }
            }
            Action::Remember { server, elapsed } => {
                if let Some((history, key)) = &self.memory {
                    let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
                    if let Err(e) = history.record(key, ms, &server) {
                        log.info(&format!(
                            "not remembering {}'s compile time: {e}",
                            self.job.job.input
                        ));
                    }
                }
            }
            Action::Deliver { reply, host } => {
                return Performed::Event(Event::Delivered(self.job.deliver(&host, &reply)));
            }
            Action::Emit(reply) => job::emit(&reply),
            Action::ShowServerMessage(message) => {
                use std::io::Write as _;
                let _ = std::io::stderr().write_all(&message);
            }
            Action::Exit(code) => return Performed::Exit(code),
        }
        Performed::Nothing
    }

    /// Write the direct-mode manifests pointing at the result under `key`, now in the
    /// cache, and at the entry the server stored in the farm's shared cache, when that
    /// was asked.
    fn remember_manifest(&mut self, key: &ccfarm_cache::Key) {
        if let Some(Some(cache)) = &self.shared
            && cache.stale()
        {
            self.open_shared(None);
        }
        if let (Some(direct), Some(source)) = (self.direct.take(), self.source.as_ref()) {
            let shared = self.shared.as_mut().and_then(Option::as_mut);
            result_cache::keep_manifest(self.job, &direct, key, source, shared);
        }
    }

    /// Connect to the scheduler's shared cache, looking `direct` up in the same
    /// exchange: what was found, or `None` when there is no shared cache or it could
    /// not be reached (said in the log).
    fn open_shared(&mut self, direct: Option<&result_cache::Direct>) -> Option<Found> {
        let (log, settings) = (self.job.ctx.log, self.job.ctx.settings);
        // No scheduler could be reached moments ago: the cache is not worth a connect
        // timeout per compile, which the lease request then skips as well.
        if self.scheduler_avoided() {
            self.shared = Some(None);
            return None;
        }
        let schedulers = settings.schedulers();
        let scheduler = schedulers.get(self.scheduler % schedulers.len().max(1))?;
        let caller = Caller {
            user: &settings.user,
            machine: &settings.machine,
            secure: self.job.ctx.dialer_if_any(),
        };
        let key = direct.map(result_cache::Direct::key);
        match shared_cache::open(scheduler, caller, settings.connect_timeout, key) {
            Ok((cache, found)) => {
                self.shared = Some(cache);
                Some(found)
            }
            Err(e) => {
                log.info(&format!("shared cache: {e}; preprocessing instead"));
                self.shared = Some(None);
                None
            }
        }
    }

    fn entry(&self, index: usize) -> &'a HostEntry {
        &self.job.ctx.hosts.hosts[index]
    }

    fn race_io(&self) -> &RaceIo<'scope> {
        self.race.as_ref().expect("a race under way")
    }

    fn next_race_event(&self) -> RaceEvent {
        self.race_io().rx.recv().expect("the race holds a sender")
    }

    fn preprocess_failed(&self, e: &preprocess::PreprocessError) -> Event {
        let log = self.job.ctx.log;
        if e.is_users() {
            log.info(&e.to_string());
        } else {
            log.error(&e.to_string());
        }
        Event::PreprocessFailed(e.exit_code())
    }

    /// Take a slot of one of `among` (host-list indices), as distcc searches.
    fn take_slot(&mut self, among: &[usize], wait: bool) -> Slot {
        let keys: Vec<String> = among.iter().map(|&i| self.entry(i).key()).collect();
        let candidates: Vec<Candidate<'_>> = among
            .iter()
            .zip(&keys)
            .map(|(&i, key)| Candidate {
                key,
                slots: self.entry(i).slots,
            })
            .collect();
        let taken = if wait {
            self.job.slots.acquire(&candidates, None)
        } else {
            self.job.slots.try_acquire(&candidates)
        };
        match taken {
            Ok(Some(guard)) => {
                let position = keys
                    .iter()
                    .position(|k| k == guard.key())
                    .expect("granted key is a candidate");
                self.slot = Some(guard);
                Slot::Taken(among[position])
            }
            Ok(None) => Slot::Busy,
            Err(e) => Slot::Failed(e.to_string()),
        }
    }

    /// On a secure farm, start connecting to the scheduler while the preprocessor runs:
    /// the TLS connection (the agent's handoff, or this compile's own handshake) is
    /// then ready when the request is, instead of in front of it. A job that ends
    /// without asking (a cache hit, a preprocessor error) just drops it.
    fn dial_scheduler_ahead(&self) {
        let settings = self.job.ctx.settings;
        let Some(dialer) = self.job.ctx.dialer_if_any() else {
            return;
        };
        let schedulers = settings.schedulers();
        if schedulers.is_empty() || self.scheduler_avoided() {
            return;
        }
        dialer.dial_ahead(
            schedulers[self.scheduler % schedulers.len()],
            Peer::Scheduler,
            settings.connect_timeout,
            settings.scheduler_wait + settings.connect_timeout,
        );
    }

    /// What the back-off store remembers of `key`; nothing with back-off disabled.
    /// Whether no scheduler could be reached moments ago, by this or another of the
    /// user's compiles ([`SCHEDULER_KEY`]'s back-off).
    fn scheduler_avoided(&self) -> bool {
        self.stored_state(SCHEDULER_KEY)
            .is_some_and(|s| is_backed_off(&self.policy, &s, SystemTime::now()))
    }

    fn stored_state(&self, key: &str) -> Option<HostState> {
        match &self.backoff {
            Some(store) if !self.policy.base.is_zero() => store.state(key),
            _ => None,
        }
    }

    /// Ask the scheduler for a server. The request is prepared once: the compile time
    /// remembered, the compiler's identity, the credentials.
    fn ask(&mut self) -> Answer {
        let job = self.job;
        let (log, settings) = (job.ctx.log, job.ctx.settings);
        let schedulers = settings.schedulers();
        if schedulers.is_empty() {
            return Answer::NotAsked("CCFARM_SCHEDULER names no scheduler".into());
        }
        let scheduler = schedulers[self.scheduler % schedulers.len()];
        if self.request.is_none() {
            let memory = job.memory();
            let previous = memory.as_ref().and_then(|(h, key)| h.recall(key));
            if let Some(p) = &previous {
                log.info(&format!(
                    "{} took {} ms on {} last time",
                    job.job.input, p.ms, p.server
                ));
            }
            let description = JobDescription {
                compiler: job.argv[0].clone(),
                source: job.job.input.clone(),
                preprocessed_bytes: self.source.as_ref().map(|s| s.len() as u64),
                previous_ms: previous.as_ref().map(|p| p.ms),
                previous_server: previous.map(|p| p.server),
                compiler_identity: job.identity(),
                avoid: Vec::new(),
                local_slots: settings.local_slots,
            };
            self.memory = memory;
            self.request = Some(Request {
                description,
                secure: job.ctx.dialer_if_any(),
            });
        }
        let request = self.request.as_mut().expect("prepared above");
        request.description.avoid.clone_from(&self.avoid);
        let answer = lease::ask_as(
            scheduler,
            &settings.user,
            &settings.machine,
            request.description.clone(),
            settings.connect_timeout,
            settings.scheduler_wait,
            request.secure,
        )
        .and_then(|pending| {
            if pending.through_agent() {
                log.info(&format!("asked {scheduler} over TLS by the user's agent"));
            }
            pending.wait()
        });
        match answer {
            Ok(lease::Answer::Granted(lease)) => {
                let grant = Grant {
                    lease: lease.id,
                    host: lease.host.clone(),
                    port: lease.port,
                    lzo: lease.lzo,
                    proof: lease.proof.clone(),
                };
                self.lease = Some(lease);
                Answer::Granted(grant)
            }
            Ok(lease::Answer::RunHere(here)) => {
                self.here = Some(here);
                Answer::RunHere
            }
            Ok(lease::Answer::CompileLocally(reason)) => Answer::CompileLocally(reason),
            // This client cannot prove who it is: no scheduler would take it.
            Err(e @ lease::LeaseError::Credentials(_)) => Answer::NotAsked(e.to_string()),
            Err(e) => Answer::Unusable(e.to_string()),
        }
    }

    /// Run copy number `copy` of the job on `grant`'s server, on a thread of its own
    /// that only talks to that server and reports how it ended.
    fn start_copy<'env>(&mut self, scope: &'scope Scope<'scope, 'env>, copy: usize, grant: Grant)
    where
        'a: 'scope,
    {
        let job = self.job;
        let source = self.source.clone().expect("preprocessed before a grant");
        let race = self.race.as_mut().expect("a race under way");
        let breaker = Arc::new(Breaker::default());
        let done = race.tx.clone();
        let failed = race.tx.clone();
        let started = Instant::now();
        let copy_breaker = breaker.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("copy-{}", grant.lease))
            .spawn_scoped(scope, move || {
                // A copy that panicked must still report, or the race would wait for it
                // forever.
                let verdict = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    job.exchange(&Remote::Granted(&grant), None, Some(&copy_breaker), &source)
                }))
                .unwrap_or_else(|_| Verdict::HostFailed {
                    code: exit::GENERAL,
                    why: "the job's thread panicked".into(),
                    back_off: false,
                    message: None,
                });
                let _ = done.send(RaceEvent::Done {
                    copy,
                    verdict,
                    elapsed: started.elapsed(),
                });
            });
        match spawned {
            Ok(thread) => race.copies.push((breaker, Some(thread))),
            Err(e) => {
                let _ = failed.send(RaceEvent::Done {
                    copy,
                    verdict: Verdict::HostFailed {
                        code: exit::GENERAL,
                        why: format!("cannot start a thread: {e}"),
                        back_off: false,
                        message: None,
                    },
                    elapsed: started.elapsed(),
                });
                // Keeps copy numbers and breakers aligned; there is no thread to join.
                race.copies.push((breaker, None));
            }
        }
    }
}

/// The scheduler's notices about a running job, as the race's events.
fn notice(notice: Notice) -> RaceEvent {
    match notice {
        Notice::Cancel(lease) => RaceEvent::Cancel(lease),
        Notice::Speculate(offer) => RaceEvent::Speculate {
            lease: offer.lease,
            copy: Grant {
                lease: offer.new_lease,
                host: offer.host,
                port: offer.port,
                lzo: offer.lzo,
                proof: offer.proof,
            },
        },
        Notice::Lost(why) => RaceEvent::Lost(why),
    }
}
