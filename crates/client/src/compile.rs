//! One compile, start to finish: classify the command line, compile here what must be
//! compiled here, and hand a distributable job to the driver (`driver.rs`), which places it by
//! the rules of [`crate::distribution`].

use ccfarm_compiler::{Classification, LocalReason};

pub use crate::context::{Context, CredentialsError};
use crate::exit;
use crate::job::{CPP_KEY, Job, LOCAL_KEY, run_local, run_local_with};
use crate::local;
use crate::slots::SlotDir;

/// Run `argv` (compiler first) and return the process exit code.
pub fn run(ctx: &Context<'_>, argv: Vec<String>) -> i32 {
    let Some(program) = local::resolve_compiler(&argv[0], ctx.path_var) else {
        ctx.log
            .error(&format!("failed to exec {}: compiler not found", argv[0]));
        return exit::COMPILER_MISSING.into();
    };
    let slots = match SlotDir::open(&ctx.settings.state_dir) {
        Ok(s) => s,
        Err(e) => {
            // Without a lock directory there is no safe way to share hosts; compile
            // here, as distcc does.
            ctx.log.warn(&format!(
                "cannot use {}: {e}; compiling locally",
                ctx.settings.state_dir.display()
            ));
            return run_local(ctx, &program, &argv, None);
        }
    };
    let job = match ccfarm_compiler::scan_args(&argv) {
        Classification::Distributable(job) if ctx.settings.safeguard == 0 => job,
        Classification::Distributable(_) => {
            ctx.log.info("nested inside ccfarm: compiling locally");
            return run_local(ctx, &program, &argv, Some(&slots));
        }
        Classification::Local(reason) => {
            ctx.log
                .info(&format!("{}: local compile: {reason}", argv[0]));
            let slot_key = if matches!(reason, LocalReason::PreprocessOnly) {
                CPP_KEY
            } else {
                LOCAL_KEY
            };
            return run_local_with(ctx, &program, &argv, &slots, slot_key);
        }
    };
    crate::driver::distribute(&Job {
        ctx,
        program: &program,
        argv: &argv,
        job: &job,
        slots: &slots,
    })
}
