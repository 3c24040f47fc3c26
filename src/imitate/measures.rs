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
    let (mut above, mut below, mut mixed, mut collisions, mut goal) = (0, 0, 0, 0, 0);
    for i in 0..tr.len() {
        let over: Vec<f64> = (0..=tr.horizon)
            .map(|t| tr.state(i, t))
            .filter(|s| s[0].abs() < OBSTACLE_RADIUS)
            .map(|s| s[1])
            .collect();
        if !over.is_empty() && over.iter().all(|y| *y > 0.0) {
            above += 1;
        } else if !over.is_empty() && over.iter().all(|y| *y < 0.0) {
            below += 1;
        } else {
            mixed += 1;
        }
        if (0..=tr.horizon).any(|t| {
            let s = tr.state(i, t);
            s[0] * s[0] + s[1] * s[1] < OBSTACLE_RADIUS * OBSTACLE_RADIUS
        }) {
            collisions += 1;
        }
        let end = tr.state(i, tr.horizon);
        if ((end[0] - 1.0).powi(2) + end[1] * end[1]).sqrt() < 0.1 {
            goal += 1;
        }
    }
    let share = |k: usize| k as f64 / tr.len() as f64;
    Routes {
        above: share(above),
        below: share(below),
        mixed: share(mixed),
        collisions: share(collisions),
        goal: share(goal),
    }
}

/// `two-goals`' yardstick: the share of trajectories ending within 0.2 of each goal.
pub fn goal_shares(tr: &Trajectories) -> [f64; 2] {
    let mut counts = [0usize; 2];
    for i in 0..tr.len() {
        let end = tr.state(i, tr.horizon);
        for (g, count) in GOALS.iter().zip(counts.iter_mut()) {
            if ((end[0] - g[0]).powi(2) + (end[1] - g[1]).powi(2)).sqrt() < 0.2 {
                *count += 1;
            }
        }
    }
    counts.map(|k| k as f64 / tr.len() as f64)
}
