//! Kernel sums shared among the ranks of a distributed run ([`crate::dist`]), and the
//! data's sums split into a fixed number of chunks.
//!
//! [`DistributedSums`] hands each sum to the ranks ([`KernelSums::eval_on_ranks`]): by
//! default each rank evaluates its share of the queries and the shares are gathered in rank
//! order (the grid, whose results depend on the batch of queries, is evaluated whole on
//! every rank instead). At the samples themselves (the particles'
//! own density) the shares are whole tiles of the estimator that takes each pair once, and
//! each rank computes the pairs that touch its tiles. Every query's result is the one a single
//! process gives it, so the run is the same bits for any number of ranks.
//!
//! [`ChunkedSums`] splits the samples (for large data sets) into `K` contiguous chunks,
//! `K` fixed by the run and not by the number of ranks: each chunk's sums are those of
//! its own estimator, and the chunks are combined in chunk order by a log-sum-exp, so the
//! result depends on `K` alone. On ranks, rank `r` evaluates the chunks of its share and
//! every rank gathers all chunks' results.

use std::ops::Range;

use rayon::prelude::*;

use super::KernelSums;
use crate::dist::{Ranks, current, gather_shares, share};
use crate::error::Result;
use crate::num::Portable;
use crate::points::Points;

/// Sums evaluated by the ranks installed on this thread together
/// ([`KernelSums::eval_on_ranks`]), or whole when there are none.
pub struct DistributedSums {
    inner: Box<dyn KernelSums>,
}

impl DistributedSums {
    /// Shares `inner`'s work.
    pub fn new(inner: Box<dyn KernelSums>) -> Self {
        Self { inner }
    }
}

impl KernelSums for DistributedSums {
    fn samples(&self) -> &Points {
        self.inner.samples()
    }

    fn eval_unchecked(
        &self,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
        shift: &mut [f64],
    ) {
        match current() {
            Some(ranks) => {
                self.inner
                    .eval_on_ranks(ranks.as_ref(), queries, h, log_weights, log_sum, shift)
            }
            None => self
                .inner
                .eval_unchecked(queries, h, log_weights, log_sum, shift),
        }
    }

