//! `ganflow run`: the specification from defaults, `--config` and the command line; its
//! inputs; a claimed folder; the driver.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use ganflow::run::inputs::{absolutize, input_files};
use ganflow::run::{Inputs, RunFolder, RunSpec, start};

use super::AnyResult;
use super::args::RunArgs;
use super::session::{Progress, Signals, finish, run_options, warn_costs};

pub fn run(args: RunArgs, given: &[String]) -> AnyResult<ExitCode> {
    let mut spec = resolve(&args, given)?;
    let signals = Signals::catch()?;
    let options = run_options(&args.options, &signals)?;
    // Inputs first, under the names the user gave: a bad file is reported before any folder
    // is made. Then the paths are made absolute, so that run.toml works from any folder.
    let inputs = Inputs::load(&spec)?;
    absolutize(&mut spec)?;
    warn_costs(&spec, &inputs);
    let folder = match &args.out {
        Some(out) => RunFolder::claim(out, args.force, &input_files(&spec))?,
        None => RunFolder::claim_next(Path::new("runs"))?,
    };
    let mut progress = Progress::new(spec.planned_steps(), args.options.quiet);
    let result = start(&spec, inputs, &folder, &options, &mut progress);
    progress.clear();
    finish(result, &folder, &signals, args.plot)
}

/// Defaults, then `--config`, then the options given on the command line.
fn resolve(args: &RunArgs, given: &[String]) -> AnyResult<RunSpec> {
    let parsed = toml::Table::try_from(&args.spec)?;
    let mut overrides = toml::Table::new();
    for id in given {
        let key = id.replace('_', "-");
        if let Some(v) = parsed.get(&key) {
            overrides.insert(key, v.clone());
        }
    }
    let text;
    let config = match &args.config {
        Some(path) => {
            text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Some((path.as_path(), text.as_str()))
        }
        None => None,
    };
    Ok(RunSpec::merge(config, overrides)?)
}
