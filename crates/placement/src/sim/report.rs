//! What a run measured: its figures against the lower bounds, the means over draws, and
//! the markdown table `ccfarm simulate` prints.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::policy::Policy;
use crate::time::Micros;

use super::Farm;
use super::run::Run;

/// What one (policy, workload) run measured. Times are seconds unless named `_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Workload name.
    pub workload: String,
    /// Policy name.
    pub policy: String,
    /// Jobs in the workload.
    pub jobs: usize,
    /// Jobs that completed (equal to `jobs` unless the simulation stalled).
    pub completed: usize,
    /// Results of speculative copies that arrived after their job had completed (a twin the
    /// scheduler failed to cancel); always 0 when the scheduler is correct.
    pub duplicate_results: usize,
    /// From the first client's start to the last job's completion.
    pub makespan: f64,
    /// Max over client start times t of t + work released at or after t / capacity.
    pub lb_capacity: f64,
    /// Max over clients of start + longest job × the fastest host's slowness.
    pub lb_critical: f64,
    /// `makespan / max(lb_capacity, lb_critical)`; 1.0 is optimal.
    pub ratio: f64,
    /// Each client's build time (its last completion minus its start).
    pub client_build: Vec<f64>,
    /// Jain's fairness index over `client_build`: (Σx)² / (n·Σx²), 1.0 = equal.
    pub jain: f64,
    /// Mean job latency, submission to completion, milliseconds.
    pub latency_mean_ms: f64,
    /// 95th percentile (nearest rank) job latency, milliseconds.
    pub latency_p95_ms: f64,
    /// Jobs compiled on the client's machine.
    pub jobs_local: usize,
    /// Speculative copies started.
    pub speculations: usize,
    /// Long jobs (≥ 2 s of work) by the slowness of the host whose copy finished them
    /// (local runs count as slowness 1).
    pub long_jobs_by_slowness: BTreeMap<String, usize>,
}

/// Means over several draws of one policy's runs: what the sweeps report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Means {
    /// Mean makespan over the lower bound.
    pub ratio: f64,
    /// The largest of those ratios.
    pub worst_ratio: f64,
    /// Mean Jain's index over the clients' build times.
    pub jain: f64,
    /// Mean of the runs' mean job latencies.
    pub latency_mean_ms: f64,
    /// Mean number of speculative copies.
    pub speculations: f64,
}

impl Means {
    /// The means of `reports` (at least one).
    pub fn of(reports: &[Report]) -> Means {
        let n = reports.len() as f64;
        let mean = |f: &dyn Fn(&Report) -> f64| reports.iter().map(f).sum::<f64>() / n;
        Means {
            ratio: mean(&|r| r.ratio),
            worst_ratio: reports.iter().map(|r| r.ratio).fold(0.0, f64::max),
            jain: mean(&|r| r.jain),
            latency_mean_ms: mean(&|r| r.latency_mean_ms),
            speculations: mean(&|r| r.speculations as f64),
        }
    }

    /// The figures as markdown table cells: ratio, worst ratio, Jain, latency mean ms,
    /// speculated.
    pub fn cells(&self) -> String {
        format!(
            "{:.3} | {:.3} | {:.4} | {:.0} | {:.1}",
            self.ratio, self.worst_ratio, self.jain, self.latency_mean_ms, self.speculations
        )
    }
}

/// Renders reports as a markdown table.
pub fn table(reports: &[Report]) -> String {
    let mut s = String::from(
        "| workload | policy | makespan s | lower bound s | ratio | Jain | latency mean ms \
         | latency p95 ms | local | speculated | long jobs by slowness |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in reports {
        let long: Vec<String> = r
            .long_jobs_by_slowness
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | {:.2} | {:.3} | {:.3} | {:.0} | {:.0} | {} | {} | {} |",
            r.workload,
            r.policy,
            r.makespan,
            r.lb_capacity.max(r.lb_critical),
            r.ratio,
            r.jain,
            r.latency_mean_ms,
            r.latency_p95_ms,
            r.jobs_local,
            r.speculations,
            long.join(" "),
        );
    }
    s
}

