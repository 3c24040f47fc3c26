//! Every estimator against the exact brute force, at its stated error bound
//! (`kde::kdtree`: log-sum within `-ln(1 - tol)`, shift within `tol (|ŝ| + 1/h)`).
//! Seeds are fixed; a failure prints the case so it can be rerun alone.

#![allow(clippy::disallowed_methods)] // an independent oracle may use the C library

mod common;

use common::{clustered, normal, score_error};
use ganflow::Points;
use ganflow::kde::{Estimator, ExactSums, evaluate_sums, kde};

/// Checks `estimator` against exact sums over `samples` at `queries`; returns the largest
/// observed log error relative to the bound, to show the bound is not vacuous.
fn check(
    estimator: Estimator,
    samples: &Points,
    queries: &Points,
    h: f64,
    weights: Option<&[f64]>,
    case: &str,
) -> f64 {
    let tol = match estimator {
        Estimator::Exact => 1e-12,
        Estimator::KdTree { tol } | Estimator::Grid { tol } | Estimator::Auto { tol } => tol,
    };
    let exact = ExactSums::new(samples.clone());
    let fast = estimator.build(samples.clone()).unwrap();
    let (ls_e, sh_e) = evaluate_sums(&exact, queries, h, weights).unwrap();
    let (ls_f, sh_f) = evaluate_sums(fast.as_ref(), queries, h, weights).unwrap();
    let d = queries.dim();
    let log_bound = -(1.0 - tol).ln() + 1e-12;
    let mut worst: f64 = 0.0;
    for i in 0..queries.len() {
        assert!(ls_f[i].is_finite(), "{case}: query {i} log-sum {}", ls_f[i]);
        let err = (ls_f[i] - ls_e[i]).abs();
        assert!(
            err <= log_bound * (1.0 + 1e-9) + 1e-12 * ls_e[i].abs(),
            "{case}: query {i}: log-sum error {err:e} > bound {log_bound:e}"
        );
        worst = worst.max(err / log_bound);
        let sf = &sh_f[i * d..(i + 1) * d];
        let se = &sh_e[i * d..(i + 1) * d];
        let diff = sf
            .iter()
            .zip(se)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm = sf.iter().map(|a| a * a).sum::<f64>().sqrt();
        let bound = tol * (norm + 1.0 / h) + 1e-10 * (norm + 1.0 / h);
        assert!(
            diff <= bound,
            "{case}: query {i}: shift error {diff:e} > bound {bound:e}"
        );
    }
    worst
}

/// Queries: the samples themselves, fresh points, and points far outside the set.
fn queries_for(samples: &Points, seed: u64) -> Points {
    let d = samples.dim();
    let fresh = normal(200, d, seed);
    let mut coords: Vec<f64> =
        samples.as_slice()[..(100 * d).min(samples.as_slice().len())].to_vec();
    coords.extend(fresh.as_slice().iter().map(|v| 1.5 * v));
    coords.extend((0..5 * d).map(|k| 40.0 + k as f64));
    Points::new("queries", coords, d).unwrap()
}

fn run_suite(estimator: Estimator) {
    let mut worst: f64 = 0.0;
    for &d in &[1usize, 2, 3, 5, 12] {
        let sets = [
            ("random", normal(3000, d, 10 + d as u64)),
            ("clustered", clustered(3000, d, 4, 20 + d as u64)),
            // Degenerate: many exact duplicates.
            ("duplicates", {
                let base = normal(30, d, 30 + d as u64);
                let coords: Vec<f64> = (0..100).flat_map(|_| base.as_slice().to_vec()).collect();
                Points::new("dups", coords, d).unwrap()
            }),
        ];
        for (name, samples) in &sets {
            let queries = queries_for(samples, 40 + d as u64);
            for &h in &[0.05, 0.3, 1.0] {
                let case = format!("{estimator:?} d={d} set={name} h={h}");
                worst = worst.max(check(estimator, samples, &queries, h, None, &case));
                // Weighted sums, weights spanning 12 orders of magnitude.
                let lw: Vec<f64> = (0..samples.len())
                    .map(|k| ((k * 7919) % 97) as f64 / 97.0 * 28.0 - 14.0)
                    .collect();
                let case = format!("{case} weighted");
                check(estimator, samples, &queries, h, Some(&lw), &case);
            }
        }
    }
    if let Estimator::KdTree { tol } | Estimator::Grid { tol } = estimator {
        // The estimator does approximate: some error is visible at a loose tolerance.
        if tol >= 1e-3 {
            assert!(worst > 0.0, "{estimator:?}: no truncation error at all");
        }
    }
}

