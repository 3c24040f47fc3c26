//! Training the discriminator and moving the particles against it: one round of the game.
//!
//! The discriminator ascends `L_D = E_data[ln D] + E_particles[ln(1 - D)] - penalty` by
//! plain gradient steps, `psi <- psi + lr grad_psi L_D`, with
//! `grad_psi ln D = (1 - D) grad_psi f` and `grad_psi ln(1 - D) = -D grad_psi f`. The
//! penalties are `R1 = (gamma/2) E_data |grad_x f|²` and `R2`, the same over the particles.
//! The particles move with `v = w(D) grad_x f`, `w` the generator loss's weight.

use rayon::prelude::*;

use super::family::Discriminator;
use crate::error::{Result, check_positive};
use crate::flow::velocity::Loss;
use crate::kde::sigmoid;
use crate::points::Points;

/// The gradient penalty on the discriminator.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Penalty {
    /// None.
    #[default]
    None,
    /// `(gamma/2) E_data |grad_x f|²`.
    R1(f64),
    /// `(gamma/2) E_particles |grad_x f|²`.
    R2(f64),
}

/// The order of the two players' updates within one round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Updates {
    /// Both move from the same state.
    #[default]
    Simultaneous,
    /// The discriminator takes its steps first; the particles move against the result.
    Alternating,
}

/// How the discriminator learns, and how the generator answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GameConfig {
    /// The discriminator's learning rate.
    pub lr: f64,
    /// Discriminator steps per generator step.
    pub steps: usize,
    /// The penalty.
    pub penalty: Penalty,
    /// The order of updates.
    pub updates: Updates,
    /// The generator loss (its weight `w(D)`).
    pub loss: Loss,
}

impl Default for GameConfig {
    fn default() -> Self {
        Self {
            lr: 0.1,
            steps: 1,
            penalty: Penalty::None,
            updates: Updates::Simultaneous,
            loss: Loss::Minimax,
        }
    }
}

impl GameConfig {
    /// Checks the learning rate, the step count and the penalty's weight.
    pub fn validate(&self) -> Result<()> {
        check_positive("discriminator learning rate", self.lr)?;
        if self.steps == 0 {
            return Err(crate::error::Error::OutOfRange {
                what: "discriminator steps per generator step",
                expected: "at least 1",
                value: 0.0,
            });
        }
        match self.penalty {
            Penalty::None => Ok(()),
            Penalty::R1(g) | Penalty::R2(g) => check_positive("penalty weight", g).map(|_| ()),
        }
    }
}

/// `grad_psi L_D` at the particles and the data. Each point's term is computed on its own
/// and the terms are summed in point order, so the result does not depend on the thread count.
pub fn objective_gradient(
    disc: &Discriminator,
    penalty: Penalty,
    particles: &Points,
    data: &Points,
) -> Vec<f64> {
    let p = disc.params.len();
    // One side: Σ_i coef(D_i) grad_psi f(x_i) / n, plus the penalty's share.
    let side = |points: &Points, data_side: bool| -> Vec<f64> {
        let gamma = match (penalty, data_side) {
            (Penalty::R1(g), true) | (Penalty::R2(g), false) => Some(g),
            _ => None,
        };
        let n = points.len() as f64;
        // One buffer for every point's term, summed in point order afterwards.
        let mut per_point = vec![0.0; points.len() * p];
        per_point
            .par_chunks_mut(p.max(1))
            .enumerate()
            .for_each(|(i, g)| {
                let at = disc.at(points.row(i), gamma.is_some());
                let d = sigmoid(at.value);
                let coef = if data_side { 1.0 - d } else { -d };
                g.iter_mut()
                    .zip(&at.grad_params)
                    .for_each(|(a, v)| *a = coef * v);
                if let (Some(gamma), Some(n2)) = (gamma, &at.grad_params_of_norm2) {
                    g.iter_mut()
                        .zip(n2)
                        .for_each(|(a, b)| *a -= 0.5 * gamma * b);
                }
            });
        let mut total = vec![0.0; p];
        for g in per_point.chunks_exact(p.max(1)) {
            total.iter_mut().zip(g).for_each(|(a, b)| *a += b / n);
        }
        total
    };
    let a = side(data, true);
    let b = side(particles, false);
    a.iter().zip(&b).map(|(x, y)| x + y).collect()
}

/// The particles' velocities `v = w(D) grad_x f` (row-major `n x d`).
pub fn velocity(disc: &Discriminator, loss: Loss, particles: &Points) -> Vec<f64> {
    let d = particles.dim();
    let mut v = vec![0.0; particles.as_slice().len()];
    v.par_chunks_mut(d).enumerate().for_each(|(i, vi)| {
        let at = disc.at(particles.row(i), false);
        let w = loss.weight(sigmoid(at.value));
        vi.iter_mut().zip(&at.grad_x).for_each(|(a, g)| *a = w * g);
    });
    v
}

/// `config.steps` discriminator steps against fixed particles.
pub fn train(disc: &mut Discriminator, config: &GameConfig, particles: &Points, data: &Points) {
    for _ in 0..config.steps {
        let g = objective_gradient(disc, config.penalty, particles, data);
        disc.params
            .iter_mut()
            .zip(&g)
            .for_each(|(p, gi)| *p += config.lr * gi);
    }
}

/// One round: the discriminator's steps and one Euler step `dt` of the particles, in the
/// configured order. Returns the particles' new positions.
pub fn round(
    disc: &mut Discriminator,
    config: &GameConfig,
    particles: &Points,
    data: &Points,
    dt: f64,
) -> Result<Points> {
    let v = match config.updates {
        Updates::Simultaneous => {
            let v = velocity(disc, config.loss, particles);
            train(disc, config, particles, data);
            v
        }
        Updates::Alternating => {
            train(disc, config, particles, data);
            velocity(disc, config.loss, particles)
        }
    };
    let moved: Vec<f64> = particles
        .as_slice()
        .iter()
        .zip(&v)
        .map(|(x, vi)| x + dt * vi)
        .collect();
    Points::new("particles", moved, particles.dim())
}
