//! Where learners start, and the behaviour-cloning baseline.
//!
//! - [`random_rollouts`]: learners from the experts' start states driven by random actions
//!   drawn with the experts' per-coordinate action mean and standard deviation;
//! - [`behaviour_cloning`]: a k-nearest-neighbour regression of the action on the state,
//!   fitted to the experts' pairs and rolled out from their start states. Where
//!   demonstrations branch it averages the branches.

use rand_distr::{Distribution, StandardNormal};

use super::trajectories::Trajectories;
use crate::datasets::rng;
use crate::error::Result;

/// Neighbours averaged by [`behaviour_cloning`].
pub const BC_NEIGHBOURS: usize = 5;

/// Per-coordinate mean and standard deviation of the experts' actions.
fn action_moments(experts: &Trajectories) -> (Vec<f64>, Vec<f64>) {
    let d = experts.dim;
    let count = (experts.len() * experts.horizon) as f64;
    let mut mean = vec![0.0; d];
    let mut sq = vec![0.0; d];
    for i in 0..experts.len() {
        for t in 0..experts.horizon {
            for (k, a) in experts.action(i, t).into_iter().enumerate() {
                mean[k] += a / count;
                sq[k] += a * a / count;
            }
        }
    }
    let std = mean
        .iter()
        .zip(&sq)
        .map(|(m, s)| (s - m * m).max(0.0).sqrt())
        .collect();
    (mean, std)
}

/// `n` rollouts of random actions from the experts' start states (learner `i` from expert
/// `i mod M`'s), seeded.
pub fn random_rollouts(experts: &Trajectories, n: usize, seed: u64) -> Result<Trajectories> {
    let (d, t_max, tau) = (experts.dim, experts.horizon, experts.tau);
    let (mean, std) = action_moments(experts);
    let mut r = rng(seed);
    let mut states = Vec::with_capacity(n * (t_max + 1) * d);
    for i in 0..n {
        let mut s = experts.state(i % experts.len(), 0).to_vec();
        states.extend_from_slice(&s);
        for _ in 0..t_max {
            for k in 0..d {
                let z: f64 = StandardNormal.sample(&mut r);
                s[k] += tau * (mean[k] + std[k] * z);
            }
            states.extend_from_slice(&s);
        }
    }
    Trajectories::new(d, t_max, tau, states)
}

/// Behaviour cloning: from each expert's start state, the mean action of the
/// [`BC_NEIGHBOURS`] expert pairs nearest in state (and of every pair tied with the last of
/// them), step by step.
pub fn behaviour_cloning(experts: &Trajectories) -> Result<Trajectories> {
    let (d, t_max, tau) = (experts.dim, experts.horizon, experts.tau);
    let pairs: Vec<(Vec<f64>, Vec<f64>)> = (0..experts.len())
        .flat_map(|i| (0..t_max).map(move |t| (i, t)))
        .map(|(i, t)| (experts.state(i, t).to_vec(), experts.action(i, t)))
        .collect();
    let k = BC_NEIGHBOURS.min(pairs.len());
    let mut states = Vec::with_capacity(experts.len() * (t_max + 1) * d);
    for i in 0..experts.len() {
        let mut s = experts.state(i, 0).to_vec();
        states.extend_from_slice(&s);
        for _ in 0..t_max {
            let mut near: Vec<(f64, usize)> = pairs
                .iter()
                .enumerate()
                .map(|(j, (ps, _))| (ps.iter().zip(&s).map(|(a, b)| (a - b) * (a - b)).sum(), j))
                .collect();
            near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            // Every pair as near as the k-th counts: ties are not broken by file order.
            let reach = near[k - 1].0;
            let chosen: Vec<usize> = near
                .iter()
                .take_while(|(r, _)| *r <= reach)
                .map(|&(_, j)| j)
                .collect();
            let mut a = vec![0.0; d];
            for &j in &chosen {
                a.iter_mut()
                    .zip(&pairs[j].1)
                    .for_each(|(x, y)| *x += y / chosen.len() as f64);
            }
            s.iter_mut().zip(&a).for_each(|(x, y)| *x += tau * y);
            states.extend_from_slice(&s);
        }
    }
    Trajectories::new(d, t_max, tau, states)
}
