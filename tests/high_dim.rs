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
