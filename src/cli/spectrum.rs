//! `ganflow spectrum`: the linearised flow's slowest modes, its fastest rate and the stable
//! time steps, from the continuum operator (1-D and 2-D targets) or from the Jacobian of a
//! set of particles' velocities (any dimension).

use std::path::Path;

use ganflow::output::fmt_f64;
use ganflow::plot::modes::{ModeField, modes_png};
use ganflow::run::spec::Start;
use ganflow::run::{Inputs, RunSpec};
use ganflow::spectrum::{RunParticleSpectrum, RunSpectrum, for_run, particles_for_run};

use super::args::SpectrumArgs;
use super::{AnyResult, resolve_spec, say, set_threads, write_output};

/// Options of `run` that only the dynamics use: refused here rather than ignored.
const DYNAMICS: [&str; 12] = [
    "init",
    "n",
    "steps",
    "time",
    "connection_tol",
    "dt",
    "dt_tol",
    "integrator",
    "anneal",
    "every",
    "record_velocity",
    "metrics",
];

/// Modes drawn by `--arrows`.
const DRAWN: usize = 4;

/// `--arrows` on a continuum grid draws the cells where `rho_0` is above this share of its
/// peak.
const DRAWN_LEVEL: f64 = 1e-3;

pub fn spectrum(args: SpectrumArgs, given: &[String]) -> AnyResult<()> {
    let refuse = |id: &str, why: &str| -> AnyResult<()> {
        Err(format!("--{}: {why}", id.replace('_', "-")).into())
    };
    for id in given {
        if DYNAMICS.contains(&id.as_str()) {
            refuse(
                id,
                "not an option of spectrum (it describes the equilibrium, not a run)",
            )?;
        }
        match (id.as_str(), args.particles.is_some()) {
            ("estimator" | "tol", false) => refuse(
                id,
                "the continuum spectrum uses no estimator; it is an option of --particles",
            )?,
            ("grid_points", true) => refuse(
                id,
                "an option of the continuum spectrum; --particles computes the particle one",
            )?,
            ("products", false) => refuse(id, "an option of the particle spectrum (--particles)")?,
            _ => {}
        }
    }
    set_threads(args.threads)?;
    let mut spec: RunSpec = resolve_spec(&args.spec, args.config.as_deref(), given)?;
    if args.modes == 0 {
        return Err("--modes: must be at least 1, got 0".into());
    }
    if let Some(path) = &args.particles {
        spec.init = Start::File(path.clone());
    }
    let inputs = Inputs::load(&spec)?;
    let summary = match &args.particles {
        Some(_) => particles(&args, &spec, &inputs)?,
        None => continuum(&args, &spec, &inputs)?,
    };
    for line in summary {
        // With the CSV on standard output, the summary goes to standard error.
        if args.out.is_some() {
            say(&line)?;
        } else {
            eprintln!("{line}");
        }
    }
    Ok(())
}

/// The continuum spectrum: writes the outputs, returns the summary lines.
fn continuum(args: &SpectrumArgs, spec: &RunSpec, inputs: &Inputs) -> AnyResult<Vec<String>> {
    let RunSpectrum {
        spectrum: s,
        w_half,
        h_g,
    } = for_run(spec, inputs, args.grid_points, args.modes)?;
    let modes = s.modes();
    write_output(args.out.as_deref(), |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(["k", "rate", "frequency", "resolution"])?;
        for (k, m) in modes.iter().enumerate() {
            csv.write_record([
                (k + 1).to_string(),
                fmt_f64(m.rate),
                fmt_f64(m.frequency),
                fmt_f64(m.resolution),
            ])?;
        }
        csv.flush()?;
        Ok(())
    })?;
    let centres = s.centres()?;
    let d = centres.dim();
    let fields = s.displacements();
    if let Some(path) = &args.vectors {
        let eps: Vec<&[f64]> = modes.iter().map(|m| m.vector.as_slice()).collect();
        write_fields(path, &centres, &fields, Some(&eps))?;
    }
    if let Some(path) = &args.arrows {
        // Only where the equilibrium has mass: in the far tails the displacement that
        // makes a perturbation is large and says nothing.
        let peak = s.rho0().iter().copied().fold(0.0, f64::max);
        let keep: Vec<usize> = (0..centres.len())
            .filter(|&i| s.rho0()[i] >= DRAWN_LEVEL * peak)
            .collect();
        let kept: Vec<Vec<f64>> = fields
            .iter()
            .map(|dx| {
                keep.iter()
                    .flat_map(|&i| dx[i * d..(i + 1) * d].to_vec())
                    .collect()
            })
            .collect();
        let rates: Vec<f64> = modes.iter().map(|m| m.rate).collect();
        draw(path, &inputs.data, &centres.select(&keep), &rates, &kept)?;
    }
    let g = s.cells();
    let grid = if d == 1 {
        format!("{g} cells")
    } else {
        format!("{g} x {g} cells")
    };
    Ok(vec![
        format!(
            "{} slowest modes on {grid} (w(1/2) = {w_half}, h_g = {h_g:.4}); slowest rate {}",
            modes.len(),
            modes
                .first()
                .map_or("none".into(), |m| format!("{:.6}", m.rate)),
        ),
        format!(
            "fastest rate {:.6}: stable dt {:.6} (Euler), {:.6} (Heun)",
            s.fastest_rate(),
            s.stable_dt_euler(),
            s.stable_dt_heun()
        ),
    ])
}

