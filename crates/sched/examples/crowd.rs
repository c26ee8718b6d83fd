//! Means over seeds of the simulator's figures for a crowd on a large farm: 40 hosts (about
//! 360 slots) and 16 developers with `make -j48`, 200 jobs each, starting half a second
//! apart. More jobs are outstanding than the farm has slots plus the lookahead, so the
//! queue is deep for most of the run and earliest-finish's placement passes saturate
//! (see the `dispatch` module); the harness-sized workloads of `sweep` never do.
//!
//! `cargo run --release -p ccfarm-sched --example crowd [SEEDS] [constant|headers]`

use ccfarm_sched::Policy;
use ccfarm_sched::sim::{Farm, Sizes, Workload, simulate};

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .map_or(10, |s| s.parse().expect("SEEDS is a number"));
    let sizes = match std::env::args().nth(2).as_deref() {
        None => Sizes::Proportional,
        Some("constant") => Sizes::Constant,
        Some("headers") => Sizes::Headers,
        Some(other) => {
            panic!("{other:?}: the second argument is `constant`, `headers` or nothing")
        }
    };
    println!("| policy | ratio | worst ratio | Jain | latency mean ms | speculated |");
    println!("|---|---|---|---|---|---|");
    for p in Policy::ALL {
        let reports: Vec<_> = (0..seeds)
            .map(|s| {
                let farm = Farm::large_seeded(s, 40);
                let w = Workload {
                    sizes,
                    ..Workload::crowd_seeded(s, 16, 48, 200, 0.5)
                };
                simulate(&farm, &w, p)
            })
            .collect();
        let n = reports.len() as f64;
        let mean =
            |f: &dyn Fn(&ccfarm_sched::sim::Report) -> f64| reports.iter().map(f).sum::<f64>() / n;
        let worst = reports.iter().map(|r| r.ratio).fold(0.0, f64::max);
        println!(
            "| {p} | {:.3} | {worst:.3} | {:.4} | {:.0} | {:.1} |",
            mean(&|r| r.ratio),
            mean(&|r| r.jain),
            mean(&|r| r.latency_mean_ms),
            mean(&|r| r.speculations as f64),
        );
    }
}
