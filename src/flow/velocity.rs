//! Velocity fields of the flow: the plug-in scheme (docs/theory.md section 2, the paper's eq. 17
//! discretised) and the variational scheme (section 3), with the generator-loss weights of
//! section 5.

use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::error::Result;
use crate::kde::{
    KernelSums, evaluate_sums, kde, kde_log_density, log_add_exp, log_kernel_norm, sigmoid,
    softplus,
};
use crate::num::Portable;
use crate::points::Points;

/// How particle velocities are computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scheme {
    /// `v_i = w(D*(x_i)) (grad log q - grad log g)(x_i)` (docs/theory.md section 2).
    #[default]
    PlugIn,
    /// The exact particle gradient flow of the discrete energy `E` (docs/theory.md section 3):
    /// the minimax plug-in velocity plus two kernel-sum corrections. `E` decreases along it
    /// and it is at rest exactly when the particles coincide with the data.
    Variational,
}

/// The generator loss, as a weight on the score difference (docs/theory.md section 5). Used by the
/// plug-in scheme; the variational scheme is the minimax (JSD) flow by construction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Loss {
    /// `log(1 - D)`, weight `D`: the paper's flow, the Wasserstein gradient flow of 2·JSD.
    #[default]
    Minimax,
    /// `-log D`, weight `1 - D`.
    NonSaturating,
    /// `(D - 1)²`, weight `2 D (1 - D)²`.
    LeastSquares,
    /// Weight 1: the Fokker-Planck / KL velocity, for reference.
    Kl,
}

impl Loss {
    /// The weight `w(D)` multiplying `grad log q - grad log g`.
    pub fn weight(&self, d: f64) -> f64 {
        match self {
            Loss::Minimax => d,
            Loss::NonSaturating => 1.0 - d,
            Loss::LeastSquares => 2.0 * d * (1.0 - d) * (1.0 - d),
            Loss::Kl => 1.0,
        }
    }
}

/// The flow at the particles: velocity and what it is made of. Vectors are row-major `n × d`.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// `v(x_i)`.
    pub velocity: Vec<f64>,
    /// The adversarial connection `A(x_i) = grad log(1 - D*)(x_i) = D* (grad log g - grad log q)`.
    pub connection: Vec<f64>,
    /// `D*(x_i) = q / (g + q)`.
    pub dstar: Vec<f64>,
    /// `log g(x_i)`, the particles' KDE.
    pub log_g: Vec<f64>,
    /// `log q(x_i)`, the data's KDE.
    pub log_q: Vec<f64>,
}

/// The two densities at the data points, for the energy and the data-side diagnostics.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSide {
    /// `log g(y_j)`.
    pub log_g: Vec<f64>,
    /// `log q(y_j)`.
    pub log_q: Vec<f64>,
}

/// `log q` at the data points, kept while its bandwidth stays the same: neither the data
/// nor their density move during a run, so a run computes it once (and again only when
/// annealing changes `h_q`). The values are the same bits as computing them afresh.
#[derive(Debug, Default)]
pub struct DataDensityCache(Mutex<Option<(u64, Arc<[f64]>)>>);

impl DataDensityCache {
    /// The cached values for bandwidth `h`, or `compute`'s, kept for next time.
    fn get_or_compute(
        &self,
        h: f64,
        compute: impl FnOnce() -> Result<Vec<f64>>,
    ) -> Result<Vec<f64>> {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((bits, values)) = slot.as_ref()
            && *bits == h.to_bits()
        {
            return Ok(values.to_vec());
        }
        let values = compute()?;
        *slot = Some((h.to_bits(), values.as_slice().into()));
        Ok(values)
    }
}

/// The kernel sums and bandwidths one evaluation needs.
pub struct FieldInputs<'a> {
    /// Over the particles (the particles are its samples).
    pub particles: &'a dyn KernelSums,
    /// Over the data samples.
    pub data: &'a dyn KernelSums,
    /// The data density `q`: `q = kde(density, h_q)`. Usually the same sums as `data`; for
    /// a closed-form isotropic Gaussian mixture, sums over its centres with `h_q = σ`.
    pub density: &'a dyn KernelSums,
    /// `P_g`'s bandwidth.
    pub h_g: f64,
    /// `P_data`'s bandwidth (or the mixture's σ).
    pub h_q: f64,
    /// Where `log q` at the data is kept between evaluations, if anywhere.
    pub q_at_data: Option<&'a DataDensityCache>,
}

/// Computes the field at the particles and, when `want_data_side` (or when the scheme needs
/// it), the densities at the data.
pub fn compute_field(
    scheme: Scheme,
    loss: Loss,
    inputs: &FieldInputs<'_>,
    want_data_side: bool,
) -> Result<(Field, Option<DataSide>)> {
    compute_field_at(scheme, loss, inputs, None, want_data_side)
}

