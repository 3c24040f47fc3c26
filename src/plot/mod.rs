//! Pictures without Python: particles over the data, metric curves, an animated GIF of the
//! flow, and 8x8 image grids for the digits. PNG and GIF through plotters' bitmap backend,
//! text in the bundled DejaVu Sans Mono (licence beside this file), so no system font is
//! needed.

mod canvas;
pub mod imitation;
pub mod modes;
pub mod run_folder;

use std::path::Path;
use std::sync::Once;

use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

use canvas::Canvas;

use crate::error::{Error, Result};
use crate::num::Portable;
use crate::points::Points;

pub(crate) static FONT: &[u8] = include_bytes!("DejaVuSansMono.ttf");
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

/// The colour of the data's points and histogram.
pub const DATA_COLOR: RGBColor = RGBColor(150, 150, 150);
/// The colour of the particles' points, histogram and curve.
pub const PARTICLE_COLOR: RGBColor = RGBColor(200, 40, 40);
/// The colour of the environment's discs (obstacles, goals).
pub const DISC_COLOR: RGBColor = RGBColor(120, 170, 230);

type Area<'a> = DrawingArea<Canvas<'a>, plotters::coord::Shift>;

/// The names a scatter picture gives its axes and its two point sets.
#[derive(Clone, Debug, PartialEq)]
pub struct PlaneLabels {
    /// The horizontal axis's title.
    pub x: String,
    /// The vertical axis's title.
    pub y: String,
    /// The legend's name for the data (grey).
    pub data: String,
    /// The legend's name for the particles (red).
    pub particles: String,
}

impl Default for PlaneLabels {
    /// `x0` and `x1`, data and particles.
    fn default() -> Self {
        Self {
            x: "x0".into(),
            y: "x1".into(),
            data: "data".into(),
            particles: "particles".into(),
        }
    }
}

/// Draws one scatter panel into `area`: the environment's discs in blue, the particles in
/// red, the data in grey above them (so that both stay visible where they overlap), and the
/// arrows when the panel has them, on fixed axes with their titles and a legend.
fn draw_scatter(
    area: &Area<'_>,
    path: &Path,
    data: &[(f64, f64)],
    panel: &Panel,
    ((x0, x1), (y0, y1)): ((f64, f64), (f64, f64)),
    labels: &PlaneLabels,
) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(50)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| plot_err(path, e))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc(&labels.x)
        .y_desc(&labels.y)
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .axis_desc_style(("sans-serif", 14))
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
        .draw_series(
            panel
                .particles
                .iter()
                .map(|&p| Circle::new(p, 1, PARTICLE_COLOR.filled())),
        )
        .map_err(|e| plot_err(path, e))?
        .label(labels.particles.as_str())
        .legend(|(x, y)| Circle::new((x + 8, y), 3, PARTICLE_COLOR.filled()));
    chart
        .draw_series(data.iter().map(|&p| Circle::new(p, 1, DATA_COLOR.filled())))
        .map_err(|e| plot_err(path, e))?
        .label(labels.data.as_str())
        .legend(|(x, y)| Circle::new((x + 8, y), 3, DATA_COLOR.filled()));
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
    draw_legend(&mut chart, path)?;
    Ok(())
}

/// The legend of a chart's labelled series, in its upper right corner.
fn draw_legend<'a, 'b: 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, Canvas<'b>, CT>,
    path: &Path,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_err(path, e))?;
    Ok(())
}

/// Particles over the data, one panel per entry, side by side; each panel is `panel_px`
/// pixels square. Axes are titled `x0` and `x1` ([`scatter_png_labelled`] names them).
pub fn scatter_png(
    path: &Path,
    data: &[(f64, f64)],
    panels: &[Panel],
    panel_px: u32,
) -> Result<()> {
    scatter_png_labelled(path, data, panels, panel_px, &PlaneLabels::default())
}

/// [`scatter_png`] with the axes and the point sets named by `labels`.
pub fn scatter_png_labelled(
    path: &Path,
    data: &[(f64, f64)],
    panels: &[Panel],
    panel_px: u32,
    labels: &PlaneLabels,
) -> Result<()> {
    ensure_font();
    let n = panels.len().max(1) as u32;
    let root = Canvas(BitMapBackend::new(path, (panel_px * n, panel_px))).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let areas = root.split_evenly((1, n as usize));
    let ranges = bounds(std::iter::once(data).chain(panels.iter().map(|p| p.particles.as_slice())));
    for (area, panel) in areas.iter().zip(panels) {
        draw_scatter(area, path, data, panel, ranges, labels)?;
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

/// A tick label: up to three significant digits, without trailing zeros, in exponent form
/// outside 1e-3..1e5 ("0.02", "150", "2e-05").
pub fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exponent}");
    }
    let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Ticks of a log axis over `[lo, hi]` (both > 0), as log10 values: the labelled ones and
