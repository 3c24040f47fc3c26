//! `ganflow._native`: the library's flow, density estimates and particle spectrum for
//! Python, with numpy arrays in and out. The package `ganflow` (python/ganflow) wraps it:
//! it converts arrays to contiguous float64 and documents the API; this module checks every
//! value again and raises `ValueError` with the library's message.
//!
//! Options are the command line's, keyed as Python names (`bandwidth_g` for
//! `--bandwidth-g`) and checked by the same specification, so a value means here what it
//! means to `ganflow run`. All numerical work runs with the interpreter released
//! (`Python::detach`); a run's callback takes it back for each call.

use std::ops::ControlFlow;

use ganflow::flow::sim::{Observation, OpponentMeasures, StopReason, StopRule};
use ganflow::imitate::ImitateSpec;
use ganflow::imitate::baselines::random_rollouts;
use ganflow::imitate::record::{ImitationRecord, imitate as run_imitate, metric_names};
use ganflow::imitate::trajectories::Trajectories;
use ganflow::kde::{evaluate_sums, log_kernel_norm, log_sum_exp};
use ganflow::num::Portable;
use ganflow::run::Inputs;
use ganflow::run::spec::RunSpec;
use ganflow::run::spec_file::{self, OptionSource, Specification};
use ganflow::spectrum::particle::particle_spectrum;
use ganflow::{Diagnostics, Points, Simulation as FlowSimulation};
use numpy::PyUntypedArrayMethods;
use numpy::ndarray::{Array1, Array2};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3,
};
use pyo3::exceptions::{PyFloatingPointError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

/// A `ValueError` with this message.
fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A library error as Python's `ValueError`, with the library's message; an option is named
/// as the keyword argument that sets it (`bandwidth_g`, not `--bandwidth-g`).
fn library_error(e: ganflow::Error) -> PyErr {
    match e {
        ganflow::Error::InvalidOption { option, message } if option.starts_with("--") => {
            let name = OptionSource::Keywords.name(option.trim_start_matches("--"));
            PyValueError::new_err(format!("{name}: {message}"))
        }
        e => value_error(e),
    }
}

/// A 2-D float64 array as points (`what` names it in errors). The array must be C-contiguous
/// (the Python layer makes it so).
fn points(what: &'static str, a: &PyReadonlyArray2<'_, f64>) -> PyResult<Points> {
    let dim = a.shape()[1];
    let values = a
        .as_slice()
        .map_err(|_| value_error(format!("{what}: the array must be C-contiguous")))?;
    Points::new(what, values.to_vec(), dim).map_err(library_error)
}

/// Row-major `n × d` values as a 2-D array.
fn matrix(py: Python<'_>, values: Vec<f64>, d: usize) -> PyResult<Bound<'_, PyArray2<f64>>> {
    let n = values.len().checked_div(d).unwrap_or(0);
    Array2::from_shape_vec((n, d), values)
        .map(|a| a.into_pyarray(py))
        .map_err(value_error)
}

fn vector(py: Python<'_>, values: Vec<f64>) -> Bound<'_, PyArray1<f64>> {
    Array1::from_vec(values).into_pyarray(py)
}

/// How an option's value is written in the specification.
#[derive(Clone, Copy)]
enum ValueKind {
    /// As on the command line (`"scott"`, `"0.05"`, `"auto"`): any Python value, by `str`.
    Text,
    /// A float (an int is taken).
    Float,
    /// A non-negative int.
    Int,
    /// A bool.
    Bool,
}

/// The options of a velocity field, as `ganflow velocity` takes them.
const FIELD_OPTIONS: [(&str, ValueKind); 7] = [
    ("scheme", ValueKind::Text),
    ("loss", ValueKind::Text),
    ("estimator", ValueKind::Text),
    ("tol", ValueKind::Float),
    ("bandwidth", ValueKind::Text),
    ("bandwidth_g", ValueKind::Text),
    ("bandwidth_q", ValueKind::Text),
];

/// The options of a simulation beyond the field's, as `ganflow run` takes them.
const RUN_OPTIONS: [(&str, ValueKind); 12] = [
    ("dt", ValueKind::Text),
    ("dt_tol", ValueKind::Float),
    ("integrator", ValueKind::Text),
    ("anneal", ValueKind::Text),
    ("discriminator", ValueKind::Text),
    ("disc_no_bias", ValueKind::Bool),
    ("disc_scale", ValueKind::Float),
    ("disc_lr", ValueKind::Float),
    ("disc_steps", ValueKind::Int),
    ("penalty", ValueKind::Text),
    ("updates", ValueKind::Text),
    ("seed", ValueKind::Int),
];

/// The run specification from keyword options (`allowed`: their names and kinds), with the
/// command line's defaults for the rest; unknown names and bad values raise `ValueError`.
fn spec_from<T: Specification>(
    options: Option<&Bound<'_, PyDict>>,
    allowed: &[(&str, ValueKind)],
) -> PyResult<T> {
    let mut table = toml::Table::new();
    for (key, value) in options.into_iter().flat_map(|d| d.iter()) {
        let key: String = key.extract()?;
        let Some(&(_, kind)) = allowed.iter().find(|(name, _)| *name == key) else {
            let names: Vec<&str> = allowed.iter().map(|(name, _)| *name).collect();
            return Err(value_error(format!(
                "unknown option {key:?}; the options are: {}",
                names.join(", ")
            )));
        };
        let bad = |expected: &str| value_error(format!("{key}: expected {expected}, got {value}"));
        let v = match kind {
            ValueKind::Text if value.is_instance_of::<PyBool>() => {
                return Err(bad("a string or a number"));
            }
            ValueKind::Text
                if value.is_instance_of::<PyString>()
                    || value.is_instance_of::<PyInt>()
                    || value.is_instance_of::<PyFloat>() =>
            {
                toml::Value::String(value.str()?.to_string())
            }
            ValueKind::Text => return Err(bad("a string or a number")),
            ValueKind::Float if !value.is_instance_of::<PyBool>() => {
                toml::Value::Float(value.extract::<f64>().map_err(|_| bad("a number"))?)
            }
            ValueKind::Int if !value.is_instance_of::<PyBool>() => {
                let v: u64 = value.extract().map_err(|_| bad("a non-negative int"))?;
                toml::Value::Integer(i64::try_from(v).map_err(|_| bad("an int below 2^63"))?)
            }
            ValueKind::Bool if value.is_instance_of::<PyBool>() => {
                toml::Value::Boolean(value.extract()?)
            }
            ValueKind::Float => return Err(bad("a number")),
            ValueKind::Int => return Err(bad("an int")),
            ValueKind::Bool => return Err(bad("True or False")),
        };
        table.insert(key.replace('_', "-"), v);
    }
    spec_file::from_options(table, OptionSource::Keywords).map_err(library_error)
}

/// What `kde` returns to Python: the log-density (n,) and the score (n, d).
type LogDensityAndScore<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray2<f64>>);

/// `log_density, score = kde(samples, queries, bandwidth, estimator, tol, log_weights)`.
#[pyfunction]
#[pyo3(signature = (samples, queries, bandwidth, estimator = "auto", tol = 1e-6, log_weights = None))]
fn kde<'py>(
    py: Python<'py>,
    samples: PyReadonlyArray2<'py, f64>,
    queries: PyReadonlyArray2<'py, f64>,
    bandwidth: &Bound<'py, PyAny>,
    estimator: &str,
    tol: f64,
    log_weights: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<LogDensityAndScore<'py>> {
    let samples = points("samples", &samples)?;
    let queries = points("queries", &queries)?;
    let weights: Option<Vec<f64>> = log_weights
        .map(|w| w.as_slice().map(<[f64]>::to_vec))
        .transpose()
        .map_err(|_| value_error("log_weights: the array must be contiguous"))?;
    // The estimator and the bandwidth rule as `ganflow velocity` reads them.
    let options = PyDict::new(py);
    options.set_item("estimator", estimator)?;
    options.set_item("tol", tol)?;
    options.set_item("bandwidth", bandwidth)?;
    let config = spec_from::<RunSpec>(Some(&options), &FIELD_OPTIONS)?.flow_config();
    let (estimator, rule) = (config.estimator, config.bandwidth_q.rule);
    let d = queries.dim();
    let (log_sum, score) = py
        .detach(|| -> ganflow::Result<_> {
            let h = rule.compute("samples", &samples)?;
            let sums = estimator.resolve(d, samples.len()).build(samples)?;
            let (mut log_sum, score) =
                evaluate_sums(sums.as_ref(), &queries, h, weights.as_deref())?;
            // Normalised: by the weights' total when weighted, by the count otherwise.
            let log_total = match &weights {
                Some(w) => log_sum_exp(w),
                None => (sums.samples().len() as f64).ln_p(),
            };
            let offset = log_kernel_norm(d, h) - log_total;
            log_sum.iter_mut().for_each(|v| *v += offset);
            Ok((log_sum, score))
        })
        .map_err(library_error)?;
    Ok((vector(py, log_sum), matrix(py, score, d)?))
}

/// The flow's field at the particles: `v`, `connection`, `log_g`, `log_q` and `dstar`.
#[pyfunction]
#[pyo3(signature = (particles, data, **options))]
fn velocity<'py>(
    py: Python<'py>,
    particles: PyReadonlyArray2<'py, f64>,
    data: PyReadonlyArray2<'py, f64>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let spec: RunSpec = spec_from(options, &FIELD_OPTIONS)?;
    let particles = points("particles", &particles)?;
    let data = points("data", &data)?;
    let d = particles.dim();
    let field = py
        .detach(|| FlowSimulation::new(spec.flow_config(), particles, data)?.field())
        .map_err(library_error)?;
    let out = PyDict::new(py);
    out.set_item("v", matrix(py, field.velocity, d)?)?;
    out.set_item("connection", matrix(py, field.connection, d)?)?;
    out.set_item("log_g", vector(py, field.log_g))?;
    out.set_item("log_q", vector(py, field.log_q))?;
    out.set_item("dstar", vector(py, field.dstar))?;
    Ok(out)
}

