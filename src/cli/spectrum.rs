//! `ganflow spectrum`: the linearised flow's slowest modes, its fastest rate and the stable
//! time steps.

use ganflow::output::fmt_f64;
use ganflow::run::{Inputs, RunSpec};
use ganflow::spectrum::{RunSpectrum, for_run};

use super::args::SpectrumArgs;
use super::{AnyResult, resolve_spec, say, write_output};

/// Options of `run` that only the dynamics use: refused here rather than ignored.
const DYNAMICS: [&str; 12] = [
    "init",
    "n",
    "steps",
    "time",
    "connection_tol",
    "dt",
    "integrator",
    "anneal",
    "every",
    "record_velocity",
    "metrics",
    "estimator",
];

pub fn spectrum(args: SpectrumArgs, given: &[String]) -> AnyResult<()> {
    if let Some(id) = given.iter().find(|id| DYNAMICS.contains(&id.as_str())) {
        return Err(format!(
            "--{}: not an option of spectrum (it describes the equilibrium, not a run)",
            id.replace('_', "-")
        )
        .into());
    }
    let spec: RunSpec = resolve_spec(&args.spec, args.config.as_deref(), given)?;
    if args.modes == 0 {
        return Err("--modes: must be at least 1, got 0".into());
    }
    let inputs = Inputs::load(&spec)?;
    let RunSpectrum {
        spectrum: s,
        w_half,
        h_g,
    } = for_run(&spec, &inputs, args.grid_points, args.modes)?;
    write_output(args.out.as_deref(), |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(["k", "rate", "frequency", "resolution"])?;
        for (k, m) in s.modes.iter().enumerate() {
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
    if let Some(path) = &args.vectors {
        write_output(Some(path), |w| {
            let mut csv = csv::Writer::from_writer(w);
            csv.write_record(["mode", "id", "x0", "dx0", "eps"])?;
            for (k, m) in s.modes.iter().enumerate() {
                let dx = m.displacement(&s);
                for (i, ((x, d), e)) in s.grid.iter().zip(&dx).zip(&m.vector).enumerate() {
                    csv.write_record([
                        (k + 1).to_string(),
                        i.to_string(),
                        fmt_f64(*x),
                        fmt_f64(*d),
                        fmt_f64(*e),
                    ])?;
                }
            }
            csv.flush()?;
            Ok(())
        })?;
    }
    let lines = [
        format!(
            "{} slowest modes of {} (w(1/2) = {w_half}, h_g = {h_g:.4}); slowest rate {}",
            s.modes.len(),
            args.grid_points,
            s.modes
                .first()
                .map_or("none".into(), |m| format!("{:.6}", m.rate)),
        ),
        format!(
            "fastest rate {:.6}: stable dt {:.6} (Euler), {:.6} (Heun)",
            s.fastest_rate, s.stable_dt_euler, s.stable_dt_heun
        ),
    ];
    for line in lines {
        // With the CSV on standard output, the summary goes to standard error.
        if args.out.is_some() {
            say(&line)?;
        } else {
            eprintln!("{line}");
        }
    }
    Ok(())
}
