//! The simulator against hand-worked runs and the benchmark's shapes.

use super::report::jain;
use super::run::execute;
use super::workload::bench_costs;
use super::*;
use crate::config::Speculation;
use crate::rng::SplitMix64;
use crate::time::Micros;

#[test]
fn workloads_match_the_benchmark_shape() {
    let w1 = Workload::w1();
    assert_eq!(w1.clients.len(), 1);
    assert_eq!(w1.clients[0].costs.len(), 200);
    let costs = &w1.clients[0].costs;
    assert_eq!(costs.iter().filter(|&&c| c >= 2.0).count(), 8);
    assert!(costs.iter().all(|&c| (0.02..=3.0).contains(&c)));
    // Benchmark's draw totals 83.7 s; ours is another draw of the same distribution.
    let total = w1.total_work();
    assert!((60.0..110.0).contains(&total), "{total}");
    let w2 = Workload::w2();
    assert_eq!(w2.clients.len(), 6);
    assert_eq!(w2.clients[5].start, 10.0);
    assert!(w2.clients.iter().all(|c| c.costs.len() == 80));
    assert_ne!(w2.clients[0].costs, w2.clients[1].costs);
    assert_eq!(Farm::default().capacity(), 7.0);
    assert!(Farm::parse("a:1").is_err());
    assert!(Farm::parse("a:0:1").is_err());
}

#[test]
fn deterministic() {
    for p in [Policy::Random { seed: 3 }, Policy::EarliestFinish] {
        let a = simulate(&Farm::default(), &Workload::w2(), p);
        let b = simulate(&Farm::default(), &Workload::w2(), p);
        assert_eq!(a, b);
    }
    assert_eq!(Workload::w1(), Workload::w1());
    assert_ne!(Workload::w1_seeded(1), Workload::w1_seeded(2));
}

#[test]
fn every_job_completes_once_and_bounds_hold() {
    for r in compare(&[Workload::w1(), Workload::w2()], &Policy::ALL) {
        assert_eq!(r.completed, r.jobs, "{r:?}");
        assert_eq!(r.duplicate_results, 0, "{r:?}");
        assert!(r.ratio >= 1.0, "{r:?}");
        assert!(r.jain > 0.0 && r.jain <= 1.0 + 1e-12, "{r:?}");
        if r.workload == "W1" {
            assert_eq!(r.jain, 1.0);
        }
    }
}

#[test]
fn bounds_and_metrics_by_hand() {
    // One 1-slot host of slowness 2 (capacity 0.5), one client with jobs 1 s and 3 s, -j1.
    let farm = Farm::parse("a:2:1").unwrap();
    let w = Workload {
        name: "t".into(),
        clients: vec![SimClient {
            user: "u".into(),
            start: 0.0,
            jobs_limit: 1,
            costs: vec![1.0, 3.0],
        }],
        sizes: Sizes::Proportional,
    };
    let r = simulate(&farm, &w, Policy::ListOrder);
    assert_eq!(r.makespan, 8.0);
    assert_eq!(r.lb_capacity, 8.0);
    assert_eq!(r.lb_critical, 6.0);
    assert_eq!(r.ratio, 1.0);
    assert_eq!(r.latency_mean_ms, 4000.0);
    assert_eq!(r.latency_p95_ms, 6000.0);
    assert_eq!(jain(&[1.0, 1.0]), 1.0);
    assert_eq!(jain(&[1.0, 0.0]), 0.5);
}

/// A fast and a 4× slower host, one slot each, and one developer at `-j2` whose second
/// job takes 4 s among ten of 0.2 s (sizes proportional to cost).
fn big_job_among_small_ones() -> (Farm, Workload) {
    let farm = Farm::parse("fast:1:1,slow:4:1").unwrap();
    let mut costs = vec![0.2; 10];
    costs.insert(1, 4.0);
    (farm, workload(vec![client("u", 0.0, 2, costs)]))
}

/// [`big_job_among_small_ones`]: list order hands the big job to whichever slot is free
/// (the slow one: 16 s), while earliest finish waits for the fast host (or speculates
/// there).
#[test]
fn earliest_finish_keeps_big_job_off_the_slow_host() {
    let (farm, w) = big_job_among_small_ones();
    let list = simulate(&farm, &w, Policy::ListOrder);
    let eft = simulate(&farm, &w, Policy::EarliestFinish);
    assert_eq!(list.long_jobs_by_slowness.get("4"), Some(&1), "{list:?}");
    assert_eq!(eft.long_jobs_by_slowness.get("4"), None, "{eft:?}");
    assert!(eft.makespan < list.makespan, "{eft:?} vs {list:?}");
}

/// The same jobs with sizes that say nothing: sizes are believed until judged, so the
/// big job, second in line, still waits for the fast host, and the build beats list order.
#[test]
fn sizes_are_believed_until_judged() {
    let (farm, w) = big_job_among_small_ones();
    let w = w.with_constant_sizes();
    let list = simulate(&farm, &w, Policy::ListOrder);
    let eft = simulate(&farm, &w, Policy::EarliestFinish);
    assert_eq!(eft.long_jobs_by_slowness.get("1"), Some(&1), "{eft:?}");
    assert!(eft.makespan < list.makespan, "{eft:?} vs {list:?}");
}

