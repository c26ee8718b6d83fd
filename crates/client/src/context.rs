//! What every compile runs with besides its command line: the settings, the log, the
//! host list and, on a secured farm, the user's credentials (loaded once, when first
//! needed).

use std::sync::Arc;

use ccfarm_trust::{CredentialError, Credentials};

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
    /// `CCFARM_CREDENTIALS` names a directory whose credentials do not load.
    #[error("CCFARM_CREDENTIALS: {0}")]
    Unusable(Arc<CredentialError>),
    /// A secure grant needs credentials and none are named.
    #[error("the scheduler granted a secure server, but CCFARM_CREDENTIALS names no credentials")]
    NotNamed,
}

/// The user's credentials, loaded once per process (a failure too: it is reported for
/// every job of the process, not retried).
static CREDENTIALS: std::sync::OnceLock<Result<Credentials, Arc<CredentialError>>> =
    std::sync::OnceLock::new();

impl Context<'_> {
    /// The user's credentials (`CCFARM_CREDENTIALS`), needed for a secure grant.
    pub fn credentials(&self) -> Result<&'static Credentials, CredentialsError> {
        self.credentials_if_any()?.ok_or(CredentialsError::NotNamed)
    }

    /// The user's credentials if `CCFARM_CREDENTIALS` is set; an error says why they
    /// cannot be used.
    pub fn credentials_if_any(&self) -> Result<Option<&'static Credentials>, CredentialsError> {
        let Some(dir) = &self.settings.credentials else {
            return Ok(None);
        };
        CREDENTIALS
            .get_or_init(|| Credentials::load(dir).map_err(Arc::new))
            .as_ref()
            .map(Some)
            .map_err(|e| CredentialsError::Unusable(e.clone()))
    }
}
