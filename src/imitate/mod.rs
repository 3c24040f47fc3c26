//! Imitation as a flow on trajectories (GAIL's geometry): a point mass in `d` dimensions
//! moved by `s_{t+1} = s_t + tau a_t`, demonstrations of it, and built-in experts.
//!
//! - [`trajectories`]: a set of trajectories and its CSV format, `traj,t,s0..[,a0..]`, read
//!   with every rule checked and named (file, line, column);
//! - [`experts`]: the built-in demonstrators that `ganflow demos` writes;
//! - [`flow`]: the learners' flows, on whole paths or on the pooled state-action pairs
//!   (occupancy, pulled back through the dynamics);
//! - [`baselines`]: random rollouts (where learners start) and behaviour cloning;
//! - [`measures`]: sliced W2 on pairs and paths, and the experts' own yardsticks;
//! - [`record`]: an imitation run into a run folder (`paths.csv`, `metrics.csv`,
//!   `final_paths.csv`);
//! - [`spec`]: what decides an imitation's results, merged from the command line and a
//!   configuration file, and written as the folder's `run.toml`.

pub mod baselines;
pub mod experts;
pub mod flow;
pub mod measures;
pub mod record;
pub mod spec;
pub mod trajectories;

pub use experts::{EXPERT_NAMES, Expert};
pub use flow::{Imitation, Objective};
pub use spec::{ImitateSpec, LearnerStart, ObjectiveName};
pub use trajectories::{Trajectories, read_demos};
