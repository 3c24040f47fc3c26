//! The particle spectrum: eigenvalues of the Jacobian of the particle velocity field at a
//! given configuration, found with Krylov methods on Jacobian-vector products.
//!
//! The velocity field `v(X)` of `N` particles in `R^d` is a map of `R^{N d}`; near an
//! equilibrium a displacement `u` evolves by `du/dt = J u` with `J = dv/dX`. The
//! `N d x N d` matrix is never formed: `J u` is a central difference of two velocity
//! evaluations, each particle moved [`STEP`] bandwidths in root mean square (truncation
//! error about `STEP²`, far below the estimators' own).
//!
//! # What a plain Krylov method would report as slow, and what is done
//!
//! Most of `J`'s eigenvalues are near 0 and are not slow dynamics: displacements finer
//! than the bandwidth, and displacements that leave the smoothed density where it is (a
//! rotation of a round cloud), are invisible to the flow. Besides, in two and more
//! dimensions each particle sits in a local well of its own: `J` has a diagonal part, the
//! difference of the two log-densities' Hessians at the particle, which does not vanish at
//! an equilibrium of finitely many particles (with Scott's bandwidth it does not shrink as
//! `N` grows). Its single-particle modes have rates of the same order as the slow
//! collective ones and mix with them. So:
//!
//! - **The search space** starts from gradients of low-degree polynomials of the
//!   standardised coordinates (translations, dilations and shears, cubic fields), the
//!   tangent directions of the Wasserstein geometry, and grows by block Arnoldi: each
//!   product `J q` passes through the kernel smoother `S` ([`super::smooth`]) before it joins
//!   the basis (reorthogonalised twice). The space holds collective, resolved fields.
//! - **The rates** are the Ritz values of `J` on that space (Rayleigh-Ritz: the eigenvalues
//!   of `Q' J Q`), the collective dynamics with the single-particle motion averaged out.
//!   In 1-D, where that motion is negligible, they are `J`'s eigenvalues (tested against
//!   the dense matrix). Each mode reports:
//!   - its **resolution**, `|δg_h / g_h| / |δg_{h/2} / g_{h/2}|`: the relative change it
//!     makes to the particles' KDE at the bandwidth against that at half of it (root mean
//!     square over [`RESOLUTION_QUERIES`] particles, exact sums). A displacement the kernel
//!     resolves scores near 1; one finer than the bandwidth, or one that only reshuffles
//!     the sample (its density change is sampling noise), near `2^(-1-d/2)`. Modes below
//!     [`MIN_RESOLUTION`] are dropped;
//!   - its **residual** `|S (J y - lambda y)| / (|lambda| |S y|)`: how far the resolved
//!     dynamics is from this mode, the coupling to single-particle motion aside;
//!   - its **change**: how far `lambda` moved, relatively, when the last block joined the
//!     space. Above a few per cent, more products would move it.
//!
//! The fastest rate, which sets the stable step, is estimated by a second, short Arnoldi run
//! from a seeded random displacement ([`FAST_PRODUCTS`] forward-difference products):
//! Krylov methods find the extreme eigenvalues first. It is a lower bound of the true
//! fastest rate.
//!
//! Everything is deterministic: the products are velocity evaluations (themselves
//! reproducible at any thread count), inner products are summed in a fixed order, the
//! smoother and the resolution work per particle in a fixed order, and the random start is
//! seeded.

use nalgebra::{Complex, DMatrix, DVector, Schur};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::continuum::{complex_eigenvector, sign_of_largest, stable_steps};
use super::smooth::Smoother;
use crate::error::{Error, Result};
use crate::num::Portable;
use crate::points::Points;

