//! The proxy against a scripted scheduler and scripted servers on loopback: every
//! path a job can take, and which result each lease ends with.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ccfarm_proto::distcc::token::HEADER_LEN;
use ccfarm_proto::distcc::{
    Payload, ReplyDecoder, Request, RequestDecoder, TreeEntry, TreeEntryKind,
};
use ccfarm_proto::farm::{FromScheduler, JobDescription, JobResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::*;
use crate::event::Event;

/// What the scripted scheduler hands out for one request.
#[derive(Clone)]
enum Grant {
    /// A lease on this server.
    To { addr: SocketAddr, lzo: bool },
    /// A lease on this server, revoked after this long.
    Revoked { addr: SocketAddr, after: Duration },
    /// "Compile locally" with this reason.
    Local(&'static str),
}

/// What the scheduler saw, by connection number.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Request {
        conn: u64,
        user: String,
        job: Box<JobDescription>,
    },
    Release {
        conn: u64,
        result: JobResult,
    },
    Gone {
        conn: u64,
    },
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn scheduler(grants: Vec<Grant>) -> (Handle, Log) {
    let (events, mut rx) = mpsc::unbounded_channel();
    let log: Log = Arc::default();
    let seen = log.clone();
    let mut grants: VecDeque<Grant> = grants.into();
    tokio::spawn(async move {
        let mut lease = 0;
        // Kept so that a lease's message channel stays open (as in the real actor).
        let mut holders = Vec::new();
        while let Some(event) = rx.recv().await {
            match event {
                Event::Request {
                    conn,
                    number,
                    user,
                    job,
                    tx,
                    ..
                } => {
                    seen.lock().unwrap().push(Seen::Request {
                        conn,
                        user,
                        job: Box::new(job),
                    });
                    lease += 1;
                    let grant = grants.pop_front().expect("more requests than scripted");
                    let (addr, lzo, revoke) = match grant {
                        Grant::To { addr, lzo } => (addr, lzo, None),
                        Grant::Revoked { addr, after } => (addr, true, Some(after)),
                        Grant::Local(reason) => {
                            let _ = tx.send(FromScheduler::CompileLocally {
                                request: number,
                                reason: reason.into(),
                            });
                            continue;
                        }
                    };
                    let _ = tx.send(FromScheduler::Grant {
                        request: number,
                        lease,
                        host: addr.ip().to_string(),
                        port: addr.port(),
                        lzo,
                        proof: None,
                    });
                    if let Some(after) = revoke {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(after).await;
                            let _ = tx.send(FromScheduler::Cancel { lease });
                        });
                    }
                    holders.push(tx);
                }
                Event::Release { conn, result, .. } => {
                    seen.lock().unwrap().push(Seen::Release { conn, result });
                }
                Event::Gone { conn } => seen.lock().unwrap().push(Seen::Gone { conn }),
                _ => {}
            }
        }
    });
    (Handle::new(events), log)
}

async fn start_proxy(grants: Vec<Grant>, settings: Settings) -> (SocketAddr, Log) {
    let (handle, log) = scheduler(grants);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_with(listener, handle, settings, None));
    (addr, log)
}

/// How a scripted server behaves once it has read a whole request.
enum Behaviour {
    /// Send this reply.
    Answer(Vec<u8>),
    /// Close the connection.
    Close,
    /// Send nothing and wait for the proxy to close.
    Hang,
    /// Send this reply as soon as the command line is in, and close without reading
    /// the source (ccfarmd refusing a compiler).
    Early(Vec<u8>),
}

/// A server that takes one connection; resolves to the raw request bytes it read
/// (and, for `Hang`, only once the proxy has closed the connection).
async fn server(behaviour: Behaviour) -> (SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut decoder = RequestDecoder::new(Limits::default());
        let (mut raw, mut buf) = (Vec::new(), BytesMut::new());
        loop {
            let mut chunk = vec![0u8; 64 * 1024];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the proxy closed before the request was complete");
            raw.extend_from_slice(&chunk[..n]);
            buf.extend_from_slice(&chunk[..n]);
            if decoder.decode(&mut buf).unwrap().is_some() {
                break;
            }
            if let (Behaviour::Early(reply), true) = (&behaviour, decoder.awaiting_source()) {
                stream.write_all(reply).await.unwrap();
                return raw;
            }
        }
        match behaviour {
            Behaviour::Answer(reply) => stream.write_all(&reply).await.unwrap(),
            Behaviour::Close | Behaviour::Early(_) => {}
            Behaviour::Hang => {
                let mut byte = [0u8; 1];
                let n = stream.read(&mut byte).await.unwrap_or(0);
                assert_eq!(n, 0, "the proxy sent bytes after the request");
            }
        }
        raw
    });
    (addr, task)
}

