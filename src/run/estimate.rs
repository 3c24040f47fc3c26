//! What a run will cost, told before it starts: seconds per step for the sums whose cost is
//! predictable (exact, and the k-d tree at worst), and its peak memory, which a run must
//! have free before it starts.

use super::inputs::RunSizes;
use super::spec::{IntegratorName, RunSpec, SchemeName};
use crate::error::{Error, Result};
use crate::kde::Estimator;

/// Seconds per kernel evaluation (density and score) of the exact sums, per thread:
/// `(A + B d)` nanoseconds. Fitted to `ganflow bench` on the 2-core development machine
/// with 2 threads (AVX-512, the fused multiply-add tiles): 1.67e9 pairs/s in 2-D, 1.23e9 in
/// 16-D, 4.5e8 in 64-D. A CPU with AVX2 only takes 1.5-1.9x longer.
const NS_PER_PAIR_BASE: f64 = 1.1;
const NS_PER_PAIR_PER_DIM: f64 = 0.052;

/// An estimate of a run's cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Seconds per step at `threads` threads, where the estimator's cost is predictable
    /// (exact sums; the k-d tree's worst case, every sample within its cut radius).
    pub seconds_per_step: Option<f64>,
}

const MIB: f64 = 1024.0 * 1024.0;

/// What every run holds before its points: the program, its threads and buffers.
pub const BASE_BYTES: f64 = 9.0 * MIB;
/// Eight-byte words per particle coordinate at the peak: positions, velocity, connection,
/// both scores, the particles' centred copy and its layouts for the products (one by
/// sample, one by coordinate), the Heun predictor and the record being written.
pub const WORDS_PER_PARTICLE: f64 = 13.25;
/// Eight-byte words per data coordinate at the peak: the samples, their centred copy and
/// its layouts for the products, the densities at the data.
pub const WORDS_PER_SAMPLE: f64 = 5.25;
/// The grid estimator's runs (1-D and 2-D) instead: its cells, threads and buffers...
pub const GRID_BASE_BYTES: f64 = 40.0 * MIB;
/// ...and eight-byte words per point and coordinate, over both point sets: the points,
/// their far-field trees and binned copies.
pub const GRID_WORDS_PER_POINT: f64 = 11.5;

/// Peak resident memory of a run with `n` particles and `m` samples in `d` dimensions:
/// `BASE_BYTES + 8 d (WORDS_PER_PARTICLE n + WORDS_PER_SAMPLE m)`, or
/// `GRID_BASE_BYTES + 8 d GRID_WORDS_PER_POINT (n + m)` with the grid. Fitted to the peak
/// resident size (`/usr/bin/time -f %M`) of one-step runs on the development machine (the
/// test below holds the measurements): within 4 % of each without the grid, within 10 % with
/// it.
pub fn peak_bytes(n: usize, m: usize, d: usize, grid: bool) -> f64 {
    let (n, m, d) = (n as f64, m as f64, d as f64);
    if grid {
        GRID_BASE_BYTES + 8.0 * d * GRID_WORDS_PER_POINT * (n + m)
    } else {
        BASE_BYTES + 8.0 * d * (WORDS_PER_PARTICLE * n + WORDS_PER_SAMPLE * m)
    }
}

/// A run that would not fit in memory: its estimated peak and what is free.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryShortfall {
    /// The run's estimated peak, in bytes.
    pub needed: f64,
    /// What the machine (or the process's control group) has free, in bytes.
    pub available: f64,
}

impl std::fmt::Display for MemoryShortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let gib = (1u64 << 30) as f64;
        write!(
            f,
            "the run needs about {:.1} GiB of memory at its peak, more than the {:.1} GiB free",
            self.needed / gib,
            self.available / gib
        )
    }
}