    /// On ranks, the whole sums (shifts dropped); alone, the inner estimator's own.
    fn eval_log_unchecked(
        &self,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
    ) {
        if current().is_some() {
            super::log_sums_dropping_shifts(self, queries, h, log_weights, log_sum);
        } else {
            self.inner
                .eval_log_unchecked(queries, h, log_weights, log_sum);
        }
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

/// The default of [`KernelSums::eval_on_ranks`]: each rank evaluates its share of the
/// queries and the shares are gathered in rank order. At the samples themselves (unweighted)
/// the shares are whole units of [`KernelSums::self_rows_unit`], evaluated by
/// [`KernelSums::eval_self_rows`].
pub fn share_queries<S: KernelSums + ?Sized>(
    sums: &S,
    ranks: &dyn Ranks,
    queries: &Points,
    h: f64,
    log_weights: Option<&[f64]>,
    log_sum: &mut [f64],
    shift: &mut [f64],
) {
    let d = queries.dim();
    let own_samples = log_weights.is_none() && queries.as_slice() == sums.samples().as_slice();
    let unit = if own_samples {
        sums.self_rows_unit()
    } else {
        1
    };
    let shares: Vec<Range<usize>> = (0..ranks.size())
        .map(|r| share(queries.len(), unit, ranks.size(), r))
        .collect();
    let mine = shares[ranks.rank()].clone();
    let mut ls = vec![0.0; mine.len()];
    let mut sh = vec![0.0; mine.len() * d];
    if own_samples {
        sums.eval_self_rows(h, mine, &mut ls, &mut sh);
    } else if !mine.is_empty() {
        let q = &queries.as_slice()[mine.start * d..mine.end * d];
        let q = Points::new("queries", q.to_vec(), d)
            .expect("a share of the queries is a point set of their dimension");
        sums.eval_unchecked(&q, h, log_weights, &mut ls, &mut sh);
    }
    gather_shares(ranks, &shares, 1, &ls, log_sum);
    gather_shares(ranks, &shares, d, &sh, shift);
}

/// Sums over samples split into a fixed number of chunks, each with its own estimator,
/// combined in chunk order; on ranks ([`KernelSums::eval_on_ranks`]) the chunks are shared
/// among them.
pub struct ChunkedSums {
    samples: Points,
    chunks: Vec<(Range<usize>, Box<dyn KernelSums>)>,
}

impl ChunkedSums {
    /// Splits `samples` into `k` contiguous chunks (as even as can be), each summed by the
    /// estimator `build` makes of it.
    pub fn new(
        samples: Points,
        k: usize,
        build: impl Fn(Points) -> Result<Box<dyn KernelSums>>,
    ) -> Result<Self> {
        let d = samples.dim();
        let k = k.clamp(1, samples.len());
        let chunks = (0..k)
            .map(|c| {
                let rows = share(samples.len(), 1, k, c);
                let part = &samples.as_slice()[rows.start * d..rows.end * d];
                Ok((rows, build(Points::new("data chunk", part.to_vec(), d)?)?))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { samples, chunks })
    }

    /// How many chunks.
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }
}

impl ChunkedSums {
    /// The sums at `queries`, the chunks shared among `ranks` when given.
    fn eval_chunks(
        &self,
        ranks: Option<&dyn Ranks>,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
        shift: &mut [f64],
    ) {
        let (n, d, k) = (queries.len(), queries.dim(), self.chunks.len());
        let (size, rank) = ranks.map_or((1, 0), |r| (r.size(), r.rank()));
        // Chunk c's results, chunk after chunk: n log-sums, then n d shifts.
        let width = n * (d + 1);
        let shares: Vec<Range<usize>> = (0..size).map(|r| share(k, 1, size, r)).collect();
        let mine = shares[rank].clone();
        let mut local = vec![0.0; mine.len() * width];
        for (c, out) in mine.clone().zip(local.chunks_exact_mut(width)) {
            let (rows, sums) = &self.chunks[c];
            let (ls, sh) = out.split_at_mut(n);
            let lw = log_weights.map(|w| &w[rows.clone()]);
            sums.eval_unchecked(queries, h, lw, ls, sh);
        }
        let all = match ranks {
            Some(ranks) => {
                let mut all = vec![0.0; k * width];
                gather_shares(ranks, &shares, width, &local, &mut all);
                all
            }
            None => local,
        };
        combine(&all, n, d, log_sum, shift);
    }
}

impl KernelSums for ChunkedSums {
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
        self.eval_chunks(None, queries, h, log_weights, log_sum, shift);
    }

    /// Each rank evaluates the chunks of its share at every query; every rank gathers all
    /// chunks' results and combines them.
    fn eval_on_ranks(
        &self,
        ranks: &dyn Ranks,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
        shift: &mut [f64],
    ) {
        self.eval_chunks(Some(ranks), queries, h, log_weights, log_sum, shift);
    }

    fn name(&self) -> &'static str {
        self.chunks[0].1.name()
    }
}

/// Combines chunk results in chunk order: `log S = log Σ_c S_c` (shifted by the largest),
/// and the shift, a weighted mean, `Σ_c (S_c / S) shift_c`.
fn combine(all: &[f64], n: usize, d: usize, log_sum: &mut [f64], shift: &mut [f64]) {
    let width = n * (d + 1);
    log_sum
        .par_iter_mut()
        .zip(shift.par_chunks_mut(d))
        .enumerate()
        .for_each(|(i, (ls, out))| {
            let logs = all.chunks_exact(width).map(|c| c[i]);
            let max = logs.clone().fold(f64::NEG_INFINITY, f64::max);
            out.iter_mut().for_each(|v| *v = 0.0);
            if max == f64::NEG_INFINITY {
                *ls = max;
                return;
            }
            let total: f64 = logs.clone().map(|l| (l - max).exp_p()).sum();
            let log_total = max + total.ln_p();
            for (chunk, l) in all.chunks_exact(width).zip(logs) {
                let weight = (l - log_total).exp_p();
                if weight == 0.0 {
                    continue;
                }
                let s = &chunk[n + i * d..n + (i + 1) * d];
                out.iter_mut().zip(s).for_each(|(o, v)| *o += weight * v);
            }
            *ls = log_total;
        });
}
