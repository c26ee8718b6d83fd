//! ccfarmd's side of the trust model.
//!
//! With credentials (`credentials = DIR`, a server's, from `ccfarm ca issue server
//! NAME`), ccfarmd registers over TLS proving its name, and its distcc port also takes
//! TLS: a connection whose first byte starts a TLS handshake must present a user's
//! certificate, then a [`CompileHello`] frame with the scheduler's grant ticket, then
//! an ordinary distcc request. Plaintext connections are still served to the
//! addresses in `--allow` (stock distcc clients, the scheduler's distcc proxy).
//!
//! Whether a job may run is decided by [`judge`], without I/O.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ccfarm_proto::farm::{CompileHello, TicketKeyGrant};
use ccfarm_trust::reload::Reloadable;
use ccfarm_trust::ticket::{self, TicketError, TicketKey};
use ccfarm_trust::tls::rustls::ClientConfig;
use ccfarm_trust::{ClientAuth, Credentials, Expect, Identity, Role};
use tokio_rustls::TlsAcceptor;

/// Why a TLS job may not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobDenied {
    /// The certificate is not a user's.
    #[error("jobs come from users; the certificate is for {0}")]
    NotAUser(Identity),
    /// A server of a scheduler runs only granted jobs, and this one carried no grant.
    #[error("this server runs only jobs the scheduler granted: the job carried no grant ticket")]
    NoTicket,
    /// The ticket cannot be checked before the scheduler has given its key.
    #[error(
        "this server is not registered with its scheduler yet, so it cannot check the grant; try another server"
    )]
    NotRegistered,
    /// The ticket is malformed, forged, for another server or user, or expired.
    #[error(transparent)]
    Ticket(#[from] TicketError),
}

/// Why credentials could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecureError {
    /// They could not be loaded.
    #[error(transparent)]
    Credentials(#[from] ccfarm_trust::CredentialError),
    /// TLS settings could not be built.
    #[error(transparent)]
    Tls(#[from] ccfarm_trust::TlsError),
}

struct Tls {
    acceptor: TlsAcceptor,
    to_scheduler: Arc<ClientConfig>,
    identity: Identity,
}

/// A scheduler's current ticket key and its clock relative to ours.
#[derive(Debug, Clone)]
struct Tickets {
    key: TicketKey,
    offset_ms: i64,
}

/// ccfarmd's credentials and the scheduler's ticket key.
pub struct Trust {
    tls: Reloadable<Tls>,
    /// Each scheduler's key, by its address: a server registered with two schedulers
    /// runs the jobs either grants.
    tickets: Mutex<std::collections::BTreeMap<String, Tickets>>,
    with_scheduler: bool,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("identity", &self.identity())
            .field("with_scheduler", &self.with_scheduler)
            .finish_non_exhaustive()
    }
}

