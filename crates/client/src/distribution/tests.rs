//! Each decision of [`Distribution`], driven by scripted events.

mod cache;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ccfarm_proto::distcc::{Reply, Version};

use super::*;
use crate::backoff::HostState;
use crate::hosts::parse_hosts;
use crate::race::{Grant, RaceEvent};
use crate::records::{CacheNote, LocalCause, Place};

const A: &str = "tcp_a_3632";
const B: &str = "tcp_b_3632";

fn rules() -> Rules {
    Rules {
        scheduler: false,
        schedulers: 1,
        scheduler_retry: Duration::ZERO,
        fallback: true,
        skip_local_retry: false,
        backoff: BackoffPolicy::default(),
        cache: false,
        direct: false,
        shared: false,
    }
}

fn strict() -> Rules {
    Rules {
        fallback: false,
        ..rules()
    }
}

fn scheduled() -> Rules {
    Rules {
        scheduler: true,
        ..rules()
    }
}

fn machine(hosts: &str, rules: Rules) -> Distribution {
    Distribution::new("a.c", &parse_hosts(hosts).unwrap(), rules)
}

fn reply(status: u32) -> Reply {
    Reply {
        version: Version::V1,
        status,
        stderr: Bytes::from_static(b"remote diagnostics"),
        stdout: Bytes::new(),
        object: Bytes::new(),
        dotd: None,
    }
}

fn refused() -> Verdict {
    Verdict::HostFailed {
        code: exit::CONNECT_FAILED,
        why: "connection refused".into(),
        back_off: true,
        message: None,
    }
}

fn grant(lease: u64) -> Grant {
    Grant {
        lease,
        host: "10.0.0.9".into(),
        port: 3632,
        lzo: false,
        proof: None,
    }
}

const NOW: Duration = Duration::from_secs(1_700_000_000);

fn now() -> SystemTime {
    UNIX_EPOCH + NOW
}

fn nothing_backed_off(n: usize) -> Event {
    Event::Backoff {
        now: now(),
        states: vec![None; n],
    }
}

/// An action as text, logs with their level.
fn text(action: &Action) -> String {
    match action {
        Action::Log(level, m) => format!("{level:?}: {m}"),
        Action::ReadBackoff(keys) => format!("ReadBackoff {}", keys.join(" ")),
        Action::TakeSlot { among, wait } => format!("TakeSlot {among:?} wait={wait}"),
        Action::Deliver { host, .. } => format!("Deliver from {host}"),
        Action::Emit(reply) => format!("Emit {}", reply.status),
        Action::ShowServerMessage(message) => {
            format!("ShowServerMessage {}", String::from_utf8_lossy(message))
        }
        Action::Remember { server, .. } => format!("Remember {server}"),
        Action::StartCopy { copy, grant } => format!("StartCopy {copy} {}", grant.lease),
        Action::ReleaseLease { lease, result, .. } => format!("ReleaseLease {lease} {result:?}"),
        Action::StoreInCache(reply) => format!("StoreInCache {}", reply.status),
        other => format!("{other:?}"),
    }
}

fn texts(actions: &[Action]) -> Vec<String> {
    actions.iter().map(text).collect()
}

/// Feed `event`, expecting exactly `want`.
fn step(m: &mut Distribution, event: Event, want: &[&str]) {
    let actions = m.handle(event);
    batch_is_well_formed(&actions, m.racing());
    assert_eq!(texts(&actions), want);
}

/// Only a batch's last action is answered with an event, an exit is last, and a batch
/// that neither waits for an answer nor exits leaves the machine racing.
fn batch_is_well_formed(actions: &[Action], racing: bool) {
    let waits = match actions.split_last() {
        Some((last, rest)) => {
            for action in rest {
                assert!(
                    !action.is_answered() && !matches!(action, Action::Exit(_)),
                    "{action:?} before the end of {:?}",
                    texts(actions)
                );
            }
            last.is_answered() || matches!(last, Action::Exit(_))
        }
        None => false,
    };
    assert!(waits || racing, "nothing to wait for: {:?}", texts(actions));
}

