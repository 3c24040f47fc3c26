//! The simulation driver: owns the state, the loop, the stop rules and the observers.
//!
//! The numerical core does no I/O: everything a run reports goes through an [`Observer`].
//!
//! **Determinism contract**: for the same inputs and configuration, every particle
//! coordinate and every diagnostic is bitwise identical whatever the number of rayon
//! threads. Parallel work is split per point, each point computed sequentially in a fixed
//! order, and every sum across points is taken sequentially. They are also identical across
//! CPUs: the vector kernels give the same bits at every width ([`crate::kde::simd`]) and the
//! elementary functions are the C library's only in pictures ([`crate::num`]).

use std::ops::ControlFlow;

use super::integrate::{Integrator, euler, heun};
use super::velocity::{
    DataDensityCache, DataSide, Field, FieldInputs, Loss, Scheme, compute_field, compute_field_at,
    data_side,
};
use crate::datasets::IsotropicMixture;
use crate::error::{Error, Result, check_positive};
use crate::kde::distributed::{ChunkedSums, DistributedSums};
use crate::kde::{BandwidthSpec, Estimator, ExactSums, KernelSums, sigmoid};
use crate::metrics::{Diagnostics, diagnostics};
use crate::num::Portable;
use crate::points::Points;

/// Everything that defines the flow apart from the point sets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlowConfig {
    /// Plug-in or variational velocities.
    pub scheme: Scheme,
    /// Generator loss (plug-in scheme only).
    pub loss: Loss,
    /// Euler or Heun.
    pub integrator: Integrator,
    /// Kernel-sum implementation.
    pub estimator: Estimator,
    /// Time step.
    pub dt: f64,
    /// Bandwidth of `P_g`, the particles' KDE.
    pub bandwidth_g: BandwidthSpec,
    /// Bandwidth of `P_data`, the data's KDE.
    pub bandwidth_q: BandwidthSpec,
    /// Bandwidth annealing: both KDE bandwidths start `factor` times larger and shrink
    /// geometrically to their rule's value over `steps` steps.
    pub anneal: Option<Anneal>,
    /// An adaptive step with this tolerance: Heun's method with the embedded Euler step as
    /// its error estimate, `dt` the first step tried (see [`Simulation::run`]).
    pub adaptive: Option<f64>,
    /// The data's sums split into this many chunks, combined in a fixed order (1: whole).
    /// For data too large for one rank's sums: in a distributed run the chunks are shared
    /// among the ranks. The results depend on it (slightly: the order of the sums), never
    /// on the number of ranks.
    pub data_chunks: usize,
}

/// A large-to-small bandwidth schedule: at step `k` both KDE bandwidths are their rule's
/// value times `factor^(1 - min(k, steps)/steps)`.
///
/// When to use it: when particles start far from the data relative to the bandwidth, so that
/// the data's KDE is practically zero at them (`D* ≈ 0`, the flow stalls); typical in high
/// dimension, where every pairwise distance is many bandwidths. A large bandwidth first moves
/// the bulk, the rule's value then resolves the detail. (A closed-form data density is not
/// annealed.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anneal {
    /// Starting multiple of the bandwidth, at least 1.
    pub factor: f64,
    /// Steps over which it falls to 1.
    pub steps: u64,
}

impl Anneal {
    /// The multiple at step `k`.
    pub fn at(&self, k: u64) -> f64 {
        let left = 1.0 - (k.min(self.steps) as f64) / (self.steps as f64);
        self.factor.powf_p(left)
    }
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            scheme: Scheme::PlugIn,
            loss: Loss::Minimax,
            integrator: Integrator::Euler,
            estimator: Estimator::default(),
            dt: 0.1,
            bandwidth_g: BandwidthSpec::default(),
            bandwidth_q: BandwidthSpec::default(),
            anneal: None,
            adaptive: None,
            data_chunks: 1,
        }
    }
}

/// The data's kernel sums for `config`: one estimator over them all, or
/// [`FlowConfig::data_chunks`] chunks with the estimator the whole set resolves to.
fn data_sums(config: &FlowConfig, data: Points) -> Result<Box<dyn KernelSums>> {
    if config.data_chunks <= 1 {
        return config.estimator.build(data);
    }
    let whole = config.estimator.resolve(data.dim(), data.len());
    Ok(Box::new(ChunkedSums::new(
        data,
        config.data_chunks,
        |part| whole.build(part),
    )?))
}

