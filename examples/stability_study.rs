//! The stability study: the linearised flow's predicted rates against what particle runs
//! measure.
//!
//! 1. A Gaussian target N(0, 1) in closed form, particle bandwidth 0.3, each generator loss:
//!    the slowest rate of `ganflow spectrum` (translation, `w(1/2)`) against the decay rate
//!    of `||A||²` measured on 2000 particles started as the equilibrium shape shifted by 1.
//! 2. Two modes (standard deviation 0.5) at separations 2, 2.5 and 3, minimax loss, particle
//!    bandwidth 0.1, started out of balance (70 % of the particles in the left mode): the
//!    imbalance decays at the spectrum's slowest rate, `w(1/2) lambda_1`, while each mode
//!    takes its shape at about `w(1/2) / s²`.
//! 3. A 2-D Gaussian N(0, I), 2000 particles at rest on the data (the particles are the
//!    data, with the data's bandwidth: `g = q`, every velocity 0): the particle spectrum's
//!    four slowest modes, drawn as arrows. And the two modes of part 2 in 2-D (separation
//!    3): the continuum spectrum's two slowest modes as arrows, mass moving through the gap
//!    first.
//!
//! `cargo run --release --example stability_study [OUT_DIR]` (default
//! `examples/stability_study`) writes `rates.csv`, `imbalance.csv`, `imbalance.png`,
//! `slowest_mode.png`, `particle_modes.csv`, `particle_modes.png` and `continuum_modes.png`;
//! the README shows
//! them. About 25 seconds on two cores.

use std::ops::ControlFlow;
use std::path::PathBuf;

use ganflow::datasets::{Builtin, IsotropicMixture, gaussian};
use ganflow::metrics::{DecayPoint, decay_rate_over};
use ganflow::num::Portable;
use ganflow::plot::modes::{ModeField, modes_png};
use ganflow::plot::{CurvePanel, curves_png};
use ganflow::spectrum::{ContinuumTarget, continuum_1d, continuum_2d, particle_spectrum};
use ganflow::{BandwidthSpec, FlowConfig, Loss, Observation, Points, Simulation, StopRule};

const N: usize = 2000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map_or(PathBuf::from("examples/stability_study"), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    gaussian_rates(&out)?;
    imbalance(&out)?;
    particle_modes(&out)?;
    Ok(())
}

/// Part 3: the slowest particle modes of a 2-D Gaussian equilibrium, drawn as arrows.
fn particle_modes(out: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let h = 0.3;
    let data = gaussian(N, &[0.0, 0.0], 1.0, 7)?;
    let config = FlowConfig {
        bandwidth_g: BandwidthSpec::fixed(h),
        bandwidth_q: BandwidthSpec::fixed(h),
        estimator: ganflow::Estimator::Exact,
        ..FlowConfig::default()
    };
    let sim = Simulation::new(config, data.clone(), data.clone())?;
    let velocity = |p: &Points| sim.velocity_of(p);
    let spectrum = particle_spectrum(&velocity, &data, h, 4, 0)?;
    let mut csv = csv::Writer::from_path(out.join("particle_modes.csv"))?;
    csv.write_record(["k", "rate", "frequency", "resolution", "residual", "change"])?;
    for (k, m) in spectrum.modes.iter().enumerate() {
        csv.write_record(
            [
                (k + 1) as f64,
                m.rate,
                m.frequency,
                m.resolution,
                m.residual,
                m.change,
            ]
            .map(|v| v.to_string()),
        )?;
    }
    csv.flush()?;
    let fields: Vec<ModeField> = spectrum
        .modes
        .iter()
        .enumerate()
        .map(|(k, m)| ModeField {
            title: format!("mode {}, rate {:.4}", k + 1, m.rate),
            displacement: m.displacement.clone(),
        })
        .collect();
    modes_png(&out.join("particle_modes.png"), &data, &data, &fields, 420)?;

    // The continuum in 2-D: two clusters, the slowest modes where rho_0 has mass.
    let target = ContinuumTarget::Closed(IsotropicMixture {
        centers: Points::new("centres", vec![-1.5, 0.0, 1.5, 0.0], 2)?,
        std: 0.5,
    });
    let sp = continuum_2d(&target, 0.15, 0.5, 60, 2)?;
    let peak = sp.rho0.iter().copied().fold(0.0, f64::max);
    let keep: Vec<usize> = (0..sp.rho0.len())
        .filter(|&i| sp.rho0[i] >= 1e-3 * peak)
        .collect();
    let fields: Vec<ModeField> = sp
        .modes
        .iter()
        .zip(&sp.displacements)
        .enumerate()
        .map(|(k, (m, dx))| ModeField {
            title: format!("continuum mode {}, rate {:.4}", k + 1, m.rate),
            displacement: keep
                .iter()
                .flat_map(|&i| [dx[2 * i], dx[2 * i + 1]])
                .collect(),
        })
        .collect();
    let cells = sp.centres.select(&keep);
    modes_png(
        &out.join("continuum_modes.png"),
        &cells,
        &cells,
        &fields,
        420,
    )?;
    println!(
        "2-D clusters, continuum: slowest rates {:?}",
        sp.modes.iter().map(|m| m.rate).collect::<Vec<_>>()
    );
    Ok(())
}