/// the minor ones. Decades are labelled; so are 2 and 5 times a decade when the axis spans
/// at most two decades, and every multiple when it spans less than one. Every multiple
/// 2..9 of a decade inside the range is a minor tick.
pub fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let (a, b) = (lo.log10(), hi.log10());
    let span = b - a;
    let mut labelled = Vec::new();
    let mut minor = Vec::new();
    for decade in (a.floor() as i32)..=(b.ceil() as i32) {
        for k in 1..10 {
            let v = (f64::from(k) * 10f64.powi(decade)).log10();
            if v < a - 1e-12 || v > b + 1e-12 {
                continue;
            }
            let label = k == 1 || (span <= 2.0 && (k == 2 || k == 5)) || span < 1.0;
            if label {
                labelled.push(v);
            } else {
                minor.push(v);
            }
        }
    }
    (labelled, minor)
}

/// A y axis with chosen ticks: a log axis (values are log10 of the data) labelled by
/// [`log_ticks`], or a linear one with plotters' own ticks.
struct TickedAxis {
    linear: RangedCoordf64,
    log: bool,
    labelled: Vec<f64>,
    minor: Vec<f64>,
}

impl Ranged for TickedAxis {
    type FormatOption = plotters::coord::ranged1d::NoDefaultFormatting;
    type ValueType = f64;
    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }
    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if !self.log {
            return self.linear.key_points(hint);
        }
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.labelled.clone()
        }
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.linear.range()
    }
}

impl ValueFormatter<f64> for TickedAxis {
    fn format_ext(&self, value: &f64) -> String {
        tick_label(if self.log {
            10f64.powf_p(*value)
        } else {
            *value
        })
    }
}

/// Curves against time, one panel each, stacked, with axis titles (flow time, the panel's
/// title); a panel asking for a log scale gets one when all its values are positive, with
/// labelled and minor ticks ([`log_ticks`]); a legend when it has more than one line.
pub fn curves_png(path: &Path, t: &[f64], panels: &[CurvePanel], (w, h): (u32, u32)) -> Result<()> {
    ensure_font();
    let root = Canvas(BitMapBackend::new(path, (w, h))).into_drawing_area();
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
        let log = panel.log && lo > 0.0 && hi.is_finite();
        // On a log axis the chart's y is log10 of the value.
        let shown = |v: f64| if log { v.log10() } else { v };
        let (y0, y1) = if finite.is_empty() {
            (0.0, 1.0)
        } else if log {
            let (a, b) = (lo.log10(), hi.log10());
            let pad = ((b - a) * 0.05).max(0.05);
            (a - pad, b + pad)
        } else {
            let pad = ((hi - lo) * 0.1).max(1e-9);
            (lo - pad, hi + pad)
        };
        let (labelled, minor) = if log {
            log_ticks(10f64.powf_p(y0), 10f64.powf_p(y1))
        } else {
            (Vec::new(), Vec::new())
        };
        let axis = TickedAxis {
            linear: (y0..y1).into(),
            log,
            labelled,
            minor,
        };
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(66)
            .build_cartesian_2d(t0..t1, axis)
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .x_desc("flow time t")
            .y_desc(&panel.title)
            .x_label_formatter(&|v| tick_label(*v))
            .y_labels(6)
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        for (k, (label, values)) in panel.lines.iter().enumerate() {
            let color = LINE_COLORS[k % LINE_COLORS.len()];
            let points = t
                .iter()
                .copied()
                .zip(values.iter().copied())
                .filter(|(_, v)| v.is_finite() && (!log || *v > 0.0))
                .map(|(x, v)| (x, shown(v)));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| plot_err(path, e))?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        if panel.lines.len() > 1 {
            draw_legend(&mut chart, path)?;
        }
    }
    root.present().map_err(|e| plot_err(path, e))
}

/// One panel of a 1-D picture: the particles at one recorded step, with the bandwidths of
/// the two density estimates drawn.
pub struct DensityPanel {
    /// Title ("step 100, t = 10").
    pub title: String,
    /// The particles.
    pub particles: Vec<f64>,
    /// The particles' KDE bandwidth, in the picture's units.
    pub h_particles: f64,
    /// The data's KDE bandwidth, in the picture's units.
    pub h_data: f64,
}

/// The colour of the data's density curve (its histogram is [`DATA_COLOR`], lighter).
pub const DATA_CURVE_COLOR: RGBColor = RGBColor(60, 60, 60);

