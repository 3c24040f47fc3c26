//! What `run` and `resume` share on the command line: threads, signals, the progress bar,
//! the summary, and how a run's end becomes an exit status.

use std::ops::ControlFlow;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ganflow::metrics::{DecayPoint, STALL_DSTAR, decay_rate_over, mode_coverage, stall};
use ganflow::plot::run_folder::draw_run;
use ganflow::run::estimate::{check_memory, estimate};
use ganflow::run::inputs::RunSizes;
use ganflow::run::spec::TimeStep;
use ganflow::run::{Inputs, Outcome, RunFolder, RunOptions, RunSpec};
use ganflow::spectrum::{RunSpectrum, for_run};
use ganflow::{Observation, Observer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use signal_hook::consts::{SIGINT, SIGTERM};

use super::args::DriveArgs;
use super::{AnyResult, say, set_threads};

/// How long a run may take, after a signal, to reach its next step and checkpoint there.
const ABANDON_AFTER: Duration = Duration::from_secs(5);

/// Signals seen, and the flag the driver polls at every step.
pub struct Signals {
    stop: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

impl Signals {
    /// Catches SIGINT and SIGTERM: the first sets the stop flag (the run checkpoints and
    /// stops at its next step), a second exits at once with the signal's status.
    pub fn catch() -> AnyResult<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let which = Arc::new(AtomicUsize::new(0));
        for (sig, code) in [(SIGINT, 130), (SIGTERM, 143)] {
            // Registered first, so it sees the flag as the previous signal left it.
            signal_hook::flag::register_conditional_shutdown(sig, code, Arc::clone(&stop))?;
            signal_hook::flag::register(sig, Arc::clone(&stop))?;
            signal_hook::flag::register_usize(sig, Arc::clone(&which), sig as usize)?;
        }
        // A step can take minutes at scale: if the run has not reached its next step a
        // while after the signal, it is abandoned. The last checkpoint stays valid (it is
        // written whole), and resume cuts the streamed files back to it.
        let (flag, sig) = (Arc::clone(&stop), Arc::clone(&which));
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(ABANDON_AFTER);
            eprintln!(
                "interrupted during a step longer than {} s: abandoned; the last checkpoint \
                 stays valid and `ganflow resume` continues from it",
                ABANDON_AFTER.as_secs()
            );
            let code = if sig.load(Ordering::SeqCst) == SIGTERM as usize {
                143
            } else {
                130
            };
            std::process::exit(code);
        });
        Ok(Self { stop, which })
    }

    /// The exit status for the signal that stopped the run: 128 + its number.
    pub fn exit_code(&self) -> u8 {
        match self.which.load(Ordering::SeqCst) {
            s if s == SIGTERM as usize => 143,
            _ => 130,
        }
    }
}

/// The driver's options from the command line, with the signals' flag.
pub fn run_options(args: &DriveArgs, signals: &Signals) -> AnyResult<RunOptions> {
    set_threads(args.threads)?;
    if args.checkpoint_every == Some(0) {
        return Err("--checkpoint-every: must be at least 1, got 0".into());
    }
    if args.checkpoint_secs.is_nan() || args.checkpoint_secs <= 0.0 {
        return Err(format!(
            "--checkpoint-secs: must be > 0, got {}",
            args.checkpoint_secs
        )
        .into());
    }
    Ok(RunOptions {
        checkpoint_every: args.checkpoint_every,
        checkpoint_secs: args.checkpoint_secs,
        interrupt: Some(Arc::clone(&signals.stop)),
        distributed: false,
    })
}

/// Says so before starting when a step is estimated to take over an hour.
pub fn warn_costs(spec: &RunSpec, inputs: &Inputs) {
    let (n, m, d) = (inputs.particles.len(), inputs.data.len(), inputs.data.dim());
    let e = estimate(spec, n, m, d, rayon::current_num_threads());
    if let Some(s) = e.seconds_per_step
        && s > 3600.0
    {
        eprintln!(
            "warning: with N = {n}, M = {m} in {d}-D, one step is estimated at {:.1} hours \
             ({} steps planned); a smaller N, or --estimator grid in 1-D and 2-D, is faster; \
             checkpoints keep the work (ganflow resume)",
            s / 3600.0,
            spec.planned_steps()
        );
    }
}

/// The exit status of a run refused for memory: its estimated peak exceeds what is free.
pub const MEMORY_EXIT_STATUS: u8 = 3;

/// A run's inputs, or its refusal.
pub enum Loaded {
    /// The inputs, in memory.
    Inputs(Box<Inputs>),
    /// Refused for memory, already reported: exit with this status.
    Refused(ExitCode),
}

