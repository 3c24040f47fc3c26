//! One resolved imitation specification: everything that decides an imitation's results
//! (where it writes and how many threads it uses are not part of it). `run.toml` is its
//! serialisation, in the format every run folder shares ([`crate::run::spec_file`]), so
//! `ganflow imitate --config DIR/run.toml` reproduces a folder bit for bit.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::baselines::random_rollouts;
use super::experts::{EXPERT_NAMES, Expert};
use super::flow::Objective;
use super::record::{ImitationRun, Method};
use super::trajectories::{Trajectories, read_demos};
use crate::error::{Result, io_at};
use crate::flow::sim::FlowConfig;
use crate::kde::BandwidthSpec;
use crate::output::write_whole_with;
use crate::run::RunFolder;
use crate::run::spec::{BandwidthText, EstimatorName, LossName, SchemeName, opt_text, text};
use crate::run::spec_file::{self, Command, RunStatus, Specification, option_error, positive};

/// What the learners match, as named on the command line and in `run.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectiveName {
    /// the pooled state-action pairs (GAIL's occupancy measure)
    Occupancy,
    /// whole trajectories, in path space
    Path,
    /// behaviour cloning: k-nearest-neighbour actions rolled out (no flow)
    Bc,
}

/// Where the learners start: rollouts of random actions, or trajectories from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LearnerStart {
    /// Rollouts of random actions with the demonstrations' action mean and deviation.
    Random,
    /// Trajectories read from a CSV in the demonstrations' format.
    File(PathBuf),
}

impl FromStr for LearnerStart {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "" => Err("expected `random` or a CSV file".into()),
            "random" => Ok(Self::Random),
            path => Ok(Self::File(PathBuf::from(path))),
        }
    }
}

impl fmt::Display for LearnerStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Random => f.write_str("random"),
            Self::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Everything that decides an imitation's results. Field docs are the command line's help;
/// the `run.toml` keys are the long options.
#[derive(Clone, Debug, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default, deny_unknown_fields)]
pub struct ImitateSpec {
    /// Demonstrations (CSV traj,t,s0..[,a0..]) [default: --expert's].
    #[arg(long, value_name = "FILE.csv")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demos: Option<PathBuf>,
    /// The built-in expert, without --demos: around-obstacle, two-goals or circle.
    #[arg(long, default_value = "around-obstacle")]
    pub expert: String,
    /// Demonstrations drawn from the expert.
    #[arg(long, default_value_t = 200)]
    pub m: usize,
    /// Steps per demonstration drawn from the expert.
    #[arg(long, value_name = "T", default_value_t = 20)]
    pub horizon: usize,
    /// The dynamics' time step (checked against the demonstrations' actions).
    #[arg(long, default_value_t = 1.0)]
    pub tau: f64,
    /// What the learners match.
    #[arg(long, value_enum, default_value = "path")]
    pub objective: ObjectiveName,
    /// Where the learners start: `random` (rollouts of random actions with the
    /// demonstrations' action mean and standard deviation, from their start states) or a
    /// CSV file in the demonstrations' format.
    #[arg(long, default_value = "random")]
    #[serde(with = "text")]
    pub init: LearnerStart,
    /// Learner trajectories (with --init random).
    #[arg(long, default_value_t = 200)]
    pub n: usize,
    /// Flow steps.
    #[arg(long, default_value_t = 200)]
    pub steps: u64,
    /// Time step of the flow [default: 0.1 on paths, 0.002 on pairs, whose pull-back
    /// through the dynamics is stiffer].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dt: Option<f64>,
    /// Generator loss.
    #[arg(long, value_enum, default_value = "non-saturating")]
    pub loss: LossName,
    /// Velocity scheme.
    #[arg(long, value_enum, default_value = "plugin")]
    pub scheme: SchemeName,
    /// Bandwidth of both densities [default: 1 on paths, auto on pairs].
    #[arg(long)]
    #[serde(with = "opt_text", skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<BandwidthText>,
    /// Density estimator.
    #[arg(long, value_enum, default_value = "exact")]
    pub estimator: EstimatorName,
    /// Relative tolerance of the tree and grid estimators.
    #[arg(long, default_value_t = 1e-6)]
    pub tol: f64,
    /// Record every K flow steps (and the last).
    #[arg(long, default_value_t = 10)]
    pub every: u64,
    /// Random seed (random starts, demonstrations from --expert, sliced distances).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl Default for ImitateSpec {
    fn default() -> Self {
        Self {
            demos: None,
            expert: "around-obstacle".into(),
            m: 200,
            horizon: 20,
            tau: 1.0,
            objective: ObjectiveName::Path,
            init: LearnerStart::Random,
            n: 200,
            steps: 200,
            dt: None,
            loss: LossName::NonSaturating,
            scheme: SchemeName::Plugin,
            bandwidth: None,
            estimator: EstimatorName::Exact,
            tol: 1e-6,
            every: 10,
            seed: 0,
        }
    }
}

