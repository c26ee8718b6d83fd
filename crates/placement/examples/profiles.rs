//! The simulator's figures over many draws, on several farm profiles, for what the scheduler
//! knows of host speeds: the table behind a placement change, across farms it was not tuned
//! on.
//!
//! `cargo run --release -p ccfarm-placement --example profiles [SEEDS] [NOISE]`
//!
//! For each profile, size mode (`constant`: sizes say nothing about cost, the harness
//! unpadded; `headers`: sizes grow with cost over a constant share of headers, the harness
//! padded) and workload, two rows: `learned` (every weight 1, speeds learned from jobs) and
//! `calibrated` (every weight 1, each host timed on a calibration compile as it joins).
//! Cells: mean and worst makespan ratio over the draws, mean Jain index, mean speculative
//! copies.

use ccfarm_placement::Policy;
use ccfarm_placement::sim::{Farm, Knowledge, Means, Sizes, Workload, simulate};

/// Name and `name:slowness:slots` of every profile.
const PROFILES: [(&str, &str); 3] = [
    ("default", "h1:1:2,h2:1:2,h3:2:2,h4:2:2,h5:4:2,h6:4:2"),
    ("six-times", "h1:1:2,h2:1:2,h3:1.5:2,h4:3:2,h5:6:2,h6:6:2"),
    ("one-big", "h1:1:6,h2:3:2,h3:3:2,h4:5:2,h5:5:2"),
];

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .map_or(40, |s| s.parse().expect("SEEDS is a number"));
    let noise: f64 = std::env::args()
        .nth(2)
        .map_or(0.0, |s| s.parse().expect("NOISE is a number"));
    println!(
        "| profile | sizes | workload | speeds | ratio | worst ratio | Jain | latency mean ms | speculated |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    // Every draw of one workload and size mode on `farm`, under earliest-finish.
    let means = |farm: &Farm, sizes: Sizes, make: fn(u64) -> Workload| {
        let reports: Vec<_> = (0..seeds)
            .map(|s| simulate(farm, &Workload { sizes, ..make(s) }, Policy::EarliestFinish))
            .collect();
        Means::of(&reports).cells()
    };
    let calibrated = Knowledge::Calibrated { secs: 0.3 };
    for (profile, spec) in PROFILES {
        let farm = Farm::parse(spec)
            .expect("a valid profile")
            .with_noise(noise)
            .expect("a valid noise");
        for sizes in [Sizes::Constant, Sizes::Headers] {
            for (name, make) in [
                ("W1", Workload::w1_seeded as fn(u64) -> Workload),
                ("W2", Workload::w2_seeded),
            ] {
                for (speeds, knowledge) in
                    [("learned", Knowledge::Learned), ("calibrated", calibrated)]
                {
                    let farm = farm.clone().with_knowledge(knowledge);
                    let cells = means(&farm, sizes, make);
                    println!("| {profile} | {sizes:?} | {name} | {speeds} | {cells} |");
                }
            }
            // The clients' own two slots each, offered to the scheduler (the harness's
            // `farm+local`), calibrated speeds.
            let farm = farm.clone().with_knowledge(calibrated).with_client_slots(2);
            let cells = means(&farm, sizes, Workload::w2_seeded);
            println!("| {profile} | {sizes:?} | W2 | calibrated, farm+local | {cells} |");
        }
    }
}
