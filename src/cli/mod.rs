//! The command line: arguments, configuration files and the subcommands. Nothing numerical
//! happens here; everything is a call into the library.

/// `println!` that surfaces a closed standard output as an error (see `say`) instead of
/// panicking.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::say(&format!($($arg)*))?
    };
}

pub mod args;
mod bench;
mod demos;
mod imitate;
mod job;
mod plot;
mod resume;
mod run;
mod session;
mod spectrum;
mod velocity;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use ganflow::datasets::write_points;
use ganflow::output::write_whole_with;
use ganflow::run::spec::builtin;

use args::{Cli, Command, SampleArgs};

/// Errors of the command line: the library's, or a message.
pub type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Parses the command line and runs it; returns the exit status.
pub fn main() -> AnyResult<ExitCode> {
    let mut matches = Cli::command().get_matches();
    if matches.subcommand().is_none() {
        // No subcommand at all: the demo, `run` with every default.
        matches = Cli::command().get_matches_from(["ganflow", "run"]);
    }
    let cli = Cli::from_arg_matches(&matches)?;
    let Some(command) = cli.command else {
        unreachable!("a subcommand was supplied above")
    };
    let done = Ok(ExitCode::SUCCESS);
    let job = job::Job::join()?;
    if job.size() > 1 && !matches!(command, Command::Run(_)) {
        return job.settle(Err(
            "only `ganflow run` runs across MPI ranks; start other commands alone".into(),
        ));
    }
    match command {
        Command::Run(args) => {
            let sub = matches
                .subcommand_matches("run")
                .ok_or("internal: run matched without its arguments")?;
            run::run(*args, &given_options(sub), &job)
        }
        Command::Resume(args) => resume::resume(*args),
        Command::Spectrum(args) => {
            let sub = matches
                .subcommand_matches("spectrum")
                .ok_or("internal: spectrum matched without its arguments")?;
            spectrum::spectrum(*args, &given_options(sub)).and(done)
        }
        Command::Velocity(args) => velocity::velocity(args).and(done),
        Command::Datasets => {
            write_output(None, |w| Ok(w.write_all(datasets_table().as_bytes())?)).and(done)
        }
        Command::Sample(args) => sample(args).and(done),
        Command::Demos(args) => demos::demos(args).and(done),
        Command::Imitate(args) => {
            let sub = matches
                .subcommand_matches("imitate")
                .ok_or("internal: imitate matched without its arguments")?;
            imitate::imitate(*args, &given_options(sub)).and(done)
        }
        Command::Plot(args) => plot::plot(args).and(done),
        Command::Bench(args) => bench::bench(args).and(done),
    }
}

/// The long options the user gave on the command line (their clap ids), so that only those
/// override a configuration file.
fn given_options(matches: &clap::ArgMatches) -> Vec<String> {
    matches
        .ids()
        .map(|id| id.as_str().to_string())
        .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
        .collect()
}

/// A run specification: the defaults, then the `config` file, then the options the user
/// gave on the command line (`given`, clap ids) with their values from `parsed`.
pub fn resolve_spec(
    parsed: &ganflow::run::RunSpec,
    config: Option<&Path>,
    given: &[String],
) -> AnyResult<ganflow::run::RunSpec> {
    let parsed = toml::Table::try_from(parsed)?;
    let config = read_config(config)?;
    Ok(ganflow::run::RunSpec::merge(
        config.as_ref().map(ConfigFile::parts),
        given_values(&parsed, given),
    )?)
}

/// The options the user gave (`given`, clap ids), keyed as the long options, with their
/// values from the parsed specification `parsed`.
pub fn given_values(parsed: &toml::Table, given: &[String]) -> toml::Table {
    let mut overrides = toml::Table::new();
    for id in given {
        let key = id.replace('_', "-");
        if let Some(v) = parsed.get(&key) {
            overrides.insert(key, v.clone());
        }
    }
    overrides
}

/// A `--config` file, read.
pub struct ConfigFile {
    pub path: PathBuf,
    pub text: String,
}

impl ConfigFile {
    /// The path and text, as the specifications' `merge` takes them.
    pub fn parts(&self) -> (&Path, &str) {
        (&self.path, &self.text)
    }
}

/// The `--config` file, read (`None` without one).
pub fn read_config(config: Option<&Path>) -> AnyResult<Option<ConfigFile>> {
    config
        .map(|path| {
            std::fs::read_to_string(path)
                .map(|text| ConfigFile {
                    path: path.to_path_buf(),
                    text,
                })
                .map_err(|e| format!("{}: {e}", path.display()).into())
        })
        .transpose()
}

/// `--threads`: the size of the worker pool (all cores when `None`). Results do not depend
/// on it.
pub fn set_threads(threads: Option<usize>) -> AnyResult<()> {
    if let Some(t) = threads {
        if t == 0 {
            return Err("--threads: must be at least 1, got 0".into());
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()?;
    }
    Ok(())
}

/// Prints a line on standard output. A reader that has gone (`| head -1`) surfaces as a
/// broken-pipe error, which `main` turns into a quiet exit.
pub fn say(line: &str) -> AnyResult<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// The comma-separated list of an option, or an error naming it.
pub fn parse_list<T: std::str::FromStr>(option: &str, s: &str) -> AnyResult<Vec<T>> {
    ganflow::run::spec::parse_list(s).map_err(|e| format!("{option}: {e}").into())
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
    for (option, v) in [
        ("--n", args.n),
        ("--dim", args.dim),
        ("--components", args.components),
    ] {
        if v == 0 {
            return Err(format!("{option}: must be at least 1, got 0").into());
        }
    }
    if let Some(s) = args.std
        && !(s > 0.0 && s.is_finite())
    {
        return Err(format!("--std: must be > 0 and finite, got {s}").into());
    }
    let mean = args
        .mean
        .as_deref()
        .map(|m| m.parse().map_err(|e| format!("--mean: {e}")))
        .transpose()?;
    let b = builtin(
        &args.name,
        args.dim,
        mean.as_ref(),
        args.std,
        args.components,
        0.0,
    )?;
    let points = b.sample(args.n, args.seed)?;
    write_output(args.out.as_deref(), |w| Ok(write_points(w, &points)?))
}

/// Writes through `f` to standard output, or to `path` whole (see `write_whole_with`).
pub fn write_output(
    path: Option<&Path>,
    f: impl FnOnce(&mut dyn Write) -> AnyResult<()>,
) -> AnyResult<()> {
    match path {
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            f(&mut lock).and_then(|()| Ok(lock.flush()?))
        }
        Some(path) => {
            let mut failure = None;
            let result = write_whole_with(path, |w| {
                f(w).map_err(|e| {
                    let err = ganflow::Error::File {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    };
                    failure = Some(e);
                    err
                })
            });
            match (result, failure) {
                (Ok(()), _) => Ok(()),
                (Err(_), Some(e)) => Err(e),
                (Err(e), None) => Err(e.into()),
            }
        }
    }
}

/// Whether `e`, or an error it wraps, is a broken pipe.
pub fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
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
        if let Some(ganflow::Error::Io { source, .. }) = err.downcast_ref::<ganflow::Error>()
            && source.kind() == std::io::ErrorKind::BrokenPipe
        {
            return true;
        }
        cur = err.source();
    }
    false
}
