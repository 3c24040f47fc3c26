//! How close learners are to experts: sliced Wasserstein-2 on the pooled state-action pairs
//! and on whole paths, and the built-in experts' own yardsticks.

use super::experts::{GOALS, OBSTACLE_RADIUS};
use super::flow::{Objective, points_of};
use super::trajectories::Trajectories;
use crate::error::Result;
use crate::metrics::sliced_w2;

/// Directions of the sliced distances.
pub const SLICES: usize = 50;

/// Sliced W2 between the pooled state-action pairs, and between the paths.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distances {
    /// Over the pooled `(s_t, a_t)` pairs.
    pub pairs: f64,
    /// Over the paths `(s_1..s_T)`.
    pub paths: f64,
}

/// [`Distances`] from `learners` to `experts`, with seeded directions.
pub fn distances(learners: &Trajectories, experts: &Trajectories, seed: u64) -> Result<Distances> {
    Ok(Distances {
        pairs: sliced_w2(
            &points_of(Objective::Occupancy, learners)?,
            &points_of(Objective::Occupancy, experts)?,
            SLICES,
            seed,
        )?,
        paths: sliced_w2(
            &points_of(Objective::Path, learners)?,
            &points_of(Objective::Path, experts)?,
            SLICES,
            seed,
        )?,
    })
}

/// `around-obstacle`'s yardsticks: the shares of trajectories passing the obstacle above,
/// below, or both (their states over the obstacle's width, `|s0| < 0.5`, on both sides),
/// the share with a state inside the obstacle, and the share ending within 0.1 of the goal
/// (1, 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Routes {
    /// Passing above.
    pub above: f64,
    /// Passing below.
    pub below: f64,
    /// Crossing from one side to the other over the obstacle, or never over it.
    pub mixed: f64,
    /// With a state inside the obstacle.
    pub collisions: f64,
    /// Ending within 0.1 of (1, 0).
    pub goal: f64,
}

/// [`Routes`] of 2-D trajectories.
pub fn routes(tr: &Trajectories) -> Routes {
    let n = tr.len() as f64;
    let mut r = Routes {
        above: 0.0,
        below: 0.0,
        mixed: 0.0,
        collisions: 0.0,
        goal: 0.0,
    };
    for i in 0..tr.len() {
        let over: Vec<f64> = (0..=tr.horizon)
            .map(|t| tr.state(i, t))
            .filter(|s| s[0].abs() < OBSTACLE_RADIUS)
            .map(|s| s[1])
            .collect();
        if !over.is_empty() && over.iter().all(|y| *y > 0.0) {
            r.above += 1.0 / n;
        } else if !over.is_empty() && over.iter().all(|y| *y < 0.0) {
            r.below += 1.0 / n;
        } else {
            r.mixed += 1.0 / n;
        }
        if (0..=tr.horizon).any(|t| {
            let s = tr.state(i, t);
            s[0] * s[0] + s[1] * s[1] < OBSTACLE_RADIUS * OBSTACLE_RADIUS
        }) {
            r.collisions += 1.0 / n;
        }
        let end = tr.state(i, tr.horizon);
        if ((end[0] - 1.0).powi(2) + end[1] * end[1]).sqrt() < 0.1 {
            r.goal += 1.0 / n;
        }
    }
    r
}

/// `two-goals`' yardstick: the share of trajectories ending within 0.2 of each goal.
pub fn goal_shares(tr: &Trajectories) -> [f64; 2] {
    let n = tr.len() as f64;
    let mut shares = [0.0; 2];
    for i in 0..tr.len() {
        let end = tr.state(i, tr.horizon);
        for (g, share) in GOALS.iter().zip(shares.iter_mut()) {
            if ((end[0] - g[0]).powi(2) + (end[1] - g[1]).powi(2)).sqrt() < 0.2 {
                *share += 1.0 / n;
            }
        }
    }
    shares
}