#[test]
fn exact_suite() {
    run_suite(Estimator::Exact);
}

#[test]
fn kdtree_suite_tight() {
    run_suite(Estimator::KdTree { tol: 1e-8 });
}

#[test]
fn kdtree_suite_loose() {
    run_suite(Estimator::KdTree { tol: 1e-2 });
}

#[test]
fn grid_suite_tight() {
    run_suite(Estimator::Grid { tol: 1e-8 });
}

#[test]
fn grid_suite_loose() {
    run_suite(Estimator::Grid { tol: 1e-2 });
}

/// The grid itself answers (not its tree fallback) nearly every query inside a cloud, at
/// the tolerance the benchmarks use, in 1-D and 2-D, and its answers meet the bound.
#[test]
fn grid_answers_queries_inside_the_cloud() {
    use ganflow::kde::{Bandwidth, GridSums};
    for d in [1usize, 2] {
        let samples = normal(20_000, d, 50 + d as u64);
        let h = Bandwidth::Scott.compute("samples", &samples).unwrap();
        let queries = normal(2000, d, 60 + d as u64);
        for tol in [1e-4, 1e-6] {
            let grid = GridSums::new(samples.clone(), tol);
            let (answered, fallback) = grid.coverage(&queries, h, None);
            assert!(
                answered >= 19 * queries.len() / 20,
                "d={d} tol={tol}: grid answered {answered}, tree {fallback}"
            );
            let case = format!("grid coverage d={d} tol={tol}");
            check(Estimator::Grid { tol }, &samples, &queries, h, None, &case);
            // Weights spanning 12 orders of magnitude, as the variational scheme's do.
            let lw: Vec<f64> = (0..samples.len())
                .map(|k| ((k * 7919) % 97) as f64 / 97.0 * 28.0 - 14.0)
                .collect();
            let (answered, fallback) = grid.coverage(&queries, h, Some(&lw));
            assert!(
                answered >= 9 * queries.len() / 10,
                "d={d} tol={tol} weighted: grid answered {answered}, tree {fallback}"
            );
            let case = format!("{case} weighted");
            check(
                Estimator::Grid { tol },
                &samples,
                &queries,
                h,
                Some(&lw),
                &case,
            );
        }
    }
}

/// Points spread far wider than the bandwidth allows a grid for (a far outlier, a tiny h):
/// the grid steps aside and the tree answers, within the bound.
#[test]
fn grid_steps_aside_for_a_huge_extent() {
    let mut coords = normal(500, 2, 5).as_slice().to_vec();
    coords.extend([1e12, -3e11]);
    let samples = Points::new("s", coords, 2).unwrap();
    let queries = queries_for(&samples, 6);
    for h in [1e-3, 0.5] {
        let case = format!("huge extent h={h}");
        check(
            Estimator::Grid { tol: 1e-6 },
            &samples,
            &queries,
            h,
            None,
            &case,
        );
    }
}

/// A few stray samples far away do not stop the grid from answering the queries in the
/// cloud (its extent leaves the outermost 0.1% out), and the answers meet the bound.
#[test]
fn grid_ignores_stray_samples_when_sizing() {
    use ganflow::kde::{Bandwidth, GridSums};
    let cloud = normal(20_000, 2, 7);
    let h = Bandwidth::Scott.compute("samples", &cloud).unwrap();
    let mut coords = cloud.as_slice().to_vec();
    for k in 0..10 {
        coords.extend([1e4 + k as f64, -2e4]);
    }
    let samples = Points::new("s", coords, 2).unwrap();
    let queries = normal(1000, 2, 8);
    let grid = GridSums::new(samples.clone(), 1e-4);
    let (answered, fallback) = grid.coverage(&queries, h, None);
    assert!(answered >= 950, "grid answered {answered}, tree {fallback}");
    check(
        Estimator::Grid { tol: 1e-4 },
        &samples,
        &queries,
        h,
        None,
        "stray samples",
    );
}

