//! What a gcc/clang command line means, and how ccfarm must rewrite it.
//!
//! This crate is **pure**: every function maps strings to strings (or to a verdict). It
//! never touches the filesystem, spawns a process, reads the clock or the environment, so
//! all of it is exhaustively testable and the client, the daemon and the tests share one
//! reading of a command line. Whatever needs I/O stays with the caller:
//!
//! * reading response files (this crate tokenises their contents: [`split_response_file`]);
//! * environment variables such as `DEPENDENCIES_OUTPUT`, `CPATH` or `DISTCC_*`;
//! * resolving the implicit compiler (`distcc -c x.c`), masquerading and cross-compiler
//!   renaming, compiler allow-lists (the daemon matches [`compiler_name`] itself);
//! * choosing temporary paths, and sandboxing the compiler that runs on them.
//!
//! The pieces, in the order a job meets them:
//!
//! * **Client.** [`expand_preprocessor_options`] rewrites `-Wp,` options; [`scan_args`]
//!   classifies the command as [`Classification::Distributable`] (with a [`CompileJob`]
//!   naming input, output, language and dependency options) or
//!   [`Classification::Local`] with a [`LocalReason`]. The rules follow distcc 3.4's
//!   `dcc_scan_args`, minus its known bugs. For protocols 1 and 2, [`local_cpp_argv`] is
//!   the local preprocessor command and [`strip_local_args`] the command to send.
//! * **Server.** [`check_server_safety`] refuses, with a [`Refusal`] that says why,
//!   arguments that would let a client choose what runs or which server files are read or
//!   written. Then [`rewrite_for_server`] (protocols 1/2; name the input with
//!   [`preprocessed_extension`]) or [`rewrite_for_pump`] and [`fix_dotd`] (protocol 3).
//! * **Naming.** [`source_name`] names the file a command line compiles, for logs and
//!   statistics where only the arguments are known.
//! * **Identity.** [`identity`] reads which compiler (version and target) answered
//!   `-dumpfullversion` and `-dumpmachine`, or produced an object.

mod client;
pub mod comments;
mod expand;
pub mod identity;
mod lang;
mod options;
mod rules;
mod scan;
mod server;
mod source;

pub use client::{local_cpp_argv, server_argv, strip_local_args};
pub use comments::Preprocessing;
pub use expand::{expand_preprocessor_options, split_response_file};
pub use lang::{Language, preprocessed_extension};
pub use rules::LocalReason;
pub use scan::{
    ArgForm, ArgPosition, Classification, CompileJob, DepStyle, DepTarget, Dependencies, Mode,
    scan_args, scan_client_args,
};
pub use server::{
    PumpArgs, Refusal, RefusalKind, check_server_safety, compiler_name, fix_dotd, rewrite_for_pump,
    rewrite_for_server,
};
pub use source::source_name;