/// A host-list job up to the verdict on entry 0 (`a`), the preprocessor overlapping
/// the connection.
fn sent_to_a(m: &mut Distribution) {
    assert_eq!(texts(&m.start()), [format!("ReadBackoff {A} {B}")]);
    step(m, nothing_backed_off(2), &["StartPreprocessor"]);
    step(
        m,
        Event::PreprocessorStarted,
        &["TakeSlot [0, 1] wait=false"],
    );
    step(
        m,
        Event::Slot(Slot::Taken(0)),
        &["Connect(0)", "FinishPreprocessor"],
    );
    step(m, Event::Preprocessed, &["Send(0)"]);
}

#[test]
fn a_success_on_the_first_host_is_delivered_and_clears_its_backoff() {
    let mut m = machine("a b", rules());
    sent_to_a(&mut m);
    step(
        &mut m,
        Event::Verdict(Verdict::Success(reply(0))),
        &["Deliver from a"],
    );
    step(
        &mut m,
        Event::Delivered(0),
        &[&format!("RecordSuccess({A:?})"), "Exit(0)"],
    );
}

#[test]
fn a_transport_failure_backs_the_host_off_and_tries_the_next() {
    let mut m = machine("a b", rules());
    sent_to_a(&mut m);
    step(
        &mut m,
        Event::Verdict(refused()),
        &[
            "ReleaseSlot",
            "Warn: failed to distribute a.c to a: connection refused",
            &format!("RecordFailure({A:?})"),
            &format!("ReadBackoff {B}"),
        ],
    );
    // Already preprocessed: no overlap, a slot is waited for.
    step(&mut m, nothing_backed_off(1), &["TakeSlot [1] wait=true"]);
    step(&mut m, Event::Slot(Slot::Taken(1)), &["Send(1)"]);
    step(
        &mut m,
        Event::Verdict(Verdict::Success(reply(0))),
        &["Deliver from b"],
    );
}

#[test]
fn a_refusal_of_the_job_moves_on_without_backing_the_host_off() {
    let mut m = machine("a b", rules());
    sent_to_a(&mut m);
    let refusal = Verdict::HostFailed {
        code: exit::ACCESS_DENIED,
        why: "not allowed".into(),
        back_off: false,
        message: None,
    };
    let got = texts(&m.handle(Event::Verdict(refusal)));
    assert!(
        !got.iter().any(|a| a.starts_with("RecordFailure")),
        "{got:?}"
    );
    assert_eq!(got.last().unwrap(), &format!("ReadBackoff {B}"));
}

/// A job on a one-host list whose server refuses it, saying `message`: the actions
/// once no host is left.
fn refused_by_the_only_host(rules: Rules, message: &'static [u8]) -> Vec<String> {
    let mut m = machine("a", rules);
    assert_eq!(texts(&m.start()), [format!("ReadBackoff {A}")]);
    step(&mut m, nothing_backed_off(1), &["StartPreprocessor"]);
    m.handle(Event::PreprocessorStarted);
    m.handle(Event::Slot(Slot::Taken(0)));
    m.handle(Event::Preprocessed);
    let refusal = Verdict::HostFailed {
        code: exit::ACCESS_DENIED,
        why: "server failed the job with code 113".into(),
        back_off: false,
        message: Some(bytes::Bytes::from_static(message)),
    };
    let got = texts(&m.handle(Event::Verdict(refusal)));
    assert_eq!(got.last().unwrap(), "ReadBackoff ", "{got:?}");
    texts(&m.handle(nothing_backed_off(0)))
}

#[test]
fn a_strict_job_that_every_server_refused_shows_the_last_servers_reason() {
    let got = refused_by_the_only_host(strict(), b"ccfarmd: mygcc is not allow-listed\n");
    let shown = got
        .iter()
        .position(|a| a == "ShowServerMessage ccfarmd: mygcc is not allow-listed\n");
    let failed = got
        .iter()
        .position(|a| a.contains("fallbacks are disabled"));
    assert!(
        matches!((shown, failed), (Some(s), Some(f)) if s < f),
        "{got:?}"
    );
    assert_eq!(
        got.last().unwrap(),
        &format!("Exit({})", exit::ACCESS_DENIED)
    );

    // With fallback on the job compiles here, and the server's words stay in the log.
    let got = refused_by_the_only_host(rules(), b"not allowed\n");
    assert_eq!(got.last().unwrap(), "CompileLocally", "{got:?}");
    assert!(
        !got.iter().any(|a| a.starts_with("ShowServerMessage")),
        "{got:?}"
    );
}

