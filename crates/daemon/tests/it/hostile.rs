//! Malformed and hostile byte streams: each gets a logged protocol error and a
//! closed connection; the server neither panics nor allocates without bound, and
//! keeps serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ccfarm_testkit::*;

/// A small decompression cap, so that "bounded" is measurable.
const CONFIG: &str = "[limits]\nmax_decompressed_len = 8388608\nmax_message_len = 16777216\n";

fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn lzo_bomb() -> Vec<u8> {
    // 256 MiB of zeros compresses to about 1 MiB of LZO.
    let bomb = ccfarm_proto::lzo::compress(&vec![0u8; 256 << 20]);
    let mut wire = b"DIST00000002ARGC00000005ARGV00000003gccARGV00000002-cARGV00000003x.cARGV00000002-oARGV00000003x.o".to_vec();
    wire.extend_from_slice(format!("DOTI{:08x}", bomb.len()).as_bytes());
    wire.extend_from_slice(&bomb);
    wire
}

#[test]
fn malformed_streams_are_logged_and_closed() {
    let server = Server::start_with_config(&[], Some(CONFIG));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated frame", b"DIST00000001ARGC000".to_vec()),
        (
            "truncated body",
            b"DIST00000001ARGC00000001ARGV00000010gcc".to_vec(),
        ),
        (
            "4 GiB argument",
            b"DIST00000001ARGC00000001ARGVffffffff".to_vec(),
        ),
        (
            "4 GiB source",
            b"DIST00000002ARGC00000001ARGV00000003gccDOTIffffffff".to_vec(),
        ),
        ("huge argc", b"DIST00000001ARGCffffffff".to_vec()),
        (
            "garbage",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage garbage".to_vec(),
        ),
        ("http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("bad hex", b"DIST0000000x".to_vec()),
        ("version 9", b"DIST00000009".to_vec()),
        (
            "derailed",
            b"DIST00000001ARGC00000001DOTI00000003abc".to_vec(),
        ),
        (
            "corrupt lzo",
            b"DIST00000002ARGC00000001ARGV00000003gccDOTI00000004\x00\xff\x13\x37".to_vec(),
        ),
        ("lzo bomb", lzo_bomb()),
    ];
    let before = server.log().matches("category=\"bad_request\"").count()
        + server.log().matches("category=bad_request").count();
    for (what, bytes) in &cases {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(bytes);
        if what.starts_with("truncated") {
            // A truncated stream ends with the client closing its side.
            s.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let mut reply = Vec::new();
        let read = s.read_to_end(&mut reply);
        assert!(read.is_ok() || reply.is_empty(), "{what}: {read:?}");
        assert!(
            reply.is_empty(),
            "{what}: a malformed request got a reply: {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    let count = || {
        let log = server.log();
        log.matches("category=\"bad_request\"").count()
            + log.matches("category=bad_request").count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while count() < before + cases.len() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        count(),
        before + cases.len(),
        "every case must be logged:\n{}",
        server.log()
    );
    assert!(server.log().contains("protocol error"), "{}", server.log());
    assert!(!server.log().contains("panicked"), "{}", server.log());
    // Bounded: 256 MiB of bomb never materialised (cap 8 MiB, plus the ~1 MiB input).
    let peak = peak_rss_kb(server.pid());
    assert!(peak < 96 * 1024, "peak RSS {peak} KiB");
    // And the server still works.
    let scratch = Scratch::new();
    scratch.write("ok.c", "int ok(void) { return 1; }\n");
    distcc_ok(
        &scratch,
        &server.host(",lzo"),
        &["gcc", "-c", "ok.c", "-o", "ok.o"],
    );
    assert_eq!(
        server.status()["results"]["bad_request"],
        cases.len() as u64
    );
    server.assert_no_leftovers();
}

#[test]
fn a_stalled_client_is_timed_out() {
    let server = Server::start(&["--io-timeout", "1"]);
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.write_all(b"DIST00000001ARGC00000002ARGV00000003gcc")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the server held the connection"
    );
    assert!(
        server.wait_for_log("client sent nothing for", Duration::from_secs(5)),
        "{}",
        server.log()
    );
}
