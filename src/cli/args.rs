//! Command-line arguments. `run`'s options that decide results are the library's
//! [`RunSpec`], whose keys are also those of `--config FILE.toml` and of `run.toml`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ganflow::run::spec::{BandwidthText, EstimatorName, LossName, RunSpec, SchemeName};

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
    /// Continue an interrupted, killed, failed or finished run from its last checkpoint, to
    /// its own stop rule or to a new total (--steps, --time). The files end as an
    /// uninterrupted run's would, byte for byte.
    Resume(Box<ResumeArgs>),
    /// The linearised flow at equilibrium: the slowest modes' decay rates (CSV
    /// k,rate,frequency,resolution), the fastest rate and the stable Euler and Heun steps.
    /// Continuum mode, in 1-D: the operator discretised on --grid-points cells. Takes run's
    /// target, data, bandwidth and loss options (and --config).
    Spectrum(Box<SpectrumArgs>),
    /// Evaluate the flow's velocity field without moving anything.
    Velocity(VelocityArgs),
    /// List the built-in distributions with their parameters.
    Datasets,
    /// Write samples of a built-in distribution as CSV.
    Sample(SampleArgs),
    /// Write demonstrations of a built-in expert as CSV (traj,t,s0,s1,a0,a1): the point
    /// mass s[t+1] = s[t] + tau a[t] in the plane. around-obstacle: from (-1, 0) to (1, 0)
    /// around a disc of radius 0.5 at the origin, half above and half below; two-goals:
    /// from the origin to (-1, 1) or (1, 1), half each; circle: once around the unit circle.
    Demos(DemosArgs),
    /// Imitation from demonstrations (GAIL's geometry): N learner trajectories of the point
    /// mass flow towards the demonstrations, on the pooled state-action pairs
    /// (--objective occupancy, pulled back through the dynamics), on whole paths
    /// (--objective path), or behaviour cloning for comparison (--objective bc). Writes
    /// paths.csv, metrics.csv and final_paths.csv into a new folder.
    Imitate(Box<ImitateArgs>),
    /// Draw a finished run: particles.png, metrics.png, flow.gif (and digits.png in 64-D).
    Plot(PlotArgs),
    /// Time the density estimators and measure their accuracy against the exact sums:
    /// prints a table, writes bench.csv and a log-log bench.png of time against N.
    Bench(BenchArgs),
}

#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Query counts N (the density and score are evaluated at N points of N(0, I), or of a
    /// heavy-tailed law with --geometry heavy-tail).
    #[arg(long, default_value = "1000,3000,10000")]
    pub n: String,
    /// Sample count M [default: M = N].
    #[arg(long)]
    pub m: Option<usize>,
    /// Where the samples lie, comma-separated: `gaussian` (N(0.5, I)), `ring` (radius 2,
    /// width 0.02, in the first two coordinates), `spiral` (two turns, width 0.02),
    /// `far-points` (four point masses at distance 6) or `heavy-tail` (N(0.5, I) samples,
    /// queries from a Student t with 1.5 degrees of freedom).
    #[arg(long, default_value = "gaussian")]
    pub geometry: String,
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

/// Options that define the velocity field, for `velocity` (`run` has them in its
/// specification, under the same names).
#[derive(Args, Clone, Debug)]
pub struct FlowArgs {
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
    /// Bandwidth of both densities, in data units: `auto` (the larger of Scott's rule and
    /// `knn`), `scott`, `silverman` or `knn` (the median distance to the 10th nearest
    /// neighbour) on the data, or with `:particles` on the particles; or a number.
    #[arg(long, default_value = "auto", allow_negative_numbers = true)]
    pub bandwidth: BandwidthText,
    /// Bandwidth of P_g (the particles' KDE) alone; same forms as --bandwidth.
    #[arg(long, allow_negative_numbers = true)]
    pub bandwidth_g: Option<BandwidthText>,
    /// Bandwidth of P_data (the data's KDE) alone; same forms as --bandwidth.
    #[arg(long, allow_negative_numbers = true)]
    pub bandwidth_q: Option<BandwidthText>,
}

impl FlowArgs {
    /// The flow's configuration: the run specification's, with these options.
    pub fn config(&self) -> ganflow::Result<ganflow::FlowConfig> {
        let spec = RunSpec {
            scheme: self.scheme,
            loss: self.loss,
            estimator: self.estimator,
            tol: self.tol,
            bandwidth: self.bandwidth,
            bandwidth_g: self.bandwidth_g,
            bandwidth_q: self.bandwidth_q,
            ..RunSpec::default()
        };
        spec.check()?;
        Ok(spec.flow_config())
    }
}

/// `ganflow run`: the specification, and how to run it.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub spec: RunSpec,
    #[command(flatten)]
    pub options: DriveArgs,
    /// Output folder [default: the first free runs/run-N]. An existing folder is used only
    /// when it is empty, or, with --force, when it holds nothing but a run's own files.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace an existing run folder (never one with other files, the current folder, or
    /// one holding an input file).
    #[arg(long)]
    pub force: bool,
    /// Also draw the run (as `ganflow plot DIR`): particles.png, metrics.png, flow.gif.
    #[arg(long)]
    pub plot: bool,
    /// Read options from a TOML file (keys as the long options, as in a run's run.toml);
    /// options given on the command line override it.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
}

