//! The `ganflow` binary driven from outside, in temporary folders.

#![allow(clippy::disallowed_methods)] // an independent oracle may use the C library

use std::path::Path;

mod common;

use common::{ganflow, shifted_equilibrium_start};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const TINY: [&str; 12] = [
    "run", "--n", "50", "--m", "60", "--steps", "7", "--every", "3", "--dt", "0.1", "--seed",
];

#[test]
fn tiny_run_writes_complete_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = TINY.to_vec();
    args.extend(["4", "--out", "out", "--bandwidth", "0.5"]);
    let o = ganflow(dir.path(), &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(
        summary.starts_with("7 steps, t = 0.7000, stopped: step count reached; jsd "),
        "{summary}"
    );
    assert!(
        summary.contains("modes covered ") && summary.contains(" of 8"),
        "{summary}"
    );
    let out = dir.path().join("out");

    let traj = read(&out.join("trajectories.csv"));
    let mut lines = traj.lines();
    assert_eq!(lines.next(), Some("step,t,id,x0,x1"));
    // Recorded steps 0, 3, 6 and the last, 7: 50 rows each.
    let steps: Vec<u64> = lines
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(steps.len(), 4 * 50);
    for (k, s) in [0, 3, 6, 7].iter().enumerate() {
        assert!(steps[k * 50..(k + 1) * 50].iter().all(|x| x == s));
    }

    let metrics = read(&out.join("metrics.csv"));
    let mut lines = metrics.lines();
    assert_eq!(
        lines.next(),
        Some(
            "step,t,jsd,connection_norm2,mean_dstar_particles,mean_dstar_data,energy,max_speed,h_g,h_q,decay_rate,dt"
        )
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .map(|v| {
                    if v.is_empty() {
                        f64::NAN
                    } else {
                        v.parse().unwrap()
                    }
                })
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 4);
    // decay_rate: undefined at the first row, then -(1/2) d ln ||A||^2 / dt.
    assert!(rows[0][10].is_nan());
    for k in 1..4 {
        let expect = -0.5 * (rows[k][3] / rows[k - 1][3]).ln() / (rows[k][1] - rows[k - 1][1]);
        assert!(
            (rows[k][10] - expect).abs() < 1e-9 * expect.abs().max(1.0),
            "{rows:?}"
        );
    }
    assert!((rows[3][1] - 0.7).abs() < 1e-12, "t = {}", rows[3][1]);
    assert!(rows[3][2] < rows[0][2], "jsd did not fall: {rows:?}");

    let fin = read(&out.join("final.csv"));
    assert_eq!(fin.lines().count(), 51);
    assert_eq!(fin.lines().next(), Some("x0,x1"));
    // No staging folder is left beside the output.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("out")]);

    // An existing folder is kept without --force, replaced with it.
    let o = ganflow(dir.path(), &args);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already holds a run"));
    assert_eq!(read(&out.join("final.csv")), fin);
    args.push("--force");
    assert!(ganflow(dir.path(), &args).status.success());
    assert_eq!(read(&out.join("final.csv")), fin, "same seed, same result");
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut finals = Vec::new();
    for threads in ["1", "2"] {
        let mut args = TINY.to_vec();
        let out = format!("t{threads}");
        args.extend([
            "9",
            "--threads",
            threads,
            "--out",
            &out,
            "--estimator",
            "kdtree",
        ]);
        let o = ganflow(dir.path(), &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        finals.push(read(&dir.path().join(out).join("final.csv")));
    }
    assert_eq!(finals[0], finals[1]);
}

#[test]
fn data_and_init_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let data: String = (0..40)
        .map(|i| format!("{},{}\n", 3.0 + (i as f64).sin(), (i as f64).cos()))
        .collect();
    std::fs::write(dir.path().join("data.csv"), format!("a,b\n{data}")).unwrap();
    let init: String = (0..30)
        .map(|i| format!("{},{}\n", (i as f64 * 0.3).sin(), (i as f64 * 0.7).cos()))
        .collect();
    std::fs::write(dir.path().join("init.csv"), init).unwrap();
    let o = ganflow(
        dir.path(),
        &[
            "run", "--data", "data.csv", "--init", "init.csv", "--steps", "3", "--out", "o",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read(&dir.path().join("o/final.csv")).lines().count(), 31);
}

#[test]
fn bad_input_names_file_line_and_column() {
    let cases: [(&str, &str); 5] = [
        (
            "a,b\n1,2\n3\n",
            "bad.csv: line 3: expected 2 fields, found 1",
        ),
        (
            "a,b\n1,2\n3,x\n",
            "bad.csv: line 3, column 2: \"x\" is not a number",
        ),
        (
            "1,2\n3,inf\n",
            "bad.csv: line 2, column 2: inf is not finite",
        ),
        (
            "1,2\n3,NaN\n",
            "bad.csv: line 2, column 2: NaN is not finite",
        ),
        ("", "bad.csv: the file has no data row"),
    ];
    for (content, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.csv"), content).unwrap();
        let o = ganflow(dir.path(), &["run", "--data", "bad.csv", "--out", "o"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(err.contains(message), "{content:?}: {err}");
        assert!(!dir.path().join("o").exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only bad.csv remains"
        );
    }
    // Particles and data of different dimension.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("d3.csv"), "1,2,3\n4,5,7\n0,1,1\n").unwrap();
    std::fs::write(dir.path().join("p2.csv"), "1,2\n4,5\n").unwrap();
    let o = ganflow(
        dir.path(),
        &["run", "--data", "d3.csv", "--init", "p2.csv", "--out", "o"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("p2.csv has 2 columns but d3.csv has 3"),
        "{err}"
    );
    assert!(!dir.path().join("o").exists());
    // A bad parameter.
    let o = ganflow(dir.path(), &["run", "--dt", "-1", "--out", "o"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--dt") && err.contains("must be > 0 and finite, got -1"),
        "{err}"
    );
    assert!(!dir.path().join("o").exists());
}

#[test]
fn run_toml_reproduces_final_csv_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let o = ganflow(
        dir.path(),
        &[
            "run",
            "--target",
            "two-moons",
            "--n",
            "120",
            "--m",
            "150",
            "--steps",
            "6",
            "--integrator",
            "heun",
            "--bandwidth-g",
            "silverman:particles",
            "--seed",
            "3",
            "--out",
            "a",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let toml = read(&dir.path().join("a/run.toml"));
    assert!(
        toml.contains("target = \"two-moons\"") && toml.contains("seed = 3"),
        "{toml}"
    );
    let o = ganflow(dir.path(), &["run", "--config", "a/run.toml", "--out", "b"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        read(&dir.path().join("a/final.csv")),
        read(&dir.path().join("b/final.csv"))
    );
    assert_eq!(
        read(&dir.path().join("a/metrics.csv")),
        read(&dir.path().join("b/metrics.csv"))
    );
    // The command line overrides the file.
    let o = ganflow(
        dir.path(),
        &[
            "run",
            "--config",
            "a/run.toml",
            "--steps",
            "2",
            "--out",
            "c",
        ],
    );
    assert!(o.status.success());
    assert!(read(&dir.path().join("c/run.toml")).contains("steps = 2"));
    assert_ne!(
        read(&dir.path().join("a/final.csv")),
        read(&dir.path().join("c/final.csv"))
    );
    // An unknown key is an error naming it.
    std::fs::write(dir.path().join("bad.toml"), "stpes = 3\n").unwrap();
    let o = ganflow(dir.path(), &["run", "--config", "bad.toml", "--out", "d"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.toml: unknown field `stpes`"), "{err}");
    assert!(!dir.path().join("d").exists());
}

#[test]
fn velocity_at_the_data_is_zero() {
    let dir = tempfile::tempdir().unwrap();
    let o = ganflow(
        dir.path(),
        &[
            "sample", "rings", "--n", "300", "--seed", "2", "--out", "d.csv",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for scheme in ["plugin", "variational"] {
        let o = ganflow(
            dir.path(),
            &[
                "velocity",
                "--particles",
                "d.csv",
                "--data",
                "d.csv",
                "--scheme",
                scheme,
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("x0,x1,v0,v1,log_g,log_q,dstar"));
        let rows: Vec<Vec<f64>> = lines
            .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
            .collect();
        assert_eq!(rows.len(), 300);
        for r in &rows {
            assert!(
                r[2].abs() < 1e-9 && r[3].abs() < 1e-9,
                "{scheme}: v = {r:?}"
            );
            assert_eq!(r[4], r[5]);
            assert_eq!(r[6], 0.5);
        }
    }
    // On a grid, into a file: nx * ny rows, and not all zero away from equilibrium.
    let o = ganflow(
        dir.path(),
        &["sample", "gaussian", "--n", "200", "--out", "p.csv"],
    );
    assert!(o.status.success());
    let o = ganflow(
        dir.path(),
        &[
            "velocity",
            "--particles",
            "p.csv",
            "--data",
            "d.csv",
            "--grid",
            "-3,3,-2,2,5,4",
            "--out",
            "v.csv",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = read(&dir.path().join("v.csv"));
    assert_eq!(text.lines().count(), 1 + 20);
    let first: Vec<f64> = text
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!((first[0], first[1]), (-3.0, -2.0));
    assert!(text.lines().skip(1).any(|l| {
        let v: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
        v[2].abs() + v[3].abs() > 1e-6
    }));
}

#[test]
fn datasets_and_sample() {
    let dir = tempfile::tempdir().unwrap();
    let o = ganflow(dir.path(), &["datasets"]);
    let text = String::from_utf8(o.stdout).unwrap();
    for name in ganflow::datasets::BUILTIN_NAMES {
        assert!(text.contains(name), "{name} missing from:\n{text}");
        let o = ganflow(
            dir.path(),
            &["sample", name, "--n", "50", "--dim", "3", "--seed", "1"],
        );
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8(o.stdout).unwrap();
        assert_eq!(out.lines().count(), 51, "{name}");
        let again = ganflow(
            dir.path(),
            &["sample", name, "--n", "50", "--dim", "3", "--seed", "1"],
        );
        assert_eq!(
            out,
            String::from_utf8(again.stdout).unwrap(),
            "{name}: seeded"
        );
    }
    let o = ganflow(
        dir.path(),
        &[
            "sample", "gaussian", "--n", "4000", "--dim", "2", "--mean", "1,-2", "--std", "0.5",
        ],
    );
    let rows: Vec<Vec<f64>> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    let mean0 = rows.iter().map(|r| r[0]).sum::<f64>() / 4000.0;
    let mean1 = rows.iter().map(|r| r[1]).sum::<f64>() / 4000.0;
    assert!(
        (mean0 - 1.0).abs() < 0.03 && (mean1 + 2.0).abs() < 0.03,
        "{mean0} {mean1}"
    );
    let o = ganflow(dir.path(), &["sample", "nonsense"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown built-in \"nonsense\""));
}

#[test]
fn standardize_writes_back_original_units() {
    let dir = tempfile::tempdir().unwrap();
    // Features on scales 1 and 1000.
    let data: String = (0..80)
        .map(|i| {
            format!(
                "{},{}\n",
                (i as f64 * 0.7).sin(),
                1000.0 + 300.0 * (i as f64 * 0.3).cos()
            )
        })
        .collect();
    std::fs::write(dir.path().join("data.csv"), format!("small,big\n{data}")).unwrap();
    let init = "0.5,900\n-0.25,1200.5\n0.125,1000\n";
    std::fs::write(dir.path().join("init.csv"), init).unwrap();
    // Zero steps: the particles go through the standardisation and back.
    let o = ganflow(
        dir.path(),
        &[
            "run",
            "--data",
            "data.csv",
            "--init",
            "init.csv",
            "--standardize",
            "--steps",
            "0",
            "--out",
            "o",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fin = read(&dir.path().join("o/final.csv"));
    assert_eq!(fin.lines().next(), Some("small,big"));
    let back: Vec<f64> = fin
        .lines()
        .skip(1)
        .flat_map(|l| {
            l.split(',')
                .map(|v| v.parse::<f64>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let orig = [0.5, 900.0, -0.25, 1200.5, 0.125, 1000.0];
    for (a, b) in back.iter().zip(orig) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
    }
    // A real run keeps the data's scale in its outputs.
    let o = ganflow(
        dir.path(),
        &[
            "run",
            "--data",
            "data.csv",
            "--standardize",
            "--n",
            "60",
            "--steps",
            "20",
            "--record-velocity",
            "--out",
            "r",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fin = read(&dir.path().join("r/final.csv"));
    let big: Vec<f64> = fin
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    let mean = big.iter().sum::<f64>() / big.len() as f64;
    assert!(
        (mean - 1000.0).abs() < 150.0,
        "mean of the big feature {mean}"
    );
    let traj = read(&dir.path().join("r/trajectories.csv"));
    assert_eq!(traj.lines().next(), Some("step,t,id,x0,x1,v0,v1,dstar"));
}

#[test]
fn exact_data_density_needs_a_closed_form() {
    let dir = tempfile::tempdir().unwrap();
    let o = ganflow(
        dir.path(),
        &[
            "run",
            "--target",
            "gaussian",
            "--dim",
            "1",
            "--data-density",
            "exact",
            "--n",
            "200",
            "--steps",
            "30",
            "--out",
            "e",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = ganflow(
        dir.path(),
        &[
            "run",
            "--target",
            "two-moons",
            "--data-density",
            "exact",
            "--out",
            "f",
        ],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("closed-form density"));
    assert!(!dir.path().join("f").exists());
}

#[test]
fn optional_metrics_are_columns() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = TINY.to_vec();
    args.extend(["1", "--metrics", "all", "--out", "a"]);
    let o = ganflow(dir.path(), &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("modes_covered"), "summary: {stdout}");
    let metrics = read(&dir.path().join("a/metrics.csv"));
    let header = metrics.lines().next().unwrap();
    assert!(header.ends_with(
        ",sliced_w2,mmd2,modes_covered,high_quality,modes_reverse_kl,memorization,dissipation_residual"
    ), "{header}");
    let first: Vec<&str> = metrics.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(first.len(), 19);
    assert_eq!(first[10], "", "no decay rate at the first row");
    assert_eq!(first[11], "0.1", "the time step");
    assert_eq!(first[18], "", "no residual at the first row");
    // Without known modes, the mode columns are left out, not written as zeros.
    std::fs::write(dir.path().join("d.csv"), "1,2\n2,1\n0,0\n3,3\n1,1\n").unwrap();
    let o = ganflow(
        dir.path(),
        &[
            "run",
            "--data",
            "d.csv",
            "--n",
            "20",
            "--steps",
            "2",
            "--metrics",
            "all",
            "--bandwidth",
            "1",
            "--out",
            "b",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let header = read(&dir.path().join("b/metrics.csv"))
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(
        header.ends_with(",sliced_w2,mmd2,memorization,dissipation_residual"),
        "{header}"
    );
}

#[test]
fn whiten_writes_back_original_units() {
    let dir = tempfile::tempdir().unwrap();
    let data: String = (0..120)
        .map(|i| {
            let (a, b) = ((i as f64 * 0.7).sin(), (i as f64 * 1.3).cos());
            format!("{},{}\n", 100.0 + 30.0 * a, 5.0 + 2.0 * a + 0.3 * b)
        })
        .collect();
    std::fs::write(dir.path().join("data.csv"), data).unwrap();
    std::fs::write(dir.path().join("init.csv"), "90,4\n120,6.5\n").unwrap();
    let o = ganflow(
        dir.path(),
        &[
            "run", "--data", "data.csv", "--init", "init.csv", "--whiten", "--steps", "0", "--out",
            "o",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let back: Vec<f64> = read(&dir.path().join("o/final.csv"))
        .lines()
        .skip(1)
        .flat_map(|l| {
            l.split(',')
                .map(|v| v.parse::<f64>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    for (a, b) in back.iter().zip([90.0, 4.0, 120.0, 6.5]) {
        assert!((a - b).abs() <= 1e-9 * b, "{a} vs {b}");
    }
    let o = ganflow(
        dir.path(),
        &[
            "run", "--data", "data.csv", "--whiten", "--n", "100", "--steps", "10", "--out", "r",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = ganflow(
        dir.path(),
        &[
            "run",
            "--data",
            "data.csv",
            "--whiten",
            "--standardize",
            "--out",
            "x",
        ],
    );
    assert!(!o.status.success());
}

/// A fixed --dt beyond the stable limit is visible: the energy rises, and the run warns once.
/// On a closed-form N(0, 1) with h_g = 0.3 and the KL loss, `ganflow spectrum` gives a
/// resolved limit of 0.46; at 5x that the energy rises from the first step, at 0.1 it falls
/// throughout.
#[test]
fn an_unstable_time_step_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    shifted_equilibrium_start(dir.path());
    for (dt, warns) in [("0.1", false), ("2.3", true)] {
        let out = format!("r{dt}");
        let o = ganflow(
            dir.path(),
            &[
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
                "--steps",
                "20",
                "--every",
                "1",
                "--dt",
                dt,
                "--out",
                &out,
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            err.contains("warning: the energy rose"),
            warns,
            "dt {dt}: {err}"
        );
        // Once at most; a diverged run may also be told that it has stalled far from the
        // data, which is what a step far beyond the limit leads to.
        assert!(err.matches("the energy rose").count() <= 1, "{err}");
    }
}

/// A run whose particles cannot see the data through the kernel (data at 50, bandwidth 0.3)
/// is told so once, with the options that would help; a run that moves is not.
#[test]
fn a_stalled_flow_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let run = |mean: &str, out: &str| {
        ganflow(
            dir.path(),
            &[
                "run",
                "--target",
                "gaussian",
                "--dim",
                "1",
                "--mean",
                mean,
                "--n",
                "300",
                "--m",
                "300",
                "--bandwidth",
                "0.3",
                "--steps",
                "20",
                "--out",
                out,
                "--quiet",
            ],
        )
    };
    let stalled = run("50", "a");
    assert!(stalled.status.success());
    let err = String::from_utf8_lossy(&stalled.stderr);
    assert_eq!(err.matches("the flow has stalled").count(), 1, "{err}");
    assert!(
        err.contains("100 % of the particles see D* below 0.01"),
        "{err}"
    );
    assert!(
        err.contains("--bandwidth") && err.contains("--loss non-saturating"),
        "{err}"
    );
    let moving = run("1", "b");
    assert!(moving.status.success());
    assert!(!String::from_utf8_lossy(&moving.stderr).contains("stalled"));
}

/// A run whose estimated peak memory exceeds what is free stops before any work with the
/// documented message and exit status 3, and makes no folder; its points (10^8 particles in
/// 64-D, 632 GiB by the model) are never drawn. With a data file, the check comes once the
/// file is read and before the particles are drawn.
#[test]
fn oversized_runs_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let o = ganflow(
        dir.path(),
        &[
            "run",
            "--target",
            "gaussian",
            "--dim",
            "64",
            "--n",
            "100000000",
            "--steps",
            "1",
            "--out",
            "big",
        ],
    );
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(
            "error: the run needs about 631.8 GiB of memory at its peak, more than the "
        ) && err.contains("(N = 100000000, M = 2000, d = 64); nothing was started")
            && err.contains("--no-memory-check"),
        "{err}"
    );
    assert!(!dir.path().join("big").exists());
    // 4 * 10^9 particles in 1-D: 343 GiB by the model; drawing them would take minutes.
    std::fs::write(dir.path().join("one.csv"), "x0\n0.5\n").unwrap();
    let o = ganflow(
        dir.path(),
        &[
            "run",
            "--data",
            "one.csv",
            "--n",
            "4000000000",
            "--steps",
            "1",
            "--out",
            "big",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!dir.path().join("big").exists());
}

/// Between records a run skips the data-side work (the densities at the data, needed only by
/// the diagnostics in the plug-in scheme); recording every step computes it every step.
/// The two give the same bytes: final.csv whole, and every metrics.csv row the sparse run
/// records, each column but `decay_rate` (a difference quotient over the previous record, so
/// a function of the record spacing by definition).
#[test]
fn skipping_data_side_work_between_records_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 3] = [
        &["--n", "300", "--m", "300"],
        &["--n", "200", "--m", "250", "--scheme", "variational"],
        &[
            "--target", "gaussian", "--dim", "8", "--n", "200", "--m", "150",
        ],
    ];
    for (c, case) in cases.iter().enumerate() {
        let mut rows = Vec::new();
        for every in ["1", "10"] {
            let out = format!("c{c}-e{every}");
            let mut args = vec!["run", "--steps", "20", "--every", every, "--out", &out];
            args.extend(case.iter());
            let o = ganflow(dir.path(), &args);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            rows.push((
                read(&dir.path().join(&out).join("metrics.csv")),
                std::fs::read(dir.path().join(&out).join("final.csv")).unwrap(),
            ));
        }
        assert!(rows[0].1 == rows[1].1, "case {case:?}: final.csv differs");
        let header: Vec<&str> = rows[1].0.lines().next().unwrap().split(',').collect();
        let skip = header.iter().position(|h| *h == "decay_rate").unwrap();
        let without_rate = |line: &str| -> String {
            let cells: Vec<&str> = line.split(',').collect();
            let kept: Vec<&str> = cells
                .iter()
                .enumerate()
                .filter(|(k, _)| *k != skip)
                .map(|(_, v)| *v)
                .collect();
            kept.join(",")
        };
        let sparse: Vec<String> = rows[1].0.lines().skip(1).map(without_rate).collect();
        let dense: Vec<String> = rows[0]
            .0
            .lines()
            .skip(1)
            .filter(|l| ["0,", "10,", "20,"].iter().any(|s| l.starts_with(s)))
            .map(without_rate)
            .collect();
        assert_eq!(sparse.len(), 3, "case {case:?}");
        assert_eq!(sparse, dense, "case {case:?}");
    }
}
