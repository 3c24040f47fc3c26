//! Gaussian kernel density estimation behind one trait (docs/theory.md section 2).
//!
//! Everything reduces to *kernel sums* over a fixed sample set `x_1..x_n` with optional
//! positive weights `w_k = exp(log_w_k)`: for a query `q` and bandwidth `h`
//!
//! ```text
//! log S(q)  = log Σ_k w_k exp(-|q - x_k|² / (2h²))
//! shift(q)  = Σ_k w_k e_k (x_k - q) / (h² Σ_k w_k e_k)        (e_k the kernel factor)
//! ```
//!
//! With unit weights, `log S - ln n - (d/2) ln(2π h²)` is the log-density of the KDE and
//! `shift` is its score `grad log g = (m(q) - q) / h²` (the mean-shift vector). With weights,
//! the same two numbers give the weighted sums that the variational scheme needs.
//! Every implementation works in log space: no kernel value is ever formed un-normalised,
//! so nothing underflows however large `|q - x_k|² / h²` gets.
//!
//! Implementations: [`ExactSums`] (the direct double loop, the oracle), [`BlockedSums`] (the
//! same sums by blocked matrix products, what `exact` runs), the k-d tree ([`kdtree`]) and
//! the grid ([`grid`], near-linear in the sample count for `d <= 2`), chosen through
//! [`Estimator`].

mod bandwidth;
mod blocked;
pub mod distributed;
mod exact;
pub mod farfield;
pub mod grid;
pub mod kdtree;
pub mod simd;

pub use bandwidth::{Bandwidth, BandwidthFrom, BandwidthSpec, KNN_NEIGHBOUR, KNN_QUERIES};
pub use blocked::BlockedSums;
pub use exact::ExactSums;
pub use grid::GridSums;

use std::ops::Range;

use crate::dist::Ranks;
use crate::error::{Error, Result, check_positive};
use crate::num::Portable;
use crate::points::Points;

/// Kernel sums over one fixed sample set (see the module documentation).
///
/// Contract: results are written per query, each query computed by one thread in a fixed
/// order, so they are bitwise identical whatever the number of threads.
pub trait KernelSums: Send + Sync {
    /// The samples summed over.
    fn samples(&self) -> &Points;

    /// For every row `q_i` of `queries`, writes `log S(q_i)` to `log_sum[i]` and `shift(q_i)`
    /// to `shift[i * d..(i + 1) * d]`. `log_weights`, when given, has one entry per sample.
    ///
    /// Callers go through [`evaluate_sums`], which checks the shapes first.
    fn eval_unchecked(
        &self,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
        shift: &mut [f64],
    );

    /// [`Self::eval_unchecked`]'s `log S(q_i)` alone, the same bits, for callers that need
    /// no shifts (densities at the data, for the diagnostics). By default it computes the
    /// shifts and drops them; the blocked sums skip the products that form them.
    fn eval_log_unchecked(
        &self,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
    ) {
        log_sums_dropping_shifts(self, queries, h, log_weights, log_sum);
    }

    /// Rows `rows` of the unweighted sums at the samples themselves (the particles' own
    /// density at the particles): the same bits as those rows of [`Self::eval_unchecked`]
    /// with the samples as queries. `rows` starts at a multiple of
    /// [`Self::self_rows_unit`] and ends at one or at the last sample. What a rank of a
    /// distributed run computes of them ([`distributed`]).
    fn eval_self_rows(&self, h: f64, rows: Range<usize>, log_sum: &mut [f64], shift: &mut [f64]) {
        if rows.is_empty() {
            return;
        }
        let d = self.samples().dim();
        let own = &self.samples().as_slice()[rows.start * d..rows.end * d];
        let queries = Points::new("queries", own.to_vec(), d)
            .expect("a share of the samples is a point set of their dimension");
        self.eval_unchecked(&queries, h, None, log_sum, shift);
    }

    /// [`Self::eval_unchecked`] as one of the `ranks` of a distributed run, every rank
    /// calling it alike: the results are the same bits as one process's. By default the
    /// queries are shared out and gathered ([`distributed::share_queries`]); the grid, whose
    /// plan covers the queries' extent, evaluates them whole on every rank, and chunked
    /// sums share their chunks.
    fn eval_on_ranks(
        &self,
        ranks: &dyn Ranks,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
        shift: &mut [f64],
    ) {
        distributed::share_queries(self, ranks, queries, h, log_weights, log_sum, shift);
    }

