//! Point clouds: `n` points in `R^d`, stored contiguously in row-major order.

use crate::error::{Error, Result};

/// A non-empty cloud of finite points in `R^dim`, row-major: point `i` is
/// `coords[i * dim..(i + 1) * dim]`.
///
/// Construction checks every invariant once, so code that receives a `Points` never has to:
/// at least one point, `dim >= 1`, every coordinate finite.
///
/// ```
/// use ganflow::Points;
/// let p = Points::new("example", vec![0.0, 1.0, 2.0, 3.0], 2).unwrap();
/// assert_eq!((p.len(), p.dim()), (2, 2));
/// assert_eq!(p.row(1), &[2.0, 3.0]);
/// assert!(Points::new("bad", vec![0.0, f64::NAN], 1).is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Points {
    coords: Vec<f64>,
    dim: usize,
}

impl Points {
    /// Wraps a row-major buffer. `what` names the set in error messages.
    pub fn new(what: &'static str, coords: Vec<f64>, dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::ZeroDimension { what });
        }
        if coords.is_empty() {
            return Err(Error::Empty { what });
        }
        if !coords.len().is_multiple_of(dim) {
            return Err(Error::Ragged {
                what,
                len: coords.len(),
                dim,
            });
        }
        if let Some(pos) = coords.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what,
                index: pos / dim,
                coord: pos % dim,
                value: coords[pos],
            });
        }
        Ok(Self { coords, dim })
    }

    /// Builds from rows; every row must have the same length.
    pub fn from_rows(what: &'static str, rows: &[Vec<f64>]) -> Result<Self> {
        let dim = rows.first().ok_or(Error::Empty { what })?.len();
        let mut coords = Vec::with_capacity(rows.len() * dim);
        for row in rows {
            if row.len() != dim {
                return Err(Error::DimensionMismatch {
                    what,
                    expected: dim,
                    got: row.len(),
                });
            }
            coords.extend_from_slice(row);
        }
        Self::new(what, coords, dim)
    }

    /// Number of points (always at least 1).
    pub fn len(&self) -> usize {
        self.coords.len() / self.dim
    }

    /// Always `false`: a `Points` holds at least one point. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.coords.is_empty()
    }

    /// Dimension of the space.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Point `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.coords[i * self.dim..(i + 1) * self.dim]
    }

    /// All points, one slice each.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, f64> {
        self.coords.chunks_exact(self.dim)
    }

    /// The rows at `indices`, in that order (each index `< len()`).
    pub fn select(&self, indices: &[usize]) -> Points {
        let coords = indices.iter().flat_map(|&i| self.row(i)).copied().collect();
        Points {
            coords,
            dim: self.dim,
        }
    }

    /// The row-major buffer.
    pub fn as_slice(&self) -> &[f64] {
        &self.coords
    }

    /// Gives the buffer back.
    pub fn into_vec(self) -> Vec<f64> {
        self.coords
    }

    /// Fails with [`Error::DimensionMismatch`] unless `other` has this set's dimension.
    pub fn check_same_dim(&self, what: &'static str, other: &Points) -> Result<()> {
        if other.dim == self.dim {
            Ok(())
        } else {
            Err(Error::DimensionMismatch {
                what,
                expected: self.dim,
                got: other.dim,
            })
        }
    }

    /// Per-coordinate mean.
    pub fn mean(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.dim];
        for row in self.rows() {
            for (a, x) in m.iter_mut().zip(row) {
                *a += x;
            }
        }
        let n = self.len() as f64;
        m.iter_mut().for_each(|a| *a /= n);
        m
    }

    /// Per-coordinate sample variance (divisor `n - 1`; 0 for a single point).
    pub fn variance(&self) -> Vec<f64> {
        let m = self.mean();
        let mut v = vec![0.0; self.dim];
        for row in self.rows() {
            for ((a, x), mu) in v.iter_mut().zip(row).zip(&m) {
                *a += (x - mu) * (x - mu);
            }
        }
        let denom = (self.len().max(2) - 1) as f64;
        v.iter_mut().for_each(|a| *a /= denom);
        v
    }

    /// Replaces the coordinates by `coords` of the same length; used by integrators, which
    /// have already checked finiteness.
    pub(crate) fn replace(&mut self, coords: Vec<f64>) {
        debug_assert_eq!(coords.len(), self.coords.len());
        self.coords = coords;
    }
}

/// An affine change of coordinates `x = mean + A z`, fitted on one set and applied to any:
/// the flow runs on `z`, outputs are mapped back to `x`.
///
/// - [`Standardizer::fit`]: per-feature standardisation, `A = diag(std)`. A feature with zero
///   spread keeps std 1 (it is only shifted), so constant features (the always-blank corner
///   pixels of the digits) pass through unchanged. Use it when features differ in scale.
/// - [`Standardizer::fit_whitening`]: whitening, `A = L` with `L Lᵀ` the covariance (plus a
///   ridge of `1e-12` times its mean variance, so constant or collinear features do not make
///   it singular). The isotropic kernel then acts as a full-covariance kernel on `x`. Use it
///   when features are strongly correlated as well.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// The mean.
    pub mean: Vec<f64>,
    /// `A`: per-feature standard deviations, or the covariance's Cholesky factor.
    pub scale: Scale,
}

