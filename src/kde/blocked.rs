//! Exact kernel sums for high dimensions: pairwise squared distances through
//! `|q|² + |x|² - 2 q·x` as blocked matrix products, tiles sized for cache, rayon over query
//! tiles, no `n × m` matrix ever held.
//!
//! Numerics: coordinates are centred on the samples' mean first (the identity loses
//! `eps (|q|² + |x|²)` absolutely, so smaller norms lose less); a squared distance that comes
//! out below `1e-6 (|q|² + |x|²)` is recomputed directly, so nearby and coincident points are
//! exact; the log-sum-exp runs per query row across tiles with rescaling, as in
//! [`ExactSums`](super::ExactSums), so nothing underflows.
//!
//! Reproducibility: the two matrix products (`Q Xᵀ` and `E X`) are the fixed-order kernels of
//! [`super::simd`], not a BLAS, whose kernels sum in an order, and fuse or not, by CPU. So
//! the sums are the same bits on every CPU path.
//!
//! Speed: per pair, the exponent and the tile's maximum are formed in one branch-free pass,
//! then the exponential and its sum in another (both in eight interleaved lanes, compiled
//! for AVX-512 or AVX2 when present); the rare cancelled pair is fixed after. Measured on
//! the 2-core development machine (`ganflow bench`, N = M, density and score): 8.9 ms at
//! N = 2000 in 64-D, 0.081 s at 10^4 in 16-D and 0.060 s at 10^4 in 2-D with AVX-512;
//! 14.2 ms, 0.132 s and 0.114 s with AVX2 forced. An earlier measurement with
//! matrixmultiply's dgemm (FMA kernels, chosen by CPU) gave 10.1 ms, 0.109 s and 0.109 s
//! with AVX-512: the fixed-order tiles are now the faster.
//!
//! At the samples themselves (the particles' own density at the particles, every step of a
//! flow), each pair of points is taken once ([`BlockedSums::self_sums`]): 20 plug-in steps
//! at N = M = 2000 in 64-D take 0.68 s against 0.72 s (AVX2, 2 threads; 1.26 s against
//! 1.34 s on one thread), and 4 steps at N = M = 8000 in 32-D 1.60 s against 1.78 s.

use std::ops::Range;

use rayon::prelude::*;

use super::simd::{accumulate, accumulate_t, dots};
use super::{KernelSums, dist2, exp_shifted_sum};
use crate::num::Portable;
use crate::points::Points;

/// Queries per tile.
const QUERY_TILE: usize = 64;
/// Samples per tile.
const SAMPLE_TILE: usize = 256;
/// Below this share of `|q|² + |x|²`, a squared distance from the identity is recomputed.
const CANCELLATION_GUARD: f64 = 1e-6;

/// Exact kernel sums by blocked matrix products: fast when the dimension is large, and the
/// same bits on every CPU.
#[derive(Clone, Debug)]
pub struct BlockedSums {
    samples: Points,
    /// The samples minus their mean, row-major.
    centred: Vec<f64>,
    /// The same, transposed tile by tile: for each tile of `SAMPLE_TILE` samples, a
    /// `d × ns` row-major block.
    centred_t: Vec<f64>,
    /// `|x_k - mean|²`.
    norms: Vec<f64>,
    mean: Vec<f64>,
}

impl BlockedSums {
    /// Takes the samples.
    pub fn new(samples: Points) -> Self {
        let mean = samples.mean();
        let centred: Vec<f64> = samples
            .rows()
            .flat_map(|r| r.iter().zip(&mean).map(|(a, m)| a - m).collect::<Vec<_>>())
            .collect();
        let norms = centred
            .chunks_exact(samples.dim())
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect();
        let d = samples.dim();
        let mut centred_t = Vec::with_capacity(centred.len());
        for tile in centred.chunks(SAMPLE_TILE * d) {
            let ns = tile.len() / d;
            for k in 0..d {
                centred_t.extend((0..ns).map(|j| tile[j * d + k]));
            }
        }
        Self {
            samples,
            centred,
            centred_t,
            norms,
            mean,
        }
    }
}

super::simd::multiversion! {
    /// [`exponents_portable`] at the process's vector level.
    fn exponents(row: &mut [f64], q_norm: f64, norms: &[f64], log_weights: Option<&[f64]>, inv_2h2: f64) -> (f64, bool) = exponents_portable;
}

