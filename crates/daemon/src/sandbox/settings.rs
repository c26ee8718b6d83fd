//! The sandbox's settings: the `[sandbox]` table of the TOML file and the flags that
//! override it, merged into [`SandboxSettings`].

use std::path::PathBuf;

use serde::Deserialize;

use super::rlimits::{ProcessCap, ResourceLimits, UnknownProcessCap};

/// Which mechanism to use, as configured (`sandbox = "auto"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Landlock if the kernel has it, else bubblewrap if it works, else only limits.
    #[default]
    Auto,
    /// Landlock or refuse to start.
    Landlock,
    /// bubblewrap or refuse to start.
    Bwrap,
    /// Only the resource limits.
    Off,
}

/// A sandbox mode other than `auto`, `landlock`, `bwrap` or `off`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sandbox {0:?}: use auto, landlock, bwrap or off")]
pub struct UnknownMode(pub String);

impl std::str::FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Mode, UnknownMode> {
        match s {
            "auto" => Ok(Mode::Auto),
            "landlock" => Ok(Mode::Landlock),
            "bwrap" | "bubblewrap" => Ok(Mode::Bwrap),
            "off" | "none" => Ok(Mode::Off),
            other => Err(UnknownMode(other.to_owned())),
        }
    }
}

/// A mistake in the sandbox's settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// `mode` names no mechanism.
    #[error(transparent)]
    Mode(#[from] UnknownMode),
    /// `process_cap` names no way of capping processes.
    #[error(transparent)]
    ProcessCap(#[from] UnknownProcessCap),
    /// A read-only path is relative, so what it allows would depend on the directory.
    #[error("sandbox path {} must be absolute", .0.display())]
    RelativePath(PathBuf),
}

/// The settings the sandbox is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxSettings {
    /// The mechanism.
    pub mode: Mode,
    /// Read-only paths beyond the base set and what the compilers report.
    pub extra_paths: Vec<PathBuf>,
    /// Resource limits of each compile.
    pub limits: ResourceLimits,
}

/// The sandbox's command-line flags (part of ccfarmd's).
#[derive(Debug, Default, clap::Args)]
pub struct SandboxFlags {
    /// Confine compiles: auto, landlock, bwrap or off [default: auto].
    #[arg(long = "sandbox", value_name = "MODE")]
    pub mode: Option<Mode>,
    /// Let compiles also read PATH (a toolchain the compilers do not report); repeatable.
    #[arg(long = "sandbox-path", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// CPU seconds of each compiler process, 0 for none [default: 1800].
    #[arg(long, value_name = "S")]
    pub cpu_limit: Option<u64>,
    /// Address space of each compiler process in MiB, 0 for none [default: 8192].
    #[arg(long, value_name = "MB")]
    pub memory_limit: Option<u64>,
    /// Largest file a compile may write, in MiB, 0 for none [default: 4096].
    #[arg(long, value_name = "MB")]
    pub file_size_limit: Option<u64>,
    /// Processes of one compile, 0 for none [default: 256].
    #[arg(long, value_name = "N")]
    pub process_limit: Option<u64>,
    /// How the process limit is enforced: auto, cgroup or rlimit [default: auto].
    #[arg(long, value_name = "HOW")]
    pub process_cap: Option<ProcessCap>,
}

/// `[sandbox]` in the TOML file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSandbox {
    mode: Option<String>,
    paths: Option<Vec<PathBuf>>,
    cpu_secs: Option<u64>,
    address_space_mb: Option<u64>,
    file_size_mb: Option<u64>,
    processes: Option<u64>,
    process_cap: Option<String>,
}

impl SandboxFlags {
    /// The flags over the file over the defaults; the error says what is wrong.
    pub fn merge(self, file: FileSandbox) -> Result<SandboxSettings, SettingsError> {
        let mode = match (self.mode, file.mode) {
            (Some(mode), _) => mode,
            (None, Some(name)) => name.parse()?,
            (None, None) => Mode::default(),
        };
        let mut extra_paths = file.paths.unwrap_or_default();
        extra_paths.extend(self.paths);
        if let Some(relative) = extra_paths.iter().find(|p| !p.is_absolute()) {
            return Err(SettingsError::RelativePath(relative.clone()));
        }
        let d = ResourceLimits::default();
        let process_cap = match (self.process_cap, file.process_cap) {
            (Some(cap), _) => cap,
            (None, Some(name)) => name.parse()?,
            (None, None) => d.process_cap,
        };
        Ok(SandboxSettings {
            mode,
            extra_paths,
            limits: ResourceLimits {
                cpu_secs: self.cpu_limit.or(file.cpu_secs).unwrap_or(d.cpu_secs),
                address_space_mb: self
                    .memory_limit
                    .or(file.address_space_mb)
                    .unwrap_or(d.address_space_mb),
                file_size_mb: self
                    .file_size_limit
                    .or(file.file_size_mb)
                    .unwrap_or(d.file_size_mb),
                processes: self.process_limit.or(file.processes).unwrap_or(d.processes),
                process_cap,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        sandbox: SandboxFlags,
    }

    fn flags(args: &[&str]) -> SandboxFlags {
        Cli::try_parse_from(std::iter::once("ccfarmd").chain(args.iter().copied()))
            .unwrap()
            .sandbox
    }

    fn file(text: &str) -> FileSandbox {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn modes_parse() {
        assert_eq!("auto".parse::<Mode>(), Ok(Mode::Auto));
        assert_eq!("landlock".parse::<Mode>(), Ok(Mode::Landlock));
        assert_eq!("bubblewrap".parse::<Mode>(), Ok(Mode::Bwrap));
        assert_eq!("off".parse::<Mode>(), Ok(Mode::Off));
        let err = "chroot".parse::<Mode>().unwrap_err();
        assert!(err.to_string().contains("auto"), "{err}");
    }

    #[test]
    fn on_by_default() {
        let settings = flags(&[]).merge(FileSandbox::default()).unwrap();
        assert_eq!(settings, SandboxSettings::default());
        assert_eq!(settings.mode, Mode::Auto);
        assert_eq!(settings.limits, ResourceLimits::default());
    }

    #[test]
    fn flags_over_the_file_over_the_defaults() {
        let from_file = file(
            r#"
            mode = "bwrap"
            paths = ["/opt/sdk"]
            cpu_secs = 60
            file_size_mb = 0
            process_cap = "rlimit"
            "#,
        );
        let settings = flags(&[
            "--sandbox",
            "landlock",
            "--sandbox-path",
            "/opt/cc",
            "--process-limit",
            "32",
        ])
        .merge(from_file)
        .unwrap();
        assert_eq!(settings.mode, Mode::Landlock, "the flag wins");
        assert_eq!(
            settings.extra_paths,
            [PathBuf::from("/opt/sdk"), PathBuf::from("/opt/cc")]
        );
        assert_eq!(
            settings.limits,
            ResourceLimits {
                cpu_secs: 60,
                file_size_mb: 0,
                processes: 32,
                process_cap: ProcessCap::Rlimit,
                ..ResourceLimits::default()
            }
        );
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(flags(&[]).merge(file("mode = \"chroot\"")).is_err());
        assert!(flags(&[]).merge(file("process_cap = \"pids\"")).is_err());
        let relative = flags(&[]).merge(file("paths = [\"opt\"]")).unwrap_err();
        assert!(relative.to_string().contains("absolute"), "{relative}");
        assert!(toml::from_str::<FileSandbox>("modes = \"auto\"").is_err());
        let cli = Cli::try_parse_from(["ccfarmd", "--sandbox", "jail"]);
        assert!(cli.is_err());
    }
}
