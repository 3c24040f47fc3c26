//! `ganflow resume DIR`: continues a run from its last checkpoint.

use std::process::ExitCode;

use ganflow::run::{Extend, RunFolder, RunSpec, resume as drive_resume};

use super::AnyResult;
use super::args::ResumeArgs;
use super::session::{Progress, Signals, finish, run_options};

pub fn resume(args: ResumeArgs) -> AnyResult<ExitCode> {
    let extend = match (args.steps, args.time) {
        (Some(n), _) => Extend::Steps(n),
        (None, Some(t)) => Extend::Time(t),
        (None, None) => Extend::Own,
    };
    let signals = Signals::catch()?;
    let options = run_options(&args.options, &signals)?;
    let folder = RunFolder::open(&args.dir)?;
    // The bar's length: the run's own plan, or the new total.
    let (spec, _) = RunSpec::read_run_toml(&folder.path().join("run.toml"))?;
    let total = match extend {
        Extend::Steps(n) => n,
        Extend::Time(t) => (t / spec.dt.first()).ceil() as u64,
        Extend::Own => spec.planned_steps(),
    };
    let mut progress = Progress::new(total, args.options.quiet, spec.dt, spec.wants_spectrum());
    let result = drive_resume(&folder, extend, &options, &mut progress);
    progress.clear();
    finish(
        result,
        &folder,
        &signals,
        args.plot,
        None,
        progress.history(),
    )
}
