//! `ganflow plot DIR`: pictures of a run from its files; the data comes back from its
//! `run.toml`.

use ganflow::plot::run_folder::draw_run;
use ganflow::run::{Inputs, RunSpec};

use super::args::PlotArgs;
use super::{AnyResult, parse_list, say};

pub fn plot(args: PlotArgs) -> AnyResult<()> {
    let (spec, _) = RunSpec::read_run_toml(&args.dir.join("run.toml"))?;
    let inputs = Inputs::load(&spec)?;
    let steps: Option<Vec<u64>> = args
        .steps
        .as_deref()
        .map(|s| parse_list("--steps", s))
        .transpose()?;
    for path in draw_run(&args.dir, &inputs.data, steps.as_deref(), args.arrows)? {
        say(&format!("wrote {}", path.display()))?;
    }
    Ok(())
}
