//! Trajectories of the single integrator `s_{t+1} = s_t + tau a_t`, `t = 0..T-1`.
//!
//! A trajectory is its `T + 1` states; its actions follow from them,
//! `a_t = (s_{t+1} - s_t) / tau`, so the dynamics hold by construction. The CSV format is
//! one row per state, `traj,t,s0..s{d-1}[,a0..a{d-1}]`: a trajectory's rows are
//! consecutive, `t` runs 0, 1, .., T, and the last state's action cells are empty. Actions,
//! where a file gives them, must agree with the states to [`ACTION_TOL`].

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result, io_at};
use crate::output::fmt_f64;

/// Given actions may differ from `(s_{t+1} - s_t) / tau` by this much, relative to
/// `1 + |a|` (a CSV written with shortest round-trip numbers differs by far less).
pub const ACTION_TOL: f64 = 1e-6;

/// `n` trajectories of `horizon + 1` states in `dim` dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct Trajectories {
    /// The dimension of a state.
    pub dim: usize,
    /// `T`: actions per trajectory (states: `T + 1`).
    pub horizon: usize,
    /// The time step of the dynamics.
    pub tau: f64,
    /// States, trajectory by trajectory, `t = 0..=T`, each `dim` numbers.
    states: Vec<f64>,
}

