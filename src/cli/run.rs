//! `ganflow run`: the specification from defaults, `--config` and the command line; its
//! inputs; a claimed folder; the driver.

use std::path::Path;
use std::process::ExitCode;

use ganflow::run::inputs::{absolutize, input_files};
use ganflow::run::{Inputs, RunFolder, follow, start};
use ganflow::spectrum::for_run;

use super::args::RunArgs;
use super::job::Job;
use super::session::{Loaded, Progress, Signals, finish, load_inputs, run_options, warn_costs};
use super::{AnyResult, resolve_spec, set_threads};

/// `ganflow run`, as this process's part of `job`: rank 0 runs and writes, every other
/// rank follows it; a failure on any rank stops them all.
pub fn run(args: RunArgs, given: &[String], job: &Job) -> AnyResult<ExitCode> {
    if job.rank() > 0 {
        return job.settle(follow_rank(args, given));
    }
    job.settle(lead(args, given, job.size() > 1))
}

/// A rank other than 0: the same specification and inputs as rank 0, its simulation
/// stepped in step with rank 0's, nothing written or printed.
fn follow_rank(args: RunArgs, given: &[String]) -> AnyResult<ExitCode> {
    let mut spec = resolve_spec(&args.spec, args.config.as_deref(), given)?;
    set_threads(args.options.threads)?;
    let inputs = Inputs::load(&spec)?;
    inputs.resolve_time_step(&mut spec)?;
    absolutize(&mut spec)?;
    follow(&spec, inputs)?;
    Ok(ExitCode::SUCCESS)
}

/// Rank 0, or the only process: the run with its folder and outputs.
fn lead(args: RunArgs, given: &[String], distributed: bool) -> AnyResult<ExitCode> {
    let mut spec = resolve_spec(&args.spec, args.config.as_deref(), given)?;
    let signals = Signals::catch()?;
    let mut options = run_options(&args.options, &signals)?;
    options.distributed = distributed;
    // Inputs first, under the names the user gave: a bad file is reported before any folder
    // is made. Then the paths are made absolute, so that run.toml works from any folder.
    // The estimated peak memory is checked against what is free before the points are made.
    let inputs = match load_inputs(&spec, args.options.no_memory_check)? {
        Loaded::Inputs(inputs) => *inputs,
        Loaded::Refused(status) => return Ok(status),
    };
    inputs.resolve_time_step(&mut spec)?;
    absolutize(&mut spec)?;
    warn_costs(&spec, &inputs);
    // Computed before the run, so that a run it is not defined for is refused at once.
    let predicted = spec
        .wants_spectrum()
        .then(|| for_run(&spec, &inputs, None, 1))
        .transpose()?;
    let folder = match &args.out {
        Some(out) => RunFolder::claim(out, args.force, &input_files(&spec))?,
        None => RunFolder::claim_next(Path::new("runs"))?,
    };
    let mut progress = Progress::new(
        spec.planned_steps(),
        args.options.quiet,
        spec.dt,
        spec.wants_spectrum(),
    );
    let result = start(&spec, inputs, &folder, &options, &mut progress);
    progress.clear();
    finish(
        result,
        &folder,
        &signals,
        args.plot,
        predicted,
        progress.history(),
    )
}
