//! The imitation flows: the learners' trajectories move so as to lower a KDE energy against
//! the experts', through the dynamics.
//!
//! A learner trajectory is its free states `s_1..s_T` (`s_0` is its start, fixed); its
//! actions follow from them, so the dynamics hold along any flow by construction.
//!
//! - [`Objective::Path`]: the flow of the particles on whole trajectories, points
//!   `z = (s_1..s_T)` of `R^{T d}`, against the experts' (`s_0` left out: it never moves).
//! - [`Objective::Occupancy`] (GAIL): the energy is taken on the pooled state-action pairs
//!   `(s_t, a_t)`, `t = 0..T-1`, of all learners against all experts'. The flow's velocity
//!   `V = (V_s, V_a)` of the pairs is pulled back through `a_t = (s_{t+1} - s_t) / tau` by
//!   the chain rule: the velocity of `s_t` is
//!   `V_s(s_t, a_t) - V_a(s_t, a_t) / tau + V_a(s_{t-1}, a_{t-1}) / tau`, without the
//!   first two terms at `t = T` (there is no `a_T`). With the variational scheme, whose
//!   pair velocity is `-N_pairs grad E`, this is exactly `-N_pairs` times the gradient of `E`
//!   in the path coordinates.

use super::trajectories::Trajectories;
use crate::error::{Error, Result};
use crate::flow::sim::{FlowConfig, Simulation};
use crate::points::Points;

/// What the learners match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// The pooled state-action pairs (GAIL's occupancy measure).
    Occupancy,
    /// Whole trajectories.
    Path,
}

/// Learners flowing towards experts.
pub struct Imitation {
    objective: Objective,
    learners: Trajectories,
    /// The flow on the objective's points; its data are the experts'.
    sim: Simulation,
    dt: f64,
    step: u64,
}

impl Imitation {
    /// The learners facing the experts under `config` (its scheme, loss, bandwidths,
    /// estimator and `dt`; bandwidths from rules are computed on the experts' points).
    pub fn new(
        objective: Objective,
        config: FlowConfig,
        learners: Trajectories,
        experts: &Trajectories,
    ) -> Result<Self> {
        if (learners.dim, learners.horizon) != (experts.dim, experts.horizon)
            || learners.tau != experts.tau
        {
            return Err(Error::InvalidOption {
                option: "--init".into(),
                message: format!(
                    "the learners ({}-D, T = {}, tau = {}) and the experts ({}-D, T = {}, tau = {}) differ",
                    learners.dim,
                    learners.horizon,
                    learners.tau,
                    experts.dim,
                    experts.horizon,
                    experts.tau
                ),
            });
        }
        let points = points_of(objective, &learners)?;
        let data = points_of(objective, experts)?;
        let dt = config.dt;
        let sim = Simulation::new(config, points, data)?;
        Ok(Self {
            objective,
            learners,
            sim,
            dt,
            step: 0,
        })
    }

    /// The learners now.
    pub fn learners(&self) -> &Trajectories {
        &self.learners
    }

    /// Steps taken.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The objective's energy `E` at the learners now.
    pub fn energy(&self) -> Result<f64> {
        self.sim
            .energy_of(&points_of(self.objective, &self.learners)?)
    }

    /// The velocity of every learner's free states `s_1..s_T`, row-major
    /// `N x T x d`.
    pub fn velocity(&self) -> Result<Vec<f64>> {
        let l = &self.learners;
        let v = self.sim.velocity_of(&points_of(self.objective, l)?)?;
        Ok(match self.objective {
            Objective::Path => v,
            Objective::Occupancy => pull_back(l, &v),
        })
    }

    /// One Euler step of the free states.
    pub fn step(&mut self) -> Result<()> {
        let v = self.velocity()?;
        let l = &self.learners;
        let (d, t_max) = (l.dim, l.horizon);
        let mut states = l.states().to_vec();
        for i in 0..l.len() {
            for t in 1..=t_max {
                for k in 0..d {
                    states[(i * (t_max + 1) + t) * d + k] +=
                        self.dt * v[(i * t_max + t - 1) * d + k];
                }
            }
        }
        self.learners = Trajectories::new(d, t_max, l.tau, states)?;
        self.step += 1;
        Ok(())
    }
}

/// The objective's points of a set of trajectories: `(s_1..s_T)` per trajectory, or the
/// pairs `(s_t, a_t)`, `t = 0..T-1`, pooled.
pub fn points_of(objective: Objective, tr: &Trajectories) -> Result<Points> {
    let (d, t_max) = (tr.dim, tr.horizon);
    let mut coords = Vec::new();
    match objective {
        Objective::Path => {
            for i in 0..tr.len() {
                for t in 1..=t_max {
                    coords.extend_from_slice(tr.state(i, t));
                }
            }
            Points::new("paths", coords, t_max * d)
        }
        Objective::Occupancy => {
            for i in 0..tr.len() {
                for t in 0..t_max {
                    coords.extend_from_slice(tr.state(i, t));
                    coords.extend(tr.action(i, t));
                }
            }
            Points::new("state-action pairs", coords, 2 * d)
        }
    }
}

/// The pairs' velocity `v` (rows `(V_s, V_a)`, trajectory by trajectory, `t = 0..T-1`)
/// pulled back to the free states (module documentation).
fn pull_back(l: &Trajectories, v: &[f64]) -> Vec<f64> {
    let (d, t_max, tau) = (l.dim, l.horizon, l.tau);
    let pair = |i: usize, t: usize| &v[(i * t_max + t) * 2 * d..(i * t_max + t + 1) * 2 * d];
    let mut out = vec![0.0; l.len() * t_max * d];
    for i in 0..l.len() {
        for t in 1..=t_max {
            let o = &mut out[(i * t_max + t - 1) * d..(i * t_max + t) * d];
            let before = pair(i, t - 1);
            for k in 0..d {
                o[k] = before[d + k] / tau;
            }
            if t < t_max {
                let here = pair(i, t);
                for k in 0..d {
                    o[k] += here[k] - here[d + k] / tau;
                }
            }
        }
    }
    out
}