/// Each particle moves this many bandwidths (root mean square) in a difference.
pub const STEP: f64 = 1e-4;
/// Modes whose resolution ratio is below this are invisible to the flow, not slow.
pub const MIN_RESOLUTION: f64 = 0.5;
/// Particles at which the resolution ratio is measured (every particle when fewer).
pub const RESOLUTION_QUERIES: usize = 256;
/// Products in the fastest-rate estimate.
pub const FAST_PRODUCTS: usize = 8;
/// Products in the slow search when none is asked for: two blocks of start fields, and at
/// least this many.
pub const MIN_PRODUCTS: usize = 20;

/// The velocity of every particle for a configuration (row-major `N x d`).
pub type VelocityMap<'a> = dyn Fn(&Points) -> Result<Vec<f64>> + Sync + 'a;

/// One slow mode of the particle flow.
#[derive(Clone, Debug, PartialEq)]
pub struct ParticleMode {
    /// `-Re(lambda)`.
    pub rate: f64,
    /// `Im(lambda)`.
    pub frequency: f64,
    /// The resolution ratio (module documentation).
    pub resolution: f64,
    /// `|S (J y - lambda y)| / (|lambda| |S y|)` with `S` the kernel smoother: how far the
    /// resolved part of the dynamics is from this mode. What `J y` has outside the resolved
    /// fields (the coupling to single-particle motion) is not counted.
    pub residual: f64,
    /// How far `lambda` moved, relatively, when the last block joined the search space.
    pub change: f64,
    /// The displacement of each particle (real part; root mean square 1 per particle,
    /// largest component positive), row-major `N x d`.
    pub displacement: Vec<f64>,
}

/// The slow modes and the stable steps.
#[derive(Clone, Debug, PartialEq)]
pub struct ParticleSpectrum {
    /// The slowest resolved, converged modes by ascending rate.
    pub modes: Vec<ParticleMode>,
    /// The largest rate found (a lower bound of the true one).
    pub fastest_rate: f64,
    /// The largest Euler step that keeps every mode found from growing.
    pub stable_dt_euler: f64,
    /// The same for Heun's method.
    pub stable_dt_heun: f64,
    /// Jacobian-vector products computed.
    pub products: usize,
    /// Velocity evaluations they took.
    pub evaluations: usize,
    /// The root mean square speed of the particles as they stand: 0 at an equilibrium.
    pub rms_speed: f64,
}

/// `J u` by central differences of `velocity` around `x`.
pub struct Jacobian<'a> {
    velocity: &'a VelocityMap<'a>,
    x: &'a Points,
    h: f64,
    base: Option<Vec<f64>>,
    products: usize,
    evaluations: usize,
}

impl<'a> Jacobian<'a> {
    /// The Jacobian of `velocity` at `x`; `h` is the particles' bandwidth, the length scale
    /// of the difference step.
    pub fn new(velocity: &'a VelocityMap<'a>, x: &'a Points, h: f64) -> Self {
        Self {
            velocity,
            x,
            h,
            base: None,
            products: 0,
            evaluations: 0,
        }
    }

    /// `x + eps u` and the step `eps` that moves each particle [`STEP`] bandwidths in root
    /// mean square; `None` for `u = 0`.
    fn displaced(&self, u: &[f64], sign: f64) -> Result<Option<(Points, f64)>> {
        let rms = (dot(u, u) / self.x.len() as f64).sqrt();
        if rms == 0.0 {
            return Ok(None);
        }
        let eps = STEP * self.h / rms;
        let c: Vec<f64> = self
            .x
            .as_slice()
            .iter()
            .zip(u)
            .map(|(x, u)| x + sign * eps * u)
            .collect();
        Ok(Some((
            Points::new("displaced particles", c, self.x.dim())?,
            eps,
        )))
    }

    fn velocity(&mut self, x: &Points) -> Result<Vec<f64>> {
        self.evaluations += 1;
        let v = (self.velocity)(x)?;
        let d = x.dim();
        if let Some(pos) = v.iter().position(|a| !a.is_finite()) {
            return Err(Error::NonFinite {
                what: "the velocity of the displaced particles",
                index: pos / d,
                coord: pos % d,
                value: v[pos],
            });
        }
        Ok(v)
    }

