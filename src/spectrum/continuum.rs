//! The linearised plug-in flow discretised on a grid, in 1-D.
//!
//! On cells of width `Δ` with centres `x_i`, a perturbation is its density values `e_i`:
//!
//! - `K e` is the kernel sum `Δ Σ_j k_{h_g}(x_i - x_j) e_j` (the identity when `h_g` is below
//!   a cell, `Δ`: no smoothing at this resolution);
//! - `φ = (K e) / p_h` at the centres, `p_h` in log space;
//! - `(A e)_i = w(1/2) (F_{i+1/2} - F_{i-1/2}) / Δ` with the flux
//!   `F_{i+1/2} = rho_0(x_{i+1/2}) (φ_{i+1} - φ_i) / Δ` and no flux through the ends, so `A`
//!   conserves mass.
//!
//! Three things a plain eigen-decomposition of `A` would report as slow, and what is done:
//!
//! - **The smoothing null space.** `K` all but annihilates perturbations finer than the
//!   bandwidth, so they have rates near 0: invisible to the flow, not slow. The operator is
//!   restricted (Galerkin) to the span of the eigenvectors of `K` whose eigenvalue is at
//!   least [`RESOLVED`] of the largest; each mode's resolution ratio `|K e| / |e|` is
//!   reported.
//! - **The equilibrium itself.** `A rho_0 = 0`, but `rho_0` carries mass, which a
//!   perturbation of a probability density cannot; modes with mass are dropped.
//! - **Tail modes.** Modes that live where the target is negligible look slow only because
//!   of the truncated domain. A mode's size is measured in the norm the flow feels it in,
//!   the second variation of the energy, `Σ (K e)² / p_h`; a mode with more of it where
//!   `p_h < 1e-3 max p_h` than elsewhere is dropped. (Measured on N(0, 1) with `h_g = 0.3`:
//!   without this rule, boundary modes at rates 0.55-0.87 and bulk modes with spurious
//!   frequencies came before the translation mode at 1; with it, the rates are 1, 1.820,
//!   2.485, 3.016, against `n (s² - h²)^(n-1) / s^(2n)` = 1, 1.82, 2.484, 3.014. A spurious
//!   complex pair can still appear further up, at 3.17 ± 0.62i there.)
//!
//! The operator is not symmetric (it is non-normal): its eigenvalues come from a real Schur
//! decomposition, its eigenvectors from inverse iteration.

use nalgebra::{Complex, DMatrix, DVector, Schur, SymmetricEigen};

use crate::datasets::IsotropicMixture;
use crate::error::{Error, Result};
use crate::num::Portable;
use crate::points::Points;

/// Eigenvalues of the kernel matrix below this share of the largest span the smoothing null
/// space, which is left out.
pub const RESOLVED: f64 = 0.05;

/// `p_h` below this share of its maximum is the tail.
pub(super) const TAIL_LEVEL: f64 = 1e-3;

/// The target as the flow sees it.
#[derive(Clone, Debug)]
pub enum ContinuumTarget {
    /// A closed-form mixture of equal-weight Gaussians of standard deviation `s`: `p_h` is
    /// the mixture itself, and `rho_0` the same mixture with standard deviation
    /// `sqrt(s² - h_g²)`.
    Closed(IsotropicMixture),
    /// Samples standing for the density they sample: `rho_0` is their KDE at `h_q`, and
    /// `p_h = K_{h_g} * rho_0` their KDE at `sqrt(h_q² + h_g²)` (the large-sample view, in
    /// which both the particles' and the data's estimates smooth the same density).
    Samples {
        /// The data.
        data: Points,
        /// The data's bandwidth.
        h_q: f64,
    },
}

impl Mode {
    /// The displacement field that makes this density perturbation, `e = -(rho_0 dx)'`:
    /// `dx(x) = -(1/rho_0(x)) ∫_{-inf}^x e`, at the grid's centres. For the translation
    /// mode `e = rho_0'` it is constant.
    pub fn displacement(&self, spectrum: &Spectrum) -> Vec<f64> {
        let dx = spectrum.cell;
        let mut below = 0.0;
        self.vector
            .iter()
            .zip(&spectrum.rho0)
            .map(|(e, r)| {
                let at = below + 0.5 * e * dx;
                below += e * dx;
                -at / r.max(f64::MIN_POSITIVE)
            })
            .collect()
    }
}

