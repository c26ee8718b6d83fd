//! The simulator on the shared benchmark harness's own draws of W1 and W2, so that a
//! measured harness figure can be set beside what the policy does on the same jobs with
//! no overheads at all, with sizes that tell the costs (a padded run) and sizes that do
//! not (the default run).
//!
//! The harness generates its workloads with Python's Mersenne Twister, so the draws are
//! exported from it rather than re-drawn here (one line per client: start in seconds,
//! `make -j`, then the job costs in seconds, in Makefile order):
//!
//! ```sh
//! cd "$BENCH_ROOT" && python3 -c 'import benchlib    # the benchmark harness's directory
//! for w in ["W1", "W2"]:
//!     with open(f"/tmp/harness-{w}.txt", "w") as f:
//!         for c in benchlib.make_workload(w).clients:
//!             print(c.offset_s, c.make_j, *(j.cost_ms / 1000 for j in c.jobs), file=f)'
//! cargo run --release -p ccfarm-placement --example harness_draw /tmp/harness-W1.txt /tmp/harness-W2.txt
//! ```
//!
//! `FARM=name:slowness:slots,...` runs another farm than the harness's default one;
//! `SPEEDS=weights|learned|calibrated` says what the scheduler knows of the hosts' speeds
//! ([`Knowledge`]; default `weights`).

use ccfarm_placement::Policy;
use ccfarm_placement::sim::{Farm, Knowledge, SimClient, Sizes, Workload, simulate};

fn parse(path: &str) -> Workload {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let clients = text
        .lines()
        .enumerate()
        .map(|(k, line)| {
            let mut fields = line.split_whitespace();
            let mut next = |what: &str| {
                fields
                    .next()
                    .unwrap_or_else(|| panic!("{path}:{}: no {what}", k + 1))
                    .to_owned()
            };
            let start = next("start").parse().expect("start is seconds");
            let jobs_limit = next("-j").parse().expect("-j is a count");
            SimClient {
                user: format!("c{k}"),
                start,
                jobs_limit,
                costs: fields
                    .map(|c| c.parse().expect("costs are seconds"))
                    .collect(),
            }
        })
        .collect();
    let name = std::path::Path::new(path)
        .file_stem()
        .map_or_else(|| path.to_owned(), |s| s.to_string_lossy().into_owned());
    Workload {
        name,
        clients,
        sizes: Sizes::Proportional,
    }
}

fn main() {
    let farm = std::env::var("FARM").map_or_else(
        |_| Farm::default(),
        |spec| Farm::parse(&spec).unwrap_or_else(|e| panic!("FARM: {e}")),
    );
    let speeds: Knowledge = std::env::var("SPEEDS")
        .map_or(Ok(Knowledge::Weights), |s| s.parse())
        .unwrap_or_else(|e| panic!("SPEEDS: {e}"));
    let farm = farm.with_knowledge(speeds);
    println!("| workload | sizes | policy | ratio | Jain | speculated |");
    println!("|---|---|---|---|---|---|");
    for path in std::env::args().skip(1) {
        let workload = parse(&path);
        for sizes in [
            Sizes::Proportional,
            Sizes::Constant,
            Sizes::Headers,
            Sizes::Rebuild,
        ] {
            let w = Workload {
                sizes,
                ..workload.clone()
            };
            for p in Policy::ALL {
                let r = simulate(&farm, &w, p);
                println!(
                    "| {} | {sizes:?} | {p} | {:.3} | {:.4} | {} |",
                    w.name, r.ratio, r.jain, r.speculations
                );
            }
        }
    }
}