/// Refuses a run of these sizes whose estimated peak memory ([`peak_bytes`]) exceeds what
/// is free, when that is known: [`Error::InsufficientMemory`].
pub fn check_memory(spec: &RunSpec, sizes: RunSizes) -> Result<()> {
    let RunSizes { n, m, d } = sizes;
    let grid = matches!(
        spec.flow_config().estimator.resolve(d, m),
        Estimator::Grid { .. }
    );
    let needed = peak_bytes(n, m, d, grid);
    match available_memory() {
        Some(available) if needed > available => Err(Error::InsufficientMemory {
            shortfall: MemoryShortfall { needed, available },
            n,
            m,
            d,
        }),
        _ => Ok(()),
    }
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
    Estimate { seconds_per_step }
}

/// Bytes of memory available now, where known: `MemAvailable` of `/proc/meminfo`, or less
/// when the process's memory control group (v1 or v2, as containers and batch jobs set)
/// allows less.
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
    let machine = kb * 1024.0;
    Some(cgroup_headroom().map_or(machine, |c| c.min(machine)))
}

/// What this process's memory control group leaves: `memory.max - memory.current` (cgroup
/// v2) or `memory.limit_in_bytes - memory.usage_in_bytes` (v1, at the mount, which a
/// container sees as its own group), when a limit is set.
fn cgroup_headroom() -> Option<f64> {
    let read = |path: &std::path::Path| -> Option<f64> {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    };
    let root = std::path::Path::new("/sys/fs/cgroup");
    let v2 = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|own| {
            let path = own.lines().find_map(|l| l.strip_prefix("0::"))?.to_string();
            Some(root.join(path.trim_start_matches('/')))
        });
    // "max" (no limit) does not parse; v1 writes no limit as a number near 2^63.
    let (limit, used) = match v2.as_ref().and_then(|dir| read(&dir.join("memory.max"))) {
        Some(max) => (max, v2.and_then(|dir| read(&dir.join("memory.current")))),
        None => (
            read(&root.join("memory/memory.limit_in_bytes"))?,
            read(&root.join("memory/memory.usage_in_bytes")),
        ),
    };
    (limit < 2f64.powi(60)).then(|| (limit - used.unwrap_or(0.0)).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory model reproduces the peaks it was fitted to: one-step runs'
    /// `/usr/bin/time -f %M`, in KiB, of `ganflow run --target gaussian --dim d --n N --m M
    /// --steps 1` on the development machine (exact sums above 3-D, the k-d tree in 3-D, the
    /// grid in 2-D). The least-squares fit, rounded, is within 4 % of each without the grid
    /// and within 10 % with it (9.6 % at worst).
    #[test]
    fn memory_model_matches_its_measurements() {
        for (n, m, d, grid, kib) in [
            (2000usize, 2000usize, 64usize, false, 27_232.0),
            (20_000, 2000, 64, false, 147_576.0),
            (2000, 20_000, 64, false, 75_444.0),
            (20_000, 20_000, 64, false, 187_420.0),
            (20_000, 20_000, 16, false, 57_772.0),
            (100_000, 100_000, 3, false, 54_216.0),
            (20_000, 20_000, 2, true, 45_124.0),
            (100_000, 100_000, 2, true, 85_052.0),
            (300_000, 300_000, 2, true, 161_256.0),
            (1_000_000, 100_000, 2, true, 236_120.0),
            (1_000_000, 1_000_000, 2, true, 369_652.0),
        ] {
            let model = peak_bytes(n, m, d, grid);
            let measured = kib * 1024.0;
            let tolerance = if grid { 0.10 } else { 0.04 };
            assert!(
                (model / measured - 1.0).abs() < tolerance,
                "N {n}, M {m}, d {d}: model {model:.3e} B, measured {measured:.3e} B"
            );
        }
    }

    /// The fitted rates reproduce the measurements they came from within 25 %.
    #[test]
    fn rates_match_their_measurements() {
        let spec = RunSpec {
            estimator: super::super::spec::EstimatorName::Exact,
            ..RunSpec::default()
        };
        for (n, d, seconds) in [
            (10_000usize, 2usize, 0.060),
            (10_000, 16, 0.081),
            (2000, 64, 0.0089),
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
