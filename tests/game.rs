//! The learning discriminator against closed forms: the Dirac-GAN (Mescheder, Geiger and
//! Nowozin 2018) and the optimal flow's symmetry.

#![allow(clippy::disallowed_methods)] // the oracles may use the C library

mod common;

use ganflow::game::joint::{jacobian, rotation_probes};
use ganflow::game::{
    Discriminator, Family, GameConfig, Penalty, Updates, joint_field, rotation_of, round,
};
use ganflow::kde::Estimator;
use ganflow::{BandwidthSpec, FlowConfig, Points, Scheme, Simulation};
use nalgebra::Complex;

/// The Dirac-GAN: the data one point at 0, one particle at `theta`, `f = psi x`; the step
/// `h` is the same for both players (`lr = dt = h`, one discriminator step).
struct Dirac {
    config: GameConfig,
    h: f64,
}

impl Dirac {
    fn new(h: f64, penalty: Penalty, updates: Updates) -> Self {
        Self {
            config: GameConfig {
                lr: h,
                steps: 1,
                penalty,
                updates,
                ..GameConfig::default()
            },
            h,
        }
    }

    fn disc(psi: f64) -> Discriminator {
        Discriminator::with_params(Family::Linear { bias: false }, 1, vec![psi]).unwrap()
    }

    fn data() -> Points {
        Points::new("data", vec![0.0], 1).unwrap()
    }

    /// One round from `(theta, psi)`.
    fn step(&self, theta: f64, psi: f64) -> (f64, f64) {
        let mut disc = Self::disc(psi);
        let x = Points::new("particle", vec![theta], 1).unwrap();
        let next = round(&mut disc, &self.config, &x, &Self::data(), self.h).unwrap();
        (next.row(0)[0], disc.params[0])
    }

