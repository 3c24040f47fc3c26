//! Imitation as a flow on trajectories (GAIL's geometry): a point mass in `d` dimensions
//! moved by `s_{t+1} = s_t + tau a_t`, demonstrations of it, and built-in experts.
//!
//! - [`trajectories`]: a set of trajectories and its CSV format, `traj,t,s0..[,a0..]`, read
//!   with every rule checked and named (file, line, column);
//! - [`experts`]: the built-in demonstrators that `ganflow demos` writes.

pub mod experts;
pub mod trajectories;

pub use experts::{EXPERT_NAMES, Expert};
pub use trajectories::{Trajectories, read_demos};
