//! Jobs: what a client says about its compile, what it reports back, and the cost model that
//! turns the former into "seconds of work at speed 1".
//!
//! Costs are measured in *work*: the seconds a job would take on a reference host of speed
//! 1.0. A host of speed `s` finishes work `w` in `w / s` seconds. The scale is anchored by the
//! configured host weights (which seed the learned speeds) and by previous durations the
//! clients report; any drift of the scale cancels out of every prediction, which are all of
//! the form `work / speed` — provided hosts no job has measured yet drift with it, which is
//! why they are seeded at their weight times the farm's learned scale, not at the weight.

use std::time::Duration;

use serde::Serialize;

use crate::compilers::CompilerKey;
use crate::config::Config;
use crate::ids::HostId;
use crate::size_fit::{Line, SizeFit};

/// How far the size line's estimate may stray from the plain ratio's, either way: enough
/// for the 3.5× spread of work per byte seen on the benchmark harness's padded sources.
const LINE_LEEWAY: f64 = 4.0;

/// The line is used only once it has been compared with the ratio on this many jobs.
const MIN_COMPARED: u64 = 4;

/// Sizes are believed to tell costs apart (as they roughly do in most code) until the size
/// model has been judged on this many jobs; from then on, while...
const MIN_JUDGED: u64 = 8;

/// ...its squared log error is at most this share of the variance of the jobs' log
/// works: it explains at least half of how much jobs differ. Files whose sizes say nothing
/// (every file one size, or cost set by templates rather than bytes) leave the error at
/// the whole variance or above; the benchmark harness's padded sources, well under a
/// tenth.
const TELLING_SHARE: f64 = 0.5;

/// What a client tells the scheduler about a job when asking for a slot.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    /// Who is asking; fairness is between users.
    pub user: String,
    /// Size of the preprocessed input, in bytes (0 when unknown).
    pub size_bytes: u64,
    /// The same file's last compile, when the client remembers it.
    pub previous: Option<PreviousRun>,
    /// The compiler the client would use itself: the job goes only to a host that has it
    /// ([`crate::compilers`]). `None` places it anywhere.
    pub compiler: Option<CompilerKey>,
    /// Hosts that already failed this job: it goes to any other host that can take it,
    /// and to these only when no other host could ever take it (none that serves its
    /// compiler is up).
    pub avoid: Vec<HostId>,
    /// The client machine's own cores it offers the farm for its jobs, if any
    /// (`scheduler::machines`).
    pub local: Option<LocalOffer>,
}

/// A client machine's own slots, offered with each of its jobs: the scheduler may answer
/// "run it here" ([`crate::Action::RunHere`]) when that finishes the job soonest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOffer {
    /// The machine, as its clients name it: its jobs share its slots.
    pub machine: String,
    /// How many of its jobs it runs at once (the latest offer counts).
    pub slots: u32,
}

/// A previous compile of the same file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreviousRun {
    /// How long it took.
    pub duration: Duration,
    /// Where it ran, if that host is known to the scheduler; the duration is then converted to
    /// work with that host's learned speed. `None` means the duration is already at speed 1
    /// (or the host is unknown, which is treated the same).
    pub host: Option<HostId>,
}

/// What a client reports when it releases a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseReport {
    /// Wall-clock time the job held the slot (sending, compiling, receiving).
    pub duration: Duration,
    /// How it ended.
    pub result: JobEnd,
}

/// How a job ended, as far as the host's health is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum JobEnd {
    /// Compiled. Teaches the host's speed.
    Ok,
    /// The compiler rejected the source. The host worked, so this never counts against it
    /// (and the duration says little about speed, so nothing is learned).
    CompileError,
    /// Refused, reset, timed out, server error: counts toward taking the host down.
    Transport,
}

