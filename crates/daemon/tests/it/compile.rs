//! Stock distcc clients compiling through ccfarmd: objects byte-identical to local
//! compiles, diagnostics and exit status as local gcc gives them.

use ccfarm_testkit::*;

const HELLO_C: &str = "#include <stdio.h>\n#include \"greeting.h\"\nint main(void) { printf(\"%s\\n\", GREETING); return 0; }\n";
const GREETING_H: &str = "#define GREETING \"hello world\"\n";
const HELLO_CXX: &str = "#include <iostream>\n#include <vector>\nint main() { std::vector<int> v{1,2,3}; for (int x : v) std::cout << x; std::cout << std::endl; }\n";

fn local_object(scratch: &Scratch, compiler: &str, src: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["-c", src, "-o", "local.o"];
    args.extend_from_slice(extra);
    let out = run(scratch, compiler, &args);
    assert!(
        out.status.success(),
        "local {compiler} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    scratch.read("local.o")
}

#[test]
fn hello_world_c_and_cxx_plain_and_lzo() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write("hello.c", HELLO_C);
    scratch.write("greeting.h", GREETING_H);
    scratch.write("hello.cpp", HELLO_CXX);
    let local_c = local_object(&scratch, "gcc", "hello.c", &["-O2"]);
    let local_cxx = local_object(&scratch, "g++", "hello.cpp", &["-O2"]);
    for opts in ["", ",lzo"] {
        distcc_ok(
            &scratch,
            &server.host(opts),
            &["gcc", "-O2", "-c", "hello.c", "-o", "hello.o"],
        );
        assert_eq!(
            scratch.read("hello.o"),
            local_c,
            "C object differs ({opts:?})"
        );
        distcc_ok(
            &scratch,
            &server.host(opts),
            &["g++", "-O2", "-c", "hello.cpp", "-o", "hello_cpp.o"],
        );
        assert_eq!(
            scratch.read("hello_cpp.o"),
            local_cxx,
            "C++ object differs ({opts:?})"
        );
    }
    // The objects link and run.
    assert!(
        run(&scratch, "gcc", &["hello.o", "-o", "hello"])
            .status
            .success()
    );
    let out = run(&scratch, "./hello", &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello world\n");
    assert!(
        server.log().contains("COMPILE_OK"),
        "server log has no job: {}",
        server.log()
    );
    server.assert_no_leftovers();
}

#[test]
fn dependency_flags_and_joined_output() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write("hello.c", HELLO_C);
    scratch.write("greeting.h", GREETING_H);
    std::fs::create_dir(scratch.path().join("deps")).unwrap();
    let local = local_object(&scratch, "gcc", "hello.c", &[]);
    for opts in ["", ",lzo"] {
        distcc_ok(
            &scratch,
            &server.host(opts),
            &[
                "gcc",
                "-MD",
                "-MF",
                "deps/hello.d",
                "-MT",
                "custom-target.o",
                "-c",
                "hello.c",
                "-o",
                "dep.o",
            ],
        );
        assert_eq!(scratch.read("dep.o"), local);
        let dotd = String::from_utf8(scratch.read("deps/hello.d")).unwrap();
        assert!(dotd.starts_with("custom-target.o:"), "{dotd}");
        assert!(dotd.contains("greeting.h"), "{dotd}");

        distcc_ok(
            &scratch,
            &server.host(opts),
            &["gcc", "-c", "hello.c", "-ojoined.o"],
        );
        assert_eq!(scratch.read("joined.o"), local, "-o without a space");
    }
    server.assert_no_leftovers();
}

#[test]
fn a_200000_line_source() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    let mut src = String::from("int big_sum(void) {\n  int s = 0;\n");
    for i in 0..199_996 {
        src.push_str(&format!("  s += {};\n", i % 7));
    }
    src.push_str("  return s;\n}\n");
    assert_eq!(src.lines().count(), 200_000);
    scratch.write("big.c", &src);
    let local = local_object(&scratch, "gcc", "big.c", &[]);
    distcc_ok(
        &scratch,
        &server.host(",lzo"),
        &["gcc", "-c", "big.c", "-o", "big.o"],
    );
    assert_eq!(scratch.read("big.o"), local);
    server.assert_no_leftovers();
}

