//! The binary never throws a user's work or files away: signals, kills, broken pipes,
//! drawing failures, dangerous output folders, concurrent runs and bad numbers.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const G: &str = env!("CARGO_BIN_EXE_ganflow");

mod common;

use common::ganflow;

fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(G)
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const OUTPUTS: [&str; 4] = ["run.toml", "trajectories.csv", "metrics.csv", "final.csv"];

fn same_outputs(a: &Path, b: &Path) {
    for f in OUTPUTS {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(
            x == y,
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

fn status(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("run.toml")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("status = "))
        .unwrap()
        .trim_matches('"')
        .to_string()
}

/// Names in a folder, recursively, with their sizes: what a test compares before and after.
fn listing(dir: &Path) -> BTreeSet<(String, u64)> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let meta = e.metadata().unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if meta.is_dir() {
            for (n, s) in listing(&e.path()) {
                out.insert((format!("{name}/{n}"), s));
            }
        } else {
            out.insert((name, meta.len()));
        }
    }
    out
}

/// A run of a few seconds, recording often, so that a signal lands mid-run. Rows reach the
/// file at each checkpoint (every 5 steps here), which is what the tests wait for.
const LONG: [&str; 15] = [
    "run",
    "--n",
    "2500",
    "--m",
    "2500",
    "--steps",
    "150",
    "--every",
    "7",
    "--metrics",
    "sliced_w2,dissipation_residual",
    "--seed",
    "4",
    "--checkpoint-every",
    "5",
];

