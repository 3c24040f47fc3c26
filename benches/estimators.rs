//! Every estimator side by side, one group per operation: building over M samples, and the
//! log-density and score at N queries. N = M in {10^3, 10^4} by default (plus 10^5, and
//! 10^6 for the grid alone, with `GANFLOW_BENCH_FULL=1`), d in {1, 2, 3, 8}, tol 1e-4 (the
//! grid serves d <= 2; above, it is the tree, so it is benched there only). Data are built
//! outside the timed closures.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ganflow::datasets::gaussian;
use ganflow::kde::{Bandwidth, Estimator, ExactSums, kde};

const ESTIMATORS: [(&str, Estimator); 3] = [
    ("exact", Estimator::Exact),
    ("kdtree_tol1e-4", Estimator::KdTree { tol: 1e-4 }),
    ("grid_tol1e-4", Estimator::Grid { tol: 1e-4 }),
];

fn sizes() -> Vec<usize> {
    let mut n = vec![1_000, 10_000];
    if std::env::var_os("GANFLOW_BENCH_FULL").is_some() {
        n.extend([100_000, 1_000_000]);
    }
    n
}

/// Whether `est` is benched at `n` samples in `d` dimensions: the grid only where it is the
/// grid (d <= 2), the others up to 10^5 (at 10^6 they would take hours).
fn runs(est: Estimator, d: usize, n: usize) -> bool {
    match est {
        Estimator::Grid { .. } => d <= ganflow::kde::grid::MAX_DIM,
        _ => n <= 100_000,
    }
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("build");
    for d in [1usize, 2, 3, 8] {
        for &n in &sizes() {
            let samples = gaussian(n, &vec![0.5; d], 1.0, 2).unwrap();
            for (name, est) in ESTIMATORS {
                if !runs(est, d, n) {
                    continue;
                }
                group.bench_with_input(BenchmarkId::new(format!("{name}/d{d}"), n), &n, |b, _| {
                    b.iter(|| est.build(samples.clone()).unwrap())
                });
            }
        }
    }
    group.finish();
}

fn density_and_score(c: &mut Criterion) {
    let mut group = c.benchmark_group("density_and_score");
    group.sample_size(10);
    for d in [1usize, 2, 3, 8] {
        for &n in &sizes() {
            let queries = gaussian(n, &vec![0.0; d], 1.0, 1).unwrap();
            let samples = gaussian(n, &vec![0.5; d], 1.0, 2).unwrap();
            let h = Bandwidth::Scott.compute("samples", &samples).unwrap();
            for (name, est) in ESTIMATORS {
                if !runs(est, d, n) {
                    continue;
                }
                let sums = est.build(samples.clone()).unwrap();
                group.bench_with_input(BenchmarkId::new(format!("{name}/d{d}"), n), &n, |b, _| {
                    b.iter(|| kde(sums.as_ref(), &queries, h).unwrap())
                });
            }
            if n <= 10_000 {
                // The direct double loop, the oracle, for reference.
                let direct = ExactSums::new(samples.clone());
                group.bench_with_input(BenchmarkId::new(format!("direct/d{d}"), n), &n, |b, _| {
                    b.iter(|| kde(&direct, &queries, h).unwrap())
                });
            }
        }
    }
    group.finish();
}

// No criterion plots: ganflow's plotters build renders text with a bundled font that
// criterion's plots do not register (they would panic); the numbers are all in the report.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = build, density_and_score
}
criterion_main!(benches);
