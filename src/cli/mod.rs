//! The command line: arguments, configuration files and the subcommands. Nothing numerical
//! happens here; everything is a call into the library.

pub mod args;
mod bench;
mod plot;
mod run;
mod velocity;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches};
use ganflow::datasets::{BUILTIN_NAMES, Builtin, write_points};
use ganflow::{Bandwidth, BandwidthFrom, BandwidthSpec, Estimator, FlowConfig, Loss, Scheme};

use args::{Cli, Command, EstimatorArg, FlowArgs, LossArg, RunArgs, SampleArgs, SchemeArg};

/// Errors of the command line: the library's, or a message.
pub type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Parses the command line and runs it.
pub fn main() -> AnyResult<()> {
    let mut matches = Cli::command().get_matches();
    if matches.subcommand().is_none() {
        // No subcommand at all: the demo, `run` with every default.
        matches = Cli::command().get_matches_from(["ganflow", "run"]);
    }
    let cli = Cli::from_arg_matches(&matches)?;
    match cli.command.expect("a subcommand is present") {
        Command::Run(args) => {
            let sub = matches.subcommand_matches("run").expect("run matched");
            let args = merge_config(*args, sub)?;
            run::run(args)
        }
        Command::Velocity(args) => velocity::velocity(args),
        Command::Datasets => write_output(None, |w| Ok(w.write_all(datasets_table().as_bytes())?)),
        Command::Sample(args) => sample(args),
        Command::Plot(args) => plot::plot(args),
        Command::Bench(args) => bench::bench(args),
    }
}

