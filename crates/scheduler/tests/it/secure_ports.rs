//! The ports of a secure farm other than the control port: the HTTP endpoint (HTTPS
//! with credentials), the ports that cannot carry credentials (allow-lists), and the
//! refusal to expose plaintext beyond loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ccfarm_trust::Role as Proven;

use crate::farm::*;
use crate::secure::{Authority, SecureFarm};

#[test]
fn the_ports_without_credentials_refuse_addresses_outside_their_allow_lists() {
    // Every port held by the test and handed to the scheduler: none can be taken by
    // another test between being chosen and being bound.
    let sockets = Sockets::bind_more(3);
    let proxy = Sockets::port(&sockets.proxy);
    let [lease, status, update] = [0, 1, 2].map(|i| Sockets::port(&sockets.more[i]));
    // Loopback is outside these lists, so every connection from the test is a stranger's.
    let farm = Farm::start_on_with(
        &sockets,
        &["a"],
        &format!(
            "balance_ports = \"{lease},{status},{update}\"\n\
             distcc_proxy_allow = [\"10.0.0.0/8\"]\n\
             balance_allow = [\"192.0.2.0/24\"]\n"
        ),
    );
    // What the update port would take to mark the server down, were the sender allowed.
    let down = format!("127.0.0.1:{} down\n", farm.server("a").port);
    for port in [proxy, lease, status, update] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(down.as_bytes());
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(out.is_empty(), "port {port} answered a stranger: {out:?}");
    }
    // The update port's "down" was not applied, and each refusal was counted.
    assert_eq!(farm.host("a")["health"], "Up", "{}", farm.status());
    let metrics = farm.http_get("/metrics");
    let refused = metrics
        .lines()
        .find(|l| l.starts_with("ccfarm_scheduler_connections_refused_total{reason=\"address\"}"))
        .unwrap_or_else(|| panic!("no refusal counted:\n{metrics}"));
    assert!(refused.ends_with(" 4"), "{refused}");
}

/// A port already taken is distcc's "bind failed" (102), said with the address, so that a
/// launcher can choose another port; a broken configuration is not.
#[test]
fn a_taken_port_exits_102_and_names_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_addr = http.local_addr().unwrap();
    drop(http);
    let out = std::process::Command::new(SCHEDULER)
        .args([
            "--listen",
            &addr.to_string(),
            "--http",
            &http_addr.to_string(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(102), "{stderr}");
    assert!(stderr.contains(&addr.to_string()), "{stderr}");
    let out = std::process::Command::new(SCHEDULER)
        .args(["--listen", "127.0.0.1:0", "--balance-ports", "1,2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_ne!(out.status.code(), Some(102));
}

#[test]
fn listening_beyond_loopback_without_credentials_is_refused_at_start() {
    // Refused before anything is bound or sent.
    let out = std::process::Command::new(SCHEDULER)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reachable from the network") && stderr.contains("--insecure"),
        "{stderr}"
    );
    // ccfarmd registering with a scheduler across the network (a documentation address,
    // never contacted: the check comes first).
    let out = std::process::Command::new(ccfarmd())
        .args([
            "--no-detach",
            "--scheduler",
            "192.0.2.1:7700",
            "--listen",
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs credentials") && stderr.contains("--insecure"),
        "{stderr}"
    );
}

#[test]
fn the_http_endpoint_speaks_https_and_ccfarm_hosts_uses_it() {
    let farm = SecureFarm::start();
    // Plain HTTP is told what to use instead; the token would never cross in the clear.
    let mut s = TcpStream::connect(("127.0.0.1", farm.http)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /status HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("HTTPS"),
        "{answer}"
    );
    // The admin CLI with a user's credentials reads the farm over HTTPS.
    let out = std::process::Command::new(ccfarm_client())
        .arg("hosts")
        .env("CCFARM_SCHEDULER_HTTP", format!("127.0.0.1:{}", farm.http))
        .env("CCFARM_CREDENTIALS", &farm.alice)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("build7"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // With another farm's authority the scheduler is not trusted.
    let elsewhere = Authority::new("elsewhere");
    let foreign = elsewhere.issue(Proven::User, "alice");
    let out = std::process::Command::new(ccfarm_client())
        .arg("hosts")
        .env("CCFARM_SCHEDULER_HTTP", format!("127.0.0.1:{}", farm.http))
        .env("CCFARM_CREDENTIALS", &foreign)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn an_insecure_scheduler_says_so_on_its_dashboard() {
    let insecure = Farm::start_with(&[], "insecure = true\n");
    let page = insecure.http_get("/");
    assert!(page.contains("INSECURE"), "no warning on the dashboard");
    let normal = Farm::start(&[]);
    assert!(!normal.http_get("/").contains("INSECURE"));
}
