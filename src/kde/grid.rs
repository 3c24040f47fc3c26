//! Kernel sums on a regular grid (a "binned" estimator) for `d <= 2`, with an error bound
//! computed for every query; queries whose bound is not met go to the k-d tree.
//!
//! # Method
//!
//! With grid spacing `δ = δ_u h` and the Gaussian kernel written per axis as
//! `k(u) = exp(-u²/2)` (`u` in bandwidths):
//!
//! 1. every sample is spread onto the `s^d` grid nodes around it with the weights of
//!    `s`-point Lagrange interpolation (`s = ORDER = 8`, degree 7), per axis;
//! 2. the grid is convolved with `k` sampled at the node offsets, one axis at a time (the
//!    kernel is a product over axes), out to `T` nodes (`≈ 9` bandwidths) — and likewise with
//!    `u k(u)` along one axis for each component of the displacement sum;
//! 3. each query reads the result back by the same `s`-point interpolation.
//!
//! The grid covers the queries that lie within reach of the samples, where the samples'
//! extent leaves out the outermost 0.1% per side and axis (stray points would otherwise
//! blow up the cell count), plus a margin of `T + s` nodes. Queries outside it go to the
//! tree.
//!
//! The cost is `O((n + m) s^d)` for spreading and reading plus `O(cells · T)` per
//! convolution pass. The number of cells grows like `(extent / δ)^d`, which for Scott's
//! bandwidth (`h ∝ n^(-1/(d+4))`) is `n^(d/(d+4))`, so the whole is near-linear in `n`.
//!
//! # Error bound
//!
//! For one sample and one query the estimate is `A φ(t)`, where `φ` is the kernel (or `u k`
//! along the displacement axis), `t = (q - x) / h`, and `A = I_q I_x` interpolates first in the
//! sample, then in the query. Lagrange's remainder bounds one interpolation by
//! `C_s max |φ^(s)|` with `C_s = δ_u^s max_{f ∈ [0,1]} |Π_j (f - j)| / s!` over the stencil's
//! hull, so per axis
//!
//! ```text
//! |A φ(t) - φ(t)| <= ε_φ(t) = (1 + Λ) C_s max_{|v - t| <= s δ_u} |φ^(s)(v)|,
//! |A φ(t)|        <= Λ² max_{|v - t| <= s δ_u} |φ(v)|                       (= env_φ(t))
//! ```
//!
//! with `Λ` the Lebesgue constant of the stencil (`Σ |L_j| <= Λ`), and `k^(s) = ±He_s k`,
//! `(u k)^(s) = ±He_{s+1} k` (Hermite polynomials). For the product over axes,
//! `Π A_a φ_a - Π φ_a = Σ_a (Π_{b<a} A_b φ_b) (A_a φ_a - φ_a) (Π_{b>a} φ_b)`, so the error of
//! one sample's term is at most `B(t) = Σ_a ε_a(t_a) Π_{b≠a} env_b(t_b)`. Summing over
//! samples, the bound `E(q) = Σ_k w_k B(t_k)` is itself a kernel sum with a positive,
//! separable kernel: the same grid computes it, from linear (positive) spreading and with
//! each window widened by `2 δ_u` so that it bounds `B` at every point of the query's cell;
//! every corner of the cell then gives an upper bound and the smallest is taken. Added to it:
//! the kernel's truncation beyond `T` nodes (`< 1e-15 W`) and rounding, `1e-12 W`, where
//! `W = Σ w_k`.
//!
//! A query is answered from the grid when, with `f̂` the estimated sum, `E_f` its bound and
//! `E_m` the bound on the displacement sum (in bandwidths),
//! `E_f <= tol f̂ / (1 + tol)` and `|E_m| <= tol (f̂ - E_f)`. Then, as for the tree
//! ([`kdtree`] module), the log-sum is within `-ln(1 - tol)` and the shift within
//! `tol (|ŝ| + 1/h)`. Every other query (far in a tail, where the bound is loose relative to
//! the tiny sum, or outside the grid) is answered by the k-d tree with the same `tol`, so the
//! stated error holds for every query.
//!
//! The spacing `δ_u` is the largest of a fixed ladder for which the bound, relative to the
//! sum, is below `tol / 4` inside a uniform cloud: `δ_u = 1/6` at `tol = 1e-4`, `1/10` at
//! `1e-6`. Measured errors are far below the bound (about `1e-7` at `tol = 1e-4`), but the
//! bound is what decides, per query. `s = 8` was measured against 6 and 10 (2-D, N = M, tol
//! 1e-4): 0.33 / 0.21 / 0.20 s at 10^5 and - / 1.02 / 1.36 s at 10^6.
//!
//! Determinism: spreading runs over fixed slabs of the grid, each adding the samples in
//! their order; convolutions and reads are per grid line and per query; the tree is
//! deterministic. Results are bitwise the same at any thread count.