#[test]
fn fifty_concurrent_compiles_share_the_slots() {
    let server = Server::start(&["--jobs", "3"]);
    let scratch = Scratch::new();
    for i in 0..50 {
        scratch.write(
            &format!("u{i}.c"),
            format!("int unit_{i}(int x) {{ return x * {i} + {}; }}\n", i * 3),
        );
    }
    let locals: Vec<Vec<u8>> = (0..50)
        .map(|i| {
            let out = run(
                &scratch,
                "gcc",
                &["-c", &format!("u{i}.c"), "-o", &format!("l{i}.o")],
            );
            assert!(out.status.success());
            scratch.read(&format!("l{i}.o"))
        })
        .collect();
    // The client side allows all 50 at once; the server must queue down to 3.
    let hosts = format!("127.0.0.1:{}/50", server.port);
    let children: Vec<_> = (0..50)
        .map(|i| {
            distcc(&scratch, &hosts)
                .args(["gcc", "-c", &format!("u{i}.c"), "-o", &format!("r{i}.o")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "job {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(scratch.read(&format!("r{i}.o")), locals[i], "job {i}");
    }
    let status = server.status();
    assert_eq!(status["results"]["compile_ok"], 50, "{status}");
    assert_eq!(status["slots"], 3);
    let peak = status["running_peak"].as_i64().unwrap();
    assert!(
        (1..=3).contains(&peak),
        "ran {peak} compiles at once with --jobs 3"
    );
    server.assert_no_leftovers();
}

#[test]
fn syntax_error_matches_local_gcc() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write("bad.c", "int main(void) {\n  return 0\n}\n");
    let local = run(&scratch, "gcc", &["-c", "bad.c", "-o", "bad.o"]);
    assert!(!local.status.success());
    let local_err = String::from_utf8_lossy(&local.stderr).into_owned();
    let message = local_err
        .lines()
        .find(|l| l.contains("error:"))
        .expect("gcc reports an error")
        .to_owned();
    for opts in ["", ",lzo"] {
        let out = distcc(&scratch, &server.host(opts))
            .args(["gcc", "-c", "bad.c", "-o", "bad.o"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), local.status.code(), "{stderr}");
        assert!(stderr.contains(&message), "missing {message:?} in {stderr}");
        assert!(
            !scratch.path().join("bad.o").exists(),
            "no object may be written"
        );
    }
    let status = server.status();
    assert_eq!(status["results"]["compile_error"], 2, "{status}");
    server.assert_no_leftovers();
}

/// A client that sends its command line in pieces, pauses as distcc does while it
/// preprocesses, then sends the source in pieces: the compiler started early reads the pieces as
/// they come and the object is the one a local compile gives.
#[test]
fn a_source_arriving_in_pieces_after_the_command_line() {
    use std::io::{Read, Write};
    use std::time::Duration;

    use bytes::{Bytes, BytesMut};
    use ccfarm_proto::distcc::{Limits, ReplyDecoder, Version, encode_command, encode_source};

    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write("hello.c", HELLO_C);
    scratch.write("greeting.h", GREETING_H);
    let local = local_object(&scratch, "gcc", "hello.c", &["-O2"]);
    let pre = run(&scratch, "gcc", &["-O2", "-E", "hello.c"]);
    assert!(pre.status.success());
    // Without its last argument the command is still a compile, so a server that took
    // the command line as complete too early would start the compiler.
    let argv: Vec<Bytes> = ["gcc", "-O2", "-c", "hello.c", "-ohello.o"]
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .to_vec();
    for version in [Version::V1, Version::V2] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_nodelay(true).unwrap();
        // The last argument's header first and its text later, as distcc writes them:
        // the command line is complete only with the text.
        let command = encode_command(version, &argv);
        let text = command.len() - argv.last().unwrap().len();
        s.write_all(&command[..text]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(&command[text..]).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let source = encode_source(version, &pre.stdout);
        // Cut inside the header and twice inside the body.
        let cuts = [0, 5, 40, source.len() / 2, source.len()];
        for piece in cuts.windows(2) {
            s.write_all(&source[piece[0]..piece[1]]).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut wire = Vec::new();
        s.read_to_end(&mut wire).unwrap();
        let reply = ReplyDecoder::new(version, Limits::default())
            .decode(&mut BytesMut::from(&wire[..]))
            .unwrap()
            .expect("a whole reply");
        assert_eq!(
            reply.status,
            0,
            "{version:?}: {}",
            String::from_utf8_lossy(&reply.stderr)
        );
        assert_eq!(reply.object, local, "{version:?}: the object differs");
    }

    // A client that closes in the middle of its source gets nothing, and the job is
    // counted as a broken request.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&encode_command(Version::V1, &argv)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let source = encode_source(Version::V1, &pre.stdout);
    s.write_all(&source[..source.len() / 2]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut wire = Vec::new();
    let _ = s.read_to_end(&mut wire);
    assert!(wire.is_empty(), "a reply to half a request");
    assert!(
        server.wait_for_log("bad_request", Duration::from_secs(5)),
        "{}",
        server.log()
    );
    server.assert_no_leftovers();
}