    /// The unit in which [`Self::eval_self_rows`] shares the samples out: 1, or the tile of
    /// an estimator that takes each pair once.
    fn self_rows_unit(&self) -> usize {
        1
    }

    /// A short name for reports ("exact", "kdtree").
    fn name(&self) -> &'static str;
}

/// [`KernelSums::eval_log_unchecked`] by the whole [`KernelSums::eval_unchecked`], the
/// shifts computed and dropped.
fn log_sums_dropping_shifts<S: KernelSums + ?Sized>(
    sums: &S,
    queries: &Points,
    h: f64,
    log_weights: Option<&[f64]>,
    log_sum: &mut [f64],
) {
    let mut shift = vec![0.0; queries.len() * queries.dim()];
    sums.eval_unchecked(queries, h, log_weights, log_sum, &mut shift);
}

/// Kernel sums at `queries`, with shapes and parameters checked. Returns `(log_sum, shift)`.
pub fn evaluate_sums(
    sums: &dyn KernelSums,
    queries: &Points,
    h: f64,
    log_weights: Option<&[f64]>,
) -> Result<(Vec<f64>, Vec<f64>)> {
    check_inputs(sums, queries, h, log_weights)?;
    let mut log_sum = vec![0.0; queries.len()];
    let mut shift = vec![0.0; queries.len() * queries.dim()];
    sums.eval_unchecked(queries, h, log_weights, &mut log_sum, &mut shift);
    Ok((log_sum, shift))
}

/// The shapes and parameters of a kernel sum, checked.
fn check_inputs(
    sums: &dyn KernelSums,
    queries: &Points,
    h: f64,
    log_weights: Option<&[f64]>,
) -> Result<()> {
    check_positive("bandwidth", h)?;
    sums.samples().check_same_dim("queries", queries)?;
    if let Some(w) = log_weights {
        if w.len() != sums.samples().len() {
            return Err(Error::DimensionMismatch {
                what: "log_weights (one per sample)",
                expected: sums.samples().len(),
                got: w.len(),
            });
        }
        if let Some(&bad) = w.iter().find(|v| v.is_nan() || **v == f64::INFINITY) {
            return Err(Error::OutOfRange {
                what: "log weight",
                expected: "finite or -inf",
                value: bad,
            });
        }
    }
    Ok(())
}

/// A density estimate at query points: log-density and score per point.
#[derive(Clone, Debug, PartialEq)]
pub struct Density {
    /// `log p(q_i)`.
    pub log_density: Vec<f64>,
    /// `grad log p(q_i)`, row-major `n × d`.
    pub score: Vec<f64>,
}

/// Log-density and score of the Gaussian KDE of `sums.samples()` with bandwidth `h`, at
/// every query (docs/theory.md section 2).
pub fn kde(sums: &dyn KernelSums, queries: &Points, h: f64) -> Result<Density> {
    let (mut log_sum, score) = evaluate_sums(sums, queries, h, None)?;
    normalise(sums, queries.dim(), h, &mut log_sum);
    Ok(Density {
        log_density: log_sum,
        score,
    })
}

/// The log-density of [`kde`] alone, the same bits, without the score's work where the
/// estimator can skip it ([`KernelSums::eval_log_unchecked`]).
pub fn kde_log_density(sums: &dyn KernelSums, queries: &Points, h: f64) -> Result<Vec<f64>> {
    check_inputs(sums, queries, h, None)?;
    let mut log_sum = vec![0.0; queries.len()];
    sums.eval_log_unchecked(queries, h, None, &mut log_sum);
    normalise(sums, queries.dim(), h, &mut log_sum);
    Ok(log_sum)
}

/// Unweighted log kernel sums turned into the KDE's log-density: the kernel's normalising
/// constant, over the number of samples.
fn normalise(sums: &dyn KernelSums, dim: usize, h: f64, log_sum: &mut [f64]) {
    let offset = log_kernel_norm(dim, h) - (sums.samples().len() as f64).ln_p();
    log_sum.iter_mut().for_each(|v| *v += offset);
}

/// `ln (2π h²)^(-d/2)`, the log of the Gaussian kernel's normalising constant.
pub fn log_kernel_norm(dim: usize, h: f64) -> f64 {
    -0.5 * dim as f64 * (2.0 * std::f64::consts::PI * h * h).ln_p()
}

