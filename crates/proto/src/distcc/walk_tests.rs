//! The request grammar, frame by frame: every token, every cap, every protocol
//! version, and the same events whichever way the bytes are cut.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::distcc::{Payload, Request, TreeEntry, TreeEntryKind};

/// An event with its body bytes gathered, so that walks of differently cut input
/// compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Frame(Frame),
    Body(Token, Vec<u8>),
    Complete,
}

/// Feed `wire` in pieces of the given sizes (cycled; the rest in one piece), and
/// gather what the walker said.
fn walk(wire: &[u8], limits: Limits, pieces: &[usize]) -> Result<Vec<Seen>, ProtoError> {
    let mut walker = RequestWalker::new(limits);
    let mut seen = Vec::new();
    let mut at = 0;
    let mut sizes = pieces.iter().copied().cycle();
    while at < wire.len() {
        let size = sizes.next().unwrap_or(wire.len()).max(1);
        let mut piece = &wire[at..(at + size).min(wire.len())];
        at += piece.len();
        while !piece.is_empty() {
            let fed = walker.feed(piece)?;
            match fed.event {
                Event::Partial => {}
                Event::Frame(frame) => {
                    seen.push(Seen::Frame(frame));
                    if let Frame::Body(body) = frame {
                        seen.push(Seen::Body(body.token, Vec::new()));
                    }
                }
                Event::BodyBytes { token, .. } => match seen.last_mut() {
                    Some(Seen::Body(t, bytes)) if *t == token => {
                        bytes.extend_from_slice(&piece[..fed.used])
                    }
                    other => panic!("body bytes after {other:?}"),
                },
                Event::Complete => {
                    seen.push(Seen::Complete);
                    return Ok(seen);
                }
            }
            piece = &piece[fed.used..];
        }
    }
    if walker.expect() == Expect::Complete {
        seen.push(Seen::Complete);
    }
    Ok(seen)
}

fn whole(wire: &[u8]) -> Vec<Seen> {
    walk(wire, Limits::default(), &[]).unwrap()
}

fn err(wire: &[u8], limits: Limits) -> ProtoError {
    walk(wire, limits, &[]).unwrap_err()
}

fn v1(argv: &[&str], source: &[u8]) -> Vec<u8> {
    Request {
        version: Version::V1,
        argv: argv
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect(),
        payload: Payload::Preprocessed(Bytes::copy_from_slice(source)),
    }
    .encode()
}

fn v3_tree() -> Request {
    Request {
        version: Version::V3,
        argv: vec![Bytes::from_static(b"gcc"), Bytes::from_static(b"-c")],
        payload: Payload::Tree {
            cwd: Bytes::from_static(b"/src"),
            entries: vec![
                TreeEntry {
                    name: Bytes::from_static(b"/src/a.c"),
                    kind: TreeEntryKind::File(Bytes::from_static(b"int a;")),
                },
                TreeEntry {
                    name: Bytes::from_static(b"/src/b.h"),
                    kind: TreeEntryKind::Link(Bytes::from_static(b"a.h")),
                },
            ],
        },
    }
}

fn body(token: Token, len: u32, compressed: bool) -> Seen {
    Seen::Frame(Frame::Body(Body {
        token,
        len,
        compressed,
    }))
}

fn count(token: Token, count: u32) -> Seen {
    Seen::Frame(Frame::Count { token, count })
}

#[test]
fn protocol_1_frames_in_order() {
    let seen = whole(&v1(&["gcc", "-c", "x.c"], b"int x;"));
    assert_eq!(
        seen,
        [
            Seen::Frame(Frame::Version(Version::V1)),
            count(Token::Argc, 3),
            body(Token::Argv, 3, false),
            Seen::Body(Token::Argv, b"gcc".to_vec()),
            body(Token::Argv, 2, false),
            Seen::Body(Token::Argv, b"-c".to_vec()),
            body(Token::Argv, 3, false),
            Seen::Body(Token::Argv, b"x.c".to_vec()),
            body(Token::Doti, 6, false),
            Seen::Body(Token::Doti, b"int x;".to_vec()),
            Seen::Complete,
        ]
    );
}

#[test]
fn protocol_2_source_is_compressed() {
    let mut wire = crate::distcc::encode_command(Version::V2, &[Bytes::from_static(b"cc")]);
    wire.extend(crate::distcc::encode_source(Version::V2, b"int x;"));
    let seen = whole(&wire);
    let Seen::Frame(Frame::Body(doti)) = &seen[4] else {
        panic!("{seen:?}")
    };
    assert_eq!(doti.token, Token::Doti);
    assert!(doti.compressed && doti.is_bulk());
    assert_eq!(seen.last(), Some(&Seen::Complete));
}

