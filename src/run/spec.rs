//! One resolved run specification: everything that decides a run's results, and nothing
//! else (where it writes, how many threads, how often it checkpoints are [`RunOptions`] of
//! the driver, not part of it).
//!
//! It is merged once, from the defaults, a configuration file and the command line, in that
//! order ([`RunSpec::merge`]); `run.toml` is its serialisation, with the keys spelled as the
//! long options (`bandwidth-g`, `data-density`). Values that have a name are typed: a
//! bandwidth is a [`BandwidthSpec`], an annealing schedule an [`Anneal`], a start a
//! [`Start`]. [`RunSpec::check`] tests every rule and names the option it breaks.
//!
//! [`RunOptions`]: super::RunOptions

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::datasets::{BUILTIN_NAMES, Builtin};
use crate::error::{Error, Result};
use crate::flow::integrate::Integrator;
use crate::flow::sim::{Anneal, FlowConfig, StopRule};
use crate::flow::velocity::{Loss, Scheme};
use crate::game::{Family, GameConfig, Penalty, Updates};
use crate::kde::{Bandwidth, BandwidthFrom, BandwidthSpec, Estimator};
use crate::metrics::{OPTIONAL_METRICS, SPECTRUM_SUMMARY};

pub use super::spec_file::RunStatus;
use super::spec_file::{self, Command, Specification, option_error, positive};

/// The velocity scheme, as named on the command line and in `run.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemeName {
    /// v = w(D*) (grad log q - grad log g)
    Plugin,
    /// the exact particle gradient flow of the discrete energy
    Variational,
}

/// The generator loss, as named on the command line and in `run.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossName {
    /// weight D* (the paper's flow)
    Minimax,
    /// weight 1 - D*
    NonSaturating,
    /// weight 2 D* (1 - D*)^2
    LeastSquares,
    /// weight 1 (Fokker-Planck reference)
    Kl,
}

/// The integrator, as named on the command line and in `run.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntegratorName {
    /// x += dt v
    Euler,
    /// second order, two evaluations per step
    Heun,
}

/// The density estimator, as named on the command line and in `run.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EstimatorName {
    /// grid in 1-D from 2000 samples and in 2-D from 20000; exact otherwise
    Auto,
    /// brute force
    Exact,
    /// k-d tree with relative tolerance --tol; up to 3-D its nodes carry Taylor moments, so
    /// that a query far from the data costs a bounded amount (exact above d = 12)
    Kdtree,
    /// binned sums on a grid with a per-query bound, relative tolerance --tol (d <= 2; the
    /// k-d tree above, and for the queries the grid cannot certify)
    Grid,
}

impl EstimatorName {
    /// The estimator this names, with relative tolerance `tol` where it takes one.
    pub fn with_tol(self, tol: f64) -> Estimator {
        match self {
            EstimatorName::Auto => Estimator::Auto { tol },
            EstimatorName::Exact => Estimator::Exact,
            EstimatorName::Kdtree => Estimator::KdTree { tol },
            EstimatorName::Grid => Estimator::Grid { tol },
        }
    }
}

/// Where the target's density comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataDensity {
    /// kernel density estimate of the data samples
    Kde,
    /// the built-in target's closed-form density (Gaussian targets and mixtures only)
    Exact,
}

/// The starting particles: a built-in distribution (its name) or a CSV file.
#[derive(Clone, Debug, PartialEq)]
pub enum Start {
    /// A built-in, by name (`gaussian`, `uniform`, ...).
    Builtin(String),
    /// Particles read from a CSV file.
    File(PathBuf),
}

impl FromStr for Start {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(if BUILTIN_NAMES.contains(&s) {
            Start::Builtin(s.to_string())
        } else {
            Start::File(PathBuf::from(s))
        })
    }
}

impl fmt::Display for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Start::Builtin(name) => f.write_str(name),
            Start::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The coordinates a flow runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coordinates {
    /// The data's own.
    Data,
    /// Each feature centred and scaled to unit standard deviation.
    Standardized,
    /// Whitened: the data's covariance becomes the identity.
    Whitened,
}

/// A bandwidth as written on the command line: a rule (`auto`, `scott`, `silverman`, `knn`),
/// a rule on the particles (`RULE:particles`), or a number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandwidthText(pub BandwidthSpec);

impl FromStr for BandwidthText {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (rule, from) = match s.split_once(':') {
            Some((r, "particles")) => (r, BandwidthFrom::Particles),
            Some(_) => return Err(format!("expected RULE or RULE:particles, got {s:?}")),
            None => (s, BandwidthFrom::Data),
        };
        let rule = match rule {
            "scott" => Bandwidth::Scott,
            "silverman" => Bandwidth::Silverman,
            "knn" => Bandwidth::Knn,
            "auto" => Bandwidth::Auto,
            v if from == BandwidthFrom::Data => {
                let h: f64 = v.parse().map_err(|_| {
                    format!("expected auto, scott, silverman, knn, RULE:particles or a number, got {s:?}")
                })?;
                if !(h > 0.0 && h.is_finite()) {
                    return Err(format!("a fixed bandwidth must be > 0 and finite, got {s}"));
                }
                Bandwidth::Fixed(h)
            }
            _ => {
                return Err(format!(
                    "a fixed bandwidth takes no ':particles', got {s:?}"
                ));
            }
        };
        Ok(Self(BandwidthSpec {
            rule,
            from,
            every_step: from == BandwidthFrom::Particles,
        }))
    }
}