/// Which kernel-sum implementation to use; what the command line and config files name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Estimator {
    /// Every sample for every query, exact to rounding, `O(n m d)`: [`BlockedSums`] (matrix
    /// products; measured 1.1x faster than the direct loop at d = 2, 2.4x at d = 16, 6x at
    /// d = 64), itself tested against the direct loop [`ExactSums`] to 1e-10.
    Exact,
    /// k-d tree; relative error at most `tol`: up to three dimensions the far-field tree
    /// (bound in [`farfield`]), in 4 to 12 dimensions a cut radius (bound in [`kdtree`]).
    /// Dimensions above [`kdtree::MAX_DIM`] (12) fall back to [`Estimator::Exact`].
    KdTree {
        /// Relative tolerance, in (0, 1).
        tol: f64,
    },
    /// Binned sums on a regular grid with a per-query error bound, the tree estimator for
    /// the queries the grid cannot certify; relative error at most `tol` (bound in [`grid`]).
    /// Near-linear cost in `n` for `d <= 2` ([`grid::MAX_DIM`]); above that it is the
    /// tree ([`Estimator::KdTree`]).
    Grid {
        /// Relative tolerance, in (0, 1).
        tol: f64,
    },
    /// Picks by dimension and size (see [`Estimator::resolve`]).
    Auto {
        /// Relative tolerance used when the grid is picked.
        tol: f64,
    },
}

impl Default for Estimator {
    fn default() -> Self {
        Estimator::Auto { tol: 1e-6 }
    }
}

/// In 1-D, `auto` uses the grid from this many samples on; below, exact. Measured on the
/// 2-core development machine (`ganflow bench`, N = M, queries from N(0, 1), tol 1e-6;
/// exact / tree / grid in seconds): N = 1000: 0.0007 / 0.0007 / 0.0013; N = 3000:
/// 0.0055 / 0.0022 / 0.0016; N = 10^5: 5.7 / 0.095 / 0.032.
pub const AUTO_GRID_MIN_SAMPLES_1D: usize = 2_000;

/// From this many samples on, `auto` uses the grid in 2-D. Measured on the 2-core
/// development machine (`ganflow bench`, N = M, queries from N(0, I), tol 1e-6; exact /
/// tree / grid in seconds), on samples from N(0.5, I) and on a ring of radius 2 and width
/// 0.02, where most queries are in the tail:
///
/// | N | Gaussian | ring |
/// | --- | --- | --- |
/// | 10^4 | 0.060 / 0.119 / 0.165 | 0.063 / 0.034 / 0.123 |
/// | 3 * 10^4 | 0.544 / 0.477 / 0.245 | 0.556 / 0.133 / 0.250 |
/// | 10^5 | 6.14 / 2.17 / 0.355 | 6.19 / 0.650 / 0.772 |
///
/// The tree (the far-field tree up to 3-D) is fastest on the ring and the grid on the
/// Gaussian; the grid is never more than 2x the fastest from 3 * 10^4 on, and its cost on
/// queries inside the cloud is near-linear in N where the tree's is not, so `auto` picks
/// the grid there and the exact sums below. Above the plane the exact sums beat the tree
/// at every size and dimension measured (AVX-512), tol 1e-6: the cut-radius tree, tree /
/// exact in seconds, at N = 10^4, d = 4, 5: 0.36 / 0.14, 0.43 / 0.14; the far-field tree
/// in 3-D, N = M = 10^4, 3 * 10^4 and 10^5, on a Gaussian 0.19 / 0.069, 1.09 / 0.60,
/// 8.86 / 6.62, and on a ring 0.31 / 0.070, 1.93 / 0.67, 19.1 / 7.13. Against point masses
/// the tree wins (0.052 / 7.28 s at 10^5), and with heavy-tailed queries it is level
/// (6.55 / 7.03 s), but `auto` cannot know the target's shape.
pub const AUTO_GRID_MIN_SAMPLES_2D: usize = 20_000;

