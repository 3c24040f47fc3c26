//! Point sets shared by the integration tests.
#![allow(dead_code)]

use ganflow::Points;
use ganflow::datasets::{gaussian, rng};
use rand::Rng;

/// `n` standard normal points in `d` dimensions.
pub fn normal(n: usize, d: usize, seed: u64) -> Points {
    gaussian(n, &vec![0.0; d], 1.0, seed).unwrap()
}

/// `n` points in `k` tight clusters (std 0.05) at uniform random centres in `[-3, 3]^d`.
pub fn clustered(n: usize, d: usize, k: usize, seed: u64) -> Points {
    let mut r = rng(seed);
    let centers: Vec<Vec<f64>> = (0..k)
        .map(|_| (0..d).map(|_| r.random_range(-3.0..3.0)).collect())
        .collect();
    let noise = normal(n, d, seed + 1);
    let coords = noise
        .rows()
        .enumerate()
        .flat_map(|(i, row)| {
            let c = &centers[i % k];
            row.iter()
                .zip(c)
                .map(|(z, m)| m + 0.05 * z)
                .collect::<Vec<_>>()
        })
        .collect();
    Points::new("clustered", coords, d).unwrap()
}

/// Relative L2 error `|a - b| / |b|` of two flat vectors.
pub fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// A score's error relative to the score's own scale: `|got - want| / (|want| + 1/h)` (the
/// score is 0 at a mode, so a plain relative error would be undefined there).
pub fn score_error(got: &[f64], want: &[f64], h: f64) -> f64 {
    let err: f64 = got.iter().zip(want).map(|(x, y)| (x - y) * (x - y)).sum();
    let norm: f64 = want.iter().map(|y| y * y).sum();
    err.sqrt() / (norm.sqrt() + 1.0 / h)
}

/// Runs the `ganflow` binary in `dir` with `args`.
pub fn ganflow(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ganflow"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Writes `init.csv` in `dir`: 2000 particles of N(1, 0.954²), the equilibrium shape of a
/// closed-form N(0, 1) target seen through a particle bandwidth of 0.3 (variance
/// 1 - 0.3² = 0.954²), shifted by 1.
pub fn shifted_equilibrium_start(dir: &std::path::Path) {
    let o = ganflow(
        dir,
        &[
            "sample", "gaussian", "--n", "2000", "--dim", "1", "--mean", "1", "--std", "0.954",
            "--seed", "3", "--out", "init.csv",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `n` points at the quantiles `(i + 1/2) / n` of N(mean, s²) in 1-D: a sample without
/// sampling noise (the normal quantile by bisection on `erf`).
pub fn quantiles(n: usize, mean: f64, s: f64) -> Points {
    let coords = (0..n)
        .map(|i| {
            let p = (i as f64 + 0.5) / n as f64;
            let (mut a, mut b) = (-12.0, 12.0);
            for _ in 0..90 {
                let m = 0.5 * (a + b);
                if 0.5 * (1.0 + libm::erf(m / 2f64.sqrt())) < p {
                    a = m;
                } else {
                    b = m;
                }
            }
            mean + s * 0.5 * (a + b)
        })
        .collect();
    Points::new("quantiles", coords, 1).unwrap()
}
