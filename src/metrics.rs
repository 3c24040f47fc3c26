//! Diagnostics of the flow (docs/theory.md section 4) and sample-quality yardsticks (Wasserstein,
//! MMD, mode coverage, memorisation).

use rand::Rng;
use rand::seq::index::sample as sample_indices;
use rand_distr::StandardNormal;

use crate::datasets::rng;
use crate::error::{Error, Result};
use crate::flow::velocity::{DataSide, Field};
use crate::kde::{sigmoid, softplus};
use crate::num::Portable;
use crate::points::Points;

/// One record of diagnostics. Sums are taken sequentially, so values are identical at any
/// thread count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Diagnostics {
    /// JSD estimate `E / 2`, in nats: at most `ln 2`. It is a sample average of log-ratios of
    /// kernel estimates, not the JSD of two densities, so near equilibrium it can dip a
    /// little below 0 (measured: -0.004 with 2000 points in 128-D).
    pub jsd: f64,
    /// The discrete energy `E` of docs/theory.md section 3 (a KDE-regularised `2 JSD`).
    pub energy: f64,
    /// `||A||² ≈ (1/N) Σ_i |A(x_i)|²`, the Otto-metric norm of the connection.
    pub connection_norm2: f64,
    /// Mean of `D*` over the particles (-> 1/2 at equilibrium).
    pub mean_dstar_particles: f64,
    /// Mean of `D*` over the data (-> 1/2 at equilibrium).
    pub mean_dstar_data: f64,
    /// Largest particle speed `max_i |v_i|`.
    pub max_speed: f64,
}

/// `||A||²` from a field.
pub fn connection_norm2(field: &Field) -> f64 {
    let n = field.dstar.len() as f64;
    field.connection.iter().map(|a| a * a).sum::<f64>() / n
}

/// The energy `E = (1/N) Σ_i ln(2g/(g+q))(x_i) + (1/M) Σ_j ln(2q/(g+q))(y_j)`, in log space:
/// `ln(2g/(g+q)) = ln 2 - softplus(log q - log g)`.
pub fn energy(field: &Field, data: &DataSide) -> f64 {
    let ln2 = std::f64::consts::LN_2;
    let particles = field
        .log_g
        .iter()
        .zip(&field.log_q)
        .map(|(g, q)| ln2 - softplus(q - g))
        .sum::<f64>()
        / field.log_g.len() as f64;
    let data_part = data
        .log_g
        .iter()
        .zip(&data.log_q)
        .map(|(g, q)| ln2 - softplus(g - q))
        .sum::<f64>()
        / data.log_g.len() as f64;
    particles + data_part
}

/// All diagnostics of one state.
pub fn diagnostics(field: &Field, data: &DataSide, dim: usize) -> Diagnostics {
    let e = energy(field, data);
    let max_speed = field
        .velocity
        .chunks_exact(dim)
        .map(|v| v.iter().map(|a| a * a).sum::<f64>().sqrt())
        .fold(0.0, f64::max);
    let mean_dstar_data = data
        .log_g
        .iter()
        .zip(&data.log_q)
        .map(|(g, q)| sigmoid(q - g))
        .sum::<f64>()
        / data.log_g.len() as f64;
    Diagnostics {
        jsd: e / 2.0,
        energy: e,
        connection_norm2: connection_norm2(field),
        mean_dstar_particles: field.dstar.iter().sum::<f64>() / field.dstar.len() as f64,
        mean_dstar_data,
        max_speed,
    }
}

// ---------------------------------------------------------------------------------------
// Sample-quality yardsticks: Wasserstein, MMD, mode coverage, memorisation.

/// A stalled flow: most particles see a discriminator that has made up its mind, and the
/// connection is negligible, so nothing moves although the sets differ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stall {
    /// Share of the particles with `D* <` [`STALL_DSTAR`]: they see no data.
    pub unseen: f64,
    /// Share with `D* > 1 -` [`STALL_DSTAR`]: they see data but hardly each other.
    pub swamped: f64,
}

/// `D*` this close to 0 or 1 counts as made up.
pub const STALL_DSTAR: f64 = 0.01;
/// The share of particles that must see such a `D*`.
pub const STALL_SHARE: f64 = 0.9;
/// `||A||² h_g²` below this is negligible: a particle then moves less than 10⁻³ bandwidths
/// per unit of time.
pub const STALL_CONNECTION: f64 = 1e-6;