impl fmt::Display for BandwidthText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = match self.0.rule {
            Bandwidth::Fixed(h) => return write!(f, "{h}"),
            Bandwidth::Scott => "scott",
            Bandwidth::Silverman => "silverman",
            Bandwidth::Knn => "knn",
            Bandwidth::Auto => "auto",
        };
        match self.0.from {
            BandwidthFrom::Data => f.write_str(rule),
            BandwidthFrom::Particles => write!(f, "{rule}:particles"),
        }
    }
}

/// An annealing schedule as written on the command line: `FACTOR:STEPS`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnnealText(pub Anneal);

impl FromStr for AnnealText {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("expected FACTOR:STEPS (e.g. 4:100), got {s:?}");
        let (f, n) = s.split_once(':').ok_or_else(bad)?;
        let factor: f64 = f.trim().parse().map_err(|_| bad())?;
        let steps: u64 = n.trim().parse().map_err(|_| bad())?;
        if !(factor >= 1.0 && factor.is_finite()) || steps == 0 {
            return Err(format!(
                "FACTOR must be finite and at least 1 and STEPS at least 1, got {s:?}"
            ));
        }
        Ok(Self(Anneal { factor, steps }))
    }
}

impl fmt::Display for AnnealText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0.factor, self.0.steps)
    }
}

/// The time step: a number, a multiple of the particles' squared bandwidth (`0.6h^2`), or
/// `auto` (adaptive, to `--dt-tol`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeStep {
    /// This step, every step.
    Fixed(f64),
    /// This multiple of `h_g²`, with `h_g` the particles' bandwidth at the start (before any
    /// annealing): the flow's own time scale, since its velocities are score differences of
    /// size (distance) / h², and its stable step grows as h². [`RunSpec::resolve_time_step`]
    /// turns it into a fixed step once the inputs are loaded.
    PerBandwidth(f64),
    /// Adaptive: Heun with an embedded Euler error estimate.
    Auto,
}

/// The default time step, in squared particle bandwidths: 0.6 h² is 0.1 at the 2-D demo's
/// bandwidth of 0.4, the step its flows were tuned with, and 5 at the bandwidth of 3 that
/// 600 points need in 30-D.
pub const DEFAULT_STEP_PER_H2: f64 = 0.6;

/// The first step an adaptive run tries (the controller doubles it at most per step).
pub const AUTO_FIRST_STEP: f64 = 0.01;

impl FromStr for TimeStep {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "auto" {
            return Ok(TimeStep::Auto);
        }
        let (number, per_h2) = match s.strip_suffix("h^2") {
            Some(c) => (c, true),
            None => (s, false),
        };
        let dt: f64 = number
            .parse()
            .map_err(|_| format!("expected a number, NUMBERh^2 or auto, got {s:?}"))?;
        if dt > 0.0 && dt.is_finite() {
            Ok(if per_h2 {
                TimeStep::PerBandwidth(dt)
            } else {
                TimeStep::Fixed(dt)
            })
        } else {
            Err(format!("must be > 0 and finite, got {dt}"))
        }
    }
}

impl fmt::Display for TimeStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeStep::Fixed(dt) => write!(f, "{dt}"),
            TimeStep::PerBandwidth(c) => write!(f, "{c}h^2"),
            TimeStep::Auto => f.write_str("auto"),
        }
    }
}

impl TimeStep {
    /// The step, or the first step tried when adaptive. A step per squared bandwidth not
    /// yet resolved ([`RunSpec::resolve_time_step`]) counts as its multiple of h = 1.
    pub fn first(&self) -> f64 {
        match self {
            TimeStep::Fixed(dt) | TimeStep::PerBandwidth(dt) => *dt,
            TimeStep::Auto => AUTO_FIRST_STEP,
        }
    }
}

/// The discriminator, as named on the command line: `optimal`, `linear`, `quadratic`,
/// `rff:K` or `mlp:W`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscriminatorKind {
    /// `D*` from the two kernel density estimates: the optimal-discriminator flow.
    Optimal,
    /// `f = w.x + b`.
    Linear,
    /// `f = x'Ax + w.x + b`.
    Quadratic,
    /// `K` random Fourier features.
    Rff(usize),
    /// One hidden layer of `W` tanh units.
    Mlp(usize),
}

