//! Real TLS handshakes between farm members over a socket pair: who may talk to whom.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ccfarm_trust::authority::{Authority, DEFAULT_VALIDITY, Revoked};
use ccfarm_trust::tls::{peer_identity, rustls};
use ccfarm_trust::{ClientAuth, Credentials, Expect, Identity, Role};

fn credentials(ca: &Authority, role: Role, name: &str, crl: Option<&str>) -> Credentials {
    let issued = ca
        .issue(
            &Identity::new(role, name).unwrap(),
            SystemTime::now(),
            DEFAULT_VALIDITY,
        )
        .unwrap();
    Credentials::from_pem(
        ca.cert_pem().as_bytes(),
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
        crl.map(str::as_bytes),
    )
    .unwrap()
}

/// Handshake `client` (expecting `expect`) with `server`; the server's view of the
/// client's identity, or the first side's error.
fn handshake(
    client: &Credentials,
    expect: Expect,
    server: &Credentials,
    auth: ClientAuth,
) -> Result<Option<Identity>, String> {
    let (a, b) = UnixStream::pair().unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    let server_config = server.server_config(auth).unwrap();
    let server = std::thread::spawn(move || -> Result<Option<Identity>, String> {
        let mut conn = rustls::ServerConnection::new(server_config).unwrap();
        let mut b = b;
        let mut tls = rustls::Stream::new(&mut conn, &mut b);
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).map_err(|e| e.to_string())?;
        tls.write_all(b"!").map_err(|e| e.to_string())?;
        tls.flush().map_err(|e| e.to_string())?;
        peer_identity(conn.peer_certificates()).map_err(|e| e.to_string())
    });
    let client_config = client.client_config(expect).unwrap();
    let mut conn =
        rustls::ClientConnection::new(client_config, ccfarm_trust::tls::server_name("127.0.0.1"))
            .unwrap();
    let mut a = a;
    let client_result = (|| {
        let mut tls = rustls::Stream::new(&mut conn, &mut a);
        tls.write_all(b"?")?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte)?;
        Ok::<_, std::io::Error>(())
    })();
    drop(a);
    let server_result = server.join().unwrap();
    client_result.map_err(|e| e.to_string())?;
    server_result
}

#[test]
fn members_of_one_farm_prove_who_they_are() {
    let ca = Authority::create("farm", SystemTime::now()).unwrap();
    let scheduler = credentials(&ca, Role::Scheduler, "sched", None);
    let server = credentials(&ca, Role::Server, "build7", None);
    let alice = credentials(&ca, Role::User, "alice", None);

    let seen = handshake(
        &alice,
        Expect::Role(Role::Scheduler),
        &scheduler,
        ClientAuth::Required,
    );
    assert_eq!(seen, Ok(Some(Identity::new(Role::User, "alice").unwrap())));
    let seen = handshake(
        &server,
        Expect::Role(Role::Scheduler),
        &scheduler,
        ClientAuth::Required,
    );
    assert_eq!(
        seen,
        Ok(Some(Identity::new(Role::Server, "build7").unwrap()))
    );
    let granted = Expect::Exactly(Identity::new(Role::Server, "build7").unwrap());
    let seen = handshake(&alice, granted, &server, ClientAuth::Required);
    assert_eq!(seen, Ok(Some(Identity::new(Role::User, "alice").unwrap())));
}

#[test]
fn a_client_refuses_a_server_other_than_the_one_it_was_granted() {
    let ca = Authority::create("farm", SystemTime::now()).unwrap();
    let rogue = credentials(&ca, Role::Server, "build8", None);
    let alice = credentials(&ca, Role::User, "alice", None);
    let granted = Expect::Exactly(Identity::new(Role::Server, "build7").unwrap());
    let err = handshake(&alice, granted, &rogue, ClientAuth::Required).unwrap_err();
    assert!(err.contains("expected server \"build7\""), "{err}");
    // A server is not a scheduler.
    let err = handshake(
        &alice,
        Expect::Role(Role::Scheduler),
        &rogue,
        ClientAuth::Required,
    )
    .unwrap_err();
    assert!(err.contains("expected a scheduler"), "{err}");
}

#[test]
fn a_user_certificate_cannot_serve() {
    let ca = Authority::create("farm", SystemTime::now()).unwrap();
    let mallory = credentials(&ca, Role::User, "build7", None);
    let alice = credentials(&ca, Role::User, "alice", None);
    let granted = Expect::Exactly(Identity::new(Role::Server, "build7").unwrap());
    // The user's certificate lacks the server-authentication purpose.
    assert!(handshake(&alice, granted, &mallory, ClientAuth::Required).is_err());
}

