//! Learning discriminators on the ring of 8 and the grid of 25: modes covered over time,
//! mass moving between modes, oscillation and rotation, against the optimal discriminator.
//!
//! For each target, 1000 particles from N(0, I) face 1000 data samples (kernel density
//! estimates at Scott's bandwidth for the optimal discriminator), with minimax weights and
//! `dt = 0.05` for 600 steps (t = 30), recorded every 20 steps. The discriminators:
//! `optimal`, and `rff:128` (length 0.3) and `mlp:32`, each at a slow setting (rate 0.05,
//! one step per generator step) and a fast one (rate 0.5, five steps).
//!
//! Per run: modes covered at the end and at their lowest after t = 5; mode losses (the
//! drops in the number of modes covered from one record to the next, summed); the mass that moved between modes (half the
//! total variation of the particles' histogram over the modes, summed over records, after
//! t = 5); JSD rises between records (oscillation); and the mean rotation share.
//!
//! `cargo run --release --example game_study [OUT_DIR]` (default `examples/game_study`)
//! writes `summary.csv`, `series.csv` and `modes.png`; the README shows them. About a
//! minute on two cores.

use std::ops::ControlFlow;
use std::path::PathBuf;

use ganflow::metrics::{Modes, mode_coverage};
use ganflow::plot::{CurvePanel, curves_png};
use ganflow::run::spec::{DiscriminatorKind, TimeStep};
use ganflow::run::{Inputs, RunSpec};
use ganflow::{Observation, Observer, Result, StopRule};

const STEPS: u64 = 600;
const EVERY: u64 = 20;
const SETTLE: f64 = 5.0;

/// One record.
#[derive(Clone, Debug)]
struct Record {
    t: f64,
    jsd: f64,
    covered: usize,
    histogram: Vec<f64>,
    rotation: Option<f64>,
}

struct Recorder {
    modes: Modes,
    records: Vec<Record>,
}

impl Observer for Recorder {
    fn observe(&mut self, o: &Observation<'_>) -> Result<ControlFlow<()>> {
        let cov = mode_coverage(o.particles, &self.modes)?;
        let k = self.modes.centers.len();
        let mut histogram = vec![0.0; k];
        for x in o.particles.rows() {
            let (best, _) = self
                .modes
                .centers
                .rows()
                .enumerate()
                .map(|(j, c)| {
                    (
                        j,
                        c.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f64>(),
                    )
                })
                .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
            histogram[best] += 1.0 / o.particles.len() as f64;
        }
        self.records.push(Record {
            t: o.t,
            jsd: o.diagnostics.jsd,
            covered: cov.covered,
            histogram,
            rotation: o.game.as_ref().map(|g| g.measures.rotation),
        });
        Ok(ControlFlow::Continue(()))
    }
}

