//! `ganflow plot DIR` and `run --plot`: pictures of a finished run from its files.

use std::fs;
use std::path::{Path, PathBuf};

use ganflow::Points;
use ganflow::datasets::read_csv_with_header;
use ganflow::plot::{
    CurvePanel, Panel, Projection, curves_png, flow_gif, image_grid_png, scatter_png,
};

use super::AnyResult;
use super::args::{PlotArgs, RunArgs};
use super::temp_beside;

/// Most frames in the GIF (recorded steps are thinned evenly beyond it).
const MAX_FRAMES: usize = 100;

/// One recorded step of `trajectories.csv`.
struct Frame {
    step: u64,
    t: f64,
    positions: Points,
    velocity: Option<Points>,
}

fn read_frames(path: &Path) -> AnyResult<(Vec<Frame>, usize)> {
    let (table, header) = read_csv_with_header(path)?;
    let header = header.ok_or_else(|| format!("{}: no header row", path.display()))?;
    let d = header.iter().filter(|h| h.starts_with('x')).count();
    let has_v = header.iter().any(|h| h == "v0");
    let mut frames: Vec<Frame> = Vec::new();
    let mut rows: Vec<&[f64]> = Vec::new();
    let flush = |rows: &mut Vec<&[f64]>, frames: &mut Vec<Frame>| -> AnyResult<()> {
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

/// Writes through a temporary name, renamed into place when complete.
pub(super) fn whole(
    path: &Path,
    draw: impl FnOnce(&Path) -> ganflow::Result<()>,
) -> AnyResult<PathBuf> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = temp_beside(path).with_extension(ext);
    match draw(&tmp) {
        Ok(()) => {
            fs::rename(&tmp, path)?;
            Ok(path.to_path_buf())
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e.into())
        }
    }
}

/// Draws `particles.png` (the chosen steps, default first, middle and last), `metrics.png`,
/// `flow.gif` and, for 64-D runs, `digits.png` (the final particles as 8x8 images).
pub fn plot_dir(
    dir: &Path,
    data: &Points,
    steps: Option<&[u64]>,
    arrows: bool,
) -> AnyResult<Vec<PathBuf>> {
    let (frames, d) = read_frames(&dir.join("trajectories.csv"))?;
    if frames.is_empty() {
        return Err(format!(
            "{}: no recorded step",
            dir.join("trajectories.csv").display()
        )
        .into());
    }
    if d != data.dim() {
        return Err(format!("the run has dimension {d} but its data has {}", data.dim()).into());
    }
    let projection = Projection::fit(data);
    let data_xy = projection.apply(data);
    let panel = |f: &Frame| Panel {
        title: format!("step {}, t = {:.3}", f.step, f.t),
        particles: projection.apply(&f.positions),
        arrows: if arrows {
            // Arrows are projected like positions (the projection is affine, so differences
            // map through its linear part).
            f.velocity.as_ref().map(|v| {
                let origin = Points::new("o", vec![0.0; d], d).expect("valid");
                let o = projection.apply(&origin)[0];
                let moved = Points::new("tip", v.as_slice().to_vec(), d).expect("finite");
                projection
                    .apply(&moved)
                    .into_iter()
                    .map(|(x, y)| (x - o.0, y - o.1))
                    .collect()
            })
        } else {
            None
        },
    };
    let chosen: Vec<&Frame> = match steps {
        Some(list) => {
            let picked: Vec<&Frame> = frames.iter().filter(|f| list.contains(&f.step)).collect();
            if picked.len() != list.len() {
                let have: Vec<String> = frames.iter().map(|f| f.step.to_string()).collect();
                return Err(format!("--steps: recorded steps are {}", have.join(",")).into());
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
    let panels: Vec<Panel> = chosen.iter().map(|f| panel(f)).collect();
    written.push(whole(&dir.join("particles.png"), |p| {
        scatter_png(p, &data_xy, &panels, 420)
    })?);

    let (metrics, header) = read_csv_with_header(&dir.join("metrics.csv"))?;
    let header = header.unwrap_or_default();
    let col = |name: &str| header.iter().position(|h| h == name);
    let t: Vec<f64> = metrics.rows().map(|r| r[1]).collect();
    let panels: Vec<CurvePanel> = ["jsd", "connection_norm2", "sliced_w2", "modes_covered"]
        .into_iter()
        .filter_map(|name| {
            col(name).map(|c| CurvePanel {
                title: name.to_string(),
                lines: vec![(name.to_string(), metrics.rows().map(|r| r[c]).collect())],
                log: name != "modes_covered",
            })
        })
        .collect();
    written.push(whole(&dir.join("metrics.png"), |p| {
        curves_png(p, &t, &panels, (640, 200 * panels.len() as u32))
    })?);

    let stride = frames.len().div_ceil(MAX_FRAMES).max(1);
    let mut gif_frames: Vec<Panel> = frames
        .iter()
        .step_by(stride)
        .map(|f| Panel {
            arrows: None,
            ..panel(f)
        })
        .collect();
    if (frames.len() - 1) % stride != 0 {
        gif_frames.push(Panel {
            arrows: None,
            ..panel(frames.last().expect("non-empty"))
        });
    }
    written.push(whole(&dir.join("flow.gif"), |p| {
        flow_gif(p, &data_xy, &gif_frames, 420, 100)
    })?);

    if d == 64 {
        let last = &frames.last().expect("non-empty").positions;
        let shown = Points::new(
            "digits",
            last.as_slice()[..64 * last.len().min(100)].to_vec(),
            64,
        )?;
        let lo = data.as_slice().iter().copied().fold(f64::MAX, f64::min);
        let hi = data.as_slice().iter().copied().fold(f64::MIN, f64::max);
        written.push(whole(&dir.join("digits.png"), |p| {
            image_grid_png(p, &shown, 8, 10, 4, (lo, hi))
        })?);
    }
    Ok(written)
}

/// `ganflow plot DIR`: the data comes back from the run's `run.toml`.
pub fn plot(args: PlotArgs) -> AnyResult<()> {
    let toml_path = args.dir.join("run.toml");
    let text =
        fs::read_to_string(&toml_path).map_err(|e| format!("{}: {e}", toml_path.display()))?;
    let run: RunArgs =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", toml_path.display()))?;
    let (data, _, _) = super::run::load_data(&run)?;
    let steps: Option<Vec<u64>> = args
        .steps
        .as_deref()
        .map(|s| super::parse_list("--steps", s))
        .transpose()?;
    for path in plot_dir(&args.dir, &data, steps.as_deref(), args.arrows)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}
