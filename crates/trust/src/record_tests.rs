//! Record protection against rustls itself: a real handshake in memory, the client's
//! keys extracted, then this module on the client's side and rustls on the server's.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::{ClientConnection, ServerConnection};

use super::*;
use crate::authority::{Authority, DEFAULT_VALIDITY};
use crate::{ClientAuth, Credentials, Expect, Identity, Role};

fn credentials(ca: &Authority, role: Role, name: &str) -> Credentials {
    let issued = ca
        .issue(
            &Identity::new(role, name).unwrap(),
            SystemTime::now(),
            DEFAULT_VALIDITY,
        )
        .unwrap();
    Credentials::issued(ca, &issued).unwrap()
}

fn pump(from: &mut impl FnMut(&mut Vec<u8>), to: &mut dyn FnMut(&[u8])) {
    let mut bytes = Vec::new();
    from(&mut bytes);
    if !bytes.is_empty() {
        to(&bytes);
    }
}

/// A client and a server with ccfarm's settings after a complete handshake, the
/// server's resumption ticket still waiting in its output; the client's keys.
fn handed_off() -> (ServerConnection, Outgoing, Incoming) {
    let ca = Authority::create("farm", SystemTime::now()).unwrap();
    let server = credentials(&ca, Role::Server, "build7");
    let alice = credentials(&ca, Role::User, "alice");
    let mut config = (*alice
        .client_config(Expect::Exactly(
            Identity::new(Role::Server, "build7").unwrap(),
        ))
        .unwrap())
    .clone();
    config.enable_secret_extraction = true;
    let mut client =
        ClientConnection::new(Arc::new(config), crate::tls::server_name("127.0.0.1")).unwrap();
    let mut server =
        ServerConnection::new(server.server_config(ClientAuth::Required).unwrap()).unwrap();
    while client.is_handshaking() || server.is_handshaking() {
        pump(
            &mut |out| {
                while client.wants_write() {
                    client.write_tls(out).unwrap();
                }
            },
            &mut |bytes| {
                server.read_tls(&mut &bytes[..]).unwrap();
                server.process_new_packets().unwrap();
            },
        );
        pump(
            &mut |out| {
                // The ticket follows the handshake; it is delivered after the handoff.
                if server.is_handshaking() {
                    while server.wants_write() {
                        server.write_tls(out).unwrap();
                    }
                }
            },
            &mut |bytes| {
                client.read_tls(&mut &bytes[..]).unwrap();
                client.process_new_packets().unwrap();
            },
        );
    }
    assert!(server.wants_write(), "the server has its ticket to send");
    let secrets = client.dangerous_extract_secrets().unwrap();
    let tx = TrafficKeys::from_rustls(secrets.tx).unwrap();
    let rx = TrafficKeys::from_rustls(secrets.rx).unwrap();
    // The keys travel as text between processes.
    let tx = TrafficKeys::decode(&tx.encode()).unwrap();
    let rx = TrafficKeys::decode(&rx.encode()).unwrap();
    (
        server,
        Outgoing::new(&tx).unwrap(),
        Incoming::new(&rx).unwrap(),
    )
}

/// Everything the server has to send, opened record by record.
fn receive(server: &mut ServerConnection, incoming: &mut Incoming) -> Vec<Result<Vec<u8>, Opened>> {
    let mut wire = Vec::new();
    while server.wants_write() {
        server.write_tls(&mut wire).unwrap();
    }
    let mut opened = Vec::new();
    let mut rest = &mut wire[..];
    while !rest.is_empty() {
        let len = body_len(rest[..HEADER].try_into().unwrap()).unwrap();
        let (record, more) = rest.split_at_mut(HEADER + len);
        opened.push(match incoming.open(record).unwrap() {
            Opened::Data(range) => Ok(record[range].to_vec()),
            other => Err(other),
        });
        rest = more;
    }
    opened
}