impl FromStr for DiscriminatorKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("expected optimal, linear, quadratic, rff:K or mlp:W, got {s:?}");
        let count = |v: &str| -> std::result::Result<usize, String> {
            match v.trim().parse::<usize>() {
                Ok(k) if k >= 1 => Ok(k),
                _ => Err(format!(
                    "{s:?}: the size after ':' must be a whole number of at least 1"
                )),
            }
        };
        match s.split_once(':') {
            None => match s {
                "optimal" => Ok(Self::Optimal),
                "linear" => Ok(Self::Linear),
                "quadratic" => Ok(Self::Quadratic),
                _ => Err(bad()),
            },
            Some(("rff", k)) => Ok(Self::Rff(count(k)?)),
            Some(("mlp", w)) => Ok(Self::Mlp(count(w)?)),
            Some(_) => Err(bad()),
        }
    }
}

impl fmt::Display for DiscriminatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Optimal => f.write_str("optimal"),
            Self::Linear => f.write_str("linear"),
            Self::Quadratic => f.write_str("quadratic"),
            Self::Rff(k) => write!(f, "rff:{k}"),
            Self::Mlp(w) => write!(f, "mlp:{w}"),
        }
    }
}

/// Where a learning discriminator starts: `zeros`, or the parameters in a CSV file.
#[derive(Clone, Debug, PartialEq)]
pub enum DiscInit {
    /// Every parameter 0 (an MLP's hidden layer drawn from the seed).
    Zeros,
    /// The last row of a CSV file: the parameters, or `step,t,p0,..` as
    /// `discriminator.csv` writes them.
    File(PathBuf),
}

impl FromStr for DiscInit {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(if s == "zeros" {
            Self::Zeros
        } else {
            Self::File(PathBuf::from(s))
        })
    }
}

impl fmt::Display for DiscInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zeros => f.write_str("zeros"),
            Self::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The discriminator's gradient penalty as written: `none`, `r1:GAMMA` or `r2:GAMMA`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PenaltyText(pub Penalty);

impl FromStr for PenaltyText {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("expected none, r1:GAMMA or r2:GAMMA, got {s:?}");
        if s == "none" {
            return Ok(Self(Penalty::None));
        }
        let (kind, g) = s.split_once(':').ok_or_else(bad)?;
        let gamma: f64 = g.trim().parse().map_err(|_| bad())?;
        if !(gamma > 0.0 && gamma.is_finite()) {
            return Err(format!("GAMMA must be > 0 and finite, got {s:?}"));
        }
        match kind {
            "r1" => Ok(Self(Penalty::R1(gamma))),
            "r2" => Ok(Self(Penalty::R2(gamma))),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for PenaltyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Penalty::None => f.write_str("none"),
            Penalty::R1(g) => write!(f, "r1:{g}"),
            Penalty::R2(g) => write!(f, "r2:{g}"),
        }
    }
}

/// The order of the players' updates, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdatesName {
    /// both players move from the same state
    Simultaneous,
    /// the discriminator's steps first, then the particles against it
    Alternating,
}

/// A comma-separated list of numbers (`3` or `1,-2`).
#[derive(Clone, Debug, PartialEq)]
pub struct NumberList(pub Vec<f64>);

impl FromStr for NumberList {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        parse_list::<f64>(s).map(Self)
    }
}

