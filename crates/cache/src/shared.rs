//! A shared store of entries on an existing storage service, through OpenDAL: Redis,
//! WebDAV, memcached or S3 (and GCS through its S3 interoperability).
//!
//! The store is named by one URL:
//!
//! | URL | store |
//! |---|---|
//! | `redis://[USER:PASSWORD@]HOST:PORT[/DB]` | Redis |
//! | `webdav+http://[USER:PASSWORD@]HOST:PORT/PATH` (or `webdav+https://`) | a WebDAV collection |
//! | `memcached://HOST:PORT` | memcached |
//! | `s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION]` | S3; credentials from the usual `AWS_*` variables |
//!
//! Every operation has a deadline: a slow or dead store makes a look-up a miss and a
//! store a skipped write, never a stalled compile. What is read is capped before it is
//! kept. Whoever holds the URL's credentials can write the store; what decides whether
//! an entry is *served* is its seal (see [`crate::sealed`]), checked by the reader.

use std::time::Duration;

use opendal::{ErrorKind, Operator};

use crate::key::Key;

/// How long a shared store operation may take by default: a look-up on a healthy store
/// on the site's network takes a millisecond or two, and a miss after the deadline
/// costs only the deadline.
pub const DEFAULT_DEADLINE_MS: u64 = 300;

/// The largest entry a member reads from a shared store, when one body on the distcc
/// wire may be `max_body_len` bytes: an entry holds one object, with room for its
/// stderr, its header and its seal.
pub fn entry_limit(max_body_len: u32) -> u64 {
    u64::from(max_body_len) + (1 << 20)
}

/// A store across the network, used without credentials, would let anyone able to write
/// it plant objects that are served: refused unless the operator says `--insecure`.
pub fn check_exposure(url: &str) -> Result<(), ExposedStore> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match host.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        return Ok(());
    }
    Err(ExposedStore {
        host: host.to_owned(),
    })
}

/// A shared store off loopback, to be used without credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a shared cache at {host} needs credentials: without them entries can be neither \
     sealed nor checked, so anyone able to write the store could plant objects that \
     are served; set `credentials` (from `ccfarm ca issue`), or pass --insecure to \
     trust everyone who can write the store"
)]
pub struct ExposedStore {
    /// The store's host.
    pub host: String,
}

/// Why the shared store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// The URL names no store this build knows, or is malformed.
    #[error("cache URL {url}: {why}")]
    Url {
        /// The URL, without its password.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The store did not answer within the deadline.
    #[error("{store} did not answer within {deadline:?}")]
    Deadline {
        /// The store.
        store: String,
        /// The deadline.
        deadline: Duration,
    },
    /// The store answered with an error.
    #[error("{store}: {why}")]
    Store {
        /// The store.
        store: String,
        /// Its error.
        why: String,
    },
    /// The stored entry is larger than anything a compile may return.
    #[error("{store}: an entry of {len} bytes is over the limit of {limit}")]
    TooLarge {
        /// The store.
        store: String,
        /// Its size.
        len: u64,
        /// The limit.
        limit: u64,
    },
}

/// A shared store of cache entries.
#[derive(Debug, Clone)]
pub struct SharedStore {
    operator: Operator,
    shown: String,
    deadline: Duration,
    limit: u64,
    /// Whether the store itself bounds a value's size (Redis at 512 MiB, memcached at
    /// its item size), so that a value can be read whole in one request.
    bounded: bool,
}

impl SharedStore {
    /// The store named by `url`, whose every operation must finish within `deadline`
    /// and whose entries may be at most `limit` bytes. Opening contacts nothing.
    pub fn open(url: &str, deadline: Duration, limit: u64) -> Result<SharedStore, SharedError> {
        install_http_transport();
        let parsed = url::Url::parse(url).map_err(|e| SharedError::Url {
            url: url.to_owned(),
            why: e.to_string(),
        })?;
        let shown = without_password(&parsed);
        let bad = |why: &str| SharedError::Url {
            url: shown.clone(),
            why: why.to_owned(),
        };
        let host = parsed.host_str().unwrap_or_default();
        let authority = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let user = parsed.username();
        let password = parsed.password().unwrap_or_default();
        let path = parsed.path().trim_end_matches('/');
        let operator = match parsed.scheme() {
            "redis" => {
                let mut builder =
                    opendal::services::Redis::default().endpoint(&format!("tcp://{authority}"));
                if !user.is_empty() {
                    builder = builder.username(user);
                }
                if !password.is_empty() {
                    builder = builder.password(password);
                }
                let db = path.trim_start_matches('/');
                if !db.is_empty() {
                    let db = db
                        .parse()
                        .map_err(|_| bad("the path must be a database number"))?;
                    builder = builder.db(db);
                }
                Operator::new(builder.root("/ccfarm/"))
            }
            "webdav+http" | "webdav+https" => {
                let scheme = parsed.scheme().trim_start_matches("webdav+");
                let mut builder = opendal::services::Webdav::default()
                    .endpoint(&format!("{scheme}://{authority}"))
                    .root(&format!("{path}/"));
                if !user.is_empty() {
                    builder = builder.username(user).password(password);
                }
                Operator::new(builder)
            }
            "memcached" => Operator::new(
                opendal::services::Memcached::default()
                    .endpoint(&format!("tcp://{authority}"))
                    .root("/ccfarm/"),
            ),
            "s3" => {
                let mut builder = opendal::services::S3::default()
                    .bucket(host)
                    .root(&format!("{path}/"));
                for (name, value) in parsed.query_pairs() {
                    builder = match &*name {
                        "endpoint" => builder.endpoint(&value),
                        "region" => builder.region(&value),
                        other => return Err(bad(&format!("unknown parameter {other:?}"))),
                    };
                }
                Operator::new(builder)
            }
            other => {
                return Err(bad(&format!(
                    "unknown store {other:?} (redis, webdav+http, webdav+https, memcached, s3)"
                )));
            }
        }
        .map_err(|e| SharedError::Url {
            url: shown.clone(),
            why: e.to_string(),
        })?;
        Ok(SharedStore {
            operator,
            shown,
            deadline,
            limit,
            bounded: matches!(parsed.scheme(), "redis" | "memcached"),
        })
    }

