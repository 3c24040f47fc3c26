//! # ganflow: the GAN training flow as a particle simulation
//!
//! A GAN generator trained against the optimal discriminator `D* = p / (p + ρ)` follows the
//! Wasserstein-2 gradient flow of the Jensen-Shannon divergence (the theory paper; docs/theory.md restates it):
//!
//! ```text
//! ∂ρ/∂t = div( ρ ∇ log(ρ / (p + ρ)) ),   each particle moving with   v = -A = D* (∇log p - ∇log ρ)
//! ```
//!
//! where `A = ∇ log(1 - D*)` is the *adversarial connection*; the flow is at rest exactly when
//! `ρ = p`, and `d(2 JSD)/dt = -||A||²` along it. ganflow carries `ρ` by particles and
//! estimates both densities by Gaussian kernel density estimation in log space, exactly
//! ([`kde::ExactSums`]), or with a proven error bound on a k-d tree ([`kde::kdtree`]) or on a
//! grid whose cost is near-linear in the particle count ([`kde::grid`], `d <= 2`).
//!
//! ```
//! use ganflow::{FlowConfig, Points, Simulation};
//! // Particles already equal to the data: the flow is at rest (theorem 4.2).
//! let data = Points::new("data", vec![0.0, 0.5, 1.5, 2.0, 3.5], 1)?;
//! let sim = Simulation::new(FlowConfig::default(), data.clone(), data)?;
//! let (field, diag) = sim.field_and_diagnostics()?;
//! assert!(field.velocity.iter().all(|v| v.abs() < 1e-12));
//! assert!(diag.jsd.abs() < 1e-12 && (diag.mean_dstar_particles - 0.5).abs() < 1e-12);
//! # Ok::<(), ganflow::Error>(())
//! ```

pub mod datasets;
pub mod dist;
pub mod error;
pub mod flow;
pub mod game;
pub mod imitate;
pub mod kde;
pub mod metrics;
pub mod num;
pub mod output;
pub mod plot;
pub mod points;
pub mod run;
pub mod spectrum;

pub use error::{Error, Result};
pub use flow::integrate::Integrator;
pub use flow::sim::{
    Anneal, FlowConfig, FlowState, Observation, Observer, RunSummary, Simulation, StopReason,
    StopRule,
};
pub use flow::velocity::{Field, Loss, Scheme};
pub use kde::{Bandwidth, BandwidthFrom, BandwidthSpec, Estimator};
pub use metrics::Diagnostics;
pub use points::Points;

/// The README's Rust examples, compiled and run as doctests so that they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The library page's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/library.md")]
pub struct LibraryDoctests;
