//! The farm's shared result cache, reached through the scheduler (when its welcome
//! says it has one): the user's direct-mode manifests and the entries servers stored.
//!
//! The per-compile client links no store library; the scheduler reads and writes the
//! store for it, and checks what it serves. Every look-up has a deadline, and every
//! failure is a miss: the job is then preprocessed and compiled as without the cache.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use ccfarm_cache::Key;
use ccfarm_proto::farm::{self, Blob, CacheItem, FromScheduler, MAX_CACHE_FRAME, ToScheduler};

use crate::channel::Channel;
use crate::lease::{self, Caller, LeaseError};

/// The longest a look-up waits for its answer: the scheduler answers within its store's
/// deadline (300 ms by default), and a cache slower than this is worth less than the
/// preprocessor it would save.
pub const LOOK_UP_WAIT: Duration = Duration::from_secs(2);

/// A connection to a scheduler with a shared cache.
#[derive(Debug)]
pub struct SharedCache {
    stream: Channel,
    buf: BytesMut,
    scheduler: String,
    next_request: u64,
}

/// Connect to `scheduler` as `caller`: the cache, or `None` when the scheduler has none.
pub fn open(
    scheduler: &str,
    caller: Caller<'_>,
    connect: Duration,
) -> Result<Option<SharedCache>, LeaseError> {
    let greeted = lease::greet(scheduler, caller, connect, LOOK_UP_WAIT + connect, None)?;
    Ok(greeted.cache.then(|| SharedCache {
        stream: greeted.stream,
        buf: greeted.buf,
        scheduler: scheduler.to_owned(),
        next_request: 1,
    }))
}

impl SharedCache {
    /// The bytes of `item` under `key`, checked by the scheduler (the user's own
    /// manifest, or an entry a server of the farm stored), if it has them.
    pub fn look_up(&mut self, item: CacheItem, key: &Key) -> Result<Option<Vec<u8>>, LeaseError> {
        let request = self.next_request;
        self.next_request += 1;
        let ask = ToScheduler::CacheLookUp {
            request,
            item,
            key: key.hex(),
        };
        self.send(&ask)?;
        let deadline = Instant::now() + LOOK_UP_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.io(std::io::ErrorKind::TimedOut.into()));
            }
            self.stream
                .socket()
                .set_read_timeout(Some(left))
                .map_err(|e| self.io(e))?;
            match lease::read(
                &self.stream,
                &mut self.buf,
                &self.scheduler,
                MAX_CACHE_FRAME,
            )? {
                FromScheduler::CacheFound { request: r, bytes } if r == request => {
                    return Ok(bytes.map(|b| b.0));
                }
                FromScheduler::Ping => self.send(&ToScheduler::Pong)?,
                FromScheduler::Refused { reason } => {
                    return Err(LeaseError::Refused(self.scheduler.clone(), reason));
                }
                other => {
                    return Err(LeaseError::Protocol(
                        self.scheduler.clone(),
                        format!("expected a cache answer, got {other:?}"),
                    ));
                }
            }
        }
    }

    /// Ask the scheduler to keep `manifest` (its bytes) under the manifest key `key`,
    /// for this user's later look-ups.
    pub fn keep(&mut self, key: &Key, manifest: Vec<u8>) -> Result<(), LeaseError> {
        self.send(&ToScheduler::CacheKeep {
            key: key.hex(),
            manifest: Blob(manifest),
        })
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