/// Computes the field at `at` (the particles when `None`). Every term of either scheme is a
/// function of the position, so the field is defined at any point: a particle placed there
/// would move with this velocity.
pub fn compute_field_at(
    scheme: Scheme,
    loss: Loss,
    inputs: &FieldInputs<'_>,
    at: Option<&Points>,
    want_data_side: bool,
) -> Result<(Field, Option<DataSide>)> {
    let particles = inputs.particles.samples();
    let x = at.unwrap_or(particles);
    particles.check_same_dim("query points", x)?;
    let y = inputs.data.samples();
    let d = x.dim();
    let g = kde(inputs.particles, x, inputs.h_g)?;
    let q = kde(inputs.density, x, inputs.h_q)?;
    let loss = if scheme == Scheme::Variational {
        Loss::Minimax
    } else {
        loss
    };

    let n = x.len();
    let mut velocity = vec![0.0; n * d];
    let mut connection = vec![0.0; n * d];
    let mut dstar = vec![0.0; n];
    velocity
        .par_chunks_mut(d)
        .zip(connection.par_chunks_mut(d))
        .zip(dstar.par_iter_mut())
        .enumerate()
        .for_each(|(i, ((v, a), ds))| {
            let dd = sigmoid(q.log_density[i] - g.log_density[i]);
            let w = loss.weight(dd);
            let (sg, sq) = (&g.score[i * d..(i + 1) * d], &q.score[i * d..(i + 1) * d]);
            for k in 0..d {
                let diff = sq[k] - sg[k];
                v[k] = w * diff;
                a[k] = -dd * diff;
            }
            *ds = dd;
        });

    let data_side = if want_data_side || scheme == Scheme::Variational {
        Some(data_side(inputs)?)
    } else {
        None
    };

    if scheme == Scheme::Variational {
        let ds = data_side.as_ref().expect("computed above");
        let h = inputs.h_g;
        let norm = log_kernel_norm(d, h);
        // - (1/N) Σ_k K_h(x_k - x_i) (x_k - x_i)/h² · D*(x_k)/g(x_k)
        let at_particles;
        let (g_k, q_k): (&[f64], &[f64]) = if at.is_some() {
            at_particles = (
                kde_log_density(inputs.particles, particles, h)?,
                kde_log_density(inputs.density, particles, inputs.h_q)?,
            );
            (&at_particles.0, &at_particles.1)
        } else {
            (&g.log_density, &q.log_density)
        };
        let lw_particles: Vec<f64> = g_k
            .iter()
            .zip(q_k)
            .map(|(lg, lq)| -softplus(lg - lq) - lg)
            .collect();
        let (ls, sh) = evaluate_sums(inputs.particles, x, h, Some(&lw_particles))?;
        let n_particles = particles.len() as f64;
        add_scaled(&mut velocity, &ls, &sh, norm - n_particles.ln_p(), -1.0, d);
        // + (1/M) Σ_j K_h(y_j - x_i) (y_j - x_i)/h² · 1/(g(y_j) + q(y_j))
        let lw_data: Vec<f64> = ds
            .log_g
            .iter()
            .zip(&ds.log_q)
            .map(|(a, b)| -log_add_exp(*a, *b))
            .collect();
        let (ls, sh) = evaluate_sums(inputs.data, x, h, Some(&lw_data))?;
        add_scaled(
            &mut velocity,
            &ls,
            &sh,
            norm - (y.len() as f64).ln_p(),
            1.0,
            d,
        );
    }

    Ok((
        Field {
            velocity,
            connection,
            dstar,
            log_g: g.log_density,
            log_q: q.log_density,
        },
        data_side,
    ))
}

/// The two densities at the data points.
pub fn data_side(inputs: &FieldInputs<'_>) -> Result<DataSide> {
    let y = inputs.data.samples();
    let log_q = || kde_log_density(inputs.density, y, inputs.h_q);
    Ok(DataSide {
        log_g: kde_log_density(inputs.particles, y, inputs.h_g)?,
        log_q: match inputs.q_at_data {
            Some(cache) => cache.get_or_compute(inputs.h_q, log_q)?,
            None => log_q()?,
        },
    })
}

/// `v_i += sign · exp(log_sum_i + offset) · shift_i`: a weighted kernel sum turned back into
/// linear space (its weights are at most N, see docs/theory.md section 3, so this cannot overflow).
fn add_scaled(v: &mut [f64], log_sum: &[f64], shift: &[f64], offset: f64, sign: f64, d: usize) {
    v.par_chunks_mut(d)
        .zip(shift.par_chunks(d))
        .zip(log_sum.par_iter())
        .for_each(|((vi, si), ls)| {
            let c = sign * (ls + offset).exp_p();
            if c != 0.0 {
                vi.iter_mut().zip(si).for_each(|(a, b)| *a += c * b);
            }
        });
}