/// What a job's size says of its work, used when it has no previous duration: the plain
/// ratio of work to bytes, or a line through recent jobs' sizes and works ([`SizeFit`])
/// while the line has predicted recent jobs better (kept within a factor [`LINE_LEEWAY`]
/// of the ratio). Which one fits depends on the code: where work per byte is about
/// constant the ratio is as good and steadier; where every file carries headers that cost
/// little, only the line tells a big file from a small one.
#[derive(Debug, Clone)]
pub(crate) struct CostModel {
    secs_per_byte: f64,
    samples: u64,
    fit: SizeFit,
    /// Moving means of the squared log errors of each model's predictions, over the jobs
    /// that came while there was a line to compare, and how many those were.
    ratio_error: f64,
    line_error: f64,
    compared: u64,
    /// The fitted line and whether it is in use, as of the last job learned from (both
    /// change only then; estimates read them on every request).
    fitted: Option<Line>,
    in_use: Option<Line>,
    /// Mean work of a job with neither a size nor a previous duration. Learned from such
    /// jobs, so that the speeds learned from them keep the scale of the configured weights
    /// instead of measuring `default_cost / duration` (which made a host that ran a few
    /// trivial jobs look 50 times faster than one that ran none).
    unknown_work: f64,
    unknown_samples: u64,
    /// Moving means, over jobs with a size, of the squared log error of the size model's
    /// prediction in use, and of the log work and its square; and how many jobs.
    size_miss: f64,
    log_work: f64,
    log_work_sq: f64,
    judged: u64,
}

impl CostModel {
    pub(crate) fn new(cfg: &Config) -> CostModel {
        CostModel {
            secs_per_byte: cfg.initial_secs_per_byte,
            samples: 0,
            fit: SizeFit::default(),
            ratio_error: 0.0,
            line_error: 0.0,
            compared: 0,
            fitted: None,
            in_use: None,
            unknown_work: cfg.default_cost.as_secs_f64(),
            unknown_samples: 0,
            size_miss: 0.0,
            log_work: 0.0,
            log_work_sq: 0.0,
            judged: 0,
        }
    }

    /// Whether sizes tell jobs' costs apart: believed at first, then judged on the recent
    /// jobs ([`MIN_JUDGED`], [`TELLING_SHARE`]).
    pub(crate) fn sizes_tell(&self) -> bool {
        let variance = self.log_work_sq - self.log_work * self.log_work;
        self.judged < MIN_JUDGED || self.size_miss <= TELLING_SHARE * variance
    }

    /// Whether nothing tells `job`'s cost from another's: no previous run, and no size or
    /// sizes that have not told costs apart. Placement then does not make it wait for a
    /// faster host (the wait pays only for a job known to be long, and holds back a build
    /// whose `-j` the farm could otherwise fill), and its stragglers are copied on time
    /// run alone.
    pub(crate) fn blind(&self, job: &JobInfo) -> bool {
        job.previous.is_none() && (job.size_bytes == 0 || !self.sizes_tell())
    }

    pub(crate) fn secs_per_byte(&self) -> f64 {
        self.secs_per_byte
    }

    /// The fitted line, if it is in use: `(base, per_byte)`.
    pub(crate) fn line(&self) -> Option<(f64, f64)> {
        self.in_use.map(|l| (l.base, l.per_byte))
    }

    /// Expected work of a job of `size` bytes, from the size model alone.
    pub(crate) fn of_size(&self, size: u64, cfg: &Config) -> f64 {
        self.by_size(size).max(cfg.min_cost.as_secs_f64())
    }

    /// The size model's work for `size` bytes.
    fn by_size(&self, size: u64) -> f64 {
        match self.in_use {
            Some(l) => self.on_line(l, size),
            None => size as f64 * self.secs_per_byte,
        }
    }

    /// `l`'s work for `size` bytes, kept within [`LINE_LEEWAY`] of the ratio's, so that a
    /// line fitted to one range of sizes cannot predict nonsense far outside it (nothing at
    /// all for a file smaller than the headers, say).
    fn on_line(&self, l: Line, size: u64) -> f64 {
        let ratio = size as f64 * self.secs_per_byte;
        (l.base + l.per_byte * size as f64).clamp(ratio / LINE_LEEWAY, ratio * LINE_LEEWAY)
    }

