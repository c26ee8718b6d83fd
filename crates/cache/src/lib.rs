//! ccfarm's result cache: nobody compiles the same thing twice.
//!
//! A compile's output is determined by the exact compiler, the options that reach the
//! compiler proper, the preprocessed source, and (when debug information records it)
//! the working directory. [`key`] turns those into a [`Key`], leaving out what cannot
//! change the output (the output's name, the options only the preprocessor or the
//! dependency file see) and refusing what cannot be cached ([`NotCacheable`]). An
//! [`Entry`] holds everything a compile returns — status, stdout, stderr, object and
//! dependency file — and carries its own checksum, so a damaged or altered entry is
//! never served. [`DiskCache`] keeps entries on local disk within a size limit,
//! evicting the least recently used.
//!
//! A shared store ([`SharedStore`], feature `shared`: Redis, WebDAV, memcached, S3
//! through OpenDAL) serves a whole farm; its entries are [`sealed`] by the server that
//! wrote them, so that being able to write the store is not being able to poison it.
//!
//! Keys, entries and seals are pure (no files, no clock); the stores are the only I/O.

pub mod disk;
pub mod entry;
#[cfg(feature = "shared")]
pub mod farm_store;
mod framing;
pub mod key;
pub mod manifest;
pub mod request;
pub mod sealed;
#[cfg(feature = "shared")]
pub mod shared;

pub use disk::{CacheError, DiskCache};
pub use entry::{Entry, EntryError};
#[cfg(feature = "shared")]
pub use farm_store::{FarmStore, Lookup};
pub use key::{Key, KeyInputs, NotCacheable, cacheable, key};
pub use manifest::{DirectInputs, Manifest, manifest_key};
pub use request::{identity, request_key};
pub use sealed::{Seal, SealedError};
#[cfg(feature = "shared")]
pub use shared::{SharedError, SharedStore};
