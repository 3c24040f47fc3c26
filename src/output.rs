//! Observers that write a run to CSV: the trajectories and the metrics, streamed.

use std::io::Write;
use std::ops::ControlFlow;

use crate::error::{Error, Result};
use crate::flow::sim::{Observation, Observer};
use crate::metrics::MetricsTracker;
use crate::points::Standardizer;

/// Header of `metrics.csv`.
pub const METRICS_HEADER: [&str; 10] = [
    "step",
    "t",
    "jsd",
    "connection_norm2",
    "mean_dstar_particles",
    "mean_dstar_data",
    "energy",
    "max_speed",
    "h_g",
    "h_q",
];

/// Writes every observation: one row per particle to the trajectories (`step,t,id,x0..`, with
/// `v0..` and `dstar` when asked) and one row to the metrics. Rows are written as they come,
/// so memory does not grow with the number of steps; call [`CsvRecorder::finish`] to flush.
pub struct CsvRecorder<W: Write> {
    trajectories: csv::Writer<W>,
    metrics: csv::Writer<W>,
    with_velocity: bool,
    header_done: bool,
    row: Vec<String>,
    unscale: Option<Standardizer>,
    extra: Option<(MetricsTracker, bool)>,
    last_extra: Vec<(&'static str, Option<f64>)>,
}

fn csv_err(e: csv::Error) -> Error {
    Error::Observer(Box::new(e))
}

impl<W: Write> CsvRecorder<W> {
    /// Records into two writers.
    pub fn new(trajectories: W, metrics: W, with_velocity: bool) -> Self {
        Self {
            trajectories: csv::Writer::from_writer(trajectories),
            metrics: csv::Writer::from_writer(metrics),
            with_velocity,
            header_done: false,
            row: Vec::new(),
            unscale: None,
            extra: None,
            last_extra: Vec::new(),
        }
    }

    /// Adds the tracker's optional metrics as columns of `metrics.csv`. `variational` picks
    /// the dissipation rate the residual compares with (`(1/N) Σ |v|²` rather than `||A||²`).
    pub fn with_metrics(mut self, tracker: MetricsTracker, variational: bool) -> Self {
        self.extra = Some((tracker, variational));
        self
    }

    /// The optional metrics of the last observation (empty without a tracker).
    pub fn last_metrics(&self) -> &[(&'static str, Option<f64>)] {
        &self.last_extra
    }

    /// Writes positions and velocities back in the original units of a standardised run.
    pub fn unscaled_by(mut self, standardizer: Standardizer) -> Self {
        self.unscale = Some(standardizer);
        self
    }

    /// Flushes both writers and hands them back.
    pub fn finish(self) -> Result<(W, W)> {
        let t = self
            .trajectories
            .into_inner()
            .map_err(|e| Error::Observer(Box::new(e.into_error())))?;
        let m = self
            .metrics
            .into_inner()
            .map_err(|e| Error::Observer(Box::new(e.into_error())))?;
        Ok((t, m))
    }

    fn write_headers(&mut self, d: usize) -> Result<()> {
        let mut h: Vec<String> = ["step", "t", "id"].iter().map(|s| s.to_string()).collect();
        h.extend((0..d).map(|k| format!("x{k}")));
        if self.with_velocity {
            h.extend((0..d).map(|k| format!("v{k}")));
            h.push("dstar".into());
        }
        self.trajectories.write_record(&h).map_err(csv_err)?;
        let mut header: Vec<&str> = METRICS_HEADER.to_vec();
        if let Some((tracker, _)) = &self.extra {
            header.extend(tracker.columns());
        }
        self.metrics.write_record(&header).map_err(csv_err)?;
        self.header_done = true;
        Ok(())
    }
}

impl<W: Write> Observer for CsvRecorder<W> {
    fn observe(&mut self, o: &Observation<'_>) -> Result<ControlFlow<()>> {
        let d = o.particles.dim();
        if !self.header_done {
            self.write_headers(d)?;
        }
        let (step, t) = (o.step.to_string(), o.t.to_string());
        let original;
        let (positions, velocity) = match &self.unscale {
            None => (
                o.particles,
                std::borrow::Cow::Borrowed(&o.field.velocity[..]),
            ),
            Some(s) => {
                original = s.inverse(o.particles)?;
                let v = if self.with_velocity {
                    s.inverse_vector(&o.field.velocity)
                } else {
                    Vec::new()
                };
                (&original, std::borrow::Cow::Owned(v))
            }
        };
        for (i, x) in positions.rows().enumerate() {
            self.row.clear();
            self.row.push(step.clone());
            self.row.push(t.clone());
            self.row.push(i.to_string());
            self.row.extend(x.iter().map(|v| v.to_string()));
            if self.with_velocity {
                let v = &velocity[i * d..(i + 1) * d];
                self.row.extend(v.iter().map(|v| v.to_string()));
                self.row.push(o.field.dstar[i].to_string());
            }
            self.trajectories.write_record(&self.row).map_err(csv_err)?;
        }
        let m = o.diagnostics;
        let values = [
            m.jsd,
            m.connection_norm2,
            m.mean_dstar_particles,
            m.mean_dstar_data,
            m.energy,
            m.max_speed,
            o.h_g,
            o.h_q,
        ];
        let mut row = vec![step, t];
        row.extend(values.iter().map(|v| v.to_string()));
        if let Some((tracker, variational)) = &mut self.extra {
            let rate = if *variational {
                o.field.velocity.iter().map(|v| v * v).sum::<f64>() / o.particles.len() as f64
            } else {
                m.connection_norm2
            };
            let values = tracker.compute(o.particles, o.data, o.t, m.energy, rate)?;
            // An undefined value (the first dissipation residual) is an empty cell.
            row.extend(
                values
                    .iter()
                    .map(|v| v.map_or(String::new(), |x| x.to_string())),
            );
            self.last_extra = tracker.columns().iter().copied().zip(values).collect();
        }
        self.metrics.write_record(&row).map_err(csv_err)?;
        Ok(ControlFlow::Continue(()))
    }
}
