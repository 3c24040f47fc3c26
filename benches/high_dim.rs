//! One whole Euler step in 64-D on the digits (N = M = 1797, `exact` estimator), both
//! schemes, with the throughput in kernel evaluations per second.
//!
//! A plug-in step sums the kernel over N particles and M data points at every particle:
//! `N (N + M)` evaluations. A variational step adds both densities at the data and the two
//! weighted sums at the particles: `(2N + M)(N + M)` in all.
//!
//! Also the numpy peer's computation (`benches/peers/sklearn_kde.py --numpy --bandwidth 2`),
//! the log-density and score of both KDEs at the particles, for its two cases: N = M = 2000
//! in 64-D and N = M = 20000 in 16-D.

use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ganflow::datasets::{gaussian, read_csv};
use ganflow::kde::kde;
use ganflow::{BandwidthSpec, Estimator, FlowConfig, Scheme, Simulation};

fn digits_step(c: &mut Criterion) {
    let data = read_csv(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv")).unwrap();
    let (n, m) = (data.len(), data.len());
    // Particles: a Gaussian around the data's mean with the pixels' typical spread.
    let mean = data.mean();
    let particles = gaussian(n, &mean, 4.0, 1).unwrap();
    let mut group = c.benchmark_group("digits_step_64d");
    group.sample_size(10);
    for (name, scheme, evals) in [
        ("plugin", Scheme::PlugIn, n * (n + m)),
        ("variational", Scheme::Variational, (2 * n + m) * (n + m)),
    ] {
        let cfg = FlowConfig {
            scheme,
            estimator: Estimator::Exact,
            bandwidth_g: BandwidthSpec::fixed(8.0),
            bandwidth_q: BandwidthSpec::fixed(8.0),
            dt: 0.1,
            ..FlowConfig::default()
        };
        let mut sim = Simulation::new(cfg, particles.clone(), data.clone()).unwrap();
        group.throughput(Throughput::Elements(evals as u64));
        group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
            b.iter(|| sim.step().unwrap())
        });
    }
    group.finish();
}

fn numpy_cases(c: &mut Criterion) {
    let mut group = c.benchmark_group("two_kdes_like_numpy_peer");
    group.sample_size(10);
    for (n, d) in [(2000usize, 64usize), (20_000, 16)] {
        let particles = gaussian(n, &vec![0.0; d], 1.0, 1).unwrap();
        let data = gaussian(n, &vec![0.5; d], 1.0, 2).unwrap();
        let g = Estimator::Exact.build(particles.clone()).unwrap();
        let q = Estimator::Exact.build(data).unwrap();
        group.throughput(Throughput::Elements(2 * (n * n) as u64));
        group.bench_with_input(BenchmarkId::new(format!("d{d}"), n), &n, |b, _| {
            b.iter(|| {
                (
                    kde(g.as_ref(), &particles, 2.0).unwrap(),
                    kde(q.as_ref(), &particles, 2.0).unwrap(),
                )
            })
        });
    }
    group.finish();
}

// No criterion plots (see benches/step.rs).
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = digits_step, numpy_cases
}
criterion_main!(benches);
