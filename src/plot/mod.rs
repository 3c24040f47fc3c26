//! Pictures without Python: particles over the data, metric curves, an animated GIF of the
//! flow, and 8x8 image grids for the digits. PNG and GIF through plotters' bitmap backend,
//! text in the bundled DejaVu Sans Mono (licence beside this file), so no system font is
//! needed.

pub mod imitation;
pub mod modes;
pub mod run_folder;

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{Error, Result};
use crate::num::Portable;
use crate::points::Points;

static FONT: &[u8] = include_bytes!("DejaVuSansMono.ttf");
static REGISTER: Once = Once::new();

fn ensure_font() {
    REGISTER.call_once(|| {
        // The bundled font is valid: a failure here is a build defect, caught by the tests.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Plot(format!("{}: {e}", path.display()))
}

/// A map from `R^d` to the plane: the identity in 2-D, `(x, 0)` in 1-D, and the first two
/// principal axes of a reference set (the data) above.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    mean: Vec<f64>,
    axes: [Vec<f64>; 2],
}

impl Projection {
    /// Fitted on `reference`.
    pub fn fit(reference: &Points) -> Self {
        let d = reference.dim();
        let unit = |k: usize| (0..d).map(|j| if j == k { 1.0 } else { 0.0 }).collect();
        if d <= 2 {
            let second = if d == 2 { unit(1) } else { vec![0.0] };
            return Self {
                mean: vec![0.0; d],
                axes: [unit(0), second],
            };
        }
        let mean = reference.mean();
        let mut cov = vec![0.0; d * d];
        for row in reference.rows() {
            let c: Vec<f64> = row.iter().zip(&mean).map(|(a, m)| a - m).collect();
            for i in 0..d {
                for j in 0..d {
                    cov[i * d + j] += c[i] * c[j];
                }
            }
        }
        let first = top_eigenvector(&cov, d, None);
        let second = top_eigenvector(&cov, d, Some(&first));
        Self {
            mean,
            axes: [first, second],
        }
    }

    /// The plane coordinates of every point.
    pub fn apply(&self, p: &Points) -> Vec<(f64, f64)> {
        p.rows()
            .map(|x| {
                let c = |axis: &[f64]| {
                    x.iter()
                        .zip(&self.mean)
                        .zip(axis)
                        .map(|((a, m), u)| (a - m) * u)
                        .sum()
                };
                (c(&self.axes[0]), c(&self.axes[1]))
            })
            .collect()
    }
}

/// Power iteration for the leading eigenvector of a symmetric `d × d` matrix, orthogonal to
/// `skip` when given. Deterministic start, fixed iteration count.
fn top_eigenvector(m: &[f64], d: usize, skip: Option<&[f64]>) -> Vec<f64> {
    let mut v: Vec<f64> = (0..d).map(|i| 1.0 + (i as f64 * 0.618).sin_p()).collect();
    for _ in 0..300 {
        if let Some(s) = skip {
            let dot: f64 = v.iter().zip(s).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(s).for_each(|(a, b)| *a -= dot * b);
        }
        let mut w = vec![0.0; d];
        for i in 0..d {
            w[i] = (0..d).map(|j| m[i * d + j] * v[j]).sum();
        }
        let norm = w.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm == 0.0 {
            break;
        }
        v = w.into_iter().map(|a| a / norm).collect();
    }
    v
}

/// Bounds of all the points, with a 5 % margin.
fn bounds<'a>(sets: impl Iterator<Item = &'a [(f64, f64)]>) -> ((f64, f64), (f64, f64)) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for set in sets {
        for &(x, y) in set {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    let pad = |a: f64, b: f64| {
        let m = ((b - a) * 0.05).max(1e-6);
        (a - m, b + m)
    };
    (pad(x0, x1), pad(y0, y1))
}

/// One panel of a scatter plot: its title, the particles and optional velocity arrows.
pub struct Panel {
    /// Title ("step 100, t = 10").
    pub title: String,
    /// Particle positions in the plane.
    pub particles: Vec<(f64, f64)>,
    /// Velocity arrows in the plane, one per particle.
    pub arrows: Option<Vec<(f64, f64)>>,
    /// Parts of the environment (an obstacle, a goal), drawn under the points.
    pub discs: Vec<Disc>,
}

/// A filled disc in the plane's coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Disc {
    /// Centre.
    pub centre: (f64, f64),
    /// Radius, in the plane's units.
    pub radius: f64,
}

impl Disc {
    /// Vertices of the polygon that draws it (enough that its edge looks round).
    fn outline(&self) -> Vec<(f64, f64)> {
        const SIDES: usize = 96;
        (0..SIDES)
            .map(|k| {
                let a = std::f64::consts::TAU * k as f64 / SIDES as f64;
                (
                    self.centre.0 + self.radius * a.cos_p(),
                    self.centre.1 + self.radius * a.sin_p(),
                )
            })
            .collect()
    }
}