/// An address where nothing listens.
async fn nobody() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// Bytes that LZO cannot shrink, so bodies are big on the wire too.
fn noise(len: usize, mut seed: u64) -> Bytes {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

fn argv() -> Vec<Bytes> {
    ["gcc", "-O2", "-c", "src/ascii.c", "-o", "ascii.o"]
        .map(|a| Bytes::from_static(a.as_bytes()))
        .to_vec()
}

fn request(version: Version, source_len: usize) -> Request {
    Request {
        version,
        argv: argv(),
        payload: Payload::Preprocessed(noise(source_len, 7)),
    }
}

fn reply(version: Version, status: u32) -> Reply {
    Reply {
        version,
        status,
        stderr: Bytes::from_static(b"src/ascii.c:1: warning: something\n"),
        stdout: Bytes::new(),
        object: if status == 0 {
            noise(2 << 20, 11)
        } else {
            Bytes::new()
        },
        dotd: (version == Version::V3 && status == 0)
            .then(|| Bytes::from_static(b"ascii.o: src/ascii.c\n")),
    }
}

/// Send `request` as a distcc client does (no half-close) and read to the end,
/// within 10 s so that a proxy that hangs fails the test.
async fn client(proxy: SocketAddr, request: &[u8]) -> Vec<u8> {
    let exchange = async {
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        // A write cut short by the proxy's refusal is fine: the answer is what counts.
        let _ = stream.write_all(request).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        answer
    };
    timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the proxy did not finish the job within 10 s")
}

fn decode(version: Version, bytes: &[u8]) -> Reply {
    let mut buf = BytesMut::from(bytes);
    ReplyDecoder::new(version, Limits::default())
        .decode(&mut buf)
        .unwrap()
        .expect("a whole reply")
}

fn releases(log: &Log) -> Vec<JobResult> {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|s| match s {
            Seen::Release { result, .. } => Some(*result),
            _ => None,
        })
        .collect()
}

