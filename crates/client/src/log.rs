//! distcc-style log lines: `NAME[pid] message` on stderr (or in the log file), warnings
//! and errors always, informational lines only when verbose. Nothing is printed on a
//! normal successful compile unless asked, so the compiler's own stderr stays clean.

use std::io::Write;
use std::path::PathBuf;

/// Where log lines go.
#[derive(Debug, Clone)]
pub struct Logger {
    name: &'static str,
    verbose: bool,
    file: Option<PathBuf>,
}

impl Logger {
    /// `name` is `ccfarm` or `distcc`, as the program was invoked.
    pub fn new(name: &'static str, verbose: bool, file: Option<PathBuf>) -> Logger {
        Logger {
            name,
            verbose,
            file,
        }
    }

    /// An informational line (verbose only).
    pub fn info(&self, message: &str) {
        if self.verbose {
            self.write(message);
        }
    }

    /// A warning.
    pub fn warn(&self, message: &str) {
        self.write(&format!("Warning: {message}"));
    }

    /// An error.
    pub fn error(&self, message: &str) {
        self.write(&format!("ERROR: {message}"));
    }

    fn write(&self, message: &str) {
        let line = format!("{}[{}] {message}\n", self.name, std::process::id());
        if let Some(path) = &self.file {
            let opened = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path);
            match opened {
                Ok(mut f) => {
                    let _ = f.write_all(line.as_bytes());
                    return;
                }
                Err(e) => {
                    // As distcc: say so once per line, then log to stderr.
                    let _ = writeln!(
                        std::io::stderr(),
                        "{}[{}] failed to open logfile {}: {e}",
                        self.name,
                        std::process::id(),
                        path.display()
                    );
                }
            }
        }
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}
