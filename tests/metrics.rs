//! The sample-quality yardsticks against closed forms and constructed cases.

#![allow(clippy::disallowed_methods)] // an independent oracle may use the C library

mod common;

use common::normal;
use ganflow::Points;
use ganflow::datasets::{Builtin, gaussian};
use ganflow::metrics::{
    MetricsSpec, Modes, memorization, mmd2_unbiased, mode_coverage, sliced_w2, w2_1d,
};

#[test]
fn sliced_w2_of_a_set_with_itself_is_zero() {
    let a = normal(500, 3, 1);
    assert_eq!(sliced_w2(&a, &a, 20, 0).unwrap(), 0.0);
    let b = normal(500, 3, 2);
    assert!(sliced_w2(&a, &b, 20, 0).unwrap() > 0.0);
}

#[test]
fn w2_of_1d_gaussians_matches_the_closed_form() {
    // W2(N(m1, s1²), N(m2, s2²)) = sqrt((m1 - m2)² + (s1 - s2)²) = sqrt(2) here.
    let a = gaussian(20_000, &[0.0], 1.0, 3).unwrap();
    let b = gaussian(30_000, &[1.0], 2.0, 4).unwrap();
    let w = sliced_w2(&a, &b, 1, 0).unwrap();
    assert!((w - 2f64.sqrt()).abs() < 0.03, "{w}");
    // Unequal sizes are exact on step functions: {0, 1} against {0, 0, 1, 1} is 0.
    assert_eq!(w2_1d(&mut [0.0, 1.0], &mut [1.0, 0.0, 1.0, 0.0]), 0.0);
    // {0} against {0, 1}: half the mass moves by 1.
    assert!((w2_1d(&mut [0.0], &mut [0.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-15);
    // A shift by (1, 1): the projection on a unit θ shifts by θ1 + θ2, and the mean of
    // (θ1 + θ2)² over the circle is 1, so the sliced W2 is about 1.
    let c = normal(3000, 2, 5);
    let shifted = Points::new("s", c.as_slice().iter().map(|v| v + 1.0).collect(), 2).unwrap();
    let w = sliced_w2(&c, &shifted, 400, 1).unwrap();
    assert!((w - 1.0).abs() < 0.1, "{w}");
}

#[test]
fn mmd2_is_near_zero_for_one_distribution() {
    let a = normal(600, 2, 6);
    let b = normal(600, 2, 7);
    let same = mmd2_unbiased(&a, &a, 1.0).unwrap();
    let twins = mmd2_unbiased(&a, &b, 1.0).unwrap();
    let far = gaussian(600, &[1.0, 0.0], 1.0, 8).unwrap();
    let apart = mmd2_unbiased(&a, &far, 1.0).unwrap();
    eprintln!("mmd2: same set {same:.2e}, same law {twins:.2e}, shifted {apart:.2e}");
    assert!(same.abs() < 5e-3 && twins.abs() < 5e-3);
    assert!(apart > 10.0 * twins.abs().max(1e-3));
}

#[test]
fn mode_metrics_on_constructed_sets() {
    let ring = Builtin::EightGaussians.density().unwrap().unwrap();
    let modes = Modes {
        centers: ring.centers.clone(),
        std: ring.std,
    };
    // Everything on one centre: one mode, all high quality, reverse KL = ln 8.
    let c0 = ring.centers.row(0).to_vec();
    let one = Points::new("one", c0.iter().cycle().take(2 * 100).copied().collect(), 2).unwrap();
    let cov = mode_coverage(&one, &modes).unwrap();
    assert_eq!(cov.covered, 1);
    assert_eq!(cov.high_quality, 1.0);
    assert!((cov.reverse_kl.unwrap() - 8f64.ln()).abs() < 1e-12);
    // Exact samples of the mixture: all 8 modes; within 3σ with probability 1 - e^(-9/2).
    let samples = Builtin::EightGaussians.sample(20_000, 9).unwrap();
    let cov = mode_coverage(&samples, &modes).unwrap();
    assert_eq!(cov.covered, 8);
    let expected = 1.0 - (-4.5f64).exp();
    assert!(
        (cov.high_quality - expected).abs() < 0.003,
        "{}",
        cov.high_quality
    );
    assert!(cov.reverse_kl.unwrap() < 1e-3);
    // Far from every centre: nothing covered, reverse KL undefined.
    let far = Points::new("far", vec![10.0, 10.0], 2).unwrap();
    let cov = mode_coverage(&far, &modes).unwrap();
    assert_eq!(
        (cov.covered, cov.high_quality, cov.reverse_kl),
        (0, 0.0, None)
    );
}

#[test]
fn memorization_tells_copies_from_new_points() {
    let data = normal(800, 2, 10);
    assert_eq!(memorization(&data, &data).unwrap(), 0.0);
    let fresh = normal(800, 2, 11);
    let r = memorization(&fresh, &data).unwrap();
    eprintln!("memorisation ratio of fresh samples: {r:.3}");
    assert!(r > 0.4 && r < 2.0, "{r}");
    // Also in a dimension the tree does not serve.
    let data = normal(300, 20, 12);
    assert_eq!(memorization(&data, &data).unwrap(), 0.0);
}

#[test]
fn metric_lists_are_checked() {
    let spec = MetricsSpec::parse("all", None, 0).unwrap();
    assert_eq!(
        spec.columns,
        vec!["sliced_w2", "mmd2", "memorization", "dissipation_residual"]
    );
    let spec = MetricsSpec::parse("memorization, sliced_w2", None, 0).unwrap();
    assert_eq!(spec.columns, vec!["sliced_w2", "memorization"]);
    assert!(MetricsSpec::parse("modes_covered", None, 0).is_err());
    let err = MetricsSpec::parse("w3", None, 0).unwrap_err().to_string();
    assert!(err.contains("unknown metric \"w3\""), "{err}");
}

/// The dissipation residual of the variational scheme (dE/dt + (1/N) Σ|v|²) is small next
/// to the rate at a small time step.
#[test]
fn dissipation_residual_vanishes_for_the_variational_scheme() {
    use ganflow::metrics::MetricsTracker;
    use ganflow::{
        BandwidthSpec, Estimator, FlowConfig, Observation, Scheme, Simulation, StopRule,
    };
    use std::ops::ControlFlow;
    let x = normal(300, 2, 13);
    let y = gaussian(300, &[1.5, 0.0], 0.7, 14).unwrap();
    let cfg = FlowConfig {
        scheme: Scheme::Variational,
        estimator: Estimator::Exact,
        dt: 0.002,
        bandwidth_g: BandwidthSpec::fixed(0.5),
        bandwidth_q: BandwidthSpec::fixed(0.5),
        ..FlowConfig::default()
    };
    let mut sim = Simulation::new(cfg, x, y.clone()).unwrap();
    let spec = MetricsSpec::parse("dissipation_residual", None, 0).unwrap();
    let mut tracker = MetricsTracker::new(spec, &y).unwrap();
    let mut seen = Vec::new();
    sim.run(
        &StopRule {
            max_steps: Some(10),
            ..Default::default()
        },
        5,
        &mut |o: &Observation<'_>| {
            let rate =
                o.field.velocity.iter().map(|v| v * v).sum::<f64>() / o.particles.len() as f64;
            let r = tracker
                .compute(o.particles, o.data, o.t, o.diagnostics.energy, rate)
                .unwrap();
            seen.push((r[0], rate));
            Ok(ControlFlow::Continue(()))
        },
    )
    .unwrap();
    assert_eq!(seen[0].0, None, "undefined at the first observation");
    for (r, rate) in &seen[1..] {
        let r = r.unwrap();
        assert!(r.abs() < 0.01 * rate, "residual {r} vs rate {rate}");
    }
}
