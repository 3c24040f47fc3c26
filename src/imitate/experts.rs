//! Built-in demonstrators in the plane, for `ganflow demos`. Each trajectory is a smooth
//! route with a little seeded variation; its states are exact points of the route at
//! `u = t / T`, so the actions are the route's increments over `tau`.

use rand_distr::{Distribution, StandardNormal};

use super::trajectories::Trajectories;
use crate::datasets::rng;
use crate::error::{Error, Result};
use crate::num::Portable;

/// The names `ganflow demos` takes.
pub const EXPERT_NAMES: [&str; 3] = ["around-obstacle", "two-goals", "circle"];

/// The obstacle of `around-obstacle`: a disc of this radius at the origin.
pub const OBSTACLE_RADIUS: f64 = 0.5;
/// The goals of `two-goals`.
pub const GOALS: [[f64; 2]; 2] = [[-1.0, 1.0], [1.0, 1.0]];

/// A built-in demonstrator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expert {
    /// From (-1, 0) to (1, 0) around the obstacle at a steady pace along x,
    /// `(-1 + 2u, ± h sin(pi u))` with `h = 0.8 ± 0.05` (clipped to `0.7..0.9`): at least
    /// 0.69 from the origin. Even-numbered trajectories above, odd ones below.
    AroundObstacle,
    /// From the origin to `(-1, 1)` (even-numbered) or `(1, 1)` (odd), along the straight
    /// line with a sideways bump of `0.05 N(0, 1) sin(pi u)`.
    TwoGoals,
    /// Once around the circle of radius `1 ± 0.05` (clipped to `0.9..1.1`),
    /// counter-clockwise from angle 0: one route, curved.
    Circle,
}

impl Expert {
    /// The expert by its command-line name.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "around-obstacle" => Some(Self::AroundObstacle),
            "two-goals" => Some(Self::TwoGoals),
            "circle" => Some(Self::Circle),
            _ => None,
        }
    }

    /// `n` trajectories of `horizon` steps with time step `tau`, drawn from `seed`.
    pub fn demos(&self, n: usize, horizon: usize, tau: f64, seed: u64) -> Result<Trajectories> {
        if n == 0 || horizon == 0 {
            return Err(Error::OutOfRange {
                what: "demonstrations and their horizon",
                expected: "at least 1 each",
                value: 0.0,
            });
        }
        let mut r = rng(seed);
        let pi = std::f64::consts::PI;
        let mut states = Vec::with_capacity(n * (horizon + 1) * 2);
        for i in 0..n {
            let z: f64 = StandardNormal.sample(&mut r);
            let z = z.clamp(-2.0, 2.0);
            for t in 0..=horizon {
                let u = t as f64 / horizon as f64;
                let p = match self {
                    Self::AroundObstacle => {
                        let side = if i % 2 == 0 { 1.0 } else { -1.0 };
                        let h = 0.8 + 0.05 * z;
                        [-1.0 + 2.0 * u, side * h * (pi * u).sin_p()]
                    }
                    Self::TwoGoals => {
                        let g = GOALS[i % 2];
                        let len = (g[0] * g[0] + g[1] * g[1]).sqrt();
                        let normal = [-g[1] / len, g[0] / len];
                        let bump = 0.05 * z * (pi * u).sin_p();
                        [u * g[0] + bump * normal[0], u * g[1] + bump * normal[1]]
                    }
                    Self::Circle => {
                        let radius = 1.0 + 0.05 * z;
                        let a = 2.0 * pi * u;
                        [radius * a.cos_p(), radius * a.sin_p()]
                    }
                };
                states.extend(p);
            }
        }
        Trajectories::new(2, horizon, tau, states)
    }
}
