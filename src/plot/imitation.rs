//! Drawing an imitation folder: the learners' states over the demonstrations', at the first
//! and the last record (`paths.png`), and at every record (`flow.gif`), over the built-in
//! expert's environment (the obstacle, the goals).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Disc, Panel, PlaneLabels, flow_gif, scatter_png_labelled};
use crate::error::{Error, Result};
use crate::imitate::Expert;
use crate::imitate::experts::{GOALS, OBSTACLE_RADIUS};
use crate::output::write_whole;

/// Most frames in the GIF (records are thinned evenly beyond it).
const MAX_FRAMES: usize = 60;

/// The `(s0, s1)` of every row of a CSV file, grouped by its `step` column when it has one.
fn states(path: &Path) -> Result<BTreeMap<u64, Vec<(f64, f64)>>> {
    let bad = |line: u64, message: String| Error::Csv {
        path: path.to_path_buf(),
        line,
        column: None,
        message,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(0, e.to_string()))?;
    let header = reader.headers().map_err(|e| bad(1, e.to_string()))?.clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(x), Some(y)) = (col("s0"), col("s1")) else {
        return Err(bad(
            1,
            "has no s0 and s1 columns: pictures are drawn in the plane".into(),
        ));
    };
    let step = col("step");
    let mut out: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for (k, record) in reader.records().enumerate() {
        let line = k as u64 + 2;
        let r = record.map_err(|e| bad(line, e.to_string()))?;
        let num = |i: usize| -> Result<f64> {
            r.get(i)
                .and_then(|c| c.parse::<f64>().ok())
                .ok_or_else(|| bad(line, format!("column {} is not a number", i + 1)))
        };
        let s = match step {
            Some(i) => num(i)? as u64,
            None => 0,
        };
        out.entry(s).or_default().push((num(x)?, num(y)?));
    }
    Ok(out)
}

/// Radius of the disc that marks a goal.
const GOAL_RADIUS: f64 = 0.06;

/// The parts of an expert's environment a picture shows: `around-obstacle`'s obstacle,
/// `two-goals`' goals (nothing for demonstrations from a file).
pub fn environment(expert: Option<Expert>) -> Vec<Disc> {
    match expert {
        Some(Expert::AroundObstacle) => vec![Disc {
            centre: (0.0, 0.0),
            radius: OBSTACLE_RADIUS,
        }],
        Some(Expert::TwoGoals) => GOALS
            .iter()
            .map(|g| Disc {
                centre: (g[0], g[1]),
                radius: GOAL_RADIUS,
            })
            .collect(),
        Some(Expert::Circle) | None => Vec::new(),
    }
}

/// Draws `paths.png` and `flow.gif` in `dir` from its `demos.csv` and `paths.csv`, over
/// `expert`'s environment; returns the files written.
pub fn draw_imitation(dir: &Path, expert: Option<Expert>) -> Result<Vec<PathBuf>> {
    let demos: Vec<(f64, f64)> = states(&dir.join("demos.csv"))?
        .into_values()
        .flatten()
        .collect();
    let records = states(&dir.join("paths.csv"))?;
    let (Some((first, a)), Some((last, b))) = (records.iter().next(), records.iter().next_back())
    else {
        return Err(Error::File {
            path: dir.join("paths.csv"),
            message: "holds no record".into(),
        });
    };
    let panel = |step: &u64, points: &Vec<(f64, f64)>| Panel {
        title: format!("learners at flow step {step}"),
        particles: points.clone(),
        arrows: None,
        discs: environment(expert),
    };
    let mut written = Vec::new();
    let path = dir.join("paths.png");
    let panels = if first == last {
        vec![panel(first, a)]
    } else {
        vec![panel(first, a), panel(last, b)]
    };
    let labels = PlaneLabels {
        x: "s0".into(),
        y: "s1".into(),
        data: "demonstrations".into(),
        particles: "learners".into(),
    };
    write_whole(&path, |p| {
        scatter_png_labelled(p, &demos, &panels, 420, &labels)
    })?;
    written.push(path);
    let stride = records.len().div_ceil(MAX_FRAMES).max(1);
    let frames: Vec<Panel> = records
        .iter()
        .step_by(stride)
        .map(|(s, p)| panel(s, p))
        .collect();
    let path = dir.join("flow.gif");
    write_whole(&path, |p| flow_gif(p, &demos, &frames, 420, 100, &labels))?;
    written.push(path);
    Ok(written)
}