/// Part 1: predicted against measured local rates for the four losses.
fn gaussian_rates(out: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let h = 0.3;
    let target = Builtin::Gaussian {
        mean: vec![0.0],
        std: 1.0,
    };
    let density = target.density()?.expect("closed form");
    let data = target.sample(500, 1)?;
    let start = gaussian(N, &[1.0], (1.0f64 - h * h).sqrt(), 2)?;
    let mut csv = csv::Writer::from_path(out.join("rates.csv"))?;
    csv.write_record(["loss", "predicted", "measured", "relative_error"])?;
    println!("loss            predicted  measured  error");
    for (name, loss) in [
        ("minimax", Loss::Minimax),
        ("non-saturating", Loss::NonSaturating),
        ("least-squares", Loss::LeastSquares),
        ("kl", Loss::Kl),
    ] {
        let spectrum = continuum_1d(
            &ContinuumTarget::Closed(density.clone()),
            h,
            loss.weight(0.5),
            400,
            1,
        )?;
        let predicted = spectrum.modes[0].rate;
        let cfg = FlowConfig {
            loss,
            dt: 0.02 / predicted,
            bandwidth_g: BandwidthSpec::fixed(h),
            ..FlowConfig::default()
        };
        let mut sim =
            Simulation::with_exact_density(cfg, start.clone(), data.clone(), density.clone())?;
        let mut seen: Vec<DecayPoint> = Vec::new();
        let mut record = |o: &Observation<'_>| {
            seen.push(DecayPoint {
                t: o.t,
                connection_norm2: o.diagnostics.connection_norm2,
            });
            Ok(ControlFlow::Continue(()))
        };
        // From 2/rate (near enough to equilibrium) to 5/rate (before the noise floor).
        let (t0, t1) = (2.0 / predicted, 5.0 / predicted);
        let stop = StopRule {
            max_time: Some(t1),
            ..Default::default()
        };
        sim.run(&stop, 10, &mut record)?;
        let (measured, _, _) = decay_rate_over(&seen, t0, t1).ok_or("no decay measured")?;
        let error = measured / predicted - 1.0;
        println!(
            "{name:<15} {predicted:>9.4} {measured:>9.4} {:>+6.1}%",
            100.0 * error
        );
        csv.write_record([
            name.to_string(),
            predicted.to_string(),
            measured.to_string(),
            error.to_string(),
        ])?;
    }
    csv.flush()?;
    Ok(())
}