impl Run<'_> {
    /// The figures of a finished run of this workload on `farm` under `policy`.
    pub(super) fn report(&self, farm: &Farm, policy: Policy) -> Report {
        let w = self.workload;
        let origin = w
            .clients
            .iter()
            .map(|c| c.start)
            .fold(f64::INFINITY, f64::min);
        let origin = if origin.is_finite() { origin } else { 0.0 };
        let done: Vec<f64> = self
            .done_at
            .iter()
            .flatten()
            .map(|t| t.as_secs_f64())
            .collect();
        let makespan = done.iter().copied().fold(origin, f64::max) - origin;

        // The work released from each start time on, over the capacity it can use: the
        // farm's, plus the own slots of the clients that release it (as the shared
        // benchmark's `farm+local` bound counts them).
        let capacity = farm.capacity();
        let starts: BTreeSet<u64> = w.clients.iter().map(|c| c.start.to_bits()).collect();
        let lb_capacity = starts
            .iter()
            .map(|&bits| {
                let t = f64::from_bits(bits);
                let later = w.clients.iter().filter(|c| c.start >= t);
                let work: f64 = later.clone().flat_map(|c| &c.costs).sum();
                let own = f64::from(farm.client_slots) * later.count() as f64;
                t - origin + work / (capacity + own)
            })
            .fold(0.0, f64::max);
        let min_slow = if farm.client_slots > 0 {
            farm.min_slowness().min(1.0)
        } else {
            farm.min_slowness()
        };
        let lb_critical = w
            .clients
            .iter()
            .map(|c| c.start - origin + c.costs.iter().copied().fold(0.0, f64::max) * min_slow)
            .fold(0.0, f64::max);
        let lb = lb_capacity.max(lb_critical);

        let client_build: Vec<f64> = w
            .clients
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let first = self.first_job[k];
                let last = (first..first + c.costs.len())
                    .filter_map(|j| self.done_at[j])
                    .max()
                    .map_or(c.start, Micros::as_secs_f64);
                last - c.start
            })
            .collect();

        let mut latencies: Vec<f64> = self
            .done_at
            .iter()
            .zip(&self.submit_at)
            .filter_map(|(d, &s)| d.map(|d| (d - s).as_secs_f64() * 1e3))
            .collect();
        latencies.sort_by(f64::total_cmp);
        let mean = if latencies.is_empty() {
            0.0
        } else {
            latencies.iter().sum::<f64>() / latencies.len() as f64
        };
        let p95 = percentile(&latencies, 0.95);

        let mut long_jobs_by_slowness = BTreeMap::new();
        for (j, d) in self.done_at.iter().enumerate() {
            if d.is_some() && self.cost(j) >= 2.0 {
                *long_jobs_by_slowness
                    .entry(format!("{}", self.done_on[j]))
                    .or_insert(0) += 1;
            }
        }

        Report {
            workload: w.name.clone(),
            policy: policy.name().into(),
            jobs: w.jobs(),
            completed: done.len(),
            duplicate_results: self.duplicates,
            makespan,
            lb_capacity,
            lb_critical,
            ratio: if lb > 0.0 { makespan / lb } else { 1.0 },
            jain: jain(&client_build),
            latency_mean_ms: mean,
            latency_p95_ms: p95,
            client_build,
            jobs_local: self.jobs_local,
            speculations: self.speculations,
            long_jobs_by_slowness,
        }
    }
}

/// Nearest-rank percentile of sorted values (0 when empty).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Jain's fairness index (Σx)² / (n·Σx²): 1 when all equal, 1/n when one takes everything.
pub(super) fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let sq: f64 = xs.iter().map(|x| x * x).sum();
    if xs.is_empty() || sq == 0.0 {
        1.0
    } else {
        sum * sum / (xs.len() as f64 * sq)
    }
}