/// Whether the flow at `field` (particle bandwidth `h_g`) has stalled.
pub fn stall(field: &Field, h_g: f64) -> Option<Stall> {
    let n = field.dstar.len() as f64;
    let unseen = field.dstar.iter().filter(|d| **d < STALL_DSTAR).count() as f64 / n;
    let swamped = field
        .dstar
        .iter()
        .filter(|d| **d > 1.0 - STALL_DSTAR)
        .count() as f64
        / n;
    (unseen + swamped >= STALL_SHARE && connection_norm2(field) * h_g * h_g < STALL_CONNECTION)
        .then_some(Stall { unseen, swamped })
}

/// Exact W2 between two 1-D empirical distributions (any sizes): the L2 distance of their
/// quantile functions. Sorts both slices.
pub fn w2_1d(a: &mut [f64], b: &mut [f64]) -> f64 {
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut u, mut total) = (0usize, 0usize, 0.0f64, 0.0f64);
    while i < a.len() && j < b.len() {
        let next = ((i + 1) as f64 / n).min((j + 1) as f64 / m);
        total += (a[i] - b[j]).powi(2) * (next - u);
        u = next;
        if (i + 1) as f64 / n <= next {
            i += 1;
        }
        if (j + 1) as f64 / m <= next {
            j += 1;
        }
    }
    total.max(0.0).sqrt()
}

/// Sliced Wasserstein-2 distance: `sqrt(mean over L directions of W2²(projections))`, the
/// directions uniform on the sphere and drawn from `seed`; exact W2 in 1-D.
pub fn sliced_w2(a: &Points, b: &Points, directions: usize, seed: u64) -> Result<f64> {
    a.check_same_dim("second set", b)?;
    let d = a.dim();
    let project = |p: &Points, dir: &[f64]| -> Vec<f64> {
        p.rows()
            .map(|x| x.iter().zip(dir).map(|(u, v)| u * v).sum())
            .collect()
    };
    if d == 1 {
        return Ok(w2_1d(
            &mut a.as_slice().to_vec(),
            &mut b.as_slice().to_vec(),
        ));
    }
    let mut r = rng(seed);
    let mut sum = 0.0;
    let l = directions.max(1);
    for _ in 0..l {
        let mut dir: Vec<f64> = (0..d).map(|_| r.sample(StandardNormal)).collect();
        let norm = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
        dir.iter_mut().for_each(|v| *v /= norm);
        sum += w2_1d(&mut project(a, &dir), &mut project(b, &dir)).powi(2);
    }
    Ok((sum / l as f64).sqrt())
}

/// At most `max` rows of `p`, chosen without replacement from `seed` (all rows when fewer).
pub fn subsample(p: &Points, max: usize, seed: u64) -> Points {
    if p.len() <= max {
        return p.clone();
    }
    let mut idx = sample_indices(&mut rng(seed), p.len(), max).into_vec();
    idx.sort_unstable();
    p.select(&idx)
}

/// Median of the pairwise distances of `p` (the "median heuristic" kernel width).
pub fn median_distance(p: &Points) -> f64 {
    let mut d: Vec<f64> = Vec::with_capacity(p.len() * (p.len().saturating_sub(1)) / 2);
    for i in 0..p.len() {
        for j in i + 1..p.len() {
            d.push(crate::kde::dist2(p.row(i), p.row(j)).sqrt());
        }
    }
    if d.is_empty() {
        return 0.0;
    }
    let mid = d.len() / 2;
    *d.select_nth_unstable_by(mid, f64::total_cmp).1
}

