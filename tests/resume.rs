//! Resume equivalence in the library: a run interrupted at any step and resumed, or finished
//! and extended, ends with files byte-identical to an uninterrupted run's.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ganflow::run::spec::{AnnealText, IntegratorName, SchemeName, TimeStep};
use ganflow::run::{Extend, Inputs, RunFolder, RunOptions, RunSpec, RunStatus, resume, start};
use ganflow::{Error, FlowState, Observation, Observer, Points};

/// Raises the interrupt flag once the run reaches `at` (the driver then stops at the next
/// step, as after a Ctrl-C).
struct InterruptAt {
    at: u64,
    flag: Arc<AtomicBool>,
}

impl Observer for InterruptAt {
    fn observe(&mut self, _: &Observation<'_>) -> ganflow::Result<ControlFlow<()>> {
        Ok(ControlFlow::Continue(()))
    }
    fn at_step(
        &mut self,
        state: &FlowState,
        _: &Points,
        _: bool,
    ) -> ganflow::Result<ControlFlow<()>> {
        if state.step == self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
        Ok(ControlFlow::Continue(()))
    }
}

struct Quiet;
impl Observer for Quiet {
    fn observe(&mut self, _: &Observation<'_>) -> ganflow::Result<ControlFlow<()>> {
        Ok(ControlFlow::Continue(()))
    }
}

const FILES: [&str; 4] = ["run.toml", "trajectories.csv", "metrics.csv", "final.csv"];

fn files(dir: &Path) -> Vec<Vec<u8>> {
    FILES
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
}

fn base() -> RunSpec {
    RunSpec {
        target: "two-moons".into(),
        n: 70,
        m: 90,
        steps: 23,
        every: 4,
        metrics: Some("sliced_w2,mmd2,dissipation_residual".into()),
        seed: 5,
        ..RunSpec::default()
    }
}

fn uninterrupted(spec: &RunSpec, dir: &Path) -> Vec<Vec<u8>> {
    let folder = RunFolder::claim(dir, false, &[]).unwrap();
    let inputs = Inputs::load(spec).unwrap();
    start(spec, inputs, &folder, &RunOptions::default(), &mut Quiet).unwrap();
    files(dir)
}

/// Interrupted once the run reaches `at`, then resumed to its own stop rule.
fn interrupted(spec: &RunSpec, dir: &Path, at: u64) -> Vec<Vec<u8>> {
    let flag = Arc::new(AtomicBool::new(false));
    let options = RunOptions {
        interrupt: Some(Arc::clone(&flag)),
        ..RunOptions::default()
    };
    {
        let folder = RunFolder::claim(dir, false, &[]).unwrap();
        let inputs = Inputs::load(spec).unwrap();
        let mut watch = InterruptAt { at, flag };
        let r = start(spec, inputs, &folder, &options, &mut watch);
        match r {
            Err(Error::Interrupted { step }) => assert_eq!(step, at + 1),
            Err(e) => panic!("interrupt at {at}: {e}"),
            Ok(o) => panic!("interrupt at {at}: ran to step {}", o.summary.steps),
        }
    }
    let (_, status) = RunSpec::read_run_toml(&dir.join("run.toml")).unwrap();
    assert_eq!(status, RunStatus::Interrupted);
    assert!(!dir.join("final.csv").exists());
    let folder = RunFolder::open(dir).unwrap();
    resume(&folder, Extend::Own, &RunOptions::default(), &mut Quiet).unwrap();
    files(dir)
}

#[test]
fn interrupted_and_resumed_runs_match_uninterrupted_ones() {
    let specs = [
        ("plug-in", base()),
        (
            "variational",
            RunSpec {
                scheme: SchemeName::Variational,
                ..base()
            },
        ),
        (
            "heun",
            RunSpec {
                integrator: IntegratorName::Heun,
                ..base()
            },
        ),
        (
            "anneal",
            RunSpec {
                anneal: Some("3:10".parse::<AnnealText>().unwrap()),
                bandwidth: "scott:particles".parse().unwrap(),
                ..base()
            },
        ),
        (
            "time limit",
            RunSpec {
                time: Some(1.73),
                ..base()
            },
        ),
        (
            "adaptive",
            RunSpec {
                dt: TimeStep::Auto,
                ..base()
            },
        ),
        (
            "adaptive, time limit",
            RunSpec {
                dt: TimeStep::Auto,
                time: Some(0.9),
                ..base()
            },
        ),
    ];
    for (name, spec) in specs {
        let tmp = tempfile::tempdir().unwrap();
        let reference = uninterrupted(&spec, &tmp.path().join("ref"));
        // Steps 0, 3 (between records), 4 (a recorded step), 12, and 16 (two before the end
        // of the time-limited run, whose last step is shortened).
        for at in [0, 3, 4, 12, 16] {
            let got = interrupted(&spec, &tmp.path().join(format!("at-{at}")), at);
            for (k, f) in FILES.iter().enumerate() {
                assert!(
                    got[k] == reference[k],
                    "{name}, interrupted at {at}: {f} differs"
                );
            }
        }
    }
}

