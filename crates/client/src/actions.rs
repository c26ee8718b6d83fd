//! What the distribution machine and the shell that performs its actions say to each
//! other: [`Action`]s out of the machine, [`Event`]s into it. Plain data.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use ccfarm_proto::distcc::Reply;
use ccfarm_proto::farm::JobResult;

use crate::backoff::HostState;
use crate::grant::{Grant, RaceEvent};
use crate::verdict::Verdict;

/// How loud a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Only in verbose mode.
    Info,
    /// Always.
    Warn,
    /// Always.
    Error,
}

/// What the shell is asked to do.
#[derive(Debug)]
pub enum Action {
    /// Log a line. No event.
    Log(Level, String),
    /// Start the preprocessor (or, for already preprocessed input, nothing).
    /// Answered by [`Event::PreprocessorStarted`] or [`Event::PreprocessFailed`].
    StartPreprocessor,
    /// Collect the preprocessor's output as the job's source. Answered by
    /// [`Event::Preprocessed`] or [`Event::PreprocessFailed`].
    FinishPreprocessor,
    /// Look the job up in the result cache by its source and the headers it read last
    /// time, before preprocessing (direct mode). Answered by [`Event::Direct`].
    LookUpDirect,
    /// After a local direct miss, look the job up the same way in the farm's shared
    /// cache, through the scheduler. Answered by [`Event::Direct`].
    LookUpShared,
    /// Look the preprocessed job up in the result cache. Answered by [`Event::Cache`].
    LookUpCache,
    /// Store a successful remote compile's reply in the result cache. No event.
    StoreInCache(Reply),
    /// Ask the scheduler for a server, with the preprocessed source's size. Answered by
    /// [`Event::Answer`].
    AskScheduler,
    /// Ask the schedulers, from now on, not to grant these servers (`address:port`),
    /// which failed the job. No event.
    Avoid(Vec<String>),
    /// Ask the next scheduler of the list after this pause (the last answer was that no
    /// scheduler could be used). Answered by [`Event::Answer`].
    AskSchedulerAgain(Duration),
    /// Close the connection of a grant that will not be used, which gives it back.
    /// No event.
    GiveBackGrant,
    /// Read the back-off state of these host keys. Answered by [`Event::Backoff`].
    ReadBackoff(Vec<String>),
    /// Take a slot of one of these host-list entries (by index), searching as distcc
    /// does; `wait` blocks until one is free. Answered by [`Event::Slot`].
    TakeSlot {
        /// Candidate entries, in priority order.
        among: Vec<usize>,
        /// Whether to wait for a free slot.
        wait: bool,
    },
    /// Connect to this host-list entry and send the command line, while the
    /// preprocessor still runs. No event: [`Action::Send`] uses (or reports the failure
    /// of) the connection.
    Connect(usize),
    /// Run the job on this host-list entry (on the connection opened early, if any).
    /// Answered by [`Event::Verdict`].
    Send(usize),
    /// Let go of the slot held. No event.
    ReleaseSlot,
    /// Record a failure of the host with this key, so it is backed off. No event.
    RecordFailure(String),
    /// Forget the failures of the host with this key. No event.
    RecordSuccess(String),
    /// Compile here under the `localhost` slot held. Answered by [`Event::LocalFinished`].
    CompileInSlot,
    /// Compile here under a local slot. Answered by [`Event::LocalFinished`].
    CompileLocally,
    /// Compile here in the slot the scheduler placed the job in ([`Answer::RunHere`]),
    /// then release that lease with the compile's duration. Answered by
    /// [`Event::LocalFinished`].
    CompileHere,
    /// Start watching the granted lease for the scheduler's notices, which come as
    /// [`Event::Race`]. No event.
    WatchLease,
    /// Start copy number `copy` of the job on `grant`'s server; its end comes as
    /// [`RaceEvent::Done`]. No event.
    StartCopy {
        /// The copy's number, from 0.
        copy: usize,
        /// Where it runs.
        grant: Grant,
    },
    /// Break copy number `.0` off. No event.
    BreakOff(usize),
    /// Release a lease with the job's result. No event.
    ReleaseLease {
        /// Which lease.
        lease: u64,
        /// How the job ended there.
        result: JobResult,
        /// How long it held the server.
        elapsed: Duration,
    },
    /// Stop watching the lease and wait for every copy to end (each broken off or
    /// finished), closing the scheduler connection. No event.
    EndRace,
    /// Remember how long the job took on a granted server. No event.
    Remember {
        /// The scheduler's name of the server (see [`Grant::server_address`]).
        server: String,
        /// How long it took.
        elapsed: Duration,
    },
    /// Write a successful reply's outputs as a local compile would. Answered by
    /// [`Event::Delivered`].
    Deliver {
        /// The reply.
        reply: Reply,
        /// The host that compiled it, as the log names it.
        host: String,
    },
    /// Print a reply's stdout and stderr as the compiler would have. No event.
    Emit(Reply),
    /// Print what a server said when it failed the job, on stderr as it was sent. No
    /// event.
    ShowServerMessage(Bytes),
    /// The job is over: exit with this code.
    Exit(i32),
}

