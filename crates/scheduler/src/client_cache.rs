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
use ccfarm_proto::farm::{Blob, MAX_CACHE_BLOB};
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

    /// What the store holds for `user` under the manifest key `key` (hexadecimal):
    /// their own manifest, and the entry it names. Every failure is "nothing", counted
    /// by reason.
    pub async fn look_up(&self, user: &str, key: &str) -> (Option<Blob>, Option<Blob>) {
        let Some(key) = Key::from_hex(key) else {
            self.metrics.client_cache("manifest", "invalid");
            return (None, None);
        };
        let filed = writer_key(user, &key);
        let manifest = match self.manifests.look_up_manifest(&filed).await {
            Lookup::Hit(manifest) => manifest,
            other => {
                self.metrics.client_cache("manifest", outcome(&other));
                return (None, None);
            }
        };
        self.metrics.client_cache("manifest", "hit");
        let entry = match self.entries.look_up(&manifest.result).await {
            Lookup::Hit(entry) => Some(entry.encode()),
            other => {
                self.metrics.client_cache("entry", outcome(&other));
                None
            }
        };
        let entry = match entry {
            Some(bytes) if bytes.len() > MAX_CACHE_BLOB => {
                self.metrics.client_cache("entry", "too_large");
                None
            }
            Some(bytes) => {
                self.metrics.client_cache("entry", "hit");
                Some(Blob(bytes))
            }
            None => None,
        };
        debug!(user, key = %key.hex(), entry = entry.is_some(), "a client's direct look-up");
        (Some(Blob(manifest.encode())), entry)
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

/// The result label of a look-up that found nothing usable.
fn outcome<T>(lookup: &Lookup<T>) -> &'static str {
    match lookup {
        Lookup::Hit(_) => "hit",
        Lookup::Miss => "miss",
        Lookup::Refused(why) => {
            info!("refused an entry of the shared cache: {why}");
            "refused"
        }
        Lookup::Unusable(_) => "unusable",
    }
}
