//! Codec tests: golden captures of real distcc 3.4 exchanges, hostile input, and
//! property tests. The fixtures under `tests/fixtures/` were recorded between Debian's
//! `distcc` and `distccd` 3.4 with `scripts/record-proxy.py` (see the README there).

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn decode_request(bytes: &[u8]) -> Result<Option<Request>, ProtoError> {
    let mut buf = BytesMut::from(bytes);
    let mut decoder = RequestDecoder::new(Limits::default());
    let request = decoder.decode(&mut buf)?;
    assert!(
        request.is_none() || buf.is_empty(),
        "decoder left {} bytes",
        buf.len()
    );
    Ok(request)
}

fn decode_reply(version: Version, bytes: &[u8]) -> Result<Option<Reply>, ProtoError> {
    let mut buf = BytesMut::from(bytes);
    let reply = ReplyDecoder::new(version, Limits::default()).decode(&mut buf)?;
    assert!(
        reply.is_none() || buf.is_empty(),
        "decoder left {} bytes",
        buf.len()
    );
    Ok(reply)
}

fn args(argv: &[Bytes]) -> Vec<&str> {
    argv.iter()
        .map(|a| std::str::from_utf8(a).unwrap())
        .collect()
}

const HELLO_ARGV: [&str; 5] = ["gcc", "-c", "hello.c", "-o", "hello.o"];

// === golden captures ===

#[test]
fn protocol_1_hello_round_trips_byte_for_byte() {
    let wire = fixture("v1-hello.request");
    assert_eq!(wire.len(), 271);
    let request = decode_request(&wire).unwrap().unwrap();
    assert_eq!(request.version, Version::V1);
    assert_eq!(args(&request.argv), HELLO_ARGV);
    let Payload::Preprocessed(source) = &request.payload else {
        panic!("v1 carries DOTI")
    };
    assert_eq!(source.len(), 154);
    assert!(source.ends_with(b"int main(void){return 0;}\n"));
    assert_eq!(
        request.encode(),
        wire,
        "re-encoding must give distcc's exact bytes"
    );

    let wire = fixture("v1-hello.reply");
    assert_eq!(wire.len(), 1164);
    let reply = decode_reply(Version::V1, &wire).unwrap().unwrap();
    assert_eq!(reply.status, 0);
    assert!(reply.stderr.is_empty() && reply.stdout.is_empty());
    assert_eq!(reply.object.len(), 0x450);
    assert!(reply.object.starts_with(b"\x7fELF"));
    assert_eq!(reply.encode(), wire);
}

#[test]
fn protocol_2_hello_decodes_lzo_bodies() {
    let request = decode_request(&fixture("v2-hello.request"))
        .unwrap()
        .unwrap();
    assert_eq!(request.version, Version::V2);
    assert_eq!(args(&request.argv), HELLO_ARGV);
    let v1 = decode_request(&fixture("v1-hello.request"))
        .unwrap()
        .unwrap();
    assert_eq!(request.payload, v1.payload, "same source, decompressed");

    let reply = decode_reply(Version::V2, &fixture("v2-hello.reply"))
        .unwrap()
        .unwrap();
    let v1_reply = decode_reply(Version::V1, &fixture("v1-hello.reply"))
        .unwrap()
        .unwrap();
    assert_eq!(reply.object, v1_reply.object, "same object, decompressed");
    // Our encoder's LZO stream differs from minilzo's, but must decode the same.
    let again = decode_reply(Version::V2, &reply.encode()).unwrap().unwrap();
    assert_eq!(again, reply);
}

#[test]
fn syntax_error_replies_carry_status_and_diagnostics() {
    for (version, name) in [
        (Version::V1, "v1-syntax-error.reply"),
        (Version::V2, "v2-syntax-error.reply"),
    ] {
        let reply = decode_reply(version, &fixture(name)).unwrap().unwrap();
        assert_eq!(reply.status, 0x100, "exit status 1 as a wait status");
        let stderr = String::from_utf8_lossy(&reply.stderr);
        assert!(stderr.contains("bad.c:1:24: error: expected"), "{stderr}");
        assert!(reply.object.is_empty());
    }
}

