//! The particle spectrum (Krylov on Jacobian-vector products) against the dense
//! finite-difference Jacobian, the variational scheme's symmetry, and the continuum.

#![allow(clippy::disallowed_methods)] // the oracles may use the C library

mod common;

use common::{ganflow, normal};
use ganflow::datasets::IsotropicMixture;
use ganflow::kde::Estimator;
use ganflow::spectrum::continuum::complex_eigenvector;
use ganflow::spectrum::particle::{Jacobian, MIN_RESOLUTION, particle_spectrum, resolution};
use ganflow::spectrum::{ContinuumTarget, continuum_1d};
use ganflow::{BandwidthSpec, FlowConfig, Loss, Points, Scheme, Simulation};
use nalgebra::DMatrix;

const H: f64 = 0.3;

/// `n` quantile points of N(0, s²).
fn quantiles(n: usize, s: f64) -> Points {
    common::quantiles(n, 0.0, s)
}

fn config(scheme: Scheme, loss: Loss) -> FlowConfig {
    FlowConfig {
        scheme,
        loss,
        bandwidth_g: BandwidthSpec::fixed(H),
        bandwidth_q: BandwidthSpec::fixed(H),
        estimator: Estimator::Exact,
        ..FlowConfig::default()
    }
}

/// The plug-in flow towards the closed-form N(0, 1) at `x` (h_g = 0.3).
fn closed_form_gaussian(x: Points, loss: Loss) -> Simulation {
    let data = quantiles(500, 1.0);
    let mix = IsotropicMixture {
        centers: Points::new("centre", vec![0.0], 1).unwrap(),
        std: 1.0,
    };
    Simulation::with_exact_density(config(Scheme::PlugIn, loss), x, data, mix).unwrap()
}

