//! Job records: one line per compile in `$CCFARM_DIR/jobs.log`, saying where it ran and,
//! for a compile done here, why; `ccfarm stats` sums them up.
//!
//! Why: with fallback on, a compile the farm did not take is done here without a word
//! unless the log is verbose; a build that is slow because half its files compiled
//! locally must be able to say so afterwards, and say why (the scheduler's answer, no
//! server reachable, a command line that cannot be distributed). The scheduler counts
//! only the "compile locally" it answered; the client is the one place that sees every
//! local compile.
//!
//! Pure: lines are made and read here; the shell appends them (one `write` to a file
//! opened for appending, so concurrent compiles never interleave a line).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Where a compile ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// On this server of the farm (as the log names it).
    Farm(String),
    /// Here, for this reason.
    Local(LocalCause),
    /// From the result cache: no compile at all.
    Cache,
    /// Nowhere: the job failed before any compile (strict mode, a bad command line).
    Nowhere,
}

/// What the result cache said about a compile that looked it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheNote {
    /// Answered from the cache (the record's place is [`Place::Cache`]).
    Hit,
    /// Answered from the farm's shared cache, without preprocessing (the record's place
    /// is [`Place::Cache`]).
    SharedHit,
    /// Not there: compiled, and stored if the farm compiled it.
    Miss,
    /// Never cached, for this reason (profiling, extra outputs, ...).
    NotCacheable(String),
    /// The cache could not be read, for this reason; compiled instead.
    Unusable(String),
}

impl CacheNote {
    /// The note as a record field: `hit`, `shared-hit`, `miss`, `not-cacheable:WHY`,
    /// `unusable:WHY`.
    fn field(&self) -> String {
        match self {
            CacheNote::Hit => "hit".into(),
            CacheNote::SharedHit => "shared-hit".into(),
            CacheNote::Miss => "miss".into(),
            CacheNote::NotCacheable(why) => format!("not-cacheable:{}", field(why)),
            CacheNote::Unusable(why) => format!("unusable:{}", field(why)),
        }
    }
}

/// Why a compile ran here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalCause {
    /// The scheduler answered "compile locally", with its reason.
    Scheduler(String),
    /// The scheduler placed the job in a slot this machine offered
    /// (`CCFARM_LOCAL_SLOTS`): the farm's choice, not a fallback.
    Offered,
    /// Every server failed the job, or none could be reached.
    NoServer,
    /// The host list's `localhost` slot was the one free.
    Localhost,
    /// A server reported a compile error; the compile is run again here so the
    /// diagnostics are local gcc's.
    Rerun,
    /// The command line cannot be distributed (linking, `-E`, ...): its reason.
    NotDistributable(String),
    /// ccfarm was invoked by a compiler ccfarm runs.
    Nested,
    /// `$CCFARM_DIR` could not be used.
    NoStateDir,
}

impl LocalCause {
    /// The short name a record and `ccfarm stats` use.
    pub fn slug(&self) -> &'static str {
        match self {
            LocalCause::Scheduler(_) => "scheduler",
            LocalCause::Offered => "offered",
            LocalCause::NoServer => "no_server",
            LocalCause::Localhost => "localhost",
            LocalCause::Rerun => "rerun",
            LocalCause::NotDistributable(_) => "not_distributable",
            LocalCause::Nested => "nested",
            LocalCause::NoStateDir => "no_state_dir",
        }
    }

    fn detail(&self) -> &str {
        match self {
            LocalCause::Scheduler(why) | LocalCause::NotDistributable(why) => why,
            _ => "",
        }
    }
}

/// One compile, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When it ended, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Where it ran.
    pub place: Place,
    /// Its exit code.
    pub code: i32,
    /// How long it took, start to end, in milliseconds.
    pub elapsed_ms: u64,
    /// The source file.
    pub input: String,
    /// What the result cache said, if it was asked.
    pub cache: Option<CacheNote>,
}

/// A field with the separators a line uses (tab, newline) replaced by spaces.
fn field(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}

impl Record {
    /// The record as one line, newline included: `at_ms`, where (`farm`, `cache`,
    /// `local:CAUSE`, `none`), the server or the reason, exit code, elapsed ms, input,
    /// and the cache's note if it was asked; tab-separated.
    pub fn line(&self) -> String {
        let (kind, detail) = match &self.place {
            Place::Farm(host) => ("farm".to_owned(), host.as_str()),
            Place::Local(cause) => (format!("local:{}", cause.slug()), cause.detail()),
            Place::Nowhere => ("none".to_owned(), ""),
            Place::Cache => ("cache".to_owned(), ""),
        };
        let cache = self
            .cache
            .as_ref()
            .map(|note| format!("\t{}", note.field()))
            .unwrap_or_default();
        format!(
            "{}\t{kind}\t{}\t{}\t{}\t{}{cache}\n",
            self.at_ms,
            field(detail),
            self.code,
            self.elapsed_ms,
            field(&self.input)
        )
    }
}

