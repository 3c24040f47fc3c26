//! `ganflow bench`: time per evaluation and accuracy against the exact sums, for a grid of
//! geometries, sizes, dimensions, tolerances and estimators; which share of the queries each
//! estimator hands to its tree and the samples a query touches; a table, a CSV and a log-log
//! picture.

use std::fs;
use std::time::Instant;

use ganflow::Points;
use ganflow::datasets::{gaussian, rng};
use ganflow::kde::grid::GridSums;
use ganflow::kde::kdtree::samples_touched;
use ganflow::kde::{Bandwidth, Estimator, ExactSums, evaluate_sums, kde};
use ganflow::metrics::subsample;
use ganflow::num::Portable;
use ganflow::plot::{loglog_png, loglog_slope};
use rand_distr::{Distribution, Gamma};

use super::args::BenchArgs;
use super::{AnyResult, parse_list as list, write_output};
use ganflow::output::write_whole;

/// Where the samples (and, for `HeavyTail`, the queries) lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Geometry {
    Gaussian,
    Ring,
    Spiral,
    FarPoints,
    HeavyTail,
}

impl std::str::FromStr for Geometry {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gaussian" => Ok(Self::Gaussian),
            "ring" => Ok(Self::Ring),
            "spiral" => Ok(Self::Spiral),
            "far-points" => Ok(Self::FarPoints),
            "heavy-tail" => Ok(Self::HeavyTail),
            other => Err(format!(
                "unknown {other:?}; gaussian, ring, spiral, far-points or heavy-tail"
            )),
        }
    }
}

impl std::fmt::Display for Geometry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Gaussian => "gaussian",
            Self::Ring => "ring",
            Self::Spiral => "spiral",
            Self::FarPoints => "far-points",
            Self::HeavyTail => "heavy-tail",
        })
    }
}

/// Width of the ring and the spiral.
const THIN: f64 = 0.02;

impl Geometry {
    /// `n` queries and `m` samples in `dim` dimensions.
    fn point_sets(self, n: usize, m: usize, dim: usize, seed: u64) -> AnyResult<(Points, Points)> {
        // The standard normal draws of the Gaussian geometry, as before there were others.
        let normal = |count: usize, s: u64| -> AnyResult<Vec<f64>> {
            Ok(gaussian(count, &vec![0.0; dim], 1.0, s)?
                .as_slice()
                .to_vec())
        };
        let queries = match self {
            Self::HeavyTail => {
                // Student t, 1.5 degrees of freedom: a normal over sqrt(chi2(1.5)/1.5), the
                // chi-square drawn as a gamma(0.75, 2).
                let z = normal(n, seed)?;
                let mut r = rng(seed + 7);
                let gamma = Gamma::new(0.75, 2.0).map_err(|e| e.to_string())?;
                let coords = z
                    .chunks(dim)
                    .flat_map(|row| {
                        let chi2: f64 = gamma.sample(&mut r);
                        let s = (chi2 / 1.5).sqrt();
                        row.iter().map(|v| v / s).collect::<Vec<_>>()
                    })
                    .collect();
                Points::new("queries", coords, dim)?
            }
            _ => Points::new("queries", normal(n, seed)?, dim)?,
        };
        let noise = normal(m, seed + 1)?;
        let pi = std::f64::consts::PI;
        let along = |k: usize| (k as f64 + 0.5) / m as f64;
        let coords: Vec<f64> = match self {
            Self::Gaussian | Self::HeavyTail => noise.iter().map(|v| 0.5 + v).collect(),
            Self::Ring | Self::Spiral | Self::FarPoints if dim < 2 => {
                return Err(format!("--geometry {self}: needs --dim 2 or more").into());
            }
            Self::Ring | Self::Spiral => noise
                .chunks(dim)
                .enumerate()
                .flat_map(|(k, z)| {
                    let (radius, angle) = if self == Self::Ring {
                        (2.0, 2.0 * pi * along(k))
                    } else {
                        // Two turns, from radius 0.5 to 2.5.
                        (0.5 + 2.0 * along(k), 4.0 * pi * along(k))
                    };
                    let mut row: Vec<f64> = z.iter().map(|v| THIN * v).collect();
                    row[0] += radius * angle.cos_p();
                    row[1] += radius * angle.sin_p();
                    row
                })
                .collect(),
            Self::FarPoints => (0..m)
                .flat_map(|k| {
                    let angle = pi / 2.0 * (k % 4) as f64;
                    let mut row = vec![0.0; dim];
                    row[0] = 6.0 * angle.cos_p();
                    row[1] = 6.0 * angle.sin_p();
                    row
                })
                .collect(),
        };
        Ok((queries, Points::new("samples", coords, dim)?))
    }
}

