//! Running an imitation into a run folder: `demos.csv` (the demonstrations it imitates),
//! `paths.csv` (the learners at every recorded flow step), `metrics.csv` (one row per
//! record) and `final_paths.csv` (the demonstrations' format, written whole at the end).

use std::fs::File;
use std::io::{BufWriter, Write};

use super::baselines::behaviour_cloning;
use super::experts::Expert;
use super::flow::{Imitation, Objective};
use super::measures::{distances, goal_shares, routes};
use super::trajectories::Trajectories;
use crate::error::{Error, Result, io_at};
use crate::flow::sim::FlowConfig;
use crate::output::{fmt_f64, write_whole_with};
use crate::run::RunFolder;

/// The method: one of the two flows, or behaviour cloning (written once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// A flow with this objective.
    Flow(Objective),
    /// The behaviour-cloning baseline.
    BehaviourCloning,
}

/// How an imitation runs.
#[derive(Clone, Debug)]
pub struct ImitationRun {
    /// The method.
    pub method: Method,
    /// The flow's configuration (scheme, loss, bandwidths, estimator, `dt`).
    pub config: FlowConfig,
    /// Flow steps.
    pub steps: u64,
    /// Record every this many steps (and the last).
    pub every: u64,
    /// The built-in expert the demonstrations come from, for its yardsticks.
    pub expert: Option<Expert>,
    /// Seed of the sliced distances' directions.
    pub seed: u64,
}

/// The last record.
#[derive(Clone, Debug, PartialEq)]
pub struct ImitationSummary {
    /// Flow steps taken.
    pub steps: u64,
    /// The metrics' names and values at the end.
    pub last: Vec<(String, f64)>,
}

type Csv = csv::Writer<BufWriter<File>>;

fn create(folder: &RunFolder, name: &str) -> Result<Csv> {
    let path = folder.file(name);
    Ok(csv::Writer::from_writer(BufWriter::new(
        File::create(&path).map_err(io_at(&path))?,
    )))
}

fn csv_err(folder: &RunFolder, name: &str) -> impl Fn(csv::Error) -> Error {
    let path = folder.file(name);
    move |e| Error::File {
        path: path.clone(),
        message: e.to_string(),
    }
}

/// One record of an imitation: the learners at a recorded flow step and what is measured of
/// them, in the order of [`metric_names`].
#[derive(Debug)]
pub struct ImitationRecord<'a> {
    /// Flow steps taken.
    pub step: u64,
    /// Flow time.
    pub flow_t: f64,
    /// The learners.
    pub learners: &'a Trajectories,
    /// The metrics' values (NaN where undefined: behaviour cloning has no energy).
    pub values: Vec<f64>,
}

/// The names of the metrics recorded for demonstrations from `expert` (`None`: from a
/// file): the objective's energy and JSD, the sliced W2 on pairs and on paths, and the
/// expert's own yardsticks.
pub fn metric_names(expert: Option<Expert>) -> Vec<String> {
    let mut names: Vec<String> = ["energy", "jsd", "pairs_sw2", "paths_sw2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    match expert {
        Some(Expert::AroundObstacle) => {
            names.extend(["above", "below", "mixed", "collisions", "goal"].map(String::from))
        }
        Some(Expert::TwoGoals) => names.extend(["goal_left", "goal_right"].map(String::from)),
        _ => {}
    }
    names
}

