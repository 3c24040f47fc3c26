//! The driver: a simulation with its observers (the CSV recorder with the metrics, the
//! checkpointer, and the caller's own, a progress bar say), from a fresh start or from a
//! checkpoint, writing into a claimed run folder.
//!
//! What a folder holds at any moment:
//! - `run.toml`: the specification and a `status` (running, interrupted, failed, complete);
//! - `trajectories.csv` and `metrics.csv`: streamed, whole rows up to the last flush;
//! - `checkpoint.bin`: the last checkpoint (step 0, then every `--checkpoint-every` steps or
//!   `--checkpoint-secs` seconds, at an interrupt, and at the last step);
//! - `final.csv`: once the run ends, written whole.
//!
//! `resume` cuts the two CSV files back to the lengths the checkpoint recorded and continues
//! from it, so that every file ends byte-identical to an uninterrupted run's.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::checkpoint::Checkpoint;
use super::folder::RunFolder;
use super::inputs::{InputDigest, Inputs};
use super::spec::{RunSpec, RunStatus};
use crate::datasets::write_points_named;
use crate::error::{Error, Result, io_at};
use crate::flow::sim::{FlowState, Observation, Observer, RunSummary, Simulation, StopReason};
use crate::flow::velocity::Scheme;
use crate::metrics::{MetricsSpec, MetricsTracker};
use crate::output::{Counted, CsvRecorder, write_whole_with};
use crate::points::Points;

/// How a run is driven, apart from what decides its results.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Checkpoint every this many steps.
    pub checkpoint_every: Option<u64>,
    /// Checkpoint whenever this many seconds have passed since the last one.
    pub checkpoint_secs: f64,
    /// Set (by a signal handler, say) to stop the run at its next step, with a checkpoint.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Share the steps among the ranks installed on this thread ([`crate::dist`]), every
    /// other rank following with [`follow`]; the results are the same bits.
    pub distributed: bool,
}

impl Default for RunOptions {
    /// A checkpoint every minute, and at the start and the end.
    fn default() -> Self {
        Self {
            checkpoint_every: None,
            checkpoint_secs: 60.0,
            interrupt: None,
            distributed: false,
        }
    }
}

/// A new stop rule for `resume`: a total step count or time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Extend {
    /// Finish the run's own stop rule.
    Own,
    /// Run to this total number of steps.
    Steps(u64),
    /// Run to this total flow time.
    Time(f64),
}

