//! Kernel bandwidths: fixed, Scott's and Silverman's rules of thumb, a nearest-neighbour
//! rule, and the default that takes the larger of Scott's and the neighbours'.

use rayon::prelude::*;

use crate::error::{Error, Result, check_positive};
use crate::kde::dist2;
use crate::num::Portable;
use crate::points::Points;

/// The neighbour whose distance the nearest-neighbour rule takes.
pub const KNN_NEIGHBOUR: usize = 10;
/// Points whose neighbour distance the rule measures (evenly strided through larger sets),
/// each against every point: the rule's cost is at most this many times `n d`.
pub const KNN_QUERIES: usize = 512;

/// How a bandwidth is chosen.
///
/// Scott's and Silverman's rules scale an isotropic spread `σ = sqrt(mean over coordinates
/// of the sample variance)` (the kernel is isotropic, so one σ for all coordinates;
/// standardise data whose features differ in scale):
/// - Scott: `h = σ n^(-1/(d+4))`;
/// - Silverman: `h = σ (4 / ((d + 2) n))^(1/(d+4))`.
///
/// Both are optimal for Gaussian data as `n` grows, and both fall below the typical gap
/// between points once the dimension is more than a few: the 600 standardised points of
/// `data/clusters30.csv` (30-D) lie 2.9 from their 10th neighbour, and Scott's rule gives
/// 0.83. A kernel that narrow is a
/// set of isolated spikes, and particles between them see no data at all (`D* = 0`, the flow
/// stalls). The nearest-neighbour rule measures the gaps themselves: the median, over the
/// points, of the distance to the [`KNN_NEIGHBOUR`]-th nearest other point, so that each
/// kernel reaches its neighbours. [`Bandwidth::Auto`], the default, takes the larger of the
/// two: Scott's wherever the points are dense enough for it (in the plane with 2000 points,
/// 49 times the neighbours' distance on the ring of eight Gaussians and twice it on a
/// Gaussian), the gaps' where they are not.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bandwidth {
    /// This value, whatever the points.
    Fixed(f64),
    /// Scott's rule.
    Scott,
    /// Silverman's rule.
    Silverman,
    /// The median distance to the [`KNN_NEIGHBOUR`]-th nearest neighbour.
    Knn,
    /// The larger of Scott's rule and the nearest-neighbour rule.
    Auto,
}

impl Bandwidth {
    /// The bandwidth for `points` (`what` names them in errors).
    pub fn compute(&self, what: &'static str, points: &Points) -> Result<f64> {
        let n = points.len() as f64;
        let d = points.dim() as f64;
        let factor = match *self {
            Bandwidth::Fixed(h) => return check_positive("bandwidth", h),
            Bandwidth::Knn => return knn_distance(what, points),
            Bandwidth::Auto => {
                let scott = Bandwidth::Scott.compute(what, points)?;
                return Ok(scott.max(knn_distance(what, points)?));
            }
            Bandwidth::Scott => n.powf_p(-1.0 / (d + 4.0)),
            Bandwidth::Silverman => (4.0 / ((d + 2.0) * n)).powf_p(1.0 / (d + 4.0)),
        };
        let var = points.variance();
        let sigma = (var.iter().sum::<f64>() / d).sqrt();
        if sigma > 0.0 && sigma.is_finite() {
            Ok(sigma * factor)
        } else {
            Err(Error::ZeroSpread {
                what,
                rule: if *self == Bandwidth::Scott {
                    "Scott"
                } else {
                    "Silverman"
                },
            })
        }
    }
}

/// The median over (at most [`KNN_QUERIES`] evenly strided) points of the distance to the
/// [`KNN_NEIGHBOUR`]-th nearest other point (the farthest other point in a smaller set).
/// Exact sums, in a fixed order: the same bits at any thread count.
fn knn_distance(what: &'static str, points: &Points) -> Result<f64> {
    let n = points.len();
    if n < 2 {
        return Err(Error::ZeroSpread {
            what,
            rule: "nearest-neighbour",
        });
    }
    let k = KNN_NEIGHBOUR.min(n - 1);
    let stride = n.div_ceil(KNN_QUERIES);
    let queries: Vec<usize> = (0..n).step_by(stride).collect();
    let mut kth: Vec<f64> = queries
        .par_iter()
        .map(|&i| {
            let x = points.row(i);
            // The k smallest squared distances to the other points, kept sorted.
            let mut nearest: Vec<f64> = Vec::with_capacity(k + 1);
            for j in (0..n).filter(|&j| j != i) {
                let r2 = dist2(x, points.row(j));
                if nearest.len() < k || r2 < nearest[k - 1] {
                    let at = nearest.partition_point(|&v| v <= r2);
                    nearest.insert(at, r2);
                    nearest.truncate(k);
                }
            }
            nearest[k - 1]
        })
        .collect();
    kth.sort_by(f64::total_cmp);
    let m = kth.len();
    let median2 = if m % 2 == 1 {
        kth[m / 2]
    } else {
        0.5 * (kth[m / 2 - 1] + kth[m / 2])
    };
    let h = median2.sqrt();
    if h > 0.0 && h.is_finite() {
        Ok(h)
    } else {
        Err(Error::ZeroSpread {
            what,
            rule: "nearest-neighbour",
        })
    }
}

/// Which points a rule reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BandwidthFrom {
    /// The data samples (fixed for the whole run).
    Data,
    /// The current particles.
    Particles,
}

/// A bandwidth for one of the two densities (`P_g` or `P_data`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandwidthSpec {
    /// The rule.
    pub rule: Bandwidth,
    /// The points the rule reads.
    pub from: BandwidthFrom,
    /// Recompute every step (only meaningful with `from: Particles`); otherwise computed
    /// once, at the start of the run.
    pub every_step: bool,
}

impl Default for BandwidthSpec {
    /// The larger of Scott's and the nearest-neighbour rule, on the data, computed once. With
    /// this default for both densities, `g` and `q` share one bandwidth, so `D* = 1/2`
    /// exactly when the particles equal the data.
    fn default() -> Self {
        Self {
            rule: Bandwidth::Auto,
            from: BandwidthFrom::Data,
            every_step: false,
        }
    }
}

impl BandwidthSpec {
    /// A fixed bandwidth.
    pub fn fixed(h: f64) -> Self {
        Self {
            rule: Bandwidth::Fixed(h),
            ..Self::default()
        }
    }

    /// The bandwidth given the current particles and the data.
    pub fn compute(&self, particles: &Points, data: &Points) -> Result<f64> {
        match self.from {
            BandwidthFrom::Data => self.rule.compute("data", data),
            BandwidthFrom::Particles => self.rule.compute("particles", particles),
        }
    }

    /// Whether the value can change from step to step.
    pub fn varies(&self) -> bool {
        self.every_step
            && self.from == BandwidthFrom::Particles
            && !matches!(self.rule, Bandwidth::Fixed(_))
    }
}