impl Specification for ImitateSpec {
    const COMMAND: Command = Command::Imitate;
    const RERUN: &'static str = "`ganflow imitate --config run.toml` runs this again";
    fn check(&self) -> Result<()> {
        ImitateSpec::check(self)
    }
}

/// The demonstrations and the learners' start, loaded and checked.
#[derive(Clone, Debug)]
pub struct ImitationInputs {
    /// The demonstrations.
    pub experts: Trajectories,
    /// The learners at flow time 0.
    pub start: Trajectories,
}

impl ImitateSpec {
    /// Merges the defaults, a configuration file (`config`: path and contents; an imitation
    /// folder's `run.toml` works) and the options given on the command line, then checks.
    pub fn merge(config: Option<(&Path, &str)>, given: toml::Table) -> Result<Self> {
        spec_file::merge(config, given)
    }

    /// Reads an imitation folder's `run.toml`: the specification and the status.
    pub fn read_run_toml(path: &Path) -> Result<(Self, RunStatus)> {
        spec_file::read(path)
    }

    /// Writes `run.toml` into `folder` with `status`, whole or not at all.
    pub fn write_run_toml(&self, folder: &RunFolder, status: RunStatus) -> Result<()> {
        let text = spec_file::text(self, status)?;
        let path = folder.file("run.toml");
        write_whole_with(&path, |w| {
            w.write_all(text.as_bytes()).map_err(io_at(&path))
        })
    }

    /// Checks every rule that needs no file, naming the option that breaks it.
    pub fn check(&self) -> Result<()> {
        positive("--tau", self.tau)?;
        if let Some(dt) = self.dt {
            positive("--dt", dt)?;
        }
        if !(self.tol > 0.0 && self.tol < 1.0) {
            return Err(option_error(
                "--tol",
                format!("must be in (0, 1), got {}", self.tol),
            ));
        }
        if self.every == 0 {
            return Err(option_error("--every", "must be at least 1, got 0"));
        }
        if self.demos.is_none() {
            self.expert()?;
            if self.m == 0 || self.horizon == 0 {
                return Err(option_error("--m and --horizon", "must be at least 1"));
            }
        }
        if self.init == LearnerStart::Random && self.n == 0 {
            return Err(option_error("--n", "must be at least 1, got 0"));
        }
        self.flow_config().estimator.validate()
    }

    /// The built-in expert the demonstrations come from (`None` with `--demos`).
    pub fn expert(&self) -> Result<Option<Expert>> {
        if self.demos.is_some() {
            return Ok(None);
        }
        Expert::by_name(&self.expert).map(Some).ok_or_else(|| {
            option_error(
                "--expert",
                format!(
                    "unknown {:?}; one of: {}",
                    self.expert,
                    EXPERT_NAMES.join(", ")
                ),
            )
        })
    }

    /// The method: a flow with its objective, or behaviour cloning.
    pub fn method(&self) -> Method {
        match self.objective {
            ObjectiveName::Occupancy => Method::Flow(Objective::Occupancy),
            ObjectiveName::Path => Method::Flow(Objective::Path),
            ObjectiveName::Bc => Method::BehaviourCloning,
        }
    }

    /// The flow's configuration, with the defaults that depend on the objective.
    pub fn flow_config(&self) -> FlowConfig {
        let on_paths = self.objective != ObjectiveName::Occupancy;
        let bandwidth = match self.bandwidth {
            Some(b) => b.0,
            None if on_paths => BandwidthSpec::fixed(1.0),
            None => BandwidthSpec::default(),
        };
        FlowConfig {
            scheme: self.scheme.into(),
            loss: self.loss.into(),
            bandwidth_g: bandwidth,
            bandwidth_q: bandwidth,
            estimator: self.estimator.with_tol(self.tol),
            dt: self.dt.unwrap_or(if on_paths { 0.1 } else { 0.002 }),
            ..FlowConfig::default()
        }
    }

    /// How the imitation runs.
    pub fn imitation_run(&self) -> Result<ImitationRun> {
        Ok(ImitationRun {
            method: self.method(),
            config: self.flow_config(),
            steps: self.steps,
            every: self.every,
            expert: self.expert()?,
            seed: self.seed,
        })
    }

