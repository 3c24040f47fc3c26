//! Reproducibility across thread counts, and typed errors for bad input.

mod common;

use std::ops::ControlFlow;

use common::{clustered, normal};
use ganflow::{
    BandwidthSpec, Error, Estimator, FlowConfig, Integrator, Observation, Points, Scheme,
    Simulation, StopReason, StopRule,
};

fn run_with_threads(threads: usize, cfg: FlowConfig) -> (Vec<u64>, Vec<u64>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut sim = Simulation::new(cfg, normal(1500, 2, 1), clustered(1500, 2, 3, 2)).unwrap();
        let mut jsd = Vec::new();
        sim.run(
            &StopRule {
                max_steps: Some(6),
                ..Default::default()
            },
            2,
            &mut |o: &Observation<'_>| {
                jsd.push(o.diagnostics.jsd.to_bits());
                jsd.push(o.diagnostics.connection_norm2.to_bits());
                Ok(ControlFlow::Continue(()))
            },
        )
        .unwrap();
        let bits = sim
            .particles()
            .as_slice()
            .iter()
            .map(|v| v.to_bits())
            .collect();
        (bits, jsd)
    })
}

#[test]
fn bitwise_identical_at_one_and_two_threads() {
    for (scheme, estimator, integrator) in [
        (
            Scheme::PlugIn,
            Estimator::KdTree { tol: 1e-6 },
            Integrator::Euler,
        ),
        (Scheme::PlugIn, Estimator::Exact, Integrator::Heun),
        (
            Scheme::Variational,
            Estimator::Grid { tol: 1e-6 },
            Integrator::Euler,
        ),
        (
            Scheme::Variational,
            Estimator::KdTree { tol: 1e-4 },
            Integrator::Heun,
        ),
    ] {
        let cfg = FlowConfig {
            scheme,
            estimator,
            integrator,
            dt: 0.1,
            bandwidth_g: BandwidthSpec {
                rule: ganflow::Bandwidth::Silverman,
                from: ganflow::BandwidthFrom::Particles,
                every_step: true,
            },
            ..FlowConfig::default()
        };
        let one = run_with_threads(1, cfg);
        let two = run_with_threads(2, cfg);
        assert_eq!(one, two, "{scheme:?} {estimator:?} {integrator:?}");
    }
}

fn sim(
    cfg: FlowConfig,
    x: Vec<f64>,
    dx: usize,
    y: Vec<f64>,
    dy: usize,
) -> Result<Simulation, Error> {
    Simulation::new(
        cfg,
        Points::new("particles", x, dx)?,
        Points::new("data", y, dy)?,
    )
}