const DATA_COLOR: RGBColor = RGBColor(150, 150, 150);
const PARTICLE_COLOR: RGBColor = RGBColor(200, 40, 40);
/// The colour of the environment's discs (obstacles, goals).
pub const DISC_COLOR: RGBColor = RGBColor(120, 170, 230);

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Draws one scatter panel into `area`: the environment's discs in blue, the data in grey,
/// the particles in red, and the arrows when the panel has them, on fixed axes.
fn draw_scatter(
    area: &Area<'_>,
    path: &Path,
    data: &[(f64, f64)],
    panel: &Panel,
    ((x0, x1), (y0, y1)): ((f64, f64), (f64, f64)),
) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(36)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| plot_err(path, e))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| plot_err(path, e))?;
    chart
        .draw_series(
            panel
                .discs
                .iter()
                .map(|d| Polygon::new(d.outline(), DISC_COLOR.filled())),
        )
        .map_err(|e| plot_err(path, e))?;
    chart
        .draw_series(data.iter().map(|&p| Circle::new(p, 1, DATA_COLOR.filled())))
        .map_err(|e| plot_err(path, e))?;
    chart
        .draw_series(
            panel
                .particles
                .iter()
                .map(|&p| Circle::new(p, 1, PARTICLE_COLOR.filled())),
        )
        .map_err(|e| plot_err(path, e))?;
    if let Some(arrows) = &panel.arrows {
        // Scaled so that the longest arrow is a tenth of the plot's width.
        let longest = arrows
            .iter()
            .map(|(u, v)| (u * u + v * v).sqrt())
            .fold(0.0, f64::max);
        let k = if longest > 0.0 {
            0.1 * (x1 - x0) / longest
        } else {
            0.0
        };
        chart
            .draw_series(
                panel
                    .particles
                    .iter()
                    .zip(arrows)
                    .map(|(&(x, y), &(u, v))| {
                        PathElement::new(vec![(x, y), (x + k * u, y + k * v)], BLUE.mix(0.6))
                    }),
            )
            .map_err(|e| plot_err(path, e))?;
    }
    Ok(())
}

