//! The control port's handling of bad input: every refusal explained, then closed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::BytesMut;
use ccfarm_proto::farm::{self, FromScheduler, PROTOCOL_VERSION, Role, ToScheduler};

use crate::farm::*;

/// Send `bytes`, then read everything the scheduler answers until it closes.
fn exchange(farm: &Farm, bytes: &[u8]) -> Vec<FromScheduler> {
    exchange_within(farm, bytes, Duration::from_secs(10))
}

/// [`exchange`], waiting up to `limit` for each read.
fn exchange_within(farm: &Farm, bytes: &[u8], limit: Duration) -> Vec<FromScheduler> {
    let mut s = TcpStream::connect(&farm.address).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(bytes).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let mut buf = BytesMut::from(&raw[..]);
    let mut out = Vec::new();
    while let Ok(Some(m)) = farm::decode::<FromScheduler>(&mut buf, 1 << 20) {
        out.push(m);
    }
    out
}

fn refusal(answers: &[FromScheduler]) -> String {
    match answers.last() {
        Some(FromScheduler::Refused { reason }) => reason.clone(),
        other => panic!("expected a refusal, got {other:?} in {answers:?}"),
    }
}

#[test]
fn bad_input_is_refused_with_a_reason_and_the_farm_carries_on() {
    let farm = Farm::start(&["a"]);
    let hello = farm::encode(&ToScheduler::Hello {
        version: PROTOCOL_VERSION,
        role: Role::Client {
            user: "u".into(),
            machine: "m".into(),
        },
    });

    let old = farm::encode(&ToScheduler::Hello {
        version: PROTOCOL_VERSION + 7,
        role: Role::Client {
            user: "u".into(),
            machine: "m".into(),
        },
    });
    assert!(refusal(&exchange(&farm, &old)).contains("not supported"));

    let release_first = farm::encode(&ToScheduler::Release {
        lease: 1,
        result: farm::JobResult::Ok,
        duration_ms: 1,
    });
    assert!(refusal(&exchange(&farm, &release_first)).contains("expected hello"));

    // A 4 GiB frame is refused from its length alone.
    let mut huge = hello.clone();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    let answers = exchange(&farm, &huge);
    assert!(
        matches!(answers[0], FromScheduler::Welcome { .. }),
        "{answers:?}"
    );
    assert!(
        refusal(&answers).contains("exceeds the limit"),
        "{answers:?}"
    );

    let mut garbage = hello.clone();
    garbage.extend_from_slice(&5u32.to_be_bytes());
    garbage.extend_from_slice(b"{nope");
    assert!(refusal(&exchange(&farm, &garbage)).contains("malformed"));

    // A client may not register as a server.
    let mut register = hello;
    register.extend_from_slice(&farm::encode(&ToScheduler::Heartbeat {
        slots: 1,
        running: 0,
        load_average: [0.0; 3],
        free_memory_mb: 1,
        calibration_ms: None,
    }));
    assert!(refusal(&exchange(&farm, &register)).contains("unexpected message"));

    // None of it disturbed the farm.
    let s = farm.status();
    assert_eq!(registered(&s), 1, "{s}");
    assert_eq!(s["leases"], 0, "{s}");
}

/// Send `bytes` and keep the connection open; what the scheduler says until it closes
/// it, and how long that took.
fn silent_after(farm: &Farm, bytes: &[u8]) -> (Vec<FromScheduler>, Duration) {
    let started = std::time::Instant::now();
    let answers = exchange_within(farm, bytes, Duration::from_secs(30));
    (answers, started.elapsed())
}

/// A connection that starts but never finishes its hello, or starts a frame and never
/// finishes it, is closed with a reason after the read deadline instead of being held
/// open. (One that sends nothing at all is closed by the first-byte check, which cannot
/// tell which protocol to explain itself in.)
#[test]
fn silent_and_trickling_connections_are_cut_off_with_a_reason() {
    let farm = Farm::start(&[]);
    let hello = farm::encode(&ToScheduler::Hello {
        version: PROTOCOL_VERSION,
        role: Role::Client {
            user: "u".into(),
            machine: "m".into(),
        },
    });
    let mut partial = hello.to_vec();
    partial.extend_from_slice(&[0, 0, 1]); // the first bytes of a frame's length
    let (quiet, trickle) = std::thread::scope(|s| {
        let quiet = s.spawn(|| silent_after(&farm, &[0]));
        let trickle = s.spawn(|| silent_after(&farm, &partial));
        (quiet.join().unwrap(), trickle.join().unwrap())
    });
    assert_eq!(refusal(&quiet.0), "no hello within 10 s");
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(20)).contains(&quiet.1),
        "{:?}",
        quiet.1
    );
    assert_eq!(refusal(&trickle.0), "a frame was not completed within 10 s");
    assert!(
        matches!(trickle.0[0], FromScheduler::Welcome { .. }),
        "{:?}",
        trickle.0
    );
    // A client that says hello and then waits quietly for its job, answering the
    // scheduler's pings, is left alone past the read deadline.
    let mut idle = TcpStream::connect(&farm.address).unwrap();
    idle.write_all(&hello).unwrap();
    idle.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    let mut said = Vec::new();
    let until = std::time::Instant::now() + Duration::from_secs(12);
    while std::time::Instant::now() < until {
        if let Ok(n) = idle.read(&mut chunk) {
            assert!(n > 0, "closed after {said:?}");
            buf.extend_from_slice(&chunk[..n]);
        }
        while let Ok(Some(m)) = farm::decode::<FromScheduler>(&mut buf, 1 << 20) {
            if m == FromScheduler::Ping {
                idle.write_all(&farm::encode(&ToScheduler::Pong)).unwrap();
            }
            said.push(m);
        }
    }
    assert!(
        matches!(said[..], [FromScheduler::Welcome { .. }, ref pings @ ..] if !pings.is_empty() && pings.iter().all(|m| *m == FromScheduler::Ping)),
        "{said:?}"
    );
}