use std::sync::OnceLock;

use rayon::prelude::*;

use super::{BlockedSums, KernelSums, kdtree};
use crate::num::Portable;
use crate::points::Points;

/// Largest dimension the grid serves. In 3-D the cells needed at a tolerance of 1e-4..1e-6
/// exceed [`MAX_CELLS`] for every set measured (N = 1e3..3e4, Scott bandwidth; measured with
/// an earlier three-axis version of this code), so 3-D goes to the k-d tree.
pub const MAX_DIM: usize = 2;
/// Points per axis in the interpolation stencil.
const ORDER: usize = 8;
/// The stencil covers nodes `i0 - (HALF - 1) ..= i0 + HALF` for a point in `[i0, i0 + 1)`.
const HALF: usize = ORDER / 2;
/// The kernel is summed out to this many bandwidths (then `k < 3e-18`).
const REACH: f64 = 9.0;
/// Most grid cells; a larger grid (particles spread far relative to `h`) means the tree.
pub const MAX_CELLS: usize = 1 << 22;
/// Share of the samples, on each side of each axis, left out of the extent the grid covers.
const OUTLIER_SHARE: f64 = 1e-3;
/// Slabs of axis 0 that spreading is split into (fixed, so the result is too).
const SLABS: usize = 32;
/// Rounding allowance, relative to the total weight.
const ROUNDING: f64 = 1e-12;
/// Spacings tried, in bandwidths, largest first.
const SPACINGS: [f64; 10] = [
    0.5,
    0.4,
    1.0 / 3.0,
    0.25,
    0.2,
    1.0 / 6.0,
    0.125,
    0.1,
    1.0 / 12.0,
    1.0 / 16.0,
];

/// Kernel sums on a grid, with the k-d tree for the queries the grid cannot certify.
pub struct GridSums {
    samples: Points,
    tol: f64,
    tree: OnceLock<Box<dyn KernelSums>>,
}

impl GridSums {
    /// Takes the samples; `tol` in (0, 1). Dimensions above [`MAX_DIM`] are served by the
    /// tree alone.
    pub fn new(samples: Points, tol: f64) -> Self {
        Self {
            samples,
            tol,
            tree: OnceLock::new(),
        }
    }

    /// The fallback for the queries the grid cannot certify: the tree estimator over the
    /// same samples, which is the far-field tree up to 3-D, whose work per query does not
    /// grow with the samples near it (exact sums if no tree can be built).
    fn tree(&self) -> &dyn KernelSums {
        self.tree
            .get_or_init(|| {
                kdtree::build(self.samples.clone(), self.tol)
                    .unwrap_or_else(|_| Box::new(BlockedSums::new(self.samples.clone())))
            })
            .as_ref()
    }

    /// How many queries the grid answers and how many go to the tree, for `queries` at
    /// bandwidth `h` (what [`KernelSums::eval_unchecked`] does, counted; for reports).
    pub fn coverage(
        &self,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
    ) -> (usize, usize) {
        let fallback = self.uncertified(queries, h, log_weights);
        (queries.len() - fallback.len(), fallback.len())
    }

    /// The indices of the queries the grid cannot certify, which go to the tree (for
    /// reports).
    pub fn uncertified(&self, queries: &Points, h: f64, log_weights: Option<&[f64]>) -> Vec<usize> {
        let mut ls = vec![0.0; queries.len()];
        let mut sh = vec![0.0; queries.len() * queries.dim()];
        self.grid_pass(queries, h, log_weights, &mut ls, &mut sh)
    }

