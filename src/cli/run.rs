//! `ganflow run`: the specification from defaults, `--config` and the command line; its
//! inputs; a claimed folder; the driver.

use std::path::Path;
use std::process::ExitCode;

use ganflow::run::inputs::{absolutize, input_files};
use ganflow::run::{RunFolder, start};
use ganflow::spectrum::for_run;

use super::args::RunArgs;
use super::session::{Loaded, Progress, Signals, finish, load_inputs, run_options, warn_costs};
use super::{AnyResult, resolve_spec};

pub fn run(args: RunArgs, given: &[String]) -> AnyResult<ExitCode> {
    let mut spec = resolve_spec(&args.spec, args.config.as_deref(), given)?;
    let signals = Signals::catch()?;
    let options = run_options(&args.options, &signals)?;
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