/// One connection asking for many slots at once gets a few (waiting or granted) and is
/// told to compile the rest locally, with the reason: it cannot hold every slot of the
/// farm.
#[test]
fn one_connection_cannot_hold_more_than_its_share_of_requests() {
    let farm = Farm::start(&["a"]);
    let mut s = ask_as(&farm, "hoarder", 1..=20);
    // Every request past the eighth is answered at once.
    let refused = sent_home(&mut s, 12, "max_requests_per_connection");
    assert_eq!(refused, (9..=20).collect::<Vec<u64>>());
    let metrics = farm.http_get("/metrics");
    assert!(
        metrics
            .contains("ccfarm_scheduler_compile_locally_total{reason=\"too_many_requests\"} 12\n"),
        "{metrics}"
    );
}

/// Connections each in the middle of a large frame hold memory until their read
/// deadline; together they may hold no more than `max_unread_kib`: past it, the one that
/// asks for more is cut off with the reason, and the others are not.
#[test]
fn unfinished_messages_over_all_connections_are_bounded() {
    let farm = Farm::start_with(&[], "max_unread_kib = 512\n");
    let hello = farm::encode(&ToScheduler::Hello {
        version: PROTOCOL_VERSION,
        role: Role::Client {
            user: "u".into(),
            machine: "m".into(),
        },
    });
    // A frame of 250,000 bytes, of which 200,000 are sent.
    let mut partial = hello.to_vec();
    partial.extend_from_slice(&250_000u32.to_be_bytes());
    partial.extend(std::iter::repeat_n(b' ', 200_000));
    let mut conns: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(&farm.address).unwrap();
            s.write_all(&partial).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            s
        })
        .collect();
    let mut refused = Vec::new();
    for (i, s) in conns.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        let mut got = BytesMut::from(&got[..]);
        while let Ok(Some(m)) = farm::decode::<FromScheduler>(&mut got, 1 << 20) {
            if let FromScheduler::Refused { reason } = m {
                refused.push((i, reason));
            }
        }
    }
    assert!(!refused.is_empty(), "nobody was cut off");
    assert!(
        refused
            .iter()
            .all(|(i, reason)| *i >= 2 && reason.contains("unfinished messages")),
        "{refused:?}"
    );
}

/// A client that answers the scheduler's pings keeps its lease however long its job
/// takes; one that does not (a stopped process) is cut off with the reason, and its lease
/// comes back.
#[test]
fn a_client_that_does_not_answer_pings_is_cut_off_and_its_lease_returns() {
    let farm = Farm::start_with(&["a"], "client_ping_s = 0.3\n");
    let mut alive = ask_as(&farm, "ann", 1..=1);
    let _ = granted_port(&mut alive);
    let mut stopped = ask_as(&farm, "bob", 1..=1);
    let _ = granted_port(&mut stopped);
    assert_eq!(farm.status()["leases"], 2);
    // Three seconds: ten ping intervals, three times the silence that cuts one off.
    let until = std::time::Instant::now() + Duration::from_secs(3);
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    let mut pings = 0;
    alive
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while std::time::Instant::now() < until {
        if let Ok(n) = alive.read(&mut chunk) {
            assert!(n > 0, "the answering client was cut off");
            buf.extend_from_slice(&chunk[..n]);
        }
        while let Ok(Some(m)) = farm::decode::<FromScheduler>(&mut buf, 1 << 20) {
            assert_eq!(m, FromScheduler::Ping);
            pings += 1;
            alive.write_all(&farm::encode(&ToScheduler::Pong)).unwrap();
        }
    }
    assert!(pings >= 3, "{pings} pings in 3 s");
    let mut rest = Vec::new();
    stopped.read_to_end(&mut rest).unwrap();
    let mut rest = BytesMut::from(&rest[..]);
    let mut said = Vec::new();
    while let Ok(Some(m)) = farm::decode::<FromScheduler>(&mut rest, 1 << 20) {
        said.push(m);
    }
    assert!(
        matches!(said.last(), Some(FromScheduler::Refused { reason }) if reason.contains("ping unanswered")),
        "{said:?}"
    );
    assert_eq!(
        farm.status()["leases"],
        1,
        "only the answering client's lease is left"
    );
}