/// One mode of the linearised flow.
#[derive(Clone, Debug, PartialEq)]
pub struct Mode {
    /// `-Re(lambda)`: how fast the mode decays.
    pub rate: f64,
    /// `Im(lambda)`.
    pub frequency: f64,
    /// `|K e| / |e|`: how much of the mode the kernel lets the flow see.
    pub resolution: f64,
    /// The mode's density perturbation at the grid's centres (real part, unit Euclidean
    /// norm, largest entry positive).
    pub vector: Vec<f64>,
}

/// The slowest modes and what the fastest implies for time steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Spectrum {
    /// The grid's cell centres.
    pub grid: Vec<f64>,
    /// The cells' width.
    pub cell: f64,
    /// The equilibrium `rho_0` at the centres.
    pub rho0: Vec<f64>,
    /// The slowest modes, by ascending rate.
    pub modes: Vec<Mode>,
    /// The largest rate of the resolved operator: the stiffness.
    pub fastest_rate: f64,
    /// The largest Euler step that keeps every resolved mode from growing.
    pub stable_dt_euler: f64,
    /// The same for Heun's method.
    pub stable_dt_heun: f64,
}

/// `log` of the equal-weight mixture of `N(c, std² I)` over the centres (row-major, of the
/// point's dimension) at `x`, in log space.
pub(super) fn log_mixture(x: &[f64], centres: &[f64], std: f64) -> f64 {
    let d = x.len();
    let k = centres.len() / d;
    let norm =
        -0.5 * d as f64 * (2.0 * std::f64::consts::PI * std * std).ln_p() - (k as f64).ln_p();
    let terms: Vec<f64> = centres
        .chunks_exact(d)
        .map(|c| {
            let r2: f64 = x.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum();
            -0.5 * r2 / (std * std)
        })
        .collect();
    let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    norm + m + terms.iter().map(|t| (t - m).exp_p()).sum::<f64>().ln_p()
}

/// What the continuum operator needs of a target in `d` dimensions: `p_h` and `rho_0` are
/// equal-weight Gaussian mixtures over the same centres, and the domain covers them with a
/// margin.
pub(super) struct Geometry {
    /// The centres, row-major.
    pub centres: Vec<f64>,
    /// `p_h`'s standard deviation.
    pub p_std: f64,
    /// `rho_0`'s standard deviation.
    pub rho_std: f64,
    /// The domain's corners, per axis.
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
}

impl Geometry {
    /// For `target` in `d` dimensions and particle bandwidth `h_g`; errors name what is not
    /// defined. The domain reaches `margin.0` standard deviations beyond a closed form's
    /// centres, `margin.1` of `rho_0`'s bandwidth beyond the data.
    pub fn new(target: &ContinuumTarget, h_g: f64, d: usize, margin: (f64, f64)) -> Result<Self> {
        let (points, p_std, rho_std, margin) = match target {
            ContinuumTarget::Closed(m) => {
                let s = m.std;
                if h_g >= s {
                    return Err(Error::OutOfRange {
                        what: "the particle bandwidth",
                        expected: "below the target's standard deviation (no density smooths to a narrower target)",
                        value: h_g,
                    });
                }
                (&m.centers, s, (s * s - h_g * h_g).sqrt(), margin.0 * s)
            }
            ContinuumTarget::Samples { data, h_q } => {
                let h_q = *h_q;
                if h_g > h_q {
                    return Err(Error::OutOfRange {
                        what: "the particle bandwidth",
                        expected: "at most the data's (no density smooths to a narrower estimate)",
                        value: h_g,
                    });
                }
                // The data stand for the smooth density they sample, taken as their KDE at
                // h_q: that is rho_0, and p_h = K_{h_g} * rho_0 is their KDE at
                // sqrt(h_q² + h_g²), consistent by construction. (Solving
                // K_{h_g} * rho_0 = KDE_{h_q} exactly would give the KDE at
                // sqrt(h_q² - h_g²): the empirical measure itself at the default h_g = h_q,
                // with the particles sitting on the data.)
                let c = h_q;
                (data, (c * c + h_g * h_g).sqrt(), c, margin.1 * c)
            }
        };
        if points.dim() != d {
            return Err(Error::DimensionMismatch {
                what: "the continuum spectrum's target",
                expected: d,
                got: points.dim(),
            });
        }
        let mut lo = vec![f64::MAX; d];
        let mut hi = vec![f64::MIN; d];
        for r in points.rows() {
            for a in 0..d {
                lo[a] = lo[a].min(r[a] - margin);
                hi[a] = hi[a].max(r[a] + margin);
            }
        }
        Ok(Self {
            centres: points.as_slice().to_vec(),
            p_std,
            rho_std,
            lo,
            hi,
        })
    }

