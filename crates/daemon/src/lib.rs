//! ccfarmd, the ccfarm compile server.
//!
//! It serves stock distcc clients (protocols 1, 2 and 3) on the distcc port: each
//! connection carries one compile, which runs an allow-listed compiler in a private
//! job directory, under a slot limit, with every refusal explained to the client.
//!
//! The binary (`src/main.rs`) only parses flags, sets up logging, binds, detaches
//! and calls [`server::run`]. The modules it (and the sandbox's tests and example)
//! needs are public; the rest is the server's own.

mod admit;
use ccfarm_trust::allow;
pub mod cache;
pub mod calibrate;
pub mod compilers;
pub mod config;
pub mod daemon;
pub mod http;
pub mod job;
pub mod jobdirs;
mod prepare;
pub mod register;
pub mod sandbox;
pub mod secure;
pub mod server;
mod session;
mod stats;
mod system;
