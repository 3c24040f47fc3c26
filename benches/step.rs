//! One whole Euler step in 2-D (Scott bandwidth), both schemes, `grid` and `kdtree` beside
//! `exact`.
//!
//! `cargo bench --bench step` runs N = M = 10^3 and 10^4; `GANFLOW_BENCH_FULL=1` adds 10^5
//! (an exact step there takes over a minute on two cores, so criterion's ten samples take
//! long) and 10^6 for the grid alone (the others would take hours).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ganflow::datasets::gaussian;
use ganflow::{Estimator, FlowConfig, Scheme, Simulation};

fn step(c: &mut Criterion) {
    let mut sizes = vec![1_000usize, 10_000];
    if std::env::var_os("GANFLOW_BENCH_FULL").is_some() {
        sizes.extend([100_000, 1_000_000]);
    }
    for (group_name, scheme) in [
        ("plugin_euler_step_2d", Scheme::PlugIn),
        ("variational_euler_step_2d", Scheme::Variational),
    ] {
        let mut group = c.benchmark_group(group_name);
        group.sample_size(10);
        for &n in &sizes {
            for (name, estimator) in [
                ("grid_tol1e-4", Estimator::Grid { tol: 1e-4 }),
                ("kdtree_tol1e-4", Estimator::KdTree { tol: 1e-4 }),
                ("exact", Estimator::Exact),
            ] {
                if n > 100_000 && !matches!(estimator, Estimator::Grid { .. }) {
                    continue;
                }
                let x = gaussian(n, &[0.0, 0.0], 1.0, 1).unwrap();
                let y = gaussian(n, &[1.0, 1.0], 1.0, 2).unwrap();
                let cfg = FlowConfig {
                    scheme,
                    estimator,
                    dt: 1e-3,
                    ..FlowConfig::default()
                };
                let mut sim = Simulation::new(cfg, x, y).unwrap();
                group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                    b.iter(|| sim.step().unwrap())
                });
            }
        }
        group.finish();
    }
}

// No criterion plots: ganflow's plotters build renders text with a bundled font that
// criterion's plots do not register (they would panic); the numbers are all in the report.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = step
}
criterion_main!(benches);