/// Part 2: mass moving between two modes.
fn imbalance(out: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let (s, h) = (0.5f64, 0.1);
    let loss = Loss::Minimax;
    let w = loss.weight(0.5);
    let mut csv = csv::Writer::from_path(out.join("imbalance.csv"))?;
    csv.write_record(["separation", "t", "imbalance"])?;
    let mut summary = csv::Writer::from_path(out.join("imbalance_rates.csv"))?;
    summary.write_record([
        "separation",
        "predicted_slowest",
        "measured_imbalance_rate",
        "own_relaxation",
    ])?;
    println!("separation  predicted w lambda_1  measured  next mode");
    let mut lines = Vec::new();
    let mut grid_t: Vec<f64> = Vec::new();
    let mut slowest_shape = None;
    for sep in [2.0f64, 2.5, 3.0] {
        let c = sep / 2.0;
        let mixture = IsotropicMixture {
            centers: Points::new("centres", vec![-c, c], 1)?,
            std: s,
        };
        let spectrum = continuum_1d(&ContinuumTarget::Closed(mixture.clone()), h, w, 800, 2)?;
        let predicted = spectrum.modes[0].rate;
        let own = spectrum.modes[1].rate;
        if sep == 3.0 {
            // Shown where rho_0 is at least 1e-3 of its peak: beyond, the displacement that
            // carries a tiny density change is huge and says nothing.
            let peak = spectrum.rho0.iter().copied().fold(0.0, f64::max);
            let dx: Vec<f64> = spectrum.modes[0]
                .displacement(&spectrum)
                .into_iter()
                .zip(&spectrum.rho0)
                .map(|(d, r)| if *r >= 1e-3 * peak { d } else { f64::NAN })
                .collect();
            let eps = spectrum.modes[0].vector.clone();
            slowest_shape = Some((spectrum.grid.clone(), dx, eps));
        }
        // The equilibrium shape of each mode, 70 % on the left.
        let s0 = (s * s - h * h).sqrt();
        let left = gaussian(N * 7 / 10, &[-c], s0, 3)?;
        let right = gaussian(N - N * 7 / 10, &[c], s0, 4)?;
        let start = Points::new(
            "start",
            left.as_slice()
                .iter()
                .chain(right.as_slice())
                .copied()
                .collect(),
            1,
        )?;
        // Samples of the target (they serve only the data-side diagnostics: the flow sees
        // the closed form).
        let (a, b) = (gaussian(500, &[-c], s, 5)?, gaussian(500, &[c], s, 6)?);
        let data = Points::new(
            "data",
            a.as_slice().iter().chain(b.as_slice()).copied().collect(),
            1,
        )?;
        let t_end = 4.0 / predicted;
        let cfg = FlowConfig {
            loss,
            dt: (t_end / 2000.0).min(0.05),
            bandwidth_g: BandwidthSpec::fixed(h),
            ..FlowConfig::default()
        };
        let mut sim = Simulation::with_exact_density(cfg, start, data, mixture)?;
        let mut history: Vec<(f64, f64)> = Vec::new();
        let mut record = |o: &Observation<'_>| {
            let right = o.particles.as_slice().iter().filter(|x| **x > 0.0).count();
            history.push((o.t, right as f64 / o.particles.len() as f64 - 0.5));
            Ok(ControlFlow::Continue(()))
        };
        let stop = StopRule {
            max_time: Some(t_end),
            ..Default::default()
        };
        sim.run(&stop, 20, &mut record)?;
        // The imbalance's rate over the window where each mode has taken its shape (after
        // 3 / own) and before it is lost in the counting noise of N particles.
        let fit: Vec<(f64, f64)> = history
            .iter()
            .filter(|(t, m)| *t > 3.0 / own && m.abs() > 5.0 / (N as f64).sqrt() / 2.0)
            .map(|(t, m)| (*t, m.abs().ln_p()))
            .collect();
        let measured = if fit.len() >= 3 {
            let n = fit.len() as f64;
            let (st, sl) = fit.iter().fold((0.0, 0.0), |(a, b), (t, l)| (a + t, b + l));
            let (mt, ml) = (st / n, sl / n);
            let num: f64 = fit.iter().map(|(t, l)| (t - mt) * (l - ml)).sum();
            let den: f64 = fit.iter().map(|(t, _)| (t - mt) * (t - mt)).sum();
            -num / den
        } else {
            f64::NAN
        };
        println!("{sep:>10} {predicted:>21.5} {measured:>9.5} {own:>10.4}");
        summary.write_record([sep, predicted, measured, own].map(|v| v.to_string()))?;
        for (t, m) in &history {
            csv.write_record([sep.to_string(), t.to_string(), m.to_string()])?;
        }
        // Curves against t in units of the predicted time scale, on one axis.
        let scaled: Vec<(f64, f64)> = history.iter().map(|(t, m)| (t * predicted, *m)).collect();
        if grid_t.is_empty() {
            grid_t = scaled.iter().map(|(t, _)| *t).collect();
        }
        let values = grid_t
            .iter()
            .map(|t| {
                scaled
                    .iter()
                    .min_by(|a, b| (a.0 - t).abs().total_cmp(&(b.0 - t).abs()))
                    .map_or(f64::NAN, |p| p.1.abs())
            })
            .collect();
        lines.push((format!("separation {sep}"), values));
    }
    csv.flush()?;
    summary.flush()?;
    let reference: Vec<f64> = grid_t.iter().map(|t| 0.2 * (-t).exp_p()).collect();
    lines.push(("0.2 exp(-w lambda_1 t)".into(), reference));
    curves_png(
        &out.join("imbalance.png"),
        &grid_t,
        &[CurvePanel {
            title: "|imbalance| against w lambda_1 t".into(),
            lines,
            log: true,
        }],
        (640, 360),
    )?;
    if let Some((x, dx, eps)) = slowest_shape {
        curves_png(
            &out.join("slowest_mode.png"),
            &x,
            &[
                CurvePanel {
                    title: "slowest mode, separation 3: density change against x".into(),
                    lines: vec![("eps".into(), eps)],
                    log: false,
                },
                CurvePanel {
                    title: "the displacement that makes it (where rho_0 > 1e-3 max)".into(),
                    lines: vec![("dx".into(), dx)],
                    log: false,
                },
            ],
            (640, 520),
        )?;
    }
    Ok(())
}