#[test]
fn finished_runs_extend_to_longer_ones() {
    for (short, long) in [
        (
            RunSpec {
                steps: 13,
                ..base()
            },
            base(),
        ),
        (
            // The 1.05 run shortens its last step; the extension continues from before it.
            RunSpec {
                time: Some(1.05),
                ..base()
            },
            RunSpec {
                time: Some(2.05),
                ..base()
            },
        ),
        (
            // The same with adaptive steps, every one of its own length.
            RunSpec {
                dt: TimeStep::Auto,
                time: Some(0.6),
                ..base()
            },
            RunSpec {
                dt: TimeStep::Auto,
                time: Some(1.3),
                ..base()
            },
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let reference = uninterrupted(&long, &tmp.path().join("ref"));
        let dir = tmp.path().join("ext");
        uninterrupted(&short, &dir);
        let folder = RunFolder::open(&dir).unwrap();
        let extend = match long.time {
            Some(t) => Extend::Time(t),
            None => Extend::Steps(long.steps),
        };
        resume(&folder, extend, &RunOptions::default(), &mut Quiet).unwrap();
        let got = files(&dir);
        for (k, f) in FILES.iter().enumerate() {
            assert!(got[k] == reference[k], "extended {short:?}: {f} differs");
        }
        // Resuming a complete run to its own rule changes nothing.
        resume(&folder, Extend::Own, &RunOptions::default(), &mut Quiet).unwrap();
        assert!(files(&dir) == reference);
        // A shorter total is refused.
        let e = resume(
            &folder,
            Extend::Steps(2),
            &RunOptions::default(),
            &mut Quiet,
        );
        assert!(e.unwrap_err().to_string().contains("already reached step"));
    }
}

#[test]
fn resume_refuses_changed_inputs_and_damaged_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data.csv");
    std::fs::write(&data, "0,0\n1,0.5\n0.3,2\n-1,1\n2,2\n0.5,-1\n").unwrap();
    let spec = RunSpec {
        data: Some(data.clone()),
        steps: 5,
        every: 2,
        n: 20,
        bandwidth: "0.8".parse().unwrap(),
        ..RunSpec::default()
    };
    let dir = tmp.path().join("r");
    uninterrupted(&spec, &dir);
    let folder = RunFolder::open(&dir).unwrap();
    // A second process cannot take a folder in use.
    let busy = RunFolder::open(&dir).unwrap_err().to_string();
    assert!(busy.contains("in use by another ganflow process"), "{busy}");
    drop(folder);
    std::fs::write(&data, "0,0\n1,0.5\n0.3,2\n-1,1\n2,2\n0.5,-1.5\n").unwrap();
    let folder = RunFolder::open(&dir).unwrap();
    let e = resume(
        &folder,
        Extend::Steps(9),
        &RunOptions::default(),
        &mut Quiet,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("belongs to other inputs"), "{e}");
    // One flipped byte in the checkpoint is caught by its checksum.
    let ckpt = dir.join("checkpoint.bin");
    let mut bytes = std::fs::read(&ckpt).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&ckpt, &bytes).unwrap();
    let e = resume(&folder, Extend::Own, &RunOptions::default(), &mut Quiet)
        .unwrap_err()
        .to_string();
    assert!(e.contains("checksum does not match"), "{e}");
}

/// A run stopped before its first step was computed has no checkpoint: resume starts it
/// again from its inputs, in the same folder.
#[test]
fn a_run_without_a_checkpoint_starts_again() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = base();
    let reference = uninterrupted(&spec, &tmp.path().join("ref"));
    let dir = tmp.path().join("r");
    uninterrupted(&spec, &dir);
    std::fs::remove_file(dir.join("checkpoint.bin")).unwrap();
    std::fs::write(dir.join("metrics.csv"), "step,t,jsd\n0,0,0.3").unwrap();
    let folder = RunFolder::open(&dir).unwrap();
    resume(&folder, Extend::Own, &RunOptions::default(), &mut Quiet).unwrap();
    assert!(files(&dir) == reference);
}