/// Wait until the scheduler has seen `n` connections end.
async fn gone(log: &Log, n: usize) {
    for _ in 0..200 {
        let count = log
            .lock()
            .unwrap()
            .iter()
            .filter(|s| matches!(s, Seen::Gone { .. }))
            .count();
        if count >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("only some leases ended: {:?}", log.lock().unwrap());
}

#[tokio::test]
async fn forwards_both_ways_unchanged_and_releases_ok() {
    for version in [Version::V1, Version::V2] {
        let req = request(version, 3 << 20);
        let rep = reply(version, 0);
        let (server, received) = server(Behaviour::Answer(rep.encode())).await;
        let (proxy, log) = start_proxy(
            vec![Grant::To {
                addr: server,
                lzo: true,
            }],
            Settings::default(),
        )
        .await;
        let answer = client(proxy, &req.encode()).await;
        assert!(
            answer == rep.encode(),
            "the reply was changed ({version:?})"
        );
        assert!(
            received.await.unwrap() == req.encode(),
            "the request was changed"
        );
        gone(&log, 1).await;
        let seen = log.lock().unwrap().clone();
        let Seen::Request { user, job, .. } = &seen[0] else {
            panic!("{seen:?}");
        };
        assert_eq!(user, "127.0.0.1");
        assert_eq!((&*job.compiler, &*job.source), ("gcc", "src/ascii.c"));
        let size = (version == Version::V1).then_some(3 << 20);
        assert_eq!(
            job.preprocessed_bytes, size,
            "the size the scheduler is told"
        );
        assert_eq!(releases(&log), [JobResult::Ok]);
    }
}

#[tokio::test]
async fn forwards_a_pump_request_with_its_tree() {
    let req = Request {
        version: Version::V3,
        argv: argv(),
        payload: Payload::Tree {
            cwd: Bytes::from_static(b"/home/ann/strkit"),
            entries: vec![
                TreeEntry {
                    name: Bytes::from_static(b"/home/ann/strkit/src/ascii.c"),
                    kind: TreeEntryKind::File(noise(300_000, 3)),
                },
                TreeEntry {
                    name: Bytes::from_static(b"/home/ann/strkit/include/sk.h"),
                    kind: TreeEntryKind::Link(Bytes::from_static(b"../src/sk.h")),
                },
                TreeEntry {
                    name: Bytes::from_static(b"/home/ann/strkit/src/sk.h"),
                    kind: TreeEntryKind::File(Bytes::new()),
                },
            ],
        },
    };
    let rep = reply(Version::V3, 0);
    let (server, received) = server(Behaviour::Answer(rep.encode())).await;
    let (proxy, log) = start_proxy(
        vec![Grant::To {
            addr: server,
            lzo: true,
        }],
        Settings::default(),
    )
    .await;
    let answer = client(proxy, &req.encode()).await;
    assert!(answer == rep.encode(), "the reply (with DOTD) was changed");
    assert!(received.await.unwrap() == req.encode());
    assert_eq!(decode(Version::V3, &answer).dotd, rep.dotd);
    gone(&log, 1).await;
    assert_eq!(releases(&log), [JobResult::Ok]);
}

#[tokio::test]
async fn a_failed_compile_is_forwarded_and_released_as_the_code_s_fault() {
    let rep = reply(Version::V2, 1 << 8);
    let (server, _) = server(Behaviour::Answer(rep.encode())).await;
    let (proxy, log) = start_proxy(
        vec![Grant::To {
            addr: server,
            lzo: true,
        }],
        Settings::default(),
    )
    .await;
    let answer = client(proxy, &request(Version::V2, 1000).encode()).await;
    assert!(answer == rep.encode());
    gone(&log, 1).await;
    assert_eq!(releases(&log), [JobResult::CompileError]);
}

#[tokio::test]
async fn failures_before_the_reply_are_retried_on_other_servers_with_the_whole_request() {
    let req = request(Version::V2, 3 << 20);
    let rep = reply(Version::V2, 0);
    let refused = nobody().await;
    let (closing, _) = server(Behaviour::Close).await;
    let busy = Reply::failure(Version::V2, BUSY << 8, "ccfarmd: server busy\n");
    let (busy, _) = server(Behaviour::Answer(busy.encode())).await;
    let (hung, hung_saw) = server(Behaviour::Hang).await;
    let (good, received) = server(Behaviour::Answer(rep.encode())).await;
    let lzo = true;
    let (proxy, log) = start_proxy(
        vec![
            Grant::To { addr: refused, lzo },
            Grant::To { addr: closing, lzo },
            Grant::To { addr: busy, lzo },
            Grant::Revoked {
                addr: hung,
                after: Duration::from_millis(300),
            },
            Grant::To { addr: good, lzo },
        ],
        Settings {
            attempts: 5,
            ..Settings::default()
        },
    )
    .await;
    let answer = client(proxy, &req.encode()).await;
    assert!(
        answer == rep.encode(),
        "the client did not get the good reply"
    );
    assert!(
        received.await.unwrap() == req.encode(),
        "the replay differs"
    );
    // The revoked server's connection was dropped, not left to compile.
    assert!(hung_saw.await.unwrap() == req.encode());
    gone(&log, 5).await;
    use JobResult::*;
    assert_eq!(
        releases(&log),
        [
            TransportFailure,
            TransportFailure,
            TransportFailure,
            TransportFailure,
            Ok
        ]
    );
}

#[tokio::test]
async fn a_server_failing_after_the_first_reply_byte_is_not_retried() {
    let rep = reply(Version::V2, 0).encode();
    // DONE, STAT and part of SERR: the client already has bytes, so no replay.
    let cut = 3 * HEADER_LEN + 5;
    let (broken, _) = server(Behaviour::Answer(rep[..cut].to_vec())).await;
    let (proxy, log) = start_proxy(
        vec![Grant::To {
            addr: broken,
            lzo: true,
        }],
        Settings::default(),
    )
    .await;
    let answer = client(proxy, &request(Version::V2, 1000).encode()).await;
    assert_eq!(answer, &rep[..cut]);
    gone(&log, 1).await;
    assert_eq!(releases(&log), [JobResult::TransportFailure]);
    let requests = log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| matches!(s, Seen::Request { .. }))
        .count();
    assert_eq!(requests, 1, "a second server was asked for");
}

