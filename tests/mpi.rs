//! MPI runs (the `mpi` feature): `mpirun -n 2 ganflow run ...` writes the single-process
//! run's files bit for bit. Needs `mpirun` on the PATH (OpenMPI's, in CI); run with
//! `cargo test --release --features mpi --test mpi`.

#![cfg(feature = "mpi")]

mod common;

use std::path::Path;
use std::process::Command;

use common::ganflow;

/// `mpirun -n ranks ganflow args` in `dir`; OpenMPI refuses root unless told.
fn mpirun(dir: &Path, ranks: usize, args: &[&str]) -> std::process::Output {
    Command::new("mpirun")
        .current_dir(dir)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .args([
            "--oversubscribe",
            "--bind-to",
            "none",
            "-n",
            &ranks.to_string(),
        ])
        .arg(env!("CARGO_BIN_EXE_ganflow"))
        .args(args)
        .output()
        .expect("mpirun on the PATH (OpenMPI)")
}

fn read(dir: &Path, run: &str, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(run).join(file)).unwrap_or_else(|e| panic!("{run}/{file}: {e}"))
}

/// Two ranks give the single process's final.csv, metrics.csv and trajectories.csv byte
/// for byte: plug-in and variational, the data whole and split into 3 chunks, 64-D exact
/// sums (the particles' own density shared by tiles), the 2-D grid (evaluated whole on each
/// rank) and a learning discriminator. Only rank 0 writes, and writes one summary.
#[test]
fn two_ranks_write_the_single_process_bits() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        "--target gaussian --dim 64 --n 700 --m 600",
        "--target gaussian --dim 64 --n 700 --m 600 --data-chunks 3",
        "--target gaussian --dim 5 --n 600 --m 500 --scheme variational",
        "--target gaussian --dim 5 --n 600 --m 500 --scheme variational --data-chunks 3",
        "--n 3000 --m 3000 --estimator grid --tol 1e-4",
        "--n 400 --m 400 --discriminator linear",
    ];
    for (c, case) in cases.iter().enumerate() {
        let (one, two) = (format!("one{c}"), format!("two{c}"));
        let mut args = vec!["run", "--steps", "6", "--every", "3", "--quiet"];
        args.extend(case.split_whitespace());
        let mut single = args.clone();
        single.extend(["--out", &one]);
        let o = ganflow(dir.path(), &single);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut ranked = args.clone();
        ranked.extend(["--out", &two]);
        let o = mpirun(dir.path(), 2, &ranked);
        assert!(
            o.status.success(),
            "case {case:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let summary = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            summary.matches(" steps, t = ").count(),
            1,
            "one summary, from rank 0: {summary}"
        );
        for file in ["final.csv", "metrics.csv", "trajectories.csv"] {
            assert!(
                read(dir.path(), &one, file) == read(dir.path(), &two, file),
                "case {case:?}: {file} differs"
            );
        }
    }
    // Nothing but the two runs' folders: the other rank wrote nothing.
    let mut entries: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 2 * cases.len(), "{entries:?}");
}

/// The data split into chunks gives results within rounding of the whole data's (the
/// chunks' log-sum-exp changes only the order of the sums), and the chunk count, not the
/// rank count, decides the bits.
#[test]
fn data_chunks_change_only_the_rounding() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "run", "--target", "gaussian", "--dim", "8", "--n", "500", "--m", "900", "--steps", "5",
        "--quiet",
    ];
    let mut outs = Vec::new();
    for (k, chunks) in ["1", "4"].iter().enumerate() {
        let out = format!("k{k}");
        let mut args = base.to_vec();
        args.extend(["--data-chunks", chunks, "--out", &out]);
        let o = ganflow(dir.path(), &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        outs.push(String::from_utf8(read(dir.path(), &out, "final.csv")).unwrap());
    }
    let values = |s: &str| -> Vec<f64> {
        s.lines()
            .skip(1)
            .flat_map(|l| {
                l.split(',')
                    .map(|v| v.parse::<f64>().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (a, b) = (values(&outs[0]), values(&outs[1]));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    // Five steps, positions up to 5.4: measured 2.7e-15 (rounding, not another method).
    assert!(worst < 1e-12, "whole against 4 chunks: {worst:e}");
    // Three ranks with four chunks: the four-chunk bits.
    let mut args = base.to_vec();
    args.extend(["--data-chunks", "4", "--out", "k3"]);
    let o = mpirun(dir.path(), 3, &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(read(dir.path(), "k1", "final.csv") == read(dir.path(), "k3", "final.csv"));
}
