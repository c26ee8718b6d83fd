//! The result cache's place in a job: looked up once preprocessed, a hit delivered as
//! the compile, a miss sent to the farm and its result stored.

use super::*;

/// The actions once the scheduler's grant has compiled the job: what follows a
/// successful farm compile.
fn compiled_on_a_grant(m: &mut Distribution) -> Vec<String> {
    m.handle(Event::Answer(Answer::Granted(grant(7))));
    texts(&m.handle(Event::Race(RaceEvent::Done {
        copy: 0,
        verdict: Verdict::Success(reply(0)),
        elapsed: Duration::from_millis(100),
    })))
}

fn cached(rules: Rules) -> Rules {
    Rules {
        cache: true,
        ..rules
    }
}

#[test]
fn a_cache_hit_is_delivered_without_asking_the_scheduler() {
    let mut m = machine("a", cached(scheduled()));
    assert_eq!(texts(&m.start()), ["StartPreprocessor"]);
    step(&mut m, Event::PreprocessorStarted, &["FinishPreprocessor"]);
    step(&mut m, Event::Preprocessed, &["LookUpCache"]);
    step(
        &mut m,
        Event::Cache(Lookup::Hit(reply(0))),
        &["Info: cache hit for a.c", "Deliver from the cache"],
    );
    step(&mut m, Event::Delivered(0), &["Exit(0)"]);
    assert_eq!(*m.place(), Place::Cache);
}

#[test]
fn a_cache_miss_goes_to_the_farm_and_the_farms_result_is_stored() {
    let mut m = machine("a", cached(scheduled()));
    assert_eq!(texts(&m.start()), ["StartPreprocessor"]);
    step(&mut m, Event::PreprocessorStarted, &["FinishPreprocessor"]);
    step(&mut m, Event::Preprocessed, &["LookUpCache"]);
    step(&mut m, Event::Cache(Lookup::Miss), &["AskScheduler"]);
    step(
        &mut m,
        Event::Answer(Answer::Granted(grant(7))),
        &["WatchLease", "StartCopy 0 7"],
    );
    step(
        &mut m,
        Event::Race(RaceEvent::Done {
            copy: 0,
            verdict: Verdict::Success(reply(0)),
            elapsed: Duration::from_millis(100),
        }),
        &[
            "ReleaseLease 7 Ok",
            "EndRace",
            "Remember 10.0.0.9:3632",
            "StoreInCache 0",
            "Deliver from 10.0.0.9:3632/4",
        ],
    );
    step(&mut m, Event::Delivered(0), &["Exit(0)"]);
    assert_eq!(*m.place(), Place::Farm("10.0.0.9:3632/4".into()));
}

#[test]
fn on_the_host_list_the_cache_is_asked_before_connecting_and_a_hit_gives_back_the_slot() {
    let mut m = machine("a b", cached(rules()));
    assert_eq!(texts(&m.start()), [format!("ReadBackoff {A} {B}")]);
    step(&mut m, nothing_backed_off(2), &["StartPreprocessor"]);
    step(
        &mut m,
        Event::PreprocessorStarted,
        &["TakeSlot [0, 1] wait=false"],
    );
    step(&mut m, Event::Slot(Slot::Taken(0)), &["FinishPreprocessor"]);
    step(&mut m, Event::Preprocessed, &["LookUpCache"]);
    step(
        &mut m,
        Event::Cache(Lookup::Hit(reply(0))),
        &[
            "ReleaseSlot",
            "Info: cache hit for a.c",
            "Deliver from the cache",
        ],
    );
    step(&mut m, Event::Delivered(0), &["Exit(0)"]);
    assert_eq!(*m.place(), Place::Cache);

    let mut m = machine("a b", cached(rules()));
    m.start();
    m.handle(nothing_backed_off(2));
    m.handle(Event::PreprocessorStarted);
    m.handle(Event::Slot(Slot::Taken(0)));
    step(&mut m, Event::Preprocessed, &["LookUpCache"]);
    step(&mut m, Event::Cache(Lookup::Miss), &["Send(0)"]);
    step(
        &mut m,
        Event::Verdict(Verdict::Success(reply(0))),
        &["StoreInCache 0", "Deliver from a"],
    );
}

#[test]
fn with_the_cache_off_nothing_is_looked_up_or_stored() {
    let mut m = machine("a", scheduled());
    asked(&mut m);
    let actions = compiled_on_a_grant(&mut m);
    assert!(!actions.iter().any(|a| a.contains("Cache")), "{actions:?}");
}

