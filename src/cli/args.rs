//! Command-line arguments. `RunArgs` doubles as the configuration file's schema: its field
//! names are the keys of `--config FILE.toml` and of the `run.toml` a run writes.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(
    name = "ganflow",
    version,
    about = "Simulate the GAN training flow (the Wasserstein gradient flow of the JSD) as particles",
    long_about = "Simulate the GAN training flow (the Wasserstein gradient flow of the Jensen-Shannon \
divergence) as particles.\n\nWith no subcommand, runs the demo: `ganflow run` with every default."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Simulate a flow; write trajectories, metrics, final particles and the resolved
    /// configuration into a new folder. With no option it runs the demo: 2000 particles from
    /// N(0, I) towards the ring of 8 Gaussians.
    Run(Box<RunArgs>),
    /// Evaluate the flow's velocity field without moving anything.
    Velocity(VelocityArgs),
    /// List the built-in distributions with their parameters.
    Datasets,
    /// Write samples of a built-in distribution as CSV.
    Sample(SampleArgs),
    /// Draw a finished run: particles.png, metrics.png, flow.gif (and digits.png in 64-D).
    Plot(PlotArgs),
    /// Time the density estimators and measure their accuracy against the exact sums:
    /// prints a table, writes bench.csv and a log-log bench.png of time against N.
    Bench(BenchArgs),
}

#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Query counts N (the density and score are evaluated at N points of N(0, I)).
    #[arg(long, default_value = "1000,3000,10000")]
    pub n: String,
    /// Sample count M (samples of N(0.5, I)) [default: M = N].
    #[arg(long)]
    pub m: Option<usize>,
    /// Dimensions.
    #[arg(long, default_value = "2")]
    pub dim: String,
    /// Relative tolerances of the tree and the grid (and auto).
    #[arg(long, default_value = "1e-4")]
    pub tol: String,
    /// Estimators: exact, kdtree, grid, auto.
    #[arg(long, default_value = "exact,kdtree,grid")]
    pub estimators: String,
    /// Queries on which the accuracy is measured against the direct double loop.
    #[arg(long, default_value_t = 300)]
    pub accuracy_points: usize,
    /// Once an estimator takes longer than this many seconds at some N, its larger N are
    /// skipped (so one grid can span 10^3..10^6 where each estimator finishes).
    #[arg(long, default_value_t = 30.0)]
    pub skip_after: f64,
    /// Timed repetitions; the fastest counts.
    #[arg(long, default_value_t = 1)]
    pub repeats: usize,
    /// Random seed of the point sets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder for bench.csv and bench.png.
    #[arg(long, default_value = "bench")]
    pub out: PathBuf,
}