/// One measured configuration.
struct Row {
    geometry: Geometry,
    /// The share of the queries answered by a k-d tree (all for `kdtree`; the uncertified
    /// ones for `grid`).
    tree_share: f64,
    /// The samples a query's sum touches: median and largest (M for exact sums).
    work_median: usize,
    work_max: usize,
    estimator: String,
    n: usize,
    m: usize,
    dim: usize,
    tol: f64,
    seconds: f64,
    density_median: f64,
    density_max: f64,
    score_median: f64,
    score_max: f64,
}

fn median_and_max(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], *v.last().expect("non-empty"))
}

fn measure(
    estimator: Estimator,
    queries: &Points,
    samples: &Points,
    h: f64,
    repeats: usize,
    check: &Points,
) -> AnyResult<(f64, [f64; 4])> {
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let sums = estimator.build(samples.clone())?;
        let dens = kde(sums.as_ref(), queries, h)?;
        std::hint::black_box(&dens);
        best = best.min(start.elapsed().as_secs_f64());
    }
    // Accuracy on the check subsample against the direct double loop.
    let sums = estimator.build(samples.clone())?;
    let (ls, sh) = evaluate_sums(sums.as_ref(), check, h, None)?;
    let (le, se) = evaluate_sums(&ExactSums::new(samples.clone()), check, h, None)?;
    let d = check.dim();
    let dens_err: Vec<f64> = ls
        .iter()
        .zip(&le)
        .map(|(a, b)| (a - b).exp_m1().abs())
        .collect();
    let score_err: Vec<f64> = (0..check.len())
        .map(|i| {
            let (a, b) = (&sh[i * d..(i + 1) * d], &se[i * d..(i + 1) * d]);
            let diff = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f64>()
                .sqrt();
            let norm = b.iter().map(|x| x * x).sum::<f64>().sqrt();
            diff / (norm + 1.0 / h)
        })
        .collect();
    let (dm, dx) = median_and_max(dens_err);
    let (sm, sx) = median_and_max(score_err);
    Ok((best, [dm, dx, sm, sx]))
}

/// The share of the queries a tree answers and the samples each of those touches, for
/// `estimator` (resolved to what it runs): exact sums touch every sample.
fn work(
    estimator: Estimator,
    queries: &Points,
    samples: &Points,
    h: f64,
) -> AnyResult<(f64, usize, usize)> {
    let (share, touched) = match estimator.resolve(samples.dim(), samples.len()) {
        Estimator::KdTree { tol } if samples.dim() <= ganflow::kde::kdtree::MAX_DIM => {
            (1.0, samples_touched(samples, queries, h, tol)?)
        }
        Estimator::Grid { tol } => {
            let grid = GridSums::new(samples.clone(), tol);
            let left = grid.uncertified(queries, h, None);
            let subset: Vec<f64> = left.iter().flat_map(|&i| queries.row(i).to_vec()).collect();
            let touched = if left.is_empty() {
                Vec::new()
            } else {
                let subset = Points::new("queries", subset, queries.dim())?;
                // The grid's fallback: the tree estimator.
                samples_touched(samples, &subset, h, tol)?
            };
            (left.len() as f64 / queries.len() as f64, touched)
        }
        _ => (0.0, vec![samples.len(); queries.len()]),
    };
    if touched.is_empty() {
        return Ok((share, 0, 0));
    }
    let mut sorted = touched;
    sorted.sort_unstable();
    Ok((
        share,
        sorted[sorted.len() / 2],
        *sorted.last().expect("non-empty"),
    ))
}