#[test]
fn auto_suite() {
    run_suite(Estimator::Auto { tol: 1e-4 });
}

#[test]
fn kdtree_falls_back_to_exact_beyond_max_dim() {
    let samples = normal(50, 13, 1);
    let sums = Estimator::KdTree { tol: 1e-3 }.build(samples).unwrap();
    assert_eq!(sums.name(), "exact");
    let sums = Estimator::KdTree { tol: 1e-3 }
        .build(normal(50, 4, 1))
        .unwrap();
    assert_eq!(sums.name(), "kdtree");
    // Up to three dimensions the tree carries Taylor moments.
    for d in [1, 2, 3] {
        let sums = Estimator::KdTree { tol: 1e-3 }
            .build(normal(50, d, 1))
            .unwrap();
        assert_eq!(sums.name(), "farfield");
    }
}

#[test]
fn exact_kde_matches_closed_form_single_kernel() {
    // One sample at 0: the KDE is N(0, h² I).
    let h = 0.7;
    let s = Points::new("s", vec![0.0, 0.0], 2).unwrap();
    let q = Points::new("q", vec![1.0, -2.0], 2).unwrap();
    let dens = kde(&ExactSums::new(s), &q, h).unwrap();
    let expect = -(2.0 * std::f64::consts::PI * h * h).ln() - 5.0 / (2.0 * h * h);
    assert!((dens.log_density[0] - expect).abs() < 1e-13);
    assert!((dens.score[0] - (-1.0 / (h * h))).abs() < 1e-13);
    assert!((dens.score[1] - (2.0 / (h * h))).abs() < 1e-13);
}

#[test]
fn far_queries_stay_finite_in_high_dimension() {
    // d = 64 with a small bandwidth: every kernel value underflows in linear space.
    let samples = normal(100, 64, 3);
    let far = Points::new("q", vec![30.0; 64], 64).unwrap();
    let dens = kde(&ExactSums::new(samples), &far, 0.05).unwrap();
    assert!(dens.log_density[0].is_finite());
    assert!(dens.score.iter().all(|v| v.is_finite()));
}

/// Off-centre data (the identity's cancellation grows with |x|²), 700 samples: more than
/// two sample tiles and a ragged last one.
fn off_centre(d: usize, seed: u64) -> Points {
    let base = normal(700, d, seed);
    let shifted = base
        .as_slice()
        .iter()
        .enumerate()
        .map(|(i, v)| v + 5.0 + (i % d) as f64 * 0.1)
        .collect();
    Points::new("s", shifted, d).unwrap()
}

/// Log-sums and scores `got` against `want` (the direct double loop), to 1e-10: log-sums
/// relative to `max(|log S|, 1)`, scores relative to `|s| + 1/h`.
fn assert_sums_match(
    want: (&[f64], &[f64]),
    got: (&[f64], &[f64]),
    d: usize,
    h: f64,
    case: impl Fn(usize) -> String,
) {
    for i in 0..want.0.len() {
        let (a, b) = (want.0[i], got.0[i]);
        assert!(a.is_finite(), "{}: {a}", case(i));
        assert!(
            (a - b).abs() <= 1e-10 * a.abs().max(1.0),
            "{}: log-sum {a} vs {b}",
            case(i)
        );
        let err = score_error(&got.1[i * d..(i + 1) * d], &want.1[i * d..(i + 1) * d], h);
        assert!(err <= 1e-10, "{}: score error {err:e}", case(i));
    }
}