/// Loads a run's inputs, checking its estimated peak memory against what is free as soon
/// as its sizes are known (`unchecked`: a warning only).
pub fn load_inputs(spec: &RunSpec, unchecked: bool) -> AnyResult<Loaded> {
    let check = |sizes: RunSizes| match check_memory(spec, sizes) {
        Err(e @ ganflow::Error::InsufficientMemory { .. }) if unchecked => {
            eprintln!("warning: {e}");
            Ok(())
        }
        other => other,
    };
    match Inputs::load_checked(spec, &check) {
        Ok(inputs) => Ok(Loaded::Inputs(Box::new(inputs))),
        Err(e @ ganflow::Error::InsufficientMemory { .. }) => {
            eprintln!("error: {e}");
            Ok(Loaded::Refused(ExitCode::from(MEMORY_EXIT_STATUS)))
        }
        Err(e) => Err(e.into()),
    }
}

/// A rise of the energy below this (and below 10 %) is sampling noise, not instability.
const ENERGY_RISE_FLOOR: f64 = 1e-3;

/// Shows a progress bar with the live JSD on standard error, for runs that last longer than
/// about a second, and warns once when the energy rises (a time step beyond the stable
/// limit).
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: bool,
    quiet: bool,
    /// The last recorded (step, energy), and whether the rise warning was given.
    energy: Option<(u64, f64)>,
    /// `||A||²` at every recorded step, for the spectrum comparison (kept only when asked,
    /// so that memory stays flat in the step count otherwise).
    history: Option<Vec<DecayPoint>>,
    warned: bool,
    /// Whether the stall warning was given.
    stall_told: bool,
    dt: TimeStep,
}

impl Progress {
    pub fn new(total: u64, quiet: bool, dt: TimeStep, keep_history: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30} {pos}/{len} steps, ETA {eta}, {msg}")
        {
            bar.set_style(style);
        }
        Self {
            bar,
            started: Instant::now(),
            shown: false,
            quiet,
            energy: None,
            history: keep_history.then(Vec::new),
            warned: false,
            stall_told: false,
            dt,
        }
    }

    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }

    /// `||A||²` at every recorded step seen.
    pub fn history(&self) -> &[DecayPoint] {
        self.history.as_deref().unwrap_or_default()
    }
}

impl Observer for Progress {
    fn observe(&mut self, obs: &Observation<'_>) -> ganflow::Result<ControlFlow<()>> {
        self.bar
            .set_message(format!("jsd {:.4e}", obs.diagnostics.jsd));
        // The flow lowers its energy; a rise well above sampling noise between recorded
        // steps is what a time step beyond the stable limit looks like.
        let e = obs.diagnostics.energy;
        if let Some((step, before)) = self.energy
            && !self.warned
            && e > 1.1 * before + ENERGY_RISE_FLOOR
        {
            self.warned = true;
            self.bar.suspend(|| {
                eprintln!(
                    "warning: the energy rose from {before:.4e} (step {step}) to {e:.4e} (step {}): \
                     --dt {} may be above the stable limit; `ganflow spectrum` estimates it",
                    obs.step, self.dt
                )
            });
        }
        self.energy = Some((obs.step, e));
        if !self.stall_told
            && let Some(s) = stall(obs.field, obs.h_g)
        {
            self.stall_told = true;
            let advice = if s.unseen >= s.swamped {
                "the particles do not see the data through a kernel this narrow: widen it \
                 (--bandwidth auto or knn, which reach across the gaps between the data, or a \
                 larger number), put the features on one scale (--standardize), or use \
                 --loss non-saturating, whose weight does not vanish where D* does"
            } else {
                "the particles sit among the data but see too little of each other: widen the \
                 particles' kernel (--bandwidth-g with a larger number)"
            };
            self.bar.suspend(|| {
                eprintln!(
                    "warning: the flow has stalled at step {}: {:.0} % of the particles see D* \
                     below {STALL_DSTAR} and {:.0} % above {}, and |A|^2 is negligible; {advice}",
                    obs.step,
                    100.0 * s.unseen,
                    100.0 * s.swamped,
                    1.0 - STALL_DSTAR
                )
            });
        }
        if let Some(h) = &mut self.history {
            h.push(DecayPoint {
                t: obs.t,
                connection_norm2: obs.diagnostics.connection_norm2,
            });
        }
        Ok(ControlFlow::Continue(()))
    }

