//! Kernel sums on a kiddo k-d tree, with every kernel beyond a cut radius left out and
//! the error that this causes bounded.
//!
//! # Error bound
//!
//! For a query `q` with nearest sample `x_nn` at distance `δ`, weights `w_k > 0` with total
//! `W`, and bandwidth `h`, the tree sums exactly the samples within the radius `r` given by
//!
//! ```text
//! (r² - δ²) / (2h²) = ln(W / (w_nn · tol)) + ln max(1, r/h)          (*)
//! ```
//!
//! (solved from above to a small margin, so `r` satisfies `(*)` with `>=`). Write `S` for the
//! full sum `Σ w_k e_k`, `e_k = exp(-|q - x_k|²/(2h²))`, and `S_r` for its part within `r`.
//! Then
//!
//! - the left-out mass is `T = S - S_r <= W e^(-r²/(2h²))`, and `S_r >= w_nn e^(-δ²/(2h²))`
//!   (the nearest sample is inside `r`), so `(*)` gives `T / S <= T / S_r <= tol`: **the
//!   density (or weighted sum) has relative error at most `tol`**, i.e.
//!   `|log S_r - log S| <= -ln(1 - tol) ≈ tol`;
//! - each left-out displacement term has `w_k e_k |x_k - q| <= w_k max(r, h) e^(-r²/(2h²))`
//!   (the function `u e^(-u²/(2h²))` decreases for `u >= h` and never exceeds `h`), and the
//!   score is a ratio of the displacement sum to `h² S`, so **the score (shift) has error
//!   `|ŝ - s| <= tol (|ŝ| + 1/h)`**: relative error `tol` on the score's own scale, where
//!   `1/h` is the natural unit (the score of a single kernel at distance `h`). The score can
//!   be 0 (at a mode), so no pure relative bound can hold.
//!
//! A query far from every sample still gets the nearest samples and so a finite answer; the
//! bound above holds for it as for any other query.
//!
//! # Dimensions
//!
//! Up to three dimensions, [`build`] returns the far-field tree ([`FarFieldSums`]): a k-d
//! tree whose nodes also carry Taylor moments, so that a query's work stops growing with the
//! samples inside its cut radius. The cut radius above holds a fixed share of a thin target
//! (half a ring), and the far-field tree sums the same query from a bounded number of nodes.
//! Measured with `ganflow bench`, N = M = 10^5, tol 1e-6, 2 cores, the cut-radius tree
//! against the far-field tree, seconds: Gaussian in 2-D 16.4 / 2.17; ring 23.5 / 0.65;
//! Gaussian in 1-D 20.7 / 0.095; in 3-D, Gaussian 16.8 / 8.9, ring 31.6 / 19.1, point
//! masses 41.4 / 0.052, heavy-tailed queries 12.6 / 6.5.
//!
//! From four dimensions the tree is the cut-radius tree. kiddo is const-generic in the
//! dimension; [`build`] dispatches once, over `4..=MAX_DIM`. Taylor moments do not carry
//! over: a degree-`p` expansion in `d` dimensions has `C(p + d, d)` terms (10626 at degree
//! 20 in 4-D, 1820 at degree 12), and the degree that 3-D already needed to drop to (12)
//! admits only `ρ <= 1.55` at tol 1e-6: in 3-D the work per tail query of a thin ring
//! already grows from 2011 to 2923 from M = 10^4 to 10^5 (`tests/farfield.rs`). At degree 8
//! (495 terms in 4-D) the bound admits `ρ <= 0.71`, so a query 5 bandwidths out could
//! expand only nodes of radius up to 0.14 bandwidths. Node-level kernel bounds in the style
//! of Gray and Moore fare worse: a node is summed from its midpoint only when its kernel
//! values differ by a factor `1 + ε`, a node of diameter about `ε h² / D` at distance `D`.
//!
//! At a tight tolerance the radius `(*)` is several bandwidths, and in `d` dimensions a ball
//! of several bandwidths holds a growing share of the samples, so the tree's edge over brute
//! force shrinks with `d`. Against the direct double loop ([`ExactSums`](super::ExactSums);
//! one plug-in field evaluation, N = M = 10^4, N(0, I) against N((1, .., 1), I), Scott
//! bandwidth, tol 1e-6; tree / direct, seconds): d = 4: 0.78 / 1.14; 8: 1.20 / 1.48;
//! 10: 1.66 / 2.07; 12: 1.86 / 2.16; 16: 2.53 / 2.62: the gain is gone by d = 16, so the
//! tree serves `d <= 12` ([`MAX_DIM`]). The exact estimator now runs the blocked sums
//! ([`BlockedSums`](super::BlockedSums)). Vectorised, they beat the cut-radius tree at every
//! size and dimension measured on the development machine, and the far-field tree in 3-D on
//! a Gaussian and a ring (N = M = 10^5: 6.6 and 7.1 s against 8.9 and 19.1 s), so `auto`
//! does not pick the tree above the plane (see
//! [`AUTO_GRID_MIN_SAMPLES_2D`](super::AUTO_GRID_MIN_SAMPLES_2D)); it may still win on CPUs
//! without wide vector units, and against point masses.