/// A job re-asked after a server failed it names that server, and is granted another.
#[test]
fn a_job_is_granted_past_the_servers_that_failed_it() {
    let farm = Farm::start(&["a", "b"]);
    for (failed, other) in [("a", "b"), ("b", "a")] {
        let avoid = vec![format!("127.0.0.1:{}", farm.server(failed).port)];
        for request in 1..=4 {
            let mut s = ask_avoiding(&farm, "ann", request..=request, &avoid);
            let port = granted_port(&mut s);
            assert_eq!(
                port,
                farm.server(other).port,
                "request {request} avoiding {failed} went to port {port}"
            );
        }
    }
}

/// The port of the first grant on `s`.
fn granted_port(s: &mut TcpStream) -> u16 {
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Ok(Some(m)) = farm::decode::<FromScheduler>(&mut buf, 1 << 20) {
            match m {
                FromScheduler::Grant { port, .. } => return port,
                FromScheduler::CompileLocally { reason, .. } => panic!("sent home: {reason}"),
                _ => {}
            }
        }
        let read = s.read(&mut chunk).expect("the answer");
        assert!(read > 0, "closed before a grant");
        buf.extend_from_slice(&chunk[..read]);
    }
}

/// Say hello as `user` and send requests numbered `numbers`; the open connection.
fn ask_as(farm: &Farm, user: &str, numbers: std::ops::RangeInclusive<u64>) -> TcpStream {
    ask_avoiding(farm, user, numbers, &[])
}

/// [`ask_as`], each request avoiding the servers `avoid` (`address:port`).
fn ask_avoiding(
    farm: &Farm,
    user: &str,
    numbers: std::ops::RangeInclusive<u64>,
    avoid: &[String],
) -> TcpStream {
    let mut s = TcpStream::connect(&farm.address).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut frames = farm::encode(&ToScheduler::Hello {
        version: PROTOCOL_VERSION,
        role: Role::Client {
            user: user.into(),
            machine: "m".into(),
        },
    })
    .to_vec();
    for request in numbers {
        frames.extend_from_slice(&farm::encode(&ToScheduler::Request {
            request,
            job: farm::JobDescription {
                compiler: "gcc".into(),
                source: format!("f{request}.c"),
                preprocessed_bytes: Some(1_000),
                previous_ms: None,
                previous_server: None,
                compiler_identity: None,
                avoid: avoid.to_vec(),
                local_slots: 0,
            },
        }));
    }
    s.write_all(&frames).unwrap();
    s
}

/// The request numbers answered "compile locally" on `s`, read until `n` have come.
fn sent_home(s: &mut TcpStream, n: usize, why: &str) -> Vec<u64> {
    let mut buf = BytesMut::new();
    let mut refused = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Ok(Some(m)) = farm::decode::<FromScheduler>(&mut buf, 1 << 20) {
            if let FromScheduler::CompileLocally { request, reason } = m {
                assert!(reason.contains(why), "{reason}");
                refused.push(request);
            }
        }
        if refused.len() >= n {
            return refused;
        }
        let read = s.read(&mut chunk).expect("the answers");
        assert!(read > 0, "closed after {refused:?}");
        buf.extend_from_slice(&chunk[..read]);
    }
}

/// With `max_requests_per_user`, one user's requests over all its connections are capped,
/// with the reason; other users are not held back by it.
#[test]
fn a_user_cannot_hold_more_than_max_requests_per_user() {
    let farm = Farm::start_with(&["a"], "max_requests_per_user = 3\n");
    // The first connection stays open, its two requests waiting or granted.
    let _first = ask_as(&farm, "greedy", 1..=2);
    std::thread::sleep(Duration::from_millis(300));
    let mut second = ask_as(&farm, "greedy", 1..=3);
    assert_eq!(sent_home(&mut second, 2, "max_requests_per_user"), [2, 3]);
    // Another user is granted or waits, but is not sent home.
    let mut other = ask_as(&farm, "modest", 1..=1);
    other
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = other.read(&mut chunk) {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    while let Ok(Some(m)) = farm::decode::<FromScheduler>(&mut buf, 1 << 20) {
        assert!(!matches!(m, FromScheduler::CompileLocally { .. }), "{m:?}");
    }
}