/// The linear part of a [`Standardizer`].
#[derive(Clone, Debug, PartialEq)]
pub enum Scale {
    /// `diag(std)`.
    Diagonal(Vec<f64>),
    /// Lower-triangular `L`, row-major `d × d`.
    Cholesky(Vec<f64>),
}

impl Standardizer {
    /// Per-feature standardisation of `points`.
    pub fn fit(points: &Points) -> Self {
        let std = points
            .variance()
            .iter()
            .map(|v| if *v > 0.0 { v.sqrt() } else { 1.0 })
            .collect();
        Self {
            mean: points.mean(),
            scale: Scale::Diagonal(std),
        }
    }

    /// Whitening of `points` by the Cholesky factor of their covariance.
    pub fn fit_whitening(points: &Points) -> Self {
        let d = points.dim();
        let mean = points.mean();
        let mut cov = vec![0.0; d * d];
        for row in points.rows() {
            let c: Vec<f64> = row.iter().zip(&mean).map(|(a, m)| a - m).collect();
            for i in 0..d {
                for j in 0..=i {
                    cov[i * d + j] += c[i] * c[j];
                }
            }
        }
        let denom = (points.len().max(2) - 1) as f64;
        let trace: f64 = (0..d).map(|i| cov[i * d + i]).sum::<f64>() / denom;
        let ridge = 1e-12 * (trace / d as f64).max(f64::MIN_POSITIVE) + 1e-300;
        let mut l = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..=i {
                let mut s = cov[i * d + j] / denom + if i == j { ridge } else { 0.0 };
                for k in 0..j {
                    s -= l[i * d + k] * l[j * d + k];
                }
                l[i * d + j] = if i == j {
                    s.max(ridge).sqrt()
                } else {
                    s / l[j * d + j]
                };
            }
        }
        Self {
            mean,
            scale: Scale::Cholesky(l),
        }
    }

    /// `z = A⁻¹ (x - mean)`.
    pub fn forward(&self, points: &Points) -> Result<Points> {
        self.map(points, |c, out| match &self.scale {
            Scale::Diagonal(std) => {
                for ((o, x), s) in out.iter_mut().zip(c).zip(std) {
                    *o = x / s;
                }
            }
            Scale::Cholesky(l) => {
                let d = c.len();
                for i in 0..d {
                    let s: f64 = (0..i).map(|k| l[i * d + k] * out[k]).sum();
                    out[i] = (c[i] - s) / l[i * d + i];
                }
            }
        })
    }

    /// `x = mean + A z`: back to the original units.
    pub fn inverse(&self, points: &Points) -> Result<Points> {
        let back = Points::new(
            "standardised points",
            self.inverse_vector(points.as_slice()),
            points.dim(),
        )?;
        let coords = back
            .rows()
            .flat_map(|r| {
                r.iter()
                    .zip(&self.mean)
                    .map(|(a, m)| a + m)
                    .collect::<Vec<_>>()
            })
            .collect();
        Points::new("standardised points", coords, points.dim())
    }

    /// `A v` for each row of a flat `n × d` buffer: a velocity (or any displacement) back in
    /// the original units.
    pub fn inverse_vector(&self, v: &[f64]) -> Vec<f64> {
        let d = self.mean.len();
        match &self.scale {
            Scale::Diagonal(std) => v
                .iter()
                .zip(std.iter().cycle())
                .map(|(a, s)| a * s)
                .collect(),
            Scale::Cholesky(l) => v
                .chunks_exact(d)
                .flat_map(|z| {
                    (0..d)
                        .map(|i| (0..=i).map(|k| l[i * d + k] * z[k]).sum::<f64>())
                        .collect::<Vec<_>>()
                })
                .collect(),
        }
    }

    fn map(&self, points: &Points, f: impl Fn(&[f64], &mut [f64])) -> Result<Points> {
        let d = self.mean.len();
        if points.dim() != d {
            return Err(Error::DimensionMismatch {
                what: "standardised points",
                expected: d,
                got: points.dim(),
            });
        }
        let mut coords = vec![0.0; points.as_slice().len()];
        let mut centred = vec![0.0; d];
        for (row, out) in points.rows().zip(coords.chunks_exact_mut(d)) {
            for ((c, x), m) in centred.iter_mut().zip(row).zip(&self.mean) {
                *c = x - m;
            }
            f(&centred, out);
        }
        Points::new("standardised points", coords, d)
    }
}