use kiddo::{ImmutableKdTree, SquaredEuclidean};
use rayon::prelude::*;

use super::farfield::{self, FarFieldSums};
use super::{KernelSums, LogSumAcc, dist2, log_sum_exp};
use crate::error::{Error, Result};
use crate::num::Portable;
use crate::points::Points;

/// Largest dimension served by the tree.
pub const MAX_DIM: usize = 12;

/// Kernel sums on a k-d tree in `K` dimensions, with relative tolerance `tol`.
pub struct KdTreeSums<const K: usize> {
    samples: Points,
    tree: ImmutableKdTree<f64, K>,
    tol: f64,
}

/// Builds the tree estimator for `samples`; `tol` in (0, 1): up to three dimensions the
/// far-field tree, whose nodes also carry Taylor moments, and the cut-radius tree in 4 to
/// 12 dimensions (see the module's "Dimensions"). Fails for dimensions above
/// [`MAX_DIM`] (use [`Estimator::build`](super::Estimator::build) for the fallback).
pub fn build(samples: Points, tol: f64) -> Result<Box<dyn KernelSums>> {
    if samples.dim() <= farfield::MAX_DIM {
        return Ok(Box::new(FarFieldSums::new(samples, tol)?));
    }
    macro_rules! dispatch {
        ($($k:literal)*) => {
            match samples.dim() {
                $($k => Ok(Box::new(KdTreeSums::<$k>::new(samples, tol)?)),)*
                d => Err(Error::OutOfRange {
                    what: "k-d tree dimension",
                    expected: "at most 12",
                    value: d as f64,
                }),
            }
        };
    }
    dispatch!(4 5 6 7 8 9 10 11 12)
}

impl<const K: usize> KdTreeSums<K> {
    /// Builds the tree.
    pub fn new(samples: Points, tol: f64) -> Result<Self> {
        if samples.dim() != K {
            return Err(Error::DimensionMismatch {
                what: "samples",
                expected: K,
                got: samples.dim(),
            });
        }
        if samples.len() > u32::MAX as usize {
            return Err(Error::Tree(format!(
                "{} samples exceed the tree's limit of {}",
                samples.len(),
                u32::MAX
            )));
        }
        let tree = build_tree::<K>(&samples)?;
        Ok(Self { samples, tree, tol })
    }
}

/// A kiddo tree over `samples` (whose dimension is `K`), built serially so that the tree,
/// and so every result, is the same at any thread count.
fn build_tree<const K: usize>(samples: &Points) -> Result<ImmutableKdTree<f64, K>> {
    let rows: Vec<[f64; K]> = samples
        .rows()
        .map(|r| r.try_into().expect("row length is K"))
        .collect();
    ImmutableKdTree::<f64, K>::builder()
        .with_serial_construction()
        .build_from_slice(&rows)
        .map_err(|e| Error::Tree(format!("{e:?}")))
}