/// How a run is driven, for `run` and `resume`: nothing here changes its results.
#[derive(Args, Clone, Debug)]
pub struct DriveArgs {
    /// Worker threads [default: all cores]. Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write a checkpoint every K steps (as well as every --checkpoint-secs).
    #[arg(long, value_name = "K")]
    pub checkpoint_every: Option<u64>,
    /// Write a checkpoint whenever this many seconds have passed since the last one (one is
    /// always written at the start, on Ctrl-C or SIGTERM, and at the end).
    #[arg(long, value_name = "S", default_value_t = 60.0)]
    pub checkpoint_secs: f64,
    /// No progress bar (it is shown on standard error for runs longer than a second, when
    /// that is a terminal).
    #[arg(long)]
    pub quiet: bool,
    /// Start even when the run's estimated peak memory exceeds what the machine has free
    /// (otherwise it stops at once, exit status 3).
    #[arg(long)]
    pub no_memory_check: bool,
}

/// `ganflow imitate`.
#[derive(Args, Clone, Debug)]
pub struct ImitateArgs {
    #[command(flatten)]
    pub spec: ganflow::imitate::ImitateSpec,
    /// Worker threads [default: all cores]. Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output folder [default: the first free runs/run-N].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Reuse --out when it holds nothing but a run's own files.
    #[arg(long)]
    pub force: bool,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Also draw the imitation (as `ganflow plot DIR`): paths.png and flow.gif.
    #[arg(long)]
    pub plot: bool,
    /// Read options from a TOML file (keys as the long options, as in an imitation's
    /// run.toml); options given on the command line override it.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
}

/// `ganflow demos`.
#[derive(Args, Clone, Debug)]
pub struct DemosArgs {
    /// The expert: around-obstacle, two-goals or circle.
    pub name: String,
    /// Number of trajectories.
    #[arg(long, default_value_t = 100)]
    pub n: usize,
    /// Steps per trajectory (states: T + 1).
    #[arg(long, value_name = "T", default_value_t = 20)]
    pub horizon: usize,
    /// The dynamics' time step.
    #[arg(long, default_value_t = 1.0)]
    pub tau: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output CSV [default: standard output].
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
}

/// `ganflow spectrum`.
#[derive(Args, Clone, Debug)]
pub struct SpectrumArgs {
    #[command(flatten)]
    pub spec: RunSpec,
    /// Cells of the grid the continuum operator is discretised on, per axis [default: 400
    /// in 1-D, 60 in 2-D].
    #[arg(long, value_name = "G")]
    pub grid_points: Option<usize>,
    /// Compute the particle spectrum instead: the Jacobian of the velocity of these
    /// particles (a run's final.csv, say; any dimension), with the run's estimator.
    #[arg(long, value_name = "FILE.csv")]
    pub particles: Option<PathBuf>,
    /// Jacobian-vector products in the particle spectrum's slow-mode search [default: two
    /// blocks of start fields, at least 20]. More find more modes, at two velocity
    /// evaluations each.
    #[arg(long, value_name = "P")]
    pub products: Option<usize>,
    /// How many of the slowest modes to report.
    #[arg(long, default_value_t = 8)]
    pub modes: usize,
    /// Output CSV of the modes [default: standard output].
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
    /// Also write the modes as displacement fields, mode,id,x0..,dx0.. (continuum: at each
    /// cell centre, with the density perturbation eps that the displacement makes).
    #[arg(long, value_name = "FILE.csv")]
    pub vectors: Option<PathBuf>,
    /// Draw the slowest modes (up to four) as displacement arrows on the particles, in
    /// the style of `ganflow plot` (1-D: the displacement against the position).
    #[arg(long, value_name = "FILE.png")]
    pub arrows: Option<PathBuf>,
    /// Worker threads [default: all cores]. Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Read options from a TOML file (a run's run.toml works).
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
}

#[derive(Args, Clone, Debug)]
pub struct ResumeArgs {
    /// The run's folder (what was given as --out).
    pub dir: PathBuf,
    /// Run to this total number of steps [default: the run's own stop rule].
    #[arg(long, conflicts_with = "time")]
    pub steps: Option<u64>,
    /// Run to this total flow time.
    #[arg(long)]
    pub time: Option<f64>,
    #[command(flatten)]
    pub options: DriveArgs,
    /// Also draw the run (as `ganflow plot DIR`).
    #[arg(long)]
    pub plot: bool,
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
    #[arg(long, allow_negative_numbers = true)]
    pub std: Option<f64>,
    /// Components of a gaussian-mixture.
    #[arg(long, default_value_t = 4)]
    pub components: usize,
    /// Output CSV [default: standard output].
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    /// The command line's defaults are the specification's: one set of defaults, whichever
    /// way a run is started.
    #[test]
    fn command_line_defaults_are_the_specifications() {
        let m = <Cli as clap::CommandFactory>::command().get_matches_from(["ganflow", "run"]);
        let cli = Cli::from_arg_matches(&m).unwrap();
        let Some(Command::Run(args)) = cli.command else {
            panic!("run expected")
        };
        assert_eq!(args.spec, RunSpec::default());
    }
}
