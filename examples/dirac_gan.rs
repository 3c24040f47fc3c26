//! The Dirac-GAN (Mescheder, Geiger and Nowozin 2018) played by ganflow's game: the data one
//! point at 0, one particle starting at 1, a linear discriminator `f = psi x` without bias
//! starting at 0, and the same step `h = 0.1` for both players (`lr = dt = h`, one
//! discriminator step per generator step). Three ways to play:
//!
//! 1. simultaneous updates: the radius `sqrt(theta² + psi²)` grows by `sqrt(1 + h² s²)` every
//!    step, `s = sigmoid(psi theta)`: a spiral out;
//! 2. alternating updates: a bounded orbit;
//! 3. simultaneous updates with R1 (gamma 0.5): convergence at the rate `gamma/2`.
//!
//! `cargo run --release --example dirac_gan [OUT_DIR]` (default `examples/dirac_gan`) writes
//! `trajectories.csv`, `phase.png` and `radius.png`; the README shows them. Under a second.

use std::path::PathBuf;

use ganflow::Points;
use ganflow::game::{Discriminator, Family, GameConfig, Penalty, Updates, round};
use ganflow::num::Portable;
use ganflow::plot::{CurvePanel, Panel, curves_png, scatter_png};

const H: f64 = 0.1;
const STEPS: usize = 600;

fn play(updates: Updates, penalty: Penalty) -> Result<Vec<(f64, f64)>, ganflow::Error> {
    let config = GameConfig {
        lr: H,
        steps: 1,
        penalty,
        updates,
        ..GameConfig::default()
    };
    let data = Points::new("data", vec![0.0], 1)?;
    let mut disc = Discriminator::with_params(Family::Linear { bias: false }, 1, vec![0.0])?;
    let mut x = Points::new("particle", vec![1.0], 1)?;
    let mut path = vec![(1.0, 0.0)];
    for _ in 0..STEPS {
        x = round(&mut disc, &config, &x, &data, H)?;
        path.push((x.row(0)[0], disc.params[0]));
    }
    Ok(path)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map_or(PathBuf::from("examples/dirac_gan"), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    let games = [
        ("simultaneous", play(Updates::Simultaneous, Penalty::None)?),
        ("alternating", play(Updates::Alternating, Penalty::None)?),
        (
            "simultaneous + R1 0.5",
            play(Updates::Simultaneous, Penalty::R1(0.5))?,
        ),
    ];
    let mut csv = csv::Writer::from_path(out.join("trajectories.csv"))?;
    csv.write_record(["game", "step", "theta", "psi", "radius"])?;
    for (name, path) in &games {
        for (k, (t, p)) in path.iter().enumerate() {
            let r = (t * t + p * p).sqrt();
            csv.write_record([
                name.to_string(),
                k.to_string(),
                t.to_string(),
                p.to_string(),
                r.to_string(),
            ])?;
        }
    }
    csv.flush()?;
    let panels: Vec<Panel> = games
        .iter()
        .map(|(name, path)| Panel {
            title: format!("{name}: (theta, psi)"),
            particles: path.clone(),
            arrows: None,
            discs: Vec::new(),
        })
        .collect();
    scatter_png(&out.join("phase.png"), &[(0.0, 0.0)], &panels, 360)?;
    let t: Vec<f64> = (0..=STEPS).map(|k| k as f64 * H).collect();
    let lines = games
        .iter()
        .map(|(name, path)| {
            (
                name.to_string(),
                path.iter().map(|(a, b)| (a * a + b * b).sqrt()).collect(),
            )
        })
        .collect();
    curves_png(
        &out.join("radius.png"),
        &t,
        &[CurvePanel {
            title: "radius sqrt(theta² + psi²) against t".into(),
            lines,
            log: true,
        }],
        (640, 320),
    )?;
    for (name, path) in &games {
        let (t, p) = path[STEPS];
        println!(
            "{name}: radius after {STEPS} steps {:.4}",
            (t * t + p * p).sqrt()
        );
    }
    // R1's late decay rate (least squares of ln r over t in [20, 60], several turns)
    // against the discrete linearisation's, -ln|1 + h lambda| / h with
    // lambda = -gamma/2 + i sqrt(1/4 - gamma²/4).
    let r1 = &games[2].1;
    let points: Vec<(f64, f64)> = (200..=STEPS)
        .map(|k| {
            (
                k as f64 * H,
                (r1[k].0 * r1[k].0 + r1[k].1 * r1[k].1).sqrt().ln_p(),
            )
        })
        .collect();
    let slope = ganflow::plot::linear_slope(&points).ok_or("two records at least")?;
    let (re, im) = (1.0 - H * 0.25, H * (0.25f64 - 0.0625).sqrt());
    println!(
        "R1 0.5: late decay rate {:.4}; the step's linearisation {:.4}; the flow's gamma/2 = 0.25",
        -slope,
        -(re * re + im * im).sqrt().ln_p() / H
    );
    Ok(())
}
