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
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use ccfarm_cache::{Entry, FarmStore, Key, Lookup, NotCacheable, SharedStore};
use ccfarm_proto::distcc::{Reply, Request};
use ccfarm_trust::{Credentials, SealError};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::{debug, info, warn};

use crate::compilers::CompilerPolicy;

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
#[derive(Debug)]
pub struct ServerCache {
    store: FarmStore,
    /// Each resolved compiler's identity, found once (it runs the compiler).
    identities: Mutex<HashMap<String, Option<String>>>,
}

impl ServerCache {
    /// The cache on `store`; with `credentials`, entries are sealed with them and only
    /// entries sealed by a server of the same farm are served.
    pub fn new(
        store: SharedStore,
        credentials: Option<&Credentials>,
    ) -> Result<ServerCache, SealError> {
        Ok(ServerCache {
            store: FarmStore::new(store, credentials, true)?,
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
        let found = crate::compilers::identify_one(program)
            .map(|id| ccfarm_cache::identity(&id.version, &id.target));
        self.identities
            .lock()
            .expect("not poisoned")
            .insert(program.to_owned(), found.clone());
        found
    }

    /// The key of `request`, which runs the compiler at `program`: blocking (it may run
    /// the compiler once for its identity, and hashes the whole source).
    pub fn key_of(&self, program: &str, request: &Request) -> Result<Key, NotCacheable> {
        let identity = self.identity(program).ok_or(NotCacheable::NotACompile)?;
        ccfarm_cache::request_key(&identity, request)
    }

    /// What the store holds under `key`, checked, counted and timed.
    pub async fn look_up(&self, key: &Key, metrics: &CacheMetrics) -> Lookup {
        let started = Instant::now();
        let lookup = self.store.look_up(key).await;
        metrics
            .lookup_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.lookup(match &lookup {
            Lookup::Hit(_) => Outcome::hit,
            Lookup::Miss => Outcome::miss,
            Lookup::Refused(why) => {
                warn!(
                    category = "cache",
                    "shared cache entry {key} refused and removed: {why}"
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

    /// Store `entry` under `key`, sealed when this server has credentials.
    pub async fn keep(&self, key: Key, entry: Entry, metrics: &CacheMetrics) {
        match self.store.keep(&key, &entry).await {
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
pub async fn consult(
    cache: &Arc<ServerCache>,
    compilers: &CompilerPolicy,
    metrics: &CacheMetrics,
    request: &Request,
) -> (Option<Key>, Option<Reply>) {
    let argv0 = request
        .argv
        .first()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .unwrap_or_default();
    // A compiler that may not run is refused when the job is prepared; no key is needed.
    let Ok(program) = compilers.resolve(&argv0) else {
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