#[test]
fn a_compile_error_is_the_users_result_not_a_host_failure() {
    let mut m = machine("a b", rules());
    sent_to_a(&mut m);
    step(
        &mut m,
        Event::Verdict(Verdict::CompileError(reply(1 << 8))),
        &[
            "ReleaseSlot",
            "Info: compile a.c on a failed with exit code 1",
            "CompileLocally",
        ],
    );
    // The local re-run agrees: its diagnostics and code are the user's; no host blamed.
    step(&mut m, Event::LocalFinished(1), &["Exit(1)"]);
}

#[test]
fn a_compile_error_with_local_retry_skipped_shows_the_remote_diagnostics() {
    let mut m = machine(
        "a",
        Rules {
            skip_local_retry: true,
            ..rules()
        },
    );
    m.start();
    m.handle(nothing_backed_off(1));
    m.handle(Event::PreprocessorStarted);
    m.handle(Event::Slot(Slot::Taken(0)));
    m.handle(Event::Preprocessed);
    step(
        &mut m,
        Event::Verdict(Verdict::CompileError(reply(2 << 8))),
        &[
            "ReleaseSlot",
            "Info: compile a.c on a failed with exit code 2",
            "Emit 512",
            "Exit(2)",
        ],
    );
}

#[test]
fn a_remote_compile_error_that_compiles_here_backs_the_host_off() {
    let mut m = machine("a b", rules());
    sent_to_a(&mut m);
    m.handle(Event::Verdict(Verdict::CompileError(reply(1 << 8))));
    step(
        &mut m,
        Event::LocalFinished(0),
        &[
            "Warn: remote compile of a.c on a failed but the local compile succeeded; avoiding that host",
            &format!("RecordFailure({A:?})"),
            "Exit(0)",
        ],
    );
    // In strict mode the local success is not passed off as the job's result.
    let mut m = machine("a b", strict());
    sent_to_a(&mut m);
    m.handle(Event::Verdict(Verdict::CompileError(reply(1 << 8))));
    let got = texts(&m.handle(Event::LocalFinished(0)));
    assert_eq!(got[2..], ["Emit 256", "Exit(1)"]);
}

#[test]
fn every_host_failing_compiles_locally_with_fallback_on() {
    let mut m = machine("a", rules());
    m.start();
    m.handle(nothing_backed_off(1));
    m.handle(Event::PreprocessorStarted);
    m.handle(Event::Slot(Slot::Taken(0)));
    m.handle(Event::Preprocessed);
    let got = texts(&m.handle(Event::Verdict(refused())));
    assert_eq!(got.last().unwrap(), "ReadBackoff ");
    step(
        &mut m,
        nothing_backed_off(0),
        &[
            "Warn: failed to distribute a.c, running locally instead",
            "CompileLocally",
        ],
    );
    step(&mut m, Event::LocalFinished(0), &["Exit(0)"]);
}

#[test]
fn strict_mode_never_compiles_locally_and_fails_with_the_last_code() {
    let mut m = machine("a b", strict());
    sent_to_a(&mut m);
    m.handle(Event::Verdict(refused()));
    m.handle(nothing_backed_off(1));
    m.handle(Event::Slot(Slot::Taken(1)));
    let timeout = Verdict::HostFailed {
        code: exit::TIMEOUT,
        why: "timed out".into(),
        back_off: true,
        message: None,
    };
    m.handle(Event::Verdict(timeout));
    step(
        &mut m,
        nothing_backed_off(0),
        &[
            "Error: failed to distribute and fallbacks are disabled",
            "Exit(118)",
        ],
    );
    // With no host at all, distcc's "no hosts".
    let mut m = machine("", strict());
    assert_eq!(texts(&m.start()), ["ReadBackoff "]);
    let got = texts(&m.handle(nothing_backed_off(0)));
    assert_eq!(got.last().unwrap(), "Exit(116)");
    assert!(!got.iter().any(|a| a.starts_with("Compile")), "{got:?}");
}

