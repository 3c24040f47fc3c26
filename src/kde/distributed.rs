//! Kernel sums shared among the ranks of a distributed run ([`crate::dist`]), and the
//! data's sums split into a fixed number of chunks.
//!
//! [`DistributedSums`] shares the queries: each rank evaluates its share and the shares are
//! gathered in rank order (sums whose results depend on the batch of queries, the grid's,
//! are evaluated whole on every rank instead). At the samples themselves (the particles'
//! own density) the shares are whole tiles of the estimator that takes each pair once, and
//! each rank computes the pairs that touch its tiles. Every query's result is the one a single
//! process gives it, so the run is the same bits for any number of ranks.
//!
//! [`ChunkedSums`] splits the samples (for large data sets) into `K` contiguous chunks,
//! `K` fixed by the run and not by the number of ranks: each chunk's sums are those of
//! its own estimator, and the chunks are combined in chunk order by a log-sum-exp, so the
//! result depends on `K` alone. In a distributed run rank `r` evaluates the chunks of its
//! share and every rank gathers all chunks' results.

use std::ops::Range;

use rayon::prelude::*;

use super::KernelSums;
use crate::dist::{current, gather_shares, share};
use crate::error::Result;
use crate::num::Portable;
use crate::points::Points;

/// Sums whose queries are shared among the ranks installed on this thread (computed
/// whole when there are none).
pub struct DistributedSums {
    inner: Box<dyn KernelSums>,
}

impl DistributedSums {
    /// Shares `inner`'s queries.
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
        let Some(ranks) = current().filter(|_| self.inner.batch_independent()) else {
            return self
                .inner
                .eval_unchecked(queries, h, log_weights, log_sum, shift);
        };
        let d = queries.dim();
        let own_samples =
            log_weights.is_none() && queries.as_slice() == self.inner.samples().as_slice();
        let unit = if own_samples {
            self.inner.self_rows_unit()
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
            self.inner.eval_self_rows(h, mine, &mut ls, &mut sh);
        } else if !mine.is_empty() {
            let q = &queries.as_slice()[mine.start * d..mine.end * d];
            let q = Points::new("queries", q.to_vec(), d)
                .expect("a share of the queries is a point set of their dimension");
            self.inner
                .eval_unchecked(&q, h, log_weights, &mut ls, &mut sh);
        }
        gather_shares(ranks.as_ref(), &shares, 1, &ls, log_sum);
        gather_shares(ranks.as_ref(), &shares, d, &sh, shift);
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

/// Sums over samples split into a fixed number of chunks, each with its own estimator,
/// combined in chunk order; once [`ChunkedSums::shared`], the chunks are shared among the
/// ranks installed on this thread.
pub struct ChunkedSums {
    samples: Points,
    chunks: Vec<(Range<usize>, Box<dyn KernelSums>)>,
    shared: bool,
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
        Ok(Self {
            samples,
            chunks,
            shared: false,
        })
    }

    /// Shares the chunks among the ranks installed on this thread (every rank must then
    /// evaluate the same sums at the same queries, or the others wait).
    pub fn shared(mut self) -> Self {
        self.shared = true;
        self
    }

    /// How many chunks.
    pub fn chunks(&self) -> usize {
        self.chunks.len()
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
        let (n, d, k) = (queries.len(), queries.dim(), self.chunks.len());
        let ranks = if self.shared { current() } else { None };
        let (size, rank) = ranks.as_ref().map_or((1, 0), |r| (r.size(), r.rank()));
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
        let all = match &ranks {
            Some(ranks) => {
                let mut all = vec![0.0; k * width];
                gather_shares(ranks.as_ref(), &shares, width, &local, &mut all);
                all
            }
            None => local,
        };
        combine(&all, n, d, log_sum, shift);
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