    /// `J u` by a forward difference, `(v(x + eps u) - v(x)) / eps`: one evaluation (and
    /// one for `v(x)`, the first time), accurate to about [`STEP`].
    pub fn apply_forward(&mut self, u: &[f64]) -> Result<Vec<f64>> {
        let Some((plus, eps)) = self.displaced(u, 1.0)? else {
            return Ok(vec![0.0; u.len()]);
        };
        if self.base.is_none() {
            self.base = Some(self.velocity(self.x)?);
        }
        let plus = self.velocity(&plus)?;
        self.products += 1;
        let base = self.base.as_ref().expect("computed above");
        Ok(plus.iter().zip(base).map(|(a, b)| (a - b) / eps).collect())
    }

    /// `J u` by a central difference, `(v(x + eps u) - v(x - eps u)) / (2 eps)`: two
    /// evaluations, accurate to about `STEP²` (the zero vector for `u = 0`).
    pub fn apply(&mut self, u: &[f64]) -> Result<Vec<f64>> {
        let (Some((plus, eps)), Some((minus, _))) =
            (self.displaced(u, 1.0)?, self.displaced(u, -1.0)?)
        else {
            return Ok(vec![0.0; u.len()]);
        };
        let plus = self.velocity(&plus)?;
        let minus = self.velocity(&minus)?;
        self.products += 1;
        Ok(plus
            .iter()
            .zip(&minus)
            .map(|(a, b)| (a - b) / (2.0 * eps))
            .collect())
    }

