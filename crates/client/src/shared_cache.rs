//! The farm's shared result cache, reached through the scheduler (when its welcome
//! says it has one): the user's direct-mode manifests and the entries servers stored.
//!
//! The per-compile client links no store library; the scheduler reads and writes the
//! store for it, and checks what it serves. A look-up is sent with the hello, and the
//! scheduler answers a manifest together with the entry it names, so a hit costs one
//! exchange. Every look-up has a deadline, and every failure is a miss: the job is then
//! preprocessed and compiled as without the cache.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use ccfarm_cache::Key;
use ccfarm_proto::farm::{self, Blob, FromScheduler, MAX_CACHE_FRAME, ToScheduler};

use crate::channel::Channel;
use crate::lease::{self, Caller, LeaseError};

/// The longest a look-up waits for its answer: the scheduler answers within its store's
/// deadline (300 ms by default) for each of the manifest and the entry, and a cache
/// slower than this is worth less than the preprocessor it would save.
pub const LOOK_UP_WAIT: Duration = Duration::from_secs(2);

/// How long a connection is used after it was opened. The scheduler pings a client
/// connection that has been silent for 5 s (by default) and cuts it off when the ping
/// stays unanswered, and this client does not listen while its job compiles: a
/// manifest is sent on a new connection after a longer compile.
const FRESH_FOR: Duration = Duration::from_secs(4);

/// A connection to a scheduler with a shared cache.
#[derive(Debug)]
pub struct SharedCache {
    stream: Channel,
    buf: BytesMut,
    scheduler: String,
    opened: Instant,
}

/// What a look-up found: the user's manifest, and the entry it names.
#[derive(Debug, Default)]
pub struct Found {
    /// The manifest's bytes.
    pub manifest: Option<Vec<u8>>,
    /// The entry's bytes.
    pub entry: Option<Vec<u8>>,
}

/// Connect to `scheduler` as `caller` and, with `key`, look up the manifest under it:
/// the connection, or `None` when the scheduler has no shared cache, and what was found.
pub fn open(
    scheduler: &str,
    caller: Caller<'_>,
    connect: Duration,
    key: Option<&Key>,
) -> Result<(Option<SharedCache>, Found), LeaseError> {
    // Sent with the hello: a scheduler without a cache answers "nothing", and one too
    // old to know the message refuses the connection, which is a miss.
    let ask = key.map(|key| ToScheduler::CacheLookUp {
        request: 1,
        key: key.hex(),
    });
    let greeted = lease::greet(scheduler, caller, connect, LOOK_UP_WAIT + connect, ask)?;
    if !greeted.cache {
        return Ok((None, Found::default()));
    }
    let mut cache = SharedCache {
        stream: greeted.stream,
        buf: greeted.buf,
        scheduler: scheduler.to_owned(),
        opened: Instant::now(),
    };
    let found = match key {
        Some(_) => cache.answer(1)?,
        None => Found::default(),
    };
    Ok((Some(cache), found))
}

impl SharedCache {
    /// Whether the connection may have been cut off for its silence since it opened.
    pub fn stale(&self) -> bool {
        self.opened.elapsed() >= FRESH_FOR
    }

    /// Ask the scheduler to keep `manifest` (its bytes) under the manifest key `key`,
    /// for this user's later look-ups.
    pub fn keep(&mut self, key: &Key, manifest: Vec<u8>) -> Result<(), LeaseError> {
        self.send(&ToScheduler::CacheKeep {
            key: key.hex(),
            manifest: Blob(manifest),
        })
    }

    /// The answer to look-up `request`, within [`LOOK_UP_WAIT`].
    fn answer(&mut self, request: u64) -> Result<Found, LeaseError> {
        let deadline = Instant::now() + LOOK_UP_WAIT;
        let message = lease::answer(
            &self.stream,
            &mut self.buf,
            &self.scheduler,
            deadline,
            MAX_CACHE_FRAME,
        )?;
        match message {
            FromScheduler::CacheFound {
                request: r,
                manifest,
                entry,
            } if r == request => Ok(Found {
                manifest: manifest.map(|b| b.0),
                entry: entry.map(|b| b.0),
            }),
            FromScheduler::Refused { reason } => {
                Err(LeaseError::Refused(self.scheduler.clone(), reason))
            }
            other => Err(LeaseError::Protocol(
                self.scheduler.clone(),
                format!("expected a cache answer, got {other:?}"),
            )),
        }
    }

    fn send(&self, message: &ToScheduler) -> Result<(), LeaseError> {
        self.stream
            .write_all(&farm::encode(message))
            .map_err(|e| self.io(e))
    }

    fn io(&self, e: std::io::Error) -> LeaseError {
        LeaseError::Io(self.scheduler.clone(), e)
    }
}
