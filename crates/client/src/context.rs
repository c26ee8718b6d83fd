//! What every compile runs with besides its command line: the settings, the log, the
//! host list and, on a secured farm, the user's credentials (loaded once, when first
//! needed).

use crate::agent::Dialer;

use crate::env::Settings;
use crate::hosts::HostList;
use crate::log::Logger;

/// Everything a compile needs besides its command line.
pub struct Context<'a> {
    /// Settings from the environment.
    pub settings: &'a Settings,
    /// The parsed host list.
    pub hosts: &'a HostList,
    /// Logging.
    pub log: &'a Logger,
    /// `PATH`, to find the real compiler.
    pub path_var: Option<&'a str>,
    /// Concurrent local compiles allowed.
    pub local_slots: u32,
    /// Concurrent local preprocessors allowed.
    pub local_slots_cpp: u32,
}

/// Why the user's credentials cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialsError {
    /// A secure grant needs credentials and none are named.
    #[error("the scheduler granted a secure server, but CCFARM_CREDENTIALS names no credentials")]
    NotNamed,
}

/// How this process reaches a secure farm, made when first needed.
static DIALER: std::sync::OnceLock<Option<Dialer>> = std::sync::OnceLock::new();

impl Context<'_> {
    /// How to reach a secure server: needed for a secure grant.
    pub fn dialer(&self) -> Result<&'static Dialer, CredentialsError> {
        self.dialer_if_any().ok_or(CredentialsError::NotNamed)
    }

    /// How to reach the scheduler and servers over TLS, if `CCFARM_CREDENTIALS` names
    /// the user's credentials (loaded by the agent, or by this process only if it
    /// connects by itself).
    pub fn dialer_if_any(&self) -> Option<&'static Dialer> {
        DIALER
            .get_or_init(|| {
                let settings = self.settings;
                let dir = settings.credentials.as_ref()?;
                Some(Dialer::new(dir, settings.agent))
            })
            .as_ref()
    }
}