/// A finished run.
#[derive(Debug)]
pub struct Outcome {
    /// How it ended.
    pub summary: RunSummary,
    /// Wall-clock seconds of this process's part of it.
    pub seconds: f64,
    /// The optional metrics at the last observation.
    pub metrics: Vec<(&'static str, Option<f64>)>,
    /// The final particles, in the data's units.
    pub particles: Points,
    /// `P_g`'s bandwidth at the end.
    pub h_g: f64,
    /// `P_data`'s bandwidth at the end.
    pub h_q: f64,
    /// The specification it ran (for `resume`, with the new stop rule).
    pub spec: RunSpec,
    /// Its inputs.
    pub inputs: Inputs,
}

type Writer = Counted<BufWriter<File>>;

/// Starts a run of `spec` in `folder`; `watch` sees every observation and step too.
pub fn start(
    spec: &RunSpec,
    inputs: Inputs,
    folder: &RunFolder,
    options: &RunOptions,
    watch: &mut dyn Observer,
) -> Result<Outcome> {
    write_status(folder, spec, RunStatus::Running)?;
    let mut sim = inputs.simulation(spec)?;
    if options.distributed {
        sim = sim.distributed();
    }
    let create = |name: &str| -> Result<Writer> {
        let path = folder.file(name);
        Ok(Counted::new(
            BufWriter::new(File::create(&path).map_err(io_at(&path))?),
            0,
        ))
    };
    let discriminator = match sim.opponent_params() {
        Some(_) => Some(create("discriminator.csv")?),
        None => None,
    };
    let recorder = recorder(
        folder,
        spec,
        &inputs,
        &sim,
        create("trajectories.csv")?,
        create("metrics.csv")?,
        discriminator,
    )?;
    let digest = inputs.digest();
    drive(
        spec.clone(),
        inputs,
        folder,
        &mut sim,
        recorder,
        None,
        digest,
        options,
        watch,
    )
}

/// The part of a distributed run's rank other than 0: the simulation [`start`] builds,
/// stepped in step with rank 0's, writing nothing. Every rank's results are rank 0's bits;
/// the ranks must be installed on this thread ([`crate::dist::install`]).
pub fn follow(spec: &RunSpec, inputs: Inputs) -> Result<RunSummary> {
    let mut sim = inputs.simulation(spec)?.distributed();
    let mut silent = |_: &Observation<'_>| Ok(ControlFlow::Continue(()));
    sim.run(&spec.stop_rule(), spec.every, &mut silent)
}

/// Continues the run in `folder` from its checkpoint, to its own stop rule or to `extend`.
pub fn resume(
    folder: &RunFolder,
    extend: Extend,
    options: &RunOptions,
    watch: &mut dyn Observer,
) -> Result<Outcome> {
    let (mut spec, _status) = RunSpec::read_run_toml(&folder.file("run.toml"))?;
    match extend {
        Extend::Own => {}
        Extend::Steps(n) => {
            spec.steps = n;
            spec.time = None;
        }
        Extend::Time(t) => spec.time = Some(t),
    }
    spec.check()?;
    let ckpt_path = folder.file("checkpoint.bin");
    if !ckpt_path.exists() {
        // Stopped before its first step was computed: step 0 comes back from the inputs.
        let inputs = Inputs::load(&spec)?;
        return start(&spec, inputs, folder, options, watch);
    }
    let ckpt = Checkpoint::read(&ckpt_path)?;
    if ckpt.version != env!("CARGO_PKG_VERSION") {
        return Err(Error::File {
            path: ckpt_path,
            message: format!(
                "was written by ganflow {}, but this is {}: a resumed run would not match, so it is refused",
                ckpt.version,
                env!("CARGO_PKG_VERSION")
            ),
        });
    }
    let reached = match extend {
        Extend::Steps(n) => n < ckpt.state.step,
        Extend::Time(t) => t < ckpt.state.t * (1.0 - 1e-12),
        Extend::Own => false,
    };
    if reached {
        return Err(Error::InvalidOption {
            option: "--steps/--time".into(),
            message: format!(
                "the run has already reached step {} (t = {}); give a larger total",
                ckpt.state.step, ckpt.state.t
            ),
        });
    }
    let inputs = Inputs::load(&spec)?;
    let digest = inputs.digest();
    if digest != ckpt.digest {
        return Err(Error::File {
            path: ckpt_path,
            message: "belongs to other inputs: a file the run reads (--data, --init or --centers) \
                      has changed since it started, so it is refused"
                .into(),
        });
    }
    let mut sim = inputs.simulation(&spec)?;
    sim.restore(&ckpt.state, ckpt.particles.clone())?;
    let reopen = |name: &str, len: u64| -> Result<Writer> {
        let path = folder.file(name);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_at(&path))?;
        let have = file.metadata().map_err(io_at(&path))?.len();
        if have < len {
            return Err(Error::File {
                path,
                message: format!(
                    "holds {have} bytes but the checkpoint needs {len}: it was cut or replaced"
                ),
            });
        }
        file.set_len(len).map_err(io_at(&path))?;
        let mut file = file;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0)).map_err(io_at(&path))?;
        Ok(Counted::new(BufWriter::new(file), len))
    };
    let t = reopen("trajectories.csv", ckpt.trajectories_len)?;
    let m = reopen("metrics.csv", ckpt.metrics_len)?;
    let disc = match sim.opponent_params() {
        Some(_) => Some(reopen("discriminator.csv", ckpt.discriminator_len)?),
        None => None,
    };
    let mut recorder = recorder(folder, &spec, &inputs, &sim, t, m, disc)?.continuing();
    if let Some(tracker) = recorder.tracker_mut() {
        tracker.set_previous(ckpt.dissipation);
    }
    recorder.set_decay_state(ckpt.decay);
    // final.csv belongs to the end of a run: gone until this one ends.
    let final_path = folder.file("final.csv");
    if final_path.exists() {
        std::fs::remove_file(&final_path).map_err(io_at(&final_path))?;
    }
    write_status(folder, &spec, RunStatus::Running)?;
    drive(
        spec,
        inputs,
        folder,
        &mut sim,
        recorder,
        Some(ckpt.state.step),
        digest,
        options,
        watch,
    )
}