    /// Refuses cells wider than half of `rho_0`'s standard deviation: the grid could not
    /// show the modes' shapes.
    pub fn check_cells(&self, cell: f64) -> Result<()> {
        if cell > 0.5 * self.rho_std {
            return Err(Error::OutOfRange {
                what: "grid cells (raise --grid-points, or use --particles)",
                expected: "at most half the equilibrium's standard deviation",
                value: cell,
            });
        }
        Ok(())
    }

    /// `log p_h(x)`.
    pub fn log_p(&self, x: &[f64]) -> f64 {
        log_mixture(x, &self.centres, self.p_std)
    }

    /// `rho_0(x)`.
    pub fn rho0(&self, x: &[f64]) -> f64 {
        log_mixture(x, &self.centres, self.rho_std).exp_p()
    }
}

/// The spectrum of the linearised plug-in flow with loss weight `w_half = w(1/2)` and
/// particle bandwidth `h_g` (0: no smoothing), on `grid_points` cells; the `modes` slowest.
pub fn continuum_1d(
    target: &ContinuumTarget,
    h_g: f64,
    w_half: f64,
    grid_points: usize,
    modes: usize,
) -> Result<Spectrum> {
    if grid_points < 16 {
        return Err(Error::OutOfRange {
            what: "grid points",
            expected: "at least 16",
            value: grid_points as f64,
        });
    }
    let geometry = Geometry::new(target, h_g, 1, (7.0, 5.0))?;
    let (lo, hi) = (geometry.lo[0], geometry.hi[0]);
    let log_p = |x: f64| geometry.log_p(&[x]);
    let rho0 = |x: f64| geometry.rho0(&[x]);
    let g = grid_points;
    let dx = (hi - lo) / g as f64;
    geometry.check_cells(dx)?;
    let x: Vec<f64> = (0..g).map(|i| lo + (i as f64 + 0.5) * dx).collect();
    let lp: Vec<f64> = x.iter().map(|&v| log_p(v)).collect();
    let rho_face: Vec<f64> = (0..g.saturating_sub(1))
        .map(|i| rho0(lo + (i + 1) as f64 * dx))
        .collect();
    let rho_centre: Vec<f64> = x.iter().map(|&v| rho0(v)).collect();
    // A kernel narrower than a cell does not smooth at this resolution (and its sum over
    // cells would be a poor quadrature): the identity stands for it.
    let smoothing = h_g >= dx;
    let kernel = if smoothing {
        let c = dx / (2.0 * std::f64::consts::PI * h_g * h_g).sqrt();
        DMatrix::from_fn(g, g, |i, j| {
            let u = (x[i] - x[j]) / h_g;
            c * (-0.5 * u * u).exp_p()
        })
    } else {
        DMatrix::identity(g, g)
    };
    // phi = P^-1 K, then A = w Dv phi with the flux-form divergence Dv.
    let mut phi = kernel.clone();
    for i in 0..g {
        let inv = (-lp[i]).exp_p();
        for j in 0..g {
            phi[(i, j)] *= inv;
        }
    }
    let mut a = DMatrix::zeros(g, g);
    for i in 0..g {
        for j in 0..g {
            let right = if i + 1 < g {
                rho_face[i] * (phi[(i + 1, j)] - phi[(i, j)])
            } else {
                0.0
            };
            let left = if i > 0 {
                rho_face[i - 1] * (phi[(i, j)] - phi[(i - 1, j)])
            } else {
                0.0
            };
            a[(i, j)] = w_half * (right - left) / (dx * dx);
        }
    }
    // The resolved subspace: eigenvectors of K above RESOLVED of its largest eigenvalue.
    let basis = if smoothing {
        let eig = SymmetricEigen::new(kernel.clone());
        let top = eig.eigenvalues.iter().copied().fold(0.0, f64::max);
        let keep: Vec<usize> = (0..g)
            .filter(|&k| eig.eigenvalues[k] >= RESOLVED * top)
            .collect();
        DMatrix::from_fn(g, keep.len(), |i, k| eig.eigenvectors[(i, keep[k])])
    } else {
        DMatrix::identity(g, g)
    };
    let reduced = basis.transpose() * &a * &basis;
    let ReducedSpectrum {
        lambdas,
        order,
        scale,
        fastest_rate,
        stable_dt_euler,
        stable_dt_heun,
    } = ReducedSpectrum::of(&reduced)?;
    let lp_max = lp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut found: Vec<Mode> = Vec::new();
    let mut last: Option<Complex<f64>> = None;
    for &k in &order {
        if found.len() == modes {
            break;
        }
        let lambda = lambdas[k];
        // The conjugate of a complex pair reported already.
        if lambda.im < 0.0 || last.is_some_and(|l| (l - lambda).norm() < 1e-12 * scale) {
            continue;
        }
        last = Some(lambda);
        let y = inverse_iteration(&reduced, lambda, scale);
        let e = &basis * y;
        let Some((v, _)) = normalise_mode(e.as_slice()) else {
            continue;
        };
        let kv = &kernel * DVector::from_column_slice(&v);
        if !is_physical(&v, kv.as_slice(), &lp, lp_max) {
            continue;
        }
        let resolution = kv.norm();
        found.push(Mode {
            rate: -lambda.re,
            frequency: lambda.im,
            resolution,
            vector: v,
        });
    }
    Ok(Spectrum {
        grid: x,
        cell: dx,
        rho0: rho_centre,
        modes: found,
        fastest_rate,
        stable_dt_euler,
        stable_dt_heun,
    })
}

