//! `ganflow run`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use std::ops::ControlFlow;

use ganflow::datasets::{Builtin, read_csv, read_csv_with_header, write_points_named};
use ganflow::metrics::{MetricsSpec, MetricsTracker, Modes, mode_coverage};
use ganflow::output::CsvRecorder;
use ganflow::points::Standardizer;
use ganflow::{
    Anneal, Integrator, Observation, Observer, Points, RunSummary, Scheme, Simulation, StopRule,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::args::{DataDensityArg, IntegratorArg, RunArgs};
use super::{AnyResult, builtin, flow_config, temp_beside};

fn free_run_dir() -> PathBuf {
    (1..)
        .map(|i| PathBuf::from(format!("runs/run-{i}")))
        .find(|p| !p.exists())
        .expect("some index is free")
}

/// The data, the built-in it came from (if any) and its column names (if it has a header).
type Loaded = (Points, Option<Builtin>, Option<Vec<String>>);

pub(super) fn load_data(args: &RunArgs) -> AnyResult<Loaded> {
    match &args.data {
        Some(path) => {
            let (points, header) = read_csv_with_header(path)?;
            Ok((points, None, header))
        }
        None => {
            let b = builtin(
                &args.target,
                args.dim,
                args.mean.as_deref(),
                args.std,
                args.components,
                3.0,
            )?;
            Ok((b.sample(args.m, args.seed)?, Some(b), None))
        }
    }
}

/// The coordinates the flow runs on, fitted on the data: standardised, whitened, or the
/// data's own (`None`).
fn coordinates(args: &RunArgs, data: &Points) -> Option<Standardizer> {
    if args.whiten {
        Some(Standardizer::fit_whitening(data))
    } else if args.standardize {
        Some(Standardizer::fit(data))
    } else {
        None
    }
}

/// The starting particles, in the data's coordinates (before any standardisation).
fn load_init(args: &RunArgs, data: &Points) -> AnyResult<Points> {
    let d = data.dim();
    let seed = args.seed.wrapping_add(1);
    let particles = match args.init.as_str() {
        "gaussian" | "uniform" if args.data.is_some() || args.standardize || args.whiten => {
            // Matched to the data: per-feature mean and std (the full covariance when
            // whitening), so any data set works untuned.
            let fit = coordinates(args, data).unwrap_or_else(|| Standardizer::fit(data));
            let unit = if args.init == "gaussian" {
                Builtin::Gaussian {
                    mean: vec![0.0; d],
                    std: 1.0,
                }
            } else {
                Builtin::Uniform {
                    dim: d,
                    low: -2.0,
                    high: 2.0,
                }
            };
            fit.inverse(&unit.sample(args.n, seed)?)?
        }
        name => match Builtin::by_name(name, d) {
            Some(b) => b.sample(args.n, seed)?,
            None => read_csv(Path::new(name))?,
        },
    };
    if particles.dim() != d {
        let source = match &args.data {
            Some(path) => path.display().to_string(),
            None => format!("the built-in target {}", args.target),
        };
        return Err(format!(
            "{} has {} columns but {source} has {}: particles and data must have the same dimension",
            args.init,
            particles.dim(),
            d
        )
        .into());
    }
    Ok(particles)
}

pub fn run(mut args: RunArgs) -> AnyResult<()> {
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
    let (data, target, names) = load_data(&args)?;
    let particles = load_init(&args, &data)?;
    // Files named in run.toml are made absolute, so that it works from any folder.
    for path in [&mut args.data, &mut args.centers].into_iter().flatten() {
        *path = fs::canonicalize(&*path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if Builtin::by_name(&args.init, 2).is_none() {
        let p = Path::new(&args.init);
        args.init = fs::canonicalize(p)
            .map_err(|e| format!("{}: {e}", p.display()))?
            .to_string_lossy()
            .into_owned();
    }
    let mut config = flow_config(&args.flow)?;
    config.dt = args.dt;
    config.anneal = args.anneal.as_deref().map(parse_anneal).transpose()?;
    config.integrator = match args.integrator {
        IntegratorArg::Euler => Integrator::Euler,
        IntegratorArg::Heun => Integrator::Heun,
    };
    let data_for_plot = args.plot.then(|| data.clone());
    let standardizer = coordinates(&args, &data);
    let (data_run, particles_run) = match &standardizer {
        Some(s) => (s.forward(&data)?, s.forward(&particles)?),
        None => (data, particles),
    };
    let mut sim = match args.data_density {
        DataDensityArg::Kde => Simulation::new(config, particles_run, data_run)?,
        DataDensityArg::Exact => {
            let density = target
                .as_ref()
                .map(|b| b.density())
                .transpose()?
                .flatten()
                .ok_or_else(|| {
                    format!(
                        "--data-density exact needs a built-in target with a closed-form density \
                         (gaussian, gaussian-mixture, eight-gaussians, twenty-five-gaussians), not {}",
                        args.data
                            .as_ref()
                            .map_or(args.target.clone(), |p| p.display().to_string())
                    )
                })?;
            if standardizer.is_some() {
                return Err(
                    "--data-density exact cannot be combined with --standardize or --whiten".into(),
                );
            }
            Simulation::with_exact_density(config, particles_run, data_run, density)?
        }
    };
    // Mode centres are in the data's units: not usable on standardised coordinates.
    let modes = match mode_centres(&args, target.as_ref())? {
        Some(_) if standardizer.is_some() && args.centers.is_some() => {
            return Err(
                "--centers are in the data's units: leave out --standardize and --whiten".into(),
            );
        }
        Some(_) if standardizer.is_some() => None,
        m => m,
    };
    let metrics = match &args.metrics {
        None => None,
        Some(list) => {
            let spec = MetricsSpec::parse(list, modes.clone(), args.seed)?;
            Some(MetricsTracker::new(spec, sim.data())?)
        }
    };
    let stop = StopRule {
        max_steps: if args.time.is_some() {
            None
        } else {
            Some(args.steps)
        },
        max_time: args.time,
        connection_tol: args.connection_tol,
    };

    // Everything is written into a staging folder beside the target and renamed into place
    // only when complete: a failed or interrupted run leaves nothing that looks finished.
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let staging = temp_beside(&out);
    let result = write_run(
        &mut sim,
        &args,
        &stop,
        standardizer,
        names,
        metrics,
        &staging,
    )
    .and_then(|r| {
        if let Some(data) = &data_for_plot {
            super::plot::plot_dir(&staging, data, None, args.record_velocity)?;
        }
        Ok(r)
    });
    match result {
        Ok((summary, seconds, extra)) => {
            if out.exists() {
                fs::remove_dir_all(&out)?;
            }
            fs::rename(&staging, &out)?;
            let (h_g, h_q) = sim.bandwidths();
            let last = summary.last;
            println!(
                "{} steps, t = {:.4}, stopped: {:?}; jsd {:.4e}, |A|^2 {:.4e}, mean D* {:.4} (particles) {:.4} (data); h_g {:.4}, h_q {:.4}; {:.2} s",
                summary.steps,
                summary.t,
                summary.reason,
                last.jsd,
                last.connection_norm2,
                last.mean_dstar_particles,
                last.mean_dstar_data,
                h_g,
                h_q,
                seconds,
            );
            let mut extra: Vec<String> = extra
                .iter()
                .filter_map(|(name, v)| v.map(|v| format!("{name} {v:.4}")))
                .collect();
            // The summary names the modes covered whenever the target's modes are known.
            if let Some(m) = &modes
                && !extra.iter().any(|e| e.starts_with("modes_covered"))
            {
                let c = mode_coverage(sim.particles(), m)?;
                extra.push(format!(
                    "modes covered {} of {} (high quality {:.3})",
                    c.covered,
                    m.centers.len(),
                    c.high_quality
                ));
            }
            if !extra.is_empty() {
                println!("{}", extra.join(", "));
            }
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

fn finish(w: BufWriter<fs::File>) -> AnyResult<()> {
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}

/// The optional metrics of the last observation.
type Extra = Vec<(&'static str, Option<f64>)>;

#[allow(clippy::too_many_arguments)]
fn write_run(
    sim: &mut Simulation,
    args: &RunArgs,
    stop: &StopRule,
    standardizer: Option<Standardizer>,
    names: Option<Vec<String>>,
    metrics: Option<MetricsTracker>,
    dir: &Path,
) -> AnyResult<(RunSummary, f64, Extra)> {
    fs::create_dir_all(dir)?;
    let mut toml_text = format!(
        "# ganflow {} -- `ganflow run --config run.toml` reproduces final.csv\nganflow_version = {:?}\n",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_VERSION")
    );
    toml_text.push_str(&toml::to_string(args)?);
    let mut f = create(&dir.join("run.toml"))?;
    f.write_all(toml_text.as_bytes())?;
    finish(f)?;

    let start = Instant::now();
    let mut recorder = CsvRecorder::new(
        create(&dir.join("trajectories.csv"))?,
        create(&dir.join("metrics.csv"))?,
        args.record_velocity,
    );
    if let Some(s) = standardizer.clone() {
        recorder = recorder.unscaled_by(s);
    }
    if let Some(tracker) = metrics {
        recorder = recorder.with_metrics(tracker, sim.config().scheme == Scheme::Variational);
    }
    let total_steps = match stop.max_time {
        Some(t) => (t / args.dt).ceil() as u64,
        None => args.steps,
    };
    let mut observer = Progress::new(recorder, total_steps, args.quiet);
    let summary = sim.run(stop, args.every, &mut observer);
    observer.bar.finish_and_clear();
    let summary = summary?;
    let extra = observer.inner.last_metrics().to_vec();
    let (t, m) = observer.inner.finish()?;
    finish(t)?;
    finish(m)?;
    let final_points = match &standardizer {
        Some(s) => s.inverse(sim.particles())?,
        None => sim.particles().clone(),
    };
    let mut f = create(&dir.join("final.csv"))?;
    // In the input's format: its column names where it had a header.
    write_points_named(&mut f, &final_points, names.as_deref())?;
    finish(f)?;
    Ok((summary, start.elapsed().as_secs_f64(), extra))
}

/// `FACTOR:STEPS`.
fn parse_anneal(s: &str) -> AnyResult<Anneal> {
    let bad = || format!("--anneal: expected FACTOR:STEPS (e.g. 4:100), got {s:?}");
    let (f, n) = s.split_once(':').ok_or_else(bad)?;
    Ok(Anneal {
        factor: f.trim().parse().map_err(|_| bad())?,
        steps: n.trim().parse().map_err(|_| bad())?,
    })
}

/// The mode centres for the mode metrics: `--centers` with `--center-std`, else the
/// built-in target's components.
fn mode_centres(args: &RunArgs, target: Option<&Builtin>) -> AnyResult<Option<Modes>> {
    if let Some(path) = &args.centers {
        let std = args
            .center_std
            .ok_or("--centers needs --center-std (the standard deviation of each mode)")?;
        return Ok(Some(Modes {
            centers: read_csv(path)?,
            std,
        }));
    }
    Ok(match target.map(|b| b.density()).transpose()?.flatten() {
        Some(mixture) => Some(Modes {
            centers: mixture.centers,
            std: mixture.std,
        }),
        None => None,
    })
}

/// Passes observations to the CSV recorder and shows a progress bar with the live JSD on
/// standard error, for runs that last longer than about a second.
struct Progress<W: Write> {
    inner: CsvRecorder<W>,
    bar: ProgressBar,
    started: Instant,
    shown: bool,
    quiet: bool,
}

impl<W: Write> Progress<W> {
    fn new(inner: CsvRecorder<W>, total: u64, quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} steps, ETA {eta}, {msg}")
                .expect("a valid template"),
        );
        Self {
            inner,
            bar,
            started: Instant::now(),
            shown: false,
            quiet,
        }
    }
}

impl<W: Write> Observer for Progress<W> {
    fn observe(&mut self, obs: &Observation<'_>) -> ganflow::Result<ControlFlow<()>> {
        self.bar
            .set_message(format!("jsd {:.4e}", obs.diagnostics.jsd));
        self.inner.observe(obs)
    }

    fn progress(&mut self, step: u64, _t: f64) {
        if !self.shown && !self.quiet && self.started.elapsed().as_secs_f64() > 1.0 {
            // Hidden by indicatif itself when standard error is not a terminal.
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_position(step);
    }
}