/// Turns a row of dot products `q·x_j` into the exponents `log w_j - |q - x_j|² / (2h²)`
/// (`log w_j = 0` unweighted), from `|q - x_j|² = |q|² + |x_j|² - 2 q·x_j`, in one
/// branch-free pass that also takes their maximum in eight interleaved lanes. A pair whose
/// squared distance came out below [`CANCELLATION_GUARD`] of `|q|² + |x_j|²` gets NaN instead,
/// and the second value says whether there was one: the caller recomputes those directly.
#[inline(always)]
fn exponents_portable(
    row: &mut [f64],
    q_norm: f64,
    norms: &[f64],
    log_weights: Option<&[f64]>,
    inv_2h2: f64,
) -> (f64, bool) {
    let mut m = [f64::NEG_INFINITY; 8];
    let mut cancelled = [false; 8];
    let exponent = |t: &mut f64, xn: f64, w: f64, m: &mut f64, c: &mut bool| {
        let scale = q_norm + xn;
        let d2 = scale - 2.0 * *t;
        let lost = d2 < CANCELLATION_GUARD * scale;
        let e = w - d2 * inv_2h2;
        *c |= lost;
        *m = if e > *m { e } else { *m };
        *t = if lost { f64::NAN } else { e };
    };
    let mut r = row.chunks_exact_mut(8);
    let mut n = norms.chunks_exact(8);
    match log_weights {
        None => {
            for (rc, nc) in (&mut r).zip(&mut n) {
                for l in 0..8 {
                    exponent(&mut rc[l], nc[l], 0.0, &mut m[l], &mut cancelled[l]);
                }
            }
        }
        Some(lw) => {
            let mut w = lw.chunks_exact(8);
            for ((rc, nc), wc) in (&mut r).zip(&mut n).zip(&mut w) {
                for l in 0..8 {
                    exponent(&mut rc[l], nc[l], wc[l], &mut m[l], &mut cancelled[l]);
                }
            }
        }
    }
    let tail = row.len() - row.len() % 8;
    for (j, t) in row[tail..].iter_mut().enumerate() {
        let w = log_weights.map_or(0.0, |w| w[tail + j]);
        exponent(t, norms[tail + j], w, &mut m[j], &mut cancelled[j]);
    }
    let max = m.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (max, cancelled.iter().any(|&c| c))
}

/// Turns a row of dot products between the (centred) query `qi` and the samples `x` into
/// exponents, as [`exponents`] does, recomputing the cancelled pairs directly; returns the
/// row's maximum.
#[inline]
fn exponent_row(
    row: &mut [f64],
    qi: &[f64],
    q_norm: f64,
    x: &[f64],
    norms: &[f64],
    log_weights: Option<&[f64]>,
    inv_2h2: f64,
) -> f64 {
    let d = qi.len();
    // Exponents and their maximum in one branch-free pass, so that it vectorises; a pair
    // that lost too much to cancellation is recomputed after, and the maximum with it.
    let (max, cancelled) = exponents(row, q_norm, norms, log_weights, inv_2h2);
    if !cancelled {
        return max;
    }
    for (j, t) in row.iter_mut().enumerate() {
        if t.is_nan() {
            let d2 = dist2(qi, &x[j * d..(j + 1) * d]);
            *t = log_weights.map_or(0.0, |w| w[j]) - d2 * inv_2h2;
        }
    }
    lane_max(row)
}

/// What one tile pair `(I, J)` of the self-sums gives tile `I`'s rows: their kernel sums
/// and their weighted sums of the centred coordinates (`T × d`).
struct Part {
    sum: Vec<f64>,
    acc: Vec<f64>,
}

