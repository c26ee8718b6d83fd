//! ccfarm's integration tests: the real `ccfarm` binary against real `ccfarmd` and
//! Debian `distccd` servers on loopback, with real gcc, compared with local builds.

mod common;

mod agent;
mod ca;
mod cache;
mod compat;
mod diagnostics;
mod failures;
mod farm;
mod pairings;
mod project;
mod scheduler;
mod simulate;
