//! Turning a decoded request into a job the server will run — or a refusal with a
//! reason — and turning the finished job's files into a reply.
//!
//! Everything here is blocking file I/O (the request's input is written to the job
//! directory at once, so a queued request holds disk, not memory); the session runs
//! it on the blocking pool.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use ccfarm_compiler::{Classification, CompileJob};
use ccfarm_proto::distcc::pump::{SafeEntryKind, SafeTree, validate_tree};
use ccfarm_proto::distcc::{Payload, Reply, Request, Version};
use tempfile::TempDir;

use crate::daemon::Daemon;
use crate::job::JobSpec;
use crate::stats::ConnectionOutcome;

/// Why a request is not run, as the client and the log will read it.
#[derive(Debug, Clone)]
pub struct RequestRefusal {
    /// The stats category.
    pub outcome: ConnectionOutcome,
    /// The STAT sent to the client.
    pub status: u32,
    /// The explanation sent in SERR.
    pub reason: String,
}

/// A job whose inputs are on disk. Dropping it removes its directory.
#[derive(Debug)]
pub struct PreparedJob {
    /// What to run.
    pub spec: JobSpec,
    output: PathBuf,
    dotd: Option<DotdFixup>,
    /// Held only so that dropping the job removes the directory.
    _dir: TempDir,
}

/// Protocol 3: where the server's dependency file is, and how to make it the client's.
#[derive(Debug)]
struct DotdFixup {
    path: PathBuf,
    root: String,
    target: String,
}

/// Check a request and lay out its job directory, or say why not.
pub fn prepare(daemon: &Daemon, request: Request) -> Result<PreparedJob, RequestRefusal> {
    let Checked { argv, program, job } = check(daemon, request.version, &request.argv)?;
    let dir = job_dir(daemon)?;
    let io = |what: &str, e: std::io::Error| RequestRefusal::server_error(format!("{what}: {e}"));
    let output = dir.path().join(if job.assemble_only() {
        "output.s"
    } else {
        "output.o"
    });

    let (args, cwd, dotd) = match request.payload {
        Payload::Preprocessed(source) => {
            let ext = ccfarm_compiler::preprocessed_extension(job.language());
            let input = dir.path().join(format!("input.{ext}"));
            std::fs::write(&input, &source).map_err(|e| io("cannot write the source", e))?;
            let args = ccfarm_compiler::rewrite_for_server(
                &argv,
                &job,
                path_str(&input)?,
                path_str(&output)?,
            );
            (args, dir.path().to_owned(), None)
        }
        Payload::Tree { cwd, entries } => {
            let system_dirs = daemon.system_dirs(&program);
            let tree = validate_tree(&cwd, &entries, &system_dirs).map_err(|e| {
                RequestRefusal::denied(ConnectionOutcome::refused_tree, e.to_string())
            })?;
            let root = dir.path().join("root");
            write_tree(&root, &tree).map_err(|e| io("cannot write the source tree", e))?;
            let cwd = root.join(bytes_path(&tree.cwd.to_bytes()));
            std::fs::create_dir_all(&cwd)
                .map_err(|e| io("cannot create the working directory", e))?;
            let deps = dir.path().join("deps.d");
            let root_str = path_str(&root)?.to_owned();
            let pump = ccfarm_compiler::rewrite_for_pump(
                &argv,
                &job,
                &root_str,
                path_str(&deps)?,
                path_str(&output)?,
            );
            let fixup = DotdFixup {
                path: deps,
                root: root_str,
                target: pump.target.clone(),
            };
            (pump.argv, cwd, Some(fixup))
        }
    };
    let spec = JobSpec {
        program,
        args: args.into_iter().skip(1).collect(),
        cwd,
        job_dir: dir.path().to_owned(),
        stdout: dir.path().join("stdout"),
        stderr: dir.path().join("stderr"),
        lifetime: daemon.config.job_lifetime,
        grace: daemon.config.kill_grace,
        sandbox: daemon.sandbox.clone(),
    };
    Ok(PreparedJob {
        spec,
        output,
        dotd,
        _dir: dir,
    })
}

/// A command line that passed every check.
struct Checked {
    argv: Vec<String>,
    program: String,
    job: CompileJob,
}

/// The checks every request passes before anything is written: text arguments, an
/// allow-listed compiler, no dangerous argument, a single distributable compile.
fn check(daemon: &Daemon, version: Version, raw: &[Bytes]) -> Result<Checked, RequestRefusal> {
    let argv = raw
        .iter()
        .enumerate()
        .map(|(i, arg)| {
            String::from_utf8(arg.to_vec()).map_err(|_| {
                RequestRefusal::denied(
                    ConnectionOutcome::refused_command,
                    format!("argument {i} is not valid UTF-8"),
                )
            })
        })
        .collect::<Result<Vec<String>, RequestRefusal>>()?;
    let Some(argv0) = argv.first() else {
        return Err(RequestRefusal::denied(
            ConnectionOutcome::refused_command,
            "the command line is empty".into(),
        ));
    };
    let program = daemon.compilers.resolve(argv0).map_err(|reason| {
        RequestRefusal::denied(ConnectionOutcome::refused_compiler, reason.to_string())
    })?;
    ccfarm_compiler::check_server_safety(&argv, version.number()).map_err(|refusal| {
        RequestRefusal::denied(ConnectionOutcome::refused_argument, refusal.to_string())
    })?;
    let job = match ccfarm_compiler::scan_args(&argv) {
        Classification::Distributable(job) => job,
        Classification::Local(reason) => {
            return Err(RequestRefusal::denied(
                ConnectionOutcome::refused_command,
                format!("not a single compile this server can run: {reason}"),
            ));
        }
    };
    Ok(Checked { argv, program, job })
}