impl BlockedSums {
    /// The unweighted sums at the samples themselves (the particles' own density at the
    /// particles), taking each pair of points once: the kernel matrix is symmetric, so the
    /// tile of rows `I` and columns `J > I` gives both row tiles their part, which halves the
    /// distance products and the exponentials.
    ///
    /// Every row's maximum exponent is 0 (the point itself), so the exponentials need no
    /// shift: each term is at most 1, the sum at least 1, and a term that underflows is
    /// below 1e-308 of it.
    ///
    /// Order: tile `I` adds its parts step by step, `s = 0, 1, ...`: at step `s` first the
    /// pair `(I, I + s)` (rows), then `(I - s, I)` (columns). The pairs of one step run in
    /// parallel into their own buffers; the adding is in that fixed order, so the result
    /// does not depend on the number of threads.
    fn self_sums(&self, h: f64, own: Range<usize>, log_sum: &mut [f64], shift: &mut [f64]) {
        let d = self.samples.dim();
        let n = self.samples.len();
        let h2 = h * h;
        let inv_2h2 = 0.5 / h2;
        let tiles = n.div_ceil(SAMPLE_TILE);
        let span = |t: usize| (t * SAMPLE_TILE, SAMPLE_TILE.min(n - t * SAMPLE_TILE));
        let first = own.start * SAMPLE_TILE;
        let rows_owned = (own.end * SAMPLE_TILE).min(n) - first;
        let mut sum = vec![0.0; rows_owned];
        shift.iter_mut().for_each(|v| *v = 0.0);
        for step in 0..tiles {
            // The pairs (a, a + step) that give an owned tile a part: its rows when `a` is
            // owned, its columns when `a + step` is (off the diagonal).
            let parts: Vec<(Option<Part>, Option<Part>)> = (0..tiles - step)
                .into_par_iter()
                // One tile of exponentials per worker, reused from pair to pair.
                .map_init(Vec::new, |e, a| {
                    let rows = own.contains(&a);
                    let cols = step > 0 && own.contains(&(a + step));
                    if rows || cols {
                        self.pair(span(a), span(a + step), rows, cols, inv_2h2, e)
                    } else {
                        (None, None)
                    }
                })
                .collect();
            // Rows first, then columns, tile by tile.
            sum.par_chunks_mut(SAMPLE_TILE)
                .zip(shift.par_chunks_mut(SAMPLE_TILE * d))
                .enumerate()
                .for_each(|(k, (sum, acc))| {
                    let t = own.start + k;
                    let rows = parts.get(t).and_then(|(rows, _)| rows.as_ref());
                    let cols = t
                        .checked_sub(step)
                        .filter(|_| step > 0)
                        .and_then(|a| parts[a].1.as_ref());
                    for part in rows.into_iter().chain(cols) {
                        sum.iter_mut().zip(&part.sum).for_each(|(s, p)| *s += p);
                        acc.iter_mut().zip(&part.acc).for_each(|(a, p)| *a += p);
                    }
                });
        }
        log_sum
            .par_iter_mut()
            .zip(shift.par_chunks_mut(d))
            .zip(sum.par_iter())
            .zip(self.centred[first * d..(first + rows_owned) * d].par_chunks(d))
            .for_each(|(((ls, a), &s), q)| {
                let k = 1.0 / (h2 * s);
                for (v, qk) in a.iter_mut().zip(q) {
                    *v = (*v - qk * s) * k;
                }
                *ls = s.ln_p();
            });
    }

