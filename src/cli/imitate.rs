//! `ganflow imitate`: the specification from defaults, `--config` and the command line; the
//! demonstrations and starts loaded and checked; a claimed folder; the imitation run, with
//! its `run.toml`.

use std::path::Path;

use ganflow::imitate::record::run_imitation;
use ganflow::plot::imitation::draw_imitation;
use ganflow::run::{RunFolder, RunStatus};

use super::args::ImitateArgs;
use super::{AnyResult, read_config, say, set_threads};

pub fn imitate(args: ImitateArgs, given: &[String]) -> AnyResult<()> {
    set_threads(args.threads)?;
    let parsed = toml::Table::try_from(&args.spec)?;
    let config = read_config(args.config.as_deref())?;
    let mut spec = ganflow::imitate::ImitateSpec::merge(
        config.as_ref().map(super::ConfigFile::parts),
        super::given_values(&parsed, given),
    )?;
    // Everything is read and checked before a folder is made; then the paths are made
    // absolute, so that run.toml works from any folder.
    let inputs = spec.inputs()?;
    spec.absolutize()?;
    let run = spec.imitation_run()?;
    let folder = match &args.out {
        Some(out) => RunFolder::claim(out, args.force, &spec.input_files())?,
        None => RunFolder::claim_next(Path::new("runs"))?,
    };
    spec.write_run_toml(&folder, RunStatus::Running)?;
    let quiet = args.quiet;
    let total = spec.steps;
    let mut progress = |k: u64| {
        if !quiet && k.is_multiple_of(50) {
            eprintln!("step {k}/{total}");
        }
    };
    let summary = match run_imitation(&run, &inputs.experts, inputs.start, &folder, &mut progress) {
        Ok(s) => s,
        Err(e) => {
            spec.write_run_toml(&folder, RunStatus::Failed)?;
            return Err(e.into());
        }
    };
    spec.write_run_toml(&folder, RunStatus::Complete)?;
    let values: Vec<String> = summary
        .last
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(name, v)| format!("{name} {v:.4}"))
        .collect();
    say(&format!("{} steps; {}", summary.steps, values.join(", ")))?;
    if args.plot {
        for path in draw_imitation(folder.path(), run.expert)? {
            say(&format!("wrote {}", path.display()))?;
        }
    }
    say(&format!("wrote {}", folder.path().display()))
}
