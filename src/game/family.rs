//! Discriminator families: the logit `f(x; psi)`, its gradient in `x` (what moves the
//! particles), its gradient in the parameters `psi` (what trains it) and the gradient in
//! `psi` of `|grad_x f|²` (what the R1 and R2 penalties need).
//!
//! Parameter layouts, in order:
//!
//! - `linear`: `f = w.x + b`: `w` (d), then `b` unless the family has no bias;
//! - `quadratic`: `f = Σ_{i<=j} a_ij x_i x_j + w.x + b`: the upper triangle of `A` row by
//!   row (`d (d + 1) / 2`), then `w` (d), then `b`;
//! - `rff:K`: `f = sqrt(2/K) Σ_k beta_k cos(omega_k.x + phi_k) + b`, with frequencies
//!   `omega_k ~ N(0, I / scale²)` and phases `phi_k ~ U[0, 2 pi)` drawn once from the seed
//!   and held fixed (a Gaussian kernel of length `scale`, Rahimi and Recht 2007): `beta`
//!   (K), then `b`;
//! - `mlp:W`: `f = Σ_j v_j tanh(u_j.x + c_j) + b`: `U` row by row (`W x d`), `c` (W), `v`
//!   (W), then `b`.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::datasets::rng;
use crate::error::{Error, Result};
use crate::num::Portable;

/// A family of logits, with its fixed parts (random features, sizes).
#[derive(Clone, Debug, PartialEq)]
pub enum Family {
    /// `w.x + b`, or `w.x` without the bias.
    Linear {
        /// Whether `b` is a parameter.
        bias: bool,
    },
    /// `x'Ax + w.x + b` with `A` upper triangular.
    Quadratic,
    /// `K` random Fourier features of a Gaussian kernel, a trained linear head.
    Rff {
        /// `omega_k`, row-major `K x d`.
        omega: Vec<f64>,
        /// `phi_k`.
        phase: Vec<f64>,
    },
    /// One hidden layer of `width` tanh units.
    Mlp {
        /// Hidden units.
        width: usize,
    },
}

impl Family {
    /// `rff:K` in `dim` dimensions with length scale `scale`, features drawn from `seed`.
    pub fn rff(features: usize, dim: usize, scale: f64, seed: u64) -> Result<Self> {
        if features == 0 {
            return Err(Error::OutOfRange {
                what: "random features",
                expected: "at least 1",
                value: 0.0,
            });
        }
        crate::error::check_positive("discriminator length scale", scale)?;
        let mut r = rng(seed);
        let omega = (0..features * dim)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut r);
                z / scale
            })
            .collect();
        let phase = (0..features)
            .map(|_| r.random_range(0.0..2.0 * std::f64::consts::PI))
            .collect();
        Ok(Family::Rff { omega, phase })
    }

    /// The number of parameters in `dim` dimensions.
    pub fn parameters(&self, dim: usize) -> usize {
        match self {
            Family::Linear { bias } => dim + usize::from(*bias),
            Family::Quadratic => dim * (dim + 1) / 2 + dim + 1,
            Family::Rff { phase, .. } => phase.len() + 1,
            Family::Mlp { width } => width * dim + 2 * width + 1,
        }
    }
}

/// A discriminator: a family and its parameters, in `dim` dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct Discriminator {
    /// The family.
    pub family: Family,
    /// The dimension of the points.
    pub dim: usize,
    /// `psi`, in the family's layout.
    pub params: Vec<f64>,
}

/// What one point gives: the logit and its gradients.
#[derive(Clone, Debug, PartialEq)]
pub struct LogitAt {
    /// `f(x)`.
    pub value: f64,
    /// `grad_x f` (d).
    pub grad_x: Vec<f64>,
    /// `grad_psi f`.
    pub grad_params: Vec<f64>,
    /// `grad_psi |grad_x f|²`, when asked for.
    pub grad_params_of_norm2: Option<Vec<f64>>,
}

impl Discriminator {
    /// Zero parameters, except an MLP's hidden layer, which is drawn from `seed` (with
    /// every parameter zero its gradients in `U` and `c` vanish and it could never learn):
    /// `U` with entries `N(0, 1/d)`, `c` zero.
    pub fn zeros(family: Family, dim: usize, seed: u64) -> Self {
        let mut params = vec![0.0; family.parameters(dim)];
        if let Family::Mlp { width } = family {
            let mut r = rng(seed);
            let sd = 1.0 / (dim as f64).sqrt();
            for p in params.iter_mut().take(width * dim) {
                let z: f64 = StandardNormal.sample(&mut r);
                *p = sd * z;
            }
        }
        Self {
            family,
            dim,
            params,
        }
    }