#[test]
fn protocol_3_lsdistcc_probe() {
    let request = decode_request(&fixture("v3-lsdistcc.request"))
        .unwrap()
        .unwrap();
    assert_eq!(request.version, Version::V3);
    assert_eq!(args(&request.argv), HELLO_ARGV);
    let Payload::Tree { cwd, entries } = &request.payload else {
        panic!("v3 carries a tree")
    };
    assert_eq!(cwd.as_ref(), b"/");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].name.as_ref(), b"/hello.c");
    assert_eq!(
        entries[0].kind,
        TreeEntryKind::File(Bytes::from_static(b"int foo(){return 0;}"))
    );
    assert_eq!(decode_request(&request.encode()).unwrap().unwrap(), request);

    let reply = decode_reply(Version::V3, &fixture("v3-lsdistcc.reply"))
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, 0);
    assert!(reply.object.starts_with(b"\x7fELF"));
    assert_eq!(reply.dotd.as_deref(), Some(&b"hello.o: hello.c\n"[..]));
    assert_eq!(
        decode_reply(Version::V3, &reply.encode()).unwrap().unwrap(),
        reply
    );
}

#[test]
fn failed_v3_reply_has_no_dotd() {
    let reply = Reply::failure(Version::V3, 0x100, "boom");
    let wire = reply.encode();
    assert!(!wire.windows(4).any(|w| w == b"DOTD"));
    assert_eq!(decode_reply(Version::V3, &wire).unwrap().unwrap(), reply);
}

// === incremental decoding ===

#[test]
fn byte_at_a_time_gives_the_same_request() {
    for name in [
        "v1-hello.request",
        "v2-hello.request",
        "v3-lsdistcc.request",
    ] {
        let wire = fixture(name);
        let whole = decode_request(&wire).unwrap().unwrap();
        let mut decoder = RequestDecoder::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut got = None;
        for (i, &b) in wire.iter().enumerate() {
            buf.extend_from_slice(&[b]);
            if let Some(r) = decoder.decode(&mut buf).unwrap() {
                assert_eq!(i, wire.len() - 1, "{name}: complete before the last byte");
                got = Some(r);
            }
        }
        assert_eq!(got.unwrap(), whole, "{name}");
    }
}

#[test]
fn the_command_line_is_known_before_the_source() {
    let wire = fixture("v2-hello.request");
    let doti = wire.windows(4).position(|w| w == b"DOTI").unwrap();
    let mut decoder = RequestDecoder::new(Limits::default());
    let mut buf = BytesMut::from(&wire[..doti]);
    assert!(decoder.decode(&mut buf).unwrap().is_none());
    assert!(decoder.awaiting_source());
    assert_eq!(decoder.version(), Some(Version::V2));
    assert_eq!(args(decoder.argv()), HELLO_ARGV);
    buf.extend_from_slice(&wire[doti..]);
    assert!(decoder.decode(&mut buf).unwrap().is_some());
    assert!(!decoder.awaiting_source());
}

#[test]
fn clean_eof_and_truncation() {
    let mut decoder = RequestDecoder::new(Limits::default());
    assert!(decoder.decode_eof(&mut BytesMut::new()).unwrap().is_none());
    let wire = fixture("v1-hello.request");
    for cut in [5, 12, 30, 200, 270] {
        let mut decoder = RequestDecoder::new(Limits::default());
        let mut buf = BytesMut::from(&wire[..cut]);
        assert!(decoder.decode(&mut buf).unwrap().is_none());
        let err = decoder.decode_eof(&mut buf).unwrap_err();
        assert!(
            matches!(err, ProtoError::Truncated(_)),
            "cut at {cut}: {err}"
        );
    }
}

// === hostile input ===

#[test]
fn four_gib_lengths_are_refused_from_the_header_alone() {
    for wire in [
        &b"DIST00000001ARGC00000001ARGVffffffff"[..],
        b"DIST00000001ARGC00000001ARGV00000003gccDOTIFFFFFFFF",
        b"DIST00000003CDIRffffffff",
        b"DIST00000001ARGCffffffff",
        b"DIST00000003CDIR00000001/ARGC00000000NFILffffffff",
    ] {
        let err = decode_request(wire).unwrap_err();
        assert!(
            matches!(err, ProtoError::TooLong { .. } | ProtoError::TooMany { .. }),
            "{err}"
        );
    }
    let err = decode_reply(Version::V1, b"DONE00000001STAT00000000SERRffffffff").unwrap_err();
    assert!(matches!(err, ProtoError::TooLong { .. }), "{err}");
}

