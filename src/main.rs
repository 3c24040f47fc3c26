//! The `ganflow` command line: parses arguments, builds a `Simulation`, attaches writers.
//! Nothing numerical happens here.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ganflow::datasets::{Mixture, gaussian, read_csv, write_points};
use ganflow::output::CsvRecorder;
use ganflow::{
    Bandwidth, BandwidthSpec, Estimator, FlowConfig, Integrator, Loss, Scheme, Simulation, StopRule,
};

#[derive(Parser)]
#[command(
    name = "ganflow",
    version,
    about = "Simulate the GAN training flow (the Wasserstein gradient flow of the JSD) as particles"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a flow and write trajectories and metrics as CSV. With no option at all it
    /// runs the demo: 2000 particles from N(0, I) towards the ring of 8 Gaussians.
    Run(RunArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    /// Ring of 8 Gaussians: radius 2, σ 0.02 (2-D).
    EightGaussians,
    /// 5x5 grid at {-4,-2,0,2,4}², σ 0.05 (2-D).
    TwentyFiveGaussians,
    /// Standard Gaussian shifted to (3, 0, ..), in --dim dimensions.
    Gaussian,
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemeArg {
    Plugin,
    Variational,
}

#[derive(Clone, Copy, ValueEnum)]
enum LossArg {
    Minimax,
    NonSaturating,
    LeastSquares,
    Kl,
}

#[derive(Clone, Copy, ValueEnum)]
enum IntegratorArg {
    Euler,
    Heun,
}

#[derive(Clone, Copy, ValueEnum)]
enum EstimatorArg {
    Auto,
    Exact,
    Kdtree,
}

#[derive(Args)]
struct RunArgs {
    /// Built-in target (ignored with --data).
    #[arg(long, value_enum, default_value = "eight-gaussians")]
    target: Target,
    /// Target samples from a CSV file (one point per row, optional header).
    #[arg(long, value_name = "FILE.csv")]
    data: Option<PathBuf>,
    /// Start: `gaussian` (N(0, I)) or a CSV file of particles.
    #[arg(long, default_value = "gaussian")]
    init: String,
    /// Number of particles (with --init gaussian).
    #[arg(long, default_value_t = 2000)]
    n: usize,
    /// Number of data samples drawn from a built-in target.
    #[arg(long, default_value_t = 2000)]
    m: usize,
    /// Dimension of the built-in Gaussian target.
    #[arg(long, default_value_t = 2)]
    dim: usize,
    /// Number of steps.
    #[arg(long, default_value_t = 200)]
    steps: u64,
    /// Stop at this time instead (time units of the flow).
    #[arg(long, allow_negative_numbers = true)]
    time: Option<f64>,
    /// Time step.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    dt: f64,
    /// Velocity scheme.
    #[arg(long, value_enum, default_value = "plugin")]
    scheme: SchemeArg,
    /// Generator loss (plug-in scheme).
    #[arg(long, value_enum, default_value = "minimax")]
    loss: LossArg,
    /// Time integrator.
    #[arg(long, value_enum, default_value = "euler")]
    integrator: IntegratorArg,
    /// Density estimator.
    #[arg(long, value_enum, default_value = "auto")]
    estimator: EstimatorArg,
    /// Relative tolerance of the k-d tree estimator.
    #[arg(long, default_value_t = 1e-6, allow_negative_numbers = true)]
    tol: f64,
    /// Bandwidth of both densities: `scott`, `silverman` (from the data) or a number
    /// (units of the data).
    #[arg(long, default_value = "scott", allow_negative_numbers = true)]
    bandwidth: String,
    /// Record every K steps (and always the first and the last).
    #[arg(long, default_value_t = 10)]
    every: u64,
    /// Random seed for built-in samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Output folder (default: the first free runs/run-N).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing output folder.
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    // No subcommand at all: the demo, i.e. `run` with every default.
    let command = Cli::parse()
        .command
        .or_else(|| Cli::parse_from(["ganflow", "run"]).command)
        .expect("`run` parses");
    let result = match command {
        Command::Run(args) => run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn parse_bandwidth(s: &str) -> AnyResult<BandwidthSpec> {
    let rule = match s {
        "scott" => Bandwidth::Scott,
        "silverman" => Bandwidth::Silverman,
        v => Bandwidth::Fixed(v.parse().map_err(|_| {
            format!("--bandwidth: expected scott, silverman or a number, got {v:?}")
        })?),
    };
    Ok(BandwidthSpec {
        rule,
        ..BandwidthSpec::default()
    })
}

fn free_run_dir() -> PathBuf {
    (1..)
        .map(|i| PathBuf::from(format!("runs/run-{i}")))
        .find(|p| !p.exists())
        .expect("some index is free")
}

fn run(args: RunArgs) -> AnyResult<()> {
    if let Some(t) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()?;
    }
    let out = args.out.clone().unwrap_or_else(free_run_dir);
    if out.exists() && !args.force {
        return Err(format!(
            "{} already exists; pass --force to replace it",
            out.display()
        )
        .into());
    }
    let data = match &args.data {
        Some(path) => read_csv(path)?,
        None => match args.target {
            Target::EightGaussians => Mixture::eight_gaussians().sample(args.m, args.seed)?,
            Target::TwentyFiveGaussians => {
                Mixture::twenty_five_gaussians().sample(args.m, args.seed)?
            }
            Target::Gaussian => {
                let mut mean = vec![0.0; args.dim];
                mean[0] = 3.0;
                gaussian(args.m, &mean, 1.0, args.seed)?
            }
        },
    };
    let particles = if args.init == "gaussian" {
        gaussian(
            args.n,
            &vec![0.0; data.dim()],
            1.0,
            args.seed.wrapping_add(1),
        )?
    } else {
        let p = read_csv(Path::new(&args.init))?;
        if p.dim() != data.dim() {
            let source = match &args.data {
                Some(path) => path.display().to_string(),
                None => "the built-in target".to_string(),
            };
            return Err(format!(
                "{} has {} columns but {source} has {}: particles and data must have the same dimension",
                args.init,
                p.dim(),
                data.dim()
            )
            .into());
        }
        p
    };
    let estimator = match args.estimator {
        EstimatorArg::Auto => Estimator::Auto { tol: args.tol },
        EstimatorArg::Exact => Estimator::Exact,
        EstimatorArg::Kdtree => Estimator::KdTree { tol: args.tol },
    };
    let bw = parse_bandwidth(&args.bandwidth)?;
    let config = FlowConfig {
        scheme: match args.scheme {
            SchemeArg::Plugin => Scheme::PlugIn,
            SchemeArg::Variational => Scheme::Variational,
        },
        loss: match args.loss {
            LossArg::Minimax => Loss::Minimax,
            LossArg::NonSaturating => Loss::NonSaturating,
            LossArg::LeastSquares => Loss::LeastSquares,
            LossArg::Kl => Loss::Kl,
        },
        integrator: match args.integrator {
            IntegratorArg::Euler => Integrator::Euler,
            IntegratorArg::Heun => Integrator::Heun,
        },
        estimator,
        dt: args.dt,
        bandwidth_g: bw,
        bandwidth_q: bw,
    };
    let mut sim = Simulation::new(config, particles, data)?;
    let stop = match args.time {
        Some(t) => StopRule {
            max_time: Some(t),
            ..StopRule::default()
        },
        None => StopRule {
            max_steps: Some(args.steps),
            ..StopRule::default()
        },
    };

    // Everything is written into a staging folder beside the target and renamed into place
    // only when complete: a failed or interrupted run leaves nothing that looks finished.
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent)?;
    let name = out.file_name().ok_or("--out has no folder name")?;
    let staging = parent.join(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = write_run(&mut sim, &stop, args.every, &staging);
    match result {
        Ok(summary) => {
            if out.exists() {
                fs::remove_dir_all(&out)?;
            }
            fs::rename(&staging, &out)?;
            let (h_g, h_q) = sim.bandwidths();
            println!(
                "{} steps, t = {:.4}, stopped: {:?}; jsd {:.4e}, |A|^2 {:.4e}, mean D* {:.4} (particles) {:.4} (data); h_g {:.4}, h_q {:.4}; {:.2} s",
                summary.0.steps,
                summary.0.t,
                summary.0.reason,
                summary.0.last.jsd,
                summary.0.last.connection_norm2,
                summary.0.last.mean_dstar_particles,
                summary.0.last.mean_dstar_data,
                h_g,
                h_q,
                summary.1,
            );
            println!("wrote {}", out.display());
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn create(path: &Path) -> AnyResult<BufWriter<fs::File>> {
    Ok(BufWriter::new(
        fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
    ))
}

fn write_run(
    sim: &mut Simulation,
    stop: &StopRule,
    every: u64,
    dir: &Path,
) -> AnyResult<(ganflow::RunSummary, f64)> {
    fs::create_dir_all(dir)?;
    let start = Instant::now();
    let mut recorder = CsvRecorder::new(
        create(&dir.join("trajectories.csv"))?,
        create(&dir.join("metrics.csv"))?,
        false,
    );
    let summary = sim.run(stop, every, &mut recorder)?;
    let (mut t, mut m) = recorder.finish()?;
    t.flush()?;
    m.flush()?;
    let mut f = create(&dir.join("final.csv"))?;
    write_points(&mut f, sim.particles())?;
    f.flush()?;
    Ok((summary, start.elapsed().as_secs_f64()))
}
