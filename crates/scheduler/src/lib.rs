//! ccfarm-scheduler, the farm's scheduler service, as a library: the binary
//! (`src/main.rs`) starts it with [`service::start`]; `ccfarm farm` runs that binary.
//!
//! One task (the actor) owns the pure `ccfarm-placement` state machine. Connections on the
//! control port (clients asking for slots, ccfarmd servers registering), the HTTP
//! endpoint (dashboard, `/status`, `/metrics`, `/admin`) and the probes of stock distccd
//! hosts all talk to it through a [`handle::Handle`].

mod actor;
mod addresses;
mod balance;
mod budget;
mod client_cache;
pub mod config;
mod conn;
mod event;
mod handle;
mod http;
mod https;
pub mod inherited;
mod keepalive;
mod matching;
mod members;
mod metrics;
mod probe;
mod proxy;
mod secure;
pub mod service;