    fn progress(&mut self, step: u64, _t: f64) {
        if !self.shown && !self.quiet && self.started.elapsed().as_secs_f64() > 1.0 {
            // Hidden by indicatif itself when standard error is not a terminal.
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_position(step);
    }
}

/// Turns a run's end into lines and an exit status: the summary and the pictures for a
/// finished run; for an interrupted or failed one, where it is and how to continue it.
pub fn finish(
    result: ganflow::Result<Outcome>,
    folder: &RunFolder,
    signals: &Signals,
    plot: bool,
    predicted: Option<RunSpectrum>,
    history: &[DecayPoint],
) -> AnyResult<ExitCode> {
    let dir = folder.path().display();
    let outcome = match result {
        Ok(o) => o,
        Err(ganflow::Error::Interrupted { step }) => {
            eprintln!(
                "interrupted at step {step}; the run so far is in {dir} (checkpointed); \
                 `ganflow resume {dir}` continues it"
            );
            return Ok(ExitCode::from(signals.exit_code()));
        }
        Err(e) => {
            // The status run.toml now holds: `failed` when the run broke off, unchanged when
            // the request was refused before the run moved (a resume to a step it has
            // passed).
            let status = RunSpec::read_run_toml(&folder.file("run.toml"))
                .map_or_else(|_| "unknown".to_string(), |(_, s)| s.to_string());
            return Err(format!(
                "{e}\nthe run so far is kept in {dir} (status {status} in its run.toml)"
            )
            .into());
        }
    };
    report(&outcome)?;
    if outcome.spec.wants_spectrum() {
        compare_with_spectrum(&outcome, predicted, history)?;
    }
    say(&format!("wrote {dir}"))?;
    if plot {
        match draw_run(
            folder.path(),
            &outcome.inputs.data,
            outcome.inputs.first_axis_unit(),
            None,
            false,
        ) {
            Ok(paths) => {
                for p in paths {
                    say(&format!("wrote {}", p.display()))?;
                }
            }
            Err(e) => {
                eprintln!(
                    "error: drawing failed: {e}\nthe run itself is complete in {dir}; \
                     `ganflow plot {dir}` draws it again"
                );
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--metrics spectrum`: the linearised flow's slowest rate against the decay rate the run
/// measured from 40 % to 80 % of its time (late enough for the fast modes to have died out,
/// early enough to stay above the noise floor of finitely many particles).
fn compare_with_spectrum(
    o: &Outcome,
    predicted: Option<RunSpectrum>,
    history: &[DecayPoint],
) -> AnyResult<()> {
    let predicted = match predicted {
        Some(p) => p,
        None => for_run(&o.spec, &o.inputs, None, 1)?,
    };
    let Some(slowest) = predicted.spectrum.modes().first() else {
        return say("spectrum: no resolved mode");
    };
    let end = o.summary.t;
    let measured = decay_rate_over(history, 0.4 * end, 0.8 * end);
    say(&match measured {
        Some((r, t0, t1)) => format!(
            "spectrum: slowest rate {:.4} predicted (w(1/2) = {}, h_g = {:.4}); decay rate {r:.4} measured over t in [{t0:.3}, {t1:.3}]",
            slowest.rate, predicted.w_half, predicted.h_g
        ),
        None => format!(
            "spectrum: slowest rate {:.4} predicted; too few recorded steps to measure the decay rate",
            slowest.rate
        ),
    })
}

/// The summary of a finished run.
fn report(o: &Outcome) -> AnyResult<()> {
    let s = &o.summary;
    let last = &s.last;
    say(&format!(
        "{} steps, t = {:.4}, stopped: {}; jsd {:.4e}, |A|^2 {:.4e}, mean D* {:.4} (particles) {:.4} (data); h_g {:.4}, h_q {:.4}; {:.2} s",
        s.steps,
        s.t,
        s.reason,
        last.jsd,
        last.connection_norm2,
        last.mean_dstar_particles,
        last.mean_dstar_data,
        o.h_g,
        o.h_q,
        o.seconds,
    ))?;
    let mut extra: Vec<String> = o
        .metrics
        .iter()
        .filter_map(|(name, v)| v.map(|v| format!("{name} {v:.4}")))
        .collect();
    // The summary names the modes covered whenever the target's modes are known.
    if let Some(m) = &o.inputs.modes
        && !extra.iter().any(|e| e.starts_with("modes_covered"))
    {
        let c = mode_coverage(&o.particles, m)?;
        extra.push(format!(
            "modes covered {} of {} (high quality {:.3})",
            c.covered,
            m.centers.len(),
            c.high_quality
        ));
    }
    if !extra.is_empty() {
        say(&extra.join(", "))?;
    }
    Ok(())
}
