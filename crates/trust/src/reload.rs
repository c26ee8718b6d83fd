//! Settings built from a credential directory and replaced as a whole when it is read
//! again (SIGHUP): new connections take the new ones, open connections keep theirs, and
//! a directory that no longer loads leaves the old ones in force.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

/// The settings in force, if there are credentials.
#[derive(Debug)]
pub struct Reloadable<T> {
    current: RwLock<Option<Arc<T>>>,
    dir: Option<PathBuf>,
}

impl<T> Reloadable<T> {
    /// No credentials.
    pub fn none() -> Reloadable<T> {
        Reloadable {
            current: RwLock::new(None),
            dir: None,
        }
    }

    /// Settings built by `build` from `dir`, if given.
    pub fn load<E>(
        dir: Option<&Path>,
        build: impl Fn(&Path) -> Result<T, E>,
    ) -> Result<Reloadable<T>, E> {
        let current = dir.map(&build).transpose()?.map(Arc::new);
        Ok(Reloadable {
            current: RwLock::new(current),
            dir: dir.map(Path::to_owned),
        })
    }

    /// Build the settings again from the same directory; `Ok(None)` when there is none.
    /// On failure the old settings stay.
    pub fn reload<E>(&self, build: impl Fn(&Path) -> Result<T, E>) -> Result<Option<Arc<T>>, E> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let new = Arc::new(build(dir)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(new.clone());
        Ok(Some(new))
    }

    /// The settings in force.
    pub fn current(&self) -> Option<Arc<T>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_reload_keeps_what_was_in_force() {
        let dir = Path::new("/x");
        let r = Reloadable::load(Some(dir), |_| Ok::<_, ()>(1)).unwrap();
        assert_eq!(r.reload(|_| Ok::<_, ()>(2)).unwrap().as_deref(), Some(&2));
        assert_eq!(r.reload(|_| Err::<i32, _>("broken")), Err("broken"));
        assert_eq!(r.current().as_deref(), Some(&2));
        let none = Reloadable::<i32>::none();
        assert_eq!(none.reload(|_| Ok::<_, ()>(3)), Ok(None));
        assert_eq!(none.current(), None);
    }
}
