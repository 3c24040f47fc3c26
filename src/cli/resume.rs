//! `ganflow resume DIR`: continues a run from its last checkpoint.

use std::process::ExitCode;

use ganflow::run::{Extend, RunFolder, resume as drive_resume};

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
    let mut progress = Progress::new(0, args.options.quiet);
    let result = drive_resume(&folder, extend, &options, &mut progress);
    progress.clear();
    finish(result, &folder, &signals, args.plot)
}
