//! The linearised flow's continuum spectrum against closed forms and an independent solver.

#![allow(clippy::disallowed_methods)] // an independent oracle may use the C library

mod common;

use common::{ganflow, shifted_equilibrium_start};
use ganflow::datasets::IsotropicMixture;
use ganflow::spectrum::continuum2d::continuum_2d;
use ganflow::spectrum::{ContinuumTarget, Spectrum, continuum_1d};
use ganflow::{Loss, Points};

fn gaussian_target(centres: &[f64], s: f64) -> ContinuumTarget {
    ContinuumTarget::Closed(IsotropicMixture {
        centers: Points::new("centres", centres.to_vec(), 1).unwrap(),
        std: s,
    })
}

/// `|<a, b>| / (|a| |b|)`.
fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    (dot / (na * nb)).abs()
}

/// Without smoothing the operator is `-w L` with `L u = -(1/p)(p u')'`, `u = eps / p`: for
/// N(0, 1) the Ornstein-Uhlenbeck generator, eigenvalues 1, 2, 3, ...
#[test]
fn weighted_laplacian_of_the_standard_normal() {
    let s = continuum_1d(&gaussian_target(&[0.0], 1.0), 0.0, 1.0, 800, 4).unwrap();
    let rates: Vec<f64> = s.modes.iter().map(|m| m.rate).collect();
    for (k, r) in rates.iter().take(3).enumerate() {
        assert!((r - (k + 1) as f64).abs() < 1e-3, "{rates:?}");
    }
    assert!(s.modes.iter().all(|m| m.frequency == 0.0));
}

/// A Gaussian target N(0, s²) in closed form, particle bandwidth 0.3: rho_0 = N(0, v),
/// v = s² - h². The translation mode `rho_0'` decays at `w(1/2) / s²`, the dilation mode
/// `d rho_0 / dv` at `2 w(1/2) v / s⁴` (docs/spectrum.md); both are among the 4 slowest,
/// each found by its eigenvector, for every loss.
#[test]
fn gaussian_translation_and_dilation_rates() {
    let h = 0.3;
    for s_ in [1.0f64, 2.0] {
        for loss in [
            Loss::Minimax,
            Loss::NonSaturating,
            Loss::LeastSquares,
            Loss::Kl,
        ] {
            let w = loss.weight(0.5);
            let sp = continuum_1d(&gaussian_target(&[0.0], s_), h, w, 400, 4).unwrap();
            let v = s_ * s_ - h * h;
            let rho0 = |x: f64| (-0.5 * x * x / v).exp();
            let translation: Vec<f64> = sp.grid.iter().map(|&x| -x / v * rho0(x)).collect();
            let dilation: Vec<f64> = sp
                .grid
                .iter()
                .map(|&x| (x * x - v) / (2.0 * v * v) * rho0(x))
                .collect();
            for (name, shape, rate) in [
                ("translation", &translation, w / (s_ * s_)),
                ("dilation", &dilation, 2.0 * w * v / s_.powi(4)),
            ] {
                let found = sp
                    .modes
                    .iter()
                    .find(|m| cosine(&m.vector, shape) > 0.99)
                    .unwrap_or_else(|| {
                        panic!("s {s_}, {loss:?}: no {name} mode in {:?}", rates(&sp))
                    });
                assert!(
                    (found.rate / rate - 1.0).abs() < 0.02,
                    "s {s_}, {loss:?}, {name}: {} against {rate}",
                    found.rate
                );
            }
        }
    }
}

fn rates(s: &Spectrum) -> Vec<f64> {
    s.modes.iter().map(|m| m.rate).collect()
}

/// The second-smallest eigenvalue of `L u = -(1/p)(p u')'` for an equal mixture of two
/// N(±c, s²), by an independent route: the symmetric (Liouville) finite-volume form on a
/// fine grid, and bisection on its Sturm sequence.
fn lambda_1_weighted_laplacian(c: f64, s: f64) -> f64 {
    let (lo, hi, n) = (-c - 6.0 * s, c + 6.0 * s, 6000usize);
    let dx = (hi - lo) / n as f64;
    let p = |x: f64| {
        (-0.5 * (x - c) * (x - c) / (s * s)).exp() + (-0.5 * (x + c) * (x + c) / (s * s)).exp()
    };
    let pc: Vec<f64> = (0..n).map(|i| p(lo + (i as f64 + 0.5) * dx)).collect();
    let pf: Vec<f64> = (0..n - 1).map(|i| p(lo + (i + 1) as f64 * dx)).collect();
    let diag: Vec<f64> = (0..n)
        .map(|i| {
            let l = if i > 0 { pf[i - 1] } else { 0.0 };
            let r = if i + 1 < n { pf[i] } else { 0.0 };
            (l + r) / (dx * dx * pc[i])
        })
        .collect();
    let off: Vec<f64> = (0..n - 1)
        .map(|i| -pf[i] / (dx * dx * (pc[i] * pc[i + 1]).sqrt()))
        .collect();
    // Number of eigenvalues below x (Sturm sequence of the tridiagonal matrix).
    let below = |x: f64| {
        let mut count = 0;
        let mut q = diag[0] - x;
        if q < 0.0 {
            count += 1;
        }
        for i in 1..n {
            let q_prev = if q == 0.0 { 1e-300 } else { q };
            q = diag[i] - x - off[i - 1] * off[i - 1] / q_prev;
            if q < 0.0 {
                count += 1;
            }
        }
        count
    };
    let (mut a, mut b) = (1e-12, 10.0);
    for _ in 0..200 {
        let m = 0.5 * (a + b);
        if below(m) >= 2 {
            b = m;
        } else {
            a = m;
        }
    }
    0.5 * (a + b)
}