#[test]
fn a_handed_off_session_talks_to_rustls_both_ways() {
    let (mut server, mut outgoing, mut incoming) = handed_off();
    // Client to server: more than one record.
    let sent: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let mut wire = Vec::new();
    outgoing.protect(b"DIST00000001", &mut wire).unwrap();
    outgoing.protect(&sent, &mut wire).unwrap();
    assert_eq!(wire.len(), 12 + 40_000 + 4 * (HEADER + 1 + 16));
    let mut got = Vec::new();
    let mut rest = &wire[..];
    while !rest.is_empty() {
        server.read_tls(&mut rest).unwrap();
        server.process_new_packets().unwrap();
        server.reader().read_to_end(&mut got).ok();
    }
    assert_eq!(got.len(), 12 + 40_000);
    assert_eq!(&got[..12], b"DIST00000001");
    assert_eq!(&got[12..], &sent[..]);
    // Server to client: the ticket first, skipped; then the answer; then the close.
    let answer: Vec<u8> = (0..20_000u32).map(|i| (i % 13) as u8).collect();
    server.writer().write_all(&answer).unwrap();
    server.send_close_notify();
    let opened = receive(&mut server, &mut incoming);
    assert_eq!(opened.first(), Some(&Err(Opened::Skipped)));
    assert_eq!(opened.last(), Some(&Err(Opened::Closed)));
    let data: Vec<u8> = opened[1..opened.len() - 1]
        .iter()
        .flat_map(|r| r.clone().unwrap())
        .collect();
    assert_eq!(data, answer);
}

#[test]
fn a_changed_byte_or_a_replayed_record_is_refused() {
    let (mut server, _, mut incoming) = handed_off();
    server.writer().write_all(b"object file").unwrap();
    let mut wire = Vec::new();
    while server.wants_write() {
        server.write_tls(&mut wire).unwrap();
    }
    let ticket = HEADER + body_len(wire[..HEADER].try_into().unwrap()).unwrap();
    let data = wire.split_off(ticket);
    assert_eq!(incoming.open(&mut wire), Ok(Opened::Skipped));
    let mut changed = data.clone();
    changed[HEADER + 3] ^= 1;
    assert_eq!(incoming.open(&mut changed), Err(RecordError::Forged));
    // A refused record spends no number: the genuine one still opens.
    let mut genuine = data.clone();
    let Ok(Opened::Data(range)) = incoming.open(&mut genuine) else {
        panic!("the genuine record was refused");
    };
    assert_eq!(&genuine[range], b"object file");
    // The same record again: its number is spent.
    assert_eq!(incoming.open(&mut data.clone()), Err(RecordError::Forged));
}

#[test]
fn a_key_update_or_an_alert_breaks_the_session() {
    let (mut server, _, mut incoming) = handed_off();
    server.refresh_traffic_keys().unwrap();
    let mut wire = Vec::new();
    while server.wants_write() {
        server.write_tls(&mut wire).unwrap();
    }
    let ticket = HEADER + body_len(wire[..HEADER].try_into().unwrap()).unwrap();
    let mut update = wire.split_off(ticket);
    assert_eq!(incoming.open(&mut wire), Ok(Opened::Skipped));
    assert_eq!(
        incoming.open(&mut update),
        Err(RecordError::PostHandshake(24))
    );
}

#[test]
fn headers_that_are_not_protected_records_are_refused_before_any_read() {
    assert_eq!(body_len(&[23, 3, 3, 0, 40]), Ok(40));
    assert_eq!(
        body_len(&[23, 3, 3, 0x41, 0x01]),
        Err(RecordError::TooLong(0x4101))
    );
    assert!(matches!(
        body_len(&[22, 3, 3, 0, 40]),
        Err(RecordError::Malformed(_))
    ));
    assert!(matches!(
        body_len(&[23, 3, 1, 0, 40]),
        Err(RecordError::Malformed(_))
    ));
    assert!(matches!(
        body_len(&[23, 3, 3, 0, 16]),
        Err(RecordError::Malformed(_))
    ));
}

#[test]
fn keys_read_back_from_their_word_and_nothing_else_does() {
    let keys = TrafficKeys::new(Suite::Aes256Gcm, vec![7; 32], [9; 12], 3).unwrap();
    assert_eq!(TrafficKeys::decode(&keys.encode()).unwrap(), keys);
    assert!(!format!("{keys:?}").contains("0707"));
    for word in [
        "",
        "aes256gcm:3",
        "aes256gcm:3:0707:090909090909090909090909",
        "aes128gcm:x:07070707070707070707070707070707:090909090909090909090909",
        "rot13:0:07070707070707070707070707070707:090909090909090909090909",
        "aes128gcm:0:07070707070707070707070707070707:0909",
        "aes128gcm:0:07070707070707070707070707070707:090909090909090909090909:x",
        "aes128gcm:0:0g070707070707070707070707070707:090909090909090909090909",
    ] {
        assert!(TrafficKeys::decode(word).is_err(), "{word:?} accepted");
    }
}