fn job_dir(daemon: &Daemon) -> Result<TempDir, RequestRefusal> {
    tempfile::Builder::new()
        .prefix(&crate::jobdirs::prefix(std::process::id()))
        .tempdir_in(&daemon.config.tmp_dir)
        .map_err(|e| RequestRefusal::server_error(format!("cannot create a job directory: {e}")))
}

/// Prepare a protocol-1/2 job from its command line alone, to be started before its
/// source arrives: the compiler reads the preprocessed source from stdin (`-x
/// cpp-output -`), which gives the same object as compiling a `.i` file. `None` when
/// the command cannot be run that way (the caller then waits for the whole request).
pub fn prepare_streamed(
    daemon: &Daemon,
    version: Version,
    raw: &[Bytes],
) -> Result<Option<PreparedJob>, RequestRefusal> {
    let Checked { argv, program, job } = check(daemon, version, raw)?;
    let dir = job_dir(daemon)?;
    let output = dir.path().join(if job.assemble_only() {
        "output.s"
    } else {
        "output.o"
    });
    let mut args = ccfarm_compiler::rewrite_for_server(&argv, &job, "-", path_str(&output)?);
    if job.language_arg.is_none() {
        // The language came from the file name, which stdin does not have.
        if args.get(job.input_index).map(String::as_str) != Some("-") {
            return Ok(None);
        }
        let x = job.language().preprocessed_x_name().to_owned();
        args.splice(job.input_index..job.input_index, ["-x".to_owned(), x]);
    }
    let spec = JobSpec {
        program,
        args: args.into_iter().skip(1).collect(),
        cwd: dir.path().to_owned(),
        job_dir: dir.path().to_owned(),
        stdout: dir.path().join("stdout"),
        stderr: dir.path().join("stderr"),
        lifetime: daemon.config.job_lifetime,
        grace: daemon.config.kill_grace,
        sandbox: daemon.sandbox.clone(),
    };
    Ok(Some(PreparedJob {
        spec,
        output,
        dotd: None,
        _dir: dir,
    }))
}

fn path_str(path: &Path) -> Result<&str, RequestRefusal> {
    path.to_str()
        .ok_or_else(|| RequestRefusal::server_error(format!("job path {path:?} is not UTF-8")))
}

fn bytes_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// Create the validated tree under `root`. Links are made absolute into `root`, so
/// their meaning does not depend on where they sit; a link out to one of the
/// compiler's system directories points at that directory itself.
fn write_tree(root: &Path, tree: &SafeTree) -> std::io::Result<()> {
    std::fs::create_dir_all(root)?;
    for entry in &tree.entries {
        let path = root.join(bytes_path(&entry.path.to_bytes()));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match &entry.kind {
            SafeEntryKind::File(data) => std::fs::write(&path, data)?,
            SafeEntryKind::Link(target) => {
                std::os::unix::fs::symlink(root.join(bytes_path(&target.to_bytes())), &path)?
            }
            SafeEntryKind::System(target) => std::os::unix::fs::symlink(bytes_path(target), &path)?,
        }
    }
    Ok(())
}

impl PreparedJob {
    /// Read the finished job's outputs into the reply. Oversized outputs are
    /// refused rather than sent: the protocol caps every body.
    pub fn collect(
        &self,
        max_body_len: u32,
        version: Version,
        status: u32,
    ) -> Result<Reply, RequestRefusal> {
        let limit = u64::from(max_body_len);
        let read = |path: &Path, required: bool| -> Result<Bytes, RequestRefusal> {
            match std::fs::metadata(path) {
                Ok(meta) if meta.len() > limit => Err(RequestRefusal::server_error(format!(
                    "{} is {} bytes, more than the {limit}-byte limit",
                    path.file_name().unwrap_or_default().to_string_lossy(),
                    meta.len()
                ))),
                Ok(_) => std::fs::read(path).map(Bytes::from).map_err(|e| {
                    RequestRefusal::server_error(format!("cannot read {path:?}: {e}"))
                }),
                // A compiler that succeeds without writing output produces an empty
                // file on the client, as with distccd.
                Err(_) if !required => Ok(Bytes::new()),
                Err(e) => Err(RequestRefusal::server_error(format!(
                    "cannot read {path:?}: {e}"
                ))),
            }
        };
        // A compile on a full or read-only disk may have lost its own diagnostics (they
        // go to files in the job directory) or failed for want of space: nothing it left
        // can be trusted as the user's result, so it is the server's failure.
        if let Some(trouble) = crate::system::disk_trouble(&self.spec.stderr) {
            return Err(RequestRefusal::server_error(format!(
                "the job directory's disk {trouble}"
            )));
        }
        let stderr = read(&self.spec.stderr, true)?;
        let stdout = read(&self.spec.stdout, true)?;
        let (object, dotd) = if status == 0 {
            let object = read(&self.output, false)?;
            let dotd = match &self.dotd {
                Some(fix) if version == Version::V3 => {
                    let raw = read(&fix.path, false)?;
                    let text = String::from_utf8_lossy(&raw);
                    Some(Bytes::from(ccfarm_compiler::fix_dotd(
                        &text,
                        &fix.root,
                        &fix.target,
                    )))
                }
                _ => None,
            };
            (object, dotd)
        } else {
            (Bytes::new(), None)
        };
        Ok(Reply {
            version,
            status,
            stderr,
            stdout,
            object,
            dotd,
        })
    }
}
