//! The admin API and the operator's commands (`ccfarm hosts`, `drain`, `up`, `down`,
//! `add`, `remove`), and configuration reload on SIGHUP.

use std::process::{Command, Output};

use crate::farm::*;

const TOKEN: &str = "s3cret-admin-token";

fn ccfarm(farm: &Farm, token: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(ccfarm_client());
    c.args(args)
        .env("CCFARM_SCHEDULER_HTTP", format!("127.0.0.1:{}", farm.http))
        .env_remove("CCFARM_ADMIN_TOKEN")
        .env("HOME", "/nonexistent");
    if let Some(token) = token {
        c.env("CCFARM_ADMIN_TOKEN", token);
    }
    c.output().unwrap()
}

fn admin_ok(farm: &Farm, args: &[&str]) -> String {
    let out = ccfarm(farm, Some(TOKEN), args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ccfarm {args:?}: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn health(farm: &Farm, host: &str) -> String {
    farm.host(host)["health"].as_str().unwrap().to_owned()
}

/// Raw HTTP, to see exactly what the API answers.
fn post(farm: &Farm, path: &str, auth: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", farm.http)).unwrap();
    let auth = auth.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: x\r\n{auth}Content-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn admin_commands_change_scheduling_and_need_the_token() {
    let config = format!("admin_token = \"{TOKEN}\"\nprobe_interval_s = 1\n");
    let farm = Farm::start_with(&["a", "b"], &config);
    let scratch = Scratch::new();
    local_build(&scratch);

    // Without the token, or with a wrong one: refused, explained, nothing changes.
    let out = ccfarm(&farm, None, &["drain", "a"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("token"),
        "{out:?}"
    );
    let answer = post(&farm, "/admin/hosts/a/drain", None);
    assert!(answer.starts_with("HTTP/1.0 401"), "{answer}");
    let answer = post(&farm, "/admin/hosts/a/drain", Some("guess"));
    assert!(answer.starts_with("HTTP/1.0 403"), "{answer}");
    let out = ccfarm(&farm, Some("guess"), &["down", "b"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrong admin token"),
        "{out:?}"
    );
    assert_eq!(health(&farm, "a"), "Up");
    assert_eq!(health(&farm, "b"), "Up");

    // `hosts` needs no token.
    let table = String::from_utf8_lossy(&ccfarm(&farm, None, &["hosts"]).stdout).into_owned();
    assert!(table.starts_with("HOST"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("a ") && l.contains("up")),
        "{table}"
    );
    assert!(table.lines().any(|l| l.starts_with("b ")), "{table}");

    // drain a: everything goes to b.
    admin_ok(&farm, &["drain", "a"]);
    assert_eq!(health(&farm, "a"), "Draining");
    let (a0, b0) = (compiled(farm.server("a")), compiled(farm.server("b")));
    farm.build_some(&scratch, "drained", 8);
    assert_eq!(compiled(farm.server("a")), a0, "a drained host got work");
    assert_eq!(compiled(farm.server("b")), b0 + 8);

    // up a, down b: everything goes to a.
    admin_ok(&farm, &["up", "a"]);
    admin_ok(&farm, &["down", "b"]);
    assert_eq!(health(&farm, "a"), "Up");
    assert_eq!(health(&farm, "b"), "Down");
    let (a0, b0) = (compiled(farm.server("a")), compiled(farm.server("b")));
    farm.build_some(&scratch, "b-down", 8);
    assert_eq!(compiled(farm.server("b")), b0, "a down host got work");
    assert_eq!(compiled(farm.server("a")), a0 + 8);

    // add a stock distccd, take both ccfarmd out: it does the work.
    let distccd = Distccd::start(&[]);
    let address = format!("127.0.0.1:{}", distccd.port);
    admin_ok(&farm, &["add", &format!("{address}/2")]);
    farm.wait_for(
        |_| farm.host(&address)["health"] == "Up",
        "the added host's probe",
    );
    admin_ok(&farm, &["down", "a"]);
    farm.build_some(&scratch, "stock", 6);
    assert_eq!(farm.host(&address)["samples"], 6, "{}", farm.status());

    // remove it: it is gone; unknown hosts are an explained error.
    admin_ok(&farm, &["remove", &address]);
    let names: Vec<String> = farm.status()["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!names.contains(&address), "{names:?}");
    let out = ccfarm(&farm, Some(TOKEN), &["drain", "nosuchhost"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no host"),
        "{out:?}"
    );
    let out = ccfarm(&farm, Some(TOKEN), &["add", "nonsense"]);
    assert_eq!(out.status.code(), Some(101), "bad arguments: {out:?}");
}

#[test]
fn sighup_reloads_hosts_weights_and_token_without_dropping_leases() {
    let farm = Farm::start_with(&["a"], &format!("admin_token = \"{TOKEN}\"\n"));
    let distccd = Distccd::start(&[]);
    let scratch = Scratch::new();
    local_build(&scratch);
    // A build runs across the reload: it must not notice.
    let build = farm.spawn_build(&scratch, "during", "ann");
    wait_compiled(farm.server("a"), 2);
    farm.reload(&format!(
        "admin_token = \"new-token\"\n[users]\nann = 2.0\n[[hosts]]\naddress = \"127.0.0.1:{}\"\nname = \"stock\"\nslots = 2\n",
        distccd.port
    ));
    farm.wait_for(
        |_| {
            farm.status()["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["name"] == "stock")
        },
        "the reloaded host list",
    );
    finish_build(&scratch, "during", build);
    let s = farm.status();
    let ann = s["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "ann")
        .unwrap();
    assert_eq!(ann["weight"], 2.0, "{s}");
    assert_eq!(s["leases"], 0, "{s}");
    // The old token no longer works; the new one does.
    assert!(!ccfarm(&farm, Some(TOKEN), &["drain", "a"]).status.success());
    let out = ccfarm(&farm, Some("new-token"), &["drain", "a"]);
    assert!(out.status.success(), "{out:?}");
}