#[test]
fn backed_off_down_and_ssh_hosts_are_skipped_and_localhost_is_never_backed_off() {
    let mut m = machine("a,down @s localhost/1 b c", rules());
    let keys = format!("ReadBackoff {B} tcp_c_3632");
    assert_eq!(texts(&m.start()), [keys.as_str()]);
    // b failed a second ago: backed off; c failed long ago: usable again.
    let recent = HostState {
        failures: 1,
        last_failure: now() - Duration::from_secs(1),
    };
    let old = HostState {
        failures: 1,
        last_failure: now() - Duration::from_secs(3600),
    };
    step(
        &mut m,
        Event::Backoff {
            now: now(),
            states: vec![Some(recent), Some(old)],
        },
        &["StartPreprocessor"],
    );
    step(
        &mut m,
        Event::PreprocessorStarted,
        &["TakeSlot [2, 4] wait=false"],
    );
    // No free slot while preprocessing: wait for one once the source is ready.
    step(&mut m, Event::Slot(Slot::Busy), &["FinishPreprocessor"]);
    step(&mut m, Event::Preprocessed, &["TakeSlot [2, 4] wait=true"]);
    // The localhost slot came first: compile here, no connection.
    step(&mut m, Event::Slot(Slot::Taken(2)), &["CompileInSlot"]);
    step(&mut m, Event::LocalFinished(0), &["Exit(0)"]);
}

#[test]
fn only_localhost_needs_no_preprocessor() {
    let mut m = machine("localhost", rules());
    assert_eq!(texts(&m.start()), ["ReadBackoff "]);
    step(&mut m, nothing_backed_off(0), &["TakeSlot [0] wait=true"]);
    step(&mut m, Event::Slot(Slot::Taken(0)), &["CompileInSlot"]);
}

#[test]
fn a_preprocessor_failure_is_the_users_result() {
    let mut m = machine("a", strict());
    m.start();
    m.handle(nothing_backed_off(1));
    m.handle(Event::PreprocessorStarted);
    m.handle(Event::Slot(Slot::Taken(0)));
    step(&mut m, Event::PreprocessFailed(1), &["Exit(1)"]);
}

#[test]
fn unlockable_slots_end_the_host_list() {
    let mut m = machine("a", rules());
    m.start();
    m.handle(nothing_backed_off(1));
    m.handle(Event::PreprocessorStarted);
    m.handle(Event::Slot(Slot::Failed("denied".into())));
    m.handle(Event::Preprocessed);
    step(
        &mut m,
        Event::Slot(Slot::Failed("denied".into())),
        &[
            "Warn: cannot lock a slot: denied",
            "Warn: failed to distribute a.c, running locally instead",
            "CompileLocally",
        ],
    );
}

/// A scheduled job up to the scheduler's first answer.
fn asked(m: &mut Distribution) {
    assert_eq!(texts(&m.start()), ["StartPreprocessor"]);
    step(m, Event::PreprocessorStarted, &["FinishPreprocessor"]);
    step(m, Event::Preprocessed, &["AskScheduler"]);
}

#[test]
fn a_granted_job_runs_as_a_race_and_is_remembered_and_delivered() {
    let mut m = machine("a", scheduled());
    asked(&mut m);
    step(
        &mut m,
        Event::Answer(Answer::Granted(grant(7))),
        &["WatchLease", "StartCopy 0 7"],
    );
    assert!(m.racing());
    step(
        &mut m,
        Event::Race(RaceEvent::Done {
            copy: 0,
            verdict: Verdict::Success(reply(0)),
            elapsed: Duration::from_millis(1500),
        }),
        &[
            "ReleaseLease 7 Ok",
            "EndRace",
            "Remember 10.0.0.9:3632",
            "Deliver from 10.0.0.9:3632/4",
        ],
    );
    // A grant's success touches no host-list back-off.
    step(&mut m, Event::Delivered(0), &["Exit(0)"]);
    assert_eq!(*m.place(), Place::Farm("10.0.0.9:3632/4".into()));
}

#[test]
fn a_granted_compile_error_is_rerun_here_without_blaming_anyone() {
    let mut m = machine("a", scheduled());
    asked(&mut m);
    m.handle(Event::Answer(Answer::Granted(grant(7))));
    let got = texts(&m.handle(Event::Race(RaceEvent::Done {
        copy: 0,
        verdict: Verdict::CompileError(reply(1 << 8)),
        elapsed: Duration::ZERO,
    })));
    assert_eq!(
        got[1..],
        [
            "EndRace",
            "Info: compile a.c on 10.0.0.9:3632/4 failed with exit code 1",
            "CompileLocally"
        ]
    );
    let got = texts(&m.handle(Event::LocalFinished(0)));
    assert!(
        !got.iter().any(|a| a.starts_with("RecordFailure")),
        "{got:?}"
    );
    assert_eq!(got.last().unwrap(), "Exit(0)");
}

