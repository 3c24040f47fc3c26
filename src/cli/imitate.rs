//! `ganflow imitate`: demonstrations and starts loaded and checked, a claimed folder, the
//! imitation run.

use std::path::{Path, PathBuf};

use ganflow::FlowConfig;
use ganflow::imitate::baselines::random_rollouts;
use ganflow::imitate::flow::Objective;
use ganflow::imitate::record::{ImitationRun, Method, run_imitation};
use ganflow::imitate::{EXPERT_NAMES, Expert, read_demos};
use ganflow::kde::BandwidthSpec;
use ganflow::run::RunFolder;

use super::args::{ImitateArgs, ObjectiveName};
use super::{AnyResult, say, set_threads};

pub fn imitate(args: ImitateArgs) -> AnyResult<()> {
    set_threads(args.threads)?;
    // Everything is read and checked before a folder is made.
    let (experts, expert) = match &args.demos {
        Some(path) => (read_demos(path, args.tau)?, None),
        None => {
            let e = Expert::by_name(&args.expert).ok_or_else(|| {
                format!(
                    "--expert: unknown {:?}; one of: {}",
                    args.expert,
                    EXPERT_NAMES.join(", ")
                )
            })?;
            if args.m == 0 || args.horizon == 0 {
                return Err("--m and --horizon: must be at least 1".into());
            }
            (e.demos(args.m, args.horizon, args.tau, args.seed)?, Some(e))
        }
    };
    let start = if args.init == "random" {
        if args.n == 0 {
            return Err("--n: must be at least 1, got 0".into());
        }
        random_rollouts(&experts, args.n, args.seed.wrapping_add(1))?
    } else {
        let s = read_demos(Path::new(&args.init), args.tau)?;
        if s.horizon != experts.horizon || s.dim != experts.dim {
            return Err(format!(
                "--init {}: trajectories of {} steps in {}-D, the demonstrations' have {} in {}-D",
                args.init, s.horizon, s.dim, experts.horizon, experts.dim
            )
            .into());
        }
        s
    };
    let (method, path_space) = match args.objective {
        ObjectiveName::Occupancy => (Method::Flow(Objective::Occupancy), false),
        ObjectiveName::Path => (Method::Flow(Objective::Path), true),
        ObjectiveName::Bc => (Method::BehaviourCloning, true),
    };
    let dt = args.dt.unwrap_or(if path_space { 0.1 } else { 0.002 });
    if !(dt > 0.0 && dt.is_finite()) {
        return Err(format!("--dt: must be > 0 and finite, got {dt}").into());
    }
    let bandwidth = match args.bandwidth {
        Some(b) => b.0,
        None if path_space => BandwidthSpec::fixed(1.0),
        None => BandwidthSpec::default(),
    };
    let config = FlowConfig {
        scheme: args.scheme.into(),
        loss: args.loss.into(),
        bandwidth_g: bandwidth,
        bandwidth_q: bandwidth,
        estimator: args.estimator.with_tol(args.tol),
        dt,
        ..FlowConfig::default()
    };
    config.estimator.validate()?;
    let mut inputs: Vec<PathBuf> = args.demos.iter().cloned().collect();
    if args.init != "random" {
        inputs.push(PathBuf::from(&args.init));
    }
    let folder = match &args.out {
        Some(out) => RunFolder::claim(out, args.force, &inputs)?,
        None => RunFolder::claim_next(Path::new("runs"))?,
    };
    let run = ImitationRun {
        method,
        config,
        steps: args.steps,
        every: args.every,
        expert,
        seed: args.seed,
    };
    let quiet = args.quiet;
    let total = args.steps;
    let mut progress = |k: u64| {
        if !quiet && k.is_multiple_of(50) {
            eprintln!("step {k}/{total}");
        }
    };
    let summary = run_imitation(&run, &experts, start, &folder, &mut progress)?;
    let values: Vec<String> = summary
        .last
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(name, v)| format!("{name} {v:.4}"))
        .collect();
    say(&format!("{} steps; {}", summary.steps, values.join(", ")))?;
    say(&format!("wrote {}", folder.path().display()))
}