/// Eigenvalues and (real parts of) eigenvectors of a dense matrix, one of each complex
/// pair, by ascending rate `-Re(lambda)`.
fn dense_modes(j: &DMatrix<f64>) -> Vec<(f64, f64, Vec<f64>)> {
    let eig = j.clone().complex_eigenvalues();
    let scale = eig.iter().map(|l| l.norm()).fold(0.0, f64::max);
    let mut out: Vec<(f64, f64, Vec<f64>)> = eig
        .iter()
        .filter(|l| l.im >= 0.0)
        .map(|l| {
            let v = complex_eigenvector(j, *l, scale);
            (-l.re, l.im, v.iter().map(|c| c.re).collect())
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// At N = 200 the Krylov search finds the dense Jacobian's slowest resolved modes. Measured:
/// 0.495532, 0.896207, 1.280381 (dense), the search's within 1.1e-5 relative with 40
/// products; the bound 1e-3 leaves a factor 90. The dense spectrum also shows why the
/// resolution filter is needed: most of its 200 eigenvalues are within 0.01 of 0.
#[test]
fn krylov_matches_the_dense_jacobian() {
    let x = quantiles(200, (1.0 - H * H).sqrt());
    let sim = closed_form_gaussian(x.clone(), Loss::Minimax);
    let v = |p: &Points| sim.velocity_of(p);
    let dense = Jacobian::new(&v, &x, H).dense().unwrap();
    let modes = dense_modes(&dense);
    let near_null = modes.iter().filter(|m| m.0.abs() < 0.01).count();
    assert!(near_null >= 100, "{near_null} of {}", modes.len());
    let fields: Vec<Vec<f64>> = modes.iter().map(|m| m.2.clone()).collect();
    let res = resolution(&x, H, &fields);
    let resolved: Vec<f64> = modes
        .iter()
        .zip(&res)
        .filter(|(_, r)| **r >= MIN_RESOLUTION)
        .map(|(m, _)| m.0)
        .collect();
    let krylov = particle_spectrum(&v, &x, H, 6, 40).unwrap();
    assert!(krylov.modes.len() >= 3);
    for (k, m) in krylov.modes.iter().take(3).enumerate() {
        let rel = (m.rate - resolved[k]).abs() / resolved[k];
        assert!(
            rel < 1e-3,
            "mode {k}: {} vs {} ({rel:.2e})",
            m.rate,
            resolved[k]
        );
    }
    // Every settled mode is an eigenvalue of the dense matrix.
    let all: Vec<f64> = modes.iter().map(|m| m.0).collect();
    for m in krylov.modes.iter().filter(|m| m.change < 1e-4) {
        let nearest = all
            .iter()
            .map(|r| (r - m.rate).abs())
            .fold(f64::INFINITY, f64::min);
        assert!(
            nearest < 1e-3 * m.rate,
            "{} is {nearest:.2e} from the spectrum",
            m.rate
        );
    }
    // The translation: a uniform displacement.
    let t = &krylov.modes[0].displacement;
    let mean = t.iter().sum::<f64>() / t.len() as f64;
    assert!(mean > 0.98, "{mean}"); // unit root mean square: uniform means mean ≈ 1
}

/// The variational scheme's Jacobian is `-N` times the Hessian of the discrete energy: at
/// its minimum `X = Y` it is symmetric and no mode grows. Measured asymmetry
/// `|J - J'| / |J|` = 2.3e-7 (the central differences' truncation; bound 1e-6); the plug-in
/// Jacobian at the same point, 0.49.
#[test]
fn variational_jacobian_is_symmetric_and_stable_at_its_minimum() {
    let y = quantiles(100, 1.0);
    let sim = Simulation::new(
        config(Scheme::Variational, Loss::Minimax),
        y.clone(),
        y.clone(),
    )
    .unwrap();
    let v = |p: &Points| sim.velocity_of(p);
    let at_rest = v(&y).unwrap();
    assert!(at_rest.iter().all(|a| a.abs() < 1e-12), "X = Y is at rest");
    let j = Jacobian::new(&v, &y, H).dense().unwrap();
    let asym = (&j - j.transpose()).norm() / j.norm();
    assert!(asym < 1e-6, "{asym:.2e}");
    let eig = j.clone().symmetric_eigenvalues();
    let top = eig.iter().map(|l| l.abs()).fold(0.0, f64::max);
    assert!(
        eig.iter().all(|l| *l <= 1e-6 * top),
        "a growing mode: {eig}"
    );
    // The search's rates are real and among the dense ones.
    let krylov = particle_spectrum(&v, &y, H, 4, 40).unwrap();
    assert!(!krylov.modes.is_empty());
    for m in &krylov.modes {
        assert!(m.frequency.abs() <= 1e-6 * m.rate, "{m:?}");
        let nearest = eig
            .iter()
            .map(|l| (-l - m.rate).abs())
            .fold(f64::INFINITY, f64::min);
        assert!(nearest < 1e-3 * m.rate, "{} is {nearest:.2e} off", m.rate);
    }
    // The control: the plug-in Jacobian is far from symmetric.
    let plug =
        Simulation::new(config(Scheme::PlugIn, Loss::Minimax), y.clone(), y.clone()).unwrap();
    let vp = |p: &Points| plug.velocity_of(p);
    let jp = Jacobian::new(&vp, &y, H).dense().unwrap();
    assert!((&jp - jp.transpose()).norm() / jp.norm() > 0.1);
}

/// At an equilibrium of 2000 particles on the 1-D Gaussian (h_g 0.3), the slowest particle
/// rate is the continuum's, the translation's `w(1/2)/s²`. The bar asked for is 10 %;
/// measured 9.4e-5 relative for minimax (0.499958 against 0.500005) and 9.3e-6 for KL, so
/// the test also holds it to 1 %.
#[test]
fn slowest_particle_rate_at_equilibrium_is_the_continuums() {
    for (loss, w_half) in [(Loss::Minimax, 0.5), (Loss::Kl, 1.0)] {
        let mut sim = closed_form_gaussian(quantiles(2000, (1.0 - H * H).sqrt()), loss);
        for _ in 0..100 {
            sim.step().unwrap();
        }
        let x = sim.particles().clone();
        let v = |p: &Points| sim.velocity_of(p);
        let particle = particle_spectrum(&v, &x, H, 3, 0).unwrap();
        let target = ContinuumTarget::Closed(IsotropicMixture {
            centers: Points::new("centre", vec![0.0], 1).unwrap(),
            std: 1.0,
        });
        let continuum = continuum_1d(&target, H, w_half, 400, 3).unwrap();
        let (p, c) = (particle.modes[0].rate, continuum.modes[0].rate);
        assert!((p - c).abs() < 0.1 * c, "{loss:?}: {p} vs {c}");
        assert!((p - c).abs() < 0.01 * c, "{loss:?}: {p} vs {c}");
    }
}

/// In 2-D the two slowest modes at an equilibrium of 1000 particles are the translations
/// (uniform displacements), the next three mostly linear fields (dilations and shears).
#[test]
fn slowest_modes_in_2d_are_translations_then_linear_fields() {
    let data = normal(1000, 2, 1);
    let mut config = config(Scheme::PlugIn, Loss::Minimax);
    config.bandwidth_g = BandwidthSpec::fixed(0.35);
    config.bandwidth_q = BandwidthSpec::fixed(0.35);
    config.dt = 0.05;
    let mut sim = Simulation::new(config, normal(1000, 2, 2), data).unwrap();
    for _ in 0..300 {
        sim.step().unwrap();
    }
    let x = sim.particles().clone();
    let v = |p: &Points| sim.velocity_of(p);
    let s = particle_spectrum(&v, &x, 0.35, 5, 0).unwrap();
    assert_eq!(s.modes.len(), 5);
    // Share of a field's squared norm explained by a constant, and by an affine map.
    let explained = |u: &[f64], affine: bool| -> f64 {
        let n = x.len();
        let cols = if affine { 3 } else { 1 };
        let mut total = 0.0;
        let mut left = 0.0;
        for a in 0..2 {
            let b: Vec<f64> = (0..n).map(|i| u[2 * i + a]).collect();
            let design =
                DMatrix::from_fn(n, cols, |i, c| if c == 0 { 1.0 } else { x.row(i)[c - 1] });
            let beta = design
                .clone()
                .svd(true, true)
                .solve(&nalgebra::DVector::from_vec(b.clone()), 1e-12)
                .unwrap();
            let fit = &design * beta;
            total += b.iter().map(|v| v * v).sum::<f64>();
            left += b
                .iter()
                .zip(fit.iter())
                .map(|(p, q)| (p - q) * (p - q))
                .sum::<f64>();
        }
        1.0 - left / total
    };
    for m in &s.modes[..2] {
        assert!(explained(&m.displacement, false) > 0.8, "{m:?}");
    }
    // Measured: constant shares 0.89 and 0.91 for the first two; affine shares 0.75, 0.71
    // and 0.52 for the next three (rates 0.77-0.85), which mix with cubic fields at this N.
    let mut affine = 0.0;
    for m in &s.modes[2..5] {
        assert!(explained(&m.displacement, false) < 0.1, "rate {}", m.rate);
        affine += explained(&m.displacement, true) / 3.0;
    }
    assert!(affine > 0.6, "{affine}");
    // The translations decay at about w(1/2)/(1 + h²) = 0.444 (both sides smoothed).
    for m in &s.modes[..2] {
        assert!((m.rate - 0.444).abs() < 0.15 * 0.444, "{}", m.rate);
    }
}

/// `ganflow spectrum --particles`: the modes table, the displacement fields at the given
/// particles, and the arrows drawn; options of the other method are refused.
#[test]
fn particle_spectrum_command() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| ganflow(dir.path(), args);
    // An equilibrium: a run's final particles.
    let target = [
        "--target",
        "gaussian",
        "--dim",
        "2",
        "--mean",
        "0",
        "--std",
        "1",
        "--m",
        "600",
        "--bandwidth",
        "0.4",
        "--estimator",
        "exact",
    ];
    let mut args = vec![
        "run", "--n", "600", "--steps", "300", "--dt", "0.05", "--out", "r", "--quiet",
    ];
    args.extend(target);
    assert!(run(&args).status.success());
    std::fs::copy(dir.path().join("r/final.csv"), dir.path().join("p.csv")).unwrap();
    let mut args = vec!["spectrum", "--particles", "p.csv"];
    args.extend(target);
    args.extend([
        "--modes",
        "3",
        "--out",
        "s.csv",
        "--vectors",
        "v.csv",
        "--arrows",
        "a.png",
    ]);
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("of 600 particles in 2-D")
            && stdout.contains("stable dt")
            && !stdout.contains("negative rates"),
        "{stdout}"
    );
    let table = std::fs::read_to_string(dir.path().join("s.csv")).unwrap();
    let mut lines = table.lines();
    assert_eq!(
        lines.next(),
        Some("k,rate,frequency,resolution,residual,change")
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.windows(2).all(|w| w[0][1] <= w[1][1]), "{rows:?}");
    assert!(rows.iter().all(|r| r[1] > 0.0 && r[3] >= MIN_RESOLUTION));
    // The fields sit at the given particles, one row per particle and mode.
    let particles = std::fs::read_to_string(dir.path().join("p.csv")).unwrap();
    let given: Vec<Vec<f64>> = particles
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    let vectors = std::fs::read_to_string(dir.path().join("v.csv")).unwrap();
    let mut lines = vectors.lines();
    assert_eq!(lines.next(), Some("mode,id,x0,x1,dx0,dx1"));
    let fields: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    assert_eq!(fields.len(), 3 * 600);
    for r in &fields {
        let p = &given[r[1] as usize];
        assert_eq!((r[2], r[3]), (p[0], p[1]));
    }
    // Unit root mean square displacement per mode.
    let ms: f64 = fields[..600]
        .iter()
        .map(|r| r[4] * r[4] + r[5] * r[5])
        .sum::<f64>()
        / 600.0;
    assert!((ms - 1.0).abs() < 1e-9, "{ms}");
    // Three panels of arrows: each holds blue arrow pixels.
    let img = image::open(dir.path().join("a.png")).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (3 * 420, 420));
    for panel in 0..3 {
        let blue = (panel * 420..(panel + 1) * 420)
            .flat_map(|x| (0..420).map(move |y| (x, y)))
            .filter(|&(x, y)| {
                let p = img.get_pixel(x, y).0;
                p[2] as i32 > p[0] as i32 + 60 && p[2] as i32 > p[1] as i32 + 60
            })
            .count();
        assert!(blue > 500, "panel {panel}: {blue} blue pixels");
    }
    // The same bits at any thread count.
    let table_at = |threads: &str| {
        let mut a = vec!["spectrum", "--particles", "p.csv", "--modes", "3"];
        a.extend(target);
        a.extend(["--threads", threads, "--out", "t.csv"]);
        let o = run(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(dir.path().join("t.csv")).unwrap()
    };
    assert_eq!(table_at("1"), table_at("2"));
    for (args, message) in [
        (
            vec!["spectrum", "--particles", "p.csv", "--grid-points", "100"],
            "--grid-points: an option of the continuum spectrum",
        ),
        (
            vec!["spectrum", "--products", "30"],
            "--products: an option of the particle spectrum",
        ),
        (
            vec!["spectrum", "--estimator", "exact"],
            "--estimator: the continuum spectrum uses no estimator",
        ),
        (
            vec!["spectrum", "--particles", "missing.csv"],
            "missing.csv",
        ),
    ] {
        let o = run(&args);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
}