/// What `ccfarm stats` shows: counts by place, and for local compiles by cause with
/// the latest reason given.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records read.
    pub jobs: u64,
    /// Lines that were not records (a file from another version, a torn write).
    pub unreadable: u64,
    /// Compiles that exited non-zero.
    pub failed: u64,
    /// The first and last record's time.
    pub span_ms: Option<(u64, u64)>,
    /// Compiles on the farm, by server.
    pub farm: BTreeMap<String, u64>,
    /// Compiles here, by cause: how many, and the latest detail.
    pub local: BTreeMap<String, (u64, String)>,
    /// Jobs that ran nowhere.
    pub nowhere: u64,
    /// Jobs answered from the result cache.
    pub cached: u64,
    /// Of those, jobs answered from the farm's shared cache.
    pub shared_hits: u64,
    /// Jobs the cache was asked about and did not have.
    pub cache_misses: u64,
    /// Jobs never cached, by reason.
    pub not_cacheable: BTreeMap<String, u64>,
    /// Look-ups that failed (the cache unreadable, an entry refused), by reason.
    pub cache_unusable: u64,
}

impl Summary {
    /// Add the records in `text` (the file's contents).
    pub fn add(&mut self, text: &str) {
        for line in text.lines().filter(|l| !l.is_empty()) {
            let parts: Vec<&str> = line.split('\t').collect();
            let (at, kind, detail, code, note) = match parts[..] {
                [at, kind, detail, code, _elapsed, _input] => (at, kind, detail, code, None),
                [at, kind, detail, code, _elapsed, _input, note] => {
                    (at, kind, detail, code, Some(note))
                }
                _ => {
                    self.unreadable += 1;
                    continue;
                }
            };
            let (Ok(at), Ok(code)) = (at.parse::<u64>(), code.parse::<i32>()) else {
                self.unreadable += 1;
                continue;
            };
            match kind {
                "farm" => *self.farm.entry(detail.to_owned()).or_default() += 1,
                "none" => self.nowhere += 1,
                "cache" => self.cached += 1,
                _ => match kind.strip_prefix("local:") {
                    Some(cause) => {
                        let entry = self.local.entry(cause.to_owned()).or_default();
                        entry.0 += 1;
                        if !detail.is_empty() {
                            entry.1 = detail.to_owned();
                        }
                    }
                    None => {
                        self.unreadable += 1;
                        continue;
                    }
                },
            }
            match note.map(|n| n.split_once(':').unwrap_or((n, ""))) {
                Some(("miss", _)) => self.cache_misses += 1,
                Some(("shared-hit", _)) => self.shared_hits += 1,
                Some(("not-cacheable", why)) => {
                    *self.not_cacheable.entry(why.to_owned()).or_default() += 1;
                }
                Some(("unusable", _)) => self.cache_unusable += 1,
                _ => {}
            }
            self.jobs += 1;
            if code != 0 {
                self.failed += 1;
            }
            self.span_ms = Some(match self.span_ms {
                None => (at, at),
                Some((first, last)) => (first.min(at), last.max(at)),
            });
        }
    }

