//! Where each host takes jobs, both ways: by host (to send a client to its granted server)
//! and by address (to recognise the server a client says a file last compiled on).
//!
//! One type, so that the two maps cannot drift apart: a host's address changes when it
//! registers again, and an address can pass to another host (a server restarted under a
//! new name) while the old host is still known; forgetting that old host must not forget
//! the address's new owner.

use std::collections::HashMap;
use std::net::SocketAddr;

use ccfarm_placement::HostId;

/// Where a host's distcc server listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Address {
    pub(crate) addr: SocketAddr,
    pub(crate) lzo: bool,
}

/// The hosts' addresses.
#[derive(Debug, Default)]
pub(crate) struct Addresses {
    of_host: HashMap<HostId, Address>,
    host_at: HashMap<SocketAddr, HostId>,
}

impl Addresses {
    /// Host `id` takes jobs at `address` (replacing any address it had); the address is
    /// now this host's, whoever had it before.
    pub(crate) fn insert(&mut self, id: HostId, address: Address) {
        if let Some(old) = self.of_host.insert(id, address) {
            self.unmap(old.addr, id);
        }
        self.host_at.insert(address.addr, id);
    }

    /// Forgets host `id`'s address.
    pub(crate) fn remove(&mut self, id: HostId) {
        if let Some(old) = self.of_host.remove(&id) {
            self.unmap(old.addr, id);
        }
    }

    /// Drops `addr` from the reverse map if it still names host `id`.
    fn unmap(&mut self, addr: SocketAddr, id: HostId) {
        if self.host_at.get(&addr) == Some(&id) {
            self.host_at.remove(&addr);
        }
    }

    pub(crate) fn get(&self, id: HostId) -> Option<Address> {
        self.of_host.get(&id).copied()
    }

    /// The host that takes jobs at `addr`, if any.
    pub(crate) fn host_at(&self, addr: SocketAddr) -> Option<HostId> {
        self.host_at.get(&addr).copied()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (HostId, Address)> + '_ {
        self.of_host.iter().map(|(id, a)| (*id, *a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(port: u16) -> Address {
        Address {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            lzo: false,
        }
    }

    #[test]
    fn a_new_address_replaces_the_old_one_both_ways() {
        let mut a = Addresses::default();
        a.insert(HostId(1), at(1));
        a.insert(HostId(1), at(2));
        assert_eq!(a.get(HostId(1)), Some(at(2)));
        assert_eq!(a.host_at(at(1).addr), None);
        assert_eq!(a.host_at(at(2).addr), Some(HostId(1)));
        a.remove(HostId(1));
        assert_eq!((a.get(HostId(1)), a.host_at(at(2).addr)), (None, None));
    }

    #[test]
    fn forgetting_a_host_keeps_its_address_s_new_owner() {
        let mut a = Addresses::default();
        a.insert(HostId(1), at(1));
        // The server restarts under a new name on the same port, then the old host goes.
        a.insert(HostId(2), at(1));
        a.remove(HostId(1));
        assert_eq!(a.host_at(at(1).addr), Some(HostId(2)));
        // The new owner moving on frees the address.
        a.insert(HostId(1), at(3));
        a.insert(HostId(2), at(4));
        assert_eq!(a.host_at(at(1).addr), None);
        assert_eq!(a.iter().count(), 2);
    }
}