impl Estimator {
    /// Checks the tolerance.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Estimator::Exact => Ok(()),
            Estimator::KdTree { tol } | Estimator::Grid { tol } | Estimator::Auto { tol } => {
                if tol > 0.0 && tol < 1.0 {
                    Ok(())
                } else {
                    Err(Error::OutOfRange {
                        what: "tol",
                        expected: "in (0, 1)",
                        value: tol,
                    })
                }
            }
        }
    }

    /// What this estimator becomes for `n` samples in `dim` dimensions: never `Auto`.
    /// `Auto` picks the grid in 1-D from [`AUTO_GRID_MIN_SAMPLES_1D`] and in 2-D from
    /// [`AUTO_GRID_MIN_SAMPLES_2D`], and exact otherwise.
    /// `Grid` above [`grid::MAX_DIM`] becomes the tree; `KdTree` above [`kdtree::MAX_DIM`]
    /// becomes exact.
    pub fn resolve(&self, dim: usize, n: usize) -> Estimator {
        match *self {
            Estimator::Exact => Estimator::Exact,
            Estimator::KdTree { tol } if dim <= kdtree::MAX_DIM => Estimator::KdTree { tol },
            Estimator::KdTree { .. } => Estimator::Exact,
            Estimator::Grid { tol } if dim <= grid::MAX_DIM => Estimator::Grid { tol },
            Estimator::Grid { tol } => Estimator::KdTree { tol }.resolve(dim, n),
            Estimator::Auto { tol }
                if (dim == 1 && n >= AUTO_GRID_MIN_SAMPLES_1D)
                    || (dim == 2 && n >= AUTO_GRID_MIN_SAMPLES_2D) =>
            {
                Estimator::Grid { tol }
            }
            Estimator::Auto { .. } => Estimator::Exact,
        }
    }

    /// Builds the kernel sums over `samples` (a tree, for the tree estimator).
    pub fn build(&self, samples: Points) -> Result<Box<dyn KernelSums>> {
        self.validate()?;
        match self.resolve(samples.dim(), samples.len()) {
            Estimator::KdTree { tol } => kdtree::build(samples, tol),
            Estimator::Grid { tol } => Ok(Box::new(GridSums::new(samples, tol))),
            _ => Ok(Box::new(BlockedSums::new(samples))),
        }
    }
}

/// Running log-sum-exp with a weighted displacement sum, rescaled whenever a larger term
/// arrives, so that every exponential taken is `<= 1`.
pub(crate) struct LogSumAcc<'a> {
    max: f64,
    sum: f64,
    vec: &'a mut [f64],
}

impl<'a> LogSumAcc<'a> {
    /// Starts empty; `vec` (length d) is the output slice for the displacement sum.
    pub(crate) fn new(vec: &'a mut [f64]) -> Self {
        vec.iter_mut().for_each(|v| *v = 0.0);
        Self {
            max: f64::NEG_INFINITY,
            sum: 0.0,
            vec,
        }
    }

    /// Adds a term `exp(t) * u` (and `exp(t)` to the scalar sum).
    #[inline]
    pub(crate) fn add(&mut self, t: f64, x: &[f64], q: &[f64]) {
        // A zero weight (t = -inf) adds nothing; before any other term it would make
        // `t - max` NaN.
        if t == f64::NEG_INFINITY {
            return;
        }
        if t <= self.max {
            let e = (t - self.max).exp_p();
            self.sum += e;
            for ((v, a), b) in self.vec.iter_mut().zip(x).zip(q) {
                *v += e * (a - b);
            }
        } else if t > f64::NEG_INFINITY {
            let scale = (self.max - t).exp_p();
            self.sum = self.sum * scale + 1.0;
            for ((v, a), b) in self.vec.iter_mut().zip(x).zip(q) {
                *v = *v * scale + (a - b);
            }
            self.max = t;
        }
    }

    /// Adds `exp(t) s` to the scalar sum and `exp(t) v` to the displacement sum (`s > 0`: a
    /// group of samples summed as one, such as a far-field node or a leaf). The exponentials
    /// are [`exp_one`]'s.
    #[inline]
    pub(crate) fn add_scaled(&mut self, t: f64, s: f64, v: &[f64]) {
        if t == f64::NEG_INFINITY {
            return;
        }
        if t <= self.max {
            let e = exp_one(t - self.max);
            self.sum += e * s;
            for (a, b) in self.vec.iter_mut().zip(v) {
                *a += e * b;
            }
        } else if t > f64::NEG_INFINITY {
            let scale = exp_one(self.max - t);
            self.sum = self.sum * scale + s;
            for (a, b) in self.vec.iter_mut().zip(v) {
                *a = *a * scale + b;
            }
            self.max = t;
        }
    }

