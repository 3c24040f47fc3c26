//! One step of the path-objective imitation flow at N = M = 2000 trajectories of T = 20
//! steps in the plane (path space: 40-D), exact sums, as `imitation_study` runs it.

use criterion::{Criterion, criterion_group, criterion_main};
use ganflow::imitate::baselines::random_rollouts;
use ganflow::imitate::{Expert, Imitation, Objective};
use ganflow::kde::{BandwidthSpec, Estimator};
use ganflow::{FlowConfig, Loss};

fn path_step(c: &mut Criterion) {
    let experts = Expert::AroundObstacle.demos(2000, 20, 1.0, 1).unwrap();
    let start = random_rollouts(&experts, 2000, 2).unwrap();
    let config = FlowConfig {
        loss: Loss::NonSaturating,
        bandwidth_g: BandwidthSpec::fixed(1.0),
        bandwidth_q: BandwidthSpec::fixed(1.0),
        estimator: Estimator::Exact,
        dt: 0.1,
        ..FlowConfig::default()
    };
    let mut flow = Imitation::new(Objective::Path, config, start, &experts).unwrap();
    let mut group = c.benchmark_group("imitate_path_n2000_t20");
    group.sample_size(10);
    group.bench_function("one_step", |b| b.iter(|| flow.step().unwrap()));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = path_step
}
criterion_main!(benches);