/// Particles over the data, one panel per entry, side by side; each panel is `panel_px`
/// pixels square.
pub fn scatter_png(
    path: &Path,
    data: &[(f64, f64)],
    panels: &[Panel],
    panel_px: u32,
) -> Result<()> {
    ensure_font();
    let n = panels.len().max(1) as u32;
    let root = BitMapBackend::new(path, (panel_px * n, panel_px)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let areas = root.split_evenly((1, n as usize));
    let ranges = bounds(std::iter::once(data).chain(panels.iter().map(|p| p.particles.as_slice())));
    for (area, panel) in areas.iter().zip(panels) {
        draw_scatter(area, path, data, panel, ranges)?;
    }
    root.present().map_err(|e| plot_err(path, e))
}

/// One panel of curves against time: its title and labelled lines.
pub struct CurvePanel {
    /// Title.
    pub title: String,
    /// `(label, values)`, one value per time; non-finite values are skipped.
    pub lines: Vec<(String, Vec<f64>)>,
    /// Log scale (used only when every value is positive).
    pub log: bool,
}

const LINE_COLORS: [RGBColor; 6] = [
    RGBColor(200, 40, 40),
    RGBColor(40, 90, 200),
    RGBColor(30, 150, 60),
    RGBColor(160, 90, 200),
    RGBColor(230, 140, 20),
    RGBColor(60, 60, 60),
];

/// Curves against time, one panel each, stacked; a panel asking for a log scale gets one
/// when all its values are positive; a legend when it has more than one line.
pub fn curves_png(path: &Path, t: &[f64], panels: &[CurvePanel], (w, h): (u32, u32)) -> Result<()> {
    ensure_font();
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let areas = root.split_evenly((panels.len().max(1), 1));
    let (t0, t1) = (
        t.first().copied().unwrap_or(0.0),
        t.last().copied().unwrap_or(1.0),
    );
    let t1 = if t1 > t0 { t1 } else { t0 + 1.0 };
    for (area, panel) in areas.iter().zip(panels) {
        let finite: Vec<f64> = panel
            .lines
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .filter(|v| v.is_finite())
            .collect();
        let lo = finite.iter().copied().fold(f64::MAX, f64::min);
        let hi = finite.iter().copied().fold(f64::MIN, f64::max);
        let mut builder = ChartBuilder::on(area);
        builder
            .caption(&panel.title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(60);
        macro_rules! draw {
            ($chart:ident) => {
                for (k, (label, values)) in panel.lines.iter().enumerate() {
                    let color = LINE_COLORS[k % LINE_COLORS.len()];
                    let points = t
                        .iter()
                        .copied()
                        .zip(values.iter().copied())
                        .filter(|(_, v)| v.is_finite());
                    $chart
                        .draw_series(LineSeries::new(points, &color))
                        .map_err(|e| plot_err(path, e))?
                        .label(label.as_str())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
                }
                if panel.lines.len() > 1 {
                    $chart
                        .configure_series_labels()
                        .background_style(WHITE.mix(0.8))
                        .border_style(BLACK)
                        .draw()
                        .map_err(|e| plot_err(path, e))?;
                }
            };
        }
        if panel.log && lo > 0.0 && hi.is_finite() {
            let (lo, hi) = (lo * 0.9, if hi > lo { hi * 1.1 } else { lo * 2.0 });
            let mut chart = builder
                .build_cartesian_2d(t0..t1, (lo..hi).log_scale())
                .map_err(|e| plot_err(path, e))?;
            chart
                .configure_mesh()
                .y_label_formatter(&|v| format!("{v:.1e}"))
                .draw()
                .map_err(|e| plot_err(path, e))?;
            draw!(chart);
        } else {
            let (lo, hi) = if finite.is_empty() {
                (0.0, 1.0)
            } else {
                (lo, hi)
            };
            let pad = ((hi - lo) * 0.1).max(1e-9);
            let mut chart = builder
                .build_cartesian_2d(t0..t1, (lo - pad)..(hi + pad))
                .map_err(|e| plot_err(path, e))?;
            chart
                .configure_mesh()
                .draw()
                .map_err(|e| plot_err(path, e))?;
            draw!(chart);
        }
    }
    root.present().map_err(|e| plot_err(path, e))
}

/// An animated GIF: one frame per panel, the data in grey behind, fixed axes.
pub fn flow_gif(
    path: &Path,
    data: &[(f64, f64)],
    frames: &[Panel],
    px: u32,
    delay_ms: u32,
) -> Result<()> {
    ensure_font();
    let root = BitMapBackend::gif(path, (px, px), delay_ms)
        .map_err(|e| plot_err(path, e))?
        .into_drawing_area();
    let ranges = bounds(std::iter::once(data).chain(frames.iter().map(|p| p.particles.as_slice())));
    for frame in frames {
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        draw_scatter(&root, path, data, frame, ranges)?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    Ok(())
}

/// Points of dimension `side²` drawn as `side × side` grey images (row-major, darker =
/// larger), `cols` per row, each pixel `scale` screen pixels, on the value range of `range`.
pub fn image_grid_png(
    path: &Path,
    images: &Points,
    side: usize,
    cols: usize,
    scale: u32,
    range: (f64, f64),
) -> Result<()> {
    if images.dim() != side * side {
        return Err(Error::DimensionMismatch {
            what: "images",
            expected: side * side,
            got: images.dim(),
        });
    }
    let cols = cols.max(1);
    let rows = images.len().div_ceil(cols);
    let cell = side as u32 * scale + 2;
    let root =
        BitMapBackend::new(path, (cols as u32 * cell, rows as u32 * cell)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let (lo, hi) = range;
    let span = if hi > lo { hi - lo } else { 1.0 };
    for (k, img) in images.rows().enumerate() {
        let (ox, oy) = ((k % cols) as u32 * cell + 1, (k / cols) as u32 * cell + 1);
        for (p, v) in img.iter().enumerate() {
            let g = (255.0 * (1.0 - ((v - lo) / span).clamp(0.0, 1.0))) as u8;
            let (x, y) = (
                ox + (p % side) as u32 * scale,
                oy + (p / side) as u32 * scale,
            );
            root.draw(&Rectangle::new(
                [
                    (x as i32, y as i32),
                    ((x + scale) as i32, (y + scale) as i32),
                ],
                RGBColor(g, g, g).filled(),
            ))
            .map_err(|e| plot_err(path, e))?;
        }
    }
    root.present().map_err(|e| plot_err(path, e))
}

/// Least-squares slope of `log y` against `log x` (the scaling exponent); `None` with fewer
/// than two distinct positive points.
pub fn loglog_slope(points: &[(f64, f64)]) -> Option<f64> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln_p(), y.ln_p()))
        .collect();
    linear_slope(&pts)
}

/// The least-squares slope of `y` against `x` (`None` for fewer than two points or no
/// spread in `x`).
pub fn linear_slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// A log-log plot of labelled `(x, y)` series (time against N, say), each labelled with its
/// fitted slope.
pub fn loglog_png(
    path: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    series: &[(String, Vec<(f64, f64)>)],
    (w, h): (u32, u32),
) -> Result<()> {
    ensure_font();
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|(_, p)| p.iter().copied())
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .collect();
    if all.is_empty() {
        return Err(plot_err(path, "no positive point to draw"));
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let (x0, x1) = (x0 / 1.3, x1 * 1.3);
    let (y0, y1) = (y0 / 2.0, y1 * 2.0);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(|e| plot_err(path, e))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|v| format!("{v:.0e}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    for (k, (label, points)) in series.iter().enumerate() {
        let color = LINE_COLORS[k % LINE_COLORS.len()];
        let pts: Vec<(f64, f64)> = points
            .iter()
            .copied()
            .filter(|(x, y)| *x > 0.0 && *y > 0.0)
            .collect();
        let text = match loglog_slope(&pts) {
            Some(s) => format!("{label} (slope {s:.2})"),
            None => label.clone(),
        };
        chart
            .draw_series(LineSeries::new(pts.clone(), &color))
            .map_err(|e| plot_err(path, e))?
            .label(text)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(|e| plot_err(path, e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_err(path, e))?;
    root.present().map_err(|e| plot_err(path, e))
}
