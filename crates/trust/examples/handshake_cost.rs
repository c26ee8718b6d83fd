//! CPU per TLS handshake with ccfarm's settings, each side timed apart, in memory (no
//! sockets): a full handshake (certificates on both sides) and a resumed one (a
//! ticket from an earlier session). `cargo run --release -p ccfarm-trust --example
//! handshake_cost`; the figures are in docs/benchmarks.md.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ccfarm_trust::authority::{Authority, DEFAULT_VALIDITY};
use ccfarm_trust::tls::rustls::{ClientConnection, ServerConnection};
use ccfarm_trust::{ClientAuth, Credentials, Expect, Identity, Role};

fn credentials(ca: &Authority, role: Role, name: &str) -> Credentials {
    let issued = ca
        .issue(
            &Identity::new(role, name).unwrap(),
            SystemTime::now(),
            DEFAULT_VALIDITY,
        )
        .unwrap();
    Credentials::issued(ca, &issued).unwrap()
}

fn pump(c: &mut ClientConnection, s: &mut ServerConnection, tc: &mut Duration, ts: &mut Duration) {
    let mut buf = Vec::new();
    loop {
        let mut moved = false;
        let t = Instant::now();
        while c.wants_write() {
            buf.clear();
            c.write_tls(&mut buf).unwrap();
            let mut r = &buf[..];
            while !r.is_empty() {
                s.read_tls(&mut r).unwrap();
            }
            moved = true;
        }
        *tc += t.elapsed();
        let t = Instant::now();
        s.process_new_packets().unwrap();
        while s.wants_write() {
            buf.clear();
            s.write_tls(&mut buf).unwrap();
            let mut r = &buf[..];
            while !r.is_empty() {
                c.read_tls(&mut r).unwrap();
            }
            moved = true;
        }
        *ts += t.elapsed();
        let t = Instant::now();
        c.process_new_packets().unwrap();
        *tc += t.elapsed();
        if !moved && !c.is_handshaking() && !s.is_handshaking() {
            break;
        }
    }
}

fn main() {
    let ca = Authority::create("farm", SystemTime::now()).unwrap();
    let server = credentials(&ca, Role::Server, "build7");
    let alice = credentials(&ca, Role::User, "alice");
    let n = 200;
    for resume in [false, true] {
        let mut sc = (*server.server_config(ClientAuth::Required).unwrap()).clone();
        sc.send_tls13_tickets = if resume { 1 } else { 0 };
        let sc = Arc::new(sc);
        let expect = Expect::Exactly(Identity::new(Role::Server, "build7").unwrap());
        let cc = alice.client_config(expect).unwrap();
        let (mut tc, mut ts) = (Duration::ZERO, Duration::ZERO);
        let setup = Instant::now();
        for _ in 0..10 {
            let _ = alice.client_config(Expect::Role(Role::Scheduler)).unwrap();
        }
        let setup = setup.elapsed() / 10;
        // The first handshakes warm the caches (and, resumed, store the first ticket).
        for i in 0..n + 5 {
            let mut c =
                ClientConnection::new(cc.clone(), ccfarm_trust::tls::server_name("127.0.0.1"))
                    .unwrap();
            let mut s = ServerConnection::new(sc.clone()).unwrap();
            let (mut a, mut b) = (Duration::ZERO, Duration::ZERO);
            pump(&mut c, &mut s, &mut a, &mut b);
            if i >= 5 {
                tc += a;
                ts += b;
            }
        }
        println!(
            "resume={resume}: client {:?}/handshake, server {:?}/handshake, client_config build {:?}",
            tc / n,
            ts / n,
            setup
        );
    }
}