fn recorder(
    folder: &RunFolder,
    spec: &RunSpec,
    inputs: &Inputs,
    sim: &Simulation,
    trajectories: Writer,
    metrics: Writer,
    discriminator: Option<Writer>,
) -> Result<CsvRecorder<Writer>> {
    let mut recorder = CsvRecorder::new(trajectories, metrics, spec.record_velocity)
        .at_paths(folder.file("trajectories.csv"), folder.file("metrics.csv"));
    if let Some(w) = discriminator {
        recorder = recorder.with_discriminator(w, folder.file("discriminator.csv"));
    }
    if let Some(s) = &inputs.coordinates {
        recorder = recorder.unscaled_by(s.clone());
    }
    if let Some(list) = &spec.metrics {
        let mspec = MetricsSpec::parse(list, inputs.modes.clone(), spec.seed)?;
        let tracker = MetricsTracker::new(mspec, sim.data())?;
        recorder = recorder.with_metrics(tracker, sim.config().scheme == Scheme::Variational);
    }
    Ok(recorder)
}

fn write_status(folder: &RunFolder, spec: &RunSpec, status: RunStatus) -> Result<()> {
    let text = spec.to_run_toml(status)?;
    let path = folder.file("run.toml");
    write_whole_with(&path, |w| {
        w.write_all(text.as_bytes()).map_err(io_at(&path))
    })
}

/// The observers of a run: recorder, checkpointer, and the caller's.
struct RunObserver<'a> {
    recorder: CsvRecorder<Writer>,
    watch: &'a mut dyn Observer,
    folder: &'a RunFolder,
    digest: InputDigest,
    options: &'a RunOptions,
    /// The step whose checkpoint already exists (a resumed run's first).
    skip_step: Option<u64>,
    /// The stop rule's time limit: a run that stops at a time shortens its last step, and a
    /// run extended past that time must continue from before it.
    time_limit: Option<f64>,
    /// Whether the step is adaptive (every step then has its own length).
    adaptive: bool,
    last_checkpoint: Instant,
}

impl RunObserver<'_> {
    fn checkpoint(&mut self, state: &FlowState, particles: &Points) -> Result<()> {
        let dissipation = self.recorder.tracker_mut().and_then(|t| t.previous());
        let decay = self.recorder.decay_state();
        let discriminator_len = match self.recorder.flush_discriminator()? {
            None => 0,
            Some(w) => {
                w.get_ref()
                    .get_ref()
                    .sync_data()
                    .map_err(io_at(&self.folder.file("discriminator.csv")))?;
                w.bytes()
            }
        };
        let (t, m) = self.recorder.flush()?;
        let (trajectories_len, metrics_len) = (t.bytes(), m.bytes());
        // The rows the checkpoint counts must be on disk before it is.
        for (w, name) in [(t, "trajectories.csv"), (m, "metrics.csv")] {
            w.get_ref()
                .get_ref()
                .sync_data()
                .map_err(io_at(&self.folder.file(name)))?;
        }
        Checkpoint {
            version: env!("CARGO_PKG_VERSION").to_string(),
            digest: self.digest,
            state: state.clone(),
            particles: particles.clone(),
            dissipation,
            decay,
            trajectories_len,
            metrics_len,
            discriminator_len,
        }
        .write(&self.folder.file("checkpoint.bin"))?;
        self.last_checkpoint = Instant::now();
        Ok(())
    }
}