/// Diagnostics (and a learning discriminator's measures) as a dict.
fn diagnostics_dict<'py>(
    py: Python<'py>,
    step: u64,
    t: f64,
    diag: &Diagnostics,
    game: Option<&OpponentMeasures>,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("step", step)?;
    out.set_item("t", t)?;
    out.set_item("jsd", diag.jsd)?;
    out.set_item("energy", diag.energy)?;
    out.set_item("connection_norm2", diag.connection_norm2)?;
    out.set_item("mean_dstar_particles", diag.mean_dstar_particles)?;
    out.set_item("mean_dstar_data", diag.mean_dstar_data)?;
    out.set_item("max_speed", diag.max_speed)?;
    if let Some(g) = game {
        out.set_item("disc_gap", g.disc_gap)?;
        out.set_item("param_norm", g.param_norm)?;
        out.set_item("rotation", g.rotation)?;
    }
    Ok(out)
}

fn non_finite(reason: StopReason) -> PyResult<()> {
    match reason {
        StopReason::NonFinite { step, particle } => Err(PyFloatingPointError::new_err(format!(
            "at step {step} the velocity or position of particle {particle} is not finite; \
             a smaller dt or a larger bandwidth may help"
        ))),
        _ => Ok(()),
    }
}

/// A particle flow towards a data set (see the package's `Simulation`).
#[pyclass(module = "ganflow._native")]
struct Simulation {
    sim: FlowSimulation,
}

