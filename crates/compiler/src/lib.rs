//! Compiler command-line analysis.

mod expand;
mod lang;
mod options;
mod rules;
mod scan;

pub use expand::{expand_preprocessor_options, split_response_file};
pub use lang::{Language, preprocessed_extension};
pub use rules::LocalReason;
pub use scan::{
    ArgForm, ArgPosition, Classification, CompileJob, DepStyle, DepTarget, Dependencies, Mode,
    scan_args,
};
