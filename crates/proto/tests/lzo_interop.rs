//! Interoperability of `ccfarm_proto::lzo` with the minilzo inside real distcc.
//!
//! The `lzo-distcc-*` fixtures are LZO1X bodies captured on 2026-11-22 between Debian's
//! `distcc` and `distccd` 3.4 (`3.4+really3.4-3`, gcc 12.2.0) with a recording TCP proxy,
//! using `DISTCC_HOSTS=127.0.0.1:PORT,lzo` (protocol 2):
//!
//! | fixture | what |
//! |---|---|
//! | `lzo-distcc-x.doti.lzo` → `lzo-distcc-x.i` | `DOTI` of `distcc gcc -c x.c`, `x.c` = `int answer(void) { return 42; }` |
//! | `lzo-distcc-x.doto.lzo` → `lzo-distcc-x.o` | the `DOTO` reply to that request |
//! | `lzo-distcc-m4.doti.lzo` → `lzo-distcc-m4.i` | `DOTI` of `distcc gcc -P -c m4.c`: 20000 pseudo-random hex digits, their first 300 repeated (M4 distances), and 3000 `a`s (length extensions) |
//!
//! The 24-byte body is inlined below. `real_distccd_decodes_our_streams` (ignored by
//! default) checks the other direction against a running `distccd`.

use std::io::{Read, Write};
use std::net::TcpStream;

use ccfarm_proto::lzo::{CorruptKind, LzoError, compress, decompress};

/// What distcc sends as the `DOTI` body for `int f(void){return 42;}` compiled with `-P`:
/// 24 bytes of preprocessed source, which minilzo stores as one literal run announced by
/// the first byte (17 + 24 = 0x29), followed by the end-of-stream marker.
const DISTCC_24_BYTE_BODY: &[u8] = b"\x29int f(void){return 42;}\n\x11\x00\x00";

/// (compressed by distcc, expected decompressed bytes)
const CAPTURES: [(&[u8], &[u8]); 3] = [
    (
        include_bytes!("fixtures/lzo-distcc-x.doti.lzo"),
        include_bytes!("fixtures/lzo-distcc-x.i"),
    ),
    (
        include_bytes!("fixtures/lzo-distcc-x.doto.lzo"),
        include_bytes!("fixtures/lzo-distcc-x.o"),
    ),
    (
        include_bytes!("fixtures/lzo-distcc-m4.doti.lzo"),
        include_bytes!("fixtures/lzo-distcc-m4.i"),
    ),
];

#[test]
fn distcc_24_byte_body() {
    let source = b"int f(void){return 42;}\n";
    assert_eq!(source.len(), 24);
    assert_eq!(
        decompress(DISTCC_24_BYTE_BODY, 1024).as_deref(),
        Ok(&source[..])
    );
    // With no repeats to exploit, our encoder makes exactly the same choice as minilzo.
    assert_eq!(compress(source), DISTCC_24_BYTE_BODY);
}

#[test]
fn distcc_bodies_decode_to_the_captured_files() {
    for (compressed, expected) in CAPTURES {
        assert_eq!(decompress(compressed, 1 << 20).as_deref(), Ok(expected));
        // The exact size suffices (distcc does not pad), one byte less does not.
        assert_eq!(
            decompress(compressed, expected.len()).as_deref(),
            Ok(expected)
        );
        let limit = expected.len() - 1;
        assert_eq!(
            decompress(compressed, limit),
            Err(LzoError::TooLarge { limit })
        );
    }
}

#[test]
fn damaged_distcc_bodies_are_corrupt() {
    let (compressed, _) = CAPTURES[0];
    let truncated = &compressed[..compressed.len() - 1];
    assert_eq!(
        decompress(truncated, 1 << 20),
        Err(LzoError::Corrupt(CorruptKind::Truncated))
    );
    let mut trailing = compressed.to_vec();
    trailing.extend_from_slice(b"\x11\x00\x00");
    let err = decompress(&trailing, 1 << 20);
    assert_eq!(err, Err(LzoError::Corrupt(CorruptKind::TrailingBytes)));
}

#[test]
fn our_encoding_of_the_captured_files_is_no_worse_than_distccs() {
    for (theirs, data) in CAPTURES {
        let ours = compress(data);
        assert_eq!(decompress(&ours, data.len()).as_deref(), Ok(data));
        assert!(
            ours.len() <= theirs.len(),
            "{} > {}",
            ours.len(),
            theirs.len()
        );
    }
}

/// Text exercising every instruction our encoder emits: literals of many lengths, runs,
/// and repeats at the M2/M3/M4 distance boundaries. Only `[a-z ]`, so it can sit in a C
/// string literal.
fn stress_text(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n) as usize
    };
    let dists = [
        1, 3, 8, 9, 2048, 2049, 16383, 16384, 16385, 32767, 32768, 32769, 49151,
    ];
    let mut text = Vec::with_capacity(len + 5000);
    while text.len() < len {
        match rand(10) {
            0..=3 => {
                (0..1 + rand(300)).for_each(|_| text.push(b"abcdefghijklmnopqrstuvwxyz "[rand(27)]))
            }
            4 => text.resize(text.len() + 1 + rand(3000), b'a' + rand(26) as u8),
            _ if text.is_empty() => {}
            _ => {
                let dist = dists[rand(dists.len() as u64)].min(text.len());
                let from = text.len() - dist;
                for i in 0..1 + rand(700) {
                    text.push(text[from + i]);
                }
            }
        }
    }
    text
}