    /// Answers what the grid can certify; returns the indices of the other queries.
    fn grid_pass(
        &self,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
        shift: &mut [f64],
    ) -> Vec<usize> {
        let all = || (0..queries.len()).collect();
        let d = queries.dim();
        if d > MAX_DIM || queries.is_empty() {
            return all();
        }
        // Linear weights relative to the largest.
        let lw_max = log_weights.map_or(0.0, |lw| {
            lw.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        });
        if lw_max == f64::NEG_INFINITY {
            return all();
        }
        let weights: Vec<f64> = match log_weights {
            None => vec![1.0; self.samples.len()],
            Some(lw) => lw.iter().map(|w| (w - lw_max).exp_p()).collect(),
        };
        let Some(plan) = Plan::new(&self.samples, queries, h, self.tol, &weights) else {
            return all();
        };
        let grids = plan.convolve(&self.samples, &weights);
        let tol = self.tol;
        let flags: Vec<bool> = log_sum
            .par_iter_mut()
            .zip(shift.par_chunks_mut(d))
            .zip(queries.as_slice().par_chunks(d))
            .with_min_len(256)
            .map(|((ls, sh), q)| {
                let Some((f, m, ef, em)) = plan.read(&grids, q) else {
                    return true;
                };
                let em_norm = em[..d].iter().map(|v| v * v).sum::<f64>().sqrt();
                let ok = f > 0.0 && ef * (1.0 + tol) <= tol * f && em_norm <= tol * (f - ef);
                if ok {
                    *ls = f.ln_p() + lw_max;
                    for (s, v) in sh.iter_mut().zip(&m) {
                        *s = v / (h * f);
                    }
                }
                !ok
            })
            .collect();
        flags
            .iter()
            .enumerate()
            .filter_map(|(i, &f)| f.then_some(i))
            .collect()
    }
}

impl KernelSums for GridSums {
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
        let rest = self.grid_pass(queries, h, log_weights, log_sum, shift);
        if rest.is_empty() {
            return;
        }
        let d = queries.dim();
        let tree = self.tree();
        if rest.len() == queries.len() {
            tree.eval_unchecked(queries, h, log_weights, log_sum, shift);
            return;
        }
        let sub = queries.select(&rest);
        let mut ls = vec![0.0; rest.len()];
        let mut sh = vec![0.0; rest.len() * d];
        tree.eval_unchecked(&sub, h, log_weights, &mut ls, &mut sh);
        for (j, &i) in rest.iter().enumerate() {
            log_sum[i] = ls[j];
            shift[i * d..(i + 1) * d].copy_from_slice(&sh[j * d..(j + 1) * d]);
        }
    }

    /// Whole on every rank: the plan covers the queries' extent, so a share of them would
    /// get other bits.
    fn eval_on_ranks(
        &self,
        _ranks: &dyn crate::dist::Ranks,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
        shift: &mut [f64],
    ) {
        self.eval_unchecked(queries, h, log_weights, log_sum, shift);
    }

    fn name(&self) -> &'static str {
        "grid"
    }
}

/// Weights of the `ORDER`-point Lagrange interpolation at `f ∈ [0, 1)`, nodes
/// `-(HALF - 1) ..= HALF`.
fn lagrange(f: f64) -> [f64; ORDER] {
    // L_j(f) = Π_{m≠j} (f - x_m) / Π_{m≠j} (x_j - x_m), numerators from prefix and suffix
    // products.
    let x = |j: usize| j as f64 - (HALF as f64 - 1.0);
    let mut prefix = [1.0; ORDER];
    for j in 1..ORDER {
        prefix[j] = prefix[j - 1] * (f - x(j - 1));
    }
    let mut w = [0.0; ORDER];
    let mut suffix = 1.0;
    for j in (0..ORDER).rev() {
        // Π_{m≠j} (j - m) = (-1)^(ORDER-1-j) j! (ORDER-1-j)!.
        let denom = FACTORIALS[j] * FACTORIALS[ORDER - 1 - j];
        let sign = if (ORDER - 1 - j).is_multiple_of(2) {
            1.0
        } else {
            -1.0
        };
        w[j] = sign * prefix[j] * suffix / denom;
        suffix *= f - x(j);
    }
    w
}