/// The particle spectrum: writes the outputs, returns the summary lines.
fn particles(args: &SpectrumArgs, spec: &RunSpec, inputs: &Inputs) -> AnyResult<Vec<String>> {
    let RunParticleSpectrum {
        spectrum: s,
        positions,
        displacements,
        h_g,
    } = particles_for_run(spec, inputs, args.modes, args.products.unwrap_or(0))?;
    write_output(args.out.as_deref(), |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(["k", "rate", "frequency", "resolution", "residual", "change"])?;
        for (k, m) in s.modes.iter().enumerate() {
            csv.write_record([
                (k + 1).to_string(),
                fmt_f64(m.rate),
                fmt_f64(m.frequency),
                fmt_f64(m.resolution),
                fmt_f64(m.residual),
                fmt_f64(m.change),
            ])?;
        }
        csv.flush()?;
        Ok(())
    })?;
    let d = positions.dim();
    if let Some(path) = &args.vectors {
        write_fields(path, &positions, &displacements, None)?;
    }
    if let Some(path) = &args.arrows {
        let rates: Vec<f64> = s.modes.iter().map(|m| m.rate).collect();
        draw(path, &inputs.data, &positions, &rates, &displacements)?;
    }
    let mut lines = vec![
        format!(
            "{} slowest modes of {} particles in {d}-D (h_g = {h_g:.4}); slowest rate {}",
            s.modes.len(),
            positions.len(),
            s.modes
                .first()
                .map_or("none".into(), |m| format!("{:.6}", m.rate)),
        ),
        format!(
            "fastest rate {:.6} (estimated from below): stable dt {:.6} (Euler), {:.6} (Heun)",
            s.fastest_rate, s.stable_dt_euler, s.stable_dt_heun
        ),
        format!(
            "{} Jacobian-vector products, {} velocity evaluations; the particles' rms speed {:.3e} \
             (0 at an equilibrium)",
            s.products, s.evaluations, s.rms_speed
        ),
    ];
    if s.modes.iter().any(|m| m.rate < 0.0) {
        lines.push(
            "warning: negative rates: displacements that grow here, so these particles are not \
             at a stable equilibrium (run the flow longer, and take its final.csv)"
                .into(),
        );
    }
    Ok(lines)
}

/// Writes `--vectors`: `mode,id,x0..,dx0..` for each mode's displacement at every
/// position, and the density perturbation `eps` beside it where there is one (continuum).
fn write_fields(
    path: &Path,
    positions: &ganflow::Points,
    fields: &[Vec<f64>],
    eps: Option<&[&[f64]]>,
) -> AnyResult<()> {
    let d = positions.dim();
    write_output(Some(path), |w| {
        let mut csv = csv::Writer::from_writer(w);
        let mut header = vec!["mode".to_string(), "id".to_string()];
        header.extend((0..d).map(|a| format!("x{a}")));
        header.extend((0..d).map(|a| format!("dx{a}")));
        if eps.is_some() {
            header.push("eps".into());
        }
        csv.write_record(&header)?;
        for (k, dx) in fields.iter().enumerate() {
            for (i, x) in positions.rows().enumerate() {
                let mut row = vec![(k + 1).to_string(), i.to_string()];
                row.extend(x.iter().map(|v| fmt_f64(*v)));
                row.extend(dx[i * d..(i + 1) * d].iter().map(|v| fmt_f64(*v)));
                if let Some(e) = eps {
                    row.push(fmt_f64(e[k][i]));
                }
                csv.write_record(&row)?;
            }
        }
        csv.flush()?;
        Ok(())
    })
}

/// Draws the slowest modes (up to [`DRAWN`]) at `positions`.
fn draw(
    path: &Path,
    data: &ganflow::Points,
    positions: &ganflow::Points,
    rates: &[f64],
    fields: &[Vec<f64>],
) -> AnyResult<()> {
    let modes: Vec<ModeField> = rates
        .iter()
        .zip(fields)
        .take(DRAWN)
        .enumerate()
        .map(|(k, (rate, dx))| ModeField {
            title: format!("mode {}, rate {rate:.4}", k + 1),
            displacement: dx.clone(),
        })
        .collect();
    if modes.is_empty() {
        return Err(format!("{}: no mode to draw", path.display()).into());
    }
    modes_png(path, data, positions, &modes, 420)?;
    Ok(())
}
