//! The far-field tree against the direct sums (the estimator suite's bounds), on tails of
//! thin targets, point masses and weights over many decades; and its work per query.

#![allow(clippy::disallowed_methods)] // an independent oracle may use the C library

mod common;

use common::score_error;
use ganflow::Points;
use ganflow::kde::farfield::FarFieldSums;
use ganflow::kde::{Estimator, ExactSums, KernelSums, evaluate_sums};

/// A thin ring: radius 2, width `width`, `m` samples, in 2-D.
fn ring(m: usize, width: f64, seed: u64) -> Points {
    let z = common::normal(m, 2, seed);
    let coords = z
        .rows()
        .enumerate()
        .flat_map(|(k, r)| {
            let a = std::f64::consts::TAU * (k as f64 + 0.5) / m as f64;
            [2.0 * a.cos() + width * r[0], 2.0 * a.sin() + width * r[1]]
        })
        .collect();
    Points::new("ring", coords, 2).unwrap()
}

/// The ring in the plane `x2 = 0` of 3-D, as thin across it as within it.
fn ring_3d(m: usize, width: f64, seed: u64) -> Points {
    let flat = ring(m, width, seed);
    let across = common::normal(m, 1, seed + 1);
    let coords = flat
        .rows()
        .zip(across.rows())
        .flat_map(|(r, z)| [r[0], r[1], width * z[0]])
        .collect();
    Points::new("ring", coords, 3).unwrap()
}

/// Checks the guarantee at every query, for the far-field tree and for the grid: the
/// density's relative error within `tol` (so its log within -ln(1 - tol)) and the score's
/// within `tol (|s| + 1/h)`.
fn check(samples: &Points, queries: &Points, h: f64, tol: f64, lw: Option<&[f64]>) {
    let far = FarFieldSums::new(samples.clone(), tol).unwrap();
    check_sums(&far, samples, queries, h, tol, lw);
    // The grid, whose uncertified queries go to the far-field tree.
    let grid = Estimator::Grid { tol }.build(samples.clone()).unwrap();
    check_sums(grid.as_ref(), samples, queries, h, tol, lw);
}

fn check_sums(
    sums: &dyn KernelSums,
    samples: &Points,
    queries: &Points,
    h: f64,
    tol: f64,
    lw: Option<&[f64]>,
) {
    let (ls, sh) = evaluate_sums(sums, queries, h, lw).unwrap();
    let (le, se) = evaluate_sums(&ExactSums::new(samples.clone()), queries, h, lw).unwrap();
    let d = queries.dim();
    for i in 0..queries.len() {
        let dens = (ls[i] - le[i]).abs();
        assert!(
            dens <= -(-tol).ln_1p(),
            "{}, query {i}: log error {dens} (tol {tol})",
            sums.name()
        );
        let (a, b) = (&sh[i * d..(i + 1) * d], &se[i * d..(i + 1) * d]);
        let rel = score_error(a, b, h);
        assert!(
            rel <= tol,
            "{}, query {i}: score error {rel} (tol {tol})",
            sums.name()
        );
    }
}

#[test]
fn meets_the_bound_on_gaussians_and_the_tails_of_a_ring() {
    let samples = common::normal(3000, 2, 1);
    let queries = common::normal(400, 2, 2);
    for tol in [1e-8, 1e-2] {
        check(&samples, &queries, 0.3, tol, None);
    }
    // Queries out to 8 from a ring of radius 2 and width 0.02.
    let r = ring(5000, 0.02, 3);
    let q = common::normal(400, 2, 4);
    let far: Vec<f64> = q.as_slice().iter().map(|v| 3.0 * v).collect();
    let far = Points::new("queries", far, 2).unwrap();
    for tol in [1e-8, 1e-2] {
        for h in [0.05, 0.3] {
            check(&r, &far, h, tol, None);
        }
    }
}

#[test]
fn meets_the_bound_with_weights_over_twelve_decades() {
    let r = ring(4000, 0.02, 5);
    let lw: Vec<f64> = (0..4000)
        .map(|k| -27.6 * ((k * 7919) % 4000) as f64 / 4000.0)
        .collect();
    let q = common::normal(300, 2, 6);
    for tol in [1e-8, 1e-2] {
        check(&r, &q, 0.2, tol, Some(&lw));
    }
}

#[test]
fn meets_the_bound_at_point_masses() {
    // 2-D: four masses at distance 6, each 500 copies of one point.
    let masses: Vec<f64> = (0..2000)
        .flat_map(|k| {
            let a = std::f64::consts::FRAC_PI_2 * (k % 4) as f64;
            [6.0 * a.cos(), 6.0 * a.sin()]
        })
        .collect();
    let masses = Points::new("masses", masses, 2).unwrap();
    let q = common::normal(300, 2, 7);
    for tol in [1e-8, 1e-2] {
        check(&masses, &q, 0.5, tol, None);
    }
    // 1-D: two masses.
    let masses = Points::new(
        "masses",
        (0..1000)
            .map(|k| if k % 2 == 0 { -3.0 } else { 4.0 })
            .collect(),
        1,
    )
    .unwrap();
    let q = common::normal(300, 1, 8);
    for tol in [1e-8, 1e-2] {
        check(&masses, &q, 0.4, tol, None);
    }
}

