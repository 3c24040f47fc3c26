//! The linearised plug-in flow discretised on a 2-D grid.
//!
//! The operator is the 1-D one's (`continuum`): `A e = w(1/2) div(rho_0 grad(K e / p_h))`,
//! in flux form on `G x G` cells with no flux through the edges. The kernel is a product of
//! 1-D kernels, so its eigenvectors are products `b_i ⊗ b_j` of the 1-D ones, with
//! eigenvalues `mu_i nu_j`. The operator is restricted (Galerkin) to the products whose
//! eigenvalue is at least [`RESOLVED`] of the largest, at most [`MAX_BASIS`] of them, the
//! smoothest first; where the kernel is narrower than a cell along an axis, the smoothest
//! cosines of that axis stand in for its eigenvectors. `A` is applied to each basis vector
//! directly (`K` acts on it as a number), so the cost is `O(G² r)` for `A B` and `O(G² r²)`
//! for `B' A B`, `r` the basis size, never `O(G⁶)`.
//!
//! Modes are filtered as in 1-D (the equilibrium's mass, the tails in the second-variation
//! norm) and each reports its resolution `|K e| / |e|`. The displacement that makes a mode
//! follows from the operator itself: `e = -div(rho_0 dx)` and `lambda e = A e` give
//! `dx = -(w(1/2) / lambda) grad(K e / p_h)`, a gradient, as every velocity of the flow is.

use nalgebra::{Complex, DMatrix, DVector, SymmetricEigen};

use super::continuum::{
    ContinuumTarget, Geometry, Mode, RESOLVED, ReducedSpectrum, complex_eigenvector, is_physical,
    normalise_mode,
};
use crate::error::{Error, Result};
use crate::num::Portable;
use crate::points::Points;

/// The domain's reach beyond the target (closed form: its standard deviations; samples:
/// `rho_0`'s bandwidths). Narrower than in 1-D, where cells are cheap: in 2-D the cells
/// beyond it would be most of the grid, and all of them tail.
pub const MARGIN: (f64, f64) = (4.5, 4.0);
/// Most 1-D basis vectors per axis.
pub const AXIS_CAP: usize = 40;
/// Most 2-D basis vectors (the Schur decomposition is cubic in it).
pub const MAX_BASIS: usize = 500;

/// The slowest modes on a 2-D grid and what the fastest implies for time steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Spectrum2d {
    /// The cell centres, `G x G` rows, axis 1 fastest.
    pub centres: Points,
    /// The cells per axis.
    pub cells: usize,
    /// The equilibrium `rho_0` at the centres.
    pub rho0: Vec<f64>,
    /// The slowest modes, by ascending rate; each `vector` is the density perturbation at
    /// the centres.
    pub modes: Vec<Mode>,
    /// Each mode's displacement at the centres (row-major `G² x 2`), scaled with its
    /// `vector`.
    pub displacements: Vec<Vec<f64>>,
    /// The largest rate of the resolved operator.
    pub fastest_rate: f64,
    /// The largest Euler step that keeps every resolved mode from growing.
    pub stable_dt_euler: f64,
    /// The same for Heun's method.
    pub stable_dt_heun: f64,
}

/// Eigenvalues closer than this, relative to the spectrum's size, are one degenerate group.
const DEGENERATE: f64 = 1e-7;

/// The right singular vectors of `m - lambda I` with the `n` smallest singular values: for a
/// real eigenvalue of multiplicity `n`, orthonormal eigenvectors spanning its eigenspace
/// (one decomposition for the whole group, so that they are orthogonal to each other).
fn null_vectors(m: &DMatrix<f64>, lambda: f64, n: usize) -> Vec<DVector<Complex<f64>>> {
    let k = m.nrows();
    let shifted = m - DMatrix::identity(k, k) * lambda;
    let svd = shifted.svd(false, true);
    let v_t = svd.v_t.expect("asked for");
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| svd.singular_values[a].total_cmp(&svd.singular_values[b]));
    order
        .iter()
        .take(n.max(1))
        .map(|&row| DVector::from_iterator(k, v_t.row(row).iter().map(|v| Complex::new(*v, 0.0))))
        .collect()
}

