//! The shared result cache as a compile server uses it (`--cache URL`).
//!
//! Before compiling a preprocessed job, ccfarmd keys it from the bytes the client sent —
//! the compiler's identity (version and target), the arguments and the preprocessed
//! source — and looks the key up in the shared store; a hit is answered without running
//! the compiler. After a successful compile it stores the result, sealed with its farm
//! credentials, once the reply is on its way. So a stock distcc client, which knows
//! nothing of caches, gets one: any client of any server sharing the store.
//!
//! A server with credentials serves only entries sealed by a server of its own farm:
//! whoever else can write the store (a user with its password, anyone on its network)
//! can make an entry a miss, never make it served. A server without credentials seals
//! nothing and can check nothing, which is why the configuration requires credentials
//! (or `--insecure`) for a store that is not on loopback.
//!
//! Every look-up has the store's deadline; a slow, dead or unreachable store is a miss,
//! and a store that fails is only logged. An entry found altered is removed, so the
//! next compile replaces it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use ccfarm_cache::{Entry, Key, KeyInputs, NotCacheable, Seal, SharedStore, sealed};
use ccfarm_proto::distcc::{Payload, Reply, Request};
use ccfarm_trust::{Credentials, Role, SealChecker, SealError, Sealer};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::{debug, info, warn};

use crate::daemon::Daemon;

/// How long a shared cache operation may take by default: a look-up on a healthy store
/// on the site's network takes a millisecond or two, and a miss after the deadline
/// costs only the deadline.
pub const DEFAULT_DEADLINE_MS: u64 = 300;

/// A store across the network, used without credentials, would serve whatever anyone
/// able to write it put there: refused unless the operator says `--insecure`.
pub fn check_exposure(url: &str) -> Result<(), String> {
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
    Err(format!(
        "a shared cache at {host} needs credentials: without them this server cannot seal \
         what it stores or check who wrote what it serves, so anyone able to write the store \
         could plant objects; set `credentials` (from `ccfarm ca issue server NAME`), or pass \
         --insecure to trust everyone who can write the store"
    ))
}

/// What the store had for a job.
#[derive(Debug)]
pub enum Lookup {
    /// A whole entry, from a writer this server trusts.
    Hit(Entry),
    /// Nothing under the key.
    Miss,
    /// An entry that is not served (altered, cut short, or not sealed by a farm server);
    /// it has been removed.
    Refused(String),
    /// The store could not answer (down, slow, refused); a miss.
    Unusable(String),
}

/// The result label of the look-up and store counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum Outcome {
    hit,
    miss,
    not_cacheable,
    refused,
    unusable,
    stored,
    not_stored,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    result: Outcome,
}

/// The cache's counters on ccfarmd's `/metrics`.
#[derive(Debug, Clone)]
pub struct CacheMetrics {
    lookups: Family<OutcomeLabel, Counter>,
    stores: Family<OutcomeLabel, Counter>,
    lookup_seconds: Histogram,
}

impl CacheMetrics {
    /// The counters, registered in `registry` (all zero while no cache is configured).
    pub fn register(registry: &mut Registry) -> CacheMetrics {
        let metrics = CacheMetrics {
            lookups: Family::default(),
            stores: Family::default(),
            // 0.1 ms to about 3 s.
            lookup_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 15)),
        };
        registry.register(
            "cache_lookups",
            "Shared cache look-ups by result (hit, miss, not_cacheable, refused, unusable)",
            metrics.lookups.clone(),
        );
        registry.register(
            "cache_stores",
            "Results written to the shared cache (stored, not_stored)",
            metrics.stores.clone(),
        );
        registry.register(
            "cache_lookup_seconds",
            "Time to look a job up in the shared cache",
            metrics.lookup_seconds.clone(),
        );
        metrics
    }

    fn lookup(&self, result: Outcome) {
        self.lookups.get_or_create(&OutcomeLabel { result }).inc();
    }

    fn store(&self, result: Outcome) {
        self.stores.get_or_create(&OutcomeLabel { result }).inc();
    }
}

/// The shared cache of one server.
pub struct ServerCache {
    store: SharedStore,
    sealer: Option<Sealer>,
    checker: Option<SealChecker>,
    /// Each resolved compiler's identity, found once (it runs the compiler).
    identities: Mutex<HashMap<String, Option<String>>>,
}