/// When a run stops. At least one of `max_steps` and `max_time` must be set.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StopRule {
    /// Stop after this many steps.
    pub max_steps: Option<u64>,
    /// Stop at this time (the last step is shortened to land on it).
    pub max_time: Option<f64>,
    /// Stop once `||A||²` falls below this.
    pub connection_tol: Option<f64>,
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// `max_steps` reached.
    Steps,
    /// `max_time` reached.
    Time,
    /// `||A||²` fell below `connection_tol`.
    Converged,
    /// An observer asked to stop.
    Observer,
    /// A velocity or a new position was not finite (the state kept is the last finite one).
    NonFinite {
        /// The step at which it happened.
        step: u64,
        /// The first offending particle.
        particle: usize,
    },
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Steps => write!(f, "step count reached"),
            Self::Time => write!(f, "time reached"),
            Self::Converged => write!(f, "converged (connection norm below the tolerance)"),
            Self::Observer => write!(f, "stopped by an observer"),
            Self::NonFinite { step, particle } => write!(
                f,
                "the velocity or the new position of particle {particle} is not finite at step {step}"
            ),
        }
    }
}

/// Everything besides the particles that the driver carries from one step to the next: a
/// run restored from it ([`Simulation::restore`]) continues bit for bit as if it had never
/// stopped. The integrators keep nothing between steps, and the flow draws no random numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowState {
    /// Steps taken.
    pub step: u64,
    /// Time reached.
    pub t: f64,
    /// Time at the last step of irregular length (`t = t_base + uniform_steps dt`).
    pub t_base: f64,
    /// Whole steps of length `dt` since `t_base`.
    pub uniform_steps: u64,
    /// `P_g`'s bandwidth rule's value before annealing.
    pub base_g: f64,
    /// `P_data`'s bandwidth rule's value before annealing.
    pub base_q: f64,
    /// The step the next step tries (the configured `dt`, unless the step is adaptive).
    pub dt: f64,
    /// A learning discriminator's parameters (`None` with the optimal one).
    pub disc: Option<Vec<f64>>,
}

/// What an observer sees.
#[derive(Debug)]
pub struct Observation<'a> {
    /// Steps taken so far.
    pub step: u64,
    /// Time reached.
    pub t: f64,
    /// The particles now.
    pub particles: &'a Points,
    /// The data.
    pub data: &'a Points,
    /// The flow at the particles now.
    pub field: &'a Field,
    /// Diagnostics now.
    pub diagnostics: &'a Diagnostics,
    /// `P_g`'s bandwidth now.
    pub h_g: f64,
    /// `P_data`'s bandwidth.
    pub h_q: f64,
    /// The step the next step tries.
    pub dt: f64,
    /// Set on the last observation of a run.
    pub stop: Option<StopReason>,
    /// A learning discriminator and what is measured of it (`None` with the optimal one).
    pub game: Option<OpponentObservation<'a>>,
}

/// A player the particles face instead of the optimal discriminator (a discriminator that
/// learns, in `game`). The flow knows it only through this trait.
pub trait Opponent: std::fmt::Debug + Send + Sync {
    /// One round from `particles` with time step `dt`: the opponent's own updates and the
    /// particles' step, in its order. Returns the particles' new positions.
    fn round(&mut self, particles: &Points, data: &Points, dt: f64) -> Result<Points>;
    /// The velocity the particles have against the opponent as it stands.
    fn velocity(&self, particles: &Points) -> Vec<f64>;
    /// Its parameters, for records and checkpoints.
    fn params(&self) -> &[f64];
    /// Puts back parameters [`Opponent::params`] gave (a resumed run).
    fn set_params(&mut self, params: &[f64]) -> Result<()>;
    /// What is measured of it at an observation: `dstar_*` are the optimal discriminator's
    /// values at the particles and at the data; `seed` seeds any random probes.
    fn measure(
        &self,
        particles: &Points,
        data: &Points,
        dstar_particles: &[f64],
        dstar_data: &[f64],
        dt: f64,
        seed: u64,
    ) -> Result<OpponentMeasures>;
}

/// What is measured of an opponent at an observation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpponentMeasures {
    /// The mean of `|D - D*|` over the particles and the data.
    pub disc_gap: f64,
    /// The norm of its parameters.
    pub param_norm: f64,
    /// The share of the joint field's Jacobian that rotates.
    pub rotation: f64,
}

/// An opponent at an observation.
#[derive(Debug)]
pub struct OpponentObservation<'a> {
    /// Its parameters now.
    pub params: &'a [f64],
    /// What was measured.
    pub measures: OpponentMeasures,
}