#[test]
fn protocol_3_tree_frames_in_order() {
    let seen = whole(&v3_tree().encode());
    let frames: Vec<_> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Frame(Frame::Body(b)) => Some((b.token, b.compressed, b.is_bulk())),
            Seen::Frame(Frame::Count { token, .. }) => Some((*token, false, false)),
            Seen::Frame(Frame::Version(_)) => Some((Token::Dist, false, false)),
            _ => None,
        })
        .collect();
    use Token::*;
    assert_eq!(
        frames,
        [
            (Dist, false, false),
            (Cdir, false, false),
            (Argc, false, false),
            (Argv, false, false),
            (Argv, false, false),
            (Nfil, false, false),
            (Name, false, false),
            (File, true, true),
            (Name, false, false),
            (Link, false, false),
        ]
    );
    assert_eq!(seen.last(), Some(&Seen::Complete));
}

#[test]
fn empty_lists_and_bodies() {
    // No arguments, an empty source: the grammar allows both (a server refuses an
    // empty command line with a reply, which needs the request read).
    let seen = whole(b"DIST00000001ARGC00000000DOTI00000000");
    assert_eq!(
        seen,
        [
            Seen::Frame(Frame::Version(Version::V1)),
            count(Token::Argc, 0),
            body(Token::Doti, 0, false),
            Seen::Body(Token::Doti, Vec::new()),
            Seen::Complete,
        ]
    );
    // A tree of no files ends at NFIL.
    let seen = whole(b"DIST00000003CDIR00000001/ARGC00000000NFIL00000000");
    assert_eq!(seen.last(), Some(&Seen::Complete));
    assert_eq!(seen[seen.len() - 2], count(Token::Nfil, 0));
}

#[test]
fn pulled_frame_by_frame_with_bodies_moved_elsewhere() {
    let wire = v3_tree().encode();
    let mut walker = RequestWalker::new(Limits::default());
    let mut at = 0;
    let mut files = 0;
    loop {
        match walker.expect() {
            Expect::Complete => break,
            Expect::Header(_) => {
                let header: [u8; HEADER_LEN] = wire[at..at + HEADER_LEN].try_into().unwrap();
                at += HEADER_LEN;
                if let Frame::Body(body) = walker.header(&header).unwrap() {
                    files += usize::from(body.token == Token::File);
                    // Moved in two steps, as a splice might.
                    let half = body.len as usize / 2;
                    walker.body(half).unwrap();
                    walker.body(body.len as usize - half).unwrap();
                    at += body.len as usize;
                }
            }
            Expect::Body { .. } => panic!("the body was accounted for"),
        }
    }
    assert_eq!((at, files), (wire.len(), 1));
}

#[test]
fn versions() {
    for bad in [b"DIST00000000", b"DIST00000004", b"DISTffffffff"] {
        assert!(matches!(
            err(bad, Limits::default()),
            ProtoError::UnsupportedVersion(_)
        ));
    }
    // Protocol 3 starts with CDIR; 1 and 2 never send one.
    let e = err(b"DIST00000003ARGC00000000", Limits::default());
    assert!(e.to_string().contains("expected CDIR"), "{e}");
    let e = err(b"DIST00000002CDIR00000001/", Limits::default());
    assert!(e.to_string().contains("expected ARGC"), "{e}");
    // And the tree only follows protocol 3's command line.
    let e = err(b"DIST00000001ARGC00000000NFIL00000000", Limits::default());
    assert!(e.to_string().contains("expected DOTI"), "{e}");
    let e = err(
        b"DIST00000003CDIR00000001/ARGC00000000DOTI00000000",
        Limits::default(),
    );
    assert!(e.to_string().contains("expected NFIL"), "{e}");
}

#[test]
fn wrong_tokens_everywhere() {
    for (wire, expected) in [
        (&b"ARGC00000000"[..], "DIST"),
        (b"DIST00000001ARGV00000000", "ARGC"),
        (b"DIST00000001ARGC00000001DOTI00000000", "ARGV"),
        (b"DIST00000001ARGC00000000DOTO00000000", "DOTI"),
        (
            b"DIST00000003CDIR00000001/ARGC00000000NFIL00000001FILE00000000",
            "NAME",
        ),
        (
            b"DIST00000003CDIR00000001/ARGC00000000NFIL00000001NAME00000002/xNAME00000000",
            "FILE or LINK",
        ),
    ] {
        let e = err(wire, Limits::default());
        assert!(
            e.to_string().contains(&format!("expected {expected}")),
            "{}: {e}",
            String::from_utf8_lossy(wire)
        );
    }
    let e = err(b"DIST0000000g", Limits::default());
    assert!(matches!(e, ProtoError::BadParameter { .. }), "{e}");
}

