//! The result cache as a compile uses it: the key of this job, a look-up before the
//! farm is asked, and the store of what the farm compiled. The key and the store are
//! `ccfarm_cache`'s; what is decided here is only where the inputs come from.

use std::os::unix::fs::MetadataExt;

use bytes::Bytes;
use ccfarm_cache::{DiskCache, Entry, Key, KeyInputs, NotCacheable};
use ccfarm_proto::distcc::{Reply, Version};

use crate::actions::Lookup;
use crate::job::Job;

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
        Ok(Some(entry)) => Lookup::Hit(Reply {
            version: Version::V1,
            status: entry.status,
            stderr: Bytes::from(entry.stderr),
            stdout: Bytes::from(entry.stdout),
            object: Bytes::from(entry.object),
            dotd: entry.dotd.map(Bytes::from),
        }),
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

/// Keep a successful remote compile's `reply` under the job's `key` for the next
/// identical job.
pub(crate) fn keep(job: &Job<'_>, key: &Key, reply: &Reply) {
    if reply.status != 0 {
        return;
    }
    let entry = Entry {
        status: reply.status,
        stdout: reply.stdout.to_vec(),
        stderr: reply.stderr.to_vec(),
        object: reply.object.to_vec(),
        dotd: reply.dotd.as_ref().map(|d| d.to_vec()),
    };
    if let Err(e) = store(job).put(key, &entry) {
        job.ctx.log.warn(&format!("not stored in the cache: {e}"));
    }
}
