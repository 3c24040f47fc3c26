//! Pictures of a run folder, drawn from its files: `particles.png` (chosen recorded steps;
//! in 1-D the two densities, with their histograms), `metrics.png`, `flow.gif` and, for
//! 64-D runs, `digits.png`. Every file `run` writes is
//! read as written: an empty cell of `metrics.csv` (a value undefined at that step) is a gap
//! in its curve.

use std::path::{Path, PathBuf};

use super::{
    CurvePanel, DensityPanel, Panel, PlaneLabels, Projection, curves_png, density_png, flow_gif,
    image_grid_png, scatter_png_labelled,
};
use crate::datasets::read_csv_with_header;
use crate::error::{Error, Result, io_at};
use crate::output::write_whole;
use crate::points::Points;

/// Most frames in the GIF (recorded steps are thinned evenly beyond it).
const MAX_FRAMES: usize = 100;

/// The curves drawn in `metrics.png`, where the run has them.
const CURVES: [&str; 4] = ["jsd", "connection_norm2", "sliced_w2", "modes_covered"];

/// One recorded step of `trajectories.csv`.
struct Frame {
    step: u64,
    t: f64,
    positions: Points,
    velocity: Option<Points>,
}

fn read_frames(path: &Path) -> Result<(Vec<Frame>, usize)> {
    let (table, header) = read_csv_with_header(path)?;
    let header = header.ok_or_else(|| Error::File {
        path: path.to_path_buf(),
        message: "no header row".into(),
    })?;
    let d = header.iter().filter(|h| h.starts_with('x')).count();
    let has_v = header.iter().any(|h| h == "v0");
    let mut frames: Vec<Frame> = Vec::new();
    let mut rows: Vec<&[f64]> = Vec::new();
    let flush = |rows: &mut Vec<&[f64]>, frames: &mut Vec<Frame>| -> Result<()> {
        if let Some(first) = rows.first() {
            let pos = rows.iter().flat_map(|r| r[3..3 + d].to_vec()).collect();
            let vel = has_v.then(|| {
                rows.iter()
                    .flat_map(|r| r[3 + d..3 + 2 * d].to_vec())
                    .collect()
            });
            frames.push(Frame {
                step: first[0] as u64,
                t: first[1],
                positions: Points::new("trajectory", pos, d)?,
                velocity: vel.map(|v| Points::new("velocity", v, d)).transpose()?,
            });
        }
        rows.clear();
        Ok(())
    };
    for row in table.rows() {
        if rows.first().is_some_and(|f| f[0] != row[0]) {
            flush(&mut rows, &mut frames)?;
        }
        rows.push(row);
    }
    flush(&mut rows, &mut frames)?;
    Ok((frames, d))
}

/// A metrics table: the header and one value per cell, `None` where the cell is empty.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsTable {
    /// Column names.
    pub header: Vec<String>,
    /// Rows of values.
    pub rows: Vec<Vec<Option<f64>>>,
}

impl MetricsTable {
    /// Reads `metrics.csv` as `run` writes it: a header, numbers, and empty cells for values
    /// undefined at a step. Anything else is an error naming the line and column.
    pub fn read(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(io_at(path))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(std::io::BufReader::new(file));
        let bad = |line: u64, column: Option<usize>, message: String| Error::Csv {
            path: path.to_path_buf(),
            line,
            column,
            message,
        };
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| bad(1, None, e.to_string()))?
            .iter()
            .map(String::from)
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record
                .map_err(|e| bad(e.position().map_or(0, |p| p.line()), None, e.to_string()))?;
            let line = record.position().map_or(0, |p| p.line());
            let row = record
                .iter()
                .enumerate()
                .map(|(c, cell)| match cell.trim() {
                    "" => Ok(None),
                    v => v
                        .parse::<f64>()
                        .map(Some)
                        .map_err(|_| bad(line, Some(c + 1), format!("{v:?} is not a number"))),
                })
                .collect::<Result<Vec<_>>>()?;
            rows.push(row);
        }
        Ok(Self { header, rows })
    }

    /// The values of a column (NaN where empty), if the table has it.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let c = self.header.iter().position(|h| h == name)?;
        Some(
            self.rows
                .iter()
                .map(|r| r.get(c).copied().flatten().unwrap_or(f64::NAN))
                .collect(),
        )
    }
}