#[test]
fn every_cap_is_checked_from_the_header() {
    let small = Limits {
        max_args: 2,
        max_arg_len: 4,
        max_body_len: 8,
        max_decompressed_len: 8,
        max_files: 1,
        max_message_len: 1 << 20,
    };
    let tree = b"DIST00000003CDIR00000001/ARGC00000000NFIL00000001NAME00000002/x";
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"DIST00000001ARGC00000003".to_vec(), "argument count 3"),
        (
            b"DIST00000001ARGC00000001ARGV00000005".to_vec(),
            "ARGV of 5",
        ),
        (b"DIST00000003CDIR00000005".to_vec(), "CDIR of 5"),
        (
            b"DIST00000001ARGC00000000DOTI00000009".to_vec(),
            "DOTI of 9",
        ),
        (
            b"DIST00000003CDIR00000001/ARGC00000000NFIL00000002".to_vec(),
            "file count 2",
        ),
        (
            b"DIST00000003CDIR00000001/ARGC00000000NFIL00000001NAME00000005".to_vec(),
            "NAME of 5",
        ),
        ([&tree[..], b"FILE00000009"].concat(), "FILE of 9"),
        ([&tree[..], b"LINK00000005"].concat(), "LINK of 5"),
    ];
    for (wire, why) in cases {
        // No body byte follows the header: the refusal needs none.
        let e = err(&wire, small.clone());
        assert!(
            e.to_string().contains(why),
            "{}: {e}",
            String::from_utf8_lossy(&wire)
        );
    }
    // Exactly at the caps is fine.
    let at_caps = [&tree[..], b"LINK00000004abcd"].concat();
    assert_eq!(
        walk(&at_caps, small, &[]).unwrap().last(),
        Some(&Seen::Complete)
    );
}

#[test]
fn the_whole_request_is_capped_on_the_wire() {
    let limits = Limits {
        max_message_len: 10,
        ..Limits::default()
    };
    // 3 + 2 + 5 bytes of bodies: exactly the cap.
    let ok = v1(&["gcc", "-c"], b"12345");
    assert_eq!(
        walk(&ok, limits.clone(), &[]).unwrap().last(),
        Some(&Seen::Complete)
    );
    let over = v1(&["gcc", "-c"], b"123456");
    let e = err(&over, limits);
    assert!(
        matches!(
            e,
            ProtoError::TooLong {
                what: "request",
                len: 11,
                limit: 10
            }
        ),
        "{e}"
    );
}

#[test]
fn four_gib_lengths_are_refused_at_once() {
    let e = err(b"DIST00000001ARGC00000001ARGVffffffff", Limits::default());
    assert!(matches!(e, ProtoError::TooLong { .. }), "{e}");
    let e = err(b"DIST00000001ARGCffffffff", Limits::default());
    assert!(matches!(e, ProtoError::TooMany { .. }), "{e}");
}

#[test]
fn truncated_input_never_completes() {
    let wire = v3_tree().encode();
    for cut in 0..wire.len() {
        let seen = walk(&wire[..cut], Limits::default(), &[1]).unwrap();
        assert!(!seen.contains(&Seen::Complete), "complete at {cut}");
    }
    let mut walker = RequestWalker::new(Limits::default());
    assert!(walker.at_start());
    walker.feed(b"DIS").unwrap();
    assert!(!walker.at_start(), "part of a header is part of a request");
}

#[test]
fn nothing_is_taken_after_the_end() {
    let wire = v1(&["cc"], b"x");
    let mut walker = RequestWalker::new(Limits::default());
    let mut rest = &wire[..];
    while !rest.is_empty() {
        rest = &rest[walker.feed(rest).unwrap().used..];
    }
    let fed = walker.feed(b"DIST00000001").unwrap();
    assert_eq!(
        fed,
        Fed {
            used: 0,
            event: Event::Complete
        }
    );
    let e = walker.header(b"DIST00000001").unwrap_err();
    assert!(e.to_string().contains("the end of the request"), "{e}");
}