/// Once sizes are seen to say nothing (every file one size, costs 0.1–0.4 s), a job is
/// blind: it takes the free slow slot rather than wait, and when the fast host stands idle
/// the job running longest on the slow one is copied there, whatever its estimate. So the
/// big job, placed late like any other, is finished by its copy on the fast host soon
/// after; without blind copies it runs on the slow one until it looks hung (4 times its
/// estimate and 10 s) and only then is copied.
#[test]
fn a_blind_big_job_on_the_slow_host_is_copied_when_the_fast_host_idles() {
    let farm = Farm::parse("fast:1:1,slow:4:1").unwrap();
    let mut costs: Vec<f64> = (0..16).map(|i| [0.1, 0.4, 0.2, 0.3][i % 4]).collect();
    costs.extend([4.0, 0.2, 0.2, 0.2]);
    let w = workload(vec![client("u", 0.0, 2, costs)]).with_constant_sizes();
    let copies = simulate(&farm, &w, Policy::EarliestFinish);
    let mut cfg = sim_config(Policy::EarliestFinish);
    cfg.speculation = cfg.speculation.map(|s| Speculation {
        blind_min_speedup: 1e9,
        ..s
    });
    let none = simulate_with(cfg, &farm, &w);
    assert!(none.makespan > 12.0, "{none:?}");
    assert!(copies.speculations >= 1, "{copies:?}");
    assert_eq!(
        copies.long_jobs_by_slowness.get("1"),
        Some(&1),
        "{copies:?}"
    );
    assert!(
        copies.makespan < none.makespan - 5.0,
        "{copies:?} vs {none:?}"
    );
}

/// The same jobs again, rebuilt: the client remembers the first build, where the big
/// job ran on the slow host until a copy on the fast one finished it. Its duration there
/// and the fast host's learned speed tell its cost, so it waits for the fast host from
/// the start: no copy (the doubled work of the first build is saved), and no longer a
/// build than the first.
#[test]
fn a_rebuild_places_the_big_job_knowing_its_previous_run() {
    let (farm, w) = big_job_among_small_ones();
    let first = w.with_constant_sizes();
    let again = Workload {
        sizes: Sizes::Rebuild,
        ..first.clone()
    };
    let before = simulate(&farm, &first, Policy::EarliestFinish);
    let rebuilt = simulate(&farm, &again, Policy::EarliestFinish);
    assert_eq!(rebuilt.speculations, 0, "{rebuilt:?}");
    assert_eq!(
        rebuilt.long_jobs_by_slowness.get("1"),
        Some(&1),
        "{rebuilt:?}"
    );
    assert!(
        rebuilt.makespan <= before.makespan,
        "{rebuilt:?} vs {before:?}"
    );
}

/// Noisy run times: still deterministic, every job done once, and the makespan no
/// longer what the costs alone give; a bad spread is refused.
#[test]
fn run_time_noise_is_deterministic_and_moves_run_times() {
    let quiet = Farm::default();
    let noisy = Farm::default().with_noise(0.2).unwrap();
    let w = Workload::w1();
    let a = simulate(&noisy, &w, Policy::EarliestFinish);
    assert_eq!(a, simulate(&noisy, &w, Policy::EarliestFinish));
    assert_eq!((a.completed, a.duplicate_results), (a.jobs, 0), "{a:?}");
    // List order's placement does not depend on estimates, so only the durations
    // differ between its quiet and noisy runs.
    let list_quiet = simulate(&quiet, &w, Policy::ListOrder);
    let list_noisy = simulate(&noisy, &w, Policy::ListOrder);
    assert_ne!(list_quiet.makespan, list_noisy.makespan);
    assert_eq!(list_quiet.lb_capacity, list_noisy.lb_capacity);
    for bad in [-0.1, f64::NAN, f64::INFINITY] {
        assert!(Farm::default().with_noise(bad).is_err(), "{bad}");
    }
}

#[test]
fn fairness_on_w2() {
    let farm = Farm::default();
    let w = Workload::w2();
    let eft = simulate(&farm, &w, Policy::EarliestFinish);
    let list = simulate(&farm, &w, Policy::ListOrder);
    assert!(eft.jain >= 0.9, "{eft:?}");
    assert!(eft.jain >= list.jain - 0.01, "{eft:?} vs {list:?}");
}

fn client(user: &str, start: f64, jobs_limit: u32, costs: Vec<f64>) -> SimClient {
    SimClient {
        user: user.into(),
        start,
        jobs_limit,
        costs,
    }
}

fn workload(clients: Vec<SimClient>) -> Workload {
    Workload {
        name: "t".into(),
        clients,
        sizes: Sizes::Proportional,
    }
}