    /// The tile pair of rows `(i0, ni)` and columns `(j0, nj)`: the rows' part when `rows`,
    /// the columns' part when `cols` (off the diagonal). Each part is the same bits whether
    /// or not the other is asked for. `e` is scratch space for the tile's exponentials.
    fn pair(
        &self,
        (i0, ni): (usize, usize),
        (j0, nj): (usize, usize),
        rows: bool,
        cols: bool,
        inv_2h2: f64,
        e: &mut Vec<f64>,
    ) -> (Option<Part>, Option<Part>) {
        let d = self.samples.dim();
        let q = &self.centred[i0 * d..(i0 + ni) * d];
        let x = &self.centred[j0 * d..(j0 + nj) * d];
        let xt = &self.centred_t[j0 * d..(j0 + nj) * d];
        let norms = &self.norms[j0..j0 + nj];
        e.resize(ni * nj, 0.0);
        let e = &mut e[..ni * nj];
        dots(q, xt, d, nj, e);
        let mut row_sums = vec![0.0; ni];
        for (i, row) in e.chunks_exact_mut(nj).enumerate() {
            let qi = &q[i * d..(i + 1) * d];
            exponent_row(row, qi, self.norms[i0 + i], x, norms, None, inv_2h2);
            row_sums[i] = exp_shifted_sum(row, 0.0);
        }
        let rows = rows.then(|| {
            let mut part = Part {
                sum: row_sums,
                acc: vec![0.0; ni * d],
            };
            accumulate(e, x, xt, d, nj, &mut part.acc);
            part
        });
        let cols = cols.then(|| {
            // Down the columns, in row order, without forming the transpose.
            let mut cols = Part {
                sum: vec![0.0; nj],
                acc: vec![0.0; nj * d],
            };
            for row in e.chunks_exact(nj) {
                cols.sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
            accumulate_t(e, q, d, nj, &mut cols.acc);
            cols
        });
        (rows, cols)
    }
}

/// The largest entry, taken in eight interleaved lanes so that the loop vectorises (`-inf`
/// for an empty slice or one of `-inf` only; no entry is NaN).
fn lane_max(xs: &[f64]) -> f64 {
    let mut m = [f64::NEG_INFINITY; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (a, &x) in m.iter_mut().zip(c) {
            *a = if x > *a { x } else { *a };
        }
    }
    for (a, &x) in m.iter_mut().zip(chunks.remainder()) {
        *a = if x > *a { x } else { *a };
    }
    m.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

impl KernelSums for BlockedSums {
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
        if log_weights.is_none() && queries.as_slice() == self.samples.as_slice() {
            self.self_sums(
                h,
                0..self.samples.len().div_ceil(SAMPLE_TILE),
                log_sum,
                shift,
            );
            return;
        }
        let d = queries.dim();
        let h2 = h * h;
        let inv_2h2 = 0.5 / h2;
        let m = self.samples.len();
        log_sum
            .par_chunks_mut(QUERY_TILE)
            .zip(shift.par_chunks_mut(QUERY_TILE * d))
            .zip(queries.as_slice().par_chunks(QUERY_TILE * d))
            .for_each(|((ls, acc), q_raw)| {
                let nq = ls.len();
                // Per-tile buffers: allocated once per tile of 64 queries, not per point.
                let q: Vec<f64> = q_raw
                    .chunks_exact(d)
                    .flat_map(|r| {
                        r.iter()
                            .zip(&self.mean)
                            .map(|(a, mu)| a - mu)
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let q_norms: Vec<f64> = q
                    .chunks_exact(d)
                    .map(|r| r.iter().map(|v| v * v).sum())
                    .collect();
                let mut dots_buf = vec![0.0; nq * SAMPLE_TILE];
                let mut max = vec![f64::NEG_INFINITY; nq];
                let mut sum = vec![0.0; nq];
                acc.iter_mut().for_each(|v| *v = 0.0);
                for s0 in (0..m).step_by(SAMPLE_TILE) {
                    let ns = SAMPLE_TILE.min(m - s0);
                    let x = &self.centred[s0 * d..(s0 + ns) * d];
                    let xt = &self.centred_t[s0 * d..(s0 + ns) * d];
                    // dots = Q Xᵀ, each entry summed in a fixed order.
                    dots(&q, xt, d, ns, &mut dots_buf[..nq * ns]);
                    let norms = &self.norms[s0..s0 + ns];
                    let lw = log_weights.map(|lw| &lw[s0..s0 + ns]);
                    for i in 0..nq {
                        let row = &mut dots_buf[i * ns..(i + 1) * ns];
                        let qn = q_norms[i];
                        let qi = &q[i * d..(i + 1) * d];
                        let tile_max = exponent_row(row, qi, qn, x, norms, lw, inv_2h2);
                        if tile_max > max[i] {
                            let rescale = (max[i] - tile_max).exp_p();
                            sum[i] *= rescale;
                            acc[i * d..(i + 1) * d]
                                .iter_mut()
                                .for_each(|v| *v *= rescale);
                            max[i] = tile_max;
                        }
                        if max[i] == f64::NEG_INFINITY {
                            row.iter_mut().for_each(|t| *t = 0.0);
                            continue;
                        }
                        sum[i] += exp_shifted_sum(row, max[i]);
                    }
                    // acc += E X: the weighted sums of the (centred) sample coordinates.
                    accumulate(&dots_buf[..nq * ns], x, xt, d, ns, acc);
                }
                for i in 0..nq {
                    let a = &mut acc[i * d..(i + 1) * d];
                    if sum[i] == 0.0 {
                        ls[i] = f64::NEG_INFINITY;
                        a.iter_mut().for_each(|v| *v = 0.0);
                        continue;
                    }
                    let k = 1.0 / (h2 * sum[i]);
                    for (v, qk) in a.iter_mut().zip(&q[i * d..(i + 1) * d]) {
                        *v = (*v - qk * sum[i]) * k;
                    }
                    ls[i] = max[i] + sum[i].ln_p();
                }
            });
    }

    fn eval_self_rows(&self, h: f64, rows: Range<usize>, log_sum: &mut [f64], shift: &mut [f64]) {
        let n = self.samples.len();
        if rows.is_empty() {
            return;
        }
        debug_assert!(rows.start.is_multiple_of(SAMPLE_TILE));
        debug_assert!(rows.end.is_multiple_of(SAMPLE_TILE) || rows.end == n);
        let own = rows.start / SAMPLE_TILE..rows.end.div_ceil(SAMPLE_TILE);
        self.self_sums(h, own, log_sum, shift);
    }

    fn self_rows_unit(&self) -> usize {
        SAMPLE_TILE
    }

    fn name(&self) -> &'static str {
        "exact"
    }
}
