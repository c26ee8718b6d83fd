//! The measured work: client connections cycling Request → Grant → Release, and the
//! bookkeeping of what they saw.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ccfarm_proto::farm::{FromScheduler, JobDescription, JobResult, Role, ToScheduler};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};

use crate::wire::Conn;

/// Slots are free throughout the run, so a grant that takes this long is lost, not late.
const GRANT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections opened at once: the scheduler's listen backlog is finite, and a dropped
/// SYN costs a one-second retransmit that would distort the set-up, not the figures.
const CONNECT_CONCURRENCY: usize = 128;

/// The measurement window: cycles whose request is sent before `start` are warm-up.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

/// Failures, by kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct Errors {
    /// `CompileLocally` although slots were free.
    pub compile_locally: u64,
    /// `Refused`.
    pub refused: u64,
    /// No grant within [`GRANT_TIMEOUT`].
    pub timeouts: u64,
    /// Connect, read or write failures, or the scheduler closing the connection.
    pub io: u64,
    /// Any other message, or a grant for another request.
    pub unexpected: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.compile_locally + self.refused + self.timeouts + self.io + self.unexpected
    }

    pub fn add(&mut self, other: &Errors) {
        self.compile_locally += other.compile_locally;
        self.refused += other.refused;
        self.timeouts += other.timeouts;
        self.io += other.io;
        self.unexpected += other.unexpected;
    }
}

/// What one client saw.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Grant latencies inside the window, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Grant + release cycles whose request was sent inside the window and whose grant
    /// came before its end.
    pub cycles: u64,
    /// Every request sent and grant received, warm-up and tail included, to compare
    /// with the scheduler's own counters.
    pub requests: u64,
    pub grants: u64,
    /// Speculative copies offered and leases cancelled: the scheduler's doing, not
    /// failures, but extra work on the measured path.
    pub speculations: u64,
    pub cancels: u64,
    pub errors: Errors,
}

/// Open `count` connections with the roles `role(i)`, a bounded number at a time.
/// Connections that fail are counted, not retried.
pub async fn open_many(
    addr: SocketAddr,
    count: usize,
    role: impl Fn(usize) -> Role,
) -> (Vec<Conn>, Vec<anyhow::Error>) {
    let permits = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut set = JoinSet::new();
    for i in 0..count {
        let permits = permits.clone();
        let role = role(i);
        set.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            Conn::open(addr, role).await
        });
    }
    let mut conns = Vec::with_capacity(count);
    let mut errors = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined.expect("connect tasks do not panic") {
            Ok(conn) => conns.push(conn),
            Err(e) => errors.push(e),
        }
    }
    (conns, errors)
}

/// Answer what the scheduler may send a client at any time: a ping; the cancel of a
/// lease already released (counted); a speculative copy of a job already released here,
/// released at once as the protocol asks (the scheduler ignores the release if it has
/// cancelled the copy meanwhile). Anything else comes back; `Err` when an answer could
/// not be sent.
async fn aside(
    conn: &mut Conn,
    stats: &mut ClientStats,
    message: FromScheduler,
    duration_ms: u64,
) -> Result<Option<FromScheduler>, ()> {
    let answer = match message {
        FromScheduler::Ping => ToScheduler::Pong,
        FromScheduler::Cancel { .. } => {
            stats.cancels += 1;
            return Ok(None);
        }
        FromScheduler::Speculate { new_lease, .. } => {
            stats.speculations += 1;
            ToScheduler::Release {
                lease: new_lease,
                result: JobResult::Ok,
                duration_ms,
            }
        }
        other => return Ok(Some(other)),
    };
    conn.send(&answer).await.map(|_| None).map_err(|_| ())
}

