//! Preprocessing a job's source here, while its host is chosen and connected to.
//!
//! The preprocessor's stderr is the user's (warnings show once, where a local compile
//! would show them); its output is collected as the source sent to the host.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Child;

use bytes::Bytes;

use crate::exit;
use crate::local;
use crate::slots::SlotGuard;

/// A preprocessor running, holding its local preprocessing slot until it is collected.
#[derive(Debug)]
pub struct RunningCpp {
    child: Child,
    _slot: Option<SlotGuard>,
}

/// Why a job's source could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    /// The compiler could not be started as a preprocessor.
    #[error("failed to exec {program}: {source}")]
    Exec {
        /// The compiler.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Already preprocessed input that cannot be read.
    #[error("cannot read {input}: {source}")]
    ReadInput {
        /// The input file.
        input: String,
        /// Why.
        source: std::io::Error,
    },
    /// The preprocessor failed (its diagnostics already shown): the user's error.
    #[error("cpp {input} on localhost failed")]
    Failed {
        /// The input file.
        input: String,
        /// The preprocessor's exit code, which is the job's.
        code: i32,
    },
    /// The preprocessor's output could not be read.
    #[error("cannot read the preprocessor's output: {0}")]
    Output(std::io::Error),
}

impl PreprocessError {
    /// The exit code the job ends with.
    pub fn exit_code(&self) -> i32 {
        match self {
            PreprocessError::Exec { .. } => exit::COMPILER_MISSING.into(),
            PreprocessError::Failed { code, .. } => *code,
            PreprocessError::ReadInput { .. } | PreprocessError::Output(_) => exit::GENERAL.into(),
        }
    }

    /// Whether the failure is the user's (their source does not preprocess), which is
    /// only worth a verbose line: the preprocessor has said why.
    pub fn is_users(&self) -> bool {
        matches!(self, PreprocessError::Failed { .. })
    }
}

/// Start `program` as the preprocessor with `cpp_args`, under `slot`.
pub fn start(
    program: &Path,
    cpp_args: &[String],
    safeguard: u32,
    slot: Option<SlotGuard>,
) -> Result<RunningCpp, PreprocessError> {
    match local::spawn_preprocessor(program, cpp_args, safeguard) {
        Ok(child) => Ok(RunningCpp { child, _slot: slot }),
        Err(source) => Err(PreprocessError::Exec {
            program: program.to_owned(),
            source,
        }),
    }
}

/// The source of `input`: the running preprocessor's output, or for input that needs
/// none, the file itself.
pub fn finish(cpp: Option<RunningCpp>, input: &str) -> Result<Bytes, PreprocessError> {
    let Some(mut cpp) = cpp else {
        return std::fs::read(input).map(Bytes::from).map_err(|source| {
            PreprocessError::ReadInput {
                input: input.to_owned(),
                source,
            }
        });
    };
    let mut out = Vec::with_capacity(256 * 1024);
    let read = cpp
        .child
        .stdout
        .take()
        .expect("piped")
        .read_to_end(&mut out);
    let status = cpp.child.wait();
    match (read, status) {
        (Ok(_), Ok(s)) if s.success() => Ok(out.into()),
        (_, Ok(s)) if !s.success() => Err(PreprocessError::Failed {
            input: input.to_owned(),
            code: local::exit_code(s),
        }),
        (Err(e), _) | (_, Err(e)) => Err(PreprocessError::Output(e)),
        (Ok(_), Ok(s)) => Err(PreprocessError::Failed {
            input: input.to_owned(),
            code: local::exit_code(s),
        }),
    }
}
