//! `ccfarmd --scheduler`: the server side of farm membership. The test plays the
//! scheduler's end of the protocol itself (with ccfarm-proto's codec) and checks what
//! ccfarmd says: hello, registration, heartbeats every second with its calibration
//! compile's time, and reconnection after the scheduler goes away.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ccfarm_proto::farm::{self, DEFAULT_MAX_FRAME, FromScheduler, Role, ToScheduler};
use ccfarm_testkit::*;

fn next(stream: &mut TcpStream, buf: &mut BytesMut) -> ToScheduler {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(message) = farm::decode(buf, DEFAULT_MAX_FRAME).unwrap() {
            return message;
        }
        assert!(Instant::now() < deadline, "no message from ccfarmd");
        let mut chunk = [0u8; 4096];
        // A signal handled in this process (another test's child exiting: the tests run on
        // threads) interrupts a read with a timeout set even under SA_RESTART (signal(7));
        // that is no answer from ccfarmd. Seen once in CI.
        let n = match stream.read(&mut chunk) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => other.unwrap(),
        };
        assert!(n > 0, "ccfarmd closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(false).unwrap();
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

#[test]
fn registers_sends_heartbeats_and_reconnects() {
    let scheduler = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = scheduler.local_addr().unwrap().to_string();
    let server = Server::start(&["--jobs", "3", "--scheduler", &address, "--name", "box-a"]);

    let mut stream = accept(&scheduler);
    let mut buf = BytesMut::new();
    let hello = next(&mut stream, &mut buf);
    assert!(
        matches!(hello, ToScheduler::Hello { version: farm::PROTOCOL_VERSION, role: Role::Server { ref name } } if name == "box-a"),
        "{hello:?}"
    );
    stream
        .write_all(&farm::encode(&FromScheduler::Welcome {
            version: farm::PROTOCOL_VERSION,
            tickets: None,
            cache: false,
        }))
        .unwrap();
    match next(&mut stream, &mut buf) {
        ToScheduler::Register {
            distcc_port,
            slots,
            lzo,
            compilers,
            ..
        } => {
            assert_eq!(distcc_port, server.port);
            assert_eq!(slots, 3);
            assert!(lzo);
            let gcc = compilers
                .iter()
                .find(|c| c.name == "gcc")
                .expect("gcc is announced");
            assert!(
                !gcc.version.is_empty() && gcc.target.contains("linux"),
                "{gcc:?}"
            );
        }
        other => panic!("expected registration, got {other:?}"),
    }
    let started = Instant::now();
    for _ in 0..2 {
        match next(&mut stream, &mut buf) {
            ToScheduler::Heartbeat {
                slots,
                running,
                free_memory_mb,
                calibration_ms,
                ..
            } => {
                assert_eq!((slots, running), (3, 0));
                assert!(free_memory_mb > 0);
                // Registered after its calibration compile with the real cc, so every
                // heartbeat carries it.
                assert!(
                    calibration_ms.is_some_and(|ms| ms > 0.0),
                    "{calibration_ms:?}"
                );
            }
            other => panic!("expected a heartbeat, got {other:?}"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "heartbeats are about a second apart"
    );

    // The scheduler goes away; ccfarmd comes back.
    drop(stream);
    let mut again = accept(&scheduler);
    let mut buf = BytesMut::new();
    assert!(matches!(
        next(&mut again, &mut buf),
        ToScheduler::Hello { .. }
    ));
    assert!(
        server.log().contains("registered with the scheduler"),
        "{}",
        server.log()
    );
}