/// `0! ..= (ORDER-1)!`.
const FACTORIALS: [f64; ORDER] = {
    let mut out = [1.0; ORDER];
    let mut i = 1;
    while i < ORDER {
        out[i] = out[i - 1] * i as f64;
        i += 1;
    }
    out
};

/// `(Λ, max |Π_j (f - x_j)|)` over `f ∈ [0, 1]`, sampled finely, with a small margin.
fn stencil_constants() -> (f64, f64) {
    let mut lambda: f64 = 0.0;
    let mut pi: f64 = 0.0;
    let steps = 2000;
    for i in 0..=steps {
        let f = i as f64 / steps as f64;
        lambda = lambda.max(lagrange(f.min(1.0 - 1e-15)).iter().map(|w| w.abs()).sum());
        let p: f64 = (0..ORDER)
            .map(|j| f - (j as f64 - (HALF as f64 - 1.0)))
            .product();
        pi = pi.max(p.abs());
    }
    (lambda * 1.001, pi * 1.001)
}

/// `He_n(u)` (probabilists' Hermite polynomial).
fn hermite(n: usize, u: f64) -> f64 {
    let (mut a, mut b) = (1.0, u);
    if n == 0 {
        return a;
    }
    for k in 1..n {
        let c = u * b - k as f64 * a;
        a = b;
        b = c;
    }
    b
}

/// Taps `t[o + T] = max_{|v - o δ_u| <= window} F(v)` for `o = -T..=T`, for an even,
/// non-negative `F`; sampled at spacing `δ_u / 32`, plus the largest change between samples
/// (a Lipschitz margin).
fn window_max_taps(f: impl Fn(f64) -> f64, du: f64, taps: usize, window: f64) -> Vec<f64> {
    let eta = du / 32.0;
    let reach = taps as f64 * du + window + 2.0 * eta;
    let count = (reach / eta).ceil() as usize + 1;
    let values: Vec<f64> = (0..count).map(|k| f(k as f64 * eta)).collect();
    let margin = values
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f64::max);
    let half: Vec<f64> = (0..=taps)
        .map(|o| {
            let centre = o as f64 * du;
            let lo = (((centre - window) / eta).floor() - 1.0).max(0.0) as usize;
            let hi = ((((centre + window) / eta).ceil() + 1.0) as usize).min(count - 1);
            // The window may reach past 0: F is even, so fold it back.
            let lo_abs = if centre - window < 0.0 { 0 } else { lo };
            values[lo_abs..=hi].iter().copied().fold(0.0, f64::max) + margin
        })
        .collect();
    mirror(&half)
}

/// The full tap vector `o = -T..=T` from the half `o = 0..=T` of an even function.
fn mirror(half: &[f64]) -> Vec<f64> {
    half.iter().rev().chain(&half[1..]).copied().collect()
}

/// The one-axis kernels for one spacing.
struct Kernels {
    du: f64,
    /// Taps on each side.
    t: usize,
    /// `k(o δ_u)`.
    k: Vec<f64>,
    /// `-o δ_u k(o δ_u)`: the displacement `(x - q)/h` times the kernel.
    g: Vec<f64>,
    /// Bound kernels (windows widened for the cell): `ε_k`, `ε_g`, `env_k`, `env_g`.
    eps_k: Vec<f64>,
    eps_g: Vec<f64>,
    env_k: Vec<f64>,
    env_g: Vec<f64>,
    /// Total weight multiplier for rounding and truncation.
    tail: f64,
}