/// The squared cut radius solving `(*)` from above: `delta2` is `δ²`, `log_ratio` is
/// `ln(W / (w_nn tol))`.
pub fn cut_radius2(delta2: f64, h2: f64, log_ratio: f64) -> f64 {
    let need = |r2: f64| delta2 + 2.0 * h2 * (log_ratio + (r2 / h2).sqrt().max(1.0).ln_p());
    let mut r2 = need(0.0);
    // `need` is increasing and concave with slope < 1 past r = h: stepping a little past it
    // reaches a point with r2 >= need(r2) in a few iterations.
    while r2 < need(r2) {
        r2 = need(r2) + 1e-3 * h2;
    }
    r2
}

impl<const K: usize> KdTreeSums<K> {
    /// The squared cut radius for query `q`: every sample beyond it is left out of the sum
    /// (infinite when the nearest sample weighs nothing: then every sample counts).
    /// `log_total` is `ln W`, `log_tol` is `ln tol`.
    fn cut2(
        &self,
        q: &[f64; K],
        h2: f64,
        log_total: f64,
        log_tol: f64,
        log_weights: Option<&[f64]>,
    ) -> f64 {
        let nn = self
            .tree
            .query(q)
            .nearest_one::<SquaredEuclidean<f64>>()
            .execute();
        let lw_nn = log_weights.map_or(0.0, |lw| lw[nn.item as usize]);
        if lw_nn == f64::NEG_INFINITY {
            f64::INFINITY
        } else {
            cut_radius2(nn.distance, h2, log_total - lw_nn - log_tol)
        }
    }

    /// The samples each query's sum touches (those within its cut radius), unweighted: the
    /// tree's work per query, for reports.
    fn touched(&self, queries: &Points, h: f64) -> Vec<usize> {
        let h2 = h * h;
        let (log_total, log_tol) = ((self.samples.len() as f64).ln_p(), self.tol.ln_p());
        queries
            .as_slice()
            .par_chunks(K)
            .map(|q| {
                let q: &[f64; K] = q.try_into().expect("query row length is K");
                let r2 = self.cut2(q, h2, log_total, log_tol, None);
                if r2.is_finite() {
                    let mut count = 0;
                    self.tree
                        .query(q)
                        .within::<SquaredEuclidean<f64>>(r2)
                        .unsorted()
                        .visit(|_| count += 1);
                    count
                } else {
                    self.samples.len()
                }
            })
            .collect()
    }
}

/// The work per query of the tree estimator over `samples` with `tol` at bandwidth `h`
/// (unweighted), for reports: in 4 to 12 dimensions the samples inside each query's cut
/// radius; up to three dimensions, the far-field tree's samples summed plus nodes
/// expanded. Dimensions above [`MAX_DIM`] touch every sample.
pub fn samples_touched(samples: &Points, queries: &Points, h: f64, tol: f64) -> Result<Vec<usize>> {
    samples.check_same_dim("queries", queries)?;
    if samples.dim() <= farfield::MAX_DIM {
        return Ok(FarFieldSums::new(samples.clone(), tol)?.work(queries, h));
    }
    macro_rules! dispatch {
        ($($k:literal)*) => {
            match samples.dim() {
                $($k => Ok(KdTreeSums::<$k>::new(samples.clone(), tol)?.touched(queries, h)),)*
                _ => Ok(vec![samples.len(); queries.len()]),
            }
        };
    }
    dispatch!(4 5 6 7 8 9 10 11 12)
}

impl<const K: usize> KernelSums for KdTreeSums<K> {
    fn samples(&self) -> &Points {
        &self.samples
    }