#[test]
fn garbage_and_derailment() {
    for wire in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"DIST00000004",
        b"DIST00000000",
        b"DIST0000000z",
        b"DIST00000001ARGV00000003gcc",
        b"DIST00000001ARGC00000001ARGV00000003gccDOTO00000000",
        b"DIST00000003CDIR00000001/ARGC00000000NFIL00000001NAME00000002/xDOTI00000000",
        b"\0\0\0\0\0\0\0\0\0\0\0\0",
    ] {
        assert!(
            decode_request(wire).is_err(),
            "{}",
            String::from_utf8_lossy(wire)
        );
    }
    let err = decode_reply(Version::V2, b"DONE00000001").unwrap_err();
    assert!(matches!(
        err,
        ProtoError::VersionMismatch {
            expected: 2,
            found: 1
        }
    ));
}

#[test]
fn decompression_is_capped() {
    // 8 MiB of zeros compresses to a few KiB: a bomb for a server with a 1 MiB cap.
    let bomb = crate::lzo::compress(&vec![0u8; 8 << 20]);
    assert!(bomb.len() < 64 * 1024);
    let mut wire = b"DIST00000002ARGC00000001ARGV00000003gcc".to_vec();
    token::write_header(&mut wire, Token::Doti, bomb.len() as u32);
    wire.extend_from_slice(&bomb);
    let limits = Limits {
        max_decompressed_len: 1 << 20,
        ..Limits::default()
    };
    let mut decoder = RequestDecoder::new(limits);
    let err = decoder.decode(&mut BytesMut::from(&wire[..])).unwrap_err();
    assert!(matches!(err, ProtoError::Decompress { .. }), "{err}");
    // The whole-message budget applies too.
    let limits = Limits {
        max_message_len: 1 << 20,
        ..Limits::default()
    };
    let err = RequestDecoder::new(limits)
        .decode(&mut BytesMut::from(&wire[..]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProtoError::Decompress { .. } | ProtoError::TooLong { .. }
        ),
        "{err}"
    );
    // And corrupt LZO is an error, not a panic.
    let mut wire = b"DIST00000002ARGC00000000DOTI00000004".to_vec();
    wire.extend_from_slice(&[0x00, 0xff, 0x13, 0x37]);
    assert!(matches!(
        decode_request(&wire).unwrap_err(),
        ProtoError::Decompress { .. }
    ));
}

#[test]
fn argument_limits() {
    let limits = Limits {
        max_args: 2,
        ..Limits::default()
    };
    let err = RequestDecoder::new(limits)
        .decode(&mut BytesMut::from(&b"DIST00000001ARGC00000003"[..]))
        .unwrap_err();
    assert!(matches!(
        err,
        ProtoError::TooMany {
            count: 3,
            limit: 2,
            ..
        }
    ));
    let limits = Limits {
        max_arg_len: 4,
        ..Limits::default()
    };
    let err = RequestDecoder::new(limits)
        .decode(&mut BytesMut::from(
            &b"DIST00000001ARGC00000001ARGV00000005"[..],
        ))
        .unwrap_err();
    assert!(matches!(
        err,
        ProtoError::TooLong {
            len: 5,
            limit: 4,
            ..
        }
    ));
}

// === properties ===

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V1), Just(Version::V2), Just(Version::V3)]
}

fn blob(max: usize) -> impl Strategy<Value = Bytes> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..max),
        // Repetitive data exercises LZO matches.
        (proptest::collection::vec(any::<u8>(), 1..8), 0..max)
            .prop_map(|(unit, n)| { unit.iter().copied().cycle().take(n).collect() }),
    ]
    .prop_map(Bytes::from)
}

fn request() -> impl Strategy<Value = Request> {
    let entry = (blob(64), any::<bool>(), blob(2048)).prop_map(|(name, is_link, data)| TreeEntry {
        name,
        kind: if is_link {
            TreeEntryKind::Link(data)
        } else {
            TreeEntryKind::File(data)
        },
    });
    (
        version(),
        proptest::collection::vec(blob(32), 0..8),
        blob(4096),
        blob(32),
        proptest::collection::vec(entry, 0..4),
    )
        .prop_map(|(version, argv, source, cwd, entries)| Request {
            version,
            argv,
            payload: if version == Version::V3 {
                Payload::Tree { cwd, entries }
            } else {
                Payload::Preprocessed(source)
            },
        })
}