pub fn bench(args: BenchArgs) -> AnyResult<()> {
    let mut ns: Vec<usize> = list("--n", &args.n)?;
    ns.sort_unstable();
    // (estimator, dimension, tolerance) series that ran past --skip-after.
    let mut stopped: Vec<(Geometry, String, usize, u64)> = Vec::new();
    let dims: Vec<usize> = list("--dim", &args.dim)?;
    let tols: Vec<f64> = list("--tol", &args.tol)?;
    let names: Vec<String> = list("--estimators", &args.estimators)?;
    let geometries: Vec<Geometry> = list("--geometry", &args.geometry)?;
    if ns.contains(&0) || dims.contains(&0) || args.m == Some(0) {
        return Err("--n, --m, --dim: every size must be at least 1".into());
    }
    if let Some(t) = tols.iter().find(|t| !(**t > 0.0 && **t < 1.0)) {
        return Err(format!("--tol: each tolerance must be in (0, 1), got {t}").into());
    }
    if args.repeats == 0 || args.accuracy_points == 0 {
        return Err("--repeats and --accuracy-points: must be at least 1".into());
    }
    if args.skip_after.is_nan() || args.skip_after < 0.0 {
        return Err(format!("--skip-after: must be >= 0, got {}", args.skip_after).into());
    }
    let mut rows = Vec::new();
    say!(
        "{:<10} {:<8} {:>8} {:>8} {:>4} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>6} {:>8} {:>8}",
        "geometry",
        "estim.",
        "N",
        "M",
        "d",
        "tol",
        "seconds",
        "dens med",
        "dens max",
        "score med",
        "score max",
        "tree",
        "work med",
        "work max"
    );
    for &geometry in &geometries {
        for &dim in &dims {
            for &n in &ns {
                let m = args.m.unwrap_or(n);
                let (queries, samples) = geometry.point_sets(n, m, dim, args.seed)?;
                let h = Bandwidth::Scott.compute("samples", &samples)?;
                let check = subsample(&queries, args.accuracy_points, args.seed + 2);
                for name in &names {
                    let estimators: Vec<(f64, Estimator)> = match name.as_str() {
                        "exact" => vec![(0.0, Estimator::Exact)],
                        "kdtree" => tols
                            .iter()
                            .map(|&t| (t, Estimator::KdTree { tol: t }))
                            .collect(),
                        "grid" => tols
                            .iter()
                            .map(|&t| (t, Estimator::Grid { tol: t }))
                            .collect(),
                        "auto" => tols
                            .iter()
                            .map(|&t| (t, Estimator::Auto { tol: t }))
                            .collect(),
                        other => {
                            return Err(format!(
                                "--estimators: unknown {other:?}; exact, kdtree, grid or auto"
                            )
                            .into());
                        }
                    };
                    for (tol, estimator) in estimators {
                        let key = (geometry, name.clone(), dim, tol.to_bits());
                        if stopped.contains(&key) {
                            say!(
                                "{geometry:<10} {name:<8} {n:>8} {m:>8} {dim:>4} {tol:>8.0e} skipped (over {} s at a smaller N)",
                                args.skip_after
                            );
                            continue;
                        }
                        let (seconds, e) =
                            measure(estimator, &queries, &samples, h, args.repeats, &check)?;
                        let (tree_share, work_median, work_max) =
                            work(estimator, &queries, &samples, h)?;
                        say!(
                            "{:<10} {:<8} {:>8} {:>8} {:>4} {:>8.0e} {:>10.4} {:>10.2e} {:>10.2e} {:>10.2e} {:>10.2e} {:>6.3} {:>8} {:>8}",
                            geometry,
                            name,
                            n,
                            m,
                            dim,
                            tol,
                            seconds,
                            e[0],
                            e[1],
                            e[2],
                            e[3],
                            tree_share,
                            work_median,
                            work_max
                        );
                        if seconds > args.skip_after {
                            stopped.push(key);
                        }
                        rows.push(Row {
                            geometry,
                            tree_share,
                            work_median,
                            work_max,
                            estimator: name.clone(),
                            n,
                            m,
                            dim,
                            tol,
                            seconds,
                            density_median: e[0],
                            density_max: e[1],
                            score_median: e[2],
                            score_max: e[3],
                        });
                    }
                }
            }
        }
    }
    fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    write_output(Some(&args.out.join("bench.csv")), |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record([
            "geometry",
            "estimator",
            "n",
            "m",
            "dim",
            "tol",
            "seconds",
            "density_rel_err_median",
            "density_rel_err_max",
            "score_err_median",
            "score_err_max",
            "tree_share",
            "work_median",
            "work_max",
        ])?;
        for r in &rows {
            csv.write_record([
                r.geometry.to_string(),
                r.estimator.clone(),
                r.n.to_string(),
                r.m.to_string(),
                r.dim.to_string(),
                r.tol.to_string(),
                r.seconds.to_string(),
                r.density_median.to_string(),
                r.density_max.to_string(),
                r.score_median.to_string(),
                r.score_max.to_string(),
                r.tree_share.to_string(),
                r.work_median.to_string(),
                r.work_max.to_string(),
            ])?;
        }
        csv.flush()?;
        Ok(())
    })?;
    // One series per (estimator, dimension, tolerance): time against N.
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for r in &rows {
        let place = if geometries.len() > 1 {
            format!("{} ", r.geometry)
        } else {
            String::new()
        };
        let label = if r.estimator == "exact" {
            format!("{place}exact d={}", r.dim)
        } else {
            format!("{place}{} d={} tol={:.0e}", r.estimator, r.dim, r.tol)
        };
        match series.iter_mut().find(|(l, _)| *l == label) {
            Some((_, pts)) => pts.push((r.n as f64, r.seconds)),
            None => series.push((label, vec![(r.n as f64, r.seconds)])),
        }
    }
    for (label, pts) in &series {
        if let Some(s) = loglog_slope(pts) {
            say!("{label}: time grows like N^{s:.2}");
        }
    }
    let png = args.out.join("bench.png");
    write_whole(&png, |p| {
        loglog_png(
            p,
            "density and score at N points from M samples",
            ("N", "seconds"),
            &series,
            (800, 560),
        )
    })?;
    say!(
        "wrote {} and {}",
        args.out.join("bench.csv").display(),
        png.display()
    );
    Ok(())
}
