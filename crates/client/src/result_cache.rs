//! The result cache as a compile uses it: the key of this job, a look-up before the
//! farm is asked, and the store of what the farm compiled; in direct mode, a look-up
//! before the preprocessor runs, and the manifest that makes the next one possible.
//! Keys, entries and manifests are `ccfarm_cache`'s; what is decided here is only where
//! their inputs come from.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;
use ccfarm_cache::manifest::{PREPROCESSOR_ENV, Read, files_read};
use ccfarm_cache::{
    DirectInputs, DiskCache, Entry, Key, KeyInputs, Manifest, NotCacheable, identity, request_key,
};
use ccfarm_proto::distcc::{Payload, Reply, Request, Version};

use crate::actions::Lookup;
use crate::job::Job;
use crate::shared_cache::{Found, SharedCache};

/// The cache directory and limit of this job's settings.
fn store(job: &Job<'_>) -> DiskCache {
    let settings = job.ctx.settings;
    DiskCache::new(&settings.state_dir.join("cache"), settings.cache_size)
}

/// The exact compiler: its identity (version and target, cached per binary) and the
/// binary's size and modification time, so a compiler replaced in place, even by one
/// reporting the same version, changes every key.
fn compiler_stamp(job: &Job<'_>) -> String {
    let identity = job.identity().map_or_else(
        || "unknown".to_owned(),
        |id| format!("{} {}", id.version, id.target),
    );
    let binary = std::fs::metadata(job.program)
        .map(|m| format!("{} {} {}", m.len(), m.mtime(), m.mtime_nsec()))
        .unwrap_or_default();
    format!("{identity} {} {binary}", job.program.display())
}

/// This job's key, or why it has none.
fn key_of(job: &Job<'_>, source: &[u8]) -> Result<Key, NotCacheable> {
    let cwd = std::env::current_dir()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    ccfarm_cache::key(&KeyInputs {
        compiler: &compiler_stamp(job),
        argv: job.argv,
        cwd: Some(&cwd),
        source,
    })
}

/// What the cache holds for this job, and the job's key for storing the farm's result
/// after a miss; every failure is a miss, said in the log.
pub(crate) fn look_up(job: &Job<'_>, source: &[u8]) -> (Lookup, Option<Key>) {
    let log = job.ctx.log;
    let key = match key_of(job, source) {
        Ok(key) => key,
        Err(why) => {
            log.info(&format!("not cached: {why}"));
            return (Lookup::NotCacheable(why.to_string()), None);
        }
    };
    let lookup = match store(job).get(&key) {
        Ok(Some(entry)) => Lookup::Hit(reply_of(entry)),
        Ok(None) => {
            log.info(&format!("cache miss for {}", job.job.input));
            Lookup::Miss
        }
        Err(e) => {
            log.warn(&format!("{e}; compiling instead"));
            Lookup::Unusable(e.to_string())
        }
    };
    (lookup, Some(key))
}

fn reply_of(entry: Entry) -> Reply {
    Reply {
        version: Version::V1,
        status: entry.status,
        stderr: Bytes::from(entry.stderr),
        stdout: Bytes::from(entry.stdout),
        object: Bytes::from(entry.object),
        dotd: entry.dotd.map(Bytes::from),
    }
}

/// Keep a successful remote compile's `reply` under the job's `key` for the next
/// identical job; whether it was stored.
pub(crate) fn keep(job: &Job<'_>, key: &Key, reply: &Reply) -> bool {
    if reply.status != 0 {
        return false;
    }
    let entry = Entry {
        status: reply.status,
        stdout: reply.stdout.to_vec(),
        stderr: reply.stderr.to_vec(),
        object: reply.object.to_vec(),
        dotd: reply.dotd.as_ref().map(|d| d.to_vec()),
    };
    match store(job).put(key, &entry) {
        Ok(()) => true,
        Err(e) => {
            job.ctx.log.warn(&format!("not stored in the cache: {e}"));
            false
        }
    }
}

/// A job that can be looked up directly: its manifest key, and when the job began (a
/// file changed since is not trusted when its manifest is written).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Direct {
    key: Key,
    started: SystemTime,
}

/// The largest manifest sent to the scheduler's shared cache: its frame, as base64,
/// must stay within the control connection's frame limit.
const MOST_SHARED_MANIFEST: usize = 160 * 1024;

impl Direct {
    /// The manifest key.
    pub(crate) fn key(&self) -> &Key {
        &self.key
    }
}

/// This job's direct look-up, unless it cannot be looked up directly.
pub(crate) fn direct_of(job: &Job<'_>) -> Option<Direct> {
    let started = SystemTime::now();
    if job.job.preprocessed || ccfarm_cache::cacheable(job.argv).is_err() {
        return None;
    }
    // `-fpch-preprocess` leaves the precompiled header's name, not its contents, in the
    // preprocessed text, so the files read would not cover it.
    if job.argv.iter().any(|a| a == "-fpch-preprocess") {
        return None;
    }
    let source = std::fs::read(&job.job.input).ok()?;
    let cwd = std::env::current_dir().ok()?;
    let env: Vec<String> = PREPROCESSOR_ENV
        .iter()
        .filter_map(|name| Some(format!("{name}={}", std::env::var(name).ok()?)))
        .collect();
    let key = ccfarm_cache::manifest_key(&DirectInputs {
        compiler: &compiler_stamp(job),
        argv: job.argv,
        cwd: &cwd.to_string_lossy(),
        env: &env,
        source: &source,
    });
    Some(Direct { key, started })
}

