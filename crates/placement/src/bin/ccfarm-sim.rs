//! `ccfarm-sim`: compare placement policies on synthetic workloads in virtual time,
//! with the scheduler's own state machine. A binary of its own, so that `ccfarm`,
//! started once per compile, does not carry the simulator.

use std::process::ExitCode;

use ccfarm_placement::Policy;
use ccfarm_placement::sim::{self, Farm, Sizes, Workload};

/// distcc's exit code for a bad command line, as `ccfarm` uses it.
const EXIT_BAD_ARGUMENTS: u8 = 101;

const USAGE: &str = "usage: ccfarm-sim [--workloads W1,W2] [--policies all|NAME,...] [--farm NAME:SLOWNESS:SLOTS,...] [--seed N] [--sizes proportional|constant|headers|rebuild] [--noise SPREAD]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_BAD_ARGUMENTS)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let mut workloads = vec!["W1".to_owned(), "W2".to_owned()];
    let mut policies = Policy::ALL.to_vec();
    let mut farm = Farm::default();
    let mut seed = sim::DEFAULT_SEED;
    let mut sizes = Sizes::Proportional;
    let mut noise = 0.0;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--help" {
            println!("{USAGE}");
            return Ok(());
        }
        let Some(value) = it.next() else {
            return Err(USAGE.to_owned());
        };
        let parsed: Result<(), String> = match flag.as_str() {
            "--workloads" => {
                workloads = value.split(',').map(|w| w.trim().to_uppercase()).collect();
                Ok(())
            }
            "--policies" if value == "all" => Ok(()),
            "--policies" => value
                .split(',')
                .map(|p| p.trim().parse::<Policy>().map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()
                .map(|p| policies = p),
            "--farm" => Farm::parse(value)
                .map(|f| farm = f)
                .map_err(|e| e.to_string()),
            "--seed" => value
                .parse()
                .map(|s| seed = s)
                .map_err(|e| format!("--seed: {e}")),
            "--sizes" => value
                .parse()
                .map(|s| sizes = s)
                .map_err(|e| format!("--sizes: {e}")),
            "--noise" => value
                .parse()
                .map(|n| noise = n)
                .map_err(|e| format!("--noise: {e}")),
            _ => Err(USAGE.to_owned()),
        };
        parsed.map_err(|e| format!("ccfarm-sim: {e}"))?;
    }
    let farm = farm
        .with_noise(noise)
        .map_err(|e| format!("ccfarm-sim: --noise: {e}"))?;
    let mut reports = Vec::new();
    for name in &workloads {
        let workload = match name.as_str() {
            "W1" => Workload::w1_seeded(seed),
            "W2" => Workload::w2_seeded(seed),
            other => {
                return Err(format!("ccfarm-sim: unknown workload {other:?} (W1 or W2)"));
            }
        };
        let workload = Workload { sizes, ..workload };
        for &policy in &policies {
            reports.push(sim::simulate(&farm, &workload, policy));
        }
    }
    print!("{}", sim::table(&reports));
    Ok(())
}