/// Unbiased MMD² between `a` and `b` with the Gaussian kernel `exp(-|x-y|²/(2σ²))`
/// (Gretton et al. 2012, eq. 3): the within-set sums leave out the diagonal, so two samples
/// of one distribution give values scattered around 0 (negative ones included).
pub fn mmd2_unbiased(a: &Points, b: &Points, sigma: f64) -> Result<f64> {
    a.check_same_dim("second set", b)?;
    crate::error::check_positive("MMD kernel width", sigma)?;
    if a.len() < 2 || b.len() < 2 {
        return Err(Error::OutOfRange {
            what: "MMD sample size",
            expected: "at least 2 points in each set",
            value: a.len().min(b.len()) as f64,
        });
    }
    let inv = 0.5 / (sigma * sigma);
    let k = |x: &[f64], y: &[f64]| (-crate::kde::dist2(x, y) * inv).exp_p();
    let within = |p: &Points| {
        let mut s = 0.0;
        for i in 0..p.len() {
            for j in i + 1..p.len() {
                s += k(p.row(i), p.row(j));
            }
        }
        2.0 * s / (p.len() * (p.len() - 1)) as f64
    };
    let mut cross = 0.0;
    for x in a.rows() {
        for y in b.rows() {
            cross += k(x, y);
        }
    }
    Ok(within(a) + within(b) - 2.0 * cross / (a.len() * b.len()) as f64)
}

/// Known mode centres of a mixture target and their common standard deviation.
#[derive(Clone, Debug, PartialEq)]
pub struct Modes {
    /// One centre per mode.
    pub centers: Points,
    /// Standard deviation of each mode.
    pub std: f64,
}

/// Mode coverage as VEEGAN's and PacGAN's code compute it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModeCoverage {
    /// Modes with at least one high-quality sample assigned to them.
    pub covered: usize,
    /// Fraction of samples within 3 standard deviations of their nearest centre.
    pub high_quality: f64,
    /// `KL(h || uniform)` of the histogram `h` of high-quality samples over the modes (PacGAN);
    /// `None` when there is no high-quality sample.
    pub reverse_kl: Option<f64>,
}

/// Assigns each sample to its nearest centre; it is high quality within `3 std` of it; a
/// mode is covered when a high-quality sample is assigned to it.
pub fn mode_coverage(samples: &Points, modes: &Modes) -> Result<ModeCoverage> {
    modes.centers.check_same_dim("samples", samples)?;
    let k = modes.centers.len();
    let mut counts = vec![0usize; k];
    let limit2 = (3.0 * modes.std).powi(2);
    for x in samples.rows() {
        let (best, d2) = modes
            .centers
            .rows()
            .map(|c| crate::kde::dist2(c, x))
            .enumerate()
            .fold(
                (0, f64::INFINITY),
                |a, (i, d)| if d < a.1 { (i, d) } else { a },
            );
        if d2 <= limit2 {
            counts[best] += 1;
        }
    }
    let hq: usize = counts.iter().sum();
    let reverse_kl = (hq > 0).then(|| {
        counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / hq as f64;
                p * (p * k as f64).ln_p()
            })
            .sum()
    });
    Ok(ModeCoverage {
        covered: counts.iter().filter(|&&c| c > 0).count(),
        high_quality: hq as f64 / samples.len() as f64,
        reverse_kl,
    })
}

/// Memorisation: for each particle, the distance to its nearest data point divided by that
/// data point's distance to its own nearest other data point; the median over particles.
/// Near 0: particles sit on training points (copying them); around 1 or more: they fill in
/// between. Data points with an exact duplicate (ratio undefined) are left out.
pub fn memorization(particles: &Points, data: &Points) -> Result<f64> {
    memorization_with_spacing(particles, data, &data_spacing(data)?)
}

/// Each data point's nearest other data point and squared distance to it: the denominator
/// of [`memorization`], fixed for a run.
pub fn data_spacing(data: &Points) -> Result<Vec<(usize, f64)>> {
    crate::kde::kdtree::nearest(data, data, true)
}

/// [`memorization`] with the data's spacing computed once ([`data_spacing`]).
pub fn memorization_with_spacing(
    particles: &Points,
    data: &Points,
    spacing: &[(usize, f64)],
) -> Result<f64> {
    let to_data = crate::kde::kdtree::nearest(data, particles, false)?;
    let mut ratios: Vec<f64> = to_data
        .iter()
        .filter_map(|&(j, d2)| {
            let s2 = spacing[j].1;
            (s2 > 0.0).then(|| (d2 / s2).sqrt())
        })
        .collect();
    if ratios.is_empty() {
        return Err(Error::OutOfRange {
            what: "memorisation ratio",
            expected: "data with distinct points",
            value: f64::NAN,
        });
    }
    let mid = ratios.len() / 2;
    Ok(*ratios.select_nth_unstable_by(mid, f64::total_cmp).1)
}