/// The blocked (matrix-product) exact sums against the direct double loop, to 1e-10, with
/// queries at distance 0 from samples and bandwidths at which every kernel underflows.
#[test]
fn blocked_matches_direct_sums() {
    use ganflow::kde::BlockedSums;
    for &d in &[1usize, 7, 64, 300] {
        let samples = off_centre(d, 70 + d as u64);
        let mut q: Vec<f64> = samples.as_slice()[..50 * d].to_vec(); // distance 0
        q.extend(
            normal(90, d, 80 + d as u64)
                .as_slice()
                .iter()
                .map(|v| 3.0 * v + 5.0),
        );
        let queries = Points::new("q", q, d).unwrap();
        let direct = ExactSums::new(samples.clone());
        let blocked = BlockedSums::new(samples.clone());
        let lw: Vec<f64> = (0..samples.len()).map(|k| (k % 13) as f64 - 6.0).collect();
        for &h in &[0.05, 0.5, 3.0] {
            for weights in [None, Some(&lw[..])] {
                let (la, sa) = evaluate_sums(&direct, &queries, h, weights).unwrap();
                let (lb, sb) = evaluate_sums(&blocked, &queries, h, weights).unwrap();
                let case = |i| format!("d={d} h={h} weighted={} query {i}", weights.is_some());
                assert_sums_match((&la, &sa), (&lb, &sb), d, h, case);
            }
        }
        // With h = 0.05 in d >= 7 the kernels underflow in linear space: the sums still
        // come out finite because they are taken in log space (checked above).
    }
}

/// The blocked sums at their own samples (the particles' density at the particles) take
/// each pair once; against the direct double loop to 1e-10, off-centre data, 700 samples
/// (two whole tiles of 256 and a ragged one), bandwidths at which almost every kernel
/// underflows; and the same bits on 1 and 3 threads.
#[test]
fn blocked_self_sums_match_direct_sums() {
    use ganflow::kde::BlockedSums;
    for &d in &[1usize, 7, 13, 64, 300] {
        let samples = off_centre(d, 170 + d as u64);
        let direct = ExactSums::new(samples.clone());
        let blocked = BlockedSums::new(samples.clone());
        for &h in &[0.05, 0.5, 3.0] {
            let (la, sa) = evaluate_sums(&direct, &samples, h, None).unwrap();
            let (lb, sb) = evaluate_sums(&blocked, &samples, h, None).unwrap();
            assert_sums_match((&la, &sa), (&lb, &sb), d, h, |i| {
                format!("d={d} h={h} point {i}")
            });
            let on = |threads: usize| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| evaluate_sums(&blocked, &samples, h, None).unwrap())
            };
            let (one, three) = (on(1), on(3));
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&one.0), bits(&three.0), "d={d} h={h}: log-sums");
            assert_eq!(bits(&one.1), bits(&three.1), "d={d} h={h}: scores");
        }
    }
}

/// The log-density alone (`kde_log_density`, which skips the products that form the
/// scores) is the same bits as `kde`'s: at the samples themselves (the pair-once path, with
/// a ragged tile), at other queries (a ragged query tile), and for every estimator, in 1, 13
/// and 64 dimensions.
#[test]
fn log_density_alone_is_the_same_bits() {
    use ganflow::kde::kde_log_density;
    for &d in &[1usize, 13, 64] {
        let samples = off_centre(d, 370 + d as u64);
        let queries = normal(150, d, 380 + d as u64);
        for estimator in [
            Estimator::Exact,
            Estimator::KdTree { tol: 1e-6 },
            Estimator::Grid { tol: 1e-6 },
        ] {
            let sums = estimator.build(samples.clone()).unwrap();
            for at in [&samples, &queries] {
                for h in [0.5, 3.0] {
                    let full = kde(sums.as_ref(), at, h).unwrap().log_density;
                    let alone = kde_log_density(sums.as_ref(), at, h).unwrap();
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&full),
                        bits(&alone),
                        "d={d} {estimator:?} h={h} at {} points",
                        at.len()
                    );
                }
            }
        }
    }
}

