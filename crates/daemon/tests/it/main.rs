//! ccfarmd's integration tests: the real binary on loopback, driven by Debian's real
//! `distcc` client (fallback off, so nothing silently compiles locally) and by
//! hand-made protocol requests where a real client cannot produce them.

mod cache;
mod cli;
mod compile;
mod hostile;
mod lifecycle;
mod membership;
mod protocol3;
mod refusals;
mod sandbox;
mod stats;
