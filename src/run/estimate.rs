//! What a run will cost, told before it starts: seconds per step for the sums whose cost is
//! predictable (exact, and the k-d tree at worst), and the memory its point sets need.

use super::spec::{IntegratorName, RunSpec, SchemeName};
use crate::kde::Estimator;

/// Seconds per kernel evaluation (density and score) of the exact sums, per thread:
/// `(A + B d)` nanoseconds. Fitted to `ganflow bench` on the 2-core development machine
/// with 2 threads (AVX-512): 1.07e9 pairs/s in 2-D, 8.4e8 in 16-D, 3.3e8 in 64-D.
const NS_PER_PAIR_BASE: f64 = 1.6;
const NS_PER_PAIR_PER_DIM: f64 = 0.08;

/// An estimate of a run's cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Seconds per step at `threads` threads, where the estimator's cost is predictable
    /// (exact sums; the k-d tree's worst case, every sample within its cut radius).
    pub seconds_per_step: Option<f64>,
    /// Bytes the point sets and their working copies take.
    pub bytes: f64,
}

/// The estimate for `spec` with `n` particles and `m` samples in `d` dimensions.
pub fn estimate(spec: &RunSpec, n: usize, m: usize, d: usize, threads: usize) -> Estimate {
    let (n, m, df) = (n as f64, m as f64, d as f64);
    // Kernel sums a step evaluates: both densities at the particles, and at the data too
    // for the variational scheme; twice with Heun.
    let mut pairs = n * n + n * m;
    if spec.scheme == SchemeName::Variational {
        pairs += m * n + m * m;
    }
    if spec.integrator == IntegratorName::Heun {
        pairs *= 2.0;
    }
    let predictable = !matches!(
        spec.flow_config().estimator.resolve(d, m as usize),
        Estimator::Grid { .. }
    );
    let seconds_per_step = predictable.then(|| {
        pairs * (NS_PER_PAIR_BASE + NS_PER_PAIR_PER_DIM * df) * 1e-9 / threads.max(1) as f64
    });
    // Positions, velocities, connection, field buffers and a Heun predictor for the
    // particles; samples, centred and transposed copies for the data; all f64.
    let bytes = 8.0 * df * (8.0 * n + 4.0 * m);
    Estimate {
        seconds_per_step,
        bytes,
    }
}

/// Bytes of memory available now (`MemAvailable` of `/proc/meminfo`), where known.
pub fn available_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fitted rates reproduce the measurements they came from within 25 %.
    #[test]
    fn rates_match_their_measurements() {
        let spec = RunSpec {
            estimator: super::super::spec::EstimatorName::Exact,
            ..RunSpec::default()
        };
        for (n, d, seconds) in [
            (10_000usize, 2usize, 0.093),
            (10_000, 16, 0.119),
            (2000, 64, 0.0122),
        ] {
            // The bench times one density and score: half of a plug-in step's pairs.
            let e = estimate(&spec, n, n, d, 2).seconds_per_step.unwrap() / 2.0;
            assert!(
                (e / seconds - 1.0).abs() < 0.25,
                "n {n}, d {d}: {e} s against {seconds} s"
            );
        }
    }
}