/// The Gaussian KDE of `points` with bandwidth `h` at each of `xs` (a picture's curve).
fn kde_curve(points: &[f64], h: f64, xs: &[f64]) -> Vec<f64> {
    let norm = 1.0 / (points.len() as f64 * h * (2.0 * std::f64::consts::PI).sqrt());
    xs.iter()
        .map(|x| {
            norm * points
                .iter()
                .map(|p| (-0.5 * ((x - p) / h).powi(2)).exp_p())
                .sum::<f64>()
        })
        .collect()
}

/// Histogram densities of `points` over `bins` equal bins of `[lo, hi]`.
fn histogram(points: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0.0; bins];
    for &p in points {
        let k = ((p - lo) / width).floor();
        if k >= 0.0 && (k as usize) < bins {
            counts[k as usize] += 1.0;
        }
    }
    let scale = 1.0 / (points.len().max(1) as f64 * width);
    counts.iter().map(|c| c * scale).collect()
}

/// A 1-D run as densities, one panel per entry side by side: the histograms of the data
/// (grey) and of the particles (red, translucent, so both show), and their KDE curves at the
/// run's bandwidths (dark grey and red).
pub fn density_png(
    path: &Path,
    data: &[f64],
    panels: &[DensityPanel],
    panel_px: u32,
) -> Result<()> {
    ensure_font();
    let n = panels.len().max(1) as u32;
    let root = Canvas(BitMapBackend::new(path, (panel_px * n, panel_px))).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let all = data
        .iter()
        .chain(panels.iter().flat_map(|p| p.particles.iter()))
        .copied();
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let pad = ((hi - lo) * 0.05).max(1e-6);
    let (lo, hi) = (lo - pad, hi + pad);
    const BINS: usize = 40;
    const SAMPLES: usize = 400;
    let xs: Vec<f64> = (0..SAMPLES)
        .map(|k| lo + (hi - lo) * k as f64 / (SAMPLES - 1) as f64)
        .collect();
    struct Curves {
        data_hist: Vec<f64>,
        particle_hist: Vec<f64>,
        data_kde: Vec<f64>,
        particle_kde: Vec<f64>,
    }
    let curves: Vec<Curves> = panels
        .iter()
        .map(|p| Curves {
            data_hist: histogram(data, lo, hi, BINS),
            particle_hist: histogram(&p.particles, lo, hi, BINS),
            data_kde: kde_curve(data, p.h_data, &xs),
            particle_kde: kde_curve(&p.particles, p.h_particles, &xs),
        })
        .collect();
    let top = curves
        .iter()
        .flat_map(|c| {
            c.data_hist
                .iter()
                .chain(&c.particle_hist)
                .chain(&c.data_kde)
                .chain(&c.particle_kde)
        })
        .copied()
        .fold(0.0, f64::max)
        * 1.08;
    let width = (hi - lo) / BINS as f64;
    let areas = root.split_evenly((1, n as usize));
    for ((area, panel), c) in areas.iter().zip(panels).zip(&curves) {
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(lo..hi, 0.0..top.max(1e-12))
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .x_desc("x")
            .y_desc("density")
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        let bars = |hist: &[f64], color: RGBColor| {
            hist.iter()
                .enumerate()
                .map(move |(k, &v)| {
                    let x0 = lo + k as f64 * width;
                    Rectangle::new([(x0, 0.0), (x0 + width, v)], color.mix(0.35).filled())
                })
                .collect::<Vec<_>>()
        };
        chart
            .draw_series(bars(&c.data_hist, DATA_COLOR))
            .map_err(|e| plot_err(path, e))?;
        chart
            .draw_series(bars(&c.particle_hist, PARTICLE_COLOR))
            .map_err(|e| plot_err(path, e))?;
        for (curve, color, name) in [
            (&c.data_kde, DATA_CURVE_COLOR, "data"),
            (&c.particle_kde, PARTICLE_COLOR, "particles"),
        ] {
            chart
                .draw_series(LineSeries::new(
                    xs.iter().copied().zip(curve.iter().copied()),
                    color.stroke_width(2),
                ))
                .map_err(|e| plot_err(path, e))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut chart, path)?;
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
    labels: &PlaneLabels,
) -> Result<()> {
    ensure_font();
    let root = Canvas(BitMapBackend::gif(path, (px, px), delay_ms).map_err(|e| plot_err(path, e))?)
        .into_drawing_area();
    let ranges = bounds(std::iter::once(data).chain(frames.iter().map(|p| p.particles.as_slice())));
    for frame in frames {
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        draw_scatter(&root, path, data, frame, ranges, labels)?;
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
    let root = Canvas(BitMapBackend::new(
        path,
        (cols as u32 * cell, rows as u32 * cell),
    ))
    .into_drawing_area();
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
    let root = Canvas(BitMapBackend::new(path, (w, h))).into_drawing_area();
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