/// Draws the pictures of the run in `dir` over its `data` (in the data's units); `unit` is
/// the length in the data's units of one unit of the flow's coordinates along the first
/// axis (the data's standard deviation on standardised coordinates, else 1), which turns the
/// run's bandwidths into the data's units for 1-D density curves. `steps` picks the recorded
/// steps of `particles.png` (default: the first, the middle and the last), `arrows` draws the
/// recorded velocities. Each picture is written whole; returns their paths.
pub fn draw_run(
    dir: &Path,
    data: &Points,
    unit: f64,
    steps: Option<&[u64]>,
    arrows: bool,
) -> Result<Vec<PathBuf>> {
    let traj_path = dir.join("trajectories.csv");
    let (frames, d) = read_frames(&traj_path)?;
    if frames.is_empty() {
        return Err(Error::File {
            path: traj_path,
            message: "no recorded step".into(),
        });
    }
    if d != data.dim() {
        return Err(Error::DimensionMismatch {
            what: "the run's data",
            expected: d,
            got: data.dim(),
        });
    }
    let projection = Projection::fit(data);
    let data_xy = projection.apply(data);
    let panel = |f: &Frame, with_arrows: bool| -> Result<Panel> {
        let arrows = match (&f.velocity, with_arrows) {
            // Arrows are projected like positions (the projection is affine, so differences
            // map through its linear part).
            (Some(v), true) => {
                let o = projection.apply(&Points::new("origin", vec![0.0; d], d)?)[0];
                Some(
                    projection
                        .apply(v)
                        .into_iter()
                        .map(|(x, y)| (x - o.0, y - o.1))
                        .collect(),
                )
            }
            _ => None,
        };
        Ok(Panel {
            title: format!("step {}, t = {:.3}", f.step, f.t),
            particles: projection.apply(&f.positions),
            arrows,
            discs: Vec::new(),
        })
    };
    let chosen: Vec<&Frame> = match steps {
        Some(list) => {
            let picked: Vec<&Frame> = frames.iter().filter(|f| list.contains(&f.step)).collect();
            if picked.len() != list.len() {
                let have: Vec<String> = frames.iter().map(|f| f.step.to_string()).collect();
                return Err(Error::InvalidOption {
                    option: "--steps".into(),
                    message: format!("the recorded steps are {}", have.join(",")),
                });
            }
            picked
        }
        None => {
            let mut idx = vec![0, frames.len() / 2, frames.len() - 1];
            idx.dedup();
            idx.into_iter().map(|i| &frames[i]).collect()
        }
    };
    let mut written = Vec::new();
    let metrics = MetricsTable::read(&dir.join("metrics.csv"))?;
    let labels = PlaneLabels {
        x: if d <= 2 { "x0" } else { "principal axis 1" }.into(),
        y: if d <= 2 { "x1" } else { "principal axis 2" }.into(),
        ..PlaneLabels::default()
    };
    let path = dir.join("particles.png");
    if d == 1 {
        // The bandwidths at each chosen step, in the data's units.
        let steps_col = metrics.column("step").unwrap_or_default();
        let at = |name: &str, step: u64| -> f64 {
            metrics
                .column(name)
                .and_then(|c| {
                    steps_col
                        .iter()
                        .position(|s| *s == step as f64)
                        .map(|k| c[k])
                })
                .unwrap_or(f64::NAN)
                * unit
        };
        let panels: Vec<DensityPanel> = chosen
            .iter()
            .map(|f| DensityPanel {
                title: format!("step {}, t = {:.3}", f.step, f.t),
                particles: f.positions.as_slice().to_vec(),
                h_particles: at("h_g", f.step),
                h_data: at("h_q", f.step),
            })
            .collect();
        if let Some(bad) = panels
            .iter()
            .find(|p| !(p.h_particles > 0.0 && p.h_data > 0.0))
        {
            return Err(Error::File {
                path: dir.join("metrics.csv"),
                message: format!("no bandwidths h_g and h_q recorded for {}", bad.title),
            });
        }
        write_whole(&path, |p| density_png(p, data.as_slice(), &panels, 420))?;
    } else {
        let panels = chosen
            .iter()
            .map(|f| panel(f, arrows))
            .collect::<Result<Vec<_>>>()?;
        write_whole(&path, |p| {
            scatter_png_labelled(p, &data_xy, &panels, 420, &labels)
        })?;
    }
    written.push(path);

    let t = metrics.column("t").unwrap_or_default();
    let panels: Vec<CurvePanel> = CURVES
        .into_iter()
        .filter_map(|name| {
            metrics.column(name).map(|values| CurvePanel {
                title: name.to_string(),
                lines: vec![(name.to_string(), values)],
                log: name != "modes_covered",
            })
        })
        .collect();
    let path = dir.join("metrics.png");
    write_whole(&path, |p| {
        curves_png(p, &t, &panels, (640, 200 * panels.len() as u32))
    })?;
    written.push(path);

    let stride = frames.len().div_ceil(MAX_FRAMES).max(1);
    let mut shown: Vec<&Frame> = frames.iter().step_by(stride).collect();
    if (frames.len() - 1) % stride != 0 {
        shown.push(frames.last().expect("non-empty"));
    }
    let gif_frames = shown
        .into_iter()
        .map(|f| panel(f, false))
        .collect::<Result<Vec<_>>>()?;
    let path = dir.join("flow.gif");
    write_whole(&path, |p| {
        flow_gif(p, &data_xy, &gif_frames, 420, 100, &labels)
    })?;
    written.push(path);

    if d == 64 {
        let last = &frames.last().expect("non-empty").positions;
        let shown = Points::new(
            "digits",
            last.as_slice()[..64 * last.len().min(100)].to_vec(),
            64,
        )?;
        let lo = data.as_slice().iter().copied().fold(f64::MAX, f64::min);
        let hi = data.as_slice().iter().copied().fold(f64::MIN, f64::max);
        let path = dir.join("digits.png");
        write_whole(&path, |p| image_grid_png(p, &shown, 8, 10, 4, (lo, hi)))?;
        written.push(path);
    }
    Ok(written)
}