#[tokio::test]
async fn a_server_answering_before_the_source_is_in_is_heard() {
    let refusal = Reply::failure(Version::V2, 113 << 8, "ccfarmd: compiler not allowed\n");
    let (early, _) = server(Behaviour::Early(refusal.encode())).await;
    let (proxy, log) = start_proxy(
        vec![Grant::To {
            addr: early,
            lzo: true,
        }],
        Settings::default(),
    )
    .await;
    let answer = client(proxy, &request(Version::V2, 8 << 20).encode()).await;
    assert!(
        answer == refusal.encode(),
        "the server's own answer was lost"
    );
    gone(&log, 1).await;
    assert_eq!(releases(&log), [JobResult::CompileError]);
}

#[tokio::test]
async fn a_client_stalled_mid_request_is_cut_off_and_its_lease_dropped_or_never_taken() {
    let req = request(Version::V2, 100_000);
    let command = ccfarm_proto::distcc::encode_command(Version::V2, &req.argv).len();
    // Stalled in a body, and between the command line and the source (where distcc
    // runs its preprocessor).
    for cut in [req.encode().len() / 2, command] {
        // A server that never answers (its backlog takes the connection).
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (proxy, log) = start_proxy(
            vec![Grant::To {
                addr: silent.local_addr().unwrap(),
                lzo: true,
            }],
            Settings {
                io_timeout: Duration::from_millis(300),
                ..Settings::default()
            },
        )
        .await;
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        stream.write_all(&req.encode()[..cut]).await.unwrap();
        let started = Instant::now();
        let mut answer = Vec::new();
        let read = timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        assert!(
            read.is_ok(),
            "the proxy kept a client stalled at byte {cut}"
        );
        assert!(started.elapsed() >= Duration::from_millis(250));
        assert!(answer.is_empty());
        if cut == command {
            // Still preprocessing, as far as the proxy knows: no slot was taken.
            let seen = log.lock().unwrap().clone();
            assert!(seen.is_empty(), "a lease before the source: {seen:?}");
        } else {
            gone(&log, 1).await;
        }
        assert_eq!(releases(&log), []);
    }
}

#[tokio::test]
async fn a_client_trickling_its_request_is_cut_off_at_the_request_deadline() {
    let req = request(Version::V2, 100_000).encode();
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (proxy, log) = start_proxy(
        vec![Grant::To {
            addr: silent.local_addr().unwrap(),
            lzo: true,
        }],
        Settings {
            io_timeout: Duration::from_millis(400),
            request_deadline: Duration::from_millis(1_500),
            ..Settings::default()
        },
    )
    .await;
    let stream = TcpStream::connect(proxy).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let started = Instant::now();
    // The command line and the first bytes of the source, then a byte every 200 ms:
    // never silent for the I/O timeout, never done.
    let trickle = tokio::spawn(async move {
        let mut at = req.len() / 2;
        wr.write_all(&req[..at]).await.unwrap();
        while at < req.len() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if wr.write_all(&req[at..=at]).await.is_err() {
                return;
            }
            at += 1;
        }
    });
    let mut answer = Vec::new();
    let read = timeout(Duration::from_secs(5), rd.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the proxy kept a trickling client");
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(1_400)..Duration::from_secs(3)).contains(&took),
        "{took:?}"
    );
    gone(&log, 1).await;
    assert_eq!(releases(&log), []);
    trickle.abort();
}

#[tokio::test]
async fn a_client_gone_while_its_job_compiles_ends_the_lease_and_the_server_connection() {
    let (hung, hung_saw) = server(Behaviour::Hang).await;
    let (proxy, log) = start_proxy(
        vec![Grant::To {
            addr: hung,
            lzo: true,
        }],
        Settings::default(),
    )
    .await;
    let req = request(Version::V2, 10_000).encode();
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream.write_all(&req).await.unwrap();
    // The whole request reaches the server; then the client goes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stream);
    let saw = timeout(Duration::from_secs(5), hung_saw).await;
    assert!(saw.expect("the server's connection stayed open").unwrap() == req);
    gone(&log, 1).await;
    assert_eq!(releases(&log), []);
}