/// The eigenvalues of a projected operator, by ascending rate, and what the fastest implies.
pub(super) struct ReducedSpectrum {
    /// The eigenvalues.
    pub lambdas: Vec<Complex<f64>>,
    /// Their indices by ascending rate `-Re(lambda)`.
    pub order: Vec<usize>,
    /// The largest `|lambda|` (at least 1e-300): the scale of inverse iteration's shift.
    pub scale: f64,
    /// The largest rate.
    pub fastest_rate: f64,
    /// The largest stable Euler step.
    pub stable_dt_euler: f64,
    /// The largest stable Heun step.
    pub stable_dt_heun: f64,
}

impl ReducedSpectrum {
    /// From a real Schur decomposition of `reduced`.
    pub fn of(reduced: &DMatrix<f64>) -> Result<Self> {
        let schur =
            Schur::try_new(reduced.clone(), 1e-13, 100_000).ok_or(Error::NoConvergence {
                what: "the Schur decomposition of the linearised operator",
            })?;
        let lambdas: Vec<Complex<f64>> = schur.complex_eigenvalues().iter().copied().collect();
        let fastest_rate = lambdas.iter().map(|l| -l.re).fold(0.0, f64::max);
        let (stable_dt_euler, stable_dt_heun) = stable_steps(&lambdas);
        let mut order: Vec<usize> = (0..lambdas.len()).collect();
        order.sort_by(|&p, &q| (-lambdas[p].re).total_cmp(&(-lambdas[q].re)));
        let scale = lambdas
            .iter()
            .map(|l| l.norm())
            .fold(0.0, f64::max)
            .max(1e-300);
        Ok(Self {
            lambdas,
            order,
            scale,
            fastest_rate,
            stable_dt_euler,
            stable_dt_heun,
        })
    }
}

/// `1` or `-1`: the sign that makes the entry of largest magnitude positive.
pub(super) fn sign_of_largest(v: &[f64]) -> f64 {
    let big = v
        .iter()
        .copied()
        .fold(0.0f64, |m, a| if a.abs() > m.abs() { a } else { m });
    if big < 0.0 { -1.0 } else { 1.0 }
}

/// A mode's density perturbation scaled to unit norm with its largest entry positive, and
/// the factor that did it; `None` for the zero vector.
pub(super) fn normalise_mode(e: &[f64]) -> Option<(Vec<f64>, f64)> {
    let norm = e.iter().map(|a| a * a).sum::<f64>().sqrt();
    if norm == 0.0 {
        return None;
    }
    let factor = sign_of_largest(e) / norm;
    Some((e.iter().map(|a| a * factor).collect(), factor))
}

