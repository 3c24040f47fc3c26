//! `ganflow run`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ganflow::datasets::{Builtin, read_csv, read_csv_with_header, write_points_named};
use ganflow::output::CsvRecorder;
use ganflow::points::Standardizer;
use ganflow::{Integrator, Points, RunSummary, Simulation, StopRule};

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

fn load_data(args: &RunArgs) -> AnyResult<Loaded> {
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

/// The starting particles, in the data's coordinates (before any standardisation).
fn load_init(args: &RunArgs, data: &Points) -> AnyResult<Points> {
    let d = data.dim();
    let seed = args.seed.wrapping_add(1);
    let particles = match args.init.as_str() {
        "gaussian" | "uniform" if args.data.is_some() || args.standardize => {
            // Matched to the data: per-feature mean and std, so any data set works untuned.
            let fit = Standardizer::fit(data);
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
    for path in [&mut args.data].into_iter().flatten() {
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
    config.integrator = match args.integrator {
        IntegratorArg::Euler => Integrator::Euler,
        IntegratorArg::Heun => Integrator::Heun,
    };
    let standardizer = args.standardize.then(|| Standardizer::fit(&data));
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
                return Err("--data-density exact and --standardize cannot be combined".into());
            }
            Simulation::with_exact_density(config, particles_run, data_run, density)?
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
    let result = write_run(&mut sim, &args, &stop, standardizer, names, &staging);
    match result {
        Ok((summary, seconds)) => {
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

fn write_run(
    sim: &mut Simulation,
    args: &RunArgs,
    stop: &StopRule,
    standardizer: Option<Standardizer>,
    names: Option<Vec<String>>,
    dir: &Path,
) -> AnyResult<(RunSummary, f64)> {
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
    let summary = sim.run(stop, args.every, &mut recorder)?;
    let (t, m) = recorder.finish()?;
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
    Ok((summary, start.elapsed().as_secs_f64()))
}
