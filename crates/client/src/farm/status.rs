//! What the farm's services report: the scheduler's `/status` (over HTTPS with the
//! user's credentials in a secure farm), which says which servers are up and what it
//! granted, and each server's statistics (`ccfarmd --stats`), which say what it
//! compiled. Read to know when the farm is ready and for the table printed at the end.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::admin::{self, Target};

/// One compile server of the farm, as the table shows it.
#[derive(Debug, Clone)]
pub struct ServerReport {
    /// Its name in the farm.
    pub name: String,
    /// Its distcc address.
    pub addr: SocketAddr,
    /// Its statistics document, when it answered.
    pub stats: Option<Value>,
}

/// The scheduler's `/status`, or `None` while it does not answer.
pub fn scheduler_status(target: &Target) -> Option<Value> {
    admin::status(target).ok()
}

/// How many of `names` the scheduler has up.
pub fn servers_up(status: &Value, names: &[String]) -> usize {
    hosts(status)
        .filter(|h| h["health"] == "Up")
        .filter(|h| names.iter().any(|n| h["name"] == n.as_str()))
        .count()
}

fn hosts(status: &Value) -> impl Iterator<Item = &Value> {
    status["hosts"].as_array().into_iter().flatten()
}

/// A server's statistics document from its stats port (plain HTTP on loopback).
pub fn server_stats(stats: SocketAddr) -> Option<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let text = agent
        .get(format!("http://{stats}/status"))
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    serde_json::from_str(&text).ok()
}

/// The farm's table: per server, what the scheduler thinks of it and what it did; then
/// the scheduler's totals.
pub fn table(scheduler: Option<&Value>, servers: &[ServerReport]) -> String {
    let mut out = String::from("ccfarm farm status:\n");
    out.push_str(&format!(
        "  {:<10} {:<22} {:>5}  {:<10} {:>9} {:>9} {:>6}\n",
        "server", "address", "slots", "health", "compiled", "failed", "other"
    ));
    for server in servers {
        let health = scheduler
            .and_then(|s| hosts(s).find(|h| h["name"] == server.name.as_str()))
            .and_then(|h| h["health"].as_str())
            .unwrap_or("unknown");
        let (slots, ok, failed, other) = match &server.stats {
            Some(doc) => {
                let results = doc["results"].as_object();
                let count = |key: &str| {
                    results
                        .and_then(|r| r.get(key))
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                };
                let all: u64 = results
                    .into_iter()
                    .flat_map(|r| r.values())
                    .filter_map(Value::as_u64)
                    .sum();
                let (ok, failed) = (count("compile_ok"), count("compile_error"));
                let slots = doc["slots"].as_u64().map_or("?".into(), |s| s.to_string());
                (
                    slots,
                    ok.to_string(),
                    failed.to_string(),
                    (all - ok - failed).to_string(),
                )
            }
            // A server that no longer answers (it died): what it did is unknown.
            None => ("?".into(), "?".into(), "?".into(), "?".into()),
        };
        out.push_str(&format!(
            "  {:<10} {:<22} {:>5}  {:<10} {:>9} {:>9} {:>6}\n",
            server.name,
            server.addr.to_string(),
            slots,
            health,
            ok,
            failed,
            other
        ));
    }
    match scheduler {
        Some(s) => {
            let c = &s["counters"];
            let n = |key: &str| c[key].as_u64().unwrap_or(0);
            out.push_str(&format!(
                "  scheduler: {} requests, {} granted ({} had to wait), {} told to compile locally; \
                 released: {} ok, {} compile errors, {} transport failures\n",
                n("requests"),
                n("grants"),
                n("waits"),
                n("local"),
                n("released_ok"),
                n("released_compile_error"),
                n("released_transport")
            ));
        }
        None => out.push_str("  scheduler: no status (it did not answer)\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status() -> Value {
        json!({
            "hosts": [
                {"name": "server1", "health": "Up"},
                {"name": "server2", "health": "Down"},
                {"name": "elsewhere", "health": "Up"},
            ],
            "counters": {"requests": 9, "grants": 8, "waits": 2, "local": 1,
                         "released_ok": 7, "released_compile_error": 1, "released_transport": 0},
        })
    }

    #[test]
    fn only_the_farms_servers_that_are_up_count() {
        let names = ["server1".to_owned(), "server2".to_owned()];
        assert_eq!(servers_up(&status(), &names), 1);
        assert_eq!(servers_up(&json!({}), &names), 0);
    }

    #[test]
    fn the_table_has_a_row_per_server_and_the_totals() {
        let servers = [
            ServerReport {
                name: "server1".into(),
                addr: "127.0.0.1:4000".parse().unwrap(),
                stats: Some(json!({"slots": 2, "results":
                    {"compile_ok": 5, "compile_error": 1, "refused_busy": 2}})),
            },
            ServerReport {
                name: "server2".into(),
                addr: "127.0.0.1:4001".parse().unwrap(),
                stats: None,
            },
        ];
        let table = table(Some(&status()), &servers);
        let rows: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows[2],
            ["server1", "127.0.0.1:4000", "2", "Up", "5", "1", "2"]
        );
        assert_eq!(
            rows[3],
            ["server2", "127.0.0.1:4001", "?", "Down", "?", "?", "?"]
        );
        assert!(
            table.contains("9 requests, 8 granted (2 had to wait), 1 told to compile locally"),
            "{table}"
        );
        assert!(super::table(None, &servers).contains("no status"));
    }
}
