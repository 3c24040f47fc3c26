//! Runs shared among processes (MPI ranks): which rank this process is, how the queries of
//! a kernel sum are shared out, and the one collective operation a run needs, gathering
//! every rank's share in rank order.
//!
//! A distributed run is the single-process run computed in pieces: a kernel sum gives each
//! query a result that does not depend on which other queries are evaluated with it (all
//! but the grid's, see [`crate::kde::KernelSums::eval_on_ranks`]), so rank `r` computes
//! the queries of its share and the gather puts them back in order, the same bits as one
//! process computing them all. Every rank holds every point, steps the same particles and takes the same
//! decisions; only rank 0 writes.
//!
//! The ranks are installed on the thread that steps the simulation ([`install`]); a
//! [`Simulation`](crate::Simulation) shares its sums only once told to
//! ([`Simulation::distributed`](crate::Simulation::distributed)), so anything else computed
//! on rank 0 alone (metrics, pictures, the predicted spectrum) never waits for the others.

#[cfg(feature = "mpi")]
pub mod mpi;

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

/// The processes of a run and their one collective operation.
pub trait Ranks {
    /// This process's rank, from 0.
    fn rank(&self) -> usize;
    /// How many ranks there are.
    fn size(&self) -> usize;
    /// Every rank's `local` into `all`, rank 0's first: rank `r` contributes `counts[r]`
    /// values. Every rank calls it, with the same `counts`.
    fn all_gather(&self, local: &[f64], counts: &[usize], all: &mut [f64]);
}

thread_local! {
    static RANKS: RefCell<Option<Rc<dyn Ranks>>> = const { RefCell::new(None) };
}

/// Installs `ranks` for the current thread (the one that steps the simulation).
pub fn install(ranks: Rc<dyn Ranks>) {
    RANKS.with(|r| *r.borrow_mut() = Some(ranks));
}

/// The ranks installed on this thread, if more than one.
pub fn current() -> Option<Rc<dyn Ranks>> {
    RANKS
        .with(|r| r.borrow().clone())
        .filter(|ranks| ranks.size() > 1)
}

/// Rank `rank`'s share of `n` items among `size` ranks: contiguous, in whole units of
/// `unit` items (but the last), as even as the units allow, lower ranks first.
pub fn share(n: usize, unit: usize, size: usize, rank: usize) -> Range<usize> {
    let units = n.div_ceil(unit.max(1));
    let (base, extra) = (units / size, units % size);
    let start = rank * base + rank.min(extra);
    let end = start + base + usize::from(rank < extra);
    (start * unit).min(n)..(end * unit).min(n)
}

/// Every rank's share of a per-item array with `width` values per item, gathered in rank
/// order: `local` holds this rank's items of `shares`, `all` receives every item.
pub fn gather_shares(
    ranks: &dyn Ranks,
    shares: &[Range<usize>],
    width: usize,
    local: &[f64],
    all: &mut [f64],
) {
    let counts: Vec<usize> = shares.iter().map(|s| s.len() * width).collect();
    ranks.all_gather(local, &counts, all);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shares cover `0..n` in order without overlap, in whole units but the last, for
    /// every size.
    #[test]
    fn shares_tile_the_range() {
        for n in [0usize, 1, 255, 256, 700, 2000, 10_001] {
            for unit in [1usize, 256] {
                for size in 1..=5 {
                    let mut next = 0;
                    for rank in 0..size {
                        let s = share(n, unit, size, rank);
                        assert_eq!(s.start, next, "n {n} unit {unit} size {size}");
                        assert!(s.start.is_multiple_of(unit) || s.start == n);
                        next = s.end;
                    }
                    assert_eq!(next, n);
                }
            }
        }
    }
}
