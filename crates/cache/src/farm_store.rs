//! A shared store as the farm uses it: entries sealed by the server that wrote them,
//! and served only when the seal holds.
//!
//! Compile servers write entries (they store what they compiled themselves); the
//! scheduler's proxy, the scheduler's clients and the servers read. The scheduler
//! writes direct-mode manifests, each filed under the user who sent it
//! ([`crate::manifest::writer_key`]). With credentials, a writer seals what it stores
//! with its farm key and a reader serves only what a member of the writing role sealed
//! for that key; without credentials (loopback, or `--insecure`) only the bytes' own
//! checksum is checked. Whatever is refused for either reason is removed, so the next
//! compile replaces it.

use std::time::SystemTime;

use ccfarm_trust::{Credentials, Role, SealChecker, SealError, Sealer};

use crate::entry::Entry;
use crate::key::Key;
use crate::manifest::Manifest;
use crate::sealed::{self, Seal};
use crate::shared::{SharedError, SharedStore};

/// What the store had for a job (an entry, or a manifest).
#[derive(Debug)]
pub enum Lookup<T = Entry> {
    /// A whole entry, from a writer this reader trusts.
    Hit(T),
    /// Nothing under the key.
    Miss,
    /// An entry that is not served (altered, cut short, or not sealed by a server of the
    /// farm for this key); it has been removed.
    Refused(String),
    /// The store could not answer (down, slow, refusing): a miss.
    Unusable(String),
}

/// A shared store with the farm's seals.
pub struct FarmStore {
    store: SharedStore,
    sealer: Option<Sealer>,
    checker: Option<SealChecker>,
}

impl std::fmt::Debug for FarmStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FarmStore")
            .field("store", &self.store.describe())
            .field("checks_seals", &self.checker.is_some())
            .finish_non_exhaustive()
    }
}

impl FarmStore {
    /// `store` as a farm member with `credentials` (if any) uses it for entries, which
    /// servers write; a `writer` seals what it stores with them.
    pub fn new(
        store: SharedStore,
        credentials: Option<&Credentials>,
        writer: bool,
    ) -> Result<FarmStore, SealError> {
        FarmStore::written_by(store, credentials, writer, Role::Server)
    }

    /// `store` for what members of the role `sealer` write and seal (servers their
    /// entries, the scheduler its users' manifests).
    pub fn written_by(
        store: SharedStore,
        credentials: Option<&Credentials>,
        writer: bool,
        sealer: Role,
    ) -> Result<FarmStore, SealError> {
        let (sealer, checker) = match credentials {
            Some(credentials) => (
                writer.then(|| Sealer::new(credentials)).transpose()?,
                Some(SealChecker::new(credentials, sealer)?),
            ),
            None => (None, None),
        };
        Ok(FarmStore {
            store,
            sealer,
            checker,
        })
    }

    /// The store, for messages.
    pub fn describe(&self) -> &str {
        self.store.describe()
    }

    /// Whether entries are sealed and seals checked.
    pub fn checks_seals(&self) -> bool {
        self.checker.is_some()
    }

    /// The entry the store holds under `key`, checked.
    pub async fn look_up(&self, key: &Key) -> Lookup {
        self.fetch(key, |bytes| Entry::decode(bytes).map_err(|e| e.to_string()))
            .await
    }

    /// The manifest the store holds under `key`, checked.
    pub async fn look_up_manifest(&self, key: &Key) -> Lookup<Manifest> {
        self.fetch(key, |bytes| {
            Manifest::decode(bytes).map_err(|e| e.to_string())
        })
        .await
    }

    async fn fetch<T>(&self, key: &Key, decode: impl Fn(&[u8]) -> Result<T, String>) -> Lookup<T> {
        match self.store.get(key).await {
            Ok(None) => Lookup::Miss,
            Ok(Some(bytes)) => match self.open(key, &bytes).and_then(&decode) {
                Ok(found) => Lookup::Hit(found),
                Err(why) => {
                    // A refused entry would be refused again; the next compile
                    // replaces it. Failing to remove it only costs that.
                    let _ = self.store.remove(key).await;
                    Lookup::Refused(why)
                }
            },
            Err(e) => Lookup::Unusable(e.to_string()),
        }
    }

    /// Store `entry` under `key`, sealed when this member seals.
    pub async fn keep(&self, key: &Key, entry: &Entry) -> Result<(), SharedError> {
        self.keep_bytes(key, entry.encode()).await
    }

    /// Store `manifest` under `key`, sealed when this member seals.
    pub async fn keep_manifest(&self, key: &Key, manifest: &Manifest) -> Result<(), SharedError> {
        self.keep_bytes(key, manifest.encode()).await
    }

