//! Credentials for `ccfarm farm --secure`: a throwaway authority and one credential
//! for the scheduler, each server and the user, made in the farm's directory when it
//! starts and removed with it, so the secure path is one command to try.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ccfarm_trust::authority::DEFAULT_VALIDITY;
use ccfarm_trust::identity::IdentityError;
use ccfarm_trust::store::StoreError;
use ccfarm_trust::{Identity, Role, store};

/// The farm's credential directories.
pub struct FarmCredentials {
    /// The scheduler's.
    pub scheduler: PathBuf,
    /// Each server's, by its name.
    pub servers: Vec<(String, PathBuf)>,
    /// The user's: `CCFARM_CREDENTIALS` for the command the farm runs.
    pub user: PathBuf,
}

/// Why the farm's credentials could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FarmCredentialsError {
    /// A name the farm chose is not a valid identity.
    #[error("cannot make credentials for the farm: {0}")]
    Name(#[from] IdentityError),
    /// Writing the authority or a credential failed.
    #[error("cannot make credentials for the farm: {0}")]
    Store(#[from] StoreError),
}

/// Make an authority and credentials for the scheduler, `servers` and `user`, all
/// under `dir`.
pub fn make(
    dir: &Path,
    servers: &[String],
    user: &str,
) -> Result<FarmCredentials, FarmCredentialsError> {
    let now = SystemTime::now();
    let ca = dir.join("authority");
    store::init_authority(&ca, "ccfarm farm", now)?;
    let issue = |role: Role, name: &str| -> Result<PathBuf, FarmCredentialsError> {
        let identity = Identity::new(role, name)?;
        let out = dir.join(format!("{role}-{name}"));
        let hosts = ["localhost".to_owned(), "127.0.0.1".to_owned()];
        store::issue(&ca, &identity, &hosts, &out, now, DEFAULT_VALIDITY)?;
        Ok(out)
    };
    Ok(FarmCredentials {
        scheduler: issue(Role::Scheduler, "farm")?,
        servers: servers
            .iter()
            .map(|name| Ok((name.clone(), issue(Role::Server, name)?)))
            .collect::<Result<_, FarmCredentialsError>>()?,
        user: issue(Role::User, user)?,
    })
}