fn load(dir: &Path) -> Result<Tls, SecureError> {
    let credentials = Credentials::load_as(dir, Role::Server)?;
    Ok(Tls {
        acceptor: TlsAcceptor::from(credentials.server_config(ClientAuth::Required)?),
        to_scheduler: credentials.client_config(Expect::Role(Role::Scheduler))?,
        identity: credentials.identity,
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Trust {
    /// No credentials: plaintext only, as distccd.
    pub fn none() -> Trust {
        Trust {
            tls: Reloadable::none(),
            tickets: Mutex::default(),
            with_scheduler: false,
        }
    }

    /// The credentials in `dir`. With a scheduler, every TLS job needs its ticket.
    pub fn load(dir: &Path, with_scheduler: bool) -> Result<Trust, SecureError> {
        Ok(Trust {
            tls: Reloadable::load(Some(dir), load)?,
            tickets: Mutex::default(),
            with_scheduler,
        })
    }

    /// Re-read the credentials (SIGHUP); on failure the old ones stay.
    pub fn reload(&self) -> Result<Option<String>, SecureError> {
        Ok(self
            .tls
            .reload(load)?
            .map(|tls| format!("credentials reloaded ({})", tls.identity)))
    }

    fn current(&self) -> Option<Arc<Tls>> {
        self.tls.current()
    }

    /// Who this server is, when it has credentials.
    pub fn identity(&self) -> Option<Identity> {
        self.current().map(|t| t.identity.clone())
    }

    /// The acceptor for TLS connections on the distcc port.
    pub fn acceptor(&self) -> Option<TlsAcceptor> {
        self.current().map(|t| t.acceptor.clone())
    }

    /// Settings for connecting to the scheduler.
    pub fn scheduler_config(&self) -> Option<Arc<ClientConfig>> {
        self.current().map(|t| t.to_scheduler.clone())
    }

    /// The welcome of the scheduler at `scheduler` gave a ticket key.
    pub fn set_tickets(&self, scheduler: &str, grant: &TicketKeyGrant) -> Result<(), TicketError> {
        let key = TicketKey::from_hex(&grant.key)?;
        let offset_ms = grant.now_ms as i64 - now_ms();
        self.tickets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(scheduler.to_owned(), Tickets { key, offset_ms });
        Ok(())
    }

    /// Whether `user` (proven by TLS) may run a job with `hello`; the refusal says why.
    pub fn admit(&self, user: &Identity, hello: &CompileHello) -> Result<(), JobDenied> {
        let server = self.identity().map(|i| i.name).unwrap_or_default();
        let tickets: Vec<Tickets> = self
            .tickets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut verdict = judge(&Judged {
            server: &server,
            user,
            ticket: hello.ticket.as_deref(),
            with_scheduler: self.with_scheduler,
            key: None,
            scheduler_now_ms: 0,
        });
        // Any scheduler's key will do: the first that admits the job decides.
        for t in &tickets {
            verdict = judge(&Judged {
                server: &server,
                user,
                ticket: hello.ticket.as_deref(),
                with_scheduler: self.with_scheduler,
                key: Some(&t.key),
                scheduler_now_ms: (now_ms() + t.offset_ms).max(0) as u64,
            });
            if verdict.is_ok() {
                break;
            }
        }
        verdict
    }
}

/// What [`judge`] looks at.
pub struct Judged<'a> {
    /// This server's name.
    pub server: &'a str,
    /// Who the client's certificate proved.
    pub user: &'a Identity,
    /// The ticket it sent.
    pub ticket: Option<&'a str>,
    /// Whether this server belongs to a scheduler (then jobs need its tickets).
    pub with_scheduler: bool,
    /// The scheduler's current ticket key.
    pub key: Option<&'a TicketKey>,
    /// Now, in the scheduler's clock.
    pub scheduler_now_ms: u64,
}

/// Whether a TLS job may run: a user's, and with a scheduler, granted by it to this
/// server for this user.
pub fn judge(j: &Judged<'_>) -> Result<(), JobDenied> {
    if j.user.role != Role::User {
        return Err(JobDenied::NotAUser(j.user.clone()));
    }
    if !j.with_scheduler {
        return Ok(());
    }
    let ticket = j.ticket.ok_or(JobDenied::NoTicket)?;
    let key = j.key.ok_or(JobDenied::NotRegistered)?;
    ticket::verify(key, ticket, j.server, &j.user.name, j.scheduler_now_ms)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccfarm_trust::ticket::{Grant, sign};

    #[test]
    fn jobs_need_a_user_and_with_a_scheduler_its_ticket() {
        let alice = Identity::new(Role::User, "alice").unwrap();
        let key = TicketKey::generate().unwrap();
        let ticket = sign(
            &key,
            &Grant {
                server: "build7",
                user: "alice",
                lease: 1,
                expires_ms: 1_000,
            },
        );
        let base = Judged {
            server: "build7",
            user: &alice,
            ticket: Some(&ticket),
            with_scheduler: true,
            key: Some(&key),
            scheduler_now_ms: 500,
        };
        assert_eq!(judge(&base), Ok(()));
        let err = judge(&Judged {
            ticket: None,
            ..base
        })
        .unwrap_err();
        assert!(err.to_string().contains("no grant ticket"), "{err}");
        let err = judge(&Judged { key: None, ..base }).unwrap_err();
        assert!(err.to_string().contains("not registered"), "{err}");
        let err = judge(&Judged {
            server: "build8",
            ..base
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("not issued for this server"),
            "{err}"
        );
        let err = judge(&Judged {
            scheduler_now_ms: 2_000,
            ..base
        })
        .unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        let bob = Identity::new(Role::User, "bob").unwrap();
        assert!(judge(&Judged { user: &bob, ..base }).is_err());
        let server = Identity::new(Role::Server, "build8").unwrap();
        let err = judge(&Judged {
            user: &server,
            ..base
        })
        .unwrap_err();
        assert!(err.to_string().contains("jobs come from users"), "{err}");
        // Without a scheduler, an authenticated user is enough.
        assert_eq!(
            judge(&Judged {
                with_scheduler: false,
                ticket: None,
                key: None,
                ..base
            }),
            Ok(())
        );
    }
}
