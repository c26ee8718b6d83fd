//! The simulated developers: who runs `make -j` when, the costs of their jobs, and what the
//! sizes they report say of those costs.

use thiserror::Error;

use crate::rng::SplitMix64;

use super::DEFAULT_SEED;

/// One simulated developer running `make -j`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimClient {
    /// User name (fair queueing is per user).
    pub user: String,
    /// When `make` starts, seconds of virtual time.
    pub start: f64,
    /// The `-j` limit: jobs outstanding at once.
    pub jobs_limit: u32,
    /// Job costs in seconds at speed 1, in submission order.
    pub costs: Vec<f64>,
}

/// A set of clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Short name for reports.
    pub name: String,
    /// The clients.
    pub clients: Vec<SimClient>,
    /// What the sizes the clients report say about their jobs' costs.
    pub sizes: Sizes,
}

/// What a simulated client reports of a job's cost: its preprocessed size and, in a
/// rebuild, the file's previous compile time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sizes {
    /// `cost × `[`BYTES_PER_SEC`](super::BYTES_PER_SEC): a perfect signal, so the simulator shows what a policy
    /// does with good estimates.
    #[default]
    Proportional,
    /// The same size for every job, so the scheduler knows nothing of a job's cost before
    /// it has run: the benchmark harness without padding (`BENCH_PAD_BYTES_PER_MS=0`), whose
    /// generated sources differ only in a comment.
    Constant,
    /// `(`[`HEADERS_SECS`]` + cost) × `[`BYTES_PER_SEC`](super::BYTES_PER_SEC): every file also carries headers
    /// that cost nothing, as the benchmark harness's padded sources
    /// (`BENCH_PAD_BYTES_PER_MS=100`: 56 KB of headers and about 104 bytes per millisecond
    /// of work). Size tells the cost, but only through a line with a base.
    Headers,
    /// Sizes as [`Sizes::Constant`], but every job comes with its previous compile time and
    /// server, as the client remembers them in a rebuild: the workload is first run once
    /// with constant sizes (unmeasured), then again on a fresh scheduler with each job's
    /// duration and host from that first run, as the benchmark harness's unpadded sources
    /// built a second time with the client's memory kept.
    Rebuild,
}

impl std::str::FromStr for Sizes {
    type Err = UnknownSizes;

    /// `proportional`, `constant`, `headers` or `rebuild`, as `ccfarm-sim --sizes`
    /// and the examples take them.
    fn from_str(s: &str) -> Result<Sizes, UnknownSizes> {
        match s {
            "proportional" => Ok(Sizes::Proportional),
            "constant" => Ok(Sizes::Constant),
            "headers" => Ok(Sizes::Headers),
            "rebuild" => Ok(Sizes::Rebuild),
            other => Err(UnknownSizes(other.to_owned())),
        }
    }
}

/// The headers' share of a [`Sizes::Headers`] file, in seconds of work at
/// [`BYTES_PER_SEC`](super::BYTES_PER_SEC): the harness's 56 KB at its 104 bytes per millisecond.
pub const HEADERS_SECS: f64 = 56.0 / 104.0;

/// The size reported for every job under [`Sizes::Constant`]: 300 KB, the size of a typical
/// translation unit (what it is does not matter, only that it says nothing).
pub(super) const CONSTANT_SIZE: u64 = 300_000;

impl Workload {
    /// W1 "one developer": 1 client, `-j16`, 200 jobs of the benchmark's cost distribution.
    pub fn w1() -> Workload {
        Workload::w1_seeded(DEFAULT_SEED)
    }

    /// [`Workload::w1`] with another seed.
    pub fn w1_seeded(seed: u64) -> Workload {
        let mut rng = SplitMix64::new(seed ^ 0x5731);
        Workload {
            name: "W1".into(),
            clients: vec![SimClient {
                user: "c0".into(),
                start: 0.0,
                jobs_limit: 16,
                costs: bench_costs(&mut rng, 200),
            }],
            sizes: Sizes::Proportional,
        }
    }

    /// W2 "many developers": 6 clients, client k starts at 2k s, `-j8`, 80 jobs each.
    pub fn w2() -> Workload {
        Workload::w2_seeded(DEFAULT_SEED)
    }

    /// [`Workload::w2`] with another seed.
    pub fn w2_seeded(seed: u64) -> Workload {
        let clients = (0..6u32)
            .map(|k| {
                let mut rng = SplitMix64::new(seed ^ (0x5732 << 8 | u64::from(k)));
                SimClient {
                    user: format!("c{k}"),
                    start: 2.0 * f64::from(k),
                    jobs_limit: 8,
                    costs: bench_costs(&mut rng, 80),
                }
            })
            .collect();
        Workload {
            name: "W2".into(),
            clients,
            sizes: Sizes::Proportional,
        }
    }

    /// A crowd on a large farm: `clients` developers with `-j jobs_limit` and `jobs` jobs
    /// each of the benchmark's cost distribution, starting `stagger` seconds apart. With
    /// more jobs outstanding than the farm has slots plus [`Config::max_lookahead`](crate::Config::max_lookahead), the
    /// queue gets deep enough for saturated placement passes.
    pub fn crowd_seeded(
        seed: u64,
        clients: u32,
        jobs_limit: u32,
        jobs: usize,
        stagger: f64,
    ) -> Workload {
        let clients = (0..clients)
            .map(|k| {
                let mut rng = SplitMix64::new(seed ^ (0x5733 << 8 | u64::from(k)));
                SimClient {
                    user: format!("c{k}"),
                    start: stagger * f64::from(k),
                    jobs_limit,
                    costs: bench_costs(&mut rng, jobs),
                }
            })
            .collect();
        Workload {
            name: "crowd".into(),
            clients,
            sizes: Sizes::Proportional,
        }
    }

    /// The same workload with [`Sizes::Constant`].
    pub fn with_constant_sizes(self) -> Workload {
        Workload {
            sizes: Sizes::Constant,
            ..self
        }
    }

    /// Total work, seconds at speed 1.
    pub fn total_work(&self) -> f64 {
        self.clients.iter().flat_map(|c| &c.costs).sum()
    }

    pub(super) fn jobs(&self) -> usize {
        self.clients.iter().map(|c| c.costs.len()).sum()
    }
}

/// The benchmark's job-cost distribution (`benchlib._costs`): lognormal with median 300 ms
/// and σ 0.75, rounded to whole milliseconds and clipped to [20, 1800] ms, plus
/// round(4 % of n) outliers uniform in [2000, 3000] ms, shuffled. Same distribution as the
/// Python harness, not the same draws (that uses Mersenne Twister).
pub(super) fn bench_costs(rng: &mut SplitMix64, n: usize) -> Vec<f64> {
    let outliers = (n as f64 * 0.04).round() as usize;
    let mut ms: Vec<u64> = (0..n - outliers)
        .map(|_| {
            (300.0 * (0.75 * rng.gauss()).exp())
                .round()
                .clamp(20.0, 1800.0) as u64
        })
        .collect();
    ms.extend((0..outliers).map(|_| 2000 + rng.below(1001)));
    for i in (1..ms.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        ms.swap(i, j);
    }
    ms.into_iter().map(|m| m as f64 / 1000.0).collect()
}

/// A size mode that is not `proportional`, `constant`, `headers` or `rebuild`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not proportional, constant, headers or rebuild")]
pub struct UnknownSizes(pub String);