/// In three dimensions: a thin ring's tails out to 8, a Gaussian, and weights over 12
/// decades, at both tolerances.
#[test]
fn meets_the_bound_in_three_dimensions() {
    let r = ring_3d(3000, 0.02, 21);
    let q: Vec<f64> = common::normal(300, 3, 22)
        .as_slice()
        .iter()
        .map(|v| 3.0 * v)
        .collect();
    let q = Points::new("queries", q, 3).unwrap();
    let lw: Vec<f64> = (0..3000)
        .map(|k| ((k * 7919) % 97) as f64 / 97.0 * 28.0 - 14.0)
        .collect();
    let g = common::normal(3000, 3, 23);
    for tol in [1e-8, 1e-2] {
        for h in [0.05, 0.3] {
            check(&r, &q, h, tol, None);
            check(&r, &q, h, tol, Some(&lw));
        }
        check(&g, &q, 0.4, tol, None);
    }
}

/// Queries at least 5h = 1.5 from the ring (radius 2, width 0.02) for h = 0.3: inside,
/// within 0.45 of its axis, and outside, beyond 3.55; in 3-D also off its plane, by up
/// to 1.
fn tail_queries(d: usize) -> Points {
    let coords = (0..200)
        .flat_map(|k| {
            let a = 0.61 * k as f64;
            let (r, z) = if k % 2 == 0 {
                (0.45 * (k as f64 / 200.0), 1.0 - k as f64 / 100.0)
            } else {
                (3.55 + 2.0 * (k as f64 / 200.0), 0.5)
            };
            [r * a.cos(), r * a.sin(), z].into_iter().take(d)
        })
        .collect();
    Points::new("queries", coords, d).unwrap()
}

/// The largest work per query (samples summed directly plus nodes expanded) over the tail
/// queries, for rings of M = 10^4 and 10^5 samples in `d` dimensions, at tol 1e-6.
fn worst_tail_work(d: usize) -> [usize; 2] {
    [10_000, 100_000].map(|m| {
        let samples = if d == 2 {
            ring(m, 0.02, 10)
        } else {
            ring_3d(m, 0.02, 30)
        };
        let far = FarFieldSums::new(samples, 1e-6).unwrap();
        *far.work(&tail_queries(d), 0.3).iter().max().unwrap()
    })
}

/// In the plane the work per tail query does not grow with the ring's size.
#[test]
fn work_in_the_tail_does_not_grow_with_the_samples() {
    let worst = worst_tail_work(2);
    eprintln!("worst work per query: {worst:?}");
    // Measured: 69 at M = 10^4 and 81 at 10^5; the constant asserted is 200.
    assert!(worst.iter().all(|&w| w < 200), "{worst:?}");
}

/// In three dimensions it grows far slower than M: measured 2011 at M = 10^4 and 2923 at
/// 10^5 (the degree is 12 there, so the nodes used must be smaller than in the plane). The
/// cut-radius tree sums half the ring: 10 times more at 10 times M.
#[test]
fn work_in_a_three_dimensional_tail_grows_far_slower_than_the_samples() {
    let worst = worst_tail_work(3);
    eprintln!("worst work per query in 3-D: {worst:?}");
    assert!(worst[1] < 5_000, "{worst:?}");
    assert!(worst[1] < 2 * worst[0], "{worst:?}");
}

/// Each query is summed in a fixed order: the same bits on one thread and on two, with
/// weights.
#[test]
fn the_same_bits_at_any_thread_count() {
    let r = ring(6000, 0.02, 11);
    let lw: Vec<f64> = (0..6000).map(|k| -((k % 13) as f64)).collect();
    let q = common::normal(500, 2, 12);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let far = FarFieldSums::new(r.clone(), 1e-6).unwrap();
                evaluate_sums(&far, &q, 0.2, Some(&lw)).unwrap()
            })
    };
    let (a, b) = (run(1), run(2));
    assert!(
        a.0.iter()
            .zip(&b.0)
            .all(|(x, y)| x.to_bits() == y.to_bits())
    );
    assert!(
        a.1.iter()
            .zip(&b.1)
            .all(|(x, y)| x.to_bits() == y.to_bits())
    );
}

/// Above three dimensions the tree is refused with an error, not a panic.
#[test]
fn four_dimensions_are_refused() {
    let e = FarFieldSums::new(common::normal(10, 4, 13), 1e-6)
        .err()
        .unwrap();
    assert!(e.to_string().contains("far-field tree dimension"), "{e}");
}
