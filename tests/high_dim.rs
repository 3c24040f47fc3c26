//! High-dimensional flows: log space at d = 784, a flow in d = 16, bandwidth annealing.

mod common;

use std::ops::ControlFlow;

use common::normal;
use ganflow::datasets::gaussian;
use ganflow::kde::{Estimator, kde};
use ganflow::metrics::sliced_w2;
use ganflow::{Anneal, BandwidthSpec, FlowConfig, Observation, Points, Simulation, StopRule};

/// d = 784 with a small bandwidth: every kernel value underflows in linear space (exp of
/// about -10^5), yet densities, scores and the velocity are finite.
#[test]
fn no_underflow_at_784_dimensions() {
    let x = normal(60, 784, 1);
    let y = gaussian(60, &vec![0.5; 784], 1.0, 2).unwrap();
    let sums = Estimator::Exact.build(y.clone()).unwrap();
    let dens = kde(sums.as_ref(), &x, 0.05).unwrap();
    assert!(dens.log_density.iter().all(|v| v.is_finite()));
    assert!(dens.log_density[0] < -1e5, "{}", dens.log_density[0]);
    assert!(dens.score.iter().all(|v| v.is_finite()));
    let cfg = FlowConfig {
        bandwidth_g: BandwidthSpec::fixed(0.05),
        bandwidth_q: BandwidthSpec::fixed(0.05),
        ..FlowConfig::default()
    };
    let sim = Simulation::new(cfg, x, y).unwrap();
    let (field, diag) = sim.field_and_diagnostics().unwrap();
    assert!(field.velocity.iter().all(|v| v.is_finite()));
    assert!(
        diag.jsd.is_finite() && diag.jsd > 0.69,
        "separated sets: jsd {}",
        diag.jsd
    );
}

/// A flow in d = 16 between two Gaussians: JSD and sliced W2 fall at least fivefold.
#[test]
fn gaussian_flow_in_16_dimensions() {
    let d = 16;
    let x = normal(1000, d, 3);
    let mut mean = vec![0.0; d];
    mean[0] = 3.0;
    mean[1] = -2.0;
    mean[2] = 1.0;
    let y = gaussian(1000, &mean, 1.0, 4).unwrap();
    let cfg = FlowConfig {
        dt: 0.5,
        bandwidth_g: BandwidthSpec::fixed(1.5),
        bandwidth_q: BandwidthSpec::fixed(1.5),
        ..FlowConfig::default()
    };
    let w0 = sliced_w2(&x, &y, 50, 0).unwrap();
    let mut sim = Simulation::new(cfg, x, y.clone()).unwrap();
    let j0 = sim.diagnostics().unwrap().jsd;
    let summary = sim
        .run(
            &StopRule {
                max_steps: Some(150),
                ..Default::default()
            },
            50,
            &mut |_: &Observation<'_>| Ok(ControlFlow::Continue(())),
        )
        .unwrap();
    let w1 = sliced_w2(sim.particles(), &y, 50, 0).unwrap();
    let j1 = summary.last.jsd;
    eprintln!("d=16: jsd {j0:.4} -> {j1:.4}, sliced W2 {w0:.4} -> {w1:.4}");
    assert!(j1 * 5.0 <= j0, "jsd {j0} -> {j1}");
    assert!(w1 * 5.0 <= w0, "sliced W2 {w0} -> {w1}");
}

/// The annealed bandwidth starts `factor` times the rule's value, falls geometrically and
/// ends at it.
#[test]
fn bandwidth_annealing_schedule() {
    let x = normal(200, 2, 5);
    let y = gaussian(200, &[1.0, 0.0], 1.0, 6).unwrap();
    let cfg = FlowConfig {
        anneal: Some(Anneal {
            factor: 4.0,
            steps: 8,
        }),
        bandwidth_g: BandwidthSpec::fixed(0.3),
        bandwidth_q: BandwidthSpec::fixed(0.3),
        ..FlowConfig::default()
    };
    let mut sim = Simulation::new(cfg, x, y).unwrap();
    let mut hs = Vec::new();
    sim.run(
        &StopRule {
            max_steps: Some(12),
            ..Default::default()
        },
        1,
        &mut |o: &Observation<'_>| {
            hs.push((o.h_g, o.h_q));
            Ok(ControlFlow::Continue(()))
        },
    )
    .unwrap();
    assert!((hs[0].0 - 1.2).abs() < 1e-12 && hs[0].0 == hs[0].1);
    assert!(
        (hs[4].0 - 0.6).abs() < 1e-12,
        "halfway: factor 2, {}",
        hs[4].0
    );
    assert!(hs[8..].iter().all(|h| (h.0 - 0.3).abs() < 1e-15));
    assert!(hs.windows(2).all(|w| w[1].0 <= w[0].0));
    for (factor, steps) in [(0.5, 10), (2.0, 0)] {
        let cfg = FlowConfig {
            anneal: Some(Anneal { factor, steps }),
            ..cfg
        };
        let p = Points::new("p", vec![0.0, 1.0, 2.0, 0.5], 2).unwrap();
        assert!(Simulation::new(cfg, p.clone(), p).is_err());
    }
}

/// Whitening: the data's covariance becomes the identity, the round trip is exact to
/// rounding, and constant features do not break it.
#[test]
fn whitening_round_trip() {
    use ganflow::points::Standardizer;
    // Correlated 3-D data with a constant fourth feature.
    let z = normal(4000, 3, 7);
    let coords: Vec<f64> = z
        .rows()
        .flat_map(|r| {
            vec![
                10.0 + 3.0 * r[0],
                -2.0 + 2.0 * r[0] + 0.5 * r[1],
                0.1 * r[2] + r[1],
                7.0,
            ]
        })
        .collect();
    let x = Points::new("x", coords, 4).unwrap();
    let w = Standardizer::fit_whitening(&x);
    let white = w.forward(&x).unwrap();
    let var = white.variance();
    for (k, v) in var.iter().enumerate().take(3) {
        // Within the ridge (1e-12 of the mean variance) of 1.
        assert!((v - 1.0).abs() < 1e-6, "variance of coordinate {k}: {v}");
    }
    assert!(
        var[3] < 1e-12,
        "the constant feature stays constant: {}",
        var[3]
    );
    // Covariance off the diagonal vanishes.
    let m = white.mean();
    let cross: f64 = white
        .rows()
        .map(|r| (r[0] - m[0]) * (r[1] - m[1]))
        .sum::<f64>()
        / 3999.0;
    assert!(cross.abs() < 1e-6, "{cross}");
    let back = w.inverse(&white).unwrap();
    for (a, b) in back.as_slice().iter().zip(x.as_slice()) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
    }
    // A displacement maps linearly: inverse(z + v) - inverse(z) = A v.
    let v = vec![0.3, -0.2, 0.1, 0.0];
    let z0 = Points::new("z0", vec![0.0; 4], 4).unwrap();
    let z1 = Points::new("z1", v.clone(), 4).unwrap();
    let (x0, x1) = (w.inverse(&z0).unwrap(), w.inverse(&z1).unwrap());
    let av = w.inverse_vector(&v);
    for ((a, b), c) in x1.row(0).iter().zip(x0.row(0)).zip(&av) {
        assert!((a - b - c).abs() < 1e-12);
    }
}