impl Kernels {
    /// `lambda`, `pi`: the stencil's constants ([`stencil_constants`]).
    fn new(du: f64, d: usize, (lambda, pi): (f64, f64)) -> Self {
        let factorial: f64 = (1..=ORDER).map(|v| v as f64).product();
        let cs = du.powi(ORDER as i32) * pi / factorial;
        let t = (REACH / du).ceil() as usize + 2 * ORDER;
        let offsets = || (-(t as i64)..=t as i64).map(|o| o as f64 * du);
        let k: Vec<f64> = offsets().map(|u| (-0.5 * u * u).exp_p()).collect();
        let g: Vec<f64> = offsets().map(|u| -u * (-0.5 * u * u).exp_p()).collect();
        let window = (ORDER + 2) as f64 * du;
        let gauss = |v: f64| (-0.5 * v * v).exp_p();
        let eps = (1.0 + lambda) * cs;
        let eps_k = window_max_taps(|v| eps * hermite(ORDER, v).abs() * gauss(v), du, t, window);
        let eps_g = window_max_taps(
            |v| eps * hermite(ORDER + 1, v).abs() * gauss(v),
            du,
            t,
            window,
        );
        let l2 = lambda * lambda;
        let env_k = window_max_taps(|v| l2 * gauss(v), du, t, window);
        let env_g = window_max_taps(|v| l2 * v.abs() * gauss(v), du, t, window);
        let u0 = (t - 2 * ORDER) as f64 * du;
        let truncation = (lambda.powi(2 * d as i32) + 1.0) * u0.max(1.0) * gauss(u0);
        Self {
            du,
            t,
            k,
            g,
            eps_k,
            eps_g,
            env_k,
            env_g,
            tail: ROUNDING + truncation,
        }
    }

    /// The bound relative to the sum, inside a uniform cloud: `∫B / ∫k^d`, for the density
    /// and for the displacement sum.
    fn uniform_ratio(&self, d: usize) -> f64 {
        let s = |v: &[f64]| v.iter().sum::<f64>();
        let (k, ek, vk, eg, vg) = (
            s(&self.k),
            s(&self.eps_k),
            s(&self.env_k),
            s(&self.eps_g),
            s(&self.env_g),
        );
        let dens = d as f64 * ek * vk.powi(d as i32 - 1) / k.powi(d as i32);
        let disp = (eg * vk.powi(d as i32 - 1)
            + (d as f64 - 1.0) * vg * ek * vk.powi(d as i32 - 2).max(0.0))
            / k.powi(d as i32);
        dens.max(disp)
    }

    /// The coarsest spacing whose uniform-cloud bound is below `tol / 4`.
    fn for_tol(tol: f64, d: usize) -> Self {
        let constants = stencil_constants();
        let mut last = None;
        for &du in &SPACINGS {
            let k = Kernels::new(du, d, constants);
            if k.uniform_ratio(d) <= tol / 4.0 {
                return k;
            }
            last = Some(k);
        }
        last.expect("SPACINGS is not empty")
    }
}

/// The grid for one evaluation: geometry, kernels and the checks a query must pass.
struct Plan {
    d: usize,
    kernels: Kernels,
    delta: f64,
    /// Per axis: the node 0 coordinate, node count, and the box where queries are read.
    origin: Vec<f64>,
    dims: Vec<usize>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// Total weight of all samples (tail and rounding allowance).
    total: f64,
}

/// The convolved grids.
struct Grids {
    dens: Vec<f64>,
    disp: Vec<Vec<f64>>,
    bound_dens: Vec<f64>,
    bound_disp: Vec<Vec<f64>>,
}

impl Plan {
    /// `None` when no query can be read from a grid of at most [`MAX_CELLS`] cells.
    fn new(samples: &Points, queries: &Points, h: f64, tol: f64, weights: &[f64]) -> Option<Self> {
        let d = samples.dim();
        let kernels = Kernels::for_tol(tol, d);
        let delta = kernels.du * h;
        let reach = kernels.t as f64 * delta;
        let mut lo = vec![f64::INFINITY; d];
        let mut hi = vec![f64::NEG_INFINITY; d];
        let total: f64 = weights.iter().sum();
        // The samples' extent per axis, with the outermost OUTLIER_SHARE on each side left
        // out: a few stray points must not blow up the grid. Leaving them out is safe: any
        // sample within reach of the box read is still spread onto the grid, and queries
        // outside the box go to the tree.
        let mut slo = vec![f64::INFINITY; d];
        let mut shi = vec![f64::NEG_INFINITY; d];
        let mut coords: Vec<f64> = Vec::with_capacity(samples.len());
        for a in 0..d {
            coords.clear();
            coords.extend(
                samples
                    .rows()
                    .zip(weights)
                    .filter(|&(_, &w)| w > 0.0)
                    .map(|(x, _)| x[a]),
            );
            if coords.is_empty() {
                return None;
            }
            let cut = (coords.len() as f64 * OUTLIER_SHARE) as usize;
            let last = coords.len() - 1;
            slo[a] = *coords.select_nth_unstable_by(cut, f64::total_cmp).1;
            shi[a] = *coords.select_nth_unstable_by(last - cut, f64::total_cmp).1;
        }
        for q in queries.rows() {
            for a in 0..d {
                lo[a] = lo[a].min(q[a]);
                hi[a] = hi[a].max(q[a]);
            }
        }
        let pad = reach + (ORDER + 1) as f64 * delta;
        let mut origin = vec![0.0; d];
        let mut dims = vec![0usize; d];
        let mut cells = 1usize;
        for a in 0..d {
            lo[a] = lo[a].max(slo[a] - reach);
            hi[a] = hi[a].min(shi[a] + reach);
            if lo[a] > hi[a] {
                return None;
            }
            origin[a] = lo[a] - pad;
            // In floating point first: a far outlier over a small bandwidth must not wrap.
            let n = ((hi[a] - lo[a] + 2.0 * pad) / delta).ceil() + 1.0;
            if n.is_nan() || n > MAX_CELLS as f64 {
                return None;
            }
            dims[a] = n as usize;
            cells = cells.saturating_mul(dims[a]);
        }
        if cells > MAX_CELLS {
            return None;
        }
        Some(Self {
            d,
            kernels,
            delta,
            origin,
            dims,
            lo,
            hi,
            total,
        })
    }