    fn eval_unchecked(
        &self,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
        shift: &mut [f64],
    ) {
        let h2 = h * h;
        let inv_2h2 = 0.5 / h2;
        let log_tol = self.tol.ln_p();
        // ln W: the total weight, once per call (sequential, so thread-independent).
        let log_total = match log_weights {
            None => (self.samples.len() as f64).ln_p(),
            Some(lw) => log_sum_exp(lw),
        };
        let samples = &self.samples;
        log_sum
            .par_iter_mut()
            .zip(shift.par_chunks_mut(K))
            .zip(queries.as_slice().par_chunks(K))
            .with_min_len(64)
            .for_each(|((ls, sh), q)| {
                let q: &[f64; K] = q.try_into().expect("query row length is K");
                let mut acc = LogSumAcc::new(sh);
                let r2 = self.cut2(q, h2, log_total, log_tol, log_weights);
                if r2.is_finite() {
                    self.tree
                        .query(q)
                        .within::<SquaredEuclidean<f64>>(r2)
                        .unsorted()
                        .visit(|hit| {
                            let k = hit.item as usize;
                            let x = samples.row(k);
                            let w = log_weights.map_or(0.0, |lw| lw[k]);
                            acc.add(w - dist2(x, q) * inv_2h2, x, q);
                        });
                } else {
                    for (k, x) in samples.rows().enumerate() {
                        let w = log_weights.map_or(0.0, |lw| lw[k]);
                        acc.add(w - dist2(x, q) * inv_2h2, x, q);
                    }
                }
                *ls = acc.finish(h2);
            });
    }

    fn name(&self) -> &'static str {
        "kdtree"
    }
}

/// For every query, the index of and squared distance to its nearest sample; with
/// `skip_self`, queries are the samples themselves and each one's own index is skipped (so
/// the answer is its nearest *other* sample). k-d tree for `d <= MAX_DIM`, brute force above.
pub fn nearest(samples: &Points, queries: &Points, skip_self: bool) -> Result<Vec<(usize, f64)>> {
    samples.check_same_dim("queries", queries)?;
    if samples.len() < 1 + usize::from(skip_self) {
        return Err(Error::Empty {
            what: "samples for a nearest-neighbour search",
        });
    }
    macro_rules! dispatch {
        ($($k:literal)*) => {
            match samples.dim() {
                $($k => nearest_tree::<$k>(samples, queries, skip_self),)*
                _ => Ok(nearest_brute(samples, queries, skip_self)),
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12)
}

fn nearest_tree<const K: usize>(
    samples: &Points,
    queries: &Points,
    skip_self: bool,
) -> Result<Vec<(usize, f64)>> {
    let tree = build_tree::<K>(samples)?;
    let k = std::num::NonZero::new(1 + usize::from(skip_self)).expect("k >= 1");
    Ok(queries
        .as_slice()
        .par_chunks(K)
        .enumerate()
        .map(|(i, q)| {
            let q: &[f64; K] = q.try_into().expect("query row length is K");
            let hits = tree
                .query(q)
                .nearest_n::<SquaredEuclidean<f64>>(k)
                .execute();
            // With skip_self, drop the query's own index (or, among exact duplicates, any
            // one hit at distance 0: the other is then the nearest other sample).
            let hit = if skip_self {
                hits.iter()
                    .find(|h| h.item as usize != i)
                    .unwrap_or(&hits[0])
            } else {
                &hits[0]
            };
            (hit.item as usize, hit.distance)
        })
        .collect())
}

fn nearest_brute(samples: &Points, queries: &Points, skip_self: bool) -> Vec<(usize, f64)> {
    queries
        .as_slice()
        .par_chunks(queries.dim())
        .enumerate()
        .map(|(i, q)| {
            let mut best = (usize::MAX, f64::INFINITY);
            for (k, x) in samples.rows().enumerate() {
                if skip_self && k == i {
                    continue;
                }
                let d2 = dist2(x, q);
                if d2 < best.1 {
                    best = (k, d2);
                }
            }
            best
        })
        .collect()
}