impl std::fmt::Debug for ServerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCache")
            .field("store", &self.store.describe())
            .field("sealed", &self.sealer.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerCache {
    /// The cache on `store`; with `credentials`, entries are sealed with them and only
    /// entries sealed by a server of the same farm are served.
    pub fn new(
        store: SharedStore,
        credentials: Option<&Credentials>,
    ) -> Result<ServerCache, SealError> {
        let (sealer, checker) = match credentials {
            Some(credentials) => (
                Some(Sealer::new(credentials)?),
                Some(SealChecker::new(credentials, Role::Server)?),
            ),
            None => (None, None),
        };
        Ok(ServerCache {
            store,
            sealer,
            checker,
            identities: Mutex::new(HashMap::new()),
        })
    }

    /// The store, for messages.
    pub fn describe(&self) -> &str {
        self.store.describe()
    }

    /// The identity of the compiler at `program` (version and target), found once.
    fn identity(&self, program: &str) -> Option<String> {
        if let Some(known) = self.identities.lock().expect("not poisoned").get(program) {
            return known.clone();
        }
        let found = crate::register::identify_one(program)
            .map(|id| format!("{} {}", id.version, id.target));
        self.identities
            .lock()
            .expect("not poisoned")
            .insert(program.to_owned(), found.clone());
        found
    }

    /// The key of `request`, which runs the compiler at `program`: blocking (it may run
    /// the compiler once for its identity, and hashes the whole source).
    pub fn key_of(&self, program: &str, request: &Request) -> Result<Key, NotCacheable> {
        let Payload::Preprocessed(source) = &request.payload else {
            return Err(NotCacheable::SourceTree);
        };
        let argv = request
            .argv
            .iter()
            .map(|a| String::from_utf8(a.to_vec()).map_err(|_| NotCacheable::NotText))
            .collect::<Result<Vec<_>, _>>()?;
        let compiler = self.identity(program).ok_or(NotCacheable::NotACompile)?;
        ccfarm_cache::key(&KeyInputs {
            compiler: &compiler,
            argv: &argv,
            cwd: None,
            source,
        })
    }

    /// What the store holds under `key`, checked.
    pub async fn look_up(&self, key: &Key, metrics: &CacheMetrics) -> Lookup {
        let started = Instant::now();
        let found = self.store.get(key).await;
        metrics
            .lookup_seconds
            .observe(started.elapsed().as_secs_f64());
        let lookup = match found {
            Ok(None) => Lookup::Miss,
            Ok(Some(bytes)) => match self.open(key, &bytes) {
                Ok(entry) => Lookup::Hit(entry),
                Err(why) => {
                    if let Err(e) = self.store.remove(key).await {
                        debug!("could not remove the refused entry {key}: {e}");
                    }
                    Lookup::Refused(why)
                }
            },
            Err(e) => Lookup::Unusable(e.to_string()),
        };
        metrics.lookup(match &lookup {
            Lookup::Hit(_) => Outcome::hit,
            Lookup::Miss => Outcome::miss,
            Lookup::Refused(why) => {
                warn!(
                    category = "cache",
                    "shared cache entry {key} refused: {why}"
                );
                Outcome::refused
            }
            Lookup::Unusable(why) => {
                info!(
                    category = "cache",
                    "shared cache unusable, compiling: {why}"
                );
                Outcome::unusable
            }
        });
        lookup
    }

    /// Count a job that has no key.
    pub fn not_cacheable(&self, why: NotCacheable, metrics: &CacheMetrics) {
        debug!("not cached: {why}");
        metrics.lookup(Outcome::not_cacheable);
    }

    /// The entry in `bytes` stored under `key`, if whole and from a trusted writer.
    fn open(&self, key: &Key, bytes: &[u8]) -> Result<Entry, String> {
        let (entry, seal) = sealed::decode(bytes).map_err(|e| e.to_string())?;
        if let Some(checker) = &self.checker {
            let Some(Seal { cert, signature }) = seal else {
                return Err("not sealed by a server of this farm".into());
            };
            let message = sealed::message(key, entry);
            checker
                .check(&cert, &message, &signature, SystemTime::now())
                .map_err(|e| e.to_string())?;
        }
        Entry::decode(entry).map_err(|e| e.to_string())
    }

    /// Store `entry` under `key`, sealed when this server has credentials.
    pub async fn keep(&self, key: Key, entry: Entry, metrics: &CacheMetrics) {
        let bytes = entry.encode();
        let seal = self.sealer.as_ref().map(|sealer| {
            let (cert, signature) = sealer.seal(&sealed::message(&key, &bytes));
            Seal { cert, signature }
        });
        match self
            .store
            .put(&key, sealed::encode(&bytes, seal.as_ref()))
            .await
        {
            Ok(()) => metrics.store(Outcome::stored),
            Err(e) => {
                info!(
                    category = "cache",
                    "result not stored in the shared cache: {e}"
                );
                metrics.store(Outcome::not_stored);
            }
        }
    }
}

/// Key `request` and look it up: the key to store the result under after a miss, or
/// the reply of a hit. Every failure is a miss, counted by reason.
pub async fn consult(daemon: &Daemon, request: &Request) -> (Option<Key>, Option<Reply>) {
    let Some(cache) = daemon.cache.clone() else {
        return (None, None);
    };
    let metrics = &daemon.stats.cache;
    let argv0 = request
        .argv
        .first()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .unwrap_or_default();
    // A compiler that may not run is refused when the job is prepared; no key is needed.
    let Ok(program) = daemon.compilers.resolve(&argv0) else {
        return (None, None);
    };
    let keyed = {
        let (cache, request) = (cache.clone(), request.clone());
        tokio::task::spawn_blocking(move || cache.key_of(&program, &request)).await
    };
    let key = match keyed {
        Ok(Ok(key)) => key,
        Ok(Err(why)) => {
            cache.not_cacheable(why, metrics);
            return (None, None);
        }
        Err(panic) => {
            warn!("keying a job for the shared cache failed: {panic}");
            return (None, None);
        }
    };
    match cache.look_up(&key, metrics).await {
        Lookup::Hit(entry) => (Some(key), Some(reply_of(entry, request))),
        Lookup::Miss | Lookup::Refused(_) | Lookup::Unusable(_) => (Some(key), None),
    }
}

/// The reply a hit gives, in the request's protocol.
pub fn reply_of(entry: Entry, request: &Request) -> Reply {
    Reply {
        version: request.version,
        status: entry.status,
        stderr: Bytes::from(entry.stderr),
        stdout: Bytes::from(entry.stdout),
        object: Bytes::from(entry.object),
        // Only preprocessed jobs are cached, and their dependency file is the client's.
        dotd: None,
    }
}

/// The entry a successful compile's `reply` makes.
pub fn entry_of(reply: &Reply) -> Entry {
    Entry {
        status: reply.status,
        stdout: reply.stdout.to_vec(),
        stderr: reply.stderr.to_vec(),
        object: reply.object.to_vec(),
        dotd: None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ccfarm_trust::Identity;
    use ccfarm_trust::authority::Authority;

    use super::*;

    fn member(farm: &Authority, role: Role, name: &str) -> Credentials {
        let issued = farm
            .issue(
                &Identity::new(role, name).unwrap(),
                SystemTime::now(),
                Duration::from_secs(3600),
            )
            .unwrap();
        Credentials::from_pem(
            farm.cert_pem().as_bytes(),
            issued.cert_pem.as_bytes(),
            issued.key_pem.as_bytes(),
            None,
        )
        .unwrap()
    }

    fn cache(credentials: Option<&Credentials>) -> ServerCache {
        // Opening a store contacts nothing; these tests never reach it.
        let store =
            SharedStore::open("redis://127.0.0.1:9", Duration::from_millis(10), 1 << 20).unwrap();
        ServerCache::new(store, credentials).unwrap()
    }

    fn entry() -> Vec<u8> {
        Entry {
            status: 0,
            stdout: vec![],
            stderr: b"warning\n".to_vec(),
            object: b"\x7fELF object".to_vec(),
            dotd: None,
        }
        .encode()
    }

    fn sealed_by(who: &Credentials, key: &Key, entry: &[u8]) -> Vec<u8> {
        let (cert, signature) = Sealer::new(who).unwrap().seal(&sealed::message(key, entry));
        sealed::encode(entry, Some(&Seal { cert, signature }))
    }

    #[test]
    fn a_secure_server_serves_only_what_a_server_of_its_farm_sealed_for_that_key() {
        let farm = Authority::create("farm", SystemTime::now()).unwrap();
        let reader = cache(Some(&member(&farm, Role::Server, "build1")));
        let writer = member(&farm, Role::Server, "build2");
        let key = Key::from_bytes([1; 32]);
        let entry = entry();

        assert!(reader.open(&key, &sealed_by(&writer, &key, &entry)).is_ok());

        let unsealed = sealed::encode(&entry, None);
        let err = reader.open(&key, &unsealed).unwrap_err();
        assert!(err.contains("not sealed"), "{err}");

        let user = member(&farm, Role::User, "mallory");
        let err = reader
            .open(&key, &sealed_by(&user, &key, &entry))
            .unwrap_err();
        assert!(err.contains("only server may write"), "{err}");

        let other_key = Key::from_bytes([2; 32]);
        let moved = sealed_by(&writer, &other_key, &entry);
        assert!(
            reader.open(&key, &moved).is_err(),
            "an entry moved to another key"
        );

        // An entry altered after sealing, its own checksum recomputed.
        let mut forged = Entry::decode(&entry).unwrap();
        forged.object = b"\x7fELF planted".to_vec();
        let mut altered = sealed_by(&writer, &key, &entry);
        let at = altered.len() - entry.len();
        altered.truncate(at);
        altered.extend_from_slice(&forged.encode());
        let err = reader.open(&key, &altered).unwrap_err();
        assert!(err.contains("signature"), "{err}");

        let elsewhere = Authority::create("elsewhere", SystemTime::now()).unwrap();
        let stranger = member(&elsewhere, Role::Server, "build2");
        assert!(
            reader
                .open(&key, &sealed_by(&stranger, &key, &entry))
                .is_err()
        );
    }

    #[test]
    fn a_server_without_credentials_checks_only_the_entry_itself() {
        let reader = cache(None);
        let key = Key::from_bytes([1; 32]);
        let entry = entry();
        assert!(reader.open(&key, &sealed::encode(&entry, None)).is_ok());
        let mut cut = sealed::encode(&entry, None);
        cut.pop();
        assert!(reader.open(&key, &cut).is_err());
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
        for url in [
            "redis://10.0.0.5:6379",
            "webdav+https://u:p@dav.example/ccfarm",
            "s3://bucket/prefix",
        ] {
            let err = check_exposure(url).unwrap_err();
            assert!(err.contains("needs credentials"), "{url}: {err}");
            assert!(!err.contains(":p@"), "{err}");
        }
    }
}