    /// The interpolation stencil of `x` (`ORDER` nodes per axis, Lagrange weights), or `None`
    /// when it leaves the grid.
    fn stencil(&self, x: &[f64]) -> Option<Stencil> {
        let mut s = Stencil::unit();
        for (a, &xa) in x.iter().enumerate() {
            let p = (xa - self.origin[a]) / self.delta;
            let i0 = p.floor();
            let first = i0 - (HALF as f64 - 1.0);
            if !(first >= 0.0 && first + (ORDER as f64) <= self.dims[a] as f64) {
                return None;
            }
            s.first[a] = first as usize;
            s.len[a] = ORDER;
            s.w[a] = lagrange(p - i0);
        }
        Some(s)
    }

    /// The cell of `x` (its `2^d` corners, linear weights), or `None` when it leaves the grid.
    fn cell(&self, x: &[f64]) -> Option<Stencil> {
        let mut s = Stencil::unit();
        for (a, &xa) in x.iter().enumerate() {
            let p = (xa - self.origin[a]) / self.delta;
            let i0 = p.floor();
            if !(i0 >= 0.0 && i0 + 1.0 < self.dims[a] as f64) {
                return None;
            }
            s.first[a] = i0 as usize;
            s.len[a] = 2;
            s.w[a][0] = 1.0 - (p - i0);
            s.w[a][1] = p - i0;
        }
        Some(s)
    }

    /// Grid sizes padded to two axes (a 1-D grid has rows of one node).
    fn dims2(&self) -> [usize; 2] {
        let mut n = [1; 2];
        n[..self.d].copy_from_slice(&self.dims);
        n
    }

