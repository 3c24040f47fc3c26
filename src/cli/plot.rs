//! `ganflow plot DIR`: pictures of a run from its files; the data comes back from its
//! `run.toml`. An imitation's folder is drawn from its `demos.csv` and `paths.csv`.

use ganflow::imitate::ImitateSpec;
use ganflow::plot::imitation::draw_imitation;
use ganflow::plot::run_folder::draw_run;
use ganflow::run::{Inputs, RunSpec};

use super::args::PlotArgs;
use super::{AnyResult, parse_list, say};

pub fn plot(args: PlotArgs) -> AnyResult<()> {
    // An imitation's folder: its demonstrations and learners' paths, over the expert's
    // environment when its run.toml names a built-in one.
    if args.dir.join("paths.csv").exists() {
        let run_toml = args.dir.join("run.toml");
        let expert = if run_toml.exists() {
            ImitateSpec::read_run_toml(&run_toml)?.0.expert()?
        } else {
            None
        };
        for path in draw_imitation(&args.dir, expert)? {
            say(&format!("wrote {}", path.display()))?;
        }
        return Ok(());
    }
    let (spec, _) = RunSpec::read_run_toml(&args.dir.join("run.toml"))?;
    let inputs = Inputs::load(&spec)?;
    let steps: Option<Vec<u64>> = args
        .steps
        .as_deref()
        .map(|s| parse_list("--steps", s))
        .transpose()?;
    for path in draw_run(
        &args.dir,
        &inputs.data,
        inputs.first_axis_unit(),
        steps.as_deref(),
        args.arrows,
    )? {
        say(&format!("wrote {}", path.display()))?;
    }
    Ok(())
}
