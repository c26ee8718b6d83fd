//! A distributable job's parts that touch this machine: the compiler's identity, the
//! preprocessor, local compiles under a local slot, and writing the outputs exactly as a
//! local compile would.

use std::path::Path;

use ccfarm_compiler::CompileJob;
use ccfarm_proto::distcc::Reply;

use crate::context::Context;
use crate::exit;
use crate::history::{self, History};
use crate::identity::IdentityCache;
use crate::local;
use crate::preprocess::{self, PreprocessError, RunningCpp};
use crate::slots::{Candidate, SlotDir, SlotGuard};

/// Slot keys for work done on this machine.
pub(crate) const LOCAL_KEY: &str = "localhost";
pub(crate) const CPP_KEY: &str = "localcpp";

/// A distributable job and what it runs with.
pub(crate) struct Job<'a> {
    pub(crate) ctx: &'a Context<'a>,
    pub(crate) program: &'a Path,
    pub(crate) argv: &'a [String],
    pub(crate) job: &'a CompileJob,
    pub(crate) slots: &'a SlotDir,
}

impl Job<'_> {
    /// The identity of the compiler this job would run here, to send the job only to a
    /// server with the same compiler ([`crate::identity`]).
    pub(crate) fn identity(&self) -> Option<ccfarm_proto::farm::CompilerKey> {
        let cache = IdentityCache::new(&self.ctx.settings.state_dir);
        let found = cache.identify(self.program, crate::identity::ask_compiler);
        match &found {
            Some(id) => self.ctx.log.info(&format!(
                "{} is {} for {}",
                self.argv[0], id.version, id.target
            )),
            None => self.ctx.log.info(&format!(
                "cannot tell {}'s version and target: any server may compile {}",
                self.argv[0], self.job.input
            )),
        }
        found.map(|id| ccfarm_proto::farm::CompilerKey {
            version: id.version,
            target: id.target,
        })
    }

    /// The compile-time memory and this job's key in it, unless turned off
    /// (`CCFARM_HISTORY=0`) or the job cannot be named.
    pub(crate) fn memory(&self) -> Option<(History, String)> {
        if !self.ctx.settings.history {
            return None;
        }
        let cwd = std::env::current_dir().ok()?;
        let key = history::key(&cwd, &self.job.input, &self.job.output)?;
        Some((History::new(&self.ctx.settings.state_dir), key))
    }

    /// Start cpp (under a cpp slot). Already-preprocessed input needs none.
    pub(crate) fn start_preprocessor(&self) -> Result<Option<RunningCpp>, PreprocessError> {
        if self.job.preprocessed {
            return Ok(None);
        }
        let cpp_argv = ccfarm_compiler::local_cpp_argv(self.argv, self.job);
        let slot = acquire_local(self.ctx, self.slots, CPP_KEY);
        preprocess::start(
            self.program,
            &cpp_argv[1..],
            self.ctx.settings.safeguard,
            slot,
        )
        .map(Some)
    }

    /// Compile here under a local slot; the exit code.
    pub(crate) fn compile_locally(&self) -> i32 {
        run_local_with(self.ctx, self.program, self.argv, self.slots, LOCAL_KEY)
    }

    /// Compile here with the slot the caller holds; the exit code.
    pub(crate) fn compile_here(&self) -> i32 {
        let status = local::run(self.program, &self.argv[1..], self.ctx.settings.safeguard);
        report_local(self.ctx, self.program, status)
    }

    /// Write a successful reply's outputs, as a local compile would; the exit code.
    pub(crate) fn deliver(&self, host: &str, reply: &Reply) -> i32 {
        match write_outputs(reply, Path::new(&self.job.output)) {
            Ok(()) => {
                self.ctx.log.info(&format!(
                    "compile {} on {} completed ok",
                    self.job.input, host
                ));
                0
            }
            Err(e) => {
                self.ctx
                    .log
                    .error(&format!("cannot write {}: {e}", self.job.output));
                exit::IO_ERROR.into()
            }
        }
    }
}

/// Print a reply's stdout and stderr as the compiler would have.
pub(crate) fn emit(reply: &Reply) {
    use std::io::Write;
    let _ = std::io::stdout().write_all(&reply.stdout);
    let _ = std::io::stderr().write_all(&reply.stderr);
}

/// Write the object (replacing any old file, mode 0666 less the umask, as a local
/// compile would), then relay the compiler's output.
///
/// The object is written under a temporary name in its directory and renamed into
/// place, so a build killed halfway (a CI timeout's SIGKILL) never leaves a truncated
/// object newer than its source, which the next `make` would take as up to date.
fn write_outputs(reply: &Reply, output: &Path) -> std::io::Result<()> {
    if output == Path::new("/dev/null") {
        std::fs::write(output, &reply.object)?;
    } else if let Err(e) = write_atomically(output, &reply.object) {
        // As a failed local compile does: no output at all rather than an old one.
        let _ = std::fs::remove_file(output);
        return Err(e);
    }
    emit(reply);
    Ok(())
}

/// Put `bytes` at `path` in one rename, with the mode a newly created file gets.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut file = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.as_deref().unwrap_or("out")))
        .suffix(".ccfarm-tmp")
        .tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o666 & !umask()))?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The process's umask, read without changing it (`/proc/self/status`, Linux 4.7+);
/// 022 where it cannot be read.
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let value = line.strip_prefix("Umask:")?.trim();
                u32::from_str_radix(value, 8).ok()
            })
        })
        .unwrap_or(0o022)
}

fn acquire_local(ctx: &Context<'_>, slots: &SlotDir, key: &str) -> Option<SlotGuard> {
    let count = if key == CPP_KEY {
        ctx.local_slots_cpp
    } else {
        ctx.local_slots
    };
    match slots.acquire(&[Candidate { key, slots: count }], None) {
        Ok(guard) => guard,
        Err(e) => {
            ctx.log.warn(&format!("cannot lock a local slot: {e}"));
            None
        }
    }
}

pub(crate) fn run_local_with(
    ctx: &Context<'_>,
    program: &Path,
    argv: &[String],
    slots: &SlotDir,
    key: &str,
) -> i32 {
    let _slot = acquire_local(ctx, slots, key);
    run_local(ctx, program, argv, None)
}

pub(crate) fn run_local(
    ctx: &Context<'_>,
    program: &Path,
    argv: &[String],
    slots: Option<&SlotDir>,
) -> i32 {
    let _slot = slots.and_then(|s| acquire_local(ctx, s, LOCAL_KEY));
    let status = local::run(program, &argv[1..], ctx.settings.safeguard);
    report_local(ctx, program, status)
}

fn report_local(
    ctx: &Context<'_>,
    program: &Path,
    status: std::io::Result<std::process::ExitStatus>,
) -> i32 {
    match status {
        Ok(s) => local::exit_code(s),
        Err(e) => {
            ctx.log
                .error(&format!("failed to exec {}: {e}", program.display()));
            exit::COMPILER_MISSING.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_object_replaces_the_old_one_in_one_rename_with_a_new_files_mode() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.o");
        std::fs::write(&out, b"old object, much longer than the new one").unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o400)).unwrap();

        write_atomically(&out, b"new").unwrap();

        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask());
        assert_eq!(names(dir.path()), ["x.o"], "no temporary file is left");
    }

    #[test]
    fn a_failed_write_leaves_neither_the_object_nor_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("missing-dir").join("x.o");
        assert!(write_atomically(&out, b"new").is_err());
        assert_eq!(names(dir.path()), Vec::<String>::new());
    }
}