#[pymethods]
impl Simulation {
    #[new]
    #[pyo3(signature = (particles, data, **options))]
    fn new(
        py: Python<'_>,
        particles: PyReadonlyArray2<'_, f64>,
        data: PyReadonlyArray2<'_, f64>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let allowed: Vec<(&str, ValueKind)> =
            FIELD_OPTIONS.iter().chain(&RUN_OPTIONS).copied().collect();
        let spec = spec_from(options, &allowed)?;
        let particles = points("particles", &particles)?;
        let data = points("data", &data)?;
        let inputs = Inputs::from_points(data, particles);
        let sim = py
            .detach(|| inputs.simulation(&spec))
            .map_err(library_error)?;
        Ok(Self { sim })
    }

    /// One step.
    fn step(&mut self, py: Python<'_>) -> PyResult<()> {
        let sim = &mut self.sim;
        match py.detach(|| sim.step()).map_err(library_error)? {
            Some(reason) => non_finite(reason),
            None => Ok(()),
        }
    }

    /// Runs to `steps` or `time` (totals since step 0), calling `callback(step, t,
    /// particles, diagnostics)` every `every` steps and at the end; a callback that returns
    /// `False` stops the run. Returns the last diagnostics.
    #[pyo3(signature = (steps = None, time = None, every = 1, callback = None))]
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        steps: Option<u64>,
        time: Option<f64>,
        every: u64,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        if steps.is_none() && time.is_none() {
            return Err(value_error("run: give steps or time"));
        }
        let stop = StopRule {
            max_steps: steps,
            max_time: time,
            connection_tol: None,
        };
        let sim = &mut self.sim;
        let mut failure: Option<PyErr> = None;
        let mut observe = |o: &Observation<'_>| -> ganflow::Result<ControlFlow<()>> {
            let Some(callback) = &callback else {
                return Ok(ControlFlow::Continue(()));
            };
            let go_on = Python::attach(|py| -> PyResult<bool> {
                let x = matrix(py, o.particles.as_slice().to_vec(), o.particles.dim())?;
                let game = o.game.as_ref().map(|g| &g.measures);
                let diag = diagnostics_dict(py, o.step, o.t, o.diagnostics, game)?;
                let answer = callback.call1(py, (o.step, o.t, x, diag))?;
                let answer = answer.bind(py);
                // Only `False` stops: `None` (no return value) goes on.
                Ok(!answer.is_instance_of::<PyBool>() || answer.extract::<bool>()?)
            });
            match go_on {
                Ok(true) => Ok(ControlFlow::Continue(())),
                Ok(false) => Ok(ControlFlow::Break(())),
                Err(e) => {
                    failure = Some(e);
                    Ok(ControlFlow::Break(()))
                }
            }
        };
        let summary = py.detach(|| sim.run(&stop, every, &mut observe));
        if let Some(e) = failure {
            return Err(e);
        }
        let summary = summary.map_err(library_error)?;
        non_finite(summary.reason)?;
        diagnostics_dict(py, summary.steps, summary.t, &summary.last, None)
    }

    /// The particles now (a copy).
    #[getter]
    fn particles<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let p = self.sim.particles();
        matrix(py, p.as_slice().to_vec(), p.dim())
    }

    /// The diagnostics now.
    #[getter]
    fn diagnostics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let sim = &self.sim;
        let diag = py.detach(|| sim.diagnostics()).map_err(library_error)?;
        diagnostics_dict(py, sim.step_count(), sim.time(), &diag, None)
    }

    /// Steps taken.
    #[getter]
    fn step_count(&self) -> u64 {
        self.sim.step_count()
    }

    /// Flow time reached.
    #[getter]
    fn time(&self) -> f64 {
        self.sim.time()
    }

    /// The two bandwidths now, `(h_g, h_q)`.
    #[getter]
    fn bandwidths(&self) -> (f64, f64) {
        self.sim.bandwidths()
    }

    /// The learning discriminator's parameters (`None` with the optimal one).
    #[getter]
    fn discriminator<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f64>>> {
        self.sim.opponent_params().map(|p| vector(py, p.to_vec()))
    }

    /// The slow modes of the flow's Jacobian at the particles now.
    #[pyo3(signature = (modes = 8, products = 0))]
    fn spectrum<'py>(
        &self,
        py: Python<'py>,
        modes: usize,
        products: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let sim = &self.sim;
        let d = sim.particles().dim();
        let s = py
            .detach(|| {
                let velocity = |p: &Points| sim.velocity_of(p);
                particle_spectrum(
                    &velocity,
                    sim.particles(),
                    sim.bandwidths().0,
                    modes,
                    products,
                )
            })
            .map_err(library_error)?;
        let out = PyDict::new(py);
        let column = |f: fn(&ganflow::spectrum::particle::ParticleMode) -> f64| -> Vec<f64> {
            s.modes.iter().map(f).collect()
        };
        out.set_item("rate", vector(py, column(|m| m.rate)))?;
        out.set_item("frequency", vector(py, column(|m| m.frequency)))?;
        out.set_item("resolution", vector(py, column(|m| m.resolution)))?;
        out.set_item("residual", vector(py, column(|m| m.residual)))?;
        let displacements: Vec<Bound<'py, PyArray2<f64>>> = s
            .modes
            .iter()
            .map(|m| matrix(py, m.displacement.clone(), d))
            .collect::<PyResult<_>>()?;
        out.set_item("displacement", displacements)?;
        out.set_item("fastest_rate", s.fastest_rate)?;
        out.set_item("stable_dt_euler", s.stable_dt_euler)?;
        out.set_item("stable_dt_heun", s.stable_dt_heun)?;
        out.set_item("products", s.products)?;
        Ok(out)
    }
}