/// A `make -j200` of 400 jobs is running when a `make -j8` of 40 jobs starts. Fair
/// queueing gives the small build every other grant, so it should take little longer
/// than alone (at worst about twice, with half the farm), not wait behind the big
/// build's queue (about 20 s of work for the farm).
#[test]
fn a_big_build_does_not_starve_a_small_one() {
    let farm = Farm::default();
    let mut rng = SplitMix64::new(11);
    let big = bench_costs(&mut rng, 400);
    let small = bench_costs(&mut rng, 40);
    for p in Policy::ALL {
        let both = workload(vec![
            client("big", 0.0, 200, big.clone()),
            client("small", 5.0, 8, small.clone()),
        ]);
        let alone = workload(vec![client("small", 5.0, 8, small.clone())]);
        let with = simulate(&farm, &both, p);
        let without = simulate(&farm, &alone, p);
        let stretch = with.client_build[1] / without.client_build[0];
        assert!(stretch < 1.6, "{p}: stretch {stretch}: {with:?}");
        assert!(
            with.client_build[1] < with.client_build[0] / 3.0,
            "{p}: {with:?}"
        );
        assert_eq!(with.jobs_local, 0, "{p}");
    }
}

/// Two users with 150 equal jobs each and `-j64`, so both keep requests waiting; one has
/// weight 2. Of 90 grants made while both wait, it gets about 60.
#[test]
fn a_weight_two_user_is_served_twice_as_often() {
    let farm = Farm::default();
    for p in [
        Policy::EarliestFinish,
        Policy::FastestFree,
        Policy::ListOrder,
    ] {
        let mut cfg = sim_config(p);
        cfg.user_weights.insert("heavy".into(), 2.0);
        // Weights alone: the heavy user, starting to wait second, would otherwise go
        // first for its credit (16 grants at weight 2) inside the counted window.
        cfg.fair_credit = 0.0;
        let w = workload(vec![
            client("light", 0.0, 64, vec![0.5; 150]),
            client("heavy", 0.0, 64, vec![0.5; 150]),
        ]);
        let run = execute(cfg, &farm, &w);
        let mut grants: Vec<(Micros, usize)> = (0..run.job_of.len())
            .map(|j| (run.granted_at[j].expect("granted"), run.job_of[j].0))
            .collect();
        grants.sort();
        // The light user starts first and fills the empty farm before the heavy one
        // asks; count from when both wait.
        let both_wait = grants
            .iter()
            .position(|g| g.0 > Micros::ZERO)
            .expect("a queue");
        let heavy = grants[both_wait..both_wait + 90]
            .iter()
            .filter(|g| g.1 == 1)
            .count();
        assert!((57..=63).contains(&heavy), "{p}: heavy got {heavy} of 90");
    }
}

/// A fast and a four times slower host, one slot each, `-j2`, jobs of 2, 2 and 4 s. The
/// second job waits for the fast host, which frees exactly when expected; the tick at
/// that instant comes before the release. When a promise was the host's expected free
/// time, it passed at that tick and the job took the slow host (8 s there), to be
/// rescued by a copy once the fast host freed. A promise now lasts until half the 6 s
/// the fast host saves the job has passed, so it simply waits and runs there.
#[test]
fn a_job_waiting_for_a_fast_host_is_not_sent_away_by_a_tie() {
    let farm = Farm::parse("fast:1:1,slow:4:1").unwrap();
    let w = workload(vec![client("u", 0.0, 2, vec![2.0, 2.0, 4.0])]);
    let r = simulate(&farm, &w, Policy::EarliestFinish);
    assert_eq!(r.long_jobs_by_slowness.get("4"), None, "{r:?}");
    assert_eq!(r.speculations, 0, "{r:?}");
    assert_eq!(r.makespan, 8.0, "{r:?}");
}

/// Prints the comparison: `cargo test -p ccfarm-placement sim -- --nocapture`.
#[test]
fn print_comparison_table() {
    let reports = compare(&[Workload::w1(), Workload::w2()], &Policy::ALL);
    let t = table(&reports);
    println!("{t}");
    assert_eq!(t.lines().count(), 2 + 2 * Policy::ALL.len());
}

/// The clients' own two slots each (the harness's `farm+local`): the same builds finish
/// sooner than on the farm alone, and some jobs run on their clients' machines.
#[test]
fn the_clients_own_slots_shorten_the_builds() {
    let farm = Farm::default().with_knowledge(Knowledge::Calibrated { secs: 0.3 });
    let w = Workload::w2();
    let alone = simulate(&farm, &w, Policy::EarliestFinish);
    let with_own = simulate(&farm.with_client_slots(2), &w, Policy::EarliestFinish);
    assert_eq!(with_own.completed, with_own.jobs);
    assert!(with_own.jobs_local > 0, "{with_own:?}");
    assert!(
        with_own.makespan < alone.makespan * 0.8,
        "{with_own:?} vs {alone:?}"
    );
}
