//! A discriminator that learns: the adversarial game beside the optimal-discriminator flow.
//!
//! The discriminator is `D = sigmoid(f)` with a logit `f` from a [`Family`] of finite
//! capacity. It ascends `E_data[ln D] + E_particles[ln(1 - D)] - penalty`, and the particles
//! move with `v = w(D) grad_x f`. With `f = ln(p_h / rho_h)` this is the optimal flow.
//!
//! This module holds the families and their exact gradients (in the data point and in the
//! parameters, and of the penalty `|grad_x f|²`), each tested against finite differences.

pub mod family;

pub use family::{Discriminator, Family};