    /// The files it reads (for the output folder's safety checks).
    pub fn input_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.demos.iter().cloned().collect();
        if let LearnerStart::File(p) = &self.init {
            files.push(p.clone());
        }
        files
    }

    /// Makes its file paths absolute, so that `run.toml` works from any folder.
    pub fn absolutize(&mut self) -> Result<()> {
        let abs = |p: &Path| -> Result<PathBuf> { std::fs::canonicalize(p).map_err(io_at(p)) };
        if let Some(p) = &self.demos {
            self.demos = Some(abs(p)?);
        }
        if let LearnerStart::File(p) = &self.init {
            self.init = LearnerStart::File(abs(p)?);
        }
        Ok(())
    }

    /// Reads or draws the demonstrations and the learners' start, every rule checked.
    pub fn inputs(&self) -> Result<ImitationInputs> {
        let experts = match (&self.demos, self.expert()?) {
            (Some(path), _) => read_demos(path, self.tau)?,
            (None, Some(e)) => e.demos(self.m, self.horizon, self.tau, self.seed)?,
            (None, None) => unreachable!("expert() is Some without --demos"),
        };
        let start = match &self.init {
            LearnerStart::Random => random_rollouts(&experts, self.n, self.seed.wrapping_add(1))?,
            LearnerStart::File(path) => {
                let s = read_demos(path, self.tau)?;
                if s.horizon != experts.horizon || s.dim != experts.dim {
                    return Err(option_error(
                        "--init",
                        format!(
                            "{}: trajectories of {} steps in {}-D, the demonstrations' have {} in {}-D",
                            path.display(),
                            s.horizon,
                            s.dim,
                            experts.horizon,
                            experts.dim
                        ),
                    ));
                }
                s
            }
        };
        Ok(ImitationInputs { experts, start })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every typed field survives run.toml: written, read back, equal.
    #[test]
    fn run_toml_round_trips() {
        let spec = ImitateSpec {
            demos: Some(PathBuf::from("/x/demos.csv")),
            init: LearnerStart::File(PathBuf::from("/x/start.csv")),
            objective: ObjectiveName::Occupancy,
            bandwidth: Some("0.25".parse().unwrap()),
            dt: Some(0.003),
            loss: LossName::Minimax,
            ..ImitateSpec::default()
        };
        let text = spec_file::text(&spec, RunStatus::Complete).unwrap();
        assert!(text.contains("command = \"imitate\""), "{text}");
        assert!(text.contains("bandwidth = \"0.25\""), "{text}");
        let back = ImitateSpec::merge(Some((Path::new("run.toml"), &text)), toml::Table::new())
            .unwrap_or_else(|e| panic!("{e}"));
        // merge checks, and the check does not read files: the paths need not exist.
        assert_eq!(back, spec);
    }

    /// A flow's run.toml is refused by imitate, and the other way round, naming the command.
    #[test]
    fn run_toml_of_another_command_is_refused() {
        let run = crate::run::RunSpec::default()
            .to_run_toml(RunStatus::Complete)
            .unwrap();
        let e = ImitateSpec::merge(Some((Path::new("a/run.toml"), &run)), toml::Table::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a/run.toml") && e.contains("`ganflow run --config`"),
            "{e}"
        );
        let imitate = spec_file::text(&ImitateSpec::default(), RunStatus::Complete).unwrap();
        let e = crate::run::RunSpec::merge(
            Some((Path::new("b/run.toml"), &imitate)),
            toml::Table::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("b/run.toml") && e.contains("`ganflow imitate --config`"),
            "{e}"
        );
    }

    /// Each rule names the option it checks.
    #[test]
    fn rules_name_their_option() {
        let cases: [(ImitateSpec, &str); 5] = [
            (
                ImitateSpec {
                    tau: 0.0,
                    ..Default::default()
                },
                "--tau",
            ),
            (
                ImitateSpec {
                    dt: Some(-1.0),
                    ..Default::default()
                },
                "--dt",
            ),
            (
                ImitateSpec {
                    every: 0,
                    ..Default::default()
                },
                "--every",
            ),
            (
                ImitateSpec {
                    expert: "maze".into(),
                    ..Default::default()
                },
                "--expert",
            ),
            (
                ImitateSpec {
                    n: 0,
                    ..Default::default()
                },
                "--n",
            ),
        ];
        for (spec, option) in cases {
            let e = spec.check().unwrap_err().to_string();
            assert!(e.starts_with(&format!("{option}: ")), "{e}");
        }
    }
}