#[test]
fn failed_grants_ask_again_then_the_host_list_takes_the_preprocessed_source() {
    let mut m = machine("a", scheduled());
    asked(&mut m);
    for attempt in 1..=SCHEDULER_ATTEMPTS {
        m.handle(Event::Answer(Answer::Granted(grant(attempt.into()))));
        let got = texts(&m.handle(Event::Race(RaceEvent::Done {
            copy: 0,
            verdict: refused(),
            elapsed: Duration::ZERO,
        })));
        assert_eq!(
            got,
            [
                format!("ReleaseLease {attempt} TransportFailure"),
                format!(
                    "Warn: failed to distribute a.c to 10.0.0.9:3632/4 (granted by the scheduler, attempt {attempt}): connection refused"
                ),
                "EndRace".into(),
                // The next grant is asked for elsewhere.
                "Avoid([\"10.0.0.9:3632\"])".into(),
                "AskScheduler".into(),
            ]
        );
    }
    // The answer to the request after the last failed server is not used.
    step(
        &mut m,
        Event::Answer(Answer::Granted(grant(9))),
        &["GiveBackGrant", &format!("ReadBackoff {A}")],
    );
    // The source is ready: no second preprocessor.
    step(&mut m, nothing_backed_off(1), &["TakeSlot [0] wait=true"]);
}

#[test]
fn an_unusable_scheduler_falls_back_to_the_host_list_or_a_local_compile() {
    let mut m = machine("a", scheduled());
    asked(&mut m);
    step(
        &mut m,
        Event::Answer(Answer::Unusable("scheduler s:1: refused".into())),
        &[
            "Warn: scheduler s:1: refused; using the host list",
            "RecordFailure(\"scheduler\")",
            &format!("ReadBackoff {A}"),
        ],
    );
    step(&mut m, nothing_backed_off(1), &["TakeSlot [0] wait=true"]);
    // Without hosts: local, as today, or a loud failure in strict mode.
    let mut m = machine("", scheduled());
    asked(&mut m);
    m.handle(Event::Answer(Answer::Unusable("unreachable".into())));
    step(
        &mut m,
        nothing_backed_off(0),
        &[
            "Warn: failed to distribute a.c, running locally instead",
            "CompileLocally",
        ],
    );
    let mut m = machine(
        "",
        Rules {
            scheduler: true,
            ..strict()
        },
    );
    asked(&mut m);
    m.handle(Event::Answer(Answer::Unusable("unreachable".into())));
    let got = texts(&m.handle(nothing_backed_off(0)));
    assert_eq!(got.last().unwrap(), "Exit(116)");
}

#[test]
fn the_schedulers_compile_locally_is_obeyed_and_logged() {
    let mut m = machine("a", scheduled());
    asked(&mut m);
    step(
        &mut m,
        Event::Answer(Answer::CompileLocally("farm saturated".into())),
        &[
            "Info: scheduler: compile a.c locally: farm saturated",
            "CompileLocally",
        ],
    );
    step(&mut m, Event::LocalFinished(3), &["Exit(3)"]);
    assert_eq!(
        *m.place(),
        Place::Local(LocalCause::Scheduler("farm saturated".into()))
    );
}

#[test]
fn a_speculative_copy_wins_through_the_machine() {
    let mut m = machine("", scheduled());
    asked(&mut m);
    m.handle(Event::Answer(Answer::Granted(grant(1))));
    let fast = Grant {
        lease: 2,
        host: "fast".into(),
        ..grant(2)
    };
    let got = texts(&m.handle(Event::Race(RaceEvent::Speculate {
        lease: 1,
        copy: fast,
    })));
    assert_eq!(got.last().unwrap(), "StartCopy 1 2");
    let got = texts(&m.handle(Event::Race(RaceEvent::Done {
        copy: 1,
        verdict: Verdict::Success(reply(0)),
        elapsed: Duration::ZERO,
    })));
    assert_eq!(
        got,
        [
            "ReleaseLease 2 Ok",
            "Info: a.c: the copy on fast:3632/4 (lease 2) finished first",
            "BreakOff(0)",
            "EndRace",
            "Remember fast:3632",
            "Deliver from fast:3632/4",
        ]
    );
}