    /// Spreads the samples (Lagrange and linear), then convolves every grid needed.
    ///
    /// Spreading runs in parallel over fixed slabs of axis 0: each slab visits every sample
    /// in order and adds the part of its stencil inside the slab, so each node's sum is taken
    /// in sample order, as on one thread.
    fn convolve(&self, samples: &Points, weights: &[f64]) -> Grids {
        let d = self.d;
        let cells: usize = self.dims.iter().product();
        let dims2 = self.dims2();
        let row = dims2[1];
        let slab_rows = dims2[0].div_ceil(SLABS);
        let mut spread = vec![0.0; cells];
        let mut linear = vec![0.0; cells];
        spread
            .par_chunks_mut(slab_rows * row)
            .zip(linear.par_chunks_mut(slab_rows * row))
            .enumerate()
            .for_each(|(slab, (sp, li))| {
                let r0 = slab * slab_rows;
                let r1 = r0 + sp.len() / row;
                for (x, &w) in samples.rows().zip(weights) {
                    // Cheap test first: does the stencil reach this slab's rows at all?
                    let p = ((x[0] - self.origin[0]) / self.delta).floor();
                    if !(p + HALF as f64 >= r0 as f64 && p - (HALF as f64) < r1 as f64) {
                        continue;
                    }
                    if w == 0.0 {
                        continue;
                    }
                    // A sample whose stencil leaves the grid is farther than the reach from
                    // every query read: it is in the tail allowance.
                    let (Some(st), Some(ce)) = (self.stencil(x), self.cell(x)) else {
                        continue;
                    };
                    st.add_rows(sp, &dims2, r0, r1, w);
                    ce.add_rows(li, &dims2, r0, r1, w);
                }
            });
        let kn = &self.kernels;
        let product = |input: &[f64], pick: &dyn Fn(usize) -> usize| -> Vec<f64> {
            let taps: [&[f64]; 6] = [&kn.k, &kn.g, &kn.eps_k, &kn.eps_g, &kn.env_k, &kn.env_g];
            let mut cur = input.to_vec();
            let mut next = vec![0.0; cells];
            for a in 0..d {
                convolve_axis(&cur, &mut next, &self.dims, a, taps[pick(a)]);
                std::mem::swap(&mut cur, &mut next);
            }
            cur
        };
        let add = |acc: &mut Vec<f64>, v: Vec<f64>| {
            if acc.is_empty() {
                *acc = v;
            } else {
                acc.iter_mut().zip(v).for_each(|(a, b)| *a += b);
            }
        };
        let (k, g, eps_k, eps_g, env_k, env_g) = (0, 1, 2, 3, 4, 5);
        let dens = product(&spread, &|_| k);
        let disp = (0..d)
            .map(|a| product(&spread, &|b| if b == a { g } else { k }))
            .collect();
        let mut bound_dens = Vec::new();
        for a in 0..d {
            let v = product(&linear, &|b| if b == a { eps_k } else { env_k });
            add(&mut bound_dens, v);
        }
        let bound_disp = (0..d)
            .map(|a| {
                let mut acc = Vec::new();
                for e in 0..d {
                    let v = product(&linear, &|b| match (b == a, b == e) {
                        (true, true) => eps_g,
                        (true, false) => env_g,
                        (false, true) => eps_k,
                        (false, false) => env_k,
                    });
                    add(&mut acc, v);
                }
                acc
            })
            .collect();
        Grids {
            dens,
            disp,
            bound_dens,
            bound_disp,
        }
    }

    /// The estimate at `q`: `(f̂, m̂, E_f, E_m)` (sum, displacement sum in bandwidths and their
    /// bounds; entries of `m̂` and `E_m` past `d` are unused), or `None` when `q` is outside
    /// the box read from the grid.
    #[allow(clippy::type_complexity)]
    fn read(&self, g: &Grids, q: &[f64]) -> Option<(f64, [f64; MAX_DIM], f64, [f64; MAX_DIM])> {
        let inside = |(v, (lo, hi)): (&f64, (&f64, &f64))| *v >= *lo && *v <= *hi;
        if !q.iter().zip(self.lo.iter().zip(&self.hi)).all(inside) {
            return None;
        }
        let st = self.stencil(q)?;
        let ce = self.cell(q)?;
        let dims2 = self.dims2();
        let mut f = 0.0;
        let mut m = [0.0; MAX_DIM];
        st.visit(&dims2, |i, v| {
            f += v * g.dens[i];
            for (ma, grid) in m.iter_mut().zip(&g.disp) {
                *ma += v * grid[i];
            }
        });
        let mut ef = f64::INFINITY;
        let mut em = [f64::INFINITY; MAX_DIM];
        ce.visit(&dims2, |i, _| {
            ef = ef.min(g.bound_dens[i]);
            for (ea, grid) in em.iter_mut().zip(&g.bound_disp) {
                *ea = ea.min(grid[i]);
            }
        });
        let tail = self.kernels.tail * self.total;
        ef += tail;
        em.iter_mut().for_each(|v| *v += tail);
        Some((f, m, ef, em))
    }
}

/// The nodes around a point and their weights, per axis, padded to two axes (a missing
/// axis has one node of weight 1).
#[derive(Clone, Copy)]
struct Stencil {
    first: [usize; 2],
    len: [usize; 2],
    w: [[f64; ORDER]; 2],
}