/// Two modes: the slowest mode moves mass from one to the other (its eigenvector changes
/// sign between them), at `w(1/2) lambda_1` of the weighted Laplacian when the smoothing is
/// small (h_g = 0.03 against s = 0.5), and it slows down steeply as the modes separate.
/// Measured: 0.23749, 0.02834, 0.00121 against 0.23813, 0.02863, 0.00124 at separations 2, 3
/// and 4 (0.3 %, 1.0 %, 2.4 % off).
#[test]
fn two_modes_exchange_mass_at_the_weighted_laplacians_first_rate() {
    let s = 0.5;
    let mut last = f64::INFINITY;
    for sep in [2.0, 3.0, 4.0] {
        let c = sep / 2.0;
        let w = Loss::Minimax.weight(0.5);
        let sp = continuum_1d(&gaussian_target(&[-c, c], s), 0.03, w, 800, 3).unwrap();
        let slow = &sp.modes[0];
        let side = |left: bool| -> f64 {
            slow.vector
                .iter()
                .zip(&sp.grid)
                .filter(|(_, x)| (**x < 0.0) == left)
                .map(|(e, _)| *e)
                .sum()
        };
        let (l, r) = (side(true), side(false));
        assert!(
            l * r < 0.0 && (l + r).abs() < 1e-3 * (l.abs() + r.abs()),
            "{l} {r}"
        );
        let lambda_1 = lambda_1_weighted_laplacian(c, s);
        assert!(
            (slow.rate / (w * lambda_1) - 1.0).abs() < 0.05,
            "separation {sep}: {} against {}",
            slow.rate,
            w * lambda_1
        );
        // The next mode is each mode's own translation, at about w(1/2) / s², and mass moves
        // between the modes at least 5x more slowly (measured 8.8x, 80x, 1700x).
        let own = w / (s * s);
        assert!(
            (sp.modes[1].rate / own - 1.0).abs() < 0.1,
            "{:?}",
            rates(&sp)
        );
        assert!(sp.modes[1].rate > 5.0 * slow.rate, "{:?}", rates(&sp));
        assert!(slow.rate < last / 5.0 || last.is_infinite());
        last = slow.rate;
    }
}

/// The stable steps follow from the fastest rate: Euler's `2 / rate_max` for real
/// eigenvalues, and Heun's is at least as large.
#[test]
fn stable_steps_follow_the_fastest_rate() {
    let sp = continuum_1d(&gaussian_target(&[0.0], 2.0), 0.3, 1.0, 400, 4).unwrap();
    assert!(sp.fastest_rate > 1.0);
    assert!(sp.stable_dt_euler <= 2.0 / sp.fastest_rate * (1.0 + 1e-9));
    assert!(sp.stable_dt_euler > 0.0 && sp.stable_dt_heun >= sp.stable_dt_euler * (1.0 - 1e-9));
}