/// Column names of the optional metrics, in the order they are written.
pub const OPTIONAL_METRICS: [&str; 7] = [
    "sliced_w2",
    "mmd2",
    "modes_covered",
    "high_quality",
    "modes_reverse_kl",
    "memorization",
    "dissipation_residual",
];

/// The name, in a metrics list, that asks the run's summary to compare the measured decay
/// rate with the linearised flow's slowest rate (not a column).
pub const SPECTRUM_SUMMARY: &str = "spectrum";

/// The optional metrics that need known mode centres.
pub const MODE_METRICS: [&str; 3] = ["modes_covered", "high_quality", "modes_reverse_kl"];

/// Which optional metrics a run computes, and their parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSpec {
    /// Chosen column names (a subset of [`OPTIONAL_METRICS`], in its order).
    pub columns: Vec<&'static str>,
    /// Mode centres, for the three mode columns.
    pub modes: Option<Modes>,
    /// Random directions of the sliced W2.
    pub directions: usize,
    /// Largest subsample per set for MMD² (its cost is quadratic).
    pub mmd_max_points: usize,
    /// Seed of directions and subsamples.
    pub seed: u64,
}

impl MetricsSpec {
    /// From `all` or a comma-separated list of column names. With `all`, the mode columns are
    /// included only when `modes` are known; naming one without modes is an error.
    pub fn parse(list: &str, modes: Option<Modes>, seed: u64) -> Result<Self> {
        let mode_cols = MODE_METRICS;
        let mut wanted: Vec<&str> = Vec::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if name == SPECTRUM_SUMMARY {
                // Not a column: the run's summary compares rates with the spectrum.
                continue;
            }
            if name == "all" {
                wanted.extend(
                    OPTIONAL_METRICS
                        .iter()
                        .filter(|c| modes.is_some() || !mode_cols.contains(c)),
                );
            } else if OPTIONAL_METRICS.contains(&name) {
                if modes.is_none() && mode_cols.contains(&name) {
                    return Err(Error::MissingInput {
                        what: format!("metric {name}"),
                        needs: "known mode centres (a mixture target, or centres given)",
                    });
                }
                wanted.push(name);
            } else {
                return Err(Error::UnknownName {
                    what: "metric",
                    name: name.to_string(),
                    expected: format!(
                        "all, {SPECTRUM_SUMMARY}, or some of {}",
                        OPTIONAL_METRICS.join(", ")
                    ),
                });
            }
        }
        Ok(Self {
            columns: OPTIONAL_METRICS
                .iter()
                .copied()
                .filter(|c| wanted.contains(c))
                .collect(),
            modes,
            directions: 50,
            mmd_max_points: 1000,
            seed,
        })
    }
}

/// Computes the optional metrics at each observation; keeps what the finite difference of
/// the dissipation residual needs, the data's nearest-neighbour spacing (for the
/// memorisation ratio, computed once) and the MMD's kernel width (the median pairwise distance
/// of the data subsample, fixed for the run so that values are comparable over time).
pub struct MetricsTracker {
    spec: MetricsSpec,
    data_sub: Option<Points>,
    mmd_sigma: f64,
    spacing: Option<Vec<(usize, f64)>>,
    previous: Option<DissipationPoint>,
}

/// The connection norm at one observation: what the local decay rate needs from the
/// previous one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecayPoint {
    /// Time.
    pub t: f64,
    /// `||A||²`.
    pub connection_norm2: f64,
}

/// The local decay rate between two observations, `-(1/2) d ln ||A||² / dt`: near an
/// equilibrium `A` decays like its slowest mode, so this tends to that mode's rate (the
/// linearised flow's). `None` when undefined (no earlier observation, no time between them,
/// or a norm that is not positive).
pub fn decay_rate(previous: Option<DecayPoint>, now: DecayPoint) -> Option<f64> {
    let p = previous?;
    (now.t > p.t && p.connection_norm2 > 0.0 && now.connection_norm2 > 0.0)
        .then(|| -0.5 * (now.connection_norm2.ln_p() - p.connection_norm2.ln_p()) / (now.t - p.t))
}

