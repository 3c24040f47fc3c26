//! Brute-force kernel sums: every sample for every query, in log space. The oracle.

use rayon::prelude::*;

use super::{KernelSums, LogSumAcc, dist2};
use crate::points::Points;

/// Exact kernel sums: `O(n m d)` work, rayon over queries, no allocation per query.
///
/// Each query is one running log-sum-exp (`LogSumAcc`) over the samples
/// in their stored order, so results do not depend on the number of threads and no kernel
/// value underflows (the largest term is always 1 before the final logarithm).
#[derive(Clone, Debug)]
pub struct ExactSums {
    samples: Points,
}

impl ExactSums {
    /// Takes the samples.
    pub fn new(samples: Points) -> Self {
        Self { samples }
    }
}

/// Queries handed to one rayon task at a time (amortises scheduling).
const MIN_QUERIES_PER_TASK: usize = 16;

impl KernelSums for ExactSums {
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
        let samples = &self.samples;
        log_sum
            .par_iter_mut()
            .zip(shift.par_chunks_mut(d))
            .zip(queries.as_slice().par_chunks(d))
            .with_min_len(MIN_QUERIES_PER_TASK)
            .for_each(|((ls, sh), q)| {
                let mut acc = LogSumAcc::new(sh);
                match log_weights {
                    None => {
                        for x in samples.rows() {
                            acc.add(-dist2(x, q) * inv_2h2, x, q);
                        }
                    }
                    Some(lw) => {
                        for (x, w) in samples.rows().zip(lw) {
                            acc.add(w - dist2(x, q) * inv_2h2, x, q);
                        }
                    }
                }
                *ls = acc.finish(h2);
            });
    }

    fn name(&self) -> &'static str {
        "direct"
    }
}