struct Setting {
    name: &'static str,
    discriminator: DiscriminatorKind,
    lr: f64,
    steps: usize,
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map_or(PathBuf::from("examples/game_study"), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    let settings = [
        Setting {
            name: "optimal",
            discriminator: DiscriminatorKind::Optimal,
            lr: 0.1,
            steps: 1,
        },
        Setting {
            name: "rff:128 slow",
            discriminator: DiscriminatorKind::Rff(128),
            lr: 0.05,
            steps: 1,
        },
        Setting {
            name: "rff:128 fast",
            discriminator: DiscriminatorKind::Rff(128),
            lr: 0.5,
            steps: 5,
        },
        Setting {
            name: "mlp:32 slow",
            discriminator: DiscriminatorKind::Mlp(32),
            lr: 0.05,
            steps: 1,
        },
        Setting {
            name: "mlp:32 fast",
            discriminator: DiscriminatorKind::Mlp(32),
            lr: 0.5,
            steps: 5,
        },
    ];
    let mut summary = csv::Writer::from_path(out.join("summary.csv"))?;
    summary.write_record([
        "target",
        "discriminator",
        "modes",
        "covered_end",
        "covered_min_after_5",
        "mode_losses",
        "mass_moved",
        "jsd_end",
        "jsd_rises",
        "mean_rotation",
    ])?;
    let mut series = csv::Writer::from_path(out.join("series.csv"))?;
    series.write_record(["target", "discriminator", "t", "covered", "jsd", "rotation"])?;
    let mut panels = Vec::new();
    let mut grid_t = Vec::new();
    for target in ["eight-gaussians", "twenty-five-gaussians"] {
        let mut lines = Vec::new();
        for s in &settings {
            let spec = RunSpec {
                target: target.into(),
                n: 1000,
                m: 1000,
                steps: STEPS,
                every: EVERY,
                dt: TimeStep::Fixed(0.05),
                estimator: ganflow::run::spec::EstimatorName::Exact,
                discriminator: s.discriminator,
                disc_lr: s.lr,
                disc_steps: s.steps,
                disc_scale: if matches!(s.discriminator, DiscriminatorKind::Rff(_)) {
                    0.3
                } else {
                    1.0
                },
                ..RunSpec::default()
            };
            spec.check()?;
            let inputs = Inputs::load(&spec)?;
            let modes = inputs.modes.clone().ok_or("the target has modes")?;
            let mut sim = inputs.simulation(&spec)?;
            let mut rec = Recorder {
                modes: modes.clone(),
                records: Vec::new(),
            };
            let stop = StopRule {
                max_steps: Some(STEPS),
                max_time: None,
                connection_tol: None,
            };
            sim.run(&stop, EVERY, &mut rec)?;
            let r = &rec.records;
            let late: Vec<&Record> = r.iter().filter(|x| x.t >= SETTLE).collect();
            let losses = r
                .windows(2)
                .map(|w| w[0].covered.saturating_sub(w[1].covered))
                .sum::<usize>();
            let moved: f64 = late
                .windows(2)
                .map(|w| {
                    0.5 * w[0]
                        .histogram
                        .iter()
                        .zip(&w[1].histogram)
                        .map(|(a, b)| (a - b).abs())
                        .sum::<f64>()
                })
                .sum();
            let rises = r.windows(2).filter(|w| w[1].jsd > w[0].jsd + 1e-4).count();
            let rot: Vec<f64> = r.iter().filter_map(|x| x.rotation).collect();
            let mean_rot = if rot.is_empty() {
                f64::NAN
            } else {
                rot.iter().sum::<f64>() / rot.len() as f64
            };
            let last = r.last().ok_or("records")?;
            summary.write_record([
                target.to_string(),
                s.name.to_string(),
                modes.centers.len().to_string(),
                last.covered.to_string(),
                late.iter()
                    .map(|x| x.covered)
                    .min()
                    .unwrap_or(0)
                    .to_string(),
                losses.to_string(),
                format!("{moved:.3}"),
                format!("{:.4}", last.jsd),
                rises.to_string(),
                if mean_rot.is_nan() {
                    String::new()
                } else {
                    format!("{mean_rot:.3}")
                },
            ])?;
            for x in r {
                series.write_record([
                    target.to_string(),
                    s.name.to_string(),
                    x.t.to_string(),
                    x.covered.to_string(),
                    x.jsd.to_string(),
                    x.rotation.map_or(String::new(), |v| v.to_string()),
                ])?;
            }
            grid_t = r.iter().map(|x| x.t).collect();
            lines.push((
                s.name.to_string(),
                r.iter().map(|x| x.covered as f64).collect(),
            ));
            println!(
                "{target} {}: covered {} at the end, min {} after t = 5, losses {losses}, mass moved {moved:.3}, jsd {:.4}, rises {rises}, rotation {mean_rot:.3}",
                s.name,
                last.covered,
                late.iter().map(|x| x.covered).min().unwrap_or(0),
                last.jsd
            );
        }
        panels.push(CurvePanel {
            title: format!("{target}: modes covered against t"),
            lines,
            log: false,
        });
    }
    summary.flush()?;
    series.flush()?;
    curves_png(&out.join("modes.png"), &grid_t, &panels, (640, 520))?;
    Ok(())
}