fn reply() -> impl Strategy<Value = Reply> {
    (
        version(),
        prop_oneof![Just(0u32), any::<u32>()],
        blob(512),
        blob(512),
        blob(4096),
        blob(256),
    )
        .prop_map(|(version, status, stderr, stdout, object, dotd)| {
            let ok = status == 0;
            Reply {
                version,
                status,
                stderr,
                stdout,
                object: if ok { object } else { Bytes::new() },
                dotd: (ok && version == Version::V3).then_some(dotd),
            }
        })
}

proptest! {
    #[test]
    fn requests_round_trip(request in request(), split in any::<prop::sample::Index>()) {
        let wire = request.encode();
        prop_assert_eq!(decode_request(&wire).unwrap().unwrap(), request.clone());
        // Any split into two reads decodes the same.
        let at = split.index(wire.len() + 1);
        let mut decoder = RequestDecoder::new(Limits::default());
        let mut buf = BytesMut::from(&wire[..at]);
        let first = decoder.decode(&mut buf).unwrap();
        buf.extend_from_slice(&wire[at..]);
        let got = match first { Some(r) => r, None => decoder.decode(&mut buf).unwrap().unwrap() };
        prop_assert_eq!(got, request);
    }

    #[test]
    fn replies_round_trip(reply in reply()) {
        let wire = reply.encode();
        prop_assert_eq!(decode_reply(reply.version, &wire).unwrap().unwrap(), reply);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = RequestDecoder::new(Limits::default()).decode_eof(&mut BytesMut::from(&bytes[..]));
        for v in [Version::V1, Version::V2, Version::V3] {
            let _ = ReplyDecoder::new(v, Limits::default()).decode(&mut BytesMut::from(&bytes[..]));
        }
    }

    #[test]
    fn mutated_captures_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let name = ["v1-hello.request", "v2-hello.request", "v3-lsdistcc.request", "v2-hello.reply"][which];
        let mut wire = fixture(name);
        for (at, byte) in edits {
            let i = at.index(wire.len());
            wire[i] = byte;
        }
        if which == 3 {
            let _ = ReplyDecoder::new(Version::V2, Limits::default()).decode(&mut BytesMut::from(&wire[..]));
        } else {
            let _ = RequestDecoder::new(Limits::default()).decode_eof(&mut BytesMut::from(&wire[..]));
        }
    }
}

#[test]
fn the_source_can_be_handed_over_before_or_after_its_header() {
    let wire = fixture("v1-hello.request");
    let doti = wire.windows(4).position(|w| w == b"DOTI").unwrap();
    // The last argument's header is in but not all of its body: the command line is
    // not complete yet.
    for cut in [doti - 3, doti - 8] {
        let mut decoder = RequestDecoder::new(Limits::default());
        let mut buf = BytesMut::from(&wire[..cut]);
        assert!(decoder.decode(&mut buf).unwrap().is_none());
        assert!(!decoder.awaiting_source(), "cut at {cut}");
    }
    let whole = decode_request(&wire).unwrap().unwrap();
    let Payload::Preprocessed(source) = whole.payload else {
        panic!("v1 carries DOTI")
    };
    // Cut before the header, inside it, right after it and inside the body.
    for cut in [doti, doti + 5, doti + 12, doti + 40] {
        let mut decoder = RequestDecoder::new(Limits::default());
        let mut buf = BytesMut::from(&wire[..cut]);
        assert!(decoder.decode(&mut buf).unwrap().is_none());
        assert!(decoder.awaiting_source(), "cut at {cut}");
        let (mut walker, argv) = decoder.into_source(&mut buf);
        assert_eq!(args(&argv), HELLO_ARGV);
        buf.extend_from_slice(&wire[cut..]);
        let mut got = Vec::new();
        let mut rest = &buf[..];
        while !rest.is_empty() {
            let fed = walker.feed(rest).unwrap();
            if let walk::Event::BodyBytes { token, .. } = fed.event {
                assert_eq!(token, Token::Doti);
                got.extend_from_slice(&rest[..fed.used]);
            }
            rest = &rest[fed.used..];
        }
        assert_eq!(walker.expect(), walk::Expect::Complete);
        assert_eq!(got, source, "cut at {cut}");
    }
}
