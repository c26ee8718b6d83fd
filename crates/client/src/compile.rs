//! One compile, start to finish: classify the command line, compile here what must be
//! compiled here, and hand a distributable job to the driver (`driver.rs`), which places it by
//! the rules of [`crate::distribution`].

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ccfarm_compiler::{Classification, LocalReason};

pub use crate::context::{Context, CredentialsError};
use crate::exit;
use crate::job::{CPP_KEY, Job, LOCAL_KEY, run_local, run_local_with};
use crate::local;
use crate::records::{CacheNote, LocalCause, Place, Record};
use crate::slots::SlotDir;

/// Run `argv` (compiler first) and return the process exit code; the job's record is
/// appended to `$CCFARM_DIR/jobs.log` ([`crate::records`]).
pub fn run(ctx: &Context<'_>, argv: Vec<String>) -> i32 {
    let started = Instant::now();
    let (code, place, cache, input) = place_and_run(ctx, &argv);
    if let Some(input) = input {
        let record = Record {
            at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            place,
            code,
            elapsed_ms: started.elapsed().as_millis() as u64,
            input,
            cache,
        };
        append_record(ctx, &record);
    }
    code
}

/// Run the compile; its exit code, where it ran, and its source file (`None` for a
/// command line that compiles nothing, such as a link, which is not recorded).
/// Where the compile ran and its exit code, what the cache said, and its source file.
type Placed = (i32, Place, Option<CacheNote>, Option<String>);

fn place_and_run(ctx: &Context<'_>, argv: &[String]) -> Placed {
    let classified = ccfarm_compiler::scan_client_args(argv);
    let program = match local::resolve_compiler(&argv[0], ctx.path_var) {
        Some(program) => program,
        // An already preprocessed source needs a compiler only where it compiles: sent
        // as it is, as distcc sends it, and the server says whether it has one.
        None if matches!(&classified, Classification::Distributable(job) if job.preprocessed) => {
            ctx.log.info(&format!(
                "{} is not on PATH here; sending the preprocessed {} to be compiled",
                argv[0],
                ccfarm_compiler::source_name(argv).unwrap_or("source")
            ));
            std::path::PathBuf::from(&argv[0])
        }
        None => {
            ctx.log
                .error(&format!("failed to exec {}: compiler not found", argv[0]));
            return (exit::COMPILER_MISSING.into(), Place::Nowhere, None, None);
        }
    };
    let input = match &classified {
        Classification::Distributable(job) => Some(job.input.clone()),
        // A link or a driver call compiles nothing: not a compile to account for.
        Classification::Local(
            LocalReason::NoCompileFlag | LocalReason::NoSource | LocalReason::MissingCompiler,
        ) => None,
        Classification::Local(_) => ccfarm_compiler::source_name(argv).map(str::to_owned),
    };
    let here = |cause| Place::Local(cause);
    let slots = match SlotDir::open(&ctx.settings.state_dir) {
        Ok(s) => s,
        Err(e) => {
            // Without a lock directory there is no safe way to share hosts; compile
            // here, as distcc does.
            ctx.log.warn(&format!(
                "cannot use {}: {e}; compiling locally",
                ctx.settings.state_dir.display()
            ));
            let code = run_local(ctx, &program, argv, None);
            return (code, here(LocalCause::NoStateDir), None, input);
        }
    };
    let job = match classified {
        Classification::Distributable(job) if ctx.settings.safeguard == 0 => job,
        Classification::Distributable(_) => {
            ctx.log.info("nested inside ccfarm: compiling locally");
            let code = run_local(ctx, &program, argv, Some(&slots));
            return (code, here(LocalCause::Nested), None, input);
        }
        Classification::Local(reason) => {
            ctx.log
                .info(&format!("{}: local compile: {reason}", argv[0]));
            let slot_key = if matches!(reason, LocalReason::PreprocessOnly) {
                CPP_KEY
            } else {
                LOCAL_KEY
            };
            let code = run_local_with(ctx, &program, argv, &slots, slot_key);
            return (
                code,
                here(LocalCause::NotDistributable(reason.to_string())),
                None,
                input,
            );
        }
    };
    let (code, place, cache) = crate::driver::distribute(&Job {
        ctx,
        program: &program,
        argv,
        job: &job,
        slots: &slots,
    });
    (code, place, cache, input)
}

/// Append `record` to the job records. A record that cannot be written is not worth
/// failing or slowing a compile over; the verbose log says so.
fn append_record(ctx: &Context<'_>, record: &Record) {
    use std::io::Write;
    let path = ctx.settings.state_dir.join(RECORDS_FILE);
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| {
            // Past the cap, the file starts again, the old one kept beside it.
            if f.metadata().is_ok_and(|m| m.len() > RECORDS_CAP) {
                std::fs::rename(&path, path.with_extension("log.1"))?;
                f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)?;
            }
            // One write: concurrent compiles append whole lines.
            f.write_all(record.line().as_bytes())
        });
    if let Err(e) = written {
        ctx.log.info(&format!(
            "job record not written to {}: {e}",
            path.display()
        ));
    }
}

/// The job records' file in `$CCFARM_DIR`.
pub const RECORDS_FILE: &str = "jobs.log";

/// The size past which the records file is set aside (as `jobs.log.1`) and started
/// again: about 50,000 compiles each.
const RECORDS_CAP: u64 = 4 * 1024 * 1024;
