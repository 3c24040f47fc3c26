//! `ganflow demos`: demonstrations of a built-in expert, as CSV.

use ganflow::imitate::{EXPERT_NAMES, Expert};

use super::args::DemosArgs;
use super::{AnyResult, write_output};

pub fn demos(args: DemosArgs) -> AnyResult<()> {
    let expert = Expert::by_name(&args.name).ok_or_else(|| {
        format!(
            "unknown expert {:?}; one of: {}",
            args.name,
            EXPERT_NAMES.join(", ")
        )
    })?;
    if args.n == 0 {
        return Err("--n: must be at least 1, got 0".into());
    }
    if args.horizon == 0 {
        return Err("--horizon: must be at least 1, got 0".into());
    }
    if !(args.tau > 0.0 && args.tau.is_finite()) {
        return Err(format!("--tau: must be > 0 and finite, got {}", args.tau).into());
    }
    let demos = expert.demos(args.n, args.horizon, args.tau, args.seed)?;
    write_output(args.out.as_deref(), |w| Ok(demos.write_csv(w)?))
}