    async fn keep_bytes(&self, key: &Key, bytes: Vec<u8>) -> Result<(), SharedError> {
        let seal = self.sealer.as_ref().map(|sealer| {
            let (cert, signature) = sealer.seal(&sealed::message(key, &bytes));
            Seal { cert, signature }
        });
        self.store
            .put(key, sealed::encode(&bytes, seal.as_ref()))
            .await
    }

    /// What `bytes` stored under `key` hold, if from a trusted writer.
    fn open<'b>(&self, key: &Key, bytes: &'b [u8]) -> Result<&'b [u8], String> {
        let (entry, seal) = sealed::decode(bytes).map_err(|e| e.to_string())?;
        if let Some(checker) = &self.checker {
            let Some(Seal { cert, signature }) = seal else {
                return Err("not sealed by a member of this farm".into());
            };
            let message = sealed::message(key, entry);
            checker
                .check(&cert, &message, &signature, SystemTime::now())
                .map_err(|e| e.to_string())?;
        }
        Ok(entry)
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
        Credentials::issued(farm, &issued).unwrap()
    }

    fn reader(credentials: Option<&Credentials>) -> FarmStore {
        // Opening a store contacts nothing; these tests never reach it.
        let store =
            SharedStore::open("redis://127.0.0.1:9", Duration::from_millis(10), 1 << 20).unwrap();
        FarmStore::new(store, credentials, false).unwrap()
    }

    /// What `reader` serves of `bytes` under `key`, as an entry.
    fn opened(reader: &FarmStore, key: &Key, bytes: &[u8]) -> Result<Entry, String> {
        reader
            .open(key, bytes)
            .and_then(|b| Entry::decode(b).map_err(|e| e.to_string()))
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
    fn a_member_with_credentials_serves_only_what_a_server_of_its_farm_sealed_for_that_key() {
        let farm = Authority::create("farm", SystemTime::now()).unwrap();
        let reader = reader(Some(&member(&farm, Role::Scheduler, "scheduler")));
        let writer = member(&farm, Role::Server, "build2");
        let key = Key::from_bytes([1; 32]);
        let entry = entry();

        assert!(opened(&reader, &key, &sealed_by(&writer, &key, &entry)).is_ok());

        let err = opened(&reader, &key, &sealed::encode(&entry, None)).unwrap_err();
        assert!(err.contains("not sealed"), "{err}");

        let user = member(&farm, Role::User, "mallory");
        let err = opened(&reader, &key, &sealed_by(&user, &key, &entry)).unwrap_err();
        assert!(err.contains("only server may write"), "{err}");

        let moved = sealed_by(&writer, &Key::from_bytes([2; 32]), &entry);
        assert!(
            opened(&reader, &key, &moved).is_err(),
            "an entry moved to another key"
        );

        // Altered after sealing, its own checksum recomputed.
        let mut forged = Entry::decode(&entry).unwrap();
        forged.object = b"\x7fELF planted".to_vec();
        let mut altered = sealed_by(&writer, &key, &entry);
        altered.truncate(altered.len() - entry.len());
        altered.extend_from_slice(&forged.encode());
        let err = opened(&reader, &key, &altered).unwrap_err();
        assert!(err.contains("signature"), "{err}");

        let elsewhere = Authority::create("elsewhere", SystemTime::now()).unwrap();
        let stranger = member(&elsewhere, Role::Server, "build2");
        assert!(opened(&reader, &key, &sealed_by(&stranger, &key, &entry)).is_err());
    }

    #[test]
    fn a_member_without_credentials_checks_only_the_entry_itself() {
        let reader = reader(None);
        let key = Key::from_bytes([1; 32]);
        let entry = entry();
        assert!(opened(&reader, &key, &sealed::encode(&entry, None)).is_ok());
        let mut cut = sealed::encode(&entry, None);
        cut.pop();
        assert!(opened(&reader, &key, &cut).is_err());
    }

    #[test]
    fn manifests_are_served_only_when_the_scheduler_sealed_them() {
        let farm = Authority::create("farm", SystemTime::now()).unwrap();
        let scheduler = member(&farm, Role::Scheduler, "sched");
        let store =
            SharedStore::open("redis://127.0.0.1:9", Duration::from_millis(10), 1 << 20).unwrap();
        let manifests =
            FarmStore::written_by(store, Some(&scheduler), true, Role::Scheduler).unwrap();
        let key = Key::from_bytes([4; 32]);
        let manifest = Manifest {
            result: Key::from_bytes([8; 32]),
            reads: vec![],
            dotd: None,
        }
        .encode();
        assert!(
            manifests
                .open(&key, &sealed_by(&scheduler, &key, &manifest))
                .is_ok()
        );
        let user = member(&farm, Role::User, "mallory");
        assert!(
            manifests
                .open(&key, &sealed_by(&user, &key, &manifest))
                .is_err()
        );
        let server = member(&farm, Role::Server, "build1");
        assert!(
            manifests
                .open(&key, &sealed_by(&server, &key, &manifest))
                .is_err()
        );
    }
}