/// The mean decay rate over a window of recorded points: [`decay_rate`] between the points
/// recorded nearest to `t0` and to `t1`, with their times. `None` when undefined there.
pub fn decay_rate_over(history: &[DecayPoint], t0: f64, t1: f64) -> Option<(f64, f64, f64)> {
    let near = |t: f64| {
        history
            .iter()
            .min_by(|a, b| (a.t - t).abs().total_cmp(&(b.t - t).abs()))
            .copied()
    };
    let (a, b) = (near(t0)?, near(t1)?);
    decay_rate(Some(a), b).map(|r| (r, a.t, b.t))
}

/// What the dissipation residual keeps from one observation to the next: the time, the
/// energy and the dissipation rate there. It is all the state a [`MetricsTracker`] carries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DissipationPoint {
    /// Time.
    pub t: f64,
    /// Energy `E`.
    pub energy: f64,
    /// Dissipation rate.
    pub rate: f64,
}

impl MetricsTracker {
    /// Prepares for `data`.
    pub fn new(spec: MetricsSpec, data: &Points) -> Result<Self> {
        let (data_sub, mmd_sigma) = if spec.columns.contains(&"mmd2") {
            let sub = subsample(data, spec.mmd_max_points, spec.seed);
            let sigma = median_distance(&sub);
            crate::error::check_positive("MMD kernel width (median data distance)", sigma)?;
            (Some(sub), sigma)
        } else {
            (None, 0.0)
        };
        let spacing = if spec.columns.contains(&"memorization") {
            Some(data_spacing(data)?)
        } else {
            None
        };
        Ok(Self {
            spec,
            data_sub,
            mmd_sigma,
            spacing,
            previous: None,
        })
    }

    /// The state carried between observations (for checkpoints).
    pub fn previous(&self) -> Option<DissipationPoint> {
        self.previous
    }

    /// Restores [`MetricsTracker::previous`] (a resumed run).
    pub fn set_previous(&mut self, p: Option<DissipationPoint>) {
        self.previous = p;
    }

    /// The columns computed.
    pub fn columns(&self) -> &[&'static str] {
        &self.spec.columns
    }

    /// Values for the columns at one observation (`None`: undefined here, e.g. the
    /// dissipation residual at the first observation). `rate` is the dissipation rate the
    /// energy should follow: `||A||²` for the plug-in scheme, `(1/N) Σ |v|²` for the
    /// variational one.
    pub fn compute(
        &mut self,
        particles: &Points,
        data: &Points,
        t: f64,
        energy: f64,
        rate: f64,
    ) -> Result<Vec<Option<f64>>> {
        let coverage = match &self.spec.modes {
            Some(m) if self.spec.columns.iter().any(|c| MODE_METRICS.contains(c)) => {
                Some(mode_coverage(particles, m)?)
            }
            _ => None,
        };
        let mut out = Vec::with_capacity(self.spec.columns.len());
        for &c in &self.spec.columns {
            out.push(match c {
                "sliced_w2" => Some(sliced_w2(
                    particles,
                    data,
                    self.spec.directions,
                    self.spec.seed,
                )?),
                "mmd2" => {
                    let sub = subsample(particles, self.spec.mmd_max_points, self.spec.seed ^ 1);
                    let data_sub = self.data_sub.as_ref().expect("made for mmd2");
                    Some(mmd2_unbiased(&sub, data_sub, self.mmd_sigma)?)
                }
                "modes_covered" => coverage.map(|c| c.covered as f64),
                "high_quality" => coverage.map(|c| c.high_quality),
                "modes_reverse_kl" => coverage.and_then(|c| c.reverse_kl),
                "memorization" => {
                    let spacing = self.spacing.as_ref().expect("made for memorization");
                    Some(memorization_with_spacing(particles, data, spacing)?)
                }
                "dissipation_residual" => {
                    let r = self.previous.and_then(|p| {
                        (t > p.t).then(|| (energy - p.energy) / (t - p.t) + 0.5 * (rate + p.rate))
                    });
                    self.previous = Some(DissipationPoint { t, energy, rate });
                    r
                }
                _ => unreachable!("columns are checked by MetricsSpec::parse"),
            });
        }
        Ok(out)
    }
}