impl fmt::Display for NumberList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(f64::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

/// A comma-separated list option (`1000,3000`, `0,100,200`), each entry parsed as `T`; every
/// entry must parse, and the list must not be empty.
pub fn parse_list<T: FromStr>(s: &str) -> std::result::Result<Vec<T>, String> {
    let bad = || format!("expected a comma-separated list, got {s:?}");
    if s.trim().is_empty() {
        return Err(bad());
    }
    s.split(',')
        .map(|v| v.trim().parse::<T>().map_err(|_| bad()))
        .collect()
}

/// Serialises a value through its `Display` and reads it back through `FromStr`, so that a
/// typed field is written in `run.toml` exactly as on the command line.
pub(crate) mod text {
    use super::*;
    pub fn serialize<T: fmt::Display, S: serde::Serializer>(
        v: &T,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
    pub fn deserialize<'de, T, D>(d: D) -> std::result::Result<T, D::Error>
    where
        T: FromStr,
        T::Err: fmt::Display,
        D: serde::Deserializer<'de>,
    {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// [`text`] for optional values.
pub(crate) mod opt_text {
    use super::*;
    pub fn serialize<T: fmt::Display, S: serde::Serializer>(
        v: &Option<T>,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, T, D>(d: D) -> std::result::Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: fmt::Display,
        D: serde::Deserializer<'de>,
    {
        let s = String::deserialize(d)?;
        s.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

/// Everything that decides a run's results. Field docs are the command line's help; the
/// `run.toml` keys are the long options.
#[derive(Clone, Debug, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default, deny_unknown_fields)]
pub struct RunSpec {
    /// Built-in target (see `ganflow datasets`); ignored with --data.
    #[arg(long, default_value = "eight-gaussians")]
    pub target: String,
    /// Target samples from a CSV file (one point per row, optional header).
    #[arg(long, value_name = "FILE.csv")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// Density of the target: `kde` of the samples, or the built-in's closed form (`exact`,
    /// for gaussian, gaussian-mixture, eight- and twenty-five-gaussians).
    #[arg(long, value_enum, default_value = "kde")]
    pub data_density: DataDensity,
    /// Run on per-feature standardised coordinates (fitted on the data); every output is
    /// written back in the original units. The default with --data (unless --centers gives
    /// mode centres, which are in the data's units).
    #[arg(long)]
    pub standardize: bool,
    /// Run on the data's own coordinates, also with --data.
    #[arg(long, conflicts_with_all = ["standardize", "whiten"])]
    pub no_standardize: bool,
    /// Run on whitened coordinates (the data's covariance becomes the identity; a
    /// full-covariance kernel in the original units); outputs are written back in the
    /// original units. For correlated features.
    #[arg(long, conflicts_with = "standardize")]
    pub whiten: bool,
    /// Start: a built-in name (`gaussian`: N(0, I), or with --data a Gaussian with the data's
    /// per-feature mean and std; `uniform`: the box [-2, 2]^d, or with --data mean ± 2 std)
    /// or a CSV file of particles.
    #[arg(long, default_value = "gaussian")]
    #[serde(with = "text")]
    pub init: Start,
    /// Number of particles (when the start is a built-in).
    #[arg(long, default_value_t = 2000)]
    pub n: usize,
    /// Number of data samples drawn from a built-in target.
    #[arg(long, default_value_t = 2000)]
    pub m: usize,
    /// Dimension of the built-in gaussian, gaussian-mixture and uniform.
    #[arg(long, default_value_t = 2)]
    pub dim: usize,
    /// Mean of the gaussian target: one number for every coordinate or a comma-separated
    /// list [default: 3 on the first coordinate, 0 elsewhere].
    #[arg(long, allow_hyphen_values = true)]
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub mean: Option<NumberList>,
    /// Standard deviation of the gaussian target [default: 1] or of each gaussian-mixture
    /// component [default: 0.5].
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    /// Components of the gaussian-mixture target.
    #[arg(long, default_value_t = 4)]
    pub components: usize,
    /// Number of steps (ignored with --time).
    #[arg(long, default_value_t = 200)]
    pub steps: u64,
    /// Stop at this flow time instead of a step count (the last step is shortened to land
    /// on it).
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
    /// Also stop once the connection norm ||A||^2 falls below this.
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_tol: Option<f64>,
    /// Time step: a number (flow time units); `Ch^2`, C times the square of the particles'
    /// bandwidth at the start (the flow's own time scale; written into run.toml as the
    /// number it comes to); or `auto`: adaptive, Heun's method with the embedded Euler step
    /// as error estimate, kept within --dt-tol particle bandwidths per step.
    #[arg(long, default_value = "0.6h^2", allow_negative_numbers = true)]
    #[serde(with = "text")]
    pub dt: TimeStep,
    /// Tolerance of `--dt auto`: the largest local error of a step, in particle bandwidths.
    #[arg(long, default_value_t = 1e-3)]
    pub dt_tol: f64,
    /// Time integrator.
    #[arg(long, value_enum, default_value = "euler")]
    pub integrator: IntegratorName,
    /// Bandwidth annealing FACTOR:STEPS: both KDE bandwidths start FACTOR times larger and
    /// shrink geometrically to their rule's value over STEPS steps. For starts far from the
    /// data relative to the bandwidth (high dimension), where the flow would stall.
    #[arg(long, value_name = "FACTOR:STEPS")]
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub anneal: Option<AnnealText>,
    /// Velocity scheme.
    #[arg(long, value_enum, default_value = "plugin")]
    pub scheme: SchemeName,
    /// Generator loss (plug-in scheme; the variational scheme is minimax by construction).
    #[arg(long, value_enum, default_value = "minimax")]
    pub loss: LossName,
    /// Density estimator.
    #[arg(long, value_enum, default_value = "auto")]
    pub estimator: EstimatorName,
    /// Relative tolerance of the tree and grid estimators (density; score relative to
    /// |score| + 1/h), in (0, 1).
    #[arg(long, default_value_t = 1e-6, allow_negative_numbers = true)]
    pub tol: f64,
    /// Split the data's sums into K chunks, each with its own estimator, combined in a fixed
    /// order: for data too large for one process's sums; under `mpirun` the chunks are
    /// shared among the ranks. Results depend on K (in the last bits), never on the number
    /// of ranks.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub data_chunks: u64,
    /// Bandwidth of both densities, in the flow's coordinates: `auto` (the larger of Scott's
    /// rule and `knn`), `scott` or `silverman` (rules of thumb), `knn` (the median distance
    /// to the 10th nearest neighbour), each on the data and fixed for the run, or with
    /// `:particles` on the current particles, recomputed every step; or a number.
    #[arg(long, default_value = "auto", allow_negative_numbers = true)]
    #[serde(with = "text")]
    pub bandwidth: BandwidthText,
    /// Bandwidth of P_g (the particles' KDE) alone; same forms as --bandwidth.
    #[arg(long, allow_negative_numbers = true)]
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub bandwidth_g: Option<BandwidthText>,
    /// Bandwidth of P_data (the data's KDE) alone; same forms as --bandwidth.
    #[arg(long, allow_negative_numbers = true)]
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub bandwidth_q: Option<BandwidthText>,
    /// Record every K steps (and always the last).
    #[arg(long, default_value_t = 10)]
    pub every: u64,
    /// Add the velocity (v0..) and D* columns to trajectories.csv.
    #[arg(long)]
    pub record_velocity: bool,
    /// Optional metrics for metrics.csv: `all` or a comma-separated list of sliced_w2, mmd2,
    /// modes_covered, high_quality, modes_reverse_kl, memorization, dissipation_residual
    /// (computed in the flow's coordinates, standardised ones with --standardize); and
    /// `spectrum`: the summary compares the measured decay rate with the linearised flow's
    /// slowest rate (1-D targets).
    #[arg(long, value_name = "LIST")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// Mode centres for the mode metrics, one per row (CSV) [default: the built-in
    /// mixture's centres].
    #[arg(long, value_name = "FILE.csv")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centers: Option<PathBuf>,
    /// Standard deviation of each mode, with --centers (data units).
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub center_std: Option<f64>,
    /// Random seed of the built-in samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The discriminator: `optimal` (D* from the two density estimates: the flow of the
    /// paper), or one that learns: `linear`, `quadratic`, `rff:K` (K random Fourier features
    /// of a Gaussian kernel of length --disc-scale), `mlp:W` (one hidden layer of W tanh
    /// units). A learning one ascends E_data[ln D] + E_particles[ln(1 - D)] - penalty, and
    /// the particles move with w(D) grad f.
    #[arg(long, default_value = "optimal")]
    #[serde(with = "text")]
    pub discriminator: DiscriminatorKind,
    /// `linear` without its bias.
    #[arg(long)]
    pub disc_no_bias: bool,
    /// Length scale of `rff:K`'s kernel (in the flow's coordinates).
    #[arg(long, default_value_t = 1.0)]
    pub disc_scale: f64,
    /// The discriminator's learning rate.
    #[arg(long, default_value_t = 0.1)]
    pub disc_lr: f64,
    /// Discriminator steps per generator step.
    #[arg(long, default_value_t = 1)]
    pub disc_steps: usize,
    /// Where the discriminator starts: `zeros` or a CSV file (its last row: the parameters,
    /// or step,t,p0.. as discriminator.csv writes them).
    #[arg(long, default_value = "zeros", value_name = "zeros|FILE.csv")]
    #[serde(with = "text")]
    pub disc_init: DiscInit,
    /// Gradient penalty: `none`, `r1:GAMMA` ((GAMMA/2) E_data |grad_x f|^2) or `r2:GAMMA`
    /// (the same over the particles).
    #[arg(long, default_value = "none")]
    #[serde(with = "text")]
    pub penalty: PenaltyText,
    /// The order of the players' updates.
    #[arg(long, value_enum, default_value = "simultaneous")]
    pub updates: UpdatesName,
}

impl Default for RunSpec {
    /// The demo: 2000 particles from N(0, I) towards 2000 samples of the ring of 8 Gaussians.
    /// The command line's defaults are these (a test holds the two together).
    fn default() -> Self {
        Self {
            target: "eight-gaussians".into(),
            data: None,
            data_density: DataDensity::Kde,
            standardize: false,
            no_standardize: false,
            whiten: false,
            init: Start::Builtin("gaussian".into()),
            n: 2000,
            m: 2000,
            dim: 2,
            mean: None,
            std: None,
            components: 4,
            steps: 200,
            time: None,
            connection_tol: None,
            dt: TimeStep::PerBandwidth(DEFAULT_STEP_PER_H2),
            dt_tol: 1e-3,
            integrator: IntegratorName::Euler,
            anneal: None,
            scheme: SchemeName::Plugin,
            loss: LossName::Minimax,
            estimator: EstimatorName::Auto,
            tol: 1e-6,
            data_chunks: 1,
            bandwidth: BandwidthText(BandwidthSpec::default()),
            bandwidth_g: None,
            bandwidth_q: None,
            every: 10,
            record_velocity: false,
            metrics: None,
            centers: None,
            center_std: None,
            seed: 0,
            discriminator: DiscriminatorKind::Optimal,
            disc_no_bias: false,
            disc_scale: 1.0,
            disc_lr: 0.1,
            disc_steps: 1,
            disc_init: DiscInit::Zeros,
            penalty: PenaltyText(Penalty::None),
            updates: UpdatesName::Simultaneous,
        }
    }
}

impl RunSpec {
    /// Merges the defaults, a configuration file and the options given on the command line
    /// ([`spec_file::merge`]).
    pub fn merge(config: Option<(&Path, &str)>, given: toml::Table) -> Result<Self> {
        spec_file::merge(config, given)
    }

    /// Reads a run folder's `run.toml`: the specification and the status.
    pub fn read_run_toml(path: &Path) -> Result<(Self, RunStatus)> {
        spec_file::read(path)
    }

    /// The text of `run.toml` for this specification and status.
    pub fn to_run_toml(&self, status: RunStatus) -> Result<String> {
        spec_file::text(self, status)
    }

    /// Checks every rule, naming the option that breaks it.
    pub fn check(&self) -> Result<()> {
        let at_least_one = |option: &str, v: u64| {
            if v >= 1 {
                Ok(())
            } else {
                Err(option_error(option, "must be at least 1, got 0"))
            }
        };
        if self.data.is_none() && !BUILTIN_NAMES.contains(&self.target.as_str()) {
            return Err(option_error(
                "--target",
                format!(
                    "unknown built-in {:?}; one of: {}",
                    self.target,
                    BUILTIN_NAMES.join(", ")
                ),
            ));
        }
        at_least_one("--n", self.n as u64)?;
        at_least_one("--m", self.m as u64)?;
        at_least_one("--dim", self.dim as u64)?;
        at_least_one("--components", self.components as u64)?;
        at_least_one("--every", self.every)?;
        at_least_one("--data-chunks", self.data_chunks)?;
        positive("--dt", self.dt.first())?;
        if !(self.dt_tol > 0.0 && self.dt_tol <= 1.0) {
            return Err(option_error(
                "--dt-tol",
                format!("must be in (0, 1], got {}", self.dt_tol),
            ));
        }
        if let Some(t) = self.time {
            positive("--time", t)?;
        }
        if let Some(tol) = self.connection_tol {
            positive("--connection-tol", tol)?;
        }
        if !(self.tol > 0.0 && self.tol < 1.0) {
            return Err(option_error(
                "--tol",
                format!("must be in (0, 1), got {}", self.tol),
            ));
        }
        if let Some(s) = self.std {
            positive("--std", s)?;
        }
        if let Some(s) = self.center_std {
            positive("--center-std", s)?;
        }
        if self.center_std.is_some() != self.centers.is_some() {
            return Err(option_error(
                "--centers",
                "--centers and --center-std (the standard deviation of each mode) go together",
            ));
        }
        if let Some(NumberList(mean)) = &self.mean
            && mean.len() != 1
            && mean.len() != self.dim
        {
            return Err(option_error(
                "--mean",
                format!("has {} entries; give 1 or --dim = {}", mean.len(), self.dim),
            ));
        }
        if let Some(list) = &self.metrics {
            for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if name != "all" && name != SPECTRUM_SUMMARY && !OPTIONAL_METRICS.contains(&name) {
                    return Err(option_error(
                        "--metrics",
                        format!(
                            "unknown metric {name:?}; all, {SPECTRUM_SUMMARY}, or some of {}",
                            OPTIONAL_METRICS.join(", ")
                        ),
                    ));
                }
            }
        }
        if self.standardize && self.whiten {
            return Err(option_error(
                "--whiten",
                "cannot be combined with --standardize",
            ));
        }
        if self.no_standardize && (self.standardize || self.whiten) {
            return Err(option_error(
                "--no-standardize",
                "cannot be combined with --standardize or --whiten",
            ));
        }
        if self.data_density == DataDensity::Exact && (self.standardize || self.whiten) {
            return Err(option_error(
                "--data-density",
                "exact cannot be combined with --standardize or --whiten",
            ));
        }
        self.check_discriminator()
    }

    /// The learning discriminator's rules; with `optimal`, its options are refused rather
    /// than ignored.
    fn check_discriminator(&self) -> Result<()> {
        let defaults = Self::default();
        let learning = self.discriminator != DiscriminatorKind::Optimal;
        let set: [(&str, bool); 7] = [
            ("--disc-no-bias", self.disc_no_bias),
            ("--disc-scale", self.disc_scale != defaults.disc_scale),
            ("--disc-lr", self.disc_lr != defaults.disc_lr),
            ("--disc-steps", self.disc_steps != defaults.disc_steps),
            ("--disc-init", self.disc_init != defaults.disc_init),
            ("--penalty", self.penalty != defaults.penalty),
            ("--updates", self.updates != defaults.updates),
        ];
        if !learning {
            if let Some((option, _)) = set.iter().find(|(_, on)| *on) {
                return Err(option_error(
                    option,
                    "only with a learning --discriminator (linear, quadratic, rff:K, mlp:W)",
                ));
            }
            return Ok(());
        }
        if self.disc_no_bias && self.discriminator != DiscriminatorKind::Linear {
            return Err(option_error(
                "--disc-no-bias",
                "only with --discriminator linear",
            ));
        }
        if !(self.disc_scale > 0.0 && self.disc_scale.is_finite()) {
            return Err(option_error(
                "--disc-scale",
                format!("must be > 0 and finite, got {}", self.disc_scale),
            ));
        }
        if !(self.disc_lr > 0.0 && self.disc_lr.is_finite()) {
            return Err(option_error(
                "--disc-lr",
                format!("must be > 0 and finite, got {}", self.disc_lr),
            ));
        }
        if self.disc_steps == 0 {
            return Err(option_error("--disc-steps", "must be at least 1, got 0"));
        }
        if self.scheme == SchemeName::Variational {
            return Err(option_error(
                "--scheme",
                "the variational scheme is the optimal discriminator's energy flow; a learning \
                 --discriminator moves the particles by the plug-in rule w(D) grad f",
            ));
        }
        if self.integrator == IntegratorName::Heun || self.dt == TimeStep::Auto {
            return Err(option_error(
                if self.dt == TimeStep::Auto {
                    "--dt"
                } else {
                    "--integrator"
                },
                "a learning --discriminator plays in rounds of Euler steps: use a fixed --dt \
                 and --integrator euler",
            ));
        }
        Ok(())
    }

    /// The game's configuration, for a learning discriminator.
    pub fn game_config(&self) -> Option<GameConfig> {
        (self.discriminator != DiscriminatorKind::Optimal).then(|| GameConfig {
            lr: self.disc_lr,
            steps: self.disc_steps,
            penalty: self.penalty.0,
            updates: match self.updates {
                UpdatesName::Simultaneous => Updates::Simultaneous,
                UpdatesName::Alternating => Updates::Alternating,
            },
            loss: self.loss.into(),
        })
    }

    /// The learning discriminator's family in `dim` dimensions (`None` for `optimal`); the
    /// random features are drawn from the run's seed.
    pub fn disc_family(&self, dim: usize) -> Result<Option<Family>> {
        Ok(match self.discriminator {
            DiscriminatorKind::Optimal => None,
            DiscriminatorKind::Linear => Some(Family::Linear {
                bias: !self.disc_no_bias,
            }),
            DiscriminatorKind::Quadratic => Some(Family::Quadratic),
            DiscriminatorKind::Rff(k) => Some(Family::rff(
                k,
                dim,
                self.disc_scale,
                self.seed.wrapping_add(2),
            )?),
            DiscriminatorKind::Mlp(w) => Some(Family::Mlp { width: w }),
        })
    }

    /// The flow's configuration.
    pub fn flow_config(&self) -> FlowConfig {
        let tol = self.tol;
        FlowConfig {
            scheme: self.scheme.into(),
            loss: self.loss.into(),
            // The adaptive step is Heun's method, whatever --integrator says.
            integrator: match (self.integrator, self.dt) {
                (_, TimeStep::Auto) | (IntegratorName::Heun, _) => Integrator::Heun,
                (IntegratorName::Euler, _) => Integrator::Euler,
            },
            estimator: self.estimator.with_tol(tol),
            dt: self.dt.first(),
            adaptive: (self.dt == TimeStep::Auto).then_some(self.dt_tol),
            bandwidth_g: self.bandwidth_g.unwrap_or(self.bandwidth).0,
            bandwidth_q: self.bandwidth_q.unwrap_or(self.bandwidth).0,
            anneal: self.anneal.map(|a| a.0),
            data_chunks: usize::try_from(self.data_chunks).unwrap_or(usize::MAX),
        }
    }

    /// Turns a step per squared bandwidth into the fixed step it comes to with the particles'
    /// bandwidth `h_g` at the start (other steps are left as they are).
    pub fn resolve_time_step(&mut self, h_g: f64) {
        if let TimeStep::PerBandwidth(c) = self.dt {
            self.dt = TimeStep::Fixed(c * h_g * h_g);
        }
    }

    /// The coordinates the flow runs on: whitened or standardised when asked; standardised
    /// by default for data from a file (whose features may be in any units) unless mode
    /// centres are given in the data's units; the data's own otherwise.
    pub fn coordinates(&self) -> Coordinates {
        if self.whiten {
            Coordinates::Whitened
        } else if self.standardize {
            Coordinates::Standardized
        } else if self.no_standardize || self.data.is_none() || self.centers.is_some() {
            Coordinates::Data
        } else {
            Coordinates::Standardized
        }
    }

    /// The stop rule: `--time`, else `--steps`; and `--connection-tol`.
    pub fn stop_rule(&self) -> StopRule {
        StopRule {
            max_steps: if self.time.is_some() {
                None
            } else {
                Some(self.steps)
            },
            max_time: self.time,
            connection_tol: self.connection_tol,
        }
    }

    /// Whether the metrics list asks for the spectrum comparison in the summary.
    pub fn wants_spectrum(&self) -> bool {
        self.metrics
            .as_deref()
            .is_some_and(|l| l.split(',').any(|n| n.trim() == SPECTRUM_SUMMARY))
    }

    /// The number of steps the run will take at most (for progress and estimates).
    pub fn planned_steps(&self) -> u64 {
        match self.time {
            Some(t) => (t / self.dt.first()).ceil().min(u64::MAX as f64) as u64,
            None => self.steps,
        }
    }

    /// The built-in target, with its parameters, unless the data come from a file.
    pub fn target_builtin(&self) -> Result<Option<Builtin>> {
        if self.data.is_some() {
            return Ok(None);
        }
        builtin(
            &self.target,
            self.dim,
            self.mean.as_ref(),
            self.std,
            self.components,
            3.0,
        )
        .map(Some)
    }
}

/// A built-in from its name and parameters; the Gaussian's mean defaults to
/// `default_mean_first` on the first coordinate and 0 elsewhere.
pub fn builtin(
    name: &str,
    dim: usize,
    mean: Option<&NumberList>,
    std: Option<f64>,
    components: usize,
    default_mean_first: f64,
) -> Result<Builtin> {
    let b = Builtin::by_name(name, dim).ok_or_else(|| Error::UnknownName {
        what: "built-in",
        name: name.to_string(),
        expected: format!("one of {}", BUILTIN_NAMES.join(", ")),
    })?;
    Ok(match b {
        Builtin::Gaussian { .. } => {
            let mean = match mean {
                None => {
                    let mut m = vec![0.0; dim];
                    if let Some(first) = m.first_mut() {
                        *first = default_mean_first;
                    }
                    m
                }
                Some(NumberList(values)) if values.len() == 1 => vec![values[0]; dim],
                Some(NumberList(values)) => values.clone(),
            };
            Builtin::Gaussian {
                mean,
                std: std.unwrap_or(1.0),
            }
        }
        Builtin::GaussianMixture { dim, .. } => Builtin::GaussianMixture {
            dim,
            components,
            std: std.unwrap_or(0.5),
        },
        other => other,
    })
}

impl Specification for RunSpec {
    const COMMAND: Command = Command::Run;
    const RERUN: &'static str =
        "`ganflow run --config run.toml` runs this again; `ganflow resume DIR` continues it";
    fn check(&self) -> Result<()> {
        RunSpec::check(self)
    }
}

impl From<SchemeName> for Scheme {
    fn from(s: SchemeName) -> Self {
        match s {
            SchemeName::Plugin => Scheme::PlugIn,
            SchemeName::Variational => Scheme::Variational,
        }
    }
}

impl From<LossName> for Loss {
    fn from(l: LossName) -> Self {
        match l {
            LossName::Minimax => Loss::Minimax,
            LossName::NonSaturating => Loss::NonSaturating,
            LossName::LeastSquares => Loss::LeastSquares,
            LossName::Kl => Loss::Kl,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every typed field survives run.toml: written, read back, equal.
    #[test]
    fn run_toml_round_trips() {
        let spec = RunSpec {
            data: Some(PathBuf::from("/x/data.csv")),
            init: Start::File(PathBuf::from("/x/start.csv")),
            mean: Some(NumberList(vec![1.5, -2.0])),
            anneal: Some("4:100".parse().unwrap()),
            bandwidth: "silverman:particles".parse().unwrap(),
            bandwidth_g: Some("0.25".parse().unwrap()),
            bandwidth_q: Some("scott".parse().unwrap()),
            time: Some(2.5),
            connection_tol: Some(1e-9),
            metrics: Some("sliced_w2,mmd2".into()),
            scheme: SchemeName::Variational,
            integrator: IntegratorName::Heun,
            dt: TimeStep::Auto,
            dt_tol: 1e-4,
            ..RunSpec::default()
        };
        let text = spec.to_run_toml(RunStatus::Interrupted).unwrap();
        assert!(text.contains("bandwidth-g = \"0.25\""), "{text}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        std::fs::write(&path, &text).unwrap();
        let (back, status) = RunSpec::read_run_toml(&path).unwrap();
        assert_eq!((back, status), (spec, RunStatus::Interrupted));
    }

    /// Each rule names the option it checks.
    #[test]
    fn rules_name_their_option() {
        let cases: [(RunSpec, &str); 7] = [
            (
                RunSpec {
                    dt: TimeStep::Fixed(0.0),
                    ..RunSpec::default()
                },
                "--dt",
            ),
            (
                RunSpec {
                    every: 0,
                    ..RunSpec::default()
                },
                "--every",
            ),
            (
                RunSpec {
                    tol: 1.0,
                    ..RunSpec::default()
                },
                "--tol",
            ),
            (
                RunSpec {
                    n: 0,
                    ..RunSpec::default()
                },
                "--n",
            ),
            (
                RunSpec {
                    time: Some(-1.0),
                    ..RunSpec::default()
                },
                "--time",
            ),
            (
                RunSpec {
                    target: "ring".into(),
                    ..RunSpec::default()
                },
                "--target",
            ),
            (
                RunSpec {
                    metrics: Some("jsd2".into()),
                    ..RunSpec::default()
                },
                "--metrics",
            ),
        ];
        for (spec, option) in cases {
            let e = spec.check().unwrap_err().to_string();
            assert!(e.starts_with(&format!("{option}: ")), "{e}");
        }
    }
}
