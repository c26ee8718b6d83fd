//! Requests ccfarmd must not run, each refused with a reason the client can read.

use bytes::{Bytes, BytesMut};
use ccfarm_proto::distcc::{Limits, Payload, Reply, ReplyDecoder, Request, Version};

use ccfarm_testkit::*;

fn v1(argv: &[&str], source: &str) -> Request {
    Request {
        version: Version::V1,
        argv: argv
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect(),
        payload: Payload::Preprocessed(Bytes::copy_from_slice(source.as_bytes())),
    }
}

fn send(server: &Server, request: &Request) -> Reply {
    let wire = server.exchange(&request.encode());
    let mut buf = BytesMut::from(&wire[..]);
    ReplyDecoder::new(request.version, Limits::default())
        .decode(&mut buf)
        .unwrap()
        .unwrap_or_else(|| panic!("no reply: {:?}", String::from_utf8_lossy(&wire)))
}

#[test]
fn refusals_are_explained() {
    let server = Server::start(&[]);
    let marker = Scratch::new();
    let pwned = marker.path().join("pwned");
    let pwned = pwned.to_str().unwrap();
    let src = "int f(void) { return 1; }\n";
    let cases: Vec<(Vec<String>, &str, &str)> = vec![
        (
            vec!["sh".into(), "-c".into(), format!("touch {pwned}")],
            "not allow-listed",
            "refused_compiler",
        ),
        (
            vec!["/bin/sh".into(), "-c".into(), format!("touch {pwned}")],
            "not allow-listed",
            "refused_compiler",
        ),
        (
            vec!["python3".into(), "-c".into(), "x.c".into()],
            "not allow-listed",
            "refused_compiler",
        ),
        (
            ["gcc", "-fplugin=/tmp/evil.so", "-c", "x.c", "-o", "x.o"]
                .map(String::from)
                .to_vec(),
            "-fplugin",
            "refused_argument",
        ),
        (
            vec![
                "gcc".into(),
                "-wrapper".into(),
                format!("sh,-c,touch {pwned}"),
                "-c".into(),
                "x.c".into(),
                "-o".into(),
                "x.o".into(),
            ],
            "-wrapper",
            "refused_argument",
        ),
        (
            ["gcc", "-B/tmp/evil", "-c", "x.c", "-o", "x.o"]
                .map(String::from)
                .to_vec(),
            "-B",
            "refused_argument",
        ),
        (
            ["gcc", "-specs=/tmp/evil.specs", "-c", "x.c", "-o", "x.o"]
                .map(String::from)
                .to_vec(),
            "-specs",
            "refused_argument",
        ),
        (
            ["gcc", "x.c", "-o", "x"].map(String::from).to_vec(),
            "not a single compile",
            "refused_command",
        ),
    ];
    for (argv, why, category) in &cases {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let reply = send(&server, &v1(&argv, src));
        let stderr = String::from_utf8_lossy(&reply.stderr);
        assert_ne!(reply.status, 0, "{argv:?} was run");
        assert!(
            stderr.starts_with("ccfarmd: ") && stderr.contains(why),
            "{argv:?}: {stderr}"
        );
        assert!(reply.object.is_empty());
        assert!(
            server.wait_for_log(category, std::time::Duration::from_secs(5)),
            "no {category} log line"
        );
    }
    assert!(
        !std::path::Path::new(pwned).exists(),
        "a refused command ran"
    );
    let status = server.status();
    assert_eq!(status["results"]["refused_compiler"], 3, "{status}");
    assert_eq!(status["results"]["refused_argument"], 4, "{status}");
    assert_eq!(status["results"]["refused_command"], 1, "{status}");
    server.assert_no_leftovers();
}

#[test]
fn a_real_distcc_user_sees_the_reason() {
    // The distcc client preprocesses with the named compiler before contacting the
    // server, so an unlisted compiler needs a real local one: a copy of gcc under
    // another name.
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write("x.c", "int x(void) { return 0; }\n");
    let gcc = std::fs::canonicalize("/usr/bin/gcc").unwrap();
    let unlisted = scratch.path().join("notallowed-cc");
    std::os::unix::fs::symlink(&gcc, &unlisted).unwrap();
    let out = distcc(&scratch, &server.host(""))
        .args([unlisted.to_str().unwrap(), "-c", "x.c", "-o", "x.o"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("ccfarmd: compiler") && stderr.contains("is not allow-listed"),
        "{stderr}"
    );
    assert!(!scratch.path().join("x.o").exists());
}

#[test]
fn an_address_outside_allow_is_refused_and_logged() {
    let server = Server::start(&["--allow", "127.0.0.2"]);
    let scratch = Scratch::new();
    scratch.write("x.c", "int x(void) { return 0; }\n");
    // With DISTCC_BACKOFF_PERIOD=0, distcc 3.4 retries a host that closes on it
    // forever (thousands of connects, then a crash on FD_SETSIZE); the default backoff
    // makes it give up after one try.
    let out = distcc(&scratch, &server.host(""))
        .env("DISTCC_BACKOFF_PERIOD", "60")
        .args(["gcc", "-c", "x.c", "-o", "x.o"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a refused client compiled remotely");
    assert!(!scratch.path().join("x.o").exists());
    assert!(
        server.wait_for_log(
            "refusing connection from 127.0.0.1: not in the --allow list",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        server.log()
    );
    // The stats port applies the same list.
    let stats = std::net::TcpStream::connect(("127.0.0.1", server.stats_port)).unwrap();
    stats
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut &stats, &mut buf);
    assert!(buf.is_empty(), "stats served outside --allow");
}
