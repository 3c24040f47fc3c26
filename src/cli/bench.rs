//! `ganflow bench`: time per evaluation and accuracy against the exact sums, for a grid of
//! sizes, dimensions, tolerances and estimators; a table, a CSV and a log-log picture.

use std::fs;
use std::time::Instant;

use ganflow::Points;
use ganflow::datasets::gaussian;
use ganflow::kde::{Bandwidth, Estimator, ExactSums, evaluate_sums, kde};
use ganflow::metrics::subsample;
use ganflow::plot::{loglog_png, loglog_slope};

use super::args::BenchArgs;
use super::{AnyResult, parse_list as list, write_output};
use ganflow::output::write_whole;

/// One measured configuration.
struct Row {
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

pub fn bench(args: BenchArgs) -> AnyResult<()> {
    let mut ns: Vec<usize> = list("--n", &args.n)?;
    ns.sort_unstable();
    // (estimator, dimension, tolerance) series that ran past --skip-after.
    let mut stopped: Vec<(String, usize, u64)> = Vec::new();
    let dims: Vec<usize> = list("--dim", &args.dim)?;
    let tols: Vec<f64> = list("--tol", &args.tol)?;
    let names: Vec<String> = list("--estimators", &args.estimators)?;
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
        "{:<8} {:>8} {:>8} {:>4} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "estim.",
        "N",
        "M",
        "d",
        "tol",
        "seconds",
        "dens med",
        "dens max",
        "score med",
        "score max"
    );
    for &dim in &dims {
        for &n in &ns {
            let m = args.m.unwrap_or(n);
            let queries = gaussian(n, &vec![0.0; dim], 1.0, args.seed)?;
            let samples = gaussian(m, &vec![0.5; dim], 1.0, args.seed + 1)?;
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
                    let key = (name.clone(), dim, tol.to_bits());
                    if stopped.contains(&key) {
                        say!(
                            "{name:<8} {n:>8} {m:>8} {dim:>4} {tol:>8.0e} skipped (over {} s at a smaller N)",
                            args.skip_after
                        );
                        continue;
                    }
                    let (seconds, e) =
                        measure(estimator, &queries, &samples, h, args.repeats, &check)?;
                    say!(
                        "{:<8} {:>8} {:>8} {:>4} {:>8.0e} {:>10.4} {:>10.2e} {:>10.2e} {:>10.2e} {:>10.2e}",
                        name,
                        n,
                        m,
                        dim,
                        tol,
                        seconds,
                        e[0],
                        e[1],
                        e[2],
                        e[3]
                    );
                    if seconds > args.skip_after {
                        stopped.push(key);
                    }
                    rows.push(Row {
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
    fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    write_output(Some(&args.out.join("bench.csv")), |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record([
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
        ])?;
        for r in &rows {
            csv.write_record([
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
            ])?;
        }
        csv.flush()?;
        Ok(())
    })?;
    // One series per (estimator, dimension, tolerance): time against N.
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for r in &rows {
        let label = if r.estimator == "exact" {
            format!("exact d={}", r.dim)
        } else {
            format!("{} d={} tol={:.0e}", r.estimator, r.dim, r.tol)
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
