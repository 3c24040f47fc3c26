//! The `ganflow` binary driven from outside, in temporary folders.

use std::path::Path;
use std::process::{Command, Output};

fn ganflow(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ganflow"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const TINY: [&str; 10] = [
    "run", "--n", "50", "--m", "60", "--steps", "7", "--every", "3", "--seed",
];

#[test]
fn tiny_run_writes_complete_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = TINY.to_vec();
    args.extend(["4", "--out", "out", "--bandwidth", "0.5"]);
    let o = ganflow(dir.path(), &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
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
            "step,t,jsd,connection_norm2,mean_dstar_particles,mean_dstar_data,energy,max_speed,h_g,h_q"
        )
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 4);
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
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
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
    assert!(String::from_utf8_lossy(&o.stderr).contains("dt must be > 0 and finite, got -1"));
    assert!(!dir.path().join("o").exists());
}
