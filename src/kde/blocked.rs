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

use rayon::prelude::*;

use super::simd::{accumulate, dots};
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
                        // Exponents and their maximum in one branch-free pass, so that it
                        // vectorises; a pair that lost too much to cancellation is recomputed
                        // after, and the maximum with it.
                        let (mut tile_max, cancelled) = exponents(row, qn, norms, lw, inv_2h2);
                        if cancelled {
                            let qi = &q[i * d..(i + 1) * d];
                            for (j, t) in row.iter_mut().enumerate() {
                                if t.is_nan() {
                                    let d2 = dist2(qi, &x[j * d..(j + 1) * d]);
                                    *t = lw.map_or(0.0, |w| w[j]) - d2 * inv_2h2;
                                }
                            }
                            tile_max = lane_max(row);
                        }
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

    fn name(&self) -> &'static str {
        "exact"
    }
}