/// Runs `run` from `start` towards `experts`, showing `observe` every record (every
/// `run.every` steps and the last; behaviour cloning's one) and `progress` every step.
/// Returns the final learners and the steps taken.
pub fn imitate(
    run: &ImitationRun,
    experts: &Trajectories,
    start: Trajectories,
    observe: &mut dyn FnMut(&ImitationRecord<'_>) -> Result<()>,
    progress: &mut dyn FnMut(u64),
) -> Result<(Trajectories, u64)> {
    if run.every == 0 {
        return Err(Error::InvalidOption {
            option: "--every".into(),
            message: "must be at least 1, got 0".into(),
        });
    }
    let mut record = |step: u64, flow_t: f64, l: &Trajectories, energy: f64| -> Result<()> {
        let dist = distances(l, experts, run.seed)?;
        let mut values = vec![energy, energy / 2.0, dist.pairs, dist.paths];
        match run.expert {
            Some(Expert::AroundObstacle) => {
                let r = routes(l);
                values.extend([r.above, r.below, r.mixed, r.collisions, r.goal]);
            }
            Some(Expert::TwoGoals) => values.extend(goal_shares(l)),
            _ => {}
        }
        observe(&ImitationRecord {
            step,
            flow_t,
            learners: l,
            values,
        })
    };
    match run.method {
        Method::BehaviourCloning => {
            let bc = behaviour_cloning(experts)?;
            record(0, 0.0, &bc, f64::NAN)?;
            Ok((bc, 0))
        }
        Method::Flow(objective) => {
            let mut flow = Imitation::new(objective, run.config, start, experts)?;
            let dt = run.config.dt;
            loop {
                let k = flow.step_count();
                if k.is_multiple_of(run.every) || k == run.steps {
                    record(k, k as f64 * dt, flow.learners(), flow.energy()?)?;
                }
                if k == run.steps {
                    break;
                }
                flow.step()?;
                progress(k + 1);
            }
            Ok((flow.learners().clone(), run.steps))
        }
    }
}

/// Runs `run` from `start` towards `experts` in `folder`; `progress` sees every step.
pub fn run_imitation(
    run: &ImitationRun,
    experts: &Trajectories,
    start: Trajectories,
    folder: &RunFolder,
    progress: &mut dyn FnMut(u64),
) -> Result<ImitationSummary> {
    let d = experts.dim;
    // The demonstrations beside the learners, for the pictures and for the record.
    let path = folder.file("demos.csv");
    write_whole_with(&path, |w| {
        experts.write_csv(w).map_err(|e| Error::File {
            path: path.clone(),
            message: e.to_string(),
        })
    })?;
    let mut paths = create(folder, "paths.csv")?;
    let mut metrics = create(folder, "metrics.csv")?;
    let mut header = vec![
        "step".to_string(),
        "flow_t".to_string(),
        "id".to_string(),
        "t".to_string(),
    ];
    header.extend((0..d).map(|k| format!("s{k}")));
    header.extend((0..d).map(|k| format!("a{k}")));
    paths
        .write_record(&header)
        .map_err(csv_err(folder, "paths.csv"))?;
    let names = metric_names(run.expert);
    let mut columns = vec!["step".to_string(), "flow_t".to_string()];
    columns.extend(names.iter().cloned());
    metrics
        .write_record(&columns)
        .map_err(csv_err(folder, "metrics.csv"))?;
    let mut last = Vec::new();
    let mut write = |r: &ImitationRecord<'_>| -> Result<()> {
        let l = r.learners;
        for i in 0..l.len() {
            for t in 0..=l.horizon {
                let mut row = vec![
                    r.step.to_string(),
                    fmt_f64(r.flow_t),
                    i.to_string(),
                    t.to_string(),
                ];
                row.extend(l.state(i, t).iter().map(|v| fmt_f64(*v)));
                if t < l.horizon {
                    row.extend(l.action(i, t).into_iter().map(fmt_f64));
                } else {
                    row.extend((0..d).map(|_| String::new()));
                }
                paths
                    .write_record(&row)
                    .map_err(csv_err(folder, "paths.csv"))?;
            }
        }
        let mut row = vec![r.step.to_string(), fmt_f64(r.flow_t)];
        // Behaviour cloning has no energy: empty cells, not NaN.
        row.extend(r.values.iter().map(|v| {
            if v.is_finite() {
                fmt_f64(*v)
            } else {
                String::new()
            }
        }));
        metrics
            .write_record(&row)
            .map_err(csv_err(folder, "metrics.csv"))?;
        last = names
            .iter()
            .cloned()
            .zip(r.values.iter().copied())
            .collect();
        Ok(())
    };
    let (final_paths, steps) = imitate(run, experts, start, &mut write, progress)?;
    for (w, name) in [(paths, "paths.csv"), (metrics, "metrics.csv")] {
        let path = folder.file(name);
        let mut inner = w.into_inner().map_err(|e| Error::File {
            path: path.clone(),
            message: e.to_string(),
        })?;
        inner.flush().map_err(io_at(&path))?;
    }
    let path = folder.file("final_paths.csv");
    write_whole_with(&path, |w| {
        final_paths.write_csv(w).map_err(|e| Error::File {
            path: path.clone(),
            message: e.to_string(),
        })
    })?;
    Ok(ImitationSummary { steps, last })
}
