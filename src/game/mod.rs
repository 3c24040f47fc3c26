//! A discriminator that learns: the adversarial game beside the optimal-discriminator flow.
//!
//! The discriminator is `D = sigmoid(f)` with a logit `f` from a [`Family`] of finite
//! capacity. It ascends `E_data[ln D] + E_particles[ln(1 - D)] - penalty`, and the particles
//! move with `v = w(D) grad_x f`. With `f = ln(p_h / rho_h)` this is the optimal flow.
//!
//! - [`family`]: the families and their exact gradients (in the point, in the parameters,
//!   and of the penalty `|grad_x f|²`), each tested against finite differences;
//! - [`train`](mod@train): the discriminator's ascent and one round of the game;
//! - [`joint`]: the joint field of particles and parameters, and its rotation share;
//! - [`player`]: the discriminator as the flow's opponent in a run.

pub mod family;
pub mod joint;
pub mod player;
pub mod train;

pub use family::{Discriminator, Family};
pub use joint::{RotationEstimate, joint_field, rotation_of, rotation_probes};
pub use player::Player;
pub use train::{GameConfig, Penalty, Updates, objective_gradient, round, train, velocity};