/// The data's sums in chunks, combined in chunk order by a log-sum-exp, against the direct
/// double loop over all samples to 1e-10: 1, 3 and 7 chunks (one of 100 samples each), with
/// and without weights (spanning e^-6..e^6, and some samples weighted 0).
#[test]
fn chunked_sums_match_direct_sums() {
    use ganflow::kde::distributed::ChunkedSums;
    for &d in &[1usize, 13, 64] {
        let samples = off_centre(d, 270 + d as u64);
        let queries = Points::new(
            "q",
            normal(90, d, 280 + d as u64)
                .as_slice()
                .iter()
                .map(|v| 3.0 * v + 5.0)
                .collect(),
            d,
        )
        .unwrap();
        let direct = ExactSums::new(samples.clone());
        let lw: Vec<f64> = (0..samples.len())
            .map(|k| {
                if k % 17 == 0 {
                    f64::NEG_INFINITY
                } else {
                    (k % 13) as f64 - 6.0
                }
            })
            .collect();
        for k in [1usize, 3, 7] {
            let chunked =
                ChunkedSums::new(samples.clone(), k, |part| Estimator::Exact.build(part)).unwrap();
            assert_eq!(chunked.chunks(), k);
            for &h in &[0.5, 3.0] {
                for weights in [None, Some(&lw[..])] {
                    let (la, sa) = evaluate_sums(&direct, &queries, h, weights).unwrap();
                    let (lb, sb) = evaluate_sums(&chunked, &queries, h, weights).unwrap();
                    let case =
                        |i| format!("d={d} k={k} h={h} weighted={} query {i}", weights.is_some());
                    assert_sums_match((&la, &sa), (&lb, &sb), d, h, case);
                }
            }
        }
    }
}

/// The vectorisable exponential used by the exact sums agrees with `f64::exp` to a few ulp
/// on its whole range, and flushes arguments below -708 to 0.
#[test]
fn fast_exp_matches_std() {
    let mut xs: Vec<f64> = (0..200_001)
        .map(|i| -708.0 * i as f64 / 200_000.0)
        .collect();
    xs.extend([
        -0.0,
        -1e-300,
        -1e-17,
        -0.5 * std::f64::consts::LN_2,
        -709.0,
        -1e4,
        f64::NEG_INFINITY,
    ]);
    let expect: Vec<f64> = xs
        .iter()
        .map(|x| if *x < -708.0 { 0.0 } else { x.exp() })
        .collect();
    // With a shift, and the sum (taken in interleaved lanes) against a plain one.
    let shifted: Vec<f64> = xs.iter().map(|x| x + 3.5).collect();
    let mut got = shifted.clone();
    let sum = ganflow::kde::exp_shifted_sum(&mut got, 3.5);
    let plain: f64 = got.iter().sum();
    // Both sums round 2e5 terms: they agree to n eps.
    assert!((sum - plain).abs() <= 1e-12 * plain, "{sum} vs {plain}");
    for ((x, g), e) in xs.iter().zip(&got).zip(&expect) {
        // x + 3.5 - 3.5 differs from x by up to eps |x|, so exp by that relative amount.
        if *e == 0.0 {
            assert_eq!(*g, 0.0, "exp({x} + 3.5 - 3.5)");
            continue;
        }
        let tol = (1e-15 + 2.3e-16 * x.abs()) * e;
        assert!((g - e).abs() <= tol, "exp({x} + 3.5 - 3.5): {g} vs {e}");
    }
    let mut got = xs.clone();
    ganflow::kde::exp_shifted_sum(&mut got, 0.0);
    for ((x, g), e) in xs.iter().zip(&got).zip(&expect) {
        if *e == 0.0 {
            assert_eq!(*g, 0.0, "exp({x})");
        } else {
            assert!(((g - e) / e).abs() < 1e-15, "exp({x}): {g} vs {e}");
        }
    }
}

/// The tree's work counter in 4 to 12 dimensions is the number of samples inside each
/// query's cut radius, counted here directly: the nearest distance by brute force, the
/// radius from `cut_radius2`. (Up to 3-D it is the far-field tree's, tested with it.)
#[test]
fn samples_touched_counts_the_cut_radius() {
    use ganflow::kde::dist2;
    use ganflow::kde::kdtree::{cut_radius2, samples_touched};
    let samples = common::normal(500, 4, 31);
    let queries = common::normal(60, 4, 32);
    let (h, tol) = (0.3, 1e-6);
    let touched = samples_touched(&samples, &queries, h, tol).unwrap();
    let log_ratio = (samples.len() as f64).ln() - f64::ln(tol);
    for (i, q) in queries.rows().enumerate() {
        let d2: Vec<f64> = samples.rows().map(|y| dist2(q, y)).collect();
        let nearest = d2.iter().copied().fold(f64::INFINITY, f64::min);
        let r2 = cut_radius2(nearest, h * h, log_ratio);
        let inside = d2.iter().filter(|&&v| v <= r2).count();
        assert_eq!(touched[i], inside, "query {i}");
    }
}
