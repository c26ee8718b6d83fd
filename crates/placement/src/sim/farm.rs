//! The simulated farm: hosts by slowness and slots, and the noise on their run times.

use thiserror::Error;

use crate::rng::SplitMix64;

/// One simulated host.
#[derive(Debug, Clone, PartialEq)]
pub struct SimHost {
    /// Name given to the scheduler.
    pub name: String,
    /// Concurrent jobs.
    pub slots: u32,
    /// How many times slower than the reference machine (> 0; 1 = reference speed).
    pub slowness: f64,
}

/// A simulated farm: hosts in the order they join (which is the order `list-order` tries).
#[derive(Debug, Clone, PartialEq)]
pub struct Farm {
    /// The hosts.
    pub hosts: Vec<SimHost>,
    /// How far run times stray from the cost: each run of a job on a host takes
    /// `cost × slowness × e^(noise·z)`, `z` standard normal and drawn afresh for every run
    /// (a speculative copy draws its own). 0, the default, runs every job exactly as its
    /// cost says, so a policy that knows the costs is never surprised; real hosts are
    /// (caches, disks, the network, other work), and only with noise does the simulator
    /// show what a policy does when its estimates are off: a fast host freeing late, a
    /// waiting request's promise passing.
    pub noise: f64,
    /// What the scheduler is told of, or measures about, the hosts' speeds.
    pub knowledge: Knowledge,
    /// Slots each client's own machine (slowness 1) offers the scheduler with its jobs
    /// ([`crate::LocalOffer`]); 0, the default, offers none.
    pub client_slots: u32,
}

/// What the scheduler knows of the simulated hosts' speeds when they join.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Knowledge {
    /// Each host's weight is its true speed `1 / slowness`, as an operator who benchmarked
    /// the farm would configure it; speeds are then learned from jobs.
    #[default]
    Weights,
    /// Every weight is 1 (the default of a host nobody configured); speeds are learned from
    /// jobs only.
    Learned,
    /// Every weight is 1, and each host reports a calibration compile of `secs` seconds of
    /// work at speed 1 as it joins, with the farm's noise on its run time.
    Calibrated {
        /// The calibration compile's cost at speed 1.
        secs: f64,
    },
}

impl std::str::FromStr for Knowledge {
    type Err = FarmError;

    /// `weights`, `learned` or `calibrated` (a 0.3 s calibration compile).
    fn from_str(s: &str) -> Result<Knowledge, FarmError> {
        match s {
            "weights" => Ok(Knowledge::Weights),
            "learned" => Ok(Knowledge::Learned),
            "calibrated" => Ok(Knowledge::Calibrated { secs: 0.3 }),
            other => Err(FarmError::Knowledge(other.to_owned())),
        }
    }
}

impl Farm {
    /// Parses `name:slowness:slots,...` (the shared benchmark's farm syntax).
    pub fn parse(spec: &str) -> Result<Farm, FarmError> {
        let mut hosts = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let fields: Vec<&str> = part.split(':').collect();
            let [name, slowness, slots] = fields[..] else {
                return Err(FarmError::Shape(part.to_owned()));
            };
            let slowness: f64 = slowness.parse().map_err(|source| FarmError::Slowness {
                part: part.to_owned(),
                source,
            })?;
            let slots: u32 = slots.parse().map_err(|source| FarmError::Slots {
                part: part.to_owned(),
                source,
            })?;
            if !(slowness.is_finite() && slowness > 0.0) || slots == 0 || name.is_empty() {
                return Err(FarmError::OutOfRange(part.to_owned()));
            }
            hosts.push(SimHost {
                name: name.to_owned(),
                slots,
                slowness,
            });
        }
        if hosts.is_empty() {
            return Err(FarmError::Empty);
        }
        Ok(Farm {
            hosts,
            noise: 0.0,
            knowledge: Knowledge::default(),
            client_slots: 0,
        })
    }

    /// Work per second the whole farm can do: Σ slots / slowness.
    pub fn capacity(&self) -> f64 {
        self.hosts
            .iter()
            .map(|h| f64::from(h.slots) / h.slowness)
            .sum()
    }

    /// A large farm drawn from `seed`: `hosts` hosts of 2–16 slots, a third each at
    /// slowness 1, 2 and 4 (the state machine's criterion benchmark farm, at any size).
    pub fn large_seeded(seed: u64, hosts: u32) -> Farm {
        let mut rng = SplitMix64::new(seed);
        let hosts = (0..hosts)
            .map(|i| SimHost {
                name: format!("h{i}"),
                slots: 2 + rng.below(15) as u32,
                slowness: [1.0, 2.0, 4.0][rng.below(3) as usize],
            })
            .collect();
        Farm {
            hosts,
            noise: 0.0,
            knowledge: Knowledge::default(),
            client_slots: 0,
        }
    }

    /// The same farm with run-time noise `noise` (see [`Farm::noise`]).
    pub fn with_noise(self, noise: f64) -> Result<Farm, FarmError> {
        if !(noise.is_finite() && noise >= 0.0) {
            return Err(FarmError::Noise(noise));
        }
        Ok(Farm { noise, ..self })
    }

    /// The same farm, each client's machine offering `slots` of its own.
    pub fn with_client_slots(self, slots: u32) -> Farm {
        Farm {
            client_slots: slots,
            ..self
        }
    }

    /// The same farm, the scheduler knowing `knowledge` of its speeds.
    pub fn with_knowledge(self, knowledge: Knowledge) -> Farm {
        Farm { knowledge, ..self }
    }

    pub(super) fn min_slowness(&self) -> f64 {
        self.hosts
            .iter()
            .map(|h| h.slowness)
            .fold(f64::INFINITY, f64::min)
    }
}

impl Default for Farm {
    /// The shared benchmark's default heterogeneous farm: two fast, two half-speed and two
    /// quarter-speed hosts with two slots each (capacity 7).
    fn default() -> Farm {
        Farm::parse("h1:1:2,h2:1:2,h3:2:2,h4:2:2,h5:4:2,h6:4:2").expect("valid")
    }
}

/// Why a farm description (`name:slowness:slots,...`) or a run-time noise was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FarmError {
    /// A part that is not three fields separated by colons.
    #[error("{0:?}: expected name:slowness:slots")]
    Shape(String),
    /// A slowness that is not a number.
    #[error("{part:?}: slowness: {source}")]
    Slowness {
        /// The part it is in.
        part: String,
        /// Why it is not a number.
        source: std::num::ParseFloatError,
    },
    /// A slot count that is not a number.
    #[error("{part:?}: slots: {source}")]
    Slots {
        /// The part it is in.
        part: String,
        /// Why it is not a number.
        source: std::num::ParseIntError,
    },
    /// An empty name, or a slowness or slot count that is not above zero.
    #[error("{0:?}: needs a name, slowness > 0 and slots > 0")]
    OutOfRange(String),
    /// No host at all.
    #[error("empty farm")]
    Empty,
    /// Not a name of a [`Knowledge`].
    #[error("{0:?}: expected weights, learned or calibrated")]
    Knowledge(String),
    /// A noise that is negative or not finite.
    #[error("noise {0} must be a finite number >= 0")]
    Noise(f64),
}
