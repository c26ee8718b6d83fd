//! ccfarm's own control protocol, spoken between `ccfarm` clients, `ccfarmd` servers
//! and `ccfarm-scheduler`.
//!
//! Control traffic is small and infrequent next to the compile payloads (which still
//! travel over the distcc protocol to the granted server), so messages are JSON —
//! readable in a packet capture, easy to extend — in length-prefixed frames: a 4-byte
//! big-endian length, then that many bytes of one JSON object. Every frame's length is
//! checked against a cap before anything is buffered for it. Each connection starts
//! with `Hello`/`Welcome`, which carry the protocol version.

use bytes::{Buf, BytesMut};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The version this crate speaks; a peer with another version is refused with a reason.
pub const PROTOCOL_VERSION: u32 = 2;

/// Default cap on one frame (a heartbeat with a long compiler list stays far below).
pub const DEFAULT_MAX_FRAME: u32 = 256 * 1024;

/// Who is connecting to the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// A `ccfarm` process asking for slots.
    Client {
        /// The user the build runs as (fairness is per user).
        user: String,
        /// The client machine, for the dashboard.
        machine: String,
    },
    /// A compile server offering slots.
    Server {
        /// Its name, unique in the farm (by default, host name and distcc port).
        name: String,
    },
    /// An administrator or monitor.
    Admin,
}

/// A compiler a server can run, with what identifies it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompilerIdentity {
    /// The name clients use (`gcc`, `x86_64-linux-gnu-g++-12`, ...).
    pub name: String,
    /// `NAME -dumpfullversion` (or `--version`'s first line).
    pub version: String,
    /// `NAME -dumpmachine`.
    pub target: String,
}

/// What makes two compilers produce the same object: the scheduler grants a job that
/// names one only on a server with a compiler of the same version and target (the name
/// may differ).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompilerKey {
    /// `-dumpfullversion` (or `-dumpversion`).
    pub version: String,
    /// `-dumpmachine`.
    pub target: String,
}

/// What a client knows about a job when it asks for a slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDescription {
    /// The compiler named on the command line.
    pub compiler: String,
    /// The source file, for the dashboard and per-file history.
    pub source: String,
    /// Size of the preprocessed source, when already known.
    pub preprocessed_bytes: Option<u64>,
    /// How long this file took to compile last time, when the client remembers.
    pub previous_ms: Option<u64>,
    /// The server that compiled it that time (`address:port`, as it was granted), so that
    /// the scheduler can turn `previous_ms` into work with that server's learned speed.
    /// Absent from older clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_server: Option<String>,
    /// The compiler the client would run itself; absent from older clients and the distcc
    /// proxy, whose jobs go to any server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiler_identity: Option<CompilerKey>,
    /// Servers (`address:port`, as granted) that already failed this job for reasons of
    /// their own: the scheduler places it elsewhere while another server can take it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub avoid: Vec<String>,
    /// Compile slots the client's own machine (the `machine` of its hello) offers the
    /// farm: the scheduler may answer [`FromScheduler::RunHere`]. 0 (and absent, from
    /// older clients): none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub local_slots: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What a client needs to run a granted job on a server that takes TLS: the server's
/// name, which its certificate must prove, and the scheduler's ticket for the job,
/// which the server checks before it compiles anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantProof {
    /// The server's name in the farm.
    pub server: String,
    /// The scheduler's ticket for this lease, user and server.
    pub ticket: String,
}

/// The key a registered server checks grant tickets with, and the scheduler's clock
/// (milliseconds since the Unix epoch) when it was sent, so that the server can judge
/// a ticket's expiry without the machines' clocks agreeing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketKeyGrant {
    /// The key, in hexadecimal.
    pub key: String,
    /// The scheduler's clock.
    pub now_ms: u64,
}

/// The first frame on a TLS connection to a compile server, before the distcc
/// request: the scheduler's ticket for the job (absent when the client uses the
/// server directly, without a scheduler).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompileHello {
    /// The ticket from [`GrantProof`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