/// One axis's basis: eigenvalues (descending) and orthonormal vectors (columns).
fn axis_basis(x: &[f64], dx: f64, h_g: f64) -> (Vec<f64>, DMatrix<f64>) {
    let g = x.len();
    if h_g >= dx {
        let c = dx / (2.0 * std::f64::consts::PI * h_g * h_g).sqrt();
        let kernel = DMatrix::from_fn(g, g, |i, j| {
            let u = (x[i] - x[j]) / h_g;
            c * (-0.5 * u * u).exp_p()
        });
        let eig = SymmetricEigen::new(kernel);
        let mut order: Vec<usize> = (0..g).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let top = eig.eigenvalues[order[0]];
        order.retain(|&k| eig.eigenvalues[k] >= RESOLVED * top);
        order.truncate(AXIS_CAP);
        let mu = order.iter().map(|&k| eig.eigenvalues[k]).collect();
        let b = DMatrix::from_fn(g, order.len(), |i, k| eig.eigenvectors[(i, order[k])]);
        (mu, b)
    } else {
        // No smoothing at this resolution: the smoothest cosines (DCT-II, orthonormal).
        let m = g.min(AXIS_CAP);
        let b = DMatrix::from_fn(g, m, |i, k| {
            let scale = if k == 0 {
                (1.0 / g as f64).sqrt()
            } else {
                (2.0 / g as f64).sqrt()
            };
            scale * (std::f64::consts::PI * k as f64 * (i as f64 + 0.5) / g as f64).cos_p()
        });
        (vec![1.0; m], b)
    }
}

