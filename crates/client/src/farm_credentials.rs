//! Credentials for `ccfarm farm --secure`: a throwaway authority and one credential
//! for the scheduler, each server and the user, made when the farm starts and removed
//! when it stops, so the secure path is one command to try.

use std::path::PathBuf;
use std::time::SystemTime;

use ccfarm_trust::authority::DEFAULT_VALIDITY;
use ccfarm_trust::{Identity, Role, store};

/// The farm's credential directories, removed on drop.
pub struct FarmCredentials {
    _dir: tempfile::TempDir,
    /// The scheduler's.
    pub scheduler: PathBuf,
    /// Each server's, by its name.
    pub servers: Vec<(String, PathBuf)>,
    /// The user's: `CCFARM_CREDENTIALS` for the command the farm runs.
    pub user: PathBuf,
}

/// Make an authority and credentials for the scheduler, `servers` and `user`.
pub fn make(servers: &[String], user: &str) -> Result<FarmCredentials, String> {
    let dir = tempfile::Builder::new()
        .prefix("ccfarm-farm-credentials-")
        .tempdir()
        .map_err(|e| format!("cannot make a directory for the farm's credentials: {e}"))?;
    let now = SystemTime::now();
    let ca = dir.path().join("authority");
    store::init_authority(&ca, "ccfarm farm", now).map_err(|e| e.to_string())?;
    let issue = |role: Role, name: &str| -> Result<PathBuf, String> {
        let identity = Identity::new(role, name).map_err(|e| e.to_string())?;
        let out = dir.path().join(format!("{role}-{name}"));
        let hosts = ["localhost".to_owned(), "127.0.0.1".to_owned()];
        store::issue(&ca, &identity, &hosts, &out, now, DEFAULT_VALIDITY)
            .map_err(|e| e.to_string())?;
        Ok(out)
    };
    Ok(FarmCredentials {
        scheduler: issue(Role::Scheduler, "farm")?,
        servers: servers
            .iter()
            .map(|name| Ok((name.clone(), issue(Role::Server, name)?)))
            .collect::<Result<_, String>>()?,
        user: issue(Role::User, user)?,
        _dir: dir,
    })
}