/// Bytes in a control message, as base64 text in the JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Blob, D::Error> {
        use base64::Engine;
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Blob)
            .map_err(serde::de::Error::custom)
    }
}

/// The largest entry a scheduler sends in answer to a cache look-up; a larger one is
/// left out of the answer (the job compiles, and its result comes over the distcc wire).
pub const MAX_CACHE_BLOB: usize = 64 << 20;

/// The largest frame a client reads in answer to a cache look-up: one
/// [`MAX_CACHE_BLOB`] as base64, with room for the message around it.
pub const MAX_CACHE_FRAME: u32 = (MAX_CACHE_BLOB / 3 * 4 + (1 << 20)) as u32;

/// How a leased job ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobResult {
    /// Compiled.
    Ok,
    /// The compiler reported an error: the user's code, not the host, is at fault.
    CompileError,
    /// The host could not run the job (refused, reset, timeout, protocol error, busy).
    TransportFailure,
}

/// Messages to the scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToScheduler {
    /// First message on every connection.
    Hello {
        /// [`PROTOCOL_VERSION`] of the sender.
        version: u32,
        /// Who is speaking.
        #[serde(flatten)]
        role: Role,
    },
    /// A client wants a slot for one job. The answer is `Grant` or `CompileLocally`;
    /// the lease lasts until `Release` or until this connection closes.
    Request {
        /// The client's number for this request, echoed in the answer.
        request: u64,
        /// What is known about the job.
        job: JobDescription,
    },
    /// A client is done with a lease.
    Release {
        /// The lease.
        lease: u64,
        /// How it went.
        result: JobResult,
        /// Time from sending the job to the reply, as the client measured it.
        duration_ms: u64,
    },
    /// The job's preprocessed size, learned after the request (for a client that asks
    /// while its preprocessor runs; `ccfarm` asks afterwards, with the size in the
    /// request): re-estimates a waiting request, and teaches the scheduler's size model
    /// when the lease is released.
    Size {
        /// The client's request number.
        request: u64,
        /// Bytes of preprocessed source.
        preprocessed_bytes: u64,
    },
    /// A client's answer to [`FromScheduler::Ping`].
    Pong,
    /// A client looks a job up in the shared result cache by its direct-mode manifest
    /// key (only when the `Welcome` said `cache`); the answer is
    /// [`FromScheduler::CacheFound`].
    CacheLookUp {
        /// The client's number for this look-up, echoed in the answer.
        request: u64,
        /// The manifest key, in hexadecimal (the scheduler files manifests under the
        /// asking user).
        key: String,
    },
    /// A client keeps a direct-mode manifest in the shared result cache, filed under
    /// its user: read back only by that user's own look-ups. No answer.
    CacheKeep {
        /// The manifest key, in hexadecimal.
        key: String,
        /// The manifest's bytes.
        manifest: Blob,
    },
    /// A server announces itself (after `Hello`) and what it offers.
    Register {
        /// Its distcc port, on the address the scheduler sees it connect from.
        distcc_port: u16,
        /// Concurrent compiles it accepts.
        slots: u32,
        /// Whether it speaks protocol 2 (LZO).
        lzo: bool,
        /// Compilers it runs.
        compilers: Vec<CompilerIdentity>,
        /// Its software version.
        version: String,
        /// Whether its distcc port also takes TLS (it has farm credentials).
        #[serde(default)]
        tls: bool,
    },
    /// A server's periodic state.
    Heartbeat {
        /// Concurrent compiles it accepts now.
        slots: u32,
        /// Compiles running now.
        running: u32,
        /// 1, 5, 15 minute load averages.
        load_average: [f64; 3],
        /// Available memory.
        free_memory_mb: u64,
        /// How long the server's latest calibration compile took, in milliseconds: the
        /// same translation unit on every server, so the scheduler compares their speeds
        /// directly. Absent from servers that have none (and from older ones).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        calibration_ms: Option<f64>,
    },
}

