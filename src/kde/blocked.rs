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
//! the 2-core development machine (`ganflow bench`, N = M, density and score): 7.2 ms at
//! N = 2000 in 64-D, 0.066 s at 10^4 in 16-D and 0.048 s at 10^4 in 2-D with AVX-512;
//! 12.0 ms, 0.113 s and 0.094-0.104 s with AVX2 forced. The samples are laid out for the
//! products' register tiles once, when the sums are built ([`Panels`]). An earlier
//! measurement with matrixmultiply's dgemm (FMA kernels, chosen by CPU) gave 10.1 ms,
//! 0.109 s and 0.109 s with AVX-512: the fixed-order tiles are the faster.
//!
//! At the samples themselves (the particles' own density at the particles, every step of a
//! flow), each pair of points is taken once ([`BlockedSums::self_sums`]), a tile against
//! itself included (its lower triangle mirrored from the upper): at N = M = 2000 in 64-D it
//! takes 8.7-8.8 ms against 11.1 ms for the data's sums at the particles (AVX2, 2
//! threads), which do twice the pairs. Densities alone
//! ([`KernelSums::eval_log_unchecked`], the diagnostics' densities at the data) skip the
//! products that weight the coordinates.

use std::ops::Range;

use rayon::prelude::*;

use super::simd::{Panels, accumulate, accumulate_t, dots};
use super::{KernelSums, dist2, exp_shifted_sum, lane_sum};
use crate::num::Portable;
use crate::points::Points;

/// Queries per tile: a multiple of both register tiles' heights (6 rows with AVX2, 8 with
/// AVX-512), so that no tile runs part empty. A query's sums do not depend on it. At
/// N = M = 2000 in 64-D the data's sums took 11.9 ms with 64 (AVX2), 11.2 ms with 72.
const QUERY_TILE: usize = 72;
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
    /// The same, laid out for the products, tile by tile: one per tile of `SAMPLE_TILE`
    /// samples.
    panels: Vec<Panels>,
    /// `|x_k - mean|²`.
    norms: Vec<f64>,
    mean: Vec<f64>,
}