impl Action {
    /// Whether the shell answers this action with an [`Event`] (only the last action of
    /// a batch may).
    pub fn is_answered(&self) -> bool {
        matches!(
            self,
            Action::StartPreprocessor
                | Action::FinishPreprocessor
                | Action::LookUpCache
                | Action::LookUpDirect
                | Action::LookUpShared
                | Action::AskScheduler
                | Action::AskSchedulerAgain(_)
                | Action::ReadBackoff(_)
                | Action::TakeSlot { .. }
                | Action::Send(_)
                | Action::CompileInSlot
                | Action::CompileLocally
                | Action::CompileHere
                | Action::Deliver { .. }
        )
    }
}

/// What the scheduler answered.
#[derive(Debug)]
pub enum Answer {
    /// Run the job on this server.
    Granted(Grant),
    /// Run the job on this machine, in a slot it offered the farm.
    RunHere,
    /// Compile here, for this reason.
    CompileLocally(String),
    /// The scheduler cannot be used, for this reason (unreachable, silent, refusing,
    /// or the user's credentials unusable).
    Unusable(String),
    /// No scheduler was asked, for this reason: none could be reached moments ago, by
    /// this or another of the user's compiles ([`crate::distribution::SCHEDULER_KEY`]),
    /// or this client cannot ask (its credentials are unusable, its list is empty).
    NotAsked(String),
}

/// What the result cache answered.
#[derive(Debug)]
pub enum Lookup {
    /// The stored result of an identical compile.
    Hit(Reply),
    /// Nothing stored.
    Miss,
    /// The job is never cached, for this reason.
    NotCacheable(String),
    /// The cache could not be read, for this reason.
    Unusable(String),
}

/// How a slot request ended.
#[derive(Debug)]
pub enum Slot {
    /// A slot of this host-list entry is held.
    Taken(usize),
    /// None is free (without waiting).
    Busy,
    /// The slots could not be locked, for this reason.
    Failed(String),
}

/// What the shell reports.
#[derive(Debug)]
pub enum Event {
    /// The preprocessor runs (or is not needed).
    PreprocessorStarted,
    /// The source is ready.
    Preprocessed,
    /// Preprocessing failed (its diagnostics already shown): exit with this code.
    PreprocessFailed(i32),
    /// A direct look-up's answer (local or shared): the reply of a hit (its dependency
    /// file written).
    Direct(Option<Reply>),
    /// The result cache's answer.
    Cache(Lookup),
    /// The scheduler's answer.
    Answer(Answer),
    /// The back-off state of the keys asked about (in their order), as of `now`.
    Backoff {
        /// The current time.
        now: SystemTime,
        /// Each key's state; `None` when nothing is remembered (or unreadable).
        states: Vec<Option<HostState>>,
    },
    /// A slot request's result.
    Slot(Slot),
    /// How the job went on a host-list entry.
    Verdict(Verdict),
    /// What happened to a race.
    Race(RaceEvent),
    /// Outputs written: this is the exit code.
    Delivered(i32),
    /// A local compile ended with this exit code.
    LocalFinished(i32),
}