#[tokio::test]
async fn an_lzo_job_goes_only_to_a_server_that_takes_lzo() {
    // A grant without LZO is set aside for a protocol-2 job...
    let unused = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain = unused.local_addr().unwrap();
    let rep = reply(Version::V2, 0);
    let (good, _) = server(Behaviour::Answer(rep.encode())).await;
    let (proxy, log) = start_proxy(
        vec![
            Grant::To {
                addr: plain,
                lzo: false,
            },
            Grant::To {
                addr: good,
                lzo: true,
            },
        ],
        Settings::default(),
    )
    .await;
    let answer = client(proxy, &request(Version::V2, 1000).encode()).await;
    assert!(answer == rep.encode());
    assert!(
        timeout(Duration::from_millis(100), unused.accept())
            .await
            .is_err(),
        "the protocol-2 job was sent to a server without LZO"
    );
    gone(&log, 2).await;
    assert_eq!(releases(&log), [JobResult::Ok]);

    // ... but is fine for protocol 1.
    let rep = reply(Version::V1, 0);
    let (plain, _) = server(Behaviour::Answer(rep.encode())).await;
    let (proxy, _) = start_proxy(
        vec![Grant::To {
            addr: plain,
            lzo: false,
        }],
        Settings::default(),
    )
    .await;
    let answer = client(proxy, &request(Version::V1, 1000).encode()).await;
    assert!(answer == rep.encode());

    // With no LZO server at all, the client is told why.
    let lzo = false;
    let (proxy, _) = start_proxy(
        vec![
            Grant::To { addr: plain, lzo },
            Grant::To { addr: plain, lzo },
        ],
        Settings {
            attempts: 2,
            ..Settings::default()
        },
    )
    .await;
    let answer = client(proxy, &request(Version::V2, 1000).encode()).await;
    let refusal = decode(Version::V2, &answer);
    assert_eq!(refusal.status, DISTCC_FAILED << 8);
    let text = String::from_utf8_lossy(&refusal.stderr);
    assert!(text.contains("does not take protocol 2 (LZO)"), "{text}");
}

#[tokio::test]
async fn refusals_are_explained_to_the_client() {
    // The scheduler says "compile locally".
    let (proxy, _) = start_proxy(
        vec![Grant::Local("no server offers x86_64-linux-gnu-gcc")],
        Settings::default(),
    )
    .await;
    let answer = client(proxy, &request(Version::V2, 1000).encode()).await;
    let refusal = decode(Version::V2, &answer);
    assert_eq!(refusal.status, DISTCC_FAILED << 8);
    let text = String::from_utf8_lossy(&refusal.stderr);
    assert!(
        text.contains("no server offers x86_64-linux-gnu-gcc"),
        "{text}"
    );

    // Every server fails.
    let refused = nobody().await;
    let lzo = true;
    let (proxy, _) = start_proxy(
        vec![
            Grant::To { addr: refused, lzo },
            Grant::To { addr: refused, lzo },
        ],
        Settings {
            attempts: 2,
            ..Settings::default()
        },
    )
    .await;
    let answer = client(proxy, &request(Version::V1, 1000).encode()).await;
    let text = String::from_utf8_lossy(&decode(Version::V1, &answer).stderr).into_owned();
    assert!(
        text.contains("no server took the job in 2 attempts"),
        "{text}"
    );
    assert!(text.contains("cannot connect"), "{text}");

    // A length over its cap is refused as soon as its header arrives, before any
    // lease is taken.
    let (proxy, log) = start_proxy(vec![], Settings::default()).await;
    let mut bytes = b"DIST00000001ARGC00000001".to_vec();
    bytes.extend_from_slice(b"ARGV7fffffff");
    let answer = client(proxy, &bytes).await;
    let text = String::from_utf8_lossy(&decode(Version::V1, &answer).stderr).into_owned();
    assert!(
        text.contains("ARGV of 2147483647 bytes exceeds the limit of 262144 bytes"),
        "{text}"
    );
    let (proxy, _) = start_proxy(vec![], Settings::default()).await;
    let mut bytes = b"DIST00000001ARGC00000001ARGV00000003gcc".to_vec();
    bytes.extend_from_slice(b"DOTI7fffffff");
    let answer = client(proxy, &bytes).await;
    let text = String::from_utf8_lossy(&decode(Version::V1, &answer).stderr).into_owned();
    assert!(text.contains("DOTI of 2147483647 bytes"), "{text}");
    assert!(log.lock().unwrap().is_empty());

    // A command line without even a compiler cannot be placed.
    let (proxy, log) = start_proxy(vec![], Settings::default()).await;
    let answer = client(proxy, b"DIST00000001ARGC00000000DOTI00000000").await;
    let text = String::from_utf8_lossy(&decode(Version::V1, &answer).stderr).into_owned();
    assert!(text.contains("0 arguments"), "{text}");
    assert!(log.lock().unwrap().is_empty());
}
