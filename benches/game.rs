//! One generator step of the game beside one step of the optimal flow, in one group so that
//! the ratio is read off one run: N = M = 10^4 in 2-D (particles N(0, I), data N(1, I)),
//! the optimal step with the grid estimator at its default tolerance, the game's round with
//! an `rff:256` discriminator (length 1) taking 5 steps per generator step.

use criterion::{Criterion, criterion_group, criterion_main};
use ganflow::datasets::gaussian;
use ganflow::game::{Discriminator, Family, GameConfig, round};
use ganflow::{Estimator, FlowConfig, Simulation};

fn game_step(c: &mut Criterion) {
    let n = 10_000;
    let x = gaussian(n, &[0.0, 0.0], 1.0, 1).unwrap();
    let y = gaussian(n, &[1.0, 1.0], 1.0, 2).unwrap();
    let cfg = FlowConfig {
        estimator: Estimator::Grid { tol: 1e-6 },
        dt: 1e-3,
        ..FlowConfig::default()
    };
    let mut sim = Simulation::new(cfg, x.clone(), y.clone()).unwrap();
    let game = GameConfig {
        lr: 0.1,
        steps: 5,
        ..GameConfig::default()
    };
    let disc = Discriminator::zeros(Family::rff(256, 2, 1.0, 3).unwrap(), 2, 3);
    let mut group = c.benchmark_group("game_step_2d_n10000");
    group.sample_size(10);
    group.bench_function("optimal_grid", |b| b.iter(|| sim.step().unwrap()));
    group.bench_function("rff256_disc_steps5", |b| {
        b.iter(|| {
            let mut d = disc.clone();
            round(&mut d, &game, &x, &y, 1e-3).unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = game_step
}
criterion_main!(benches);