    /// Whether `job` says anything about its own cost.
    pub(crate) fn knows(job: &JobInfo) -> bool {
        job.previous.is_some() || job.size_bytes > 0
    }

    /// The learned work of a job nothing is known about.
    pub(crate) fn unknown_work(&self) -> f64 {
        self.unknown_work
    }

    /// Learns from a completed job nothing was known about that did `work` seconds of work
    /// (measured with its host's speed); a plain average at first, then a moving one.
    pub(crate) fn learn_unknown(&mut self, work: f64, alpha: f64) {
        if !(work.is_finite() && work > 0.0) {
            return;
        }
        let alpha = alpha.max(1.0 / (self.unknown_samples as f64 + 1.0));
        self.unknown_work += alpha * (work - self.unknown_work);
        self.unknown_samples += 1;
    }

    /// Expected work of `job`: its previous duration converted to speed 1 when known, else
    /// its size times the learned ratio, else the configured default; never below the floor.
    /// `speed_of` gives a known host's learned speed.
    pub(crate) fn estimate(
        &self,
        job: &JobInfo,
        cfg: &Config,
        speed_of: impl Fn(HostId) -> Option<f64>,
    ) -> f64 {
        let work = if let Some(prev) = job.previous {
            let speed = prev.host.and_then(speed_of).unwrap_or(1.0);
            prev.duration.as_secs_f64() * speed
        } else if job.size_bytes > 0 {
            self.by_size(job.size_bytes)
        } else {
            self.unknown_work
        };
        if work.is_finite() {
            work.max(cfg.min_cost.as_secs_f64())
        } else {
            cfg.default_cost.as_secs_f64()
        }
    }