/// Applies `--config FILE.toml`: each key of the file sets the option of that name unless
/// the command line gave it.
fn merge_config(args: RunArgs, matches: &ArgMatches) -> AnyResult<RunArgs> {
    let Some(path) = args.config.clone() else {
        return Ok(args);
    };
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: toml::Table =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut merged = toml::Table::try_from(&args)?;
    let known: Vec<String> = RunArgs::augment_args(clap::Command::new("x"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    for (key, value) in file {
        if key == "ganflow_version" {
            continue;
        }
        if !known.contains(&key)
            || ["threads", "out", "force", "config", "quiet", "plot"].contains(&key.as_str())
        {
            return Err(format!("{}: unknown key {key:?}", path.display()).into());
        }
        if matches.value_source(&key) != Some(ValueSource::CommandLine) {
            merged.insert(key, value);
        }
    }
    let mut resolved: RunArgs = merged
        .try_into()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    resolved.threads = args.threads;
    resolved.out = args.out;
    resolved.force = args.force;
    resolved.quiet = args.quiet;
    resolved.plot = args.plot;
    resolved.config = args.config;
    Ok(resolved)
}

/// A comma-separated list option (`1000,3000`, `0,100,200`), each entry parsed as `T`.
pub fn parse_list<T: std::str::FromStr>(option: &str, s: &str) -> AnyResult<Vec<T>> {
    s.split(',')
        .map(|v| v.trim().parse::<T>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("{option}: expected a comma-separated list, got {s:?}").into())
}

/// A bandwidth option: `scott`, `silverman`, `scott:particles`, `silverman:particles` or a
/// number.
pub fn parse_bandwidth(option: &str, s: &str) -> AnyResult<BandwidthSpec> {
    let (rule, from) = match s.split_once(':') {
        Some((r, "particles")) => (r, BandwidthFrom::Particles),
        Some(_) => {
            return Err(format!("{option}: expected RULE or RULE:particles, got {s:?}").into());
        }
        None => (s, BandwidthFrom::Data),
    };
    let rule = match rule {
        "scott" => Bandwidth::Scott,
        "silverman" => Bandwidth::Silverman,
        v if from == BandwidthFrom::Data => Bandwidth::Fixed(v.parse().map_err(|_| {
            format!("{option}: expected scott, silverman, RULE:particles or a number, got {s:?}")
        })?),
        _ => {
            return Err(
                format!("{option}: a fixed bandwidth takes no ':particles', got {s:?}").into(),
            );
        }
    };
    Ok(BandwidthSpec {
        rule,
        from,
        every_step: from == BandwidthFrom::Particles,
    })
}

/// The flow configuration (time step and integrator set by the caller).
pub fn flow_config(flow: &FlowArgs) -> AnyResult<FlowConfig> {
    let both = &flow.bandwidth;
    Ok(FlowConfig {
        scheme: match flow.scheme {
            SchemeArg::Plugin => Scheme::PlugIn,
            SchemeArg::Variational => Scheme::Variational,
        },
        loss: match flow.loss {
            LossArg::Minimax => Loss::Minimax,
            LossArg::NonSaturating => Loss::NonSaturating,
            LossArg::LeastSquares => Loss::LeastSquares,
            LossArg::Kl => Loss::Kl,
        },
        estimator: match flow.estimator {
            EstimatorArg::Auto => Estimator::Auto { tol: flow.tol },
            EstimatorArg::Exact => Estimator::Exact,
            EstimatorArg::Kdtree => Estimator::KdTree { tol: flow.tol },
            EstimatorArg::Grid => Estimator::Grid { tol: flow.tol },
        },
        bandwidth_g: match &flow.bandwidth_g {
            Some(s) => parse_bandwidth("--bandwidth-g", s)?,
            None => parse_bandwidth("--bandwidth", both)?,
        },
        bandwidth_q: match &flow.bandwidth_q {
            Some(s) => parse_bandwidth("--bandwidth-q", s)?,
            None => parse_bandwidth("--bandwidth", both)?,
        },
        ..FlowConfig::default()
    })
}

/// A built-in from its name and the parameter options.
pub fn builtin(
    name: &str,
    dim: usize,
    mean: Option<&str>,
    std: Option<f64>,
    components: usize,
    default_mean_first: f64,
) -> AnyResult<Builtin> {
    let unknown = || {
        format!(
            "unknown built-in {name:?}; one of: {}",
            BUILTIN_NAMES.join(", ")
        )
    };
    Ok(match Builtin::by_name(name, dim).ok_or_else(unknown)? {
        Builtin::Gaussian { .. } => {
            let mean = match mean {
                None => {
                    let mut m = vec![0.0; dim];
                    if let Some(first) = m.first_mut() {
                        *first = default_mean_first;
                    }
                    m
                }
                Some(s) => {
                    let values: Vec<f64> = parse_list("--mean", s)?;
                    match values.len() {
                        1 => vec![values[0]; dim],
                        _ => values,
                    }
                }
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

/// The `ganflow datasets` table.
fn datasets_table() -> String {
    let rows: [(&str, &str, &str); 9] = [
        (
            "eight-gaussians",
            "2",
            "ring of 8 Gaussians, radius 2, std 0.02 (WGAN-GP's radius and noise); closed-form density",
        ),
        (
            "twenty-five-gaussians",
            "2",
            "5x5 grid at {-4,-2,0,2,4}^2, std 0.05 (VEEGAN, PacGAN); closed-form density",
        ),
        (
            "two-moons",
            "2",
            "half circles (cos t, sin t) and (1 - cos t, 0.5 - sin t), t ~ U[0, pi], noise std 0.05",
        ),
        (
            "rings",
            "2",
            "concentric rings of radii 1, 2, 3 (weights 1:2:3), noise std 0.05",
        ),
        (
            "swiss-roll",
            "2",
            "spiral t (cos t, sin t) / 5, t ~ 1.5 pi (1 + 2U), noise std 0.05",
        ),
        (
            "checkerboard",
            "2",
            "8 squares of side 2 in [-4, 4]^2, uniform inside",
        ),
        (
            "gaussian",
            "--dim",
            "N(mean, std^2 I): --mean (default 0; as a target 3 on the first coordinate), --std (default 1); closed-form density",
        ),
        (
            "gaussian-mixture",
            "--dim",
            "--components (default 4) Gaussians of --std (default 0.5), centres uniform in [-4, 4]^d from a fixed seed; closed-form density",
        ),
        ("uniform", "--dim", "uniform in the box [-2, 2]^d"),
    ];
    let mut out = format!("{:<22} {:<6} {}\n", "name", "dim", "what");
    for (name, dim, what) in rows {
        out.push_str(&format!("{name:<22} {dim:<6} {what}\n"));
    }
    out
}

fn sample(args: SampleArgs) -> AnyResult<()> {
    let b = builtin(
        &args.name,
        args.dim,
        args.mean.as_deref(),
        args.std,
        args.components,
        0.0,
    )?;
    let points = b.sample(args.n, args.seed)?;
    write_output(args.out.as_deref(), |w| Ok(write_points(w, &points)?))
}

/// Writes through `f` to standard output, or to `path` whole: into a temporary file beside
/// it, renamed into place only once complete.
pub fn write_output(
    path: Option<&Path>,
    f: impl FnOnce(&mut dyn Write) -> AnyResult<()>,
) -> AnyResult<()> {
    match path {
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            let result = f(&mut lock).and_then(|()| Ok(lock.flush()?));
            match result {
                // A reader that stopped early (`| head`) is not an error.
                Err(e) if is_broken_pipe(e.as_ref()) => Ok(()),
                other => other,
            }
        }
        Some(path) => {
            let tmp = temp_beside(path);
            let result = (|| -> AnyResult<()> {
                let mut w = std::io::BufWriter::new(
                    fs::File::create(&tmp).map_err(|e| format!("{}: {e}", path.display()))?,
                );
                f(&mut w)?;
                w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(())
            })();
            if result.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            result
        }
    }
}

/// Whether `e`, or an error it wraps, is a broken pipe.
fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return true;
        }
        if let Some(c) = err.downcast_ref::<csv::Error>()
            && let csv::ErrorKind::Io(io) = c.kind()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// `DIR/.NAME.partial-PID` for `DIR/NAME`.
pub fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join(format!(".{name}.partial-{}", std::process::id()))
}