    /// A lower bound of `log Σ exp(t)` of the terms so far, within `ln 2` of it (`-inf`
    /// before the first), from the float exponent of the scaled sum (a positive normal
    /// number): no logarithm taken.
    pub(crate) fn log_total_lower(&self) -> f64 {
        if self.sum == 0.0 {
            return f64::NEG_INFINITY;
        }
        let exponent = ((self.sum.to_bits() >> 52) & 0x7ff) as i64 - 1023;
        self.max + exponent as f64 * std::f64::consts::LN_2
    }

    /// Ends: returns `log Σ exp(t)` and leaves `Σ exp(t) u / (h² Σ exp(t))` in the slice.
    /// With no term (all weights zero) returns `-inf` and a zero shift.
    pub(crate) fn finish(self, h2: f64) -> f64 {
        if self.sum == 0.0 {
            return f64::NEG_INFINITY;
        }
        let k = 1.0 / (h2 * self.sum);
        self.vec.iter_mut().for_each(|v| *v *= k);
        self.max + self.sum.ln_p()
    }
}

/// `ln Σ exp(v)`, shifted by the largest term (`-inf` for no or only `-inf` terms).
pub fn log_sum_exp(values: &[f64]) -> f64 {
    let m = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + values.iter().map(|v| (v - m).exp_p()).sum::<f64>().ln_p()
}

/// `ln(e^a + e^b)`, exact for infinities.
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((a - m).exp_p() + (b - m).exp_p()).ln_p()
}

/// `ln(1 + e^z)` without overflow.
pub fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp_p().ln_1p_p()
    } else {
        z.exp_p().ln_1p_p()
    }
}

/// `1 / (1 + e^-z)` without overflow.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp_p())
    } else {
        let e = z.exp_p();
        e / (1.0 + e)
    }
}

/// Squared Euclidean distance.
#[inline]
pub fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// `x <- exp(x - shift)` over a slice whose entries are all `<= shift`, returning the sum of
/// the results.
///
/// The exponential is written branch-free so that the compiler vectorises it: `x = k ln 2 + r`
/// (Cody-Waite, two-part ln 2), `exp(r)` by its Taylor series to degree 13
/// (`|r| <= ln 2 / 2`, truncation below 2e-17 relative) evaluated by Estrin's scheme (a
/// dependency chain of five steps, not thirteen), and `2^k` built in the exponent bits.
/// Within 2 ulp of `f64::exp` (1 ulp or less for 99.3 % of 2·10^6 arguments in [-40, 0]);
/// arguments below -708 (where `exp` turns subnormal) give 0, which is harmless here, where
/// every slice holds terms relative to a maximum of 1. Every multiply-add is fused (rounded
/// once), as in the matrix products of [`simd`]: on CPUs with AVX-512 (or AVX2) the loop is
/// compiled 8 (or 4) lanes wide with FMA instructions, and the baseline calls
/// [`f64::mul_add`], so every path gives the same bits. Measured on one core, 256-entry
/// rows in cache: 0.83 ns per entry with AVX2 and 0.41 with AVX-512, against 1.20 and 0.60
/// with the multiplies and adds rounded separately. The sum is taken in eight interleaved
/// partial sums, added up in a fixed order, so that it vectorises and its value does not
/// depend on the CPU path taken.
pub fn exp_shifted_sum(xs: &mut [f64], shift: f64) -> f64 {
    exp_shifted_sum_dispatch(xs, shift)
}

simd::multiversion! {
    /// [`exp_shifted_sum`] at the process's [`simd::SimdLevel`].
    pub(crate) fn exp_shifted_sum_dispatch(xs: &mut [f64], shift: f64) -> f64 = exp_portable;
}

#[inline(always)]
fn exp_portable(xs: &mut [f64], shift: f64) -> f64 {
    let mut acc = [0.0; 8];
    let mut chunks = xs.chunks_exact_mut(8);
    for c in &mut chunks {
        for (x, a) in c.iter_mut().zip(acc.iter_mut()) {
            *x = exp_branch_free::<true>(*x - shift);
            *a += *x;
        }
    }
    for (x, a) in chunks.into_remainder().iter_mut().zip(acc.iter_mut()) {
        *x = exp_branch_free::<true>(*x - shift);
        *a += *x;
    }
    add_lanes(acc)
}

