//! The `--stats` listener: distccd's page, Prometheus metrics, status JSON.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use ccfarm_testkit::*;

#[test]
fn stats_pages() {
    let server = Server::start(&["--jobs", "5"]);
    let scratch = Scratch::new();
    scratch.write("s.c", "int s(void) { return 2; }\n");
    distcc_ok(
        &scratch,
        &server.host(""),
        &["gcc", "-c", "s.c", "-o", "s.o"],
    );

    let page = server.http_get("/");
    let (head, body) = page.split_once("\r\n\r\n").expect("CRLF header end");
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Type: text/plain\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())),
        "{head}"
    );
    assert!(
        body.contains("<distccstats>\n") && body.contains("</distccstats>\n"),
        "{body}"
    );
    // (The harness's readiness probe is a connection too, so tcp_accept is 2.)
    for key in [
        "dcc_tcp_accept 2\n",
        "dcc_compile_ok 1\n",
        "dcc_max_kids 5\n",
        "dcc_longest_job s.c\n",
        "dcc_longest_job_compiler x86_64-linux-gnu-gcc\n",
        "dcc_load1 ",
        "dcc_free_space ",
        "dcc_free_mem ",
    ] {
        assert!(body.contains(key), "missing {key:?} in {body}");
    }

    // distccd answers without waiting for a request; so do we.
    let mut raw = TcpStream::connect(("127.0.0.1", server.stats_port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = String::new();
    raw.read_to_string(&mut out).unwrap();
    assert!(out.contains("dcc_compile_ok 1"), "{out}");

    let metrics = server.http_get("/metrics");
    assert!(
        metrics.contains("ccfarmd_jobs_total{result=\"compile_ok\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("ccfarmd_slots 5"), "{metrics}");

    let status = server.status();
    assert_eq!(status["slots"], 5);
    assert_eq!(status["running"], 0);
    assert_eq!(status["queued"], 0);
    assert_eq!(status["results"]["compile_ok"], 1);
    assert!(status["load_average"].as_array().unwrap().len() == 3);
    assert!(status["free_memory_mb"].as_u64().unwrap() > 0);

    assert!(server.http_get("/nope").starts_with("HTTP/1.0 404"));
}