/// The spectrum of the linearised plug-in flow with loss weight `w_half = w(1/2)` and
/// particle bandwidth `h_g` for a 2-D target, on `grid_points²` cells; the `modes` slowest.
pub fn continuum_2d(
    target: &ContinuumTarget,
    h_g: f64,
    w_half: f64,
    grid_points: usize,
    modes: usize,
) -> Result<Spectrum2d> {
    if !(8..=200).contains(&grid_points) {
        return Err(Error::OutOfRange {
            what: "grid points per axis in 2-D",
            expected: "between 8 and 200",
            value: grid_points as f64,
        });
    }
    let geometry = Geometry::new(target, h_g, 2, MARGIN)?;
    let g = grid_points;
    let cell: Vec<f64> = (0..2)
        .map(|a| (geometry.hi[a] - geometry.lo[a]) / g as f64)
        .collect();
    for c in &cell {
        geometry.check_cells(*c)?;
    }
    let axis: Vec<Vec<f64>> = (0..2)
        .map(|a| {
            (0..g)
                .map(|i| geometry.lo[a] + (i as f64 + 0.5) * cell[a])
                .collect()
        })
        .collect();
    let at = |r: usize, c: usize| r * g + c;
    let lp: Vec<f64> = (0..g * g)
        .map(|k| geometry.log_p(&[axis[0][k / g], axis[1][k % g]]))
        .collect();
    let inv_p: Vec<f64> = lp.iter().map(|l| (-l).exp_p()).collect();
    // rho_0 on the faces between cells along axis 0 (r + 1/2, c) and axis 1 (r, c + 1/2).
    let face0: Vec<f64> = (0..(g - 1) * g)
        .map(|k| {
            let (r, c) = (k / g, k % g);
            geometry.rho0(&[geometry.lo[0] + (r + 1) as f64 * cell[0], axis[1][c]])
        })
        .collect();
    let face1: Vec<f64> = (0..g * (g - 1))
        .map(|k| {
            let (r, c) = (k / (g - 1), k % (g - 1));
            geometry.rho0(&[axis[0][r], geometry.lo[1] + (c + 1) as f64 * cell[1]])
        })
        .collect();
    let rho0: Vec<f64> = (0..g * g)
        .map(|k| geometry.rho0(&[axis[0][k / g], axis[1][k % g]]))
        .collect();

    // The resolved basis: products of the axes' bases, smoothest first.
    let (mu0, b0) = axis_basis(&axis[0], cell[0], h_g);
    let (mu1, b1) = axis_basis(&axis[1], cell[1], h_g);
    let top = mu0[0] * mu1[0];
    let mut pairs: Vec<(usize, usize)> = (0..mu0.len())
        .flat_map(|i| (0..mu1.len()).map(move |j| (i, j)))
        .filter(|&(i, j)| mu0[i] * mu1[j] >= RESOLVED * top)
        .collect();
    pairs.sort_by(|p, q| {
        (mu0[q.0] * mu1[q.1])
            .total_cmp(&(mu0[p.0] * mu1[p.1]))
            .then((p.0 + p.1).cmp(&(q.0 + q.1)))
    });
    pairs.truncate(MAX_BASIS);
    let r = pairs.len();
    let lambda_k: Vec<f64> = pairs.iter().map(|&(i, j)| mu0[i] * mu1[j]).collect();
    let basis = DMatrix::from_fn(g * g, r, |k, m| {
        let (i, j) = pairs[m];
        b0[(k / g, i)] * b1[(k % g, j)]
    });
    // A applied to each basis vector: phi = (K b) / p = lambda b / p, then the fluxes.
    let mut applied = DMatrix::zeros(g * g, r);
    for m in 0..r {
        let phi: Vec<f64> = (0..g * g)
            .map(|k| lambda_k[m] * basis[(k, m)] * inv_p[k])
            .collect();
        for row in 0..g {
            for col in 0..g {
                let k = at(row, col);
                let mut div = 0.0;
                if row + 1 < g {
                    div += face0[at(row, col)] * (phi[at(row + 1, col)] - phi[k]) / cell[0];
                }
                if row > 0 {
                    div -= face0[at(row - 1, col)] * (phi[k] - phi[at(row - 1, col)]) / cell[0];
                }
                let mut div1 = 0.0;
                if col + 1 < g {
                    div1 += face1[row * (g - 1) + col] * (phi[at(row, col + 1)] - phi[k]) / cell[1];
                }
                if col > 0 {
                    div1 -=
                        face1[row * (g - 1) + col - 1] * (phi[k] - phi[at(row, col - 1)]) / cell[1];
                }
                applied[(k, m)] = w_half * (div / cell[0] + div1 / cell[1]);
            }
        }
    }
    let reduced = basis.transpose() * &applied;
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
    let mut displacements: Vec<Vec<f64>> = Vec::new();
    // Eigenvalues met so far, to tell the members of a degenerate group apart (a round
    // target's modes come in groups: two translations, three quadratic fields, ...).
    let mut seen: Vec<Complex<f64>> = Vec::new();
    let mut group_vectors: Vec<DVector<Complex<f64>>> = Vec::new();
    for &k in &order {
        if found.len() == modes {
            break;
        }
        let lambda = lambdas[k];
        if lambda.im < 0.0 {
            continue;
        }
        let close = |l: &Complex<f64>| (*l - lambda).norm() < DEGENERATE * scale;
        let before = seen.iter().filter(|l| close(l)).count();
        let group = order
            .iter()
            .filter(|&&q| lambdas[q].im >= 0.0 && close(&lambdas[q]))
            .count();
        seen.push(lambda);
        let y = if group > 1 && lambda.im == 0.0 {
            if before == 0 {
                group_vectors = null_vectors(&reduced, lambda.re, group);
            }
            group_vectors[before.min(group_vectors.len() - 1)].clone()
        } else {
            complex_eigenvector(&reduced, lambda, scale)
        };
        let y_re = DVector::from_iterator(r, y.iter().map(|c| c.re));
        let e = &basis * &y_re;
        let Some((v, factor)) = normalise_mode(e.as_slice()) else {
            continue;
        };
        let ky = DVector::from_iterator(r, y_re.iter().zip(&lambda_k).map(|(a, l)| a * l));
        let kv = (&basis * ky) * factor;
        if !is_physical(&v, kv.as_slice(), &lp, lp_max) {
            continue;
        }
        // dx = -(w / lambda) grad psi, psi = K e / p in complex arithmetic; the real part.
        let psi: Vec<Complex<f64>> = (0..g * g)
            .map(|cellk| {
                let s: Complex<f64> = (0..r)
                    .map(|m| y[m] * (lambda_k[m] * basis[(cellk, m)]))
                    .sum();
                s * (inv_p[cellk] * factor)
            })
            .collect();
        let coef = Complex::new(-w_half, 0.0) / lambda;
        let mut dx = vec![0.0; 2 * g * g];
        for row in 0..g {
            for col in 0..g {
                let diff = |a: usize, b: usize, span: f64| (psi[a] - psi[b]) / span;
                let d0 = match (row > 0, row + 1 < g) {
                    (true, true) => diff(at(row + 1, col), at(row - 1, col), 2.0 * cell[0]),
                    (false, _) => diff(at(row + 1, col), at(row, col), cell[0]),
                    (_, false) => diff(at(row, col), at(row - 1, col), cell[0]),
                };
                let d1 = match (col > 0, col + 1 < g) {
                    (true, true) => diff(at(row, col + 1), at(row, col - 1), 2.0 * cell[1]),
                    (false, _) => diff(at(row, col + 1), at(row, col), cell[1]),
                    (_, false) => diff(at(row, col), at(row, col - 1), cell[1]),
                };
                let k = at(row, col);
                dx[2 * k] = (coef * d0).re;
                dx[2 * k + 1] = (coef * d1).re;
            }
        }
        found.push(Mode {
            rate: -lambda.re,
            frequency: lambda.im,
            resolution: kv.norm(),
            vector: v,
        });
        displacements.push(dx);
    }
    let centres: Vec<f64> = (0..g * g)
        .flat_map(|k| [axis[0][k / g], axis[1][k % g]])
        .collect();
    Ok(Spectrum2d {
        centres: Points::new("grid centres", centres, 2)?,
        cells: g,
        rho0,
        modes: found,
        displacements,
        fastest_rate,
        stable_dt_euler,
        stable_dt_heun,
    })
}