#[test]
fn another_farms_members_are_refused_both_ways() {
    let ca = Authority::create("farm", SystemTime::now()).unwrap();
    let other = Authority::create("elsewhere", SystemTime::now()).unwrap();
    let scheduler = credentials(&ca, Role::Scheduler, "sched", None);
    let stranger = credentials(&other, Role::User, "alice", None);
    let foreign_scheduler = credentials(&other, Role::Scheduler, "sched", None);
    let alice = credentials(&ca, Role::User, "alice", None);
    let expect = Expect::Role(Role::Scheduler);
    assert!(handshake(&stranger, expect.clone(), &scheduler, ClientAuth::Required).is_err());
    let err = handshake(&alice, expect, &foreign_scheduler, ClientAuth::Required).unwrap_err();
    assert!(err.contains("not issued by this farm's authority"), "{err}");
}

#[test]
fn revoked_certificates_are_refused() {
    let now = SystemTime::now();
    let ca = Authority::create("farm", now).unwrap();
    let alice = credentials(&ca, Role::User, "alice", None);
    let victim = ca
        .issue(
            &Identity::new(Role::Server, "build7").unwrap(),
            now,
            DEFAULT_VALIDITY,
        )
        .unwrap();
    let crl = ca
        .revocation_list(
            &[Revoked {
                serial: victim.serial.clone(),
                at: now,
            }],
            1,
            now,
            Duration::from_secs(3600),
        )
        .unwrap();
    // The scheduler holds the list and refuses the revoked server's registration...
    let scheduler = credentials(&ca, Role::Scheduler, "sched", Some(&crl));
    let revoked_server = Credentials::from_pem(
        ca.cert_pem().as_bytes(),
        victim.cert_pem.as_bytes(),
        victim.key_pem.as_bytes(),
        None,
    )
    .unwrap();
    let err = handshake(
        &revoked_server,
        Expect::Role(Role::Scheduler),
        &scheduler,
        ClientAuth::Required,
    );
    assert!(err.is_err(), "{err:?}");
    // ...and a client holding the list refuses to send it a job.
    let alice_with_crl = credentials(&ca, Role::User, "alice", Some(&crl));
    let granted = Expect::Exactly(Identity::new(Role::Server, "build7").unwrap());
    let err = handshake(
        &alice_with_crl,
        granted,
        &revoked_server,
        ClientAuth::Required,
    )
    .unwrap_err();
    assert!(err.contains("revoked"), "{err}");
    // A certificate not on the list still works.
    assert!(
        handshake(
            &alice,
            Expect::Role(Role::Scheduler),
            &scheduler,
            ClientAuth::Required
        )
        .is_ok()
    );
    // Loading credentials whose own certificate is revoked fails at once.
    let own = Credentials::from_pem(
        ca.cert_pem().as_bytes(),
        victim.cert_pem.as_bytes(),
        victim.key_pem.as_bytes(),
        Some(crl.as_bytes()),
    );
    assert!(own.unwrap_err().to_string().contains("revoked"));
}

#[test]
fn without_a_certificate_only_an_optional_endpoint_answers() {
    let ca = Authority::create("farm", SystemTime::now()).unwrap();
    let issued = ca
        .issue_for_hosts(
            &Identity::new(Role::Scheduler, "sched").unwrap(),
            &["127.0.0.1".to_owned()],
            SystemTime::now(),
            DEFAULT_VALIDITY,
        )
        .unwrap();
    let scheduler = Credentials::from_pem(
        ca.cert_pem().as_bytes(),
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
        None,
    )
    .unwrap();
    // A client config without a certificate, checking the host name as a browser or
    // an HTTP client does.
    let anonymous = {
        let config = rustls::ClientConfig::builder_with_provider(ccfarm_trust::verify::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates({
                let mut roots = rustls::RootCertStore::empty();
                roots
                    .add(rustls::pki_types::CertificateDer::from(
                        scheduler.authority_der().to_vec(),
                    ))
                    .unwrap();
                roots
            })
            .with_no_client_auth();
        Arc::new(config)
    };
    for (auth, ok) in [(ClientAuth::Required, false), (ClientAuth::Optional, true)] {
        let (a, b) = UnixStream::pair().unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let config = scheduler.server_config(auth).unwrap();
        let server = std::thread::spawn(move || {
            let mut conn = rustls::ServerConnection::new(config).unwrap();
            let mut b = b;
            let mut byte = [0u8; 1];
            let mut tls = rustls::Stream::new(&mut conn, &mut b);
            let served = tls.read_exact(&mut byte).and_then(|()| tls.write_all(b"!"));
            (
                served.is_ok(),
                peer_identity(conn.peer_certificates()).unwrap(),
            )
        });
        let mut conn = rustls::ClientConnection::new(
            anonymous.clone(),
            ccfarm_trust::tls::server_name("127.0.0.1"),
        )
        .unwrap();
        let mut a = a;
        let mut tls = rustls::Stream::new(&mut conn, &mut a);
        let mut byte = [0u8; 1];
        let _ = tls.write_all(b"?").and_then(|()| tls.read_exact(&mut byte));
        drop(a);
        let (served, identity) = server.join().unwrap();
        assert_eq!(served, ok, "{auth:?}");
        assert_eq!(identity, None);
    }
}