/// Cycle until the window ends. The connection comes back (for the caller to keep open
/// until it has checked that every lease was returned) unless it failed.
///
/// With a `period`, requests are paced (one per period, phases spread over the clients
/// by `phase`); a cycle that overruns skips the requests it missed rather than bursting
/// to catch up. Without, each request follows the previous release at once.
pub async fn cycle(
    mut conn: Conn,
    index: usize,
    window: Window,
    duration_ms: u64,
    pace: Option<(Duration, Duration)>,
) -> (ClientStats, Option<Conn>) {
    let mut stats = ClientStats::default();
    let mut ticks = pace.map(|(period, phase)| {
        let mut t = tokio::time::interval_at(Instant::now() + phase, period);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        t
    });
    let job = JobDescription {
        compiler: "gcc".into(),
        source: format!("src/file{index}.c"),
        preprocessed_bytes: Some(200_000),
        previous_ms: None,
        previous_server: None,
        compiler_identity: None,
        avoid: Vec::new(),
        local_slots: 0,
    };
    let mut number = 0u64;
    loop {
        if let Some(ticks) = &mut ticks {
            // Idle until the next request, but answering the scheduler's pings, as a
            // client waiting for work of its own does.
            loop {
                tokio::select! {
                    _ = ticks.tick() => break,
                    message = conn.recv() => match message {
                        Ok(message) => match aside(&mut conn, &mut stats, message, duration_ms).await {
                            Ok(None) => {}
                            Ok(Some(_)) => {
                                stats.errors.unexpected += 1;
                                return (stats, None);
                            }
                            Err(()) => {
                                stats.errors.io += 1;
                                return (stats, None);
                            }
                        },
                        Err(_) => {
                            stats.errors.io += 1;
                            return (stats, None);
                        }
                    },
                }
            }
        }
        let sent = Instant::now();
        if sent >= window.end {
            return (stats, Some(conn));
        }
        number += 1;
        let request = ToScheduler::Request {
            request: number,
            job: job.clone(),
        };
        if conn.send(&request).await.is_err() {
            stats.errors.io += 1;
            return (stats, None);
        }
        stats.requests += 1;
        let lease = loop {
            let reply = timeout(GRANT_TIMEOUT, conn.recv()).await;
            match reply {
                Ok(Ok(FromScheduler::Grant { request, lease, .. })) if request == number => {
                    break Some(lease);
                }
                Ok(Ok(FromScheduler::CompileLocally { .. })) => {
                    stats.errors.compile_locally += 1;
                    break None;
                }
                Ok(Ok(FromScheduler::Refused { .. })) => {
                    stats.errors.refused += 1;
                    return (stats, None);
                }
                Ok(Ok(message)) => match aside(&mut conn, &mut stats, message, duration_ms).await {
                    Ok(None) => {}
                    // Out of step with the scheduler: this connection's figures mean
                    // nothing more.
                    Ok(Some(_)) => {
                        stats.errors.unexpected += 1;
                        return (stats, None);
                    }
                    Err(()) => {
                        stats.errors.io += 1;
                        return (stats, None);
                    }
                },
                Ok(Err(_)) => {
                    stats.errors.io += 1;
                    return (stats, None);
                }
                Err(_) => {
                    stats.errors.timeouts += 1;
                    return (stats, None);
                }
            }
        };
        let got = Instant::now();
        let Some(lease) = lease else {
            continue;
        };
        stats.grants += 1;
        let release = ToScheduler::Release {
            lease,
            result: JobResult::Ok,
            duration_ms,
        };
        if conn.send(&release).await.is_err() {
            stats.errors.io += 1;
            return (stats, None);
        }
        if sent >= window.start && got <= window.end {
            stats.cycles += 1;
            let us = got.duration_since(sent).as_micros();
            stats
                .latencies_us
                .push(u32::try_from(us).unwrap_or(u32::MAX));
        }
    }
}

/// Latency percentiles in microseconds over sorted samples.
#[derive(Debug, Default, Clone, Copy)]
pub struct Percentiles {
    pub p50: u32,
    pub p95: u32,
    pub p99: u32,
    pub max: u32,
}

impl Percentiles {
    /// Nearest-rank percentiles of `sorted` (ascending); all zero when empty.
    pub fn of(sorted: &[u32]) -> Percentiles {
        let rank = |q: f64| -> u32 {
            if sorted.is_empty() {
                return 0;
            }
            let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[i - 1]
        };
        Percentiles {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: sorted.last().copied().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        let p = Percentiles::of(&v);
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50, 95, 99, 100));
        let p = Percentiles::of(&[7]);
        assert_eq!((p.p50, p.p99, p.max), (7, 7, 7));
        assert_eq!(Percentiles::of(&[]).max, 0);
    }
}
