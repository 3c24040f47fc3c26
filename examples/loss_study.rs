//! The generator-loss study: the ring of 8 and the grid of 25 Gaussians, each flowed with
//! the four generator losses of docs/theory.md section 5; modes covered and JSD against time.
//!
//! `cargo run --release --example loss_study [OUT_DIR]` (default `examples/loss_study`)
//! writes `loss_study.csv`, `modes.png`, `jsd.png` and `final_<target>.png`; the README
//! shows them. About two minutes on two cores.

use std::ops::ControlFlow;
use std::path::PathBuf;

use ganflow::datasets::{Builtin, gaussian};
use ganflow::metrics::{Modes, mode_coverage};
use ganflow::plot::{CurvePanel, Panel, Projection, curves_png, scatter_png};
use ganflow::{FlowConfig, Loss, Observation, Simulation, StopRule};

const N: usize = 2000;
const STEPS: u64 = 300;
const EVERY: u64 = 10;
const DT: f64 = 0.1;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map_or(PathBuf::from("examples/loss_study"), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    let losses = [
        ("minimax", Loss::Minimax),
        ("non-saturating", Loss::NonSaturating),
        ("least-squares", Loss::LeastSquares),
        ("kl", Loss::Kl),
    ];
    // (name, target, standard deviation of the N(0, s² I) start)
    let targets = [
        ("eight-gaussians", Builtin::EightGaussians, 1.0),
        ("twenty-five-gaussians", Builtin::TwentyFiveGaussians, 2.5),
    ];
    let mut csv = csv::Writer::from_path(out.join("loss_study.csv"))?;
    csv.write_record([
        "target",
        "loss",
        "step",
        "t",
        "jsd",
        "modes_covered",
        "high_quality",
    ])?;
    let mut mode_panels = Vec::new();
    let mut jsd_panels = Vec::new();
    let mut times = Vec::new();
    for (tname, target, start_std) in &targets {
        let data = target.sample(N, 0)?;
        let mixture = target.density()?.expect("mixture targets");
        let modes = Modes {
            centers: mixture.centers,
            std: mixture.std,
        };
        let start = gaussian(N, &[0.0, 0.0], *start_std, 1)?;
        let mut mode_lines = Vec::new();
        let mut jsd_lines = Vec::new();
        let mut finals = Vec::new();
        for (lname, loss) in &losses {
            let cfg = FlowConfig {
                loss: *loss,
                dt: DT,
                ..FlowConfig::default()
            };
            let mut sim = Simulation::new(cfg, start.clone(), data.clone())?;
            let (mut covered, mut jsd) = (Vec::new(), Vec::new());
            times.clear();
            sim.run(
                &StopRule {
                    max_steps: Some(STEPS),
                    ..Default::default()
                },
                EVERY,
                &mut |o: &Observation<'_>| {
                    let c = mode_coverage(o.particles, &modes)?;
                    csv.write_record([
                        tname.to_string(),
                        lname.to_string(),
                        o.step.to_string(),
                        o.t.to_string(),
                        o.diagnostics.jsd.to_string(),
                        c.covered.to_string(),
                        c.high_quality.to_string(),
                    ])
                    .map_err(|e| ganflow::Error::Observer(Box::new(e)))?;
                    times.push(o.t);
                    covered.push(c.covered as f64);
                    jsd.push(o.diagnostics.jsd);
                    Ok(ControlFlow::Continue(()))
                },
            )?;
            eprintln!(
                "{tname} {lname}: modes {} of {}, jsd {:.4}",
                covered.last().unwrap(),
                modes.centers.len(),
                jsd.last().unwrap()
            );
            mode_lines.push((lname.to_string(), covered));
            jsd_lines.push((lname.to_string(), jsd));
            finals.push((lname.to_string(), sim.particles().clone()));
        }
        mode_panels.push(CurvePanel {
            title: format!("{tname}: modes covered"),
            lines: mode_lines,
            log: false,
        });
        jsd_panels.push(CurvePanel {
            title: format!("{tname}: JSD"),
            lines: jsd_lines,
            log: true,
        });
        let projection = Projection::fit(&data);
        let panels: Vec<Panel> = finals
            .iter()
            .map(|(l, p)| Panel {
                title: format!("{l}, t = {}", STEPS as f64 * DT),
                particles: projection.apply(p),
                arrows: None,
                discs: Vec::new(),
            })
            .collect();
        scatter_png(
            &out.join(format!("final_{tname}.png")),
            &projection.apply(&data),
            &panels,
            300,
        )?;
    }
    csv.flush()?;
    curves_png(&out.join("modes.png"), &times, &mode_panels, (700, 500))?;
    curves_png(&out.join("jsd.png"), &times, &jsd_panels, (700, 500))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
