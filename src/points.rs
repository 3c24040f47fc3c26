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

/// Per-feature standardisation `z = (x - mean) / std`, fitted on one set and applied to any.
/// A feature with zero spread keeps std 1 (it is only shifted), so constant features (the
/// always-blank corner pixels of the digits) pass through unchanged.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// Per-feature mean.
    pub mean: Vec<f64>,
    /// Per-feature standard deviation (1 where the feature is constant).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fits the mean and standard deviation of `points`.
    pub fn fit(points: &Points) -> Self {
        let std = points
            .variance()
            .iter()
            .map(|v| if *v > 0.0 { v.sqrt() } else { 1.0 })
            .collect();
        Self {
            mean: points.mean(),
            std,
        }
    }

    /// `(x - mean) / std`.
    pub fn forward(&self, points: &Points) -> Result<Points> {
        self.map(points, |x, m, s| (x - m) / s)
    }

    /// `z std + mean`: back to the original units.
    pub fn inverse(&self, points: &Points) -> Result<Points> {
        self.map(points, |z, m, s| z * s + m)
    }

    /// A velocity (or any displacement) back in the original units: `v std`.
    pub fn inverse_vector(&self, v: &[f64]) -> Vec<f64> {
        v.iter()
            .zip(self.std.iter().cycle())
            .map(|(a, s)| a * s)
            .collect()
    }

    fn map(&self, points: &Points, f: impl Fn(f64, f64, f64) -> f64) -> Result<Points> {
        if points.dim() != self.mean.len() {
            return Err(Error::DimensionMismatch {
                what: "standardised points",
                expected: self.mean.len(),
                got: points.dim(),
            });
        }
        let coords = points
            .rows()
            .flat_map(|row| {
                row.iter()
                    .zip(&self.mean)
                    .zip(&self.std)
                    .map(|((x, m), s)| f(*x, *m, *s))
                    .collect::<Vec<_>>()
            })
            .collect();
        Points::new("standardised points", coords, points.dim())
    }
}