impl Observer for RunObserver<'_> {
    fn observe(&mut self, obs: &Observation<'_>) -> Result<ControlFlow<()>> {
        let a = self.recorder.observe(obs)?;
        let b = self.watch.observe(obs)?;
        Ok(if a.is_break() || b.is_break() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    }

    fn at_step(
        &mut self,
        state: &FlowState,
        particles: &Points,
        last: bool,
    ) -> Result<ControlFlow<()>> {
        let interrupted = self
            .options
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst));
        let first = self.skip_step.is_none() && state.step == 0;
        // Before a step shortened to land on the time limit: the state a longer run continues
        // from. After it, no checkpoint (it would hold an irregular time).
        let before_short = !last && self.time_limit.is_some_and(|m| m - state.t < state.dt);
        let after_short = self.time_limit.is_some()
            && state.step > 0
            && if self.adaptive {
                last
            } else {
                state.uniform_steps == 0
            };
        let due = !after_short
            && (first
                || last
                || before_short
                || interrupted
                || self
                    .options
                    .checkpoint_every
                    .is_some_and(|k| state.step.is_multiple_of(k))
                || self.last_checkpoint.elapsed().as_secs_f64() >= self.options.checkpoint_secs);
        if due && self.skip_step != Some(state.step) {
            self.checkpoint(state, particles)?;
        }
        let _ = self.watch.at_step(state, particles, last)?;
        Ok(if interrupted {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    }

    fn progress(&mut self, step: u64, t: f64) {
        self.watch.progress(step, t);
    }
}

#[allow(clippy::too_many_arguments)]
fn drive(
    spec: RunSpec,
    inputs: Inputs,
    folder: &RunFolder,
    sim: &mut Simulation,
    recorder: CsvRecorder<Writer>,
    resumed_at: Option<u64>,
    digest: InputDigest,
    options: &RunOptions,
    watch: &mut dyn Observer,
) -> Result<Outcome> {
    let started = Instant::now();
    let mut observer = RunObserver {
        recorder,
        watch,
        folder,
        digest,
        options,
        skip_step: resumed_at,
        time_limit: spec.time,
        adaptive: spec.flow_config().adaptive.is_some(),
        last_checkpoint: Instant::now(),
    };
    let result = sim.run(&spec.stop_rule(), spec.every, &mut observer);
    let metrics = observer.recorder.last_metrics().to_vec();
    // Whatever happened, the rows computed so far are kept.
    let flushed = observer.recorder.finish().and_then(|(t, m, d)| {
        let files = [
            (Some(t), "trajectories.csv"),
            (Some(m), "metrics.csv"),
            (d, "discriminator.csv"),
        ];
        for (w, name) in files {
            let Some(mut w) = w else { continue };
            let path = folder.file(name);
            w.flush().map_err(io_at(&path))?;
            w.get_ref().get_ref().sync_data().map_err(io_at(&path))?;
        }
        Ok(())
    });
    let summary = match result.and_then(|s| flushed.map(|()| s)) {
        Ok(s) => s,
        Err(e) => {
            let status = if matches!(e, Error::Interrupted { .. }) {
                RunStatus::Interrupted
            } else {
                RunStatus::Failed
            };
            // The run's own error matters more than a failure to record the status.
            let _ = write_status(folder, &spec, status);
            return Err(e);
        }
    };
    let particles = match &inputs.coordinates {
        Some(s) => s.inverse(sim.particles())?,
        None => sim.particles().clone(),
    };
    let final_path = folder.file("final.csv");
    write_whole_with(&final_path, |w| {
        // In the input's format: its column names where it had a header.
        write_points_named(w, &particles, inputs.names.as_deref()).map_err(|e| Error::File {
            path: final_path.clone(),
            message: e.to_string(),
        })
    })?;
    if let StopReason::NonFinite { step, particle } = summary.reason {
        write_status(folder, &spec, RunStatus::Failed)?;
        return Err(Error::NonFiniteFlow { step, particle });
    }
    write_status(folder, &spec, RunStatus::Complete)?;
    let (h_g, h_q) = sim.bandwidths();
    Ok(Outcome {
        h_g,
        h_q,
        summary,
        seconds: started.elapsed().as_secs_f64(),
        metrics,
        particles,
        spec,
        inputs,
    })
}
