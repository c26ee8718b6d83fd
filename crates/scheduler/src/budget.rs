//! The memory the control port's connections may hold in their receive buffers, all of
//! them together: each connection's buffer is bounded by the frame cap and the read
//! deadline, but a thousand connections each holding most of a 256 KiB frame would still
//! hold a quarter of a gigabyte. A connection whose buffer would take the total past the
//! budget is cut off with the reason; live clients, whose frames are a few hundred bytes,
//! never come near it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The shared budget.
#[derive(Debug)]
pub struct Budget {
    cap: usize,
    held: AtomicUsize,
}

/// The budget is spent: what a connection is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the scheduler holds {held} bytes of unfinished messages over all connections, its limit ({cap}); try again"
)]
pub struct Exhausted {
    /// Bytes held when the connection asked for more.
    pub held: usize,
    /// The budget.
    pub cap: usize,
}

impl Budget {
    /// A budget of `cap` bytes.
    pub fn new(cap: usize) -> Arc<Budget> {
        Arc::new(Budget {
            cap,
            held: AtomicUsize::new(0),
        })
    }

    /// Bytes held now, over all connections.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// A connection's share, holding nothing yet.
    pub fn share(self: &Arc<Self>) -> Share {
        Share {
            budget: self.clone(),
            held: 0,
        }
    }
}

/// What one connection holds of the budget; given back when dropped.
#[derive(Debug)]
pub struct Share {
    budget: Arc<Budget>,
    held: usize,
}

impl Share {
    /// The connection now holds `bytes`: taken from the budget, or refused when the total
    /// would pass it (the share is then unchanged). Giving back never fails.
    pub fn hold(&mut self, bytes: usize) -> Result<(), Exhausted> {
        if bytes > self.held {
            let more = bytes - self.held;
            let before = self.budget.held.fetch_add(more, Ordering::Relaxed);
            if before + more > self.budget.cap {
                self.budget.held.fetch_sub(more, Ordering::Relaxed);
                return Err(Exhausted {
                    held: before,
                    cap: self.budget.cap,
                });
            }
        } else {
            self.budget
                .held
                .fetch_sub(self.held - bytes, Ordering::Relaxed);
        }
        self.held = bytes;
        Ok(())
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.held, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_take_from_one_budget_and_give_back_when_they_shrink_or_end() {
        let budget = Budget::new(1000);
        let mut a = budget.share();
        let mut b = budget.share();
        a.hold(600).unwrap();
        assert_eq!(
            b.hold(500),
            Err(Exhausted {
                held: 600,
                cap: 1000
            })
        );
        assert_eq!(budget.held(), 600, "a refused share takes nothing");
        b.hold(400).unwrap();
        assert_eq!(budget.held(), 1000);
        a.hold(100).unwrap();
        assert_eq!(budget.held(), 500);
        drop(b);
        assert_eq!(budget.held(), 100);
        drop(a);
        assert_eq!(budget.held(), 0);
    }
}
