//! The particle flow against the paper's PDE (eq. 17) solved on a grid, in 1-D.
//!
//! `∂ρ/∂t = -∂x J`, `J = ρ v = D* (ρ ∂x log p - ∂x ρ)`, `D* = p / (p + ρ)`: a conservative
//! finite-volume scheme (upwind drift, central diffusion, zero flux at the ends), written
//! here independently of the library. The target `p` is N(2, 1), in closed form on both
//! sides, so that the comparison sees the flow and not a density estimate of the data.

#![allow(clippy::disallowed_methods)] // an independent oracle may use the C library

mod common;

use std::ops::ControlFlow;

use ganflow::datasets::{Builtin, gaussian};
use ganflow::{
    Bandwidth, BandwidthFrom, BandwidthSpec, Estimator, FlowConfig, Observation, Simulation,
    StopRule,
};

const LO: f64 = -7.0;
const HI: f64 = 8.0;
const DX: f64 = 0.02;

fn log_p(x: f64) -> f64 {
    -0.5 * (x - 2.0) * (x - 2.0) - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

/// The PDE solution at `t_end` from N(m0, s0²), as cell masses.
fn solve_pde(m0: f64, s0: f64, t_end: f64) -> Vec<f64> {
    let n = ((HI - LO) / DX) as usize;
    let centre = |i: usize| LO + (i as f64 + 0.5) * DX;
    let mut rho: Vec<f64> = (0..n)
        .map(|i| {
            let z = (centre(i) - m0) / s0;
            (-0.5 * z * z).exp() / (s0 * (2.0 * std::f64::consts::PI).sqrt())
        })
        .collect();
    let dt = 0.4 * DX * DX; // D* <= 1: below the explicit diffusion limit DX²/2
    let steps = (t_end / dt).ceil() as usize;
    let dt = t_end / steps as f64;
    let mut flux = vec![0.0; n + 1];
    for _ in 0..steps {
        for i in 0..n - 1 {
            let xf = LO + (i + 1) as f64 * DX;
            let pf = log_p(xf).exp();
            let rf = 0.5 * (rho[i] + rho[i + 1]);
            let dstar = pf / (pf + rf);
            let drift = -(xf - 2.0);
            let up = if drift > 0.0 { rho[i] } else { rho[i + 1] };
            flux[i + 1] = dstar * (up * drift - (rho[i + 1] - rho[i]) / DX);
        }
        for i in 0..n {
            rho[i] -= dt / DX * (flux[i + 1] - flux[i]);
        }
    }
    rho.iter().map(|r| r * DX).collect()
}

/// W1 distance between sorted samples and cell masses on the grid: ∫ |F_N - F| dx.
fn w1(samples: &mut [f64], masses: &[f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let mut k = 0;
    let mut cdf = 0.0;
    let mut total = 0.0;
    for (i, m) in masses.iter().enumerate() {
        let edge = LO + (i + 1) as f64 * DX;
        cdf += m;
        while k < samples.len() && samples[k] <= edge {
            k += 1;
        }
        total += (k as f64 / samples.len() as f64 - cdf).abs() * DX;
    }
    total
}

/// Runs `n` particles from N(m0, s0²) with the exact target density; returns
/// (W1 to the PDE at `t_end`, W1 of the start to the PDE at `t_end`).
fn particle_error(n: usize, m0: f64, s0: f64, t_end: f64, rho_t: &[f64]) -> (f64, f64) {
    let x = gaussian(n, &[m0], s0, 61).unwrap();
    let target = Builtin::Gaussian {
        mean: vec![2.0],
        std: 1.0,
    };
    let y = target.sample(n, 62).unwrap();
    let cfg = FlowConfig {
        dt: 0.01,
        estimator: Estimator::KdTree { tol: 1e-6 },
        bandwidth_g: BandwidthSpec {
            rule: Bandwidth::Silverman,
            from: BandwidthFrom::Particles,
            every_step: true,
        },
        ..FlowConfig::default()
    };
    let density = target.density().unwrap().unwrap();
    let mut sim = Simulation::with_exact_density(cfg, x.clone(), y, density).unwrap();
    sim.run(
        &StopRule {
            max_time: Some(t_end),
            ..Default::default()
        },
        1000,
        &mut |_: &Observation<'_>| Ok(ControlFlow::Continue(())),
    )
    .unwrap();
    let mut start = x.as_slice().to_vec();
    let mut end = sim.particles().as_slice().to_vec();
    (w1(&mut end, rho_t), w1(&mut start, rho_t))
}

/// From N(-1, 0.5²) towards N(2, 1) up to t = 3. Measured W1 to the PDE: 0.070 (N = 1000),
/// 0.046 (4000), 0.025 (16000), against 0.74 between the start and the PDE's end state; the
/// error does not change with the particles' time step (0.044 at dt = 0.003).
#[test]
fn particles_follow_the_pde() {
    let (m0, s0, t_end) = (-1.0, 0.5, 3.0);
    let rho_t = solve_pde(m0, s0, t_end);
    let mass: f64 = rho_t.iter().sum();
    assert!(
        (mass - 1.0).abs() < 1e-6,
        "the PDE scheme conserves mass: {mass}"
    );
    let (small, moved) = particle_error(1000, m0, s0, t_end, &rho_t);
    let (big, _) = particle_error(4000, m0, s0, t_end, &rho_t);
    eprintln!(
        "W1 to the PDE: {small:.4} (N = 1000), {big:.4} (N = 4000); start to PDE: {moved:.4}"
    );
    assert!(
        moved > 0.5,
        "the flow must move the distribution for the test to mean anything"
    );
    assert!(big < 0.08 * moved, "{big} vs {moved}");
    assert!(
        big < 0.8 * small,
        "error does not fall with N: {small} -> {big}"
    );
}
