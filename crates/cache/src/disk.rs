//! The local disk store: one file per entry under 256 subdirectories, within a size
//! limit, the least recently used evicted first.
//!
//! Each subdirectory holds the entries whose key starts with its byte, and is kept
//! within 1/256 of the limit when an entry is stored in it: a store reads one small
//! directory, never the whole cache, and with keys spread evenly the whole stays
//! within the limit. A hit sets the entry's modification time, which is its place in
//! the eviction order. Entries are written under a temporary name and renamed, so a
//! reader sees a whole entry or none; one that fails its checksum anyway is removed and
//! reported, never served.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::entry::{Entry, EntryError};
use crate::key::Key;
use crate::manifest::Manifest;

/// What the store could not do.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Reading or writing the store failed.
    #[error("cache {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// An entry was damaged or altered; it has been removed.
    #[error("cache entry {path} refused and removed: {source}")]
    Refused { path: PathBuf, source: EntryError },
}

/// A cache directory and its size limit.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
    limit: u64,
}

/// Files whose names start with this are entries being written.
const TEMPORARY: &str = ".tmp-";
/// What a manifest's file name ends with (an entry's is its key alone).
const MANIFEST: &str = ".manifest";

impl DiskCache {
    /// The store in `dir` (made when first written), holding at most `limit` bytes.
    pub fn new(dir: &Path, limit: u64) -> DiskCache {
        DiskCache {
            dir: dir.to_owned(),
            limit,
        }
    }

    fn subdir(&self, key: &Key) -> PathBuf {
        self.dir.join(format!("{:02x}", key.first_byte()))
    }

    fn path(&self, key: &Key) -> PathBuf {
        self.subdir(key).join(key.hex())
    }

    /// The entry stored under `key`, if any.
    pub fn get(&self, key: &Key) -> Result<Option<Entry>, CacheError> {
        self.read(self.path(key), Entry::decode)
    }

    /// The direct-mode manifest stored under `key` (a manifest key), if any.
    pub fn get_manifest(&self, key: &Key) -> Result<Option<Manifest>, CacheError> {
        self.read(self.manifest_path(key), Manifest::decode)
    }

    fn manifest_path(&self, key: &Key) -> PathBuf {
        self.subdir(key).join(format!("{}{MANIFEST}", key.hex()))
    }

