//! Imitation study: the occupancy objective (GAIL), the path objective and behaviour cloning
//! on two built-in experts.
//!
//! 200 demonstrations (T = 20, tau = 1) of `around-obstacle` and of `two-goals`; 200
//! learners start as rollouts of random actions with the demonstrations' action mean and
//! standard deviation. Both flows use the non-saturating loss: the path flow in path space
//! (40-D) with bandwidth 1, `dt = 0.1`, 200 steps; the occupancy flow on the pooled
//! state-action pairs (4-D) with Scott's bandwidth, `dt = 0.002` (the pull-back through
//! `a = (s' - s)/tau` stiffens it), 400 steps. Behaviour cloning averages the actions of
//! the 5 nearest expert pairs.
//!
//! `cargo run --release --example imitation_study [OUT_DIR]` (default
//! `examples/imitation_study`) writes `summary.csv` and `routes.png`; about 30 seconds.

use std::path::PathBuf;

use ganflow::imitate::baselines::{behaviour_cloning, random_rollouts};
use ganflow::imitate::measures::{distances, goal_shares, routes};
use ganflow::imitate::{Expert, Imitation, Objective, Trajectories};
use ganflow::kde::{BandwidthSpec, Estimator};
use ganflow::plot::imitation::environment;
use ganflow::plot::{Panel, scatter_png};
use ganflow::{FlowConfig, Loss};

fn flow(
    objective: Objective,
    start: &Trajectories,
    experts: &Trajectories,
) -> ganflow::Result<Trajectories> {
    let (bandwidth, dt, steps) = match objective {
        Objective::Path => (BandwidthSpec::fixed(1.0), 0.1, 200),
        Objective::Occupancy => (BandwidthSpec::default(), 0.002, 400),
    };
    let config = FlowConfig {
        loss: Loss::NonSaturating,
        bandwidth_g: bandwidth,
        bandwidth_q: bandwidth,
        estimator: Estimator::Exact,
        dt,
        ..FlowConfig::default()
    };
    let mut f = Imitation::new(objective, config, start.clone(), experts)?;
    for _ in 0..steps {
        f.step()?;
    }
    Ok(f.learners().clone())
}

fn points(t: &Trajectories) -> Vec<(f64, f64)> {
    (0..t.len())
        .flat_map(|i| (0..=t.horizon).map(move |s| (i, s)))
        .map(|(i, s)| (t.state(i, s)[0], t.state(i, s)[1]))
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map_or(PathBuf::from("examples/imitation_study"), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    let mut csv = csv::Writer::from_path(out.join("summary.csv"))?;
    csv.write_record([
        "expert",
        "method",
        "pairs_sw2",
        "paths_sw2",
        "above",
        "below",
        "mixed",
        "collisions",
        "goal",
        "goal_left",
        "goal_right",
    ])?;
    let mut panels = Vec::new();
    let mut expert_points = Vec::new();
    for expert in [Expert::AroundObstacle, Expert::TwoGoals] {
        let name = if expert == Expert::AroundObstacle {
            "around-obstacle"
        } else {
            "two-goals"
        };
        let experts = expert.demos(200, 20, 1.0, 1)?;
        let start = random_rollouts(&experts, 200, 2)?;
        let results = [
            ("random start", start.clone()),
            ("occupancy", flow(Objective::Occupancy, &start, &experts)?),
            ("path", flow(Objective::Path, &start, &experts)?),
            ("behaviour cloning", behaviour_cloning(&experts)?),
        ];
        for (method, t) in &results {
            let d = distances(t, &experts, 1)?;
            let r = routes(t);
            let g = goal_shares(t);
            let obstacle = expert == Expert::AroundObstacle;
            let cell = |v: f64, here: bool| {
                if here {
                    format!("{v:.3}")
                } else {
                    String::new()
                }
            };
            csv.write_record([
                name.to_string(),
                method.to_string(),
                format!("{:.4}", d.pairs),
                format!("{:.4}", d.paths),
                cell(r.above, obstacle),
                cell(r.below, obstacle),
                cell(r.mixed, obstacle),
                cell(r.collisions, obstacle),
                cell(r.goal, obstacle),
                cell(g[0], !obstacle),
                cell(g[1], !obstacle),
            ])?;
            println!(
                "{name} {method}: sliced W2 pairs {:.4} paths {:.4}; routes {:.2}/{:.2}/{:.2}, collisions {:.2}, goal {:.2}; goals {:.2}/{:.2}",
                d.pairs, d.paths, r.above, r.below, r.mixed, r.collisions, r.goal, g[0], g[1]
            );
            if obstacle && *method != "random start" {
                panels.push(Panel {
                    title: format!("around-obstacle: {method}"),
                    particles: points(t),
                    arrows: None,
                    discs: environment(Some(Expert::AroundObstacle)),
                });
            }
        }
        if expert == Expert::AroundObstacle {
            expert_points = points(&experts);
        }
    }
    csv.flush()?;
    scatter_png(&out.join("routes.png"), &expert_points, &panels, 380)?;
    Ok(())
}
