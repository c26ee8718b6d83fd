//! `ccfarm`, the compiler wrapper: `ccfarm gcc -c x.c -o x.o`, a CMake compiler
//! launcher, a masquerading `gcc` symlink, or `distcc` itself.
//!
//! One process per compile, synchronous and short-lived: classify the command line,
//! preprocess locally, send the job to a host over the distcc protocol, write the
//! outputs exactly as a local compile would; on any infrastructure failure try the
//! next host, then compile locally.

pub mod actions;
pub mod admin;
pub mod agent;
pub mod backoff;
pub mod ca;
pub mod channel;
pub mod commands;
pub mod compile;
mod context;
pub mod distribution;
mod driver;
pub mod env;
pub mod exit;
pub mod grant;
pub mod history;
pub mod hosts;
pub mod identity;
mod job;
pub mod lease;
pub mod local;
pub mod log;
pub mod preprocess;
pub mod race;
pub mod records;
pub mod remote;
mod result_cache;
mod send;
pub mod shared_cache;
pub mod slots;
pub mod verdict;