    /// The summary as `ccfarm stats` prints it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let share = |n: u64| {
            if self.jobs == 0 {
                0.0
            } else {
                100.0 * n as f64 / self.jobs as f64
            }
        };
        let _ = writeln!(out, "compiles recorded     {:>8}", self.jobs);
        let on_farm: u64 = self.farm.values().sum();
        let _ = writeln!(
            out,
            "on the farm           {on_farm:>8}  {:5.1} %",
            share(on_farm)
        );
        for (host, n) in &self.farm {
            let _ = writeln!(out, "  {host:<20}{n:>8}");
        }
        if self.cached > 0 {
            let _ = writeln!(
                out,
                "from the cache        {:>8}  {:5.1} %",
                self.cached,
                share(self.cached)
            );
        }
        if self.shared_hits > 0 {
            let _ = writeln!(out, "  from the farm's      {:>8}", self.shared_hits);
        }
        if self.cache_misses > 0 || self.cached > 0 {
            let _ = writeln!(out, "cache misses          {:>8}", self.cache_misses);
        }
        for (why, n) in &self.not_cacheable {
            let _ = writeln!(out, "not cacheable         {n:>8}  {why}");
        }
        if self.cache_unusable > 0 {
            let _ = writeln!(out, "cache unusable        {:>8}", self.cache_unusable);
        }
        let local: u64 = self.local.values().map(|(n, _)| n).sum();
        let _ = writeln!(
            out,
            "here                  {local:>8}  {:5.1} %",
            share(local)
        );
        for (cause, (n, detail)) in &self.local {
            let _ = write!(out, "  {cause:<20}{n:>8}");
            if !detail.is_empty() {
                let _ = write!(out, "  latest: {detail}");
            }
            out.push('\n');
        }
        if self.nowhere > 0 {
            let _ = writeln!(out, "not compiled          {:>8}", self.nowhere);
        }
        let _ = writeln!(out, "exited non-zero       {:>8}", self.failed);
        if self.unreadable > 0 {
            let _ = writeln!(out, "unreadable lines      {:>8}", self.unreadable);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(place: Place, code: i32) -> Record {
        Record {
            at_ms: 1_700_000_000_000,
            place,
            code,
            elapsed_ms: 250,
            input: "src/a.c".into(),
            cache: None,
        }
    }

    #[test]
    fn the_caches_notes_are_counted_and_old_lines_still_read() {
        let noted = |place, note| Record {
            cache: Some(note),
            ..record(place, 0)
        };
        let mut text = String::new();
        text += &noted(Place::Cache, CacheNote::Hit).line();
        text += &noted(Place::Farm("a:3632/4".into()), CacheNote::Miss).line();
        text += &noted(Place::Farm("a:3632/4".into()), CacheNote::Miss).line();
        let profiled = CacheNote::NotCacheable("profiling or coverage".into());
        text += &noted(Place::Farm("a:3632/4".into()), profiled).line();
        let broken = CacheNote::Unusable("cache x: refused\tand removed".into());
        let line = noted(Place::Farm("a:3632/4".into()), broken).line();
        assert_eq!(line.matches('\t').count(), 6, "{line:?}");
        text += &line;
        // A line from before the cache: six fields.
        text += &record(Place::Farm("b:3632/4".into()), 0).line();
        let mut s = Summary::default();
        s.add(&text);
        assert_eq!((s.jobs, s.unreadable), (6, 0));
        assert_eq!((s.cached, s.cache_misses, s.cache_unusable), (1, 2, 1));
        assert_eq!(s.not_cacheable["profiling or coverage"], 1);
        let shown = s.render();
        assert!(shown.contains("cache misses                 2"), "{shown}");
        assert!(
            shown.contains("not cacheable                1  profiling or coverage"),
            "{shown}"
        );
    }

    #[test]
    fn a_line_is_one_tab_separated_record_whatever_the_reason_says() {
        let line = record(
            Place::Local(LocalCause::Scheduler("no\tserver\nup".into())),
            0,
        )
        .line();
        assert_eq!(
            line,
            "1700000000000\tlocal:scheduler\tno server up\t0\t250\tsrc/a.c\n"
        );
    }

    #[test]
    fn a_summary_counts_by_place_and_cause_and_keeps_the_latest_reason() {
        let mut text = String::new();
        text += &record(Place::Farm("a:3632/4".into()), 0).line();
        text += &record(Place::Farm("a:3632/4".into()), 1).line();
        text += &record(Place::Farm("b:3632/4".into()), 0).line();
        text += &record(Place::Local(LocalCause::Scheduler("first".into())), 0).line();
        text += &record(Place::Local(LocalCause::Scheduler("second".into())), 0).line();
        text += &record(Place::Local(LocalCause::NoServer), 0).line();
        text += &record(Place::Nowhere, 116).line();
        text += &record(Place::Cache, 0).line();
        text += "garbage\n";
        let mut s = Summary::default();
        s.add(&text);
        assert_eq!(s.jobs, 8);
        assert_eq!(s.unreadable, 1);
        assert_eq!(s.failed, 2);
        assert_eq!(s.nowhere, 1);
        assert_eq!(s.cached, 1);
        assert_eq!(s.farm["a:3632/4"], 2);
        assert_eq!(s.farm["b:3632/4"], 1);
        assert_eq!(s.local["scheduler"], (2, "second".to_owned()));
        assert_eq!(s.local["no_server"], (1, String::new()));
        let shown = s.render();
        assert!(
            shown.contains("on the farm                  3   37.5 %"),
            "{shown}"
        );
        assert!(
            shown.contains("from the cache               1   12.5 %"),
            "{shown}"
        );
        assert!(
            shown.contains("scheduler                  2  latest: second"),
            "{shown}"
        );
    }
}