#[derive(Args, Clone, Debug)]
pub struct PlotArgs {
    /// The run's folder (with trajectories.csv, metrics.csv and run.toml).
    pub dir: PathBuf,
    /// Recorded steps to draw side by side in particles.png, comma-separated [default: the
    /// first, the middle and the last].
    #[arg(long)]
    pub steps: Option<String>,
    /// Draw the velocity field as arrows (needs a run with --record-velocity).
    #[arg(long)]
    pub arrows: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemeArg {
    /// v = w(D*) (grad log q - grad log g) (MATH.md section 2)
    Plugin,
    /// the exact particle gradient flow of the discrete energy (MATH.md section 3)
    Variational,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossArg {
    /// weight D* (the paper's flow)
    Minimax,
    /// weight 1 - D*
    NonSaturating,
    /// weight 2 D* (1 - D*)^2
    LeastSquares,
    /// weight 1 (Fokker-Planck reference)
    Kl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntegratorArg {
    /// x += dt v
    Euler,
    /// second order, two evaluations per step
    Heun,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EstimatorArg {
    /// grid in 1-D from 2000 samples and in 2-D from 20000; exact otherwise
    Auto,
    /// brute force
    Exact,
    /// k-d tree with relative tolerance --tol (exact above d = 12)
    Kdtree,
    /// binned sums on a grid with a per-query bound, relative tolerance --tol (d <= 2; the
    /// k-d tree above, and for the queries the grid cannot certify)
    Grid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataDensityArg {
    /// kernel density estimate of the data samples
    Kde,
    /// the built-in target's closed-form density (Gaussian targets and mixtures only)
    Exact,
}

/// Options that define the velocity field; shared by `run` and `velocity`.
#[derive(Args, Clone, Debug, Serialize, Deserialize)]
pub struct FlowArgs {
    /// Velocity scheme.
    #[arg(long, value_enum, default_value = "plugin")]
    pub scheme: SchemeArg,
    /// Generator loss (plug-in scheme; the variational scheme is minimax by construction).
    #[arg(long, value_enum, default_value = "minimax")]
    pub loss: LossArg,
    /// Density estimator.
    #[arg(long, value_enum, default_value = "auto")]
    pub estimator: EstimatorArg,
    /// Relative tolerance of the tree and grid estimators (density; score relative to
    /// |score| + 1/h).
    #[arg(long, default_value_t = 1e-6, allow_negative_numbers = true)]
    pub tol: f64,
    /// Bandwidth of both densities, in data units: `scott` or `silverman` (rule of thumb on
    /// the data, fixed for the run), `scott:particles` or `silverman:particles` (on the
    /// current particles, recomputed every step), or a number.
    #[arg(long, default_value = "scott", allow_negative_numbers = true)]
    pub bandwidth: String,
    /// Bandwidth of P_g (the particles' KDE) alone; same forms as --bandwidth.
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bandwidth_g: Option<String>,
    /// Bandwidth of P_data (the data's KDE) alone; same forms as --bandwidth.
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bandwidth_q: Option<String>,
}

#[derive(Args, Clone, Debug, Serialize, Deserialize)]
pub struct RunArgs {
    /// Built-in target (see `ganflow datasets`); ignored with --data.
    #[arg(long, default_value = "eight-gaussians")]
    pub target: String,
    /// Target samples from a CSV file (one point per row, optional header).
    #[arg(long, value_name = "FILE.csv")]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub data: Option<PathBuf>,
    /// Density of the target: `kde` of the samples, or the built-in's closed form (`exact`,
    /// for gaussian, gaussian-mixture, eight- and twenty-five-gaussians).
    #[arg(long, value_enum, default_value = "kde")]
    pub data_density: DataDensityArg,
    /// Run on per-feature standardised coordinates (fitted on the data); every output is
    /// written back in the original units.
    #[arg(long)]
    pub standardize: bool,
    /// Run on whitened coordinates (the data's covariance becomes the identity; a
    /// full-covariance kernel in the original units); outputs are written back in the
    /// original units. For correlated features.
    #[arg(long, conflicts_with = "standardize")]
    #[serde(default)]
    pub whiten: bool,
    /// Start: a built-in name (`gaussian`: N(0, I), or with --data a Gaussian with the data's
    /// per-feature mean and std; `uniform`: the box [-2, 2]^d, or with --data mean ± 2 std)
    /// or a CSV file of particles.
    #[arg(long, default_value = "gaussian")]
    pub init: String,
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
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mean: Option<String>,
    /// Standard deviation of the gaussian target [default: 1] or of each gaussian-mixture
    /// component [default: 0.5].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub std: Option<f64>,
    /// Components of the gaussian-mixture target.
    #[arg(long, default_value_t = 4)]
    pub components: usize,
    /// Number of steps (ignored with --time).
    #[arg(long, default_value_t = 200)]
    pub steps: u64,
    /// Stop at this flow time instead of a step count (the last step is shortened to land on it).
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time: Option<f64>,
    /// Also stop once the connection norm ||A||^2 falls below this.
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub connection_tol: Option<f64>,
    /// Time step (flow time units).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub dt: f64,
    /// Time integrator.
    #[arg(long, value_enum, default_value = "euler")]
    pub integrator: IntegratorArg,
    /// Bandwidth annealing FACTOR:STEPS: both KDE bandwidths start FACTOR times larger and
    /// shrink geometrically to their rule's value over STEPS steps. For starts far from the
    /// data relative to the bandwidth (high dimension), where the flow would stall.
    #[arg(long, value_name = "FACTOR:STEPS")]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub anneal: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub flow: FlowArgs,
    /// Record every K steps (and always the first and the last).
    #[arg(long, default_value_t = 10)]
    pub every: u64,
    /// Add the velocity (v0..) and D* columns to trajectories.csv.
    #[arg(long)]
    pub record_velocity: bool,
    /// Also draw the run (as `ganflow plot DIR`): particles.png, metrics.png, flow.gif.
    #[arg(long)]
    #[serde(skip)]
    pub plot: bool,
    /// Optional metrics for metrics.csv: `all` or a comma-separated list of sliced_w2, mmd2,
    /// modes_covered, high_quality, modes_reverse_kl, memorization, dissipation_residual
    /// (computed in the flow's coordinates, standardised ones with --standardize).
    #[arg(long, value_name = "LIST")]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metrics: Option<String>,
    /// Mode centres for the mode metrics, one per row (CSV) [default: the built-in
    /// mixture's centres].
    #[arg(long, value_name = "FILE.csv")]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub centers: Option<PathBuf>,
    /// Standard deviation of each mode, with --centers (data units).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub center_std: Option<f64>,
    /// Random seed of the built-in samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads [default: all cores]. Results do not depend on it.
    #[arg(long)]
    #[serde(skip)]
    pub threads: Option<usize>,
    /// Output folder [default: the first free runs/run-N].
    #[arg(long)]
    #[serde(skip)]
    pub out: Option<PathBuf>,
    /// Replace an existing output folder.
    #[arg(long)]
    #[serde(skip)]
    pub force: bool,
    /// No progress bar (it is shown on standard error for runs longer than a second, when
    /// that is a terminal).
    #[arg(long)]
    #[serde(skip)]
    pub quiet: bool,
    /// Read options from a TOML file (keys as the long options, with `_` for `-`, as in a
    /// run's run.toml); options given on the command line override it.
    #[arg(long, value_name = "FILE.toml")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
}

#[derive(Args, Clone, Debug)]
pub struct VelocityArgs {
    /// The particles (CSV).
    #[arg(long, value_name = "FILE.csv")]
    pub particles: PathBuf,
    /// The data (CSV).
    #[arg(long, value_name = "FILE.csv")]
    pub data: PathBuf,
    /// Evaluate at these points [default: the particles].
    #[arg(long, value_name = "FILE.csv", conflicts_with = "grid")]
    pub at: Option<PathBuf>,
    /// Evaluate on a regular 2-D grid: xmin,xmax,ymin,ymax,nx,ny.
    #[arg(long, allow_hyphen_values = true)]
    pub grid: Option<String>,
    #[command(flatten)]
    pub flow: FlowArgs,
    /// Output CSV [default: standard output].
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Clone, Debug)]
pub struct SampleArgs {
    /// The built-in (see `ganflow datasets`).
    pub name: String,
    /// Number of samples.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Dimension (gaussian, gaussian-mixture, uniform).
    #[arg(long, default_value_t = 2)]
    pub dim: usize,
    /// Mean of a gaussian: one number or a comma-separated list [default: 0].
    #[arg(long, allow_hyphen_values = true)]
    pub mean: Option<String>,
    /// Standard deviation of a gaussian [default: 1] or of a mixture component [default: 0.5].
    #[arg(long)]
    pub std: Option<f64>,
    /// Components of a gaussian-mixture.
    #[arg(long, default_value_t = 4)]
    pub components: usize,
    /// Output CSV [default: standard output].
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
}
