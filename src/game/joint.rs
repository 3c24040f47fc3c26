//! The joint field of the game and how much of it rotates.
//!
//! The state is `z = (x_1..x_N, psi)`: the particles and the discriminator's parameters.
//! One round of the game, in the limit of small steps, follows
//! `F(z) = (v(x), (lr * steps / dt) * grad_psi L_D)`: the particles' velocity and the
//! discriminator's ascent, on the same clock. For a gradient flow the Jacobian `J = dF/dz`
//! is symmetric; the share `|J - J'|_F / (2 |J|_F)` (0 for a gradient flow, 1 for a pure
//! rotation) measures how far the game is from one.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::family::Discriminator;
use super::train::{GameConfig, objective_gradient, velocity};
use crate::error::Result;
use crate::points::Points;

/// A vector field on a flat state, `F: R^n -> R^n`.
pub type FieldMap<'a> = dyn Fn(&[f64]) -> Result<Vec<f64>> + 'a;

/// The game's joint field at the flat state `(particles, params)`.
pub fn joint_field(
    disc: &Discriminator,
    config: &GameConfig,
    data: &Points,
    dt: f64,
    z: &[f64],
) -> Result<Vec<f64>> {
    let d = disc.dim;
    let split = z.len() - disc.params.len();
    let particles = Points::new("particles", z[..split].to_vec(), d)?;
    let mut at = disc.clone();
    at.params.copy_from_slice(&z[split..]);
    let mut out = velocity(&at, config.loss, &particles);
    let scale = config.lr * config.steps as f64 / dt;
    out.extend(
        objective_gradient(&at, config.penalty, &particles, data)
            .into_iter()
            .map(|g| scale * g),
    );
    Ok(out)
}

/// `J u` by a central difference with step `eps |u|`-normalised: `eps` is the step of the
/// state along the unit vector `u / |u|`.
fn jvp(field: &FieldMap<'_>, z: &[f64], u: &[f64], eps: f64) -> Result<Vec<f64>> {
    let norm = u.iter().map(|a| a * a).sum::<f64>().sqrt();
    if norm == 0.0 {
        return Ok(vec![0.0; z.len()]);
    }
    let h = eps / norm;
    let shifted = |s: f64| -> Vec<f64> { z.iter().zip(u).map(|(a, b)| a + s * h * b).collect() };
    let (plus, minus) = (field(&shifted(1.0))?, field(&shifted(-1.0))?);
    Ok(plus
        .iter()
        .zip(&minus)
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect())
}

/// The Jacobian of `field` at `z` by central differences, column by column (`n` products):
/// for small systems.
pub fn jacobian(field: &FieldMap<'_>, z: &[f64], eps: f64) -> Result<nalgebra::DMatrix<f64>> {
    let n = z.len();
    let mut j = nalgebra::DMatrix::zeros(n, n);
    let mut e = vec![0.0; n];
    for c in 0..n {
        e[c] = 1.0;
        let col = jvp(field, z, &e, eps)?;
        e[c] = 0.0;
        for (r, v) in col.into_iter().enumerate() {
            j[(r, c)] = v;
        }
    }
    Ok(j)
}

/// `|J - J'|_F / (2 |J|_F)` of a dense Jacobian (0 when `J = 0`).
pub fn rotation_of(j: &nalgebra::DMatrix<f64>) -> f64 {
    let total = j.norm();
    if total == 0.0 {
        return 0.0;
    }
    (j - j.transpose()).norm() / (2.0 * total)
}

/// A rotation share estimated from random probes, with its standard error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RotationEstimate {
    /// The estimate.
    pub value: f64,
    /// Its jackknife standard error over the probes.
    pub std_error: f64,
}

/// The rotation share from `probes` seeded Gaussian probes `u`, by Hutchinson's
/// estimators `|J|_F² = E |J u|²` and `tr(J²) = E u'J(J u)`, so that
/// `|J - J'|_F² = 2 |J|_F² - 2 tr(J²)` needs Jacobian-vector products only (two per
/// probe). The standard error is the jackknife's over the probes.
pub fn rotation_probes(
    field: &FieldMap<'_>,
    z: &[f64],
    probes: usize,
    seed: u64,
    eps: f64,
) -> Result<RotationEstimate> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut a = Vec::with_capacity(probes);
    let mut b = Vec::with_capacity(probes);
    for _ in 0..probes {
        let u: Vec<f64> = (0..z.len())
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let ju = jvp(field, z, &u, eps)?;
        let jju = jvp(field, z, &ju, eps)?;
        a.push(ju.iter().map(|v| v * v).sum::<f64>());
        b.push(u.iter().zip(&jju).map(|(p, q)| p * q).sum::<f64>());
    }
    let share = |sa: f64, sb: f64| -> f64 {
        if sa <= 0.0 {
            0.0
        } else {
            (2.0 * (sa - sb)).max(0.0).sqrt() / (2.0 * sa.sqrt())
        }
    };
    let m = probes as f64;
    let (sum_a, sum_b): (f64, f64) = (a.iter().sum(), b.iter().sum());
    let value = share(sum_a / m, sum_b / m);
    let std_error = if probes > 1 {
        let loo: Vec<f64> = (0..probes)
            .map(|k| share((sum_a - a[k]) / (m - 1.0), (sum_b - b[k]) / (m - 1.0)))
            .collect();
        let mean = loo.iter().sum::<f64>() / m;
        ((m - 1.0) / m * loo.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>()).sqrt()
    } else {
        f64::INFINITY
    };
    Ok(RotationEstimate { value, std_error })
}
