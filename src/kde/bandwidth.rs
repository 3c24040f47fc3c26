//! Kernel bandwidths: fixed, or Scott's and Silverman's rules of thumb.

use crate::error::{Error, Result, check_positive};
use crate::num::Portable;
use crate::points::Points;

/// How a bandwidth is chosen.
///
/// Both rules scale an isotropic spread `σ = sqrt(mean over coordinates of the sample
/// variance)` (the kernel is isotropic, so one σ for all coordinates; standardise data whose
/// features differ in scale):
/// - Scott: `h = σ n^(-1/(d+4))`;
/// - Silverman: `h = σ (4 / ((d + 2) n))^(1/(d+4))`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bandwidth {
    /// This value, whatever the points.
    Fixed(f64),
    /// Scott's rule.
    Scott,
    /// Silverman's rule.
    Silverman,
}

impl Bandwidth {
    /// The bandwidth for `points` (`what` names them in errors).
    pub fn compute(&self, what: &'static str, points: &Points) -> Result<f64> {
        let n = points.len() as f64;
        let d = points.dim() as f64;
        let factor = match *self {
            Bandwidth::Fixed(h) => return check_positive("bandwidth", h),
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
    /// Scott's rule on the data, computed once. With this default for both densities, `g`
    /// and `q` share one bandwidth, so `D* = 1/2` exactly when the particles equal the data.
    fn default() -> Self {
        Self {
            rule: Bandwidth::Scott,
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