#[test]
fn bad_input_gives_typed_errors() {
    let ok = FlowConfig::default();
    let pts = || vec![0.0, 1.0, 2.0, 3.5];
    assert!(matches!(
        sim(ok, vec![], 1, pts(), 1),
        Err(Error::Empty { what: "particles" })
    ));
    assert!(matches!(
        sim(ok, pts(), 2, pts(), 1),
        Err(Error::DimensionMismatch {
            expected: 2,
            got: 1,
            ..
        })
    ));
    assert!(matches!(
        sim(ok, pts(), 0, pts(), 1),
        Err(Error::ZeroDimension { .. })
    ));
    assert!(matches!(
        sim(ok, vec![0.0, 1.0, 2.0], 2, pts(), 2),
        Err(Error::Ragged { len: 3, dim: 2, .. })
    ));
    let err = sim(ok, vec![0.0, f64::NAN, 1.0, 2.0], 2, pts(), 2).unwrap_err();
    assert!(matches!(
        err,
        Error::NonFinite {
            index: 0,
            coord: 1,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "particles: coordinate 1 of point 0 is not finite (NaN)"
    );
    for (field, cfg) in [
        ("dt", FlowConfig { dt: 0.0, ..ok }),
        ("dt", FlowConfig { dt: -1.0, ..ok }),
        (
            "bandwidth",
            FlowConfig {
                bandwidth_q: BandwidthSpec::fixed(-0.1),
                ..ok
            },
        ),
    ] {
        match sim(cfg, pts(), 1, pts(), 1) {
            Err(Error::NotPositive { what, .. }) => assert_eq!(what, field),
            other => panic!("{field}: expected NotPositive, got {:?}", other.err()),
        }
    }
    for tol in [0.0, -1e-3, 1.0] {
        let cfg = FlowConfig {
            estimator: Estimator::KdTree { tol },
            ..ok
        };
        assert!(matches!(
            sim(cfg, pts(), 1, pts(), 1),
            Err(Error::OutOfRange { what: "tol", .. })
        ));
    }
    // Scott's rule on identical points.
    assert!(matches!(
        sim(ok, pts(), 1, vec![1.0; 4], 1),
        Err(Error::ZeroSpread { what: "data", .. })
    ));
    // A run with no limit.
    let mut s = sim(ok, pts(), 1, pts(), 1).unwrap();
    let mut noop = |_: &Observation<'_>| Ok(ControlFlow::Continue(()));
    assert!(s.run(&StopRule::default(), 1, &mut noop).is_err());
}

#[test]
fn stop_rules_are_recorded() {
    let data = normal(300, 2, 4);
    let mut noop = |_: &Observation<'_>| Ok(ControlFlow::Continue(()));
    // At equilibrium the connection norm is 0: converged at once.
    let mut s = Simulation::new(FlowConfig::default(), data.clone(), data.clone()).unwrap();
    let r = s
        .run(
            &StopRule {
                max_steps: Some(10),
                connection_tol: Some(1e-12),
                ..Default::default()
            },
            1,
            &mut noop,
        )
        .unwrap();
    assert_eq!((r.reason, r.steps), (StopReason::Converged, 0));
    // An observer stops the run.
    let mut s = Simulation::new(FlowConfig::default(), normal(300, 2, 5), data.clone()).unwrap();
    let mut stopper = |o: &Observation<'_>| {
        Ok(if o.step >= 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    };
    let r = s
        .run(
            &StopRule {
                max_steps: Some(10),
                ..Default::default()
            },
            1,
            &mut stopper,
        )
        .unwrap();
    assert_eq!((r.reason, r.steps), (StopReason::Observer, 3));
    // A huge step overflows: stopped, state kept finite.
    let cfg = FlowConfig {
        dt: 1e308,
        ..FlowConfig::default()
    };
    let mut s = Simulation::new(cfg, normal(300, 2, 6), data).unwrap();
    let r = s
        .run(
            &StopRule {
                max_steps: Some(10),
                ..Default::default()
            },
            1,
            &mut noop,
        )
        .unwrap();
    assert!(
        matches!(r.reason, StopReason::NonFinite { .. }),
        "{:?}",
        r.reason
    );
    assert!(s.particles().as_slice().iter().all(|v| v.is_finite()));
    // Time limit: the last step is shortened to land on it.
    let mut s = Simulation::new(
        FlowConfig {
            dt: 0.3,
            ..FlowConfig::default()
        },
        normal(100, 1, 7),
        normal(100, 1, 8),
    )
    .unwrap();
    let r = s
        .run(
            &StopRule {
                max_time: Some(1.0),
                ..Default::default()
            },
            1,
            &mut noop,
        )
        .unwrap();
    assert_eq!((r.reason, r.steps), (StopReason::Time, 4));
    assert!((r.t - 1.0).abs() < 1e-12);
}

/// The same bits on every CPU path: the vector kernels forced to scalar, AVX2 and AVX-512
/// (where the CPU has them), and the C library told to ignore FMA, give one final.csv.
#[test]
fn results_do_not_depend_on_the_cpu_path() {
    let dir = tempfile::tempdir().unwrap();
    let configs: [&[&str]; 4] = [
        &["--estimator", "exact", "--n", "400", "--m", "300"],
        &[
            "--target",
            "gaussian-mixture",
            "--dim",
            "13",
            "--n",
            "300",
            "--m",
            "300",
        ],
        &[
            "--target",
            "two-moons",
            "--estimator",
            "grid",
            "--tol",
            "1e-4",
            "--scheme",
            "variational",
            "--n",
            "3000",
            "--m",
            "3000",
        ],
        &[
            "--target",
            "rings",
            "--estimator",
            "kdtree",
            "--n",
            "600",
            "--m",
            "600",
        ],
    ];
    let paths: [(&str, &str, &str); 4] = [
        ("GANFLOW_SIMD", "avx512", ""),
        ("GANFLOW_SIMD", "avx2", ""),
        ("GANFLOW_SIMD", "scalar", ""),
        (
            "GANFLOW_SIMD",
            "scalar",
            "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX512F",
        ),
    ];
    for (c, config) in configs.iter().enumerate() {
        let mut finals = Vec::new();
        for (p, (var, level, tunables)) in paths.iter().enumerate() {
            let out = format!("c{c}-p{p}");
            let mut args = vec!["run", "--steps", "4", "--every", "2", "--out", &out];
            args.extend(config.iter());
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_ganflow"))
                .current_dir(dir.path())
                .env(var, level)
                .env("GLIBC_TUNABLES", tunables)
                .args(&args)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            finals.push(std::fs::read(dir.path().join(&out).join("final.csv")).unwrap());
        }
        for (p, f) in finals.iter().enumerate() {
            assert!(
                *f == finals[0],
                "config {config:?}: path {:?} differs",
                paths[p]
            );
        }
    }
}