fn write_token(out: &mut Vec<u8>, token: &str, value: usize) {
    out.extend_from_slice(format!("{token}{value:08x}").as_bytes());
}

fn read_token(conn: &mut TcpStream) -> (String, usize) {
    let mut buf = [0; 12];
    conn.read_exact(&mut buf).expect("reply token");
    let value = std::str::from_utf8(&buf[4..]).expect("hex");
    (
        String::from_utf8_lossy(&buf[..4]).into_owned(),
        usize::from_str_radix(value, 16).expect("hex"),
    )
}

/// Sends a protocol-2 job whose `DOTI` body is compressed by *our* encoder to a real
/// `distccd` (whose minilzo must decode it), and checks the string literal arrives intact
/// in the object file it sends back. Run with e.g.
/// `distccd --daemon --no-detach --port 3790 --listen 127.0.0.1 --allow 127.0.0.1
/// --enable-tcp-insecure` and
/// `CCFARM_TEST_DISTCCD=127.0.0.1:3790 cargo test -p ccfarm-proto -- --ignored real_distccd`.
#[test]
#[ignore = "needs a running distccd; set CCFARM_TEST_DISTCCD=host:port"]
fn real_distccd_decodes_our_streams() {
    let addr = std::env::var("CCFARM_TEST_DISTCCD").expect("CCFARM_TEST_DISTCCD=host:port");
    let text = stress_text(300_000);
    let mut source = b"const char text[] = \"".to_vec();
    source.extend_from_slice(&text);
    source.extend_from_slice(b"\";\n");
    let body = compress(&source);

    let argv = ["gcc", "-c", "stress.i", "-o", "stress.o"];
    let mut request = Vec::new();
    write_token(&mut request, "DIST", 2);
    write_token(&mut request, "ARGC", argv.len());
    for arg in argv {
        write_token(&mut request, "ARGV", arg.len());
        request.extend_from_slice(arg.as_bytes());
    }
    write_token(&mut request, "DOTI", body.len());
    request.extend_from_slice(&body);
    let mut conn = TcpStream::connect(&addr).expect("connect to distccd");
    conn.write_all(&request).expect("send job");

    assert_eq!(read_token(&mut conn), ("DONE".into(), 2));
    assert_eq!(
        read_token(&mut conn),
        ("STAT".into(), 0),
        "compilation failed"
    );
    for token in ["SERR", "SOUT", "DOTO"] {
        let (got, len) = read_token(&mut conn);
        assert_eq!(got, token);
        let mut compressed = vec![0; len];
        conn.read_exact(&mut compressed).expect("body");
        let body = decompress(&compressed, 64 << 20).expect("distcc's body decodes");
        if token == "DOTO" {
            assert!(
                body.windows(text.len()).any(|w| w == text),
                "literal damaged in transit"
            );
        }
    }
}

/// Throughput on a real preprocessed C++ translation unit (needs `g++`). Run with
/// `cargo test --release -p ccfarm-proto --test lzo_interop -- --ignored --nocapture throughput`.
#[test]
#[ignore = "benchmark; needs g++ and a release build"]
fn throughput_on_preprocessed_cxx() {
    use std::time::Instant;
    let source = "#include <iostream>\n#include <map>\n#include <regex>\n#include <vector>\n\
                  #include <string>\n#include <algorithm>\n#include <unordered_map>\n\
                  #include <sstream>\nint main() { std::map<int, int> m; std::cout << m.size(); }\n";
    let mut child = std::process::Command::new("g++")
        .args(["-E", "-x", "c++", "-", "-o", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run g++ -E");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(source.as_bytes())
        .expect("write");
    let data = child.wait_with_output().expect("g++ -E").stdout;
    assert!(data.len() > 1_000_000);

    let rounds = 20;
    let start = Instant::now();
    let mut compressed = Vec::new();
    for _ in 0..rounds {
        compressed = compress(&data);
    }
    let compress_secs = start.elapsed().as_secs_f64() / f64::from(rounds);
    let start = Instant::now();
    for _ in 0..rounds {
        assert_eq!(
            decompress(&compressed, 64 << 20).map(|d| d.len()),
            Ok(data.len())
        );
    }
    let decompress_secs = start.elapsed().as_secs_f64() / f64::from(rounds);
    let mb = data.len() as f64 / 1e6;
    println!(
        "{} -> {} bytes ({:.1}%): compress {:.0} MB/s, decompress {:.0} MB/s",
        data.len(),
        compressed.len(),
        100.0 * compressed.len() as f64 / data.len() as f64,
        mb / compress_secs,
        mb / decompress_secs,
    );
}