/// Waits until `metrics.csv` in `dir` has more than `rows` lines on disk (the run is under
/// way).
fn wait_for_rows(dir: &Path, rows: usize) {
    let start = Instant::now();
    loop {
        let n = std::fs::read_to_string(dir.join("metrics.csv"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if n > rows {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the run did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(child: &Child, signal: &str) {
    let ok = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn a_signal_or_a_kill_loses_nothing_and_resume_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut args = LONG.to_vec();
    args.extend(["--out", "ref", "--quiet"]);
    assert!(ganflow(dir, &args).status.success());

    // Ctrl-C: a checkpoint, the rows so far, status interrupted, exit 130.
    let mut args = LONG.to_vec();
    args.extend(["--out", "int"]);
    let child = spawn(dir, &args);
    wait_for_rows(&dir.join("int"), 3);
    kill(&child, "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("`ganflow resume int` continues it"),
        "{}",
        stderr(&o)
    );
    assert_eq!(status(&dir.join("int")), "interrupted");
    let metrics = std::fs::read_to_string(dir.join("int/metrics.csv")).unwrap();
    assert!(metrics.ends_with('\n') && metrics.lines().count() > 3);
    let o = ganflow(dir, &["resume", "int", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    same_outputs(&dir.join("int"), &dir.join("ref"));

    // SIGTERM: exit 143.
    let mut args = LONG.to_vec();
    args.extend(["--out", "term"]);
    let child = spawn(dir, &args);
    wait_for_rows(&dir.join("term"), 3);
    kill(&child, "-TERM");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    assert!(ganflow(dir, &["resume", "term"]).status.success());
    same_outputs(&dir.join("term"), &dir.join("ref"));

    // SIGKILL: nothing runs at exit, yet the last checkpoint and the rows up to it resume.
    let mut args = LONG.to_vec();
    args.extend(["--out", "killed"]);
    let child = spawn(dir, &args);
    wait_for_rows(&dir.join("killed"), 4);
    kill(&child, "-KILL");
    let _ = child.wait_with_output().unwrap();
    assert_eq!(status(&dir.join("killed")), "running");
    let o = ganflow(dir, &["resume", "killed"]);
    assert!(o.status.success(), "{}", stderr(&o));
    same_outputs(&dir.join("killed"), &dir.join("ref"));
}

#[test]
fn metrics_all_with_plot_succeeds_and_a_drawing_failure_keeps_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let o = ganflow(
        dir,
        &[
            "run",
            "--n",
            "80",
            "--m",
            "90",
            "--steps",
            "6",
            "--every",
            "2",
            "--metrics",
            "all",
            "--plot",
            "--out",
            "r",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = dir.join("r");
    // The first dissipation residual is an empty cell, and the reader takes it.
    let metrics = std::fs::read_to_string(r.join("metrics.csv")).unwrap();
    assert!(metrics.lines().nth(1).unwrap().ends_with(','), "{metrics}");
    for pic in ["particles.png", "metrics.png"] {
        let img = image::open(r.join(pic)).unwrap().to_rgb8();
        let colours: BTreeSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
        assert!(colours.len() > 10, "{pic} has {} colours", colours.len());
    }
    let gif = image::open(r.join("flow.gif")).unwrap();
    assert_eq!((gif.width(), gif.height()), (420, 420));

    // Drawing fails (flow.gif cannot be replaced: a folder with a file stands there); the run
    // is complete and kept, and the exit status says something failed.
    std::fs::remove_file(r.join("flow.gif")).unwrap();
    std::fs::create_dir(r.join("flow.gif")).unwrap();
    std::fs::write(r.join("flow.gif/keep"), "x").unwrap();
    let o = ganflow(dir, &["resume", "r", "--plot"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("drawing failed"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the run itself is complete in r"),
        "{}",
        stderr(&o)
    );
    assert_eq!(status(&r), "complete");
    assert!(r.join("final.csv").exists() && r.join("flow.gif/keep").exists());
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert!(
        ganflow(
            dir,
            &["sample", "gaussian", "--n", "5000", "--out", "p.csv"]
        )
        .status
        .success()
    );
    for cmd in [
        format!("{G} run --steps 3 --n 100 --m 100 --metrics all --out a | head -1"),
        format!("{G} velocity --particles p.csv --data p.csv | head -1"),
        format!("{G} datasets | head -1"),
        format!("{G} sample rings --n 100000 | head -1"),
    ] {
        let o = Command::new("bash")
            .current_dir(dir)
            .args(["-c", &format!("set -o pipefail; {cmd}")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{cmd}: {:?} {}", o.status, stderr(&o));
        assert_eq!(stderr(&o), "", "{cmd}");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).lines().count(),
            1,
            "{cmd}"
        );
    }
}

#[test]
fn dangerous_output_folders_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    std::fs::create_dir(dir.join("project")).unwrap();
    std::fs::write(dir.join("project/paper.tex"), "mine too").unwrap();
    std::fs::create_dir(dir.join("inputs")).unwrap();
    std::fs::write(dir.join("inputs/d.csv"), "0,0\n1,1\n2,0\n0,2\n").unwrap();
    let before = listing(dir);
    let cases: [(&[&str], &str); 6] = [
        (
            &["--out", ".", "--force"],
            "is the current folder or one of its parents",
        ),
        (
            &["--out", "..", "--force"],
            "is the current folder or one of its parents",
        ),
        (
            &["--out", "project", "--force"],
            "holds files that ganflow did not write",
        ),
        (
            &["--out", "notes.txt", "--force"],
            "is a file, not a folder",
        ),
        (
            &["--data", "inputs/d.csv", "--out", "inputs", "--force"],
            "holds the input file",
        ),
        (
            &["--every", "0", "--out", "new"],
            "--every: must be at least 1, got 0",
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec!["run", "--steps", "2", "--n", "20", "--m", "20"];
        args.extend(extra);
        let o = ganflow(dir, &args);
        assert!(!o.status.success(), "{extra:?} was accepted");
        assert!(stderr(&o).contains(message), "{extra:?}: {}", stderr(&o));
        assert_eq!(listing(dir), before, "{extra:?} changed the folder");
    }
    let o = ganflow(dir, &["run", "--threads", "0", "--out", "new"]);
    assert!(stderr(&o).contains("--threads: must be at least 1, got 0"));
    assert_eq!(listing(dir), before);
}

#[test]
fn concurrent_runs_get_their_own_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let args = [
        "run", "--n", "300", "--m", "300", "--steps", "20", "--quiet",
    ];
    let children: Vec<Child> = (0..3)
        .map(|_| {
            Command::new(G)
                .current_dir(dir)
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut wrote = BTreeSet::new();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let line = String::from_utf8_lossy(&o.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("wrote ").map(String::from))
            .unwrap();
        wrote.insert(line);
    }
    let expected: BTreeSet<String> = (1..=3).map(|i| format!("runs/run-{i}")).collect();
    assert_eq!(wrote, expected);
    for i in 1..=3 {
        let d = dir.join(format!("runs/run-{i}"));
        assert_eq!(status(&d), "complete");
        same_outputs(&d, &dir.join("runs/run-1"));
    }
    // A folder in use by a run is refused at once.
    let mut args = LONG.to_vec();
    args.extend(["--out", "busy"]);
    let child = spawn(dir, &args);
    wait_for_rows(&dir.join("busy"), 1);
    let o = ganflow(dir, &["resume", "busy"]);
    assert!(
        stderr(&o).contains("in use by another ganflow process"),
        "{}",
        stderr(&o)
    );
    kill(&child, "-KILL");
    let _ = child.wait_with_output();
}

#[test]
fn numbers_that_cannot_be_honest_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("huge.csv"), "0,0\n1,1e300\n2,0\n").unwrap();
    std::fs::write(dir.join("ok.csv"), "0,0\n1,1\n2,0\n0,2\n").unwrap();
    for args in [
        ["run", "--data", "huge.csv", "--out", "a"],
        ["run", "--data", "ok.csv", "--init", "huge.csv"],
    ] {
        let o = ganflow(dir, &args);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("huge.csv: line 2, column 2: 1e300 is too large"),
            "{}",
            stderr(&o)
        );
    }
    // A step so large that positions overflow: a non-zero exit naming the step and particle,
    // and the run kept, marked failed.
    let o = ganflow(
        dir,
        &[
            "run", "--n", "50", "--m", "50", "--steps", "3", "--dt", "1e308", "--out", "nan",
        ],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("the flow became non-finite at step "), "{err}");
    assert!(err.contains("(particle "), "{err}");
    assert!(err.contains("--dt"), "{err}");
    assert_eq!(status(&dir.join("nan")), "failed");
    // A run.toml of another version is refused, by run --config and by resume.
    let o = ganflow(
        dir,
        &[
            "run", "--steps", "2", "--n", "30", "--m", "30", "--out", "v",
        ],
    );
    assert!(o.status.success());
    let toml = std::fs::read_to_string(dir.join("v/run.toml")).unwrap();
    let old = toml.replace(
        &format!("ganflow-version = \"{}\"", env!("CARGO_PKG_VERSION")),
        "ganflow-version = \"0.0.1\"",
    );
    assert_ne!(old, toml);
    std::fs::write(dir.join("v/run.toml"), old).unwrap();
    for args in [
        vec!["run", "--config", "v/run.toml", "--out", "w"],
        vec!["resume", "v"],
    ] {
        let o = ganflow(dir, &args);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("written by ganflow 0.0.1"),
            "{}",
            stderr(&o)
        );
    }
}

/// Peak resident memory (VmHWM, kB) of a run, read from /proc while it runs: the last
/// reading before it exits is its peak.
fn peak_rss_kb(dir: &Path, args: &[&str]) -> u64 {
    let mut child = Command::new(G)
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    peak
}

#[test]
fn memory_stays_flat_in_the_step_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run = |steps: &str, out: &str| {
        peak_rss_kb(
            dir,
            &[
                "run",
                "--n",
                "300",
                "--m",
                "300",
                "--every",
                "100",
                "--metrics",
                "all",
                "--steps",
                steps,
                "--out",
                out,
            ],
        )
    };
    let short = run("1000", "a");
    let long = run("10000", "b");
    assert!(short > 0 && long > 0);
    // Ten times the steps, a hundred recorded states: the peak may not grow by 10 %.
    assert!(
        (long as f64) <= 1.10 * short as f64,
        "peak RSS {short} kB at 10^3 steps, {long} kB at 10^4"
    );
    eprintln!("peak RSS: {short} kB at 10^3 steps, {long} kB at 10^4");
}

/// A second Ctrl-C exits at once: the step under way is not finished, no checkpoint is
/// written after it (status stays `running`), and the first checkpoint still resumes.
#[test]
fn a_second_ctrl_c_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Steps of about a second each (exact sums, 8-D, 15000 points on both sides).
    let args = [
        "run",
        "--target",
        "gaussian",
        "--dim",
        "8",
        "--n",
        "15000",
        "--m",
        "15000",
        "--estimator",
        "exact",
        "--steps",
        "4",
        "--every",
        "1",
        "--out",
        "r",
    ];
    let child = spawn(dir, &args);
    let start = Instant::now();
    while !dir.join("r/checkpoint.bin").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no first checkpoint"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
    kill(&child, "-INT");
    std::thread::sleep(Duration::from_millis(50));
    kill(&child, "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert_eq!(status(&dir.join("r")), "running");
    let o = ganflow(dir, &["resume", "r", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(status(&dir.join("r")), "complete");
}