    /// The store's URL, without its password (for logs and the dashboard).
    pub fn describe(&self) -> &str {
        &self.shown
    }

    /// The stored bytes under `key`, or `None` when there are none.
    pub async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, SharedError> {
        let path = path_of(key);
        if self.bounded {
            // One request: the store holds nothing larger than it allows.
            let read = async {
                match self.operator.read(&path).await {
                    Ok(buffer) if buffer.len() as u64 > self.limit => Err(SharedError::TooLarge {
                        store: self.shown.clone(),
                        len: buffer.len() as u64,
                        limit: self.limit,
                    }),
                    Ok(buffer) => Ok(Some(buffer.to_vec())),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(self.error(e)),
                }
            };
            return self.within(read).await?;
        }
        // Elsewhere the size first, then at most that many bytes: an oversized entry
        // planted in the store costs its reader nothing but the refusal, and one that
        // grows in between is read cut short, which its checksum then refuses.
        let read = async {
            let len = match self.operator.stat(&path).await {
                Ok(meta) => meta.content_length(),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(self.error(e)),
            };
            if len > self.limit {
                return Err(SharedError::TooLarge {
                    store: self.shown.clone(),
                    len,
                    limit: self.limit,
                });
            }
            match self.operator.read_with(&path).range(0..len).await {
                Ok(buffer) => Ok(Some(buffer.to_vec())),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(self.error(e)),
            }
        };
        self.within(read).await?
    }

    /// Keep `bytes` under `key`.
    pub async fn put(&self, key: &Key, bytes: Vec<u8>) -> Result<(), SharedError> {
        let path = path_of(key);
        let write = async {
            self.operator
                .write(&path, bytes)
                .await
                .map(|_| ())
                .map_err(|e| self.error(e))
        };
        self.within(write).await?
    }

    /// Remove what is stored under `key` (an entry found altered).
    pub async fn remove(&self, key: &Key) -> Result<(), SharedError> {
        let path = path_of(key);
        let delete = async { self.operator.delete(&path).await.map_err(|e| self.error(e)) };
        self.within(delete).await?
    }

    async fn within<T>(&self, work: impl Future<Output = T>) -> Result<T, SharedError> {
        tokio::time::timeout(self.deadline, work)
            .await
            .map_err(|_| SharedError::Deadline {
                store: self.shown.clone(),
                deadline: self.deadline,
            })
    }

    fn error(&self, e: opendal::Error) -> SharedError {
        SharedError::Store {
            store: self.shown.clone(),
            why: e.to_string(),
        }
    }
}

/// Where an entry lives in the store: two hex digits of directory spread the entries of
/// a file-like store (WebDAV, S3) over 256 collections.
fn path_of(key: &Key) -> String {
    let hex = key.hex();
    format!("{}/{hex}", &hex[..2])
}

/// The URL as it may be shown: the password replaced.
fn without_password(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// HTTP stores (WebDAV, S3) go through reqwest on rustls with ring, the provider every
/// ccfarm TLS endpoint uses, so the process links one TLS library and one provider.
fn install_http_transport() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        opendal::HttpTransporter::install_default(
            opendal_http_transport_reqwest::ReqwestTransport::default(),
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn every_store_parses_and_a_password_is_never_shown() {
        for url in [
            "redis://127.0.0.1:6379",
            "redis://cache:secret@10.0.0.5:6379/3",
            "webdav+http://ci:secret@dav.example:8080/ccfarm",
            "memcached://127.0.0.1:11211",
            "s3://builds/ccfarm?endpoint=http://127.0.0.1:9000&region=us-east-1",
        ] {
            let store = SharedStore::open(url, SECOND, 1 << 20).unwrap();
            assert!(!store.describe().contains("secret"), "{}", store.describe());
        }
    }

    #[test]
    fn unknown_stores_and_bad_paths_are_refused_with_the_reason() {
        let err = SharedStore::open("ftp://x/y", SECOND, 1).unwrap_err();
        assert!(err.to_string().contains("unknown store \"ftp\""), "{err}");
        let err = SharedStore::open("redis://u:pw@h:1/x", SECOND, 1).unwrap_err();
        assert!(err.to_string().contains("database number"), "{err}");
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[test]
    fn a_store_off_loopback_needs_credentials() {
        for url in [
            "redis://127.0.0.1:6379",
            "redis://u:p@localhost:6379/2",
            "webdav+http://[::1]:8080/c",
        ] {
            assert_eq!(check_exposure(url), Ok(()), "{url}");
        }
        for (url, host) in [
            ("redis://10.0.0.5:6379", "10.0.0.5"),
            ("webdav+https://u:p@dav.example/ccfarm", "dav.example"),
            ("s3://bucket/prefix", "bucket"),
        ] {
            let refused = check_exposure(url).unwrap_err();
            assert_eq!(refused.host, host, "{url}");
            let err = refused.to_string();
            assert!(err.contains("needs credentials"), "{url}: {err}");
            assert!(!err.contains(":p@"), "{err}");
        }
    }

    #[test]
    fn entries_spread_over_two_hex_digit_directories() {
        let key = Key::from_bytes([0xab; 32]);
        assert_eq!(path_of(&key), format!("ab/{}", key.hex()));
    }
}
