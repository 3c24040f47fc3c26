//! The particle spectrum beside one velocity evaluation, in one group so that the ratio is
//! read off one run: N = 10^4 particles in 2-D at an exact equilibrium (the particles are
//! the data, with the data's bandwidth, so `g = q` and every velocity is 0), the grid
//! estimator at its default tolerance, the ten slowest modes with the default number of
//! products.

use criterion::{Criterion, criterion_group, criterion_main};
use ganflow::datasets::gaussian;
use ganflow::spectrum::particle_spectrum;
use ganflow::{BandwidthSpec, Estimator, FlowConfig, Points, Simulation};

fn spectrum(c: &mut Criterion) {
    let n = 10_000;
    let y = gaussian(n, &[0.0, 0.0], 1.0, 2).unwrap();
    let h = ganflow::Bandwidth::Scott.compute("data", &y).unwrap();
    let cfg = FlowConfig {
        estimator: Estimator::Grid { tol: 1e-6 },
        bandwidth_g: BandwidthSpec::fixed(h),
        bandwidth_q: BandwidthSpec::fixed(h),
        ..FlowConfig::default()
    };
    let sim = Simulation::new(cfg, y.clone(), y.clone()).unwrap();
    let velocity = |p: &Points| sim.velocity_of(p);
    let mut group = c.benchmark_group("particle_spectrum_2d_n10000_grid");
    group.sample_size(10);
    group.bench_function("one_velocity", |b| b.iter(|| velocity(&y).unwrap()));
    group.bench_function("spectrum_10_slowest", |b| {
        b.iter(|| particle_spectrum(&velocity, &y, h, 10, 0).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = spectrum
}
criterion_main!(benches);
