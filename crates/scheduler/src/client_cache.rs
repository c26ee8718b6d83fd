//! The shared result cache as `ccfarm` clients reach it through the scheduler
//! (`cache = URL`): direct-mode manifests and the entries they point at, so that a
//! client whose own cache is empty skips the preprocessor for what the farm compiled
//! before.
//!
//! The per-compile client links no store library; it asks over its control connection,
//! and the scheduler reads the store with the same checks the proxy makes. Entries are
//! served only as servers wrote them (sealed by a server of the farm, on a farm with
//! credentials). Manifests are what clients send after a compile, and no reader could
//! check one without preprocessing, so the scheduler files each under the user who sent
//! it (the user its certificate proves, on a farm with credentials) and seals it: a
//! user's look-ups read only that user's own manifests, and no one else who can write
//! the store can plant one.

use std::sync::Arc;

use ccfarm_cache::manifest::writer_key;
use ccfarm_cache::{FarmStore, Key, Lookup, Manifest};
use ccfarm_proto::farm::{Blob, CacheItem, MAX_CACHE_BLOB};
use tracing::{debug, info};

use crate::metrics::Metrics;

/// The shared cache the scheduler's clients read (entries and their own manifests) and
/// write (their manifests).
pub struct ClientCache {
    entries: FarmStore,
    manifests: FarmStore,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for ClientCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCache")
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

impl ClientCache {
    /// A cache reading `entries` (as servers sealed them) and reading and writing
    /// `manifests` (sealed by this scheduler), counting on `metrics`.
    pub fn new(entries: FarmStore, manifests: FarmStore, metrics: Arc<Metrics>) -> ClientCache {
        ClientCache {
            entries,
            manifests,
            metrics,
        }
    }

    /// What the store holds for `user` under `key` (hexadecimal): their own manifest, or
    /// an entry. Every failure is "nothing", counted by reason.
    pub async fn look_up(&self, user: &str, item: CacheItem, key: &str) -> Option<Blob> {
        let label = match item {
            CacheItem::Manifest => "manifest",
            CacheItem::Entry => "entry",
        };
        let Some(key) = Key::from_hex(key) else {
            self.metrics.client_cache(label, "invalid");
            return None;
        };
        let (result, found) = match item {
            CacheItem::Manifest => {
                let filed = writer_key(user, &key);
                outcome(self.manifests.look_up_manifest(&filed).await, |m| {
                    m.encode()
                })
            }
            CacheItem::Entry => outcome(self.entries.look_up(&key).await, |e| e.encode()),
        };
        let (result, found) = match found {
            Some(bytes) if bytes.len() > MAX_CACHE_BLOB => ("too_large", None),
            found => (result, found),
        };
        self.metrics.client_cache(label, result);
        debug!(user, item = label, key = %key.hex(), result, "client cache look-up");
        found.map(Blob)
    }

    /// Keep `manifest`, sent by `user` for the manifest key `key` (hexadecimal), filed
    /// under that user. What is not a manifest is not kept.
    pub async fn keep(&self, user: &str, key: &str, manifest: &Blob) {
        let (Some(key), Ok(manifest)) = (Key::from_hex(key), Manifest::decode(&manifest.0)) else {
            self.metrics.client_cache("keep", "invalid");
            return;
        };
        let result = match self
            .manifests
            .keep_manifest(&writer_key(user, &key), &manifest)
            .await
        {
            Ok(()) => "stored",
            Err(e) => {
                info!(
                    user,
                    "a client's manifest not stored in the shared cache: {e}"
                );
                "not_stored"
            }
        };
        self.metrics.client_cache("keep", result);
    }
}

/// A look-up's result label, and the bytes to send for a hit.
fn outcome<T>(
    lookup: Lookup<T>,
    encode: impl Fn(&T) -> Vec<u8>,
) -> (&'static str, Option<Vec<u8>>) {
    match lookup {
        Lookup::Hit(found) => ("hit", Some(encode(&found))),
        Lookup::Miss => ("miss", None),
        Lookup::Refused(why) => {
            info!("refused an entry of the shared cache: {why}");
            ("refused", None)
        }
        Lookup::Unusable(_) => ("unusable", None),
    }
}