    /// What `path` holds, decoded by `decode`: a file that fails is removed and reported.
    fn read<T>(
        &self,
        path: PathBuf,
        decode: impl Fn(&[u8]) -> Result<T, EntryError>,
    ) -> Result<Option<T>, CacheError> {
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CacheError::Io { path, source }),
        };
        match decode(&bytes) {
            Ok(entry) => {
                // Most recently used from now on; failing to say so only makes it an
                // earlier candidate for eviction.
                if let Ok(file) = fs::File::options().append(true).open(&path) {
                    let _ = file.set_modified(SystemTime::now());
                }
                Ok(Some(entry))
            }
            Err(source) => {
                let _ = fs::remove_file(&path);
                Err(CacheError::Refused { path, source })
            }
        }
    }

    /// Store `entry` under `key`, then keep its subdirectory within its share of the
    /// limit.
    pub fn put(&self, key: &Key, entry: &Entry) -> Result<(), CacheError> {
        self.write(key, self.path(key), &entry.encode())
    }

    /// Store a direct-mode `manifest` under `key` (a manifest key).
    pub fn put_manifest(&self, key: &Key, manifest: &Manifest) -> Result<(), CacheError> {
        self.write(key, self.manifest_path(key), &manifest.encode())
    }

    fn write(&self, key: &Key, path: PathBuf, bytes: &[u8]) -> Result<(), CacheError> {
        let subdir = self.subdir(key);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| CacheError::Io { path, source }
        };
        // The cache holds the user's compiled code: only the user may list or read it
        // (entries are written 0600 by `tempfile`).
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&subdir)
            .map_err(io(&subdir))?;
        let mut temporary = tempfile::Builder::new()
            .prefix(TEMPORARY)
            .tempfile_in(&subdir)
            .map_err(io(&subdir))?;
        temporary.write_all(bytes).map_err(io(temporary.path()))?;
        temporary.persist(&path).map_err(|e| CacheError::Io {
            path: path.clone(),
            source: e.error,
        })?;
        self.trim(&subdir, self.limit / 256)
    }

    /// Remove the least recently used entries of `subdir` until it holds at most
    /// `share` bytes (the entry just stored is kept even if it alone is larger).
    fn trim(&self, subdir: &Path, share: u64) -> Result<(), CacheError> {
        let mut entries = Vec::new();
        let listing = fs::read_dir(subdir).map_err(|source| CacheError::Io {
            path: subdir.to_owned(),
            source,
        })?;
        for item in listing.flatten() {
            let Ok(meta) = item.metadata() else { continue };
            let name = item.file_name();
            if !meta.is_file() || name.to_string_lossy().starts_with(TEMPORARY) {
                continue;
            }
            let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            entries.push((used, meta.len(), item.path()));
        }
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        if total <= share {
            return Ok(());
        }
        entries.sort();
        // Newest last: never remove the newest, which is the entry just stored.
        entries.pop();
        for (_, len, path) in entries {
            if total <= share {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
        Ok(())
    }

    /// Bytes and entries held now (reads the whole store).
    pub fn usage(&self) -> (u64, u64) {
        let (mut bytes, mut entries) = (0, 0);
        let Ok(subdirs) = fs::read_dir(&self.dir) else {
            return (0, 0);
        };
        for subdir in subdirs.flatten() {
            let Ok(items) = fs::read_dir(subdir.path()) else {
                continue;
            };
            for item in items.flatten() {
                if let Ok(meta) = item.metadata()
                    && meta.is_file()
                {
                    bytes += meta.len();
                    entries += 1;
                }
            }
        }
        (bytes, entries)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use super::*;
    use crate::key::{KeyInputs, key};

    fn key_for(source: &str) -> Key {
        let argv: Vec<String> = ["gcc", "-c", "a.c"].map(String::from).to_vec();
        key(&KeyInputs {
            compiler: "gcc 12",
            argv: &argv,
            cwd: Some("/"),
            source: source.as_bytes(),
        })
        .unwrap()
    }

    fn entry(object_len: usize) -> Entry {
        Entry {
            status: 0,
            stdout: Vec::new(),
            stderr: b"warning\n".to_vec(),
            object: vec![7; object_len],
            dotd: None,
        }
    }

    #[test]
    fn what_is_stored_is_found_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path(), 1 << 30);
        let (a, b) = (key_for("int a;"), key_for("int b;"));
        assert!(cache.get(&a).unwrap().is_none());
        cache.put(&a, &entry(100)).unwrap();
        assert_eq!(cache.get(&a).unwrap(), Some(entry(100)));
        assert!(cache.get(&b).unwrap().is_none());
        assert_eq!(cache.usage().1, 1);
    }

    #[test]
    fn only_the_user_can_read_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let cache = DiskCache::new(&root, 1 << 30);
        let k = key_for("int a;");
        cache.put(&k, &entry(10)).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&cache.subdir(&k)), 0o700);
        assert_eq!(mode(&cache.path(&k)), 0o600);
    }

    #[test]
    fn a_tampered_entry_is_refused_removed_and_then_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path(), 1 << 30);
        let k = key_for("int a;");
        cache.put(&k, &entry(100)).unwrap();
        let path = cache.path(&k);
        let mut bytes = fs::read(&path).unwrap();
        let at = bytes.len() - 40;
        bytes[at] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        assert!(matches!(
            cache.get(&k),
            Err(CacheError::Refused {
                source: EntryError::Checksum,
                ..
            })
        ));
        assert!(!path.exists());
        assert!(cache.get(&k).unwrap().is_none());
    }

    #[test]
    fn the_least_recently_used_entries_go_first() {
        let dir = tempfile::tempdir().unwrap();
        // Room for about three 1000-byte entries per subdirectory.
        let cache = DiskCache::new(dir.path(), 256 * 3400);
        // Keys that share a subdirectory, so that they compete for its share.
        let mut keys = Vec::new();
        let mut i = 0;
        while keys.len() < 5 {
            let k = key_for(&format!("int v{i};"));
            if k.first_byte() == 0x42 {
                keys.push(k);
            }
            i += 1;
        }
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs);
        for (n, k) in keys[..3].iter().enumerate() {
            cache.put(k, &entry(1000)).unwrap();
            let file = fs::File::options()
                .append(true)
                .open(cache.path(k))
                .unwrap();
            file.set_modified(at(n as u64)).unwrap();
        }
        // The oldest is used again: it is now the most recent.
        assert!(cache.get(&keys[0]).unwrap().is_some());
        cache.put(&keys[3], &entry(1000)).unwrap();
        cache.put(&keys[4], &entry(1000)).unwrap();
        let kept: Vec<bool> = keys.iter().map(|k| cache.path(k).exists()).collect();
        assert_eq!(kept, [true, false, false, true, true]);
        assert!(cache.usage().0 <= 256 * 3400);
    }
}