    /// Learns from a completed job of `size` bytes that did `work` seconds of work. One odd
    /// job (a template-heavy header, a tiny file) moves the ratio by at most a factor 8, and
    /// counts in the line as at most 8 times what the model expected of it.
    pub(crate) fn learn(&mut self, size: u64, work: f64, alpha: f64) {
        if size == 0 || !(work.is_finite() && work > 0.0) {
            return;
        }
        {
            let log = work.ln();
            let miss = (work / self.by_size(size).max(f64::MIN_POSITIVE))
                .ln()
                .powi(2);
            let a = alpha.max(1.0 / (self.judged as f64 + 1.0));
            self.size_miss += a * (miss - self.size_miss);
            self.log_work += a * (log - self.log_work);
            self.log_work_sq += a * (log * log - self.log_work_sq);
            self.judged += 1;
        }
        if let Some(l) = self.fitted {
            let miss = |predicted: f64| (work / predicted).ln().powi(2);
            let ratio_miss = miss(size as f64 * self.secs_per_byte);
            let line_miss = miss(self.on_line(l, size));
            let a = alpha.max(1.0 / (self.compared as f64 + 1.0));
            self.ratio_error += a * (ratio_miss - self.ratio_error);
            self.line_error += a * (line_miss - self.line_error);
            self.compared += 1;
        }
        let expected = self.by_size(size);
        self.fit.learn(
            size as f64,
            work.clamp(expected / 8.0, expected * 8.0),
            alpha,
        );
        let sample = (work / size as f64).clamp(self.secs_per_byte / 8.0, self.secs_per_byte * 8.0);
        let alpha = alpha.max(1.0 / (self.samples as f64 + 2.0));
        self.secs_per_byte += alpha * (sample - self.secs_per_byte);
        self.samples += 1;
        self.fitted = self.fit.line();
        self.in_use = self
            .fitted
            .filter(|_| self.compared >= MIN_COMPARED && self.line_error < self.ratio_error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(size: u64, previous: Option<PreviousRun>) -> JobInfo {
        JobInfo {
            compiler: None,
            avoid: Vec::new(),
            user: "u".into(),
            size_bytes: size,
            previous,
            local: None,
        }
    }

    #[test]
    fn estimate_prefers_previous_then_size_then_default() {
        let cfg = Config::default();
        let m = CostModel::new(&cfg);
        let prev = PreviousRun {
            duration: Duration::from_secs(4),
            host: Some(HostId(1)),
        };
        let speeds = |h: HostId| (h == HostId(1)).then_some(0.5);
        assert_eq!(m.estimate(&job(10, Some(prev)), &cfg, speeds), 2.0);
        let unknown = PreviousRun {
            host: Some(HostId(9)),
            ..prev
        };
        assert_eq!(m.estimate(&job(10, Some(unknown)), &cfg, speeds), 4.0);
        assert!((m.estimate(&job(2_000_000, None), &cfg, speeds) - 2.0).abs() < 1e-9);
        assert_eq!(m.estimate(&job(0, None), &cfg, speeds), 1.0);
        let zero = PreviousRun {
            duration: Duration::ZERO,
            host: None,
        };
        assert_eq!(m.estimate(&job(0, Some(zero)), &cfg, speeds), 0.001);
    }

    #[test]
    fn the_line_is_used_only_where_it_predicts_better_than_the_ratio() {
        let cfg = Config::default();
        let (mut headers, mut proportional) = (CostModel::new(&cfg), CostModel::new(&cfg));
        for i in 0..100 {
            let work = 0.05 + f64::from(i % 13) * 0.2;
            headers.learn(56_000 + (work * 104_000.0) as u64, work, cfg.size_alpha);
            proportional.learn((work * 1e6) as u64, work, cfg.size_alpha);
        }
        let (base, per_byte) = headers.line().expect("headers: the line predicts better");
        assert!(
            (-base / per_byte - 56_000.0).abs() < 1_000.0,
            "{base} {per_byte}"
        );
        let big = headers.of_size(56_000 + 270_000, &cfg);
        assert!((big - 2.6).abs() < 0.05, "{big}");
        assert_eq!(
            proportional.line(),
            None,
            "a ratio predicts as well: no line"
        );
        assert!((proportional.of_size(2_600_000, &cfg) - 2.6).abs() < 0.01);
    }

    #[test]
    fn sizes_tell_costs_apart_only_when_they_predict_them() {
        let cfg = Config::default();
        let (mut telling, mut constant) = (CostModel::new(&cfg), CostModel::new(&cfg));
        let unknown = |size| job(size, None);
        assert!(telling.sizes_tell(), "believed until judged");
        for i in 0..100 {
            // Works spread over 50x, as a lognormal draw of compile times is.
            let work = 0.05 * 1.04f64.powi((i * 37) % 100);
            telling.learn((work * 1e6) as u64, work, cfg.size_alpha);
            constant.learn(400_000, work, cfg.size_alpha);
        }
        assert!(telling.sizes_tell());
        assert!(!telling.blind(&unknown(300_000)));
        assert!(
            telling.blind(&unknown(0)),
            "no size: blind whatever the model"
        );
        assert!(!constant.sizes_tell());
        assert!(constant.blind(&unknown(400_000)));
        let remembered = job(
            400_000,
            Some(PreviousRun {
                duration: Duration::from_secs(1),
                host: None,
            }),
        );
        assert!(!constant.blind(&remembered), "a previous run tells");
    }

    #[test]
    fn ratio_learning_converges_and_ignores_garbage() {
        let cfg = Config::default();
        let mut m = CostModel::new(&cfg);
        for _ in 0..300 {
            m.learn(1_000_000, 3.0, cfg.size_alpha);
        }
        assert!(
            (m.secs_per_byte() - 3e-6).abs() < 1e-7,
            "{}",
            m.secs_per_byte()
        );
        let before = m.secs_per_byte();
        m.learn(0, 3.0, 0.5);
        m.learn(10, f64::NAN, 0.5);
        assert_eq!(m.secs_per_byte(), before);
    }
}