    /// The whole matrix, column by column: `N d` products, for test sizes only.
    pub fn dense(&mut self) -> Result<DMatrix<f64>> {
        let m = self.x.as_slice().len();
        let mut out = DMatrix::zeros(m, m);
        let mut e = vec![0.0; m];
        for j in 0..m {
            e[j] = 1.0;
            let col = self.apply(&e)?;
            e[j] = 0.0;
            for (i, c) in col.into_iter().enumerate() {
                out[(i, j)] = c;
            }
        }
        Ok(out)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Gradients of the monomials of degree 1..=`degree` in the standardised coordinates
/// `z = (x - mean) / std`, as displacement fields of the particles.
fn start_fields(x: &Points) -> Vec<Vec<f64>> {
    let (n, d) = (x.len(), x.dim());
    let mut mean = vec![0.0; d];
    for r in x.rows() {
        mean.iter_mut().zip(r).for_each(|(m, v)| *m += v / n as f64);
    }
    let mut std = vec![0.0; d];
    for r in x.rows() {
        std.iter_mut()
            .zip(r)
            .zip(&mean)
            .for_each(|((s, v), m)| *s += (v - m) * (v - m) / n as f64);
    }
    std.iter_mut()
        .for_each(|s| *s = if *s > 0.0 { s.sqrt() } else { 1.0 });
    // Exponent vectors: all of degree <= 3 while they number at most 24, else <= 2, else
    // the translations and the dilation.
    let count = |deg: usize| -> usize { (1..=deg).map(|k| multisets(d, k)).sum() };
    let degree = if count(3) <= 24 {
        3
    } else if count(2) <= 24 {
        2
    } else {
        1
    };
    let mut exps: Vec<Vec<usize>> = Vec::new();
    for k in 1..=degree {
        monomials(d, k, &mut Vec::new(), &mut exps);
    }
    if degree == 1 {
        // The dilation, grad |z|² / 2 = z.
        exps.push(vec![usize::MAX; d]);
    }
    exps.iter()
        .map(|alpha| {
            let mut u = vec![0.0; n * d];
            for (i, r) in x.rows().enumerate() {
                let z: Vec<f64> = (0..d).map(|a| (r[a] - mean[a]) / std[a]).collect();
                for a in 0..d {
                    u[i * d + a] = if alpha[0] == usize::MAX {
                        z[a] / std[a]
                    } else if alpha[a] == 0 {
                        0.0
                    } else {
                        let mut p = alpha[a] as f64 / std[a];
                        for (b, &e) in alpha.iter().enumerate() {
                            let e = if b == a { e - 1 } else { e };
                            p *= z[b].powi(e as i32);
                        }
                        p
                    };
                }
            }
            u
        })
        .collect()
}

/// The number of monomials of exact degree `k` in `d` variables.
fn multisets(d: usize, k: usize) -> usize {
    // C(d + k - 1, k)
    (1..=k).fold(1usize, |acc, i| acc * (d + i - 1) / i)
}

/// Appends the exponent vectors of degree `k` in `d` variables (lexicographic).
fn monomials(d: usize, k: usize, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    if prefix.len() == d - 1 {
        let mut e = prefix.clone();
        e.push(k);
        out.push(e);
        return;
    }
    for first in (0..=k).rev() {
        prefix.push(first);
        monomials(d, k - first, prefix, out);
        prefix.pop();
    }
}

/// Orthogonalises `w` against `basis` (twice, modified Gram-Schmidt) and returns it
/// normalised, or `None` when nothing of it is left.
fn orthonormalise(mut w: Vec<f64>, basis: &[Vec<f64>]) -> Option<Vec<f64>> {
    let before = dot(&w, &w).sqrt();
    if before == 0.0 || !before.is_finite() {
        return None;
    }
    for _ in 0..2 {
        for q in basis {
            let c = dot(q, &w);
            w.iter_mut().zip(q).for_each(|(a, b)| *a -= c * b);
        }
    }
    let after = dot(&w, &w).sqrt();
    if after <= 1e-10 * before {
        return None;
    }
    w.iter_mut().for_each(|a| *a /= after);
    Some(w)
}

/// Ritz values and vectors of `J` on the span of `basis`, given `jb[k] = J basis[k]`.
struct Ritz {
    lambdas: Vec<Complex<f64>>,
    reduced: DMatrix<f64>,
}

fn ritz(basis: &[Vec<f64>], jb: &[Vec<f64>]) -> Result<Ritz> {
    let k = jb.len();
    let reduced = DMatrix::from_fn(k, k, |i, j| dot(&basis[i], &jb[j]));
    let schur = Schur::try_new(reduced.clone(), 1e-14, 100_000).ok_or(Error::NoConvergence {
        what: "the Schur decomposition of the projected Jacobian",
    })?;
    Ok(Ritz {
        lambdas: schur.complex_eigenvalues().iter().copied().collect(),
        reduced,
    })
}

/// Combines `vectors` with complex coefficients `s`: (real part, imaginary part).
fn combine(vectors: &[Vec<f64>], s: &DVector<Complex<f64>>) -> (Vec<f64>, Vec<f64>) {
    let len = vectors[0].len();
    let mut re = vec![0.0; len];
    let mut im = vec![0.0; len];
    for (v, c) in vectors.iter().zip(s.iter()) {
        for ((r, i), a) in re.iter_mut().zip(im.iter_mut()).zip(v) {
            *r += c.re * a;
            *i += c.im * a;
        }
    }
    (re, im)
}

/// The resolution ratio of each displacement field (module documentation), at the
/// particles `x` with bandwidth `h`.
pub fn resolution(x: &Points, h: f64, fields: &[Vec<f64>]) -> Vec<f64> {
    let (n, d) = (x.len(), x.dim());
    let stride = n.div_ceil(RESOLUTION_QUERIES).max(1);
    let queries: Vec<usize> = (0..n).step_by(stride).collect();
    let m = fields.len();
    // Per query: for each bandwidth and field, δg / g.
    let rel: Vec<Vec<f64>> = queries
        .par_iter()
        .map(|&i| {
            let xi = x.row(i);
            let mut g = [0.0f64; 2];
            let mut dg = vec![0.0; 2 * m];
            for (k, xk) in x.rows().enumerate() {
                let r2: f64 = xi.iter().zip(xk).map(|(a, b)| (a - b) * (a - b)).sum();
                for (s, scale) in [1.0, 0.5].into_iter().enumerate() {
                    let sigma2 = (h * scale) * (h * scale);
                    let kern = (-0.5 * r2 / sigma2).exp_p();
                    if kern == 0.0 {
                        continue;
                    }
                    g[s] += kern;
                    for (f, field) in fields.iter().enumerate() {
                        let u = &field[k * d..(k + 1) * d];
                        let proj: f64 = xi
                            .iter()
                            .zip(xk)
                            .zip(u)
                            .map(|((a, b), c)| (a - b) * c)
                            .sum();
                        dg[s * m + f] += kern * proj / sigma2;
                    }
                }
            }
            (0..2 * m).map(|j| dg[j] / g[j / m]).collect()
        })
        .collect();
    (0..m)
        .map(|f| {
            let ms = |s: usize| rel.iter().map(|r| r[s * m + f] * r[s * m + f]).sum::<f64>();
            let (fine, coarse) = (ms(1), ms(0));
            if fine > 0.0 {
                (coarse / fine).sqrt()
            } else {
                0.0
            }
        })
        .collect()
}

/// The `modes` slowest modes of the particle flow `velocity` at `x` (bandwidth `h`), from
/// `products` Jacobian-vector products (0: [`MIN_PRODUCTS`] or two blocks of start
/// fields, whichever is more) plus [`FAST_PRODUCTS`] for the fastest rate.
pub fn particle_spectrum(
    velocity: &VelocityMap<'_>,
    x: &Points,
    h: f64,
    modes: usize,
    products: usize,
) -> Result<ParticleSpectrum> {
    if !(h > 0.0 && h.is_finite()) {
        return Err(Error::OutOfRange {
            what: "particle bandwidth",
            expected: "positive and finite",
            value: h,
        });
    }
    let len = x.as_slice().len();
    let mut jac = Jacobian::new(velocity, x, h);
    let smoother = Smoother::new(x, h);

    // The slow search: block Arnoldi from smooth gradient fields, each product smoothed
    // before it joins the basis.
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for f in start_fields(x) {
        if let Some(q) = orthonormalise(f, &basis) {
            basis.push(q);
        }
    }
    let start_count = basis.len();
    let budget = if products == 0 {
        MIN_PRODUCTS.max(2 * start_count)
    } else {
        products
    }
    .min(len);
    let mut jb: Vec<Vec<f64>> = Vec::new();
    let mut sjb: Vec<Vec<f64>> = Vec::new();
    while jb.len() < budget && jb.len() < basis.len() {
        let w = jac.apply(&basis[jb.len()])?;
        let sw = smoother.apply(&w);
        if let Some(q) = orthonormalise(sw.clone(), &basis)
            && basis.len() < len
        {
            basis.push(q);
        }
        jb.push(w);
        sjb.push(sw);
    }
    basis.truncate(jb.len());
    let sb: Vec<Vec<f64>> = basis.iter().map(|q| smoother.apply(q)).collect();
    let slow = ritz(&basis, &jb)?;

    // The same on the space one block smaller: how far each Ritz value moved with the last
    // block is reported beside it.
    let block = start_count.min(basis.len());
    let previous = if basis.len() > block {
        ritz(&basis[..basis.len() - block], &jb[..basis.len() - block])?.lambdas
    } else {
        Vec::new()
    };

    // The fastest rate: a short Arnoldi run from a seeded random displacement, by forward
    // differences (a few per cent is all a step bound needs).
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let start: Vec<f64> = (0..len).map(|_| StandardNormal.sample(&mut rng)).collect();
    let mut fast_basis: Vec<Vec<f64>> = orthonormalise(start, &[]).into_iter().collect();
    let mut fast_jb: Vec<Vec<f64>> = Vec::new();
    while fast_jb.len() < FAST_PRODUCTS.min(len) && fast_jb.len() < fast_basis.len() {
        let w = jac.apply_forward(&fast_basis[fast_jb.len()])?;
        if let Some(q) = orthonormalise(w.clone(), &fast_basis) {
            fast_basis.push(q);
        }
        fast_jb.push(w);
    }
    fast_basis.truncate(fast_jb.len());
    let fast = ritz(&fast_basis, &fast_jb)?;
    let all: Vec<Complex<f64>> = slow.lambdas.iter().chain(&fast.lambdas).copied().collect();
    let fastest_rate = all.iter().map(|l| -l.re).fold(0.0, f64::max);
    let (stable_dt_euler, stable_dt_heun) = stable_steps(&all);

    // Candidates by ascending rate; one of each complex pair.
    let scale = all.iter().map(|l| l.norm()).fold(0.0, f64::max).max(1e-300);
    let mut order: Vec<usize> = (0..slow.lambdas.len())
        .filter(|&k| slow.lambdas[k].im >= 0.0)
        .collect();
    order.sort_by(|&p, &q| (-slow.lambdas[p].re).total_cmp(&(-slow.lambdas[q].re)));
    let mut found: Vec<ParticleMode> = Vec::new();
    let mut pending: Vec<ParticleMode> = Vec::new();
    let mut next = order.iter();
    while found.len() < modes {
        // Candidates in batches, so that the resolution is measured for few more than needed.
        let mut exhausted = true;
        for &k in next.by_ref() {
            exhausted = false;
            let lambda = slow.lambdas[k];
            let change = previous
                .iter()
                .map(|p| (p - lambda).norm())
                .fold(f64::INFINITY, f64::min)
                / lambda.norm().max(1e-300);
            let s = complex_eigenvector(&slow.reduced, lambda, scale);
            let (re, _) = combine(&basis, &s);
            // The residual seen through the smoother, |S (J y - lambda y)| / (|lambda| |S y|):
            // what is left of J y outside the resolved fields is not counted.
            let (jre, jim) = combine(&sjb, &s);
            let (yre, yim) = combine(&sb, &s);
            let mut r2 = 0.0;
            for j in 0..len {
                let rr = jre[j] - (lambda.re * yre[j] - lambda.im * yim[j]);
                let ri = jim[j] - (lambda.re * yim[j] + lambda.im * yre[j]);
                r2 += rr * rr + ri * ri;
            }
            let y2 = dot(&yre, &yre) + dot(&yim, &yim);
            let residual = (r2 / y2).sqrt() / lambda.norm().max(1e-300);
            let norm = (dot(&re, &re) / x.len() as f64).sqrt();
            if norm == 0.0 || !norm.is_finite() {
                continue;
            }
            let sign = sign_of_largest(&re);
            pending.push(ParticleMode {
                rate: -lambda.re,
                frequency: lambda.im,
                resolution: 0.0,
                residual,
                change: if previous.is_empty() { 0.0 } else { change },
                displacement: re.iter().map(|a| a * sign / norm).collect(),
            });
            if pending.len() >= modes - found.len() {
                break;
            }
        }
        if pending.is_empty() {
            if exhausted {
                break;
            }
            continue;
        }
        let fields: Vec<Vec<f64>> = pending.iter().map(|c| c.displacement.clone()).collect();
        for (mut c, r) in pending.drain(..).zip(resolution(x, h, &fields)) {
            c.resolution = r;
            if r >= MIN_RESOLUTION && found.len() < modes {
                found.push(c);
            }
        }
    }
    let base = jac.base.as_deref().unwrap_or(&[]);
    let rms_speed = (dot(base, base) / x.len() as f64).sqrt();
    Ok(ParticleSpectrum {
        modes: found,
        fastest_rate,
        stable_dt_euler,
        stable_dt_heun,
        products: jac.products,
        evaluations: jac.evaluations,
        rms_speed,
    })
}
