//! The discriminator as the flow's opponent: what `Simulation::with_opponent` plays
//! against.

use super::family::Discriminator;
use super::joint::{jacobian, joint_field, rotation_of, rotation_probes};
use super::train::{GameConfig, round, velocity};
use crate::error::{Error, Result};
use crate::flow::sim::{Opponent, OpponentMeasures};
use crate::kde::sigmoid;
use crate::points::Points;

/// Probes in the rotation share measured at each observation of a large game (two
/// Jacobian-vector products, four evaluations of the joint field, each).
pub const ROTATION_PROBES: usize = 8;
/// Up to this many joint coordinates (particles' and parameters') the rotation share is
/// computed from the whole Jacobian instead, column by column.
pub const ROTATION_EXACT_MAX: usize = 64;
/// The difference step of those products, along a unit direction of the joint state.
const ROTATION_STEP: f64 = 1e-5;

/// A learning discriminator and how it plays.
#[derive(Clone, Debug, PartialEq)]
pub struct Player {
    /// The discriminator.
    pub disc: Discriminator,
    /// How it learns and how the particles answer.
    pub config: GameConfig,
}

impl Opponent for Player {
    fn round(&mut self, particles: &Points, data: &Points, dt: f64) -> Result<Points> {
        round(&mut self.disc, &self.config, particles, data, dt)
    }

    fn velocity(&self, particles: &Points) -> Vec<f64> {
        velocity(&self.disc, self.config.loss, particles)
    }

    fn params(&self) -> &[f64] {
        &self.disc.params
    }

    fn set_params(&mut self, params: &[f64]) -> Result<()> {
        if params.len() != self.disc.params.len() {
            return Err(Error::DimensionMismatch {
                what: "discriminator parameters",
                expected: self.disc.params.len(),
                got: params.len(),
            });
        }
        self.disc.params.copy_from_slice(params);
        Ok(())
    }

    /// `disc_gap`: the mean of `|D - D*|` over the particles and the data together;
    /// `param_norm`: `|psi|`; `rotation`: the joint field's share, from its whole Jacobian
    /// (central differences) up to [`ROTATION_EXACT_MAX`] joint coordinates, else from
    /// [`ROTATION_PROBES`] probes seeded by `seed` (Hutchinson's estimators; the jackknife
    /// error `rotation_probes` gives with it is not recorded: on the Dirac-GAN with R1 it
    /// was 0.006 from 400 probes, so about 0.04 from 8).
    fn measure(
        &self,
        particles: &Points,
        data: &Points,
        dstar_particles: &[f64],
        dstar_data: &[f64],
        dt: f64,
        seed: u64,
    ) -> Result<OpponentMeasures> {
        let gap = |points: &Points, dstar: &[f64]| -> f64 {
            points
                .rows()
                .zip(dstar)
                .map(|(x, ds)| (sigmoid(self.disc.at(x, false).value) - ds).abs())
                .sum::<f64>()
        };
        let disc_gap = (gap(particles, dstar_particles) + gap(data, dstar_data))
            / (particles.len() + data.len()) as f64;
        let param_norm = self.disc.params.iter().map(|p| p * p).sum::<f64>().sqrt();
        let mut z = particles.as_slice().to_vec();
        z.extend_from_slice(&self.disc.params);
        let field = |z: &[f64]| joint_field(&self.disc, &self.config, data, dt, z);
        let rotation = if z.len() <= ROTATION_EXACT_MAX {
            rotation_of(&jacobian(&field, &z, ROTATION_STEP)?)
        } else {
            rotation_probes(&field, &z, ROTATION_PROBES, seed, ROTATION_STEP)?.value
        };
        Ok(OpponentMeasures {
            disc_gap,
            param_norm,
            rotation,
        })
    }
}
