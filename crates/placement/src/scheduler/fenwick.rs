//! A Fenwick tree of flags by host id, for `random`'s "the n-th free host in configured
//! order" in logarithmic time.

/// A Fenwick tree of 0/1 flags by host id: count and n-th set flag in O(log n).
#[derive(Debug, Clone, Default)]
pub(crate) struct Fenwick {
    /// 1-based partial sums; the length is a power of two (or zero).
    tree: Vec<u32>,
    flags: Vec<bool>,
}

impl Fenwick {
    /// No flag set.
    pub(crate) const EMPTY: Fenwick = Fenwick {
        tree: Vec::new(),
        flags: Vec::new(),
    };

    pub(crate) fn set(&mut self, i: usize, on: bool) {
        if i >= self.flags.len() {
            self.grow(i + 1);
        }
        if self.flags[i] == on {
            return;
        }
        self.flags[i] = on;
        let mut k = i + 1;
        while k <= self.tree.len() {
            if on {
                self.tree[k - 1] += 1;
            } else {
                self.tree[k - 1] -= 1;
            }
            k += k & k.wrapping_neg();
        }
    }

    fn grow(&mut self, need: usize) {
        let size = need.next_power_of_two().max(64);
        let flags = std::mem::replace(&mut self.flags, vec![false; size]);
        self.tree = vec![0; size];
        for (i, on) in flags.into_iter().enumerate() {
            if on {
                self.set(i, true);
            }
        }
    }

    pub(crate) fn count(&self) -> u32 {
        self.tree.last().copied().unwrap_or(0)
    }

    /// The index of the `k`-th set flag (0-based); `k < count()`.
    pub(crate) fn nth(&self, mut k: u32) -> usize {
        let mut pos = 0;
        let mut step = self.tree.len();
        while step > 0 {
            let next = pos + step;
            if next <= self.tree.len() && self.tree[next - 1] <= k {
                k -= self.tree[next - 1];
                pos = next;
            }
            step /= 2;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenwick_counts_and_finds_the_nth_flag() {
        let mut f = Fenwick::default();
        for i in [3, 70, 5, 200] {
            f.set(i, true);
        }
        f.set(5, false);
        f.set(5, false);
        assert_eq!(f.count(), 3);
        assert_eq!([f.nth(0), f.nth(1), f.nth(2)], [3, 70, 200]);
    }
}
