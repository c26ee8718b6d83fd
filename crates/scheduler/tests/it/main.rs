//! The scheduler service end to end: real `ccfarm-scheduler`, real `ccfarmd` servers
//! registering with it, the real `ccfarm` client asking it for every slot, and stock
//! `distccd` hosts it probes.

mod admin;
mod balance;
mod build;
mod clients;
mod compilers;
mod failures;
mod farm;
mod faults;
mod history;
mod hostile;
mod netns;
mod probes;
mod protocol;
mod proxy;
mod secure;
mod secure_ports;