#[test]
fn wait_statuses_are_exit_codes() {
    assert_eq!(local_code(0), 0);
    assert_eq!(local_code(1 << 8), 1);
    assert_eq!(local_code(9), 137);
}

#[test]
fn with_fallback_off_the_schedulers_compile_locally_fails_loudly() {
    let mut rules = scheduled();
    rules.fallback = false;
    let mut m = machine("a", rules);
    asked(&mut m);
    let got = texts(&m.handle(Event::Answer(Answer::CompileLocally(
        "no server compiles with gcc 12".into(),
    ))));
    assert!(
        got[0].starts_with(
            "Error: the scheduler answered \"compile a.c locally\" (no server compiles with gcc 12)"
        ),
        "{got:?}"
    );
    assert_eq!(got.last().unwrap(), "Exit(116)");
    assert!(!got.iter().any(|a| a == "CompileLocally"), "{got:?}");
}

#[test]
fn an_unreachable_scheduler_is_asked_again_the_next_of_the_list_at_once() {
    let mut m = machine(
        "a",
        Rules {
            schedulers: 2,
            scheduler_retry: Duration::from_secs(1),
            ..scheduled()
        },
    );
    asked(&mut m);
    let unusable = || Event::Answer(Answer::Unusable("s1: refused".into()));
    step(
        &mut m,
        unusable(),
        &[
            "Info: s1: refused; asking the next scheduler",
            "AskSchedulerAgain(0ns)",
        ],
    );
    // Both failed: a pause, then both again; the pauses stop within the budget (1 s:
    // 250 ms and 500 ms fit, 1 s more does not).
    step(
        &mut m,
        unusable(),
        &[
            "Info: s1: refused; asking again in 250 ms",
            "AskSchedulerAgain(250ms)",
        ],
    );
    step(
        &mut m,
        unusable(),
        &[
            "Info: s1: refused; asking the next scheduler",
            "AskSchedulerAgain(0ns)",
        ],
    );
    step(
        &mut m,
        unusable(),
        &[
            "Info: s1: refused; asking again in 500 ms",
            "AskSchedulerAgain(500ms)",
        ],
    );
    m.handle(unusable());
    step(
        &mut m,
        unusable(),
        &[
            "Warn: s1: refused; using the host list",
            "RecordFailure(\"scheduler\")",
            &format!("ReadBackoff {A}"),
        ],
    );
}

#[test]
fn a_scheduler_that_answers_after_failures_is_no_longer_avoided() {
    let mut m = machine(
        "",
        Rules {
            scheduler_retry: Duration::from_secs(12),
            ..strict_scheduled()
        },
    );
    asked(&mut m);
    m.handle(Event::Answer(Answer::Unusable("restarting".into())));
    let got = texts(&m.handle(Event::Answer(Answer::Granted(grant(1)))));
    assert_eq!(got[0], "RecordSuccess(\"scheduler\")", "{got:?}");
    assert!(
        got.iter().any(|a| a.starts_with("StartCopy 0 1")),
        "{got:?}"
    );
}

#[test]
fn a_scheduler_not_asked_sends_the_job_to_the_host_list_without_waiting() {
    let mut m = machine(
        "a",
        Rules {
            scheduler_retry: Duration::from_secs(12),
            ..scheduled()
        },
    );
    asked(&mut m);
    step(
        &mut m,
        Event::Answer(Answer::NotAsked(
            "no scheduler could be reached moments ago".into(),
        )),
        &[
            "Warn: no scheduler could be reached moments ago; using the host list",
            &format!("ReadBackoff {A}"),
        ],
    );
    // In strict mode, with no host to try, that is a loud failure.
    let mut m = machine(
        "",
        Rules {
            scheduler_retry: Duration::from_secs(12),
            ..strict_scheduled()
        },
    );
    asked(&mut m);
    m.handle(Event::Answer(Answer::NotAsked("unreachable".into())));
    let got = texts(&m.handle(nothing_backed_off(0)));
    assert_eq!(got.last().unwrap(), "Exit(116)");
}

fn strict_scheduled() -> Rules {
    Rules {
        scheduler: true,
        ..strict()
    }
}
