//! ccfarm's trust model.
//!
//! The farm has one certificate authority ([`authority`], kept in a directory by
//! [`store`]). Every member holds credentials it issued ([`credentials`]): a
//! certificate whose subject names one [`identity`] — the scheduler, a compile server
//! by name, a user, an admin — and its key. Every connection ccfarm speaks natively is
//! TLS 1.3 with a certificate on both sides ([`tls`], [`verify`]): a server proves its
//! name to the scheduler and to the clients it was granted to, a user proves who they
//! are. A server in secure mode runs only jobs that carry a [`ticket`] from the
//! scheduler. Ports that cannot carry credentials (distcc's, the balance daemon's) are
//! restricted by address ([`allow`]).

pub mod allow;
pub mod authority;
pub mod credentials;
pub mod identity;
pub mod record;
pub mod reload;
pub mod seal;
pub mod store;
pub mod ticket;
pub mod tls;
pub mod verify;

pub use credentials::{CredentialError, Credentials};
pub use identity::{Identity, IdentityError, Role};
pub use seal::{SealChecker, SealError, Sealer};
pub use tls::{ClientAuth, TlsError};
pub use verify::Expect;