/// The reply of a direct hit in the local cache (its dependency file written). Every
/// failure is a miss.
pub(crate) fn look_up_direct(job: &Job<'_>, direct: &Direct) -> Option<Reply> {
    let store = store(job);
    let manifest = match store.get_manifest(&direct.key) {
        Ok(found) => found?,
        Err(e) => {
            job.ctx.log.warn(&format!("{e}; preprocessing instead"));
            return None;
        }
    };
    if !unchanged(job, &manifest) {
        return None;
    }
    let entry = match store.get(&manifest.result) {
        Ok(found) => found?,
        Err(e) => {
            job.ctx.log.warn(&format!("{e}; preprocessing instead"));
            return None;
        }
    };
    answer(job, &manifest, entry, "direct cache hit")
}

/// The reply of a direct hit in the farm's shared cache, from what a look-up `found`:
/// the user's own manifest for this job, and the entry a server stored. Every failure
/// is a miss.
pub(crate) fn shared_hit(job: &Job<'_>, found: Found) -> Option<Reply> {
    let manifest = Manifest::decode(&found.manifest?).ok()?;
    if !unchanged(job, &manifest) {
        return None;
    }
    let entry = Entry::decode(&found.entry?).ok()?;
    answer(job, &manifest, entry, "shared cache hit")
}

/// Whether every file `manifest` lists still has the contents it had.
fn unchanged(job: &Job<'_>, manifest: &Manifest) -> bool {
    for read in &manifest.reads {
        let same = std::fs::read(&read.path)
            .is_ok_and(|contents| blake3::hash(&contents).as_bytes() == &read.hash);
        if !same {
            job.ctx
                .log
                .info(&format!("direct look-up missed: {} changed", read.path));
            return false;
        }
    }
    true
}

/// `entry` as the reply of a direct hit, once the dependency file the preprocessor
/// would have written is written.
fn answer(job: &Job<'_>, manifest: &Manifest, entry: Entry, what: &str) -> Option<Reply> {
    match (job.job.dep_file(), &manifest.dotd) {
        (None, None) => {}
        (Some(path), Some(dotd)) => {
            if let Err(e) = crate::job::write_atomically(Path::new(&path), dotd) {
                job.ctx
                    .log
                    .warn(&format!("cannot write {path}: {e}; preprocessing instead"));
                return None;
            }
        }
        _ => return None,
    }
    job.ctx.log.info(&format!(
        "{what} for {}: {} files unchanged",
        job.job.input,
        manifest.reads.len()
    ));
    Some(reply_of(entry))
}

/// Whether `text` uses a macro that expands to the time of preprocessing: a result
/// found without preprocessing would carry another time.
fn mentions_the_time(text: &[u8]) -> bool {
    text.windows(2).enumerate().any(|(i, w)| {
        w == b"__" && {
            let rest = &text[i + 2..];
            rest.starts_with(b"DATE__")
                || rest.starts_with(b"TIME__")
                || rest.starts_with(b"TIMESTAMP__")
        }
    })
}

/// Write the manifests that let the next identical job skip the preprocessor: the files
/// `source` (the preprocessed text) says were read, with their hashes now, pointing at
/// the result under `key` in the local cache and, with `shared`, at the entry the
/// server stored in the farm's. Not written when a file changed after the job began, or
/// uses the time of preprocessing.
pub(crate) fn keep_manifest(
    job: &Job<'_>,
    direct: &Direct,
    key: &Key,
    source: &Bytes,
    shared: Option<&mut SharedCache>,
) {
    let log = job.ctx.log;
    let Some(manifest) = manifest_of(job, direct, key, source) else {
        return;
    };
    if let Err(e) = store(job).put_manifest(&direct.key, &manifest) {
        log.warn(&format!("direct-mode manifest not stored: {e}"));
    }
    let Some(cache) = shared else {
        return;
    };
    let Some(result) = server_key(job, source) else {
        return;
    };
    let bytes = Manifest { result, ..manifest }.encode();
    if bytes.len() > MOST_SHARED_MANIFEST {
        log.info("direct-mode manifest too large for the shared cache");
        return;
    }
    if let Err(e) = cache.keep(&direct.key, bytes) {
        log.info(&format!("shared cache: {e}; manifest not kept"));
    }
}

/// The key a server stores this job's result under in the farm's shared cache: the
/// request as it is sent (the arguments and the preprocessed source), under the
/// compiler's identity, which the scheduler matches to the server's.
fn server_key(job: &Job<'_>, source: &Bytes) -> Option<Key> {
    let compiler = job.identity()?;
    let request = Request {
        version: Version::V1,
        argv: job.server_argv(),
        payload: Payload::Preprocessed(source.clone()),
    };
    request_key(&identity(&compiler.version, &compiler.target), &request).ok()
}

/// The manifest of this job's compile, whose result is under `key`.
fn manifest_of(job: &Job<'_>, direct: &Direct, key: &Key, source: &[u8]) -> Option<Manifest> {
    let log = job.ctx.log;
    let mut reads = Vec::new();
    for path in files_read(source) {
        let newer = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_or(true, |modified| modified >= direct.started);
        if newer {
            log.info(&format!(
                "no direct-mode manifest: {path} changed during the compile"
            ));
            return None;
        }
        let Ok(contents) = std::fs::read(&path) else {
            log.info(&format!("no direct-mode manifest: cannot read {path}"));
            return None;
        };
        if mentions_the_time(&contents) {
            log.info(&format!(
                "no direct-mode manifest: {path} uses __DATE__ or __TIME__"
            ));
            return None;
        }
        reads.push(Read {
            path,
            hash: *blake3::hash(&contents).as_bytes(),
        });
    }
    let dotd = match job.job.dep_file() {
        Some(path) => Some(std::fs::read(&path).ok()?),
        None => None,
    };
    Some(Manifest {
        result: *key,
        reads,
        dotd,
    })
}