    /// The joint Jacobian at `(theta, psi)`.
    fn jacobian(&self, theta: f64, psi: f64) -> nalgebra::DMatrix<f64> {
        let disc = Self::disc(psi);
        let field = |z: &[f64]| joint_field(&disc, &self.config, &Self::data(), self.h, z);
        jacobian(&field, &[theta, psi], 1e-6).unwrap()
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn sorted_eigenvalues(j: &nalgebra::DMatrix<f64>) -> Vec<Complex<f64>> {
    let mut e: Vec<Complex<f64>> = j.clone().complex_eigenvalues().iter().copied().collect();
    e.sort_by(|a, b| a.im.total_cmp(&b.im));
    e
}

/// At the equilibrium the joint Jacobian is `[[0, 1/2], [-1/2, -gamma]]`: eigenvalues `±i/2`
/// without a penalty (a pure rotation: share 1), `-gamma/2 ± sqrt(gamma²/4 - 1/4)` with R1.
#[test]
fn dirac_gan_linearisation() {
    let plain = Dirac::new(0.1, Penalty::None, Updates::Simultaneous);
    let e = sorted_eigenvalues(&plain.jacobian(0.0, 0.0));
    assert!((e[0] - Complex::new(0.0, -0.5)).norm() < 1e-6, "{e:?}");
    assert!((e[1] - Complex::new(0.0, 0.5)).norm() < 1e-6, "{e:?}");
    assert!((rotation_of(&plain.jacobian(0.0, 0.0)) - 1.0).abs() < 1e-3);
    for gamma in [0.3, 0.5, 2.0] {
        let r1 = Dirac::new(0.1, Penalty::R1(gamma), Updates::Simultaneous);
        let e = sorted_eigenvalues(&r1.jacobian(0.0, 0.0));
        let disc = Complex::new(gamma * gamma / 4.0 - 0.25, 0.0).sqrt();
        let mut expected = [
            Complex::new(-gamma / 2.0, 0.0) - disc,
            Complex::new(-gamma / 2.0, 0.0) + disc,
        ];
        expected.sort_by(|a, b| a.im.total_cmp(&b.im).then(a.re.total_cmp(&b.re)));
        let mut got = e.clone();
        got.sort_by(|a, b| a.im.total_cmp(&b.im).then(a.re.total_cmp(&b.re)));
        for (g, x) in got.iter().zip(&expected) {
            assert!(
                (g - x).norm() < 1e-6,
                "gamma {gamma}: {got:?} vs {expected:?}"
            );
        }
    }
}

/// Simultaneous steps spiral out. Exactly: both players see the same `s = sigmoid(psi theta)`,
/// so `r' = r sqrt(1 + h² s²)` every step (to rounding); near the equilibrium `s = 1/2` and
/// the factor is `sqrt(1 + h²/4)` (to 1 %).
#[test]
fn dirac_gan_simultaneous_steps_spiral_out() {
    let game = Dirac::new(0.1, Penalty::None, Updates::Simultaneous);
    let (mut theta, mut psi): (f64, f64) = (1.0, 0.0);
    for _ in 0..200 {
        let r = (theta * theta + psi * psi).sqrt();
        let s = sigmoid(psi * theta);
        let (t2, p2) = game.step(theta, psi);
        let r2 = (t2 * t2 + p2 * p2).sqrt();
        assert!((r2 / r - (1.0 + 0.01 * s * s).sqrt()).abs() < 1e-12);
        (theta, psi) = (t2, p2);
    }
    assert!((theta * theta + psi * psi).sqrt() > 1.0);
    // Near the equilibrium, over 100 steps.
    let (mut theta, mut psi) = (1e-3, 0.0);
    for _ in 0..100 {
        (theta, psi) = game.step(theta, psi);
    }
    let factor = ((theta * theta + psi * psi).sqrt() / 1e-3).powf(1.0 / 100.0);
    let predicted = (1.0 + 0.01 / 4.0f64).sqrt();
    assert!(
        ((factor - 1.0) / (predicted - 1.0) - 1.0).abs() < 0.01,
        "{factor} vs {predicted}"
    );
}

/// Alternating steps stay on a bounded orbit: the radius within 5 % of its start over 1000
/// steps (measured: within 1.9 %).
#[test]
fn dirac_gan_alternating_steps_stay_bounded() {
    let game = Dirac::new(0.1, Penalty::None, Updates::Alternating);
    let (mut theta, mut psi) = (1.0, 0.0);
    let mut worst: f64 = 0.0;
    for _ in 0..1000 {
        (theta, psi) = game.step(theta, psi);
        worst = worst.max(((theta * theta + psi * psi).sqrt() - 1.0).abs());
    }
    assert!(worst < 0.05, "{worst}");
}

/// With R1 the game converges, at the predicted rate `gamma/2` (gamma < 1, small steps).
/// The radius oscillates about its decay (the linearisation is not normal, and turns at
/// `sqrt(1/4 - gamma²/4)`), so the rate is the least-squares slope of `ln r` over
/// `t` in [10, 60], more than three turns: measured 0.2504 against 0.25.
#[test]
fn dirac_gan_r1_converges_at_half_gamma() {
    let (gamma, h) = (0.5, 0.01);
    let game = Dirac::new(h, Penalty::R1(gamma), Updates::Simultaneous);
    let (mut theta, mut psi) = (1.0, 0.0);
    let mut points: Vec<(f64, f64)> = Vec::new();
    for k in 1..=6000 {
        (theta, psi) = game.step(theta, psi);
        if k >= 1000 {
            points.push((k as f64 * h, (theta * theta + psi * psi).sqrt().ln()));
        }
    }
    let rate = -ganflow::plot::linear_slope(&points).unwrap();
    assert!((rate - gamma / 2.0).abs() < 0.02 * gamma / 2.0, "{rate}");
}

/// The optimal flow is a gradient flow: with the variational scheme its Jacobian is
/// symmetric and the rotation share is below 1e-3 (dense, and from probes; measured 2.7e-10
/// dense).
#[test]
fn optimal_variational_flow_does_not_rotate() {
    let y = Points::new(
        "y",
        (0..60).map(|i| -2.0 + 4.0 * i as f64 / 59.0).collect(),
        1,
    )
    .unwrap();
    let x = Points::new(
        "x",
        (0..60).map(|i| -1.8 + 3.9 * i as f64 / 59.0).collect(),
        1,
    )
    .unwrap();
    let config = FlowConfig {
        scheme: Scheme::Variational,
        bandwidth_g: BandwidthSpec::fixed(0.3),
        bandwidth_q: BandwidthSpec::fixed(0.3),
        estimator: Estimator::Exact,
        ..FlowConfig::default()
    };
    let sim = Simulation::new(config, x.clone(), y).unwrap();
    let field = |z: &[f64]| sim.velocity_of(&Points::new("z", z.to_vec(), 1)?);
    let j = jacobian(&field, x.as_slice(), 1e-5).unwrap();
    let share = rotation_of(&j);
    assert!(share < 1e-3, "{share}");
    let probed = rotation_probes(&field, x.as_slice(), 30, 1, 1e-5).unwrap();
    assert!(probed.value < 1e-3, "{probed:?}");
}

/// The probe estimator against the dense value on the Dirac-GAN with R1 off the
/// equilibrium: within three of its standard errors (measured: 0.8930 ± 0.0064 from 400
/// probes against 0.9059).
#[test]
fn rotation_probes_agree_with_the_dense_value() {
    let game = Dirac::new(0.1, Penalty::R1(0.3), Updates::Simultaneous);
    let disc = Dirac::disc(0.4);
    let field = |z: &[f64]| joint_field(&disc, &game.config, &Dirac::data(), 0.1, z);
    let z = [0.7, 0.4];
    let dense = rotation_of(&jacobian(&field, &z, 1e-6).unwrap());
    let probed = rotation_probes(&field, &z, 400, 7, 1e-6).unwrap();
    assert!(
        (probed.value - dense).abs() < 3.0 * probed.std_error,
        "{dense} {probed:?}"
    );
    assert!(probed.std_error < 0.1);
}

/// A kernel discriminator of growing capacity, trained long against fixed particles,
/// approaches the optimal flow's velocity: 1-D, data N(0, 1) and particles N(0.7, 0.8²)
/// (1000 quantiles each), the optimal flow's KDEs at bandwidth 0.2, `rff:K` of length 0.4,
/// 3000 steps at rate 1. Measured relative L2 errors of the velocity: 0.565, 0.105, 0.101
/// for K = 2, 8, 64 (and 0.097 for 256, left out for time). The 10 % that remains is the two estimates' different
/// smoothing of the same log-ratio (a kernel of length 0.3 left 0.22, one of 0.6 left
/// 0.20 against bandwidth 0.3; against the closed-form target with h_g 0.1, longer training
/// made it worse, 0.31 to 0.47: unregularised logistic regression fits the finite
/// samples).
#[test]
fn rff_discriminator_approaches_the_optimal_velocity() {
    let (y, x) = (
        common::quantiles(1000, 0.0, 1.0),
        common::quantiles(1000, 0.7, 0.8),
    );
    let h = 0.2;
    let config = FlowConfig {
        bandwidth_g: BandwidthSpec::fixed(h),
        bandwidth_q: BandwidthSpec::fixed(h),
        estimator: Estimator::Exact,
        ..FlowConfig::default()
    };
    let optimal = Simulation::new(config, x.clone(), y.clone())
        .unwrap()
        .velocity_of(&x)
        .unwrap();
    let norm = optimal.iter().map(|v| v * v).sum::<f64>().sqrt();
    let game = GameConfig {
        lr: 1.0,
        steps: 3000,
        ..GameConfig::default()
    };
    let mut errors = Vec::new();
    for k in [2usize, 8, 64] {
        let mut disc = Discriminator::zeros(Family::rff(k, 1, 0.4, 1).unwrap(), 1, 1);
        ganflow::game::train(&mut disc, &game, &x, &y);
        let v = ganflow::game::velocity(&disc, game.loss, &x);
        let err = v
            .iter()
            .zip(&optimal)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt()
            / norm;
        errors.push(err);
    }
    assert!(errors.windows(2).all(|w| w[1] < w[0]), "{errors:?}");
    assert!(errors[2] < 0.12, "{errors:?}");
}

/// Rounds of an `rff` game give the same bits on one thread and on two.
#[test]
fn rff_rounds_do_not_depend_on_the_thread_count() {
    let data = common_points(300, 0.0, 11);
    let start = common_points(300, 1.0, 12);
    let config = GameConfig {
        lr: 0.5,
        steps: 3,
        penalty: Penalty::R1(0.1),
        updates: Updates::Alternating,
        ..GameConfig::default()
    };
    let play = |threads: usize| -> (Vec<f64>, Vec<f64>) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut disc = Discriminator::zeros(Family::rff(32, 2, 0.7, 5).unwrap(), 2, 5);
            let mut x = start.clone();
            for _ in 0..5 {
                x = round(&mut disc, &config, &x, &data, 0.1).unwrap();
            }
            (x.into_vec(), disc.params)
        })
    };
    let (a, b) = (play(1), play(2));
    assert!(
        a.0.iter()
            .zip(&b.0)
            .all(|(p, q)| p.to_bits() == q.to_bits())
    );
    assert!(
        a.1.iter()
            .zip(&b.1)
            .all(|(p, q)| p.to_bits() == q.to_bits())
    );
    assert!(a.1.iter().any(|p| *p != 0.0), "the discriminator learned");
}

/// `n` points of N(mean, I) in 2-D.
fn common_points(n: usize, mean: f64, seed: u64) -> Points {
    ganflow::datasets::gaussian(n, &[mean, mean], 1.0, seed).unwrap()
}