#[test]
fn a_job_that_cannot_be_cached_is_compiled_and_not_stored_and_its_reason_kept() {
    let mut m = machine("a", cached(scheduled()));
    m.start();
    m.handle(Event::PreprocessorStarted);
    step(&mut m, Event::Preprocessed, &["LookUpCache"]);
    step(
        &mut m,
        Event::Cache(Lookup::NotCacheable("profiling or coverage".into())),
        &["AskScheduler"],
    );
    let actions = compiled_on_a_grant(&mut m);
    assert!(
        !actions.iter().any(|a| a.contains("StoreInCache")),
        "{actions:?}"
    );
    assert_eq!(
        m.cache_note(),
        Some(&CacheNote::NotCacheable("profiling or coverage".into()))
    );
}

fn direct(rules: Rules) -> Rules {
    Rules {
        direct: true,
        ..cached(rules)
    }
}

#[test]
fn a_direct_hit_is_delivered_before_anything_runs() {
    for rules in [direct(scheduled()), direct(rules())] {
        let mut m = machine("a", rules);
        assert_eq!(texts(&m.start()), ["LookUpDirect"]);
        step(
            &mut m,
            Event::Direct(Some(reply(0))),
            &["Info: cache hit for a.c", "Deliver from the cache"],
        );
        step(&mut m, Event::Delivered(0), &["Exit(0)"]);
        assert_eq!(*m.place(), Place::Cache);
        assert_eq!(m.cache_note(), Some(&CacheNote::Hit));
    }
}

#[test]
fn a_direct_miss_preprocesses_and_looks_up_as_before() {
    let mut m = machine("a", direct(scheduled()));
    assert_eq!(texts(&m.start()), ["LookUpDirect"]);
    step(&mut m, Event::Direct(None), &["StartPreprocessor"]);
    step(&mut m, Event::PreprocessorStarted, &["FinishPreprocessor"]);
    step(&mut m, Event::Preprocessed, &["LookUpCache"]);
    step(&mut m, Event::Cache(Lookup::Miss), &["AskScheduler"]);

    let mut m = machine("a", direct(rules()));
    assert_eq!(texts(&m.start()), ["LookUpDirect"]);
    let host_list = machine("a", rules()).start();
    step(
        &mut m,
        Event::Direct(None),
        &texts(&host_list)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
}

fn shared(rules: Rules) -> Rules {
    Rules {
        shared: true,
        ..direct(rules)
    }
}

#[test]
fn after_a_local_direct_miss_the_shared_cache_is_asked_and_its_hit_delivered() {
    let mut m = machine("a", shared(scheduled()));
    assert_eq!(texts(&m.start()), ["LookUpDirect"]);
    step(&mut m, Event::Direct(None), &["LookUpShared"]);
    step(
        &mut m,
        Event::Direct(Some(reply(0))),
        &["Info: cache hit for a.c", "Deliver from the cache"],
    );
    step(&mut m, Event::Delivered(0), &["Exit(0)"]);
    assert_eq!(*m.place(), Place::Cache);
    assert_eq!(m.cache_note(), Some(&CacheNote::SharedHit));
}

#[test]
fn a_shared_miss_preprocesses_and_the_farm_result_is_stored() {
    let mut m = machine("a", shared(scheduled()));
    m.start();
    step(&mut m, Event::Direct(None), &["LookUpShared"]);
    step(&mut m, Event::Direct(None), &["StartPreprocessor"]);
    step(&mut m, Event::PreprocessorStarted, &["FinishPreprocessor"]);
    step(&mut m, Event::Preprocessed, &["LookUpCache"]);
    step(&mut m, Event::Cache(Lookup::Miss), &["AskScheduler"]);
    let actions = compiled_on_a_grant(&mut m);
    assert!(
        actions.iter().any(|a| a.contains("StoreInCache")),
        "{actions:?}"
    );
}

#[test]
fn without_a_scheduler_there_is_no_shared_cache_to_ask() {
    let mut m = machine("a", shared(rules()));
    assert_eq!(texts(&m.start()), ["LookUpDirect"]);
    let host_list = texts(&machine("a", rules()).start());
    let actions = texts(&m.handle(Event::Direct(None)));
    assert_eq!(actions, host_list);
}