/// The options of `imitate`, as `ganflow imitate` takes them (its demonstrations and start
/// come as arrays instead of files).
const IMITATE_OPTIONS: [(&str, ValueKind); 15] = [
    ("expert", ValueKind::Text),
    ("m", ValueKind::Int),
    ("horizon", ValueKind::Int),
    ("tau", ValueKind::Float),
    ("objective", ValueKind::Text),
    ("n", ValueKind::Int),
    ("steps", ValueKind::Int),
    ("dt", ValueKind::Float),
    ("loss", ValueKind::Text),
    ("scheme", ValueKind::Text),
    ("bandwidth", ValueKind::Text),
    ("estimator", ValueKind::Text),
    ("tol", ValueKind::Float),
    ("every", ValueKind::Int),
    ("seed", ValueKind::Int),
];

/// Trajectories from a `(count, T + 1, d)` array of states (`what` names it in errors).
fn trajectories(what: &str, a: &PyReadonlyArray3<'_, f64>, tau: f64) -> PyResult<Trajectories> {
    let shape = a.shape();
    let (steps, d) = (shape[1], shape[2]);
    if steps < 2 {
        return Err(value_error(format!(
            "{what}: each trajectory needs at least 2 states, got {steps}"
        )));
    }
    let values = a
        .as_slice()
        .map_err(|_| value_error(format!("{what}: the array must be C-contiguous")))?;
    Trajectories::new(d, steps - 1, tau, values.to_vec())
        .map_err(|e| value_error(format!("{what}: {e}")))
}