impl BlockedSums {
    /// Takes the samples.
    pub fn new(samples: Points) -> Self {
        let mean = samples.mean();
        let d = samples.dim();
        let centred = centre(samples.as_slice(), &mean);
        let norms = squared_norms(&centred, d);
        let panels = centred
            .par_chunks(SAMPLE_TILE * d)
            .map(|tile| Panels::new(tile, d))
            .collect();
        Self {
            samples,
            centred,
            panels,
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
    // Exponents and their maximum in one branch-free pass, so that it vectorises; a pair
    // that lost too much to cancellation is recomputed after, and the maximum with it.
    let (max, cancelled) = exponents(row, q_norm, norms, log_weights, inv_2h2);
    if !cancelled {
        return max;
    }
    recompute_cancelled(row, qi, x, log_weights, inv_2h2);
    lane_max(row)
}

/// The exponents that [`exponents`] marked as cancelled (NaN), recomputed directly from the
/// query `qi` and the samples `x`.
fn recompute_cancelled(
    row: &mut [f64],
    qi: &[f64],
    x: &[f64],
    log_weights: Option<&[f64]>,
    inv_2h2: f64,
) {
    let d = qi.len();
    for (j, t) in row.iter_mut().enumerate() {
        if t.is_nan() {
            let d2 = dist2(qi, &x[j * d..(j + 1) * d]);
            *t = log_weights.map_or(0.0, |w| w[j]) - d2 * inv_2h2;
        }
    }
}

impl BlockedSums {
    /// The unweighted sums at the samples themselves (the particles' own density at the
    /// particles), taking each pair of points once: the kernel matrix is symmetric, so the
    /// tile of rows `I` and columns `J > I` gives both row tiles their part, which halves the
    /// distance products and the exponentials. A tile against itself forms its upper
    /// triangle and mirrors it (see [`Self::pair`]).
    ///
    /// Every row's maximum exponent is 0 (the point itself), so the exponentials need no
    /// shift: each term is at most 1, the sum at least 1, and a term that underflows is
    /// below 1e-308 of it.
    ///
    /// Order: tile `I` adds its parts step by step, the steps `s` in the order of
    /// [`step_batches`]: at step `s` first the pair `(I, I + s)` (rows), then `(I - s, I)`
    /// (columns). The pairs of one batch of steps run in parallel into their own slots of
    /// one buffer; the adding is in that fixed order, so the result does not depend on the
    /// number of threads.
    ///
    /// Without `shift` only the kernel sums are formed (the same bits), not the products
    /// that weight the coordinates.
    fn self_sums(
        &self,
        h: f64,
        own: Range<usize>,
        log_sum: &mut [f64],
        mut shift: Option<&mut [f64]>,
    ) {
        let d = self.samples.dim();
        let n = self.samples.len();
        let h2 = h * h;
        let inv_2h2 = 0.5 / h2;
        let tiles = n.div_ceil(SAMPLE_TILE);
        let span = |t: usize| (t * SAMPLE_TILE, SAMPLE_TILE.min(n - t * SAMPLE_TILE));
        let first = own.start * SAMPLE_TILE;
        let rows_owned = (own.end * SAMPLE_TILE).min(n) - first;
        let mut sum = vec![0.0; rows_owned];
        let scores = shift.is_some();
        if let Some(shift) = shift.as_deref_mut() {
            shift.iter_mut().for_each(|v| *v = 0.0);
        }
        let mut acc_tiles = tiles_of(shift.as_deref_mut(), SAMPLE_TILE * d, own.len());
        // One part: a row tile's kernel sums, then (with the shifts) their weighted sums of
        // the centred coordinates (`SAMPLE_TILE × d`). A pair has two slots, rows and
        // columns.
        let part_len = if scores {
            SAMPLE_TILE * (d + 1)
        } else {
            SAMPLE_TILE
        };
        // One buffer for every step, allocated once: a fresh one per pair cost a page fault
        // per 4 KiB, which was a tenth of the self sums' time at N = 2000 in 64-D.
        let mut slots: Vec<f64> = Vec::new();
        for batch in step_batches(tiles) {
            // The pairs (a, a + step) that give an owned tile a part: its rows when `a` is
            // owned, its columns when `a + step` is (off the diagonal).
            let pairs: Vec<(usize, usize)> = batch
                .iter()
                .flat_map(|&step| (0..tiles - step).map(move |a| (step, a)))
                .filter(|&(step, a)| own.contains(&a) || (step > 0 && own.contains(&(a + step))))
                .collect();
            slots.resize(pairs.len() * 2 * part_len, 0.0);
            slots
                .par_chunks_mut(2 * part_len)
                .zip(&pairs)
                // One tile of exponentials per worker, reused from pair to pair.
                .for_each_init(Vec::new, |e, (slot, &(step, a))| {
                    let (rows, cols) = slot.split_at_mut(part_len);
                    let rows = own.contains(&a).then_some(rows);
                    let cols = (step > 0 && own.contains(&(a + step))).then_some(cols);
                    self.pair(span(a), span(a + step), rows, cols, scores, inv_2h2, e);
                });
            // The slot of pair `(a, a + step)`, found among the batch's pairs (sorted).
            let slot = |step: usize, a: usize, which: usize| {
                let k = pairs
                    .binary_search(&(step, a))
                    .expect("the pair gives an owned tile a part");
                let at = (2 * k + which) * part_len;
                &slots[at..at + part_len]
            };
            // Step by step; in each, rows first, then columns, tile by tile.
            sum.par_chunks_mut(SAMPLE_TILE)
                .zip(acc_tiles.par_iter_mut())
                .enumerate()
                .for_each(|(k, (sum, acc))| {
                    let t = own.start + k;
                    for &step in &batch {
                        let rows = (t + step < tiles).then(|| slot(step, t, 0));
                        let cols = t
                            .checked_sub(step)
                            .filter(|_| step > 0)
                            .map(|a| slot(step, a, 1));
                        for part in rows.into_iter().chain(cols) {
                            let (part_sum, part_acc) = part.split_at(SAMPLE_TILE);
                            sum.iter_mut().zip(part_sum).for_each(|(s, p)| *s += p);
                            if let Some(acc) = acc {
                                acc.iter_mut().zip(part_acc).for_each(|(a, p)| *a += p);
                            }
                        }
                    }
                });
        }
        log_sum
            .par_iter_mut()
            .zip(sum.par_iter())
            .for_each(|(ls, &s)| *ls = s.ln_p());
        if let Some(shift) = shift {
            shift
                .par_chunks_mut(d)
                .zip(sum.par_iter())
                .zip(self.centred[first * d..(first + rows_owned) * d].par_chunks(d))
                .for_each(|((a, &s), q)| {
                    let k = 1.0 / (h2 * s);
                    for (v, qk) in a.iter_mut().zip(q) {
                        *v = (*v - qk * s) * k;
                    }
                });
        }
    }

    /// The tile pair of rows `(i0, ni)` and columns `(j0, nj)`: the rows' part into `rows`
    /// when given, the columns' part into `cols` when given (off the diagonal), each laid out
    /// as the `ni` (or `nj`) kernel sums from 0 and the weighted sums, row-major, from
    /// `SAMPLE_TILE` (when `scores`). Each part is the same bits whether or not the other is
    /// asked for. `e` is scratch space for the tile's exponentials.
    #[allow(clippy::too_many_arguments)]
    fn pair(
        &self,
        (i0, ni): (usize, usize),
        (j0, nj): (usize, usize),
        rows: Option<&mut [f64]>,
        cols: Option<&mut [f64]>,
        scores: bool,
        inv_2h2: f64,
        e: &mut Vec<f64>,
    ) {
        if rows.is_none() && cols.is_none() {
            return;
        }
        let d = self.samples.dim();
        let q = &self.centred[i0 * d..(i0 + ni) * d];
        let x = &self.centred[j0 * d..(j0 + nj) * d];
        let x_panels = &self.panels[j0 / SAMPLE_TILE];
        let norms = &self.norms[j0..j0 + nj];
        e.resize(ni * nj, 0.0);
        let e = &mut e[..ni * nj];
        // A tile against itself: its kernel matrix is symmetric to the bit (the products,
        // the sum of the two norms and the direct recomputation all commute), so the upper
        // triangle is formed and the lower one mirrored from it.
        let diagonal = i0 == j0;
        dots(q, x_panels, diagonal, e);
        let mut row_sums = [0.0; SAMPLE_TILE];
        for (i, row) in e.chunks_exact_mut(nj).enumerate() {
            let from = if diagonal { i } else { 0 };
            let qi = &q[i * d..(i + 1) * d];
            let (x, norms) = (&x[from * d..], &norms[from..]);
            let row = &mut row[from..];
            // No maximum is needed: every row's is 0 (see `self_sums`). On a diagonal tile
            // every row has a cancelled pair, the point with itself.
            let (_, cancelled) = exponents(row, self.norms[i0 + i], norms, None, inv_2h2);
            if cancelled {
                recompute_cancelled(row, qi, x, None, inv_2h2);
            }
            row_sums[i] = exp_shifted_sum(row, 0.0);
        }
        if diagonal {
            mirror_lower(e, nj);
            // Whole rows, summed as `exp_shifted_sum` sums them.
            for (s, row) in row_sums.iter_mut().zip(e.chunks_exact(nj)) {
                *s = lane_sum(row);
            }
        }
        if let Some(rows) = rows {
            let (sum, acc) = rows.split_at_mut(SAMPLE_TILE);
            sum[..ni].copy_from_slice(&row_sums[..ni]);
            if scores {
                let acc = &mut acc[..ni * d];
                acc.iter_mut().for_each(|v| *v = 0.0);
                accumulate(e, x_panels, acc);
            }
        }
        if let Some(cols) = cols {
            // Down the columns, in row order, without forming the transpose.
            let (sum, acc) = cols.split_at_mut(SAMPLE_TILE);
            let sum = &mut sum[..nj];
            sum.iter_mut().for_each(|v| *v = 0.0);
            for row in e.chunks_exact(nj) {
                sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
            if scores {
                let acc = &mut acc[..nj * d];
                acc.iter_mut().for_each(|v| *v = 0.0);
                accumulate_t(e, &self.panels[i0 / SAMPLE_TILE], nj, acc);
            }
        }
    }
}

impl BlockedSums {
    /// The kernel sums at `queries`, and their shifts when `shift` is given (without, the
    /// products that weight the coordinates are skipped; the sums are the same bits).
    fn eval(
        &self,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
        shift: Option<&mut [f64]>,
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
        let mut acc_tiles = tiles_of(shift, QUERY_TILE * d, queries.len().div_ceil(QUERY_TILE));
        log_sum
            .par_chunks_mut(QUERY_TILE)
            .zip(acc_tiles.par_iter_mut())
            .zip(queries.as_slice().par_chunks(QUERY_TILE * d))
            .for_each(|((ls, acc), q_raw)| {
                let nq = ls.len();
                // Per-tile buffers: allocated once per tile of queries, not per point.
                let q = centre(q_raw, &self.mean);
                let q_norms = squared_norms(&q, d);
                let mut dots_buf = vec![0.0; nq * SAMPLE_TILE];
                let mut max = vec![f64::NEG_INFINITY; nq];
                let mut sum = vec![0.0; nq];
                if let Some(acc) = acc.as_deref_mut() {
                    acc.iter_mut().for_each(|v| *v = 0.0);
                }
                for s0 in (0..m).step_by(SAMPLE_TILE) {
                    let ns = SAMPLE_TILE.min(m - s0);
                    let x = &self.centred[s0 * d..(s0 + ns) * d];
                    let panels = &self.panels[s0 / SAMPLE_TILE];
                    // dots = Q Xᵀ, each entry summed in a fixed order.
                    dots(&q, panels, false, &mut dots_buf[..nq * ns]);
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
                            if let Some(acc) = acc.as_deref_mut() {
                                acc[i * d..(i + 1) * d]
                                    .iter_mut()
                                    .for_each(|v| *v *= rescale);
                            }
                            max[i] = tile_max;
                        }
                        if max[i] == f64::NEG_INFINITY {
                            row.iter_mut().for_each(|t| *t = 0.0);
                            continue;
                        }
                        sum[i] += exp_shifted_sum(row, max[i]);
                    }
                    // acc += E X: the weighted sums of the (centred) sample coordinates.
                    if let Some(acc) = acc.as_deref_mut() {
                        accumulate(&dots_buf[..nq * ns], panels, acc);
                    }
                }
                for i in 0..nq {
                    ls[i] = if sum[i] == 0.0 {
                        f64::NEG_INFINITY
                    } else {
                        max[i] + sum[i].ln_p()
                    };
                    let Some(acc) = acc.as_deref_mut() else {
                        continue;
                    };
                    let a = &mut acc[i * d..(i + 1) * d];
                    if sum[i] == 0.0 {
                        a.iter_mut().for_each(|v| *v = 0.0);
                        continue;
                    }
                    let k = 1.0 / (h2 * sum[i]);
                    for (v, qk) in a.iter_mut().zip(&q[i * d..(i + 1) * d]) {
                        *v = (*v - qk * sum[i]) * k;
                    }
                }
            });
    }
}

/// `buffer` cut into `count` tiles of `len` (the last may be shorter), or `count` times
/// `None` without a buffer: one entry per tile for a parallel loop.
fn tiles_of(buffer: Option<&mut [f64]>, len: usize, count: usize) -> Vec<Option<&mut [f64]>> {
    match buffer {
        Some(b) => b.chunks_mut(len.max(1)).map(Some).collect(),
        None => (0..count).map(|_| None).collect(),
    }
}

/// Row-major points minus `mean` (one entry per coordinate), row by row.
fn centre(points: &[f64], mean: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(points.len());
    for row in points.chunks_exact(mean.len()) {
        out.extend(row.iter().zip(mean).map(|(a, m)| a - m));
    }
    out
}

/// `|p|²` of each row-major point of `d` coordinates, summed in coordinate order: the same
/// bits for a point whether it is a query or a sample.
fn squared_norms(points: &[f64], d: usize) -> Vec<f64> {
    points
        .chunks_exact(d)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

/// Copies the strict upper triangle of the `n × n` row-major matrix `e` onto its lower
/// one, in blocks of 8 × 8 so that the reads down the columns stay in cache.
fn mirror_lower(e: &mut [f64], n: usize) {
    const BLOCK: usize = 8;
    for bi in (0..n).step_by(BLOCK) {
        for bj in (0..=bi).step_by(BLOCK) {
            for i in bi..(bi + BLOCK).min(n) {
                for j in bj..(bj + BLOCK).min(i) {
                    e[i * n + j] = e[j * n + i];
                }
            }
        }
    }
}

/// The order in which the self sums take the steps `s` (the tile pairs `(a, a + s)`) of
/// `tiles` tiles: `[0]`, then `[s, tiles - s]` for `s = 1, 2, ...`, with `[tiles / 2]`
/// alone when `tiles` is even. Step `s` has `tiles - s` pairs, so every batch but that one
/// has `tiles`: as many pairs at once as the largest step, and the same number in each,
/// which two threads share evenly when it is even.
fn step_batches(tiles: usize) -> Vec<Vec<usize>> {
    let mut batches = vec![vec![0]];
    for s in 1..tiles {
        match s.cmp(&(tiles - s)) {
            std::cmp::Ordering::Less => batches.push(vec![s, tiles - s]),
            std::cmp::Ordering::Equal => batches.push(vec![s]),
            std::cmp::Ordering::Greater => break,
        }
    }
    batches
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
        self.eval(queries, h, log_weights, log_sum, Some(shift));
    }

    fn eval_log_unchecked(
        &self,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
    ) {
        self.eval(queries, h, log_weights, log_sum, None);
    }

    fn eval_self_rows(&self, h: f64, rows: Range<usize>, log_sum: &mut [f64], shift: &mut [f64]) {
        let n = self.samples.len();
        if rows.is_empty() {
            return;
        }
        debug_assert!(rows.start.is_multiple_of(SAMPLE_TILE));
        debug_assert!(rows.end.is_multiple_of(SAMPLE_TILE) || rows.end == n);
        let own = rows.start / SAMPLE_TILE..rows.end.div_ceil(SAMPLE_TILE);
        self.self_sums(h, own, log_sum, Some(shift));
    }

    fn self_rows_unit(&self) -> usize {
        SAMPLE_TILE
    }

    fn name(&self) -> &'static str {
        "exact"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A diagonal tile mirrors its upper triangle and sums its rows with `lane_sum`: the
    /// row sums must be `exp_shifted_sum`'s bits over the whole row, and the mirrored
    /// entries the ones computed directly. Rows of every length modulo 8, tiles whose size
    /// is not a multiple of the 8 × 8 blocks.
    #[test]
    fn mirrored_rows_sum_as_whole_rows() {
        for n in [1usize, 7, 8, 13, 64, 208, 256] {
            // A symmetric matrix of exponents, as a diagonal tile's.
            let mut whole = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    let (a, b) = (i.min(j) as f64, i.max(j) as f64);
                    whole[i * n + j] = -((a * 0.37 + b * 1.91).sin_p().abs() * 9.0 + (a - b).abs());
                }
            }
            let mut mirrored = whole.clone();
            // The lower triangle as the products may leave it: anything.
            for i in 0..n {
                for j in 0..i {
                    mirrored[i * n + j] = f64::NAN;
                }
            }
            let mut expected_sums = Vec::new();
            for row in whole.chunks_exact_mut(n) {
                expected_sums.push(exp_shifted_sum(row, 0.0));
            }
            for (i, row) in mirrored.chunks_exact_mut(n).enumerate() {
                exp_shifted_sum(&mut row[i..], 0.0);
            }
            mirror_lower(&mut mirrored, n);
            assert!(
                whole
                    .iter()
                    .zip(&mirrored)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "n = {n}: the mirrored exponentials differ"
            );
            for (row, want) in mirrored.chunks_exact(n).zip(&expected_sums) {
                assert_eq!(lane_sum(row).to_bits(), want.to_bits(), "n = {n}");
            }
        }
    }
}