/// Whether a normalised mode `v` (with `kv = K v`) is a perturbation of a probability
/// density that lives where the target does (module documentation):
///
/// - the equilibrium itself (rate 0) carries mass; every other eigenvector of the
///   mass-conserving operator has none, up to the projection's error;
/// - measured in the norm of the energy's second variation, `Σ (K e)² / p_h` (what the flow
///   feels of it), it has no more of itself where `p_h` is below [`TAIL_LEVEL`] of its
///   peak `exp(lp_max)` than elsewhere.
pub(super) fn is_physical(v: &[f64], kv: &[f64], lp: &[f64], lp_max: f64) -> bool {
    let abs_mass: f64 = v.iter().map(|a| a.abs()).sum();
    let mass: f64 = v.iter().sum();
    if mass.abs() > 0.5 * abs_mass {
        return false;
    }
    let energy = |tail: bool| -> f64 {
        kv.iter()
            .zip(lp)
            .filter(|(_, l)| (**l < lp_max + TAIL_LEVEL.ln_p()) == tail)
            .map(|(a, l)| a * a * (-l).exp_p())
            .sum()
    };
    let (tail, bulk) = (energy(true), energy(false));
    !(tail > bulk || tail.is_nan())
}

/// The eigenvector of `m` for the eigenvalue `lambda`: the real part of
/// [`complex_eigenvector`].
fn inverse_iteration(m: &DMatrix<f64>, lambda: Complex<f64>, scale: f64) -> DVector<f64> {
    let v = complex_eigenvector(m, lambda, scale);
    DVector::from_iterator(v.len(), v.iter().map(|c| c.re))
}

/// The eigenvector of `m` for the eigenvalue `lambda`: inverse iteration with a shift just
/// off it (`scale` is the spectrum's size), in complex arithmetic, rotated so that its
/// largest entry is real and positive; unit norm.
pub fn complex_eigenvector(
    m: &DMatrix<f64>,
    lambda: Complex<f64>,
    scale: f64,
) -> DVector<Complex<f64>> {
    let n = m.nrows();
    let shift = lambda + Complex::new(1e-10 * scale, 0.0);
    let mc: DMatrix<Complex<f64>> = DMatrix::from_fn(n, n, |i, j| {
        Complex::new(m[(i, j)], 0.0)
            - if i == j {
                shift
            } else {
                Complex::new(0.0, 0.0)
            }
    });
    let lu = mc.lu();
    let mut v: DVector<Complex<f64>> =
        DVector::from_fn(n, |i, _| Complex::new(1.0 + 0.01 * i as f64, 0.0));
    for _ in 0..4 {
        if let Some(next) = lu.solve(&v) {
            let norm = next.norm();
            if norm > 0.0 && norm.is_finite() {
                v = next / Complex::new(norm, 0.0);
            }
        }
    }
    let big = v.iter().copied().fold(Complex::new(0.0, 0.0), |a, b| {
        if b.norm() > a.norm() { b } else { a }
    });
    let phase = if big.norm() > 0.0 {
        big.conj() / big.norm()
    } else {
        Complex::new(1.0, 0.0)
    };
    v.map(|c| c * phase)
}

/// The largest steps for which Euler (`|1 + z| <= 1`) and Heun (`|1 + z + z²/2| <= 1`),
/// `z = dt lambda`, keep every mode from growing.
pub fn stable_steps(lambdas: &[Complex<f64>]) -> (f64, f64) {
    let mut euler = f64::INFINITY;
    let mut heun = f64::INFINITY;
    for l in lambdas {
        if l.re >= 0.0 {
            continue;
        }
        euler = euler.min(-2.0 * l.re / l.norm_sqr());
        let grows = |dt: f64| {
            let z = *l * dt;
            (Complex::new(1.0, 0.0) + z + z * z * 0.5).norm() > 1.0 + 1e-12
        };
        // Heun is stable on [0, dt*] for these lambda (its region is convex in each
        // direction from the origin): bisect for dt*.
        let (mut a, mut b) = (0.0, 4.0 / l.norm());
        for _ in 0..100 {
            let mid = 0.5 * (a + b);
            if grows(mid) {
                b = mid;
            } else {
                a = mid;
            }
        }
        heun = heun.min(a);
    }
    (euler, heun)
}