/// The sum of `xs` in the order of [`exp_shifted_sum`]'s: eight interleaved partial sums
/// (entry `j` into lane `j mod 8`), added up in its fixed tree. So a row whose
/// exponentials were taken in pieces is summed to the same bits as one taken whole.
pub(crate) fn lane_sum(xs: &[f64]) -> f64 {
    lane_sum_dispatch(xs)
}

simd::multiversion! {
    /// [`lane_sum`] at the process's [`simd::SimdLevel`].
    fn lane_sum_dispatch(xs: &[f64]) -> f64 = lane_sum_portable;
}

#[inline(always)]
fn lane_sum_portable(xs: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (x, a) in c.iter().zip(acc.iter_mut()) {
            *a += *x;
        }
    }
    for (x, a) in chunks.remainder().iter().zip(acc.iter_mut()) {
        *a += *x;
    }
    add_lanes(acc)
}

/// The fixed tree in which [`exp_shifted_sum`] and [`lane_sum`] add their eight lanes.
#[inline(always)]
fn add_lanes(acc: [f64; 8]) -> f64 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// `exp(x)` for `x <= 0`, branch-free (see [`exp_shifted_sum`]), multiplies and adds
/// rounded separately: for callers compiled without fused multiply-adds, where
/// [`f64::mul_add`] would be a call into the C library.
#[inline(always)]
pub(crate) fn exp_one(x: f64) -> f64 {
    exp_branch_free::<false>(x)
}

/// `a b + c`: fused (rounded once) when `FUSED`, else a multiply and an add.
#[inline(always)]
fn madd<const FUSED: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FUSED { a.mul_add(b, c) } else { a * b + c }
}

/// The branch-free exponential of [`exp_shifted_sum`] and [`exp_one`]: `x = k ln 2 + r`
/// (Cody-Waite, two-part ln 2), Taylor to degree 13 by Estrin's scheme, `2^k` built in the
/// exponent bits; `x < -708` gives 0. With `FUSED` every multiply-add rounds once.
#[inline(always)]
fn exp_branch_free<const FUSED: bool>(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // ln 2 split as in fdlibm: the high part has 32 trailing zero bits, so k * LN2_HI is
    // exact for every k that occurs here.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    // 1.5 * 2^52: adding and subtracting it rounds to the nearest integer.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let v = x.max(-708.0);
    let kf = madd::<FUSED>(v, LOG2E, MAGIC) - MAGIC;
    let r = madd::<FUSED>(-kf, LN2_LO, madd::<FUSED>(-kf, LN2_HI, v));
    // Taylor to degree 13 by Estrin's scheme: pairs, then pairs of pairs, so that the
    // dependency chain is five multiply-adds long instead of thirteen.
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let p01 = 1.0 + r;
    let p23 = madd::<FUSED>(r, 1.0 / 6.0, 0.5);
    let p45 = madd::<FUSED>(r, 1.0 / 120.0, 1.0 / 24.0);
    let p67 = madd::<FUSED>(r, 1.0 / 5_040.0, 1.0 / 720.0);
    let p89 = madd::<FUSED>(r, 1.0 / 362_880.0, 1.0 / 40_320.0);
    let p1011 = madd::<FUSED>(r, 1.0 / 39_916_800.0, 1.0 / 3_628_800.0);
    let p1213 = madd::<FUSED>(r, 1.0 / 6_227_020_800.0, 1.0 / 479_001_600.0);
    let p03 = madd::<FUSED>(r2, p23, p01);
    let p47 = madd::<FUSED>(r2, p67, p45);
    let p811 = madd::<FUSED>(r2, p1011, p89);
    let p07 = madd::<FUSED>(r4, p47, p03);
    let p813 = madd::<FUSED>(r4, p1213, p811);
    let p = madd::<FUSED>(r8, p813, p07);
    // p 2^k, by adding k to p's exponent bits (k sits in the low bits of kf + MAGIC): the
    // product exactly, since p in [0.7, 1.5] and k >= -1021 keep it a normal number. Below
    // -708, `keep` makes it 0.
    let k = (kf + MAGIC).to_bits().wrapping_sub(MAGIC.to_bits());
    let keep = if x >= -708.0 { 1.0 } else { 0.0 };
    f64::from_bits(p.to_bits().wrapping_add(k << 52)) * keep
}