/// `ganflow spectrum` from the command line: the CSV, the displacement fields, the summary,
/// and the options it refuses.
#[test]
fn spectrum_command() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| ganflow(dir.path(), args);
    let o = run(&[
        "spectrum",
        "--target",
        "gaussian",
        "--dim",
        "1",
        "--mean",
        "0",
        "--std",
        "1",
        "--data-density",
        "exact",
        "--bandwidth-g",
        "0.3",
        "--loss",
        "kl",
        "--modes",
        "4",
        "--out",
        "s.csv",
        "--vectors",
        "v.csv",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("stable dt"), "{stdout}");
    let csv = std::fs::read_to_string(dir.path().join("s.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("k,rate,frequency,resolution"));
    let rates: Vec<f64> = lines
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(rates.len(), 4);
    assert!(rates.windows(2).all(|w| w[0] <= w[1]), "{rates:?}");
    assert!(
        (rates[0] - 1.0).abs() < 0.02 && (rates[1] - 1.82).abs() < 0.04,
        "{rates:?}"
    );
    // The slowest mode, translation, is a constant displacement in the bulk.
    let v = std::fs::read_to_string(dir.path().join("v.csv")).unwrap();
    let bulk: Vec<f64> = v
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .map(|c| c.parse::<f64>().unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|r| r[0] == 1.0 && r[2].abs() < 2.0)
        .map(|r| r[3])
        .collect();
    let (lo, hi) = bulk
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
    assert!(
        !bulk.is_empty() && (hi - lo) < 1e-3 * hi.abs().max(lo.abs()),
        "{lo} {hi}"
    );
    // Options of the dynamics, 3-D data and a bandwidth on the particles are refused.
    for (args, message) in [
        (
            vec!["spectrum", "--steps", "3"],
            "--steps: not an option of spectrum",
        ),
        (
            vec!["spectrum", "--target", "gaussian", "--dim", "3"],
            "computed in 1-D and 2-D; the data has 3 columns",
        ),
        (
            vec![
                "spectrum",
                "--target",
                "gaussian",
                "--dim",
                "1",
                "--bandwidth",
                "scott:particles",
            ],
            "not defined at equilibrium",
        ),
    ] {
        let o = run(&args);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

/// `run --metrics spectrum`: the summary sets the measured decay rate beside the predicted
/// slowest rate (KL on N(0, 1), h_g 0.3: 1.0036 against 1.0000 measured here); a target the
/// continuum spectrum does not cover is refused before any folder is made.
#[test]
fn run_summary_compares_with_the_spectrum() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| ganflow(dir.path(), args);
    shifted_equilibrium_start(dir.path());
    let o = run(&[
        "run",
        "--target",
        "gaussian",
        "--dim",
        "1",
        "--mean",
        "0",
        "--std",
        "1",
        "--data-density",
        "exact",
        "--bandwidth-g",
        "0.3",
        "--init",
        "init.csv",
        "--loss",
        "kl",
        "--time",
        "8",
        "--dt",
        "0.02",
        "--every",
        "10",
        "--metrics",
        "spectrum",
        "--out",
        "a",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("spectrum: slowest rate "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let number = |after: &str| -> f64 {
        let rest = &line[line.find(after).unwrap() + after.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    let (predicted, measured) = (number("slowest rate "), number("decay rate "));
    assert!((predicted - 1.0).abs() < 1e-3, "{line}");
    assert!((measured / predicted - 1.0).abs() < 0.05, "{line}");
    // metrics.csv has no spectrum column: it is a summary, not a metric per row.
    let header = std::fs::read_to_string(dir.path().join("a/metrics.csv")).unwrap();
    assert!(!header.lines().next().unwrap().contains("spectrum"));
    let o = run(&[
        "run",
        "--target",
        "gaussian",
        "--dim",
        "3",
        "--metrics",
        "spectrum",
        "--out",
        "b",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("computed in 1-D and 2-D"));
    assert!(!dir.path().join("b").exists());
}

/// The 2-D grid on N(0, I) in closed form (h_g 0.3, KL): the rates depend on the total
/// degree only, `n (1 - h²)^(n-1)`, with multiplicity `n + 1`: 1 twice (the translations,
/// whose span holds both `d rho_0 / d x_a`), then 1.82 three times. Measured on 60² cells:
/// 1.00022 twice, 1.8227, 1.8227, 1.8278.
#[test]
fn gaussian_rates_on_the_2d_grid() {
    let target = ContinuumTarget::Closed(IsotropicMixture {
        centers: Points::new("centre", vec![0.0, 0.0], 2).unwrap(),
        std: 1.0,
    });
    let sp = continuum_2d(&target, 0.3, 1.0, 60, 5).unwrap();
    let rates: Vec<f64> = sp.modes.iter().map(|m| m.rate).collect();
    assert_eq!(rates.len(), 5);
    for (k, expected) in [1.0, 1.0, 1.82, 1.82, 1.82].into_iter().enumerate() {
        assert!(
            (rates[k] - expected).abs() < 0.01 * expected,
            "{k}: {rates:?}"
        );
    }
    // The translations' span: both derivatives of rho_0 = N(0, 0.91 I) lie in it.
    let v = 1.0 - 0.09;
    let (a, b) = (&sp.modes[0].vector, &sp.modes[1].vector);
    assert!(cosine(a, b) < 1e-6, "the two are orthogonal");
    for axis in 0..2 {
        let shape: Vec<f64> = sp
            .centres
            .rows()
            .map(|x| -x[axis] / v * (-(x[0] * x[0] + x[1] * x[1]) / (2.0 * v)).exp())
            .collect();
        let norm = shape.iter().map(|s| s * s).sum::<f64>().sqrt();
        let pa: f64 = a.iter().zip(&shape).map(|(p, q)| p * q).sum::<f64>() / norm;
        let pb: f64 = b.iter().zip(&shape).map(|(p, q)| p * q).sum::<f64>() / norm;
        assert!(pa * pa + pb * pb > 0.99 * 0.99, "axis {axis}: {pa} {pb}");
    }
    // Translations move every cell alike where the mass is.
    let peak = sp.rho0.iter().copied().fold(0.0, f64::max);
    for (dx, m) in sp.displacements.iter().zip(&sp.modes).take(2) {
        let bulk: Vec<(f64, f64)> = sp
            .rho0
            .iter()
            .enumerate()
            .filter(|(_, r)| **r > 0.1 * peak)
            .map(|(k, _)| (dx[2 * k], dx[2 * k + 1]))
            .collect();
        let mean = bulk.iter().fold((0.0, 0.0), |s, p| (s.0 + p.0, s.1 + p.1));
        let mean = (mean.0 / bulk.len() as f64, mean.1 / bulk.len() as f64);
        let spread = bulk
            .iter()
            .map(|p| (p.0 - mean.0).powi(2) + (p.1 - mean.1).powi(2))
            .fold(0.0, f64::max)
            .sqrt();
        let size = (mean.0 * mean.0 + mean.1 * mean.1).sqrt();
        assert!(spread < 0.02 * size, "rate {}: {spread} vs {size}", m.rate);
    }
}

/// Separability: two 1-D modes placed along x in 2-D, `p = p_1(x) N(y; 0, s²)`, have the 1-D
/// mixture's slowest rate (the y-direction's own rates are far faster). Separation 3,
/// standard deviation 0.5, h_g 0.15, minimax.
#[test]
fn metastable_rate_on_the_2d_grid_is_the_1d_one() {
    let (s, h) = (0.5, 0.15);
    let one = continuum_1d(&gaussian_target(&[-1.5, 1.5], s), h, 0.5, 400, 2).unwrap();
    let target = ContinuumTarget::Closed(IsotropicMixture {
        centers: Points::new("centres", vec![-1.5, 0.0, 1.5, 0.0], 2).unwrap(),
        std: s,
    });
    let two = continuum_2d(&target, h, 0.5, 80, 2).unwrap();
    let (r1, r2) = (one.modes[0].rate, two.modes[0].rate);
    eprintln!(
        "{r1} {r2} {:?}",
        two.modes.iter().map(|m| m.rate).collect::<Vec<_>>()
    );
    assert!((r2 - r1).abs() < 0.03 * r1, "{r2} vs {r1}");
    // Mass moves from one cluster to the other: opposite signs at the two centres.
    let at = |x: f64| {
        let k = two
            .centres
            .rows()
            .enumerate()
            .min_by(|p, q| {
                let d = |r: &[f64]| (r[0] - x).powi(2) + r[1] * r[1];
                d(p.1).total_cmp(&d(q.1))
            })
            .unwrap()
            .0;
        two.modes[0].vector[k]
    };
    assert!(at(-1.5) * at(1.5) < 0.0);
}

/// `ganflow spectrum` on a 2-D target: the grid's modes, their fields at the cell centres
/// and the arrows drawn where the equilibrium has mass.
#[test]
fn spectrum_command_in_2d() {
    let dir = tempfile::tempdir().unwrap();
    let o = ganflow(
        dir.path(),
        &[
            "spectrum",
            "--target",
            "gaussian",
            "--dim",
            "2",
            "--mean",
            "0",
            "--data-density",
            "exact",
            "--bandwidth-g",
            "0.3",
            "--loss",
            "kl",
            "--grid-points",
            "40",
            "--modes",
            "2",
            "--out",
            "s.csv",
            "--vectors",
            "v.csv",
            "--arrows",
            "a.png",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("on 40 x 40 cells"));
    let rates: Vec<f64> = std::fs::read_to_string(dir.path().join("s.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(rates.len(), 2);
    assert!(rates.iter().all(|r| (r - 1.0).abs() < 0.02), "{rates:?}");
    let v = std::fs::read_to_string(dir.path().join("v.csv")).unwrap();
    let mut lines = v.lines();
    assert_eq!(lines.next(), Some("mode,id,x0,x1,dx0,dx1,eps"));
    assert_eq!(lines.count(), 2 * 40 * 40);
    let img = image::open(dir.path().join("a.png")).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (2 * 420, 420));
    let blue = img
        .pixels()
        .filter(|p| p.0[2] as i32 > p.0[0] as i32 + 60 && p.0[2] as i32 > p.0[1] as i32 + 60)
        .count();
    assert!(blue > 1000, "{blue} blue pixels");
}
