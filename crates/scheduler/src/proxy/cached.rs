//! Answering a stock distcc client from the shared result cache (`cache = URL`), with
//! no server contacted.
//!
//! Once the whole request is in the spool, it is decoded and keyed exactly as a compile
//! server keys what it is sent: the identity of the compiler that would run it, the
//! arguments and the preprocessed source. The identity is the one registered servers
//! report for the compiler's name; the farm's servers store what they compile under
//! their own identity, so a hit is an object a server of this farm made for these
//! bytes. A farm whose servers run two versions under one name looks under both: either
//! is what the job would have got from one of its servers.
//!
//! The proxy only reads. A miss, a store that does not answer within its deadline, an
//! entry refused (altered, or not sealed by a server of this farm) or a request that
//! cannot be keyed all go to a server as before; only the lease waits for the request
//! to be complete, which a distcc client sends at once after preprocessing.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ccfarm_cache::{FarmStore, Key, Lookup, NotCacheable};
use ccfarm_proto::distcc::{Reply, RequestDecoder, Version};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::Conn;
use super::spool::Progress;
use crate::handle::Handle;
use crate::metrics::Metrics;

/// The largest request keyed: its source is read back into memory to be hashed, and a
/// larger one is compiled rather than held.
const MAX_KEYED: u64 = 64 << 20;

/// The shared result cache as the proxy reads it.
pub struct ProxyCache {
    store: FarmStore,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for ProxyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyCache")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl ProxyCache {
    /// A cache reading `store`, counting on `metrics`.
    pub fn new(store: FarmStore, metrics: Option<Arc<Metrics>>) -> ProxyCache {
        ProxyCache { store, metrics }
    }

    fn count(&self, result: &'static str, took: Option<std::time::Duration>) {
        if let Some(metrics) = &self.metrics {
            metrics.cache_lookup(result, took);
        }
    }
}

/// What keying a spooled request gave.
enum Keyed {
    /// The request's version and its key under each identity the farm has for its
    /// compiler.
    Keys(Version, Vec<Key>),
    /// It has no key, and why.
    NotCacheable(String),
}

impl Conn {
    /// The reply the shared cache holds for this connection's request, if any: waits
    /// for the whole request.
    pub(super) async fn cached_reply(
        &self,
        cache: &ProxyCache,
        handle: &Handle,
        mut rx: watch::Receiver<Progress>,
    ) -> Option<Reply> {
        let (spooled, name) = {
            let progress = rx.wait_for(|p| p.complete).await.ok()?;
            (progress.spooled, progress.job.as_ref()?.compiler.clone())
        };
        let identities = handle.identities(&name).await;
        let keyed = match self.key(spooled, identities).await {
            Ok(keyed) => keyed,
            Err(why) => Keyed::NotCacheable(why),
        };
        let (version, keys) = match keyed {
            Keyed::Keys(version, keys) => (version, keys),
            Keyed::NotCacheable(why) => {
                debug!(peer = %self.peer, "distcc proxy: not cached: {why}");
                cache.count("not_cacheable", None);
                return None;
            }
        };
        let started = Instant::now();
        let mut result = "miss";
        for key in keys {
            match cache.store.look_up(&key).await {
                Lookup::Hit(entry) => {
                    cache.count("hit", Some(started.elapsed()));
                    info!(peer = %self.peer, "distcc proxy: cache hit for {name} job {key}");
                    return Some(Reply {
                        version,
                        status: entry.status,
                        stderr: Bytes::from(entry.stderr),
                        stdout: Bytes::from(entry.stdout),
                        object: Bytes::from(entry.object),
                        dotd: None,
                    });
                }
                Lookup::Miss => {}
                Lookup::Refused(why) => {
                    warn!(
                        category = "cache",
                        "shared cache entry {key} refused and removed: {why}"
                    );
                    result = "refused";
                }
                Lookup::Unusable(why) => {
                    info!(
                        category = "cache",
                        "shared cache unusable, forwarding: {why}"
                    );
                    cache.count("unusable", Some(started.elapsed()));
                    return None;
                }
            }
        }
        cache.count(result, Some(started.elapsed()));
        None
    }

    /// Decode the spooled request (`spooled` bytes) and key it under each of the
    /// farm's `identities` for its compiler; off the runtime, as it hashes the source.
    async fn key(&self, spooled: u64, identities: Vec<(String, String)>) -> Result<Keyed, String> {
        if spooled > MAX_KEYED {
            return Ok(Keyed::NotCacheable(format!(
                "a request of {spooled} bytes is larger than the {MAX_KEYED} keyed"
            )));
        }
        if identities.is_empty() {
            return Ok(Keyed::NotCacheable(
                "no registered server reports this compiler's identity".into(),
            ));
        }
        let spool = self.spool.try_clone().map_err(|e| e.to_string())?;
        let limits = self.settings.limits.clone();
        tokio::task::spawn_blocking(move || {
            let mut bytes = vec![0; spooled as usize];
            spool
                .read_exact_at(&mut bytes, 0)
                .map_err(|e| format!("reading the spool: {e}"))?;
            let mut buf = BytesMut::from(&bytes[..]);
            let request = RequestDecoder::new(limits)
                .decode(&mut buf)
                .map_err(|e| e.to_string())?
                .ok_or("the spooled request is incomplete")?;
            let keys = identities
                .iter()
                .map(|(version, target)| {
                    ccfarm_cache::request_key(&ccfarm_cache::identity(version, target), &request)
                })
                .collect::<Result<Vec<Key>, NotCacheable>>();
            Ok(match keys {
                Ok(keys) => Keyed::Keys(request.version, keys),
                Err(why) => Keyed::NotCacheable(why.to_string()),
            })
        })
        .await
        .map_err(|e| e.to_string())?
    }
}