impl Trajectories {
    /// From states laid out trajectory by trajectory (`(T + 1) d` numbers each).
    pub fn new(dim: usize, horizon: usize, tau: f64, states: Vec<f64>) -> Result<Self> {
        crate::error::check_positive("tau", tau)?;
        let per = (horizon + 1) * dim;
        if dim == 0 || horizon == 0 || states.is_empty() || !states.len().is_multiple_of(per) {
            return Err(Error::Ragged {
                what: "trajectory states",
                len: states.len(),
                dim: per,
            });
        }
        if let Some(pos) = states.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "trajectory states",
                index: pos / dim,
                coord: pos % dim,
                value: states[pos],
            });
        }
        Ok(Self {
            dim,
            horizon,
            tau,
            states,
        })
    }

    /// The number of trajectories.
    pub fn len(&self) -> usize {
        self.states.len() / ((self.horizon + 1) * self.dim)
    }

    /// Whether there is none (never: construction refuses it).
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// State `t` of trajectory `i`.
    pub fn state(&self, i: usize, t: usize) -> &[f64] {
        let at = (i * (self.horizon + 1) + t) * self.dim;
        &self.states[at..at + self.dim]
    }

    /// Action `t < T` of trajectory `i`: `(s_{t+1} - s_t) / tau`.
    pub fn action(&self, i: usize, t: usize) -> Vec<f64> {
        self.state(i, t + 1)
            .iter()
            .zip(self.state(i, t))
            .map(|(b, a)| (b - a) / self.tau)
            .collect()
    }

    /// All states, trajectory by trajectory.
    pub fn states(&self) -> &[f64] {
        &self.states
    }

    /// Writes the CSV format, actions included.
    pub fn write_csv<W: Write>(&self, w: W) -> std::result::Result<(), csv::Error> {
        let d = self.dim;
        let mut out = csv::Writer::from_writer(w);
        let mut header = vec!["traj".to_string(), "t".to_string()];
        header.extend((0..d).map(|k| format!("s{k}")));
        header.extend((0..d).map(|k| format!("a{k}")));
        out.write_record(&header)?;
        for i in 0..self.len() {
            for t in 0..=self.horizon {
                let mut row = vec![i.to_string(), t.to_string()];
                row.extend(self.state(i, t).iter().map(|v| fmt_f64(*v)));
                if t < self.horizon {
                    row.extend(self.action(i, t).into_iter().map(fmt_f64));
                } else {
                    row.extend((0..d).map(|_| String::new()));
                }
                out.write_record(&row)?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

/// Reads demonstrations from `path` with the dynamics' time step `tau`. Errors name the
/// file, line and column: a header that is not `traj,t,s0..[,a0..]`, a cell that is not a
/// number, a trajectory whose rows are not together, a gap in `t`, a trajectory of another
/// length than the first, an action that contradicts the states.
pub fn read_demos(path: &Path, tau: f64) -> Result<Trajectories> {
    crate::error::check_positive("--tau", tau)?;
    let text = std::fs::read_to_string(path).map_err(io_at(path))?;
    let err = |line: usize, column: Option<usize>, message: String| Error::Csv {
        path: path.to_path_buf(),
        line: line as u64,
        column,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(err(0, None, "is empty".into()));
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let s_count = names.iter().filter(|n| n.starts_with('s')).count();
    let a_count = names.iter().filter(|n| n.starts_with('a')).count();
    let expected: Vec<String> = ["traj".to_string(), "t".to_string()]
        .into_iter()
        .chain((0..s_count).map(|k| format!("s{k}")))
        .chain((0..a_count).map(|k| format!("a{k}")))
        .collect();
    if s_count == 0 || (a_count != 0 && a_count != s_count) || names != expected {
        return Err(err(
            1,
            None,
            format!(
                "the header must be traj,t,s0..s{{d-1}} and optionally a0..a{{d-1}}, got {header:?}"
            ),
        ));
    }
    let d = s_count;
    let with_actions = a_count == d;
    // (trajectory id, states, actions with their line) per trajectory, in file order.
    struct Building {
        id: String,
        first_line: usize,
        states: Vec<f64>,
        actions: Vec<(usize, Vec<Option<f64>>)>,
    }
    let mut done: Vec<Building> = Vec::new();
    let mut current: Option<Building> = None;
    for (index, line) in lines {
        let number = index + 1;
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != names.len() {
            return Err(err(
                number,
                None,
                format!("has {} cells, the header {}", cells.len(), names.len()),
            ));
        }
        let id = cells[0].to_string();
        let t: usize = cells[1].parse().map_err(|_| {
            err(
                number,
                Some(2),
                format!("t must be a whole number, got {:?}", cells[1]),
            )
        })?;
        let parse = |k: usize| -> Result<Option<f64>> {
            if cells[k].is_empty() {
                return Ok(None);
            }
            match cells[k].parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                _ => Err(err(
                    number,
                    Some(k + 1),
                    format!("{:?} is not a finite number", cells[k]),
                )),
            }
        };
        let mut state = Vec::with_capacity(d);
        for k in 2..2 + d {
            state.push(
                parse(k)?
                    .ok_or_else(|| err(number, Some(k + 1), "a state cell is empty".into()))?,
            );
        }
        let actions: Vec<Option<f64>> = if with_actions {
            (2 + d..2 + 2 * d).map(parse).collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        let continues = current.as_ref().is_some_and(|c| c.id == id);
        if !continues {
            if let Some(c) = current.take() {
                done.push(c);
            }
            if done.iter().any(|b| b.id == id) {
                return Err(err(
                    number,
                    Some(1),
                    format!(
                        "trajectory {id:?} continues here after other rows: a trajectory's rows must be together"
                    ),
                ));
            }
            current = Some(Building {
                id: id.clone(),
                first_line: number,
                states: Vec::new(),
                actions: Vec::new(),
            });
        }
        let c = current.as_mut().expect("set above");
        let expected_t = c.states.len() / d;
        if t != expected_t {
            return Err(err(
                number,
                Some(2),
                format!(
                    "trajectory {id:?} jumps to t = {t} where t = {expected_t} was due (a gap in t)"
                ),
            ));
        }
        c.states.extend(state);
        c.actions.push((number, actions));
    }
    if let Some(c) = current.take() {
        done.push(c);
    }
    let Some(first) = done.first() else {
        return Err(err(0, None, "holds no trajectory".into()));
    };
    let states_per = first.states.len() / d;
    if states_per < 2 {
        return Err(err(
            first.first_line,
            None,
            format!(
                "trajectory {:?} has one state; a trajectory needs at least two",
                first.id
            ),
        ));
    }
    for b in &done {
        if b.states.len() / d != states_per {
            return Err(err(
                b.first_line,
                None,
                format!(
                    "trajectory {:?} has {} states, the first ({:?}) has {states_per}: trajectories must be of one length",
                    b.id,
                    b.states.len() / d,
                    first.id
                ),
            ));
        }
        if with_actions {
            for (t, (line, a)) in b.actions.iter().enumerate().take(states_per - 1) {
                for (k, cell) in a.iter().enumerate() {
                    let Some(given) = *cell else {
                        return Err(err(
                            *line,
                            Some(2 + d + k + 1),
                            "an action cell is empty before the last state".into(),
                        ));
                    };
                    let s0 = b.states[t * d + k];
                    let s1 = b.states[(t + 1) * d + k];
                    let implied = (s1 - s0) / tau;
                    if (given - implied).abs() > ACTION_TOL * (1.0 + given.abs()) {
                        return Err(err(
                            *line,
                            Some(2 + d + k + 1),
                            format!(
                                "action a{k} = {given} contradicts the dynamics: (s{k}[t+1] - s{k}[t]) / tau = {implied} with tau = {tau}"
                            ),
                        ));
                    }
                }
            }
        }
    }
    let states: Vec<f64> = done.into_iter().flat_map(|b| b.states).collect();
    Trajectories::new(d, states_per - 1, tau, states)
}