    /// With given parameters, checked against the family's count.
    pub fn with_params(family: Family, dim: usize, params: Vec<f64>) -> Result<Self> {
        let expected = family.parameters(dim);
        if params.len() != expected {
            return Err(Error::DimensionMismatch {
                what: "discriminator parameters",
                expected,
                got: params.len(),
            });
        }
        Ok(Self {
            family,
            dim,
            params,
        })
    }

    /// The logit at `x` and its gradients; `penalty` adds `grad_psi |grad_x f|²`.
    pub fn at(&self, x: &[f64], penalty: bool) -> LogitAt {
        let d = self.dim;
        let p = &self.params;
        let mut grad_params = vec![0.0; p.len()];
        let mut norm2 = penalty.then(|| vec![0.0; p.len()]);
        let (value, grad_x) = match &self.family {
            Family::Linear { bias } => {
                let b = if *bias { p[d] } else { 0.0 };
                let value = dot(&p[..d], x) + b;
                grad_params[..d].copy_from_slice(x);
                if *bias {
                    grad_params[d] = 1.0;
                }
                if let Some(n) = norm2.as_mut() {
                    // |w|²
                    n.iter_mut().zip(&p[..d]).for_each(|(a, w)| *a = 2.0 * w);
                }
                (value, p[..d].to_vec())
            }
            Family::Quadratic => {
                let tri = d * (d + 1) / 2;
                let (a, w, b) = (&p[..tri], &p[tri..tri + d], p[tri + d]);
                let mut value = dot(w, x) + b;
                let mut g = w.to_vec();
                let mut k = 0;
                for i in 0..d {
                    for j in i..d {
                        value += a[k] * x[i] * x[j];
                        g[i] += a[k] * x[j];
                        g[j] += a[k] * x[i];
                        grad_params[k] = x[i] * x[j];
                        k += 1;
                    }
                }
                grad_params[tri..tri + d].copy_from_slice(x);
                grad_params[tri + d] = 1.0;
                if let Some(n) = norm2.as_mut() {
                    let mut k = 0;
                    for i in 0..d {
                        for j in i..d {
                            n[k] = 2.0 * (g[i] * x[j] + g[j] * x[i]);
                            k += 1;
                        }
                    }
                    n[tri..tri + d]
                        .iter_mut()
                        .zip(&g)
                        .for_each(|(a, gi)| *a = 2.0 * gi);
                }
                (value, g)
            }
            Family::Rff { omega, phase } => {
                let k_count = phase.len();
                let c = (2.0 / k_count as f64).sqrt();
                let mut value = p[k_count];
                let mut g = vec![0.0; d];
                let mut sines = vec![0.0; k_count];
                for k in 0..k_count {
                    let om = &omega[k * d..(k + 1) * d];
                    let arg = dot(om, x) + phase[k];
                    let (s, co) = (arg.sin_p(), arg.cos_p());
                    value += p[k] * c * co;
                    grad_params[k] = c * co;
                    sines[k] = s;
                    g.iter_mut()
                        .zip(om)
                        .for_each(|(a, o)| *a -= p[k] * c * s * o);
                }
                grad_params[k_count] = 1.0;
                if let Some(n) = norm2.as_mut() {
                    for k in 0..k_count {
                        let om = &omega[k * d..(k + 1) * d];
                        n[k] = -2.0 * c * sines[k] * dot(&g, om);
                    }
                }
                (value, g)
            }
            Family::Mlp { width } => {
                let w = *width;
                let (u, cb, v, b) = (
                    &p[..w * d],
                    &p[w * d..w * d + w],
                    &p[w * d + w..w * d + 2 * w],
                    p[w * d + 2 * w],
                );
                let mut value = b;
                let mut g = vec![0.0; d];
                let mut t = vec![0.0; w];
                let mut s = vec![0.0; w];
                for j in 0..w {
                    let uj = &u[j * d..(j + 1) * d];
                    let tj = (dot(uj, x) + cb[j]).tanh_p();
                    t[j] = tj;
                    s[j] = 1.0 - tj * tj;
                    value += v[j] * tj;
                    g.iter_mut()
                        .zip(uj)
                        .for_each(|(a, ui)| *a += v[j] * s[j] * ui);
                    // df/du_j = v_j s_j x, df/dc_j = v_j s_j, df/dv_j = t_j
                    for (gp, xi) in grad_params[j * d..(j + 1) * d].iter_mut().zip(x) {
                        *gp = v[j] * s[j] * xi;
                    }
                    grad_params[w * d + j] = v[j] * s[j];
                    grad_params[w * d + w + j] = tj;
                }
                grad_params[w * d + 2 * w] = 1.0;
                if let Some(n) = norm2.as_mut() {
                    for j in 0..w {
                        let uj = &u[j * d..(j + 1) * d];
                        let ug = dot(uj, &g);
                        let ds = -2.0 * t[j] * s[j];
                        // d|g|²/du_j = 2 (v_j s_j g + v_j ds_j (u_j.g) x)
                        for ((a, gi), xi) in n[j * d..(j + 1) * d].iter_mut().zip(&g).zip(x) {
                            *a = 2.0 * (v[j] * s[j] * gi + v[j] * ds * ug * xi);
                        }
                        n[w * d + j] = 2.0 * v[j] * ds * ug;
                        n[w * d + w + j] = 2.0 * s[j] * ug;
                    }
                }
                (value, g)
            }
        };
        LogitAt {
            value,
            grad_x,
            grad_params,
            grad_params_of_norm2: norm2,
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn families(d: usize) -> Vec<Family> {
        vec![
            Family::Linear { bias: true },
            Family::Linear { bias: false },
            Family::Quadratic,
            Family::rff(7, d, 0.8, 3).unwrap(),
            Family::Mlp { width: 5 },
        ]
    }

    /// Parameters away from zero, so that every term of every gradient is exercised.
    fn discriminator(family: Family, d: usize) -> Discriminator {
        let n = family.parameters(d);
        let params = (0..n)
            .map(|i| 0.3 * ((i as f64) * 1.7).sin_p() + 0.1)
            .collect();
        Discriminator::with_params(family, d, params).unwrap()
    }

    fn rel_err(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs().max(1.0)
    }

    /// Every gradient against central differences (step 1e-5: truncation about 1e-10
    /// relative for these smooth functions, rounding about 1e-11); bound 1e-6.
    #[test]
    fn gradients_match_finite_differences() {
        let eps = 1e-5;
        for d in [1usize, 3] {
            let x: Vec<f64> = (0..d).map(|i| 0.7 - 0.45 * i as f64).collect();
            for family in families(d) {
                let disc = discriminator(family.clone(), d);
                let at = disc.at(&x, true);
                let norm2 = |dd: &Discriminator, x: &[f64]| -> f64 {
                    dd.at(x, false).grad_x.iter().map(|g| g * g).sum()
                };
                for i in 0..d {
                    let (mut xp, mut xm) = (x.clone(), x.clone());
                    xp[i] += eps;
                    xm[i] -= eps;
                    let fd = (disc.at(&xp, false).value - disc.at(&xm, false).value) / (2.0 * eps);
                    assert!(rel_err(at.grad_x[i], fd) < 1e-6, "{family:?} x{i}");
                }
                let n2 = at.grad_params_of_norm2.as_ref().unwrap();
                for (k, n2k) in n2.iter().enumerate() {
                    let (mut pp, mut pm) = (disc.clone(), disc.clone());
                    pp.params[k] += eps;
                    pm.params[k] -= eps;
                    let fd = (pp.at(&x, false).value - pm.at(&x, false).value) / (2.0 * eps);
                    assert!(rel_err(at.grad_params[k], fd) < 1e-6, "{family:?} psi{k}");
                    let fd2 = (norm2(&pp, &x) - norm2(&pm, &x)) / (2.0 * eps);
                    assert!(
                        rel_err(*n2k, fd2) < 1e-6,
                        "{family:?} |grad|² psi{k}: {} vs {fd2}",
                        n2k
                    );
                }
            }
        }
    }

    /// Zeros are zeros, except the MLP's hidden layer, which must be able to learn.
    #[test]
    fn zero_start_is_flat_and_an_mlp_can_learn() {
        for family in families(2) {
            let disc = Discriminator::zeros(family.clone(), 2, 1);
            let at = disc.at(&[0.5, -0.2], false);
            assert_eq!(at.value, 0.0, "{family:?}");
            assert!(
                at.grad_params.iter().any(|g| *g != 0.0),
                "{family:?} cannot learn"
            );
        }
    }
}