impl Stencil {
    fn unit() -> Self {
        let mut w = [[0.0; ORDER]; 2];
        w.iter_mut().for_each(|r| r[0] = 1.0);
        Self {
            first: [0; 2],
            len: [1; 2],
            w,
        }
    }

    /// Calls `f(flat index, weight)` for every node, in row-major order.
    #[inline]
    fn visit(&self, dims2: &[usize; 2], mut f: impl FnMut(usize, f64)) {
        for i in 0..self.len[0] {
            let b = (self.first[0] + i) * dims2[1] + self.first[1];
            for j in 0..self.len[1] {
                f(b + j, self.w[0][i] * self.w[1][j]);
            }
        }
    }

    /// Adds `scale` times the weights into `out`, which holds rows `r0..r1` of axis 0.
    #[inline]
    fn add_rows(&self, out: &mut [f64], dims2: &[usize; 2], r0: usize, r1: usize, scale: f64) {
        let lo = self.first[0].max(r0);
        let hi = (self.first[0] + self.len[0]).min(r1);
        for r in lo..hi {
            let b = (r - r0) * dims2[1] + self.first[1];
            let w0 = scale * self.w[0][r - self.first[0]];
            for j in 0..self.len[1] {
                out[b + j] += w0 * self.w[1][j];
            }
        }
    }
}

/// `out` = `input` convolved along `axis` with `taps` (length `2T + 1`, centred):
/// `out[.., i, ..] = Σ_o taps[o + T] input[.., i - o, ..]`. One grid line (or row) per task,
/// so the result does not depend on the thread count.
pub(crate) fn convolve_axis(
    input: &[f64],
    out: &mut [f64],
    dims: &[usize],
    axis: usize,
    taps: &[f64],
) {
    let t = taps.len() / 2;
    let n = dims[axis];
    let inner: usize = dims[axis + 1..].iter().product();
    if inner == 1 {
        // Contiguous lines: out[i] = Σ_j rev[j - i + T] in[j], rev the reversed taps.
        let rev: Vec<f64> = taps.iter().rev().copied().collect();
        out.par_chunks_mut(n)
            .zip(input.par_chunks(n))
            .for_each(|(o, line)| {
                for (i, oi) in o.iter_mut().enumerate() {
                    let j0 = i.saturating_sub(t);
                    let j1 = (i + t + 1).min(n);
                    let r0 = j0 + t - i;
                    *oi = line[j0..j1]
                        .iter()
                        .zip(&rev[r0..r0 + (j1 - j0)])
                        .map(|(a, b)| a * b)
                        .sum();
                }
            });
    } else {
        // Rows of `inner` contiguous values: each output row is a combination of input rows.
        out.par_chunks_mut(inner).enumerate().for_each(|(row, o)| {
            let (outer, i) = (row / n, row % n);
            o.iter_mut().for_each(|v| *v = 0.0);
            let j0 = i.saturating_sub(t);
            let j1 = (i + t + 1).min(n);
            for j in j0..j1 {
                let c = taps[i + t - j];
                if c == 0.0 {
                    continue;
                }
                let src = &input[(outer * n + j) * inner..(outer * n + j + 1) * inner];
                o.iter_mut().zip(src).for_each(|(a, b)| *a += c * b);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lagrange_reproduces_polynomials_to_its_degree() {
        for &f in &[0.0, 0.3, 0.77] {
            let w = lagrange(f);
            for deg in 0..ORDER as i32 {
                let s: f64 = w
                    .iter()
                    .enumerate()
                    .map(|(j, wj)| wj * (j as f64 - (HALF as f64 - 1.0)).powi(deg))
                    .sum();
                assert!((s - f.powi(deg)).abs() < 1e-12, "f={f} deg={deg}");
            }
        }
    }

    #[test]
    fn hermite_matches_closed_forms() {
        let u = 0.7_f64;
        assert!((hermite(2, u) - (u * u - 1.0)).abs() < 1e-14);
        assert!((hermite(4, u) - (u.powi(4) - 6.0 * u * u + 3.0)).abs() < 1e-14);
    }

    #[test]
    fn spacing_ladder_tightens_with_tol() {
        let loose = Kernels::for_tol(1e-2, 2).du;
        let tight = Kernels::for_tol(1e-6, 2).du;
        assert!(tight < loose, "{tight} vs {loose}");
    }
}