/// Receives observations every `k` steps (and always the first and the last); returns
/// `ControlFlow::Break(())` to stop the run.
pub trait Observer {
    /// Called with the state and diagnostics.
    fn observe(&mut self, obs: &Observation<'_>) -> Result<ControlFlow<()>>;

    /// Called at every step before it is observed or taken, with what a run continued from
    /// here needs; `last` is set when the run stops here. Checkpointers write here; returning
    /// `ControlFlow::Break(())` interrupts the run, which then returns
    /// [`Error::Interrupted`].
    fn at_step(
        &mut self,
        _state: &FlowState,
        _particles: &Points,
        _last: bool,
    ) -> Result<ControlFlow<()>> {
        Ok(ControlFlow::Continue(()))
    }

    /// Called after every step with the step count and time: cheap progress reporting.
    fn progress(&mut self, _step: u64, _t: f64) {}
}

impl<F: FnMut(&Observation<'_>) -> Result<ControlFlow<()>>> Observer for F {
    fn observe(&mut self, obs: &Observation<'_>) -> Result<ControlFlow<()>> {
        self(obs)
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunSummary {
    /// Steps taken.
    pub steps: u64,
    /// Time reached.
    pub t: f64,
    /// Why it stopped.
    pub reason: StopReason,
    /// Diagnostics of the final state.
    pub last: Diagnostics,
}

/// A particle flow towards a data set.
///
/// ```
/// use std::ops::ControlFlow;
/// use ganflow::{FlowConfig, Observation, Points, Simulation, StopRule};
/// let data = Points::new("data", (0..200).map(|i| 3.0 + (i as f64 * 0.37).sin()).collect(), 1)?;
/// let particles = Points::new("particles", (0..200).map(|i| (i as f64 * 0.53).cos()).collect(), 1)?;
/// let mut sim = Simulation::new(FlowConfig::default(), particles, data)?;
/// let before = sim.diagnostics()?.jsd;
/// let mut jsd = Vec::new();
/// let mut record = |o: &Observation<'_>| {
///     jsd.push(o.diagnostics.jsd);
///     Ok(ControlFlow::Continue(()))
/// };
/// let stop = StopRule { max_steps: Some(50), ..Default::default() };
/// let summary = sim.run(&stop, 10, &mut record)?;
/// assert_eq!(jsd.len(), 6); // steps 0, 10, ..., 50
/// assert!(summary.last.jsd < before);
/// # Ok::<(), ganflow::Error>(())
/// ```
pub struct Simulation {
    config: FlowConfig,
    particles: Points,
    data_sums: Box<dyn KernelSums>,
    /// Sums over a closed-form density's centres, when the data density is exact.
    exact_density: Option<Box<dyn KernelSums>>,
    h_g: f64,
    h_q: f64,
    /// The rules' bandwidths before annealing.
    base_g: f64,
    base_q: f64,
    step: u64,
    t: f64,
    t_base: f64,
    uniform_steps: u64,
    /// The step the next step tries.
    dt_next: f64,
    /// The opponent, when the particles face one instead of the optimal discriminator.
    opponent: Option<Box<dyn Opponent>>,
    /// `log q` at the data, for the data-side diagnostics and the variational scheme.
    q_at_data: DataDensityCache,
    /// Whether the sums are shared among the ranks of a distributed run.
    distributed: bool,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("config", &self.config)
            .field("particles", &self.particles.len())
            .field("data", &self.data().len())
            .field("dim", &self.particles.dim())
            .field("h_g", &self.h_g)
            .field("h_q", &self.h_q)
            .field("step", &self.step)
            .field("t", &self.t)
            .finish()
    }
}

impl Simulation {
    /// Checks the configuration and the point sets, computes the bandwidths and builds the
    /// data's estimator (once for the whole run).
    pub fn new(config: FlowConfig, particles: Points, data: Points) -> Result<Self> {
        Self::build(config, particles, data, None)
    }

    /// Like [`Simulation::new`], but `q` is the closed-form `density` instead of the KDE of
    /// the data (whose samples still serve the data-side diagnostics and the variational
    /// scheme's data term). This separates what the flow does from what the estimator does.
    pub fn with_exact_density(
        config: FlowConfig,
        particles: Points,
        data: Points,
        density: IsotropicMixture,
    ) -> Result<Self> {
        Self::build(config, particles, data, Some(density))
    }

    fn build(
        config: FlowConfig,
        particles: Points,
        data: Points,
        density: Option<IsotropicMixture>,
    ) -> Result<Self> {
        check_positive("dt", config.dt)?;
        if let Some(tol) = config.adaptive {
            check_positive("adaptive step tolerance", tol)?;
        }
        config.estimator.validate()?;
        particles.check_same_dim("data", &data)?;
        if let Some(a) = config.anneal {
            if !(a.factor >= 1.0 && a.factor.is_finite()) {
                return Err(Error::OutOfRange {
                    what: "anneal factor",
                    expected: "finite and at least 1",
                    value: a.factor,
                });
            }
            if a.steps == 0 {
                return Err(Error::OutOfRange {
                    what: "anneal steps",
                    expected: "at least 1",
                    value: 0.0,
                });
            }
        }
        let h_g = config.bandwidth_g.compute(&particles, &data)?;
        let (h_q, exact_density) = match density {
            // One rule for both densities (the default): one computation.
            None if config.bandwidth_q == config.bandwidth_g => (h_g, None),
            None => (config.bandwidth_q.compute(&particles, &data)?, None),
            Some(m) => {
                particles.check_same_dim("density centres", &m.centers)?;
                let sums: Box<dyn KernelSums> = Box::new(ExactSums::new(m.centers));
                (check_positive("mixture std", m.std)?, Some(sums))
            }
        };
        let data_sums = data_sums(&config, data)?;
        let mut sim = Self {
            config,
            particles,
            data_sums,
            exact_density,
            h_g,
            h_q,
            base_g: h_g,
            base_q: h_q,
            step: 0,
            t: 0.0,
            t_base: 0.0,
            uniform_steps: 0,
            dt_next: config.dt,
            opponent: None,
            q_at_data: DataDensityCache::default(),
            distributed: false,
        };
        sim.refresh_bandwidth()?;
        Ok(sim)
    }

    /// The configuration.
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// The particles now.
    pub fn particles(&self) -> &Points {
        &self.particles
    }

    /// The data.
    pub fn data(&self) -> &Points {
        self.data_sums.samples()
    }

    /// Steps taken.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Time reached.
    pub fn time(&self) -> f64 {
        self.t
    }

    /// `(h_g, h_q)` now.
    pub fn bandwidths(&self) -> (f64, f64) {
        (self.h_g, self.h_q)
    }

    /// What a run continued from the current particles needs besides them.
    pub fn state(&self) -> FlowState {
        FlowState {
            step: self.step,
            t: self.t,
            t_base: self.t_base,
            uniform_steps: self.uniform_steps,
            base_g: self.base_g,
            base_q: self.base_q,
            dt: self.dt_next,
            disc: self.opponent.as_ref().map(|o| o.params().to_vec()),
        }
    }

    /// Puts the simulation where [`Simulation::state`] and the particles of a stopped run left
    /// it, so that [`Simulation::run`] continues that run bit for bit.
    pub fn restore(&mut self, state: &FlowState, particles: Points) -> Result<()> {
        particles.check_same_dim("restored particles", &self.particles)?;
        for (what, v) in [
            ("restored bandwidth h_g", state.base_g),
            ("restored bandwidth h_q", state.base_q),
            ("restored time step", state.dt),
        ] {
            check_positive(what, v)?;
        }
        self.particles = particles;
        self.step = state.step;
        self.t = state.t;
        self.t_base = state.t_base;
        self.uniform_steps = state.uniform_steps;
        self.base_g = state.base_g;
        self.base_q = state.base_q;
        self.dt_next = state.dt;
        match (&mut self.opponent, &state.disc) {
            (None, None) => {}
            (Some(o), Some(params)) => o.set_params(params)?,
            (o, _) => {
                return Err(Error::DimensionMismatch {
                    what: "restored discriminator parameters (present in one of the run and its checkpoint only)",
                    expected: usize::from(o.is_some()),
                    got: usize::from(state.disc.is_some()),
                });
            }
        }
        self.refresh_bandwidth()
    }

    /// Faces `opponent` from now on: each step is its round (its own updates and an Euler
    /// step of the particles) instead of a step against the optimal discriminator, which
    /// is still computed at every observation for the diagnostics. Needs Euler steps of a
    /// fixed length and the plug-in scheme.
    pub fn with_opponent(mut self, opponent: Box<dyn Opponent>) -> Result<Self> {
        if self.config.adaptive.is_some()
            || self.config.integrator != Integrator::Euler
            || self.config.scheme != Scheme::PlugIn
        {
            return Err(Error::InvalidOption {
                option: "--discriminator".into(),
                message: "a learning discriminator plays in Euler steps of a fixed length with \
                          the plug-in scheme"
                    .into(),
            });
        }
        self.opponent = Some(opponent);
        Ok(self)
    }

    /// The opponent's parameters, if the particles face one.
    pub fn opponent_params(&self) -> Option<&[f64]> {
        self.opponent.as_deref().map(|o| o.params())
    }

    /// Shares every kernel sum of the steps to come among the ranks installed on this
    /// thread ([`crate::dist`]): the particles' and the data's sums split their queries, the
    /// data's chunks ([`FlowConfig::data_chunks`]) are shared out. Every rank must step its
    /// simulation the same way, or the others wait; the results are the same bits as one
    /// process's.
    pub fn distributed(mut self) -> Self {
        if !self.distributed {
            self.data_sums = Box::new(DistributedSums::new(self.data_sums));
            self.distributed = true;
        }
        self
    }

    /// Kernel sums over the points `x` (the particles), shared when distributed.
    fn particle_sums(&self, x: &Points) -> Result<Box<dyn KernelSums>> {
        let sums = self.config.estimator.build(x.clone())?;
        Ok(if self.distributed {
            Box::new(DistributedSums::new(sums))
        } else {
            sums
        })
    }

    /// Whether `q` is a closed-form density rather than the KDE of the data.
    pub fn has_exact_density(&self) -> bool {
        self.exact_density.is_some()
    }

    fn inputs<'a>(&'a self, particle_sums: &'a dyn KernelSums) -> FieldInputs<'a> {
        FieldInputs {
            particles: particle_sums,
            data: self.data_sums.as_ref(),
            density: self
                .exact_density
                .as_deref()
                .unwrap_or(self.data_sums.as_ref()),
            h_g: self.h_g,
            h_q: self.h_q,
            q_at_data: Some(&self.q_at_data),
        }
    }

    /// The field at `x`, and the data-side densities when asked.
    fn field_at(&self, x: &Points, want_data: bool) -> Result<(Field, Option<DataSide>)> {
        let (field, ds, _) = self.field_with_sums(x, want_data)?;
        Ok((field, ds))
    }

    /// [`Self::field_at`], also handing back the kernel sums (the tree) built over `x`, so
    /// that a later data-side evaluation at the same state does not build them again.
    fn field_with_sums(
        &self,
        x: &Points,
        want_data: bool,
    ) -> Result<(Field, Option<DataSide>, Box<dyn KernelSums>)> {
        let sums = self.particle_sums(x)?;
        let (field, ds) = compute_field(
            self.config.scheme,
            self.config.loss,
            &self.inputs(sums.as_ref()),
            want_data,
        )?;
        Ok((field, ds, sums))
    }

    /// The field at arbitrary points `at` (a grid, say), given the current particles: the
    /// velocity a particle placed there would have.
    pub fn field_at_points(&self, at: &Points) -> Result<Field> {
        let sums = self.particle_sums(&self.particles)?;
        let inputs = self.inputs(sums.as_ref());
        Ok(compute_field_at(
            self.config.scheme,
            self.config.loss,
            &inputs,
            Some(at),
            false,
        )?
        .0)
    }

    /// The velocities particles standing at `x` would have, with this simulation's data and
    /// bandwidths held as they are: the velocity field as a map of configurations, whose
    /// Jacobian the particle spectrum takes.
    pub fn velocity_of(&self, x: &Points) -> Result<Vec<f64>> {
        Ok(self.field_at(x, false)?.0.velocity)
    }

    /// The discrete energy `E` (twice the JSD estimate) of particles standing at `x`, with
    /// this simulation's data and bandwidths: the function whose gradient flow the
    /// variational scheme is, `v = -N grad E`.
    pub fn energy_of(&self, x: &Points) -> Result<f64> {
        let (field, ds) = self.field_at(x, true)?;
        Ok(crate::metrics::energy(
            &field,
            ds.as_ref().expect("asked for"),
        ))
    }

    /// The field at the current particles.
    pub fn field(&self) -> Result<Field> {
        Ok(self.field_at(&self.particles, false)?.0)
    }

    /// The field and all diagnostics at the current particles.
    pub fn field_and_diagnostics(&self) -> Result<(Field, Diagnostics)> {
        let (field, ds) = self.field_at(&self.particles, true)?;
        let diag = diagnostics(
            &field,
            ds.as_ref().expect("asked for"),
            self.particles.dim(),
        );
        Ok((field, diag))
    }

    /// Diagnostics at the current particles.
    pub fn diagnostics(&self) -> Result<Diagnostics> {
        Ok(self.field_and_diagnostics()?.1)
    }

    fn refresh_bandwidth(&mut self) -> Result<()> {
        if self.config.bandwidth_g.varies() {
            self.base_g = self
                .config
                .bandwidth_g
                .compute(&self.particles, self.data())?;
        }
        if self.exact_density.is_none() && self.config.bandwidth_q.varies() {
            // One rule for both densities: one computation per step.
            self.base_q = if self.config.bandwidth_q == self.config.bandwidth_g {
                self.base_g
            } else {
                self.config
                    .bandwidth_q
                    .compute(&self.particles, self.data())?
            };
        }
        let factor = self.config.anneal.map_or(1.0, |a| a.at(self.step));
        self.h_g = self.base_g * factor;
        self.h_q = if self.exact_density.is_some() {
            self.base_q
        } else {
            self.base_q * factor
        };
        Ok(())
    }

    /// One integrator step of length `dt` from the current particles, given the field there.
    /// Returns the first particle whose velocity or new position is not finite, leaving the
    /// state untouched in that case.
    fn advance(&mut self, field: &Field, dt: f64) -> Result<Option<usize>> {
        let d = self.particles.dim();
        let x = self.particles.as_slice();
        let mut new = euler(x, &field.velocity, dt);
        if self.config.integrator == Integrator::Heun {
            if let Some(i) = first_non_finite(&new, d) {
                return Ok(Some(i));
            }
            let predictor = Points::new("particles", new, d)?;
            let (f2, _) = self.field_at(&predictor, false)?;
            if let Some(i) = first_non_finite(&f2.velocity, d) {
                return Ok(Some(i));
            }
            new = heun(x, &field.velocity, &f2.velocity, dt);
        }
        if let Some(i) = first_non_finite(&new, d) {
            return Ok(Some(i));
        }
        self.commit(new, dt);
        Ok(None)
    }

    /// Moves the particles to `new`, one step of length `dt` later.
    fn commit(&mut self, new: Vec<f64>, dt: f64) {
        self.particles.replace(new);
        self.step += 1;
        // t = t_base + k dt, so that t after k whole steps is not a k-fold rounded sum.
        if self.config.adaptive.is_none() && dt == self.config.dt {
            self.uniform_steps += 1;
            self.t = self.t_base + self.uniform_steps as f64 * dt;
        } else {
            self.t_base = self.t + dt;
            self.uniform_steps = 0;
            self.t = self.t_base;
        }
    }

    /// One adaptive step, at most `limit` long: Heun's method, whose difference from the
    /// embedded Euler step, `dt/2 (v(x~) - v(x))`, estimates Euler's local error. A step is
    /// accepted when the largest coordinate of that difference is within `tol` particle
    /// bandwidths; the next step is `dt` times `0.9 sqrt(tol / err)`, kept within 0.2..2
    /// (the error of a first-order step grows like dt²). A rejected step is tried again,
    /// shorter, from the same state.
    fn advance_adaptive(
        &mut self,
        field: &Field,
        tol: f64,
        limit: Option<f64>,
    ) -> Result<Option<usize>> {
        let d = self.particles.dim();
        let scale = self.h_g;
        loop {
            let dt = limit.map_or(self.dt_next, |l| self.dt_next.min(l));
            if dt < 1e-12 * self.config.dt {
                return Err(Error::NoConvergence {
                    what: "the adaptive step (it fell below 1e-12 of the first step)",
                });
            }
            let x = self.particles.as_slice();
            let predictor = euler(x, &field.velocity, dt);
            let f2 = match first_non_finite(&predictor, d) {
                Some(_) => None,
                None => {
                    let p = Points::new("particles", predictor, d)?;
                    let (f2, _) = self.field_at(&p, false)?;
                    first_non_finite(&f2.velocity, d).is_none().then_some(f2)
                }
            };
            let Some(f2) = f2 else {
                self.dt_next = 0.2 * dt;
                continue;
            };
            let err = field
                .velocity
                .iter()
                .zip(&f2.velocity)
                .map(|(a, b)| (0.5 * dt * (b - a)).abs())
                .fold(0.0, f64::max)
                / scale;
            let factor = if err > 0.0 {
                (0.9 * (tol / err).sqrt()).clamp(0.2, 2.0)
            } else {
                2.0
            };
            if err <= tol {
                let new = heun(x, &field.velocity, &f2.velocity, dt);
                if let Some(i) = first_non_finite(&new, d) {
                    return Ok(Some(i));
                }
                // A step cut short by the time limit says nothing about the next one.
                if dt == self.dt_next {
                    self.dt_next = dt * factor;
                }
                self.commit(new, dt);
                return Ok(None);
            }
            self.dt_next = dt * factor;
        }
    }

    /// One round against the opponent, `dt` long. Returns the first particle whose new
    /// position is not finite, leaving the state untouched in that case.
    fn advance_opponent(&mut self, dt: f64) -> Result<Option<usize>> {
        let opponent = self.opponent.as_mut().expect("called with an opponent");
        match opponent.round(&self.particles, self.data_sums.samples(), dt) {
            Ok(next) => {
                self.commit(next.into_vec(), dt);
                Ok(None)
            }
            Err(Error::NonFinite { index, .. }) => Ok(Some(index)),
            Err(e) => Err(e),
        }
    }

    /// Takes one step with the configured integrator, without diagnostics or observers (what
    /// [`Simulation::run`] does between observations). Returns
    /// `Some(StopReason::NonFinite { .. })`, leaving the state as it was, when a velocity or a
    /// new position is not finite.
    pub fn step(&mut self) -> Result<Option<StopReason>> {
        self.refresh_bandwidth()?;
        if self.opponent.is_some() {
            let dt = self.config.dt;
            return Ok(self
                .advance_opponent(dt)?
                .map(|particle| StopReason::NonFinite {
                    step: self.step,
                    particle,
                }));
        }
        let (field, _) = self.field_at(&self.particles, false)?;
        let d = self.particles.dim();
        let bad = match (first_non_finite(&field.velocity, d), self.config.adaptive) {
            (Some(i), _) => Some(i),
            (None, None) => self.advance(&field, self.config.dt)?,
            (None, Some(tol)) => self.advance_adaptive(&field, tol, None)?,
        };
        Ok(bad.map(|particle| StopReason::NonFinite {
            step: self.step,
            particle,
        }))
    }

    /// Runs until `stop` says so, showing `observer` the state at every step that is a
    /// multiple of `every`, and at the end. Step counts and times in `stop` are totals since
    /// step 0, so a restored simulation ([`Simulation::restore`]) finishes the run it
    /// continues, with the same observations.
    pub fn run(
        &mut self,
        stop: &StopRule,
        every: u64,
        observer: &mut dyn Observer,
    ) -> Result<RunSummary> {
        if stop.max_steps.is_none() && stop.max_time.is_none() {
            return Err(Error::OutOfRange {
                what: "stop rule",
                expected: "limited by a step count or a time",
                value: f64::NAN,
            });
        }
        if let Some(t) = stop.max_time {
            check_positive("max_time", t)?;
        }
        if let Some(tol) = stop.connection_tol {
            check_positive("connection tolerance", tol)?;
        }
        if every == 0 {
            return Err(Error::OutOfRange {
                what: "observation interval (steps)",
                expected: "at least 1",
                value: 0.0,
            });
        }
        let mut halted = None;
        loop {
            self.refresh_bandwidth()?;
            let observe = self.step.is_multiple_of(every) || halted.is_some();
            // Against an opponent the optimal discriminator's field is needed only to be
            // observed (or for the connection stop rule).
            let need_field = self.opponent.is_none() || observe || stop.connection_tol.is_some();
            let mut computed = if need_field {
                Some(self.field_with_sums(&self.particles, observe)?)
            } else {
                None
            };
            let d = self.particles.dim();
            // Against an opponent a velocity that is not finite shows in its round (which
            // then leaves the state as it was, and the next turn reports it).
            let moving: Option<&[f64]> = match (&self.opponent, &computed) {
                (None, Some((field, _, _))) => Some(&field.velocity),
                _ => None,
            };
            let mut reason = if halted.is_some() {
                halted
            } else if let Some(i) = moving.and_then(|v| first_non_finite(v, d)) {
                Some(StopReason::NonFinite {
                    step: self.step,
                    particle: i,
                })
            } else if stop.max_steps.is_some_and(|m| self.step >= m) {
                Some(StopReason::Steps)
            } else if stop.max_time.is_some_and(|m| self.t >= m * (1.0 - 1e-12)) {
                Some(StopReason::Time)
            } else if stop.connection_tol.is_some_and(|tol| {
                computed
                    .as_ref()
                    .is_some_and(|(field, _, _)| crate::metrics::connection_norm2(field) < tol)
            }) {
                Some(StopReason::Converged)
            } else {
                None
            };
            if observer
                .at_step(&self.state(), &self.particles, reason.is_some())?
                .is_break()
            {
                return Err(Error::Interrupted { step: self.step });
            }
            if observe || reason.is_some() {
                if computed.is_none() {
                    computed = Some(self.field_with_sums(&self.particles, true)?);
                }
                let (field, mut ds, sums) = computed.take().expect("computed above");
                if ds.is_none() {
                    ds = Some(data_side(&self.inputs(sums.as_ref()))?);
                }
                let ds = ds.expect("computed");
                let diag = diagnostics(&field, &ds, d);
                if !matches!(reason, Some(StopReason::NonFinite { .. }))
                    && ![diag.jsd, diag.energy, diag.connection_norm2]
                        .iter()
                        .all(|v| v.is_finite())
                {
                    // Finite velocities but undefined diagnostics: densities that underflowed
                    // or overflowed somewhere. It ends the run as a failure, whatever else
                    // would have ended it here.
                    let particle = field
                        .log_g
                        .iter()
                        .zip(&field.log_q)
                        .position(|(g, q)| !(g.is_finite() && q.is_finite()))
                        .unwrap_or(0);
                    reason = Some(StopReason::NonFinite {
                        step: self.step,
                        particle,
                    });
                }
                // Against an opponent the particles move with its velocity: that is what is
                // recorded, beside the optimal discriminator's D*.
                let shown;
                let (field_seen, game) = match &self.opponent {
                    Some(o) => {
                        let v = o.velocity(&self.particles);
                        if reason.is_none()
                            && let Some(particle) = first_non_finite(&v, d)
                        {
                            reason = Some(StopReason::NonFinite {
                                step: self.step,
                                particle,
                            });
                        }
                        let dstar_data: Vec<f64> = ds
                            .log_q
                            .iter()
                            .zip(&ds.log_g)
                            .map(|(q, g)| sigmoid(q - g))
                            .collect();
                        let measures = o.measure(
                            &self.particles,
                            self.data_sums.samples(),
                            &field.dstar,
                            &dstar_data,
                            self.config.dt,
                            self.step,
                        )?;
                        shown = Field {
                            velocity: v,
                            ..field.clone()
                        };
                        (
                            &shown,
                            Some(OpponentObservation {
                                params: o.params(),
                                measures,
                            }),
                        )
                    }
                    None => (&field, None),
                };
                let obs = Observation {
                    step: self.step,
                    t: self.t,
                    particles: &self.particles,
                    data: self.data_sums.samples(),
                    field: field_seen,
                    diagnostics: &diag,
                    h_g: self.h_g,
                    h_q: self.h_q,
                    dt: self.dt_next,
                    stop: reason,
                    game,
                };
                if observer.observe(&obs)?.is_break() && reason.is_none() {
                    reason = Some(StopReason::Observer);
                }
                if let Some(reason) = reason {
                    return Ok(RunSummary {
                        steps: self.step,
                        t: self.t,
                        reason,
                        last: diag,
                    });
                }
                computed = Some((field, Some(ds), sums));
            }
            let limit = stop.max_time.map(|m| m - self.t);
            let outcome = match (self.opponent.is_some(), self.config.adaptive) {
                (true, _) => {
                    let dt = limit.map_or(self.config.dt, |l| self.config.dt.min(l));
                    self.advance_opponent(dt)?
                }
                (false, None) => {
                    let dt = limit.map_or(self.config.dt, |l| self.config.dt.min(l));
                    let (field, _, _) = computed.as_ref().expect("computed without an opponent");
                    self.advance(field, dt)?
                }
                (false, Some(tol)) => {
                    let (field, _, _) = computed.as_ref().expect("computed without an opponent");
                    self.advance_adaptive(field, tol, limit)?
                }
            };
            if let Some(particle) = outcome {
                // The state stays the last finite one; the next turn reports it and stops.
                halted = Some(StopReason::NonFinite {
                    step: self.step,
                    particle,
                });
            } else {
                observer.progress(self.step, self.t);
            }
        }
    }
}

/// Index of the first row with a non-finite entry.
fn first_non_finite(v: &[f64], d: usize) -> Option<usize> {
    v.iter().position(|a| !a.is_finite()).map(|p| p / d)
}