/// Trajectories as a `(count, T + 1, d)` array.
fn states_array<'py>(py: Python<'py>, t: &Trajectories) -> PyResult<Bound<'py, PyArray3<f64>>> {
    numpy::ndarray::Array3::from_shape_vec((t.len(), t.horizon + 1, t.dim), t.states().to_vec())
        .map(|a| a.into_pyarray(py))
        .map_err(value_error)
}

/// An imitation: learners flow towards demonstrations (see the package's `imitate`).
#[pyfunction]
#[pyo3(signature = (demos = None, init = None, **options))]
fn imitate<'py>(
    py: Python<'py>,
    demos: Option<PyReadonlyArray3<'py, f64>>,
    init: Option<PyReadonlyArray3<'py, f64>>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let spec: ImitateSpec = spec_from(options, &IMITATE_OPTIONS)?;
    let given_demos = demos
        .as_ref()
        .map(|a| trajectories("demos", a, spec.tau))
        .transpose()?;
    let given_start = init
        .as_ref()
        .map(|a| trajectories("init", a, spec.tau))
        .transpose()?;
    let mut run = spec.imitation_run().map_err(library_error)?;
    if given_demos.is_some() {
        // Demonstrations of the caller's own: no built-in expert's yardsticks.
        run.expert = None;
    }
    let names = metric_names(run.expert);
    let result = py.detach(|| -> ganflow::Result<_> {
        let (experts, start) = match (given_demos, given_start) {
            (Some(e), Some(s)) => (e, s),
            (Some(e), None) => {
                let s = random_rollouts(&e, spec.n, spec.seed.wrapping_add(1))?;
                (e, s)
            }
            (None, start) => {
                let inputs = spec.inputs()?;
                (inputs.experts, start.unwrap_or(inputs.start))
            }
        };
        if start.horizon != experts.horizon || start.dim != experts.dim {
            return Err(ganflow::Error::InvalidOption {
                option: "init".into(),
                message: format!(
                    "trajectories of {} steps in {}-D, the demonstrations' have {} in {}-D",
                    start.horizon, start.dim, experts.horizon, experts.dim
                ),
            });
        }
        let mut records: Vec<(u64, f64, Trajectories, Vec<f64>)> = Vec::new();
        let mut observe = |r: &ImitationRecord<'_>| -> ganflow::Result<()> {
            records.push((r.step, r.flow_t, r.learners.clone(), r.values.clone()));
            Ok(())
        };
        let (last, _) = run_imitate(&run, &experts, start, &mut observe, &mut |_| {})?;
        Ok((experts, last, records))
    });
    let (experts, last, records) = result.map_err(library_error)?;
    let out = PyDict::new(py);
    out.set_item("experts", states_array(py, &experts)?)?;
    out.set_item("paths", states_array(py, &last)?)?;
    out.set_item(
        "step",
        numpy::ndarray::Array1::from_iter(records.iter().map(|r| r.0)).into_pyarray(py),
    )?;
    out.set_item("flow_t", vector(py, records.iter().map(|r| r.1).collect()))?;
    let recorded: Vec<Bound<'py, PyArray3<f64>>> = records
        .iter()
        .map(|r| states_array(py, &r.2))
        .collect::<PyResult<_>>()?;
    out.set_item("recorded", recorded)?;
    let metrics = PyDict::new(py);
    for (k, name) in names.iter().enumerate() {
        metrics.set_item(name, vector(py, records.iter().map(|r| r.3[k]).collect()))?;
    }
    out.set_item("metrics", metrics)?;
    Ok(out)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(imitate, m)?)?;
    m.add_function(wrap_pyfunction!(kde, m)?)?;
    m.add_function(wrap_pyfunction!(velocity, m)?)?;
    m.add_class::<Simulation>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