#[test]
fn misuse_is_an_error_not_a_panic() {
    let mut walker = RequestWalker::new(Limits::default());
    for header in [b"DIST00000001", b"ARGC00000001", b"ARGV00000003"] {
        walker.header(header).unwrap();
    }
    assert_eq!(
        walker.expect(),
        Expect::Body {
            token: Token::Argv,
            remaining: 3
        }
    );
    // A header where body bytes belong.
    let e = walker.header(b"DOTI00000000").unwrap_err();
    assert!(e.to_string().contains("3 more bytes of ARGV"), "{e}");
    // More body than announced.
    assert!(matches!(
        walker.body(4),
        Err(ProtoError::BodyOverrun {
            len: 4,
            remaining: 3
        })
    ));
    walker.body(0).unwrap();
    walker.body(3).unwrap();
    assert!(matches!(
        walker.body(1),
        Err(ProtoError::BodyOverrun {
            len: 1,
            remaining: 0
        })
    ));
    assert!(walker.awaiting_source());
}

#[test]
fn awaiting_source_spans_the_doti_frame() {
    let mut walker = RequestWalker::new(Limits::default());
    for header in [b"DIST00000002", b"ARGC00000001", b"ARGV00000002"] {
        assert!(!walker.awaiting_source());
        walker.header(header).unwrap();
    }
    // Not while the last argument is still coming.
    assert!(!walker.awaiting_source());
    walker.body(1).unwrap();
    assert!(!walker.awaiting_source());
    walker.body(1).unwrap();
    assert!(walker.awaiting_source());
    walker.header(b"DOTI00000004").unwrap();
    assert!(walker.awaiting_source());
    walker.body(4).unwrap();
    assert!(!walker.awaiting_source());
    assert_eq!(walker.expect(), Expect::Complete);
}

#[test]
fn bodies_decode_with_their_caps() {
    let bomb = crate::lzo::compress(&vec![0u8; 1 << 16]);
    let mut walker = RequestWalker::new(Limits {
        max_decompressed_len: 1 << 10,
        ..Limits::default()
    });
    let doti = Body {
        token: Token::Doti,
        len: bomb.len() as u32,
        compressed: true,
    };
    let e = walker
        .decode_body(&doti, Bytes::from(bomb.clone()))
        .unwrap_err();
    assert!(
        matches!(e, ProtoError::Decompress { what: "DOTI", .. }),
        "{e}"
    );
    let mut walker = RequestWalker::new(Limits::default());
    let out = walker.decode_body(&doti, Bytes::from(bomb)).unwrap();
    assert_eq!(out.len(), 1 << 16);
    let plain = Body {
        compressed: false,
        ..doti
    };
    let out = walker
        .decode_body(&plain, Bytes::from_static(b"abc"))
        .unwrap();
    assert_eq!(out.as_ref(), b"abc");
}

#[test]
fn byte_by_byte_and_in_one_piece_agree_on_the_captures() {
    for name in [
        "v1-hello.request",
        "v2-hello.request",
        "v3-lsdistcc.request",
    ] {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let wire = std::fs::read(&path).unwrap();
        let one = whole(&wire);
        assert_eq!(one.last(), Some(&Seen::Complete), "{name}");
        assert_eq!(walk(&wire, Limits::default(), &[1]).unwrap(), one, "{name}");
        assert_eq!(
            walk(&wire, Limits::default(), &[5, 12, 7]).unwrap(),
            one,
            "{name}"
        );
    }
}

fn request() -> impl Strategy<Value = Request> {
    let blob = |max: usize| proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from);
    let entry = (blob(16), any::<bool>(), blob(64)).prop_map(|(name, file, data)| TreeEntry {
        name,
        kind: if file {
            TreeEntryKind::File(data)
        } else {
            TreeEntryKind::Link(data)
        },
    });
    let argv = proptest::collection::vec(blob(16), 0..6);
    let flat = (0u32..2, argv.clone(), blob(256)).prop_map(|(v, argv, source)| Request {
        version: if v == 0 { Version::V1 } else { Version::V2 },
        argv,
        payload: Payload::Preprocessed(source),
    });
    let tree = (argv, blob(16), proptest::collection::vec(entry, 0..4)).prop_map(
        |(argv, cwd, entries)| Request {
            version: Version::V3,
            argv,
            payload: Payload::Tree { cwd, entries },
        },
    );
    prop_oneof![flat, tree]
}

proptest! {
    #[test]
    fn any_cut_gives_the_same_events(
        request in request(),
        pieces in proptest::collection::vec(1usize..40, 1..8),
    ) {
        let wire = request.encode();
        let one = whole(&wire);
        prop_assert_eq!(one.last(), Some(&Seen::Complete));
        prop_assert_eq!(walk(&wire, Limits::default(), &pieces).unwrap(), one);
    }

    #[test]
    fn any_bytes_give_an_answer_not_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
        pieces in proptest::collection::vec(1usize..16, 1..4),
    ) {
        let _ = walk(&bytes, Limits::default(), &pieces);
    }
}