/// Messages from the scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromScheduler {
    /// Answer to `Hello`.
    Welcome {
        /// The scheduler's [`PROTOCOL_VERSION`].
        version: u32,
        /// For a server on a secure scheduler: the key its grant tickets are made with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tickets: Option<TicketKeyGrant>,
        /// For a client: the scheduler answers [`ToScheduler::CacheLookUp`] from a shared
        /// result cache. Absent from older schedulers, which must not be asked.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cache: bool,
    },
    /// Sent to a client connection that has been silent for a while; the client
    /// answers [`ToScheduler::Pong`] at once, whatever it is doing. One that does not
    /// answer (a stopped or hung process) is cut off, which frees its leases.
    Ping,
    /// Run the job on this server, over the distcc protocol.
    Grant {
        /// The client's request number.
        request: u64,
        /// The lease to release afterwards.
        lease: u64,
        /// The server's address.
        host: String,
        /// Its distcc port.
        port: u16,
        /// Whether to use protocol 2.
        lzo: bool,
        /// On a secure farm: connect with TLS, expect this server, show this ticket.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<GrantProof>,
    },
    /// Run the job on the client's own machine, in one of the slots it offered
    /// (`local_slots`): that finishes it soonest. Release the lease afterwards with the
    /// compile's duration, as after a grant.
    RunHere {
        /// The client's request number.
        request: u64,
        /// The lease to release afterwards.
        lease: u64,
    },
    /// No slot will come in time (or none suits): compile on the client.
    CompileLocally {
        /// The client's request number.
        request: u64,
        /// Why, for the client's log.
        reason: String,
    },
    /// Stop the job on this lease: another copy of it finished first, or its server
    /// went down (then ask again). Sent on the connection that holds the lease.
    Cancel {
        /// The lease.
        lease: u64,
    },
    /// The job running under `lease` is a straggler on a slow server: also start it on this
    /// faster one under `new_lease`. The first copy to finish wins: release its lease;
    /// the scheduler then cancels the other (closing the connection frees it anyway).
    Speculate {
        /// The lease of the copy already running.
        lease: u64,
        /// The lease of the second copy.
        new_lease: u64,
        /// The faster server's address.
        host: String,
        /// Its distcc port.
        port: u16,
        /// Whether to use protocol 2.
        lzo: bool,
        /// As for [`FromScheduler::Grant`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<GrantProof>,
    },
    /// The answer to [`ToScheduler::CacheLookUp`]: the user's manifest under the key,
    /// and with it the entry it names (sealed by a server of the farm, on a farm with
    /// credentials), in one answer so that a hit costs one exchange; either may be
    /// missing.
    CacheFound {
        /// The client's look-up number.
        request: u64,
        /// The manifest's bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        manifest: Option<Blob>,
        /// The entry's bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entry: Option<Blob>,
    },
    /// The connection is refused (version, authentication, malformed message).
    Refused {
        /// Why.
        reason: String,
    },
}

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The announced length exceeds the cap.
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes")]
    TooLong {
        /// Announced length.
        len: u32,
        /// The cap.
        limit: u32,
    },
    /// The frame is not a valid message.
    #[error("malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Encode one message as a frame.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let body = serde_json::to_vec(message).expect("protocol messages always serialise");
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Take one whole frame from the front of `buf` and decode it. `Ok(None)`: more bytes
/// are needed. The length is checked against `max_frame` as soon as it is readable.
pub fn decode<T: DeserializeOwned>(
    buf: &mut BytesMut,
    max_frame: u32,
) -> Result<Option<T>, FrameError> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(head.try_into().expect("4 bytes"));
    if len > max_frame {
        return Err(FrameError::TooLong {
            len,
            limit: max_frame,
        });
    }
    if buf.len() < 4 + len as usize {
        return Ok(None);
    }
    buf.advance(4);
    let body = buf.split_to(len as usize);
    Ok(Some(serde_json::from_slice(&body)?))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(message: T) {
        let wire = encode(&message);
        let mut buf = BytesMut::from(&wire[..]);
        let back: T = decode(&mut buf, DEFAULT_MAX_FRAME).unwrap().unwrap();
        assert_eq!(back, message);
        assert!(buf.is_empty());
    }

    #[test]
    fn messages_round_trip() {
        round_trip(ToScheduler::Hello {
            version: PROTOCOL_VERSION,
            role: Role::Client {
                user: "ana".into(),
                machine: "laptop".into(),
            },
        });
        round_trip(ToScheduler::Hello {
            version: 1,
            role: Role::Server {
                name: "box1:3632".into(),
            },
        });
        round_trip(ToScheduler::Request {
            request: 7,
            job: JobDescription {
                compiler: "gcc".into(),
                source: "src/a.c".into(),
                preprocessed_bytes: Some(123_456),
                previous_ms: None,
                previous_server: None,
                compiler_identity: None,
                avoid: Vec::new(),
                local_slots: 0,
            },
        });
        round_trip(ToScheduler::Request {
            request: 8,
            job: JobDescription {
                compiler: "gcc".into(),
                source: "/src/b.c".into(),
                preprocessed_bytes: Some(1_000),
                previous_ms: Some(2_500),
                previous_server: Some("10.0.0.7:3632".into()),
                compiler_identity: Some(CompilerKey {
                    version: "13.2.0".into(),
                    target: "x86_64-linux-gnu".into(),
                }),
                avoid: vec!["10.0.0.8:3632".into()],
                local_slots: 0,
            },
        });
        round_trip(ToScheduler::Pong);
        round_trip(FromScheduler::Ping);
        round_trip(ToScheduler::Release {
            lease: 9,
            result: JobResult::CompileError,
            duration_ms: 250,
        });
        round_trip(ToScheduler::Size {
            request: 1,
            preprocessed_bytes: 123_456,
        });
        round_trip(ToScheduler::Register {
            distcc_port: 3632,
            slots: 16,
            lzo: true,
            compilers: vec![CompilerIdentity {
                name: "gcc".into(),
                version: "12.2.0".into(),
                target: "x86_64-linux-gnu".into(),
            }],
            version: "0.1.0".into(),
            tls: true,
        });
        round_trip(ToScheduler::Heartbeat {
            slots: 16,
            running: 3,
            load_average: [1.5, 1.0, 0.5],
            free_memory_mb: 20_000,
            calibration_ms: Some(251.5),
        });
        round_trip(FromScheduler::Grant {
            request: 7,
            lease: 9,
            host: "10.0.0.5".into(),
            port: 3632,
            lzo: true,
            proof: None,
        });
        round_trip(FromScheduler::Grant {
            request: 8,
            lease: 10,
            host: "10.0.0.5".into(),
            port: 3632,
            lzo: false,
            proof: Some(GrantProof {
                server: "build7".into(),
                ticket: "10.99.abcd".into(),
            }),
        });
        round_trip(FromScheduler::CompileLocally {
            request: 7,
            reason: "waited 30 s".into(),
        });
        round_trip(FromScheduler::Cancel { lease: 9 });
        round_trip(FromScheduler::Speculate {
            lease: 9,
            new_lease: 10,
            host: "10.0.0.2".into(),
            port: 3632,
            lzo: false,
            proof: None,
        });
        round_trip(FromScheduler::Welcome {
            version: 1,
            tickets: None,
            cache: false,
        });
        round_trip(FromScheduler::Welcome {
            version: 1,
            tickets: Some(TicketKeyGrant {
                key: "00ff".into(),
                now_ms: 5,
            }),
            cache: true,
        });
        round_trip(ToScheduler::CacheLookUp {
            request: 3,
            key: "ab".repeat(32),
        });
        round_trip(ToScheduler::CacheKeep {
            key: "cd".repeat(32),
            manifest: Blob(vec![0, 1, 2, 255]),
        });
        round_trip(FromScheduler::CacheFound {
            request: 3,
            manifest: Some(Blob(b"manifest".to_vec())),
            entry: Some(Blob(b"\x7fELF and every byte \0\xff".to_vec())),
        });
        round_trip(FromScheduler::CacheFound {
            request: 4,
            manifest: None,
            entry: None,
        });
        round_trip(CompileHello {
            ticket: Some("1.2.ab".into()),
        });
        round_trip(FromScheduler::Refused {
            reason: "protocol version 2 is not supported".into(),
        });
    }

    #[test]
    fn wire_format_is_readable_json() {
        let wire = encode(&ToScheduler::Release {
            lease: 3,
            result: JobResult::Ok,
            duration_ms: 12,
        });
        assert_eq!(
            &wire[4..],
            br#"{"type":"release","lease":3,"result":"ok","duration_ms":12}"#
        );
        assert_eq!(
            u32::from_be_bytes(wire[..4].try_into().unwrap()) as usize,
            wire.len() - 4
        );
    }

    /// A client from before `previous_server` existed is still understood, and a request
    /// without it says nothing of it on the wire (so an older scheduler sees what it knows).
    #[test]
    fn cache_blobs_are_base64_and_an_old_welcome_offers_no_cache() {
        let wire = encode(&FromScheduler::CacheFound {
            request: 1,
            manifest: Some(Blob(b"hi!".to_vec())),
            entry: None,
        });
        let text = std::str::from_utf8(&wire[4..]).unwrap();
        assert!(text.contains(r#""manifest":"aGkh""#), "{text}");
        assert!(!text.contains("entry"), "{text}");
        let old = br#"{"type":"welcome","version":2}"#;
        let mut buf = BytesMut::from(&(old.len() as u32).to_be_bytes()[..]);
        buf.extend_from_slice(old);
        let welcome: FromScheduler = decode(&mut buf, DEFAULT_MAX_FRAME).unwrap().unwrap();
        assert_eq!(
            welcome,
            FromScheduler::Welcome {
                version: 2,
                tickets: None,
                cache: false
            }
        );
        let bad = br#"{"type":"cache_found","request":1,"entry":"not base64!"}"#;
        let mut buf = BytesMut::from(&(bad.len() as u32).to_be_bytes()[..]);
        buf.extend_from_slice(bad);
        assert!(decode::<FromScheduler>(&mut buf, DEFAULT_MAX_FRAME).is_err());
    }

    #[test]
    fn previous_server_is_optional_on_the_wire() {
        let old = br#"{"type":"request","request":1,"job":{"compiler":"cc","source":"a.c","preprocessed_bytes":null,"previous_ms":40}}"#;
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(old.len() as u32).to_be_bytes());
        buf.extend_from_slice(old);
        let decoded: ToScheduler = decode(&mut buf, DEFAULT_MAX_FRAME).unwrap().unwrap();
        let ToScheduler::Request { job, .. } = &decoded else {
            panic!("{decoded:?}");
        };
        assert_eq!(
            (job.previous_ms, job.previous_server.as_deref()),
            (Some(40), None)
        );
        assert_eq!(job.compiler_identity, None);
        assert_eq!(&encode(&decoded)[4..], &old[..]);
    }

    #[test]
    fn partial_frames_wait_and_lengths_are_capped() {
        let wire = encode(&FromScheduler::Cancel { lease: 1 });
        let mut buf = BytesMut::from(&wire[..wire.len() - 1]);
        assert!(
            decode::<FromScheduler>(&mut buf, DEFAULT_MAX_FRAME)
                .unwrap()
                .is_none()
        );
        assert_eq!(buf.len(), wire.len() - 1, "nothing consumed");
        let mut huge = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            decode::<FromScheduler>(&mut huge, DEFAULT_MAX_FRAME),
            Err(FrameError::TooLong { .. })
        ));
        let mut bad = BytesMut::from(&encode(&"not a message")[..]);
        assert!(matches!(
            decode::<FromScheduler>(&mut bad, DEFAULT_MAX_FRAME),
            Err(FrameError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut buf = BytesMut::from(&bytes[..]);
            let _ = decode::<ToScheduler>(&mut buf, 128);
            let mut buf = BytesMut::from(&bytes[..]);
            let _ = decode::<FromScheduler>(&mut buf, 128);
        }
    }
}
