//! The one error type of the library: every failure is a value with the facts a user needs.

use std::path::PathBuf;

/// Everything that can go wrong in ganflow's library code.
///
/// Variants carry structured fields (which set, which point, which value) so that a caller
/// can both print a precise message and react programmatically.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A run whose estimated peak memory exceeds what is free (checked before its points are
    /// made).
    #[error(
        "{shortfall} (N = {n}, M = {m}, d = {d}); nothing was started. Use a smaller --n or \
         --m, or --no-memory-check to start anyway"
    )]
    InsufficientMemory {
        /// The estimate and what is free.
        shortfall: crate::run::estimate::MemoryShortfall,
        /// Particles.
        n: usize,
        /// Data samples.
        m: usize,
        /// Dimension.
        d: usize,
    },
    /// A point set with no points.
    #[error("{what} is empty: at least one point is needed")]
    Empty {
        /// Which set ("particles", "data", ...).
        what: &'static str,
    },
    /// A dimension of zero.
    #[error("{what} has dimension 0: the dimension must be at least 1")]
    ZeroDimension {
        /// Which set.
        what: &'static str,
    },
    /// A flat coordinate buffer whose length is not a multiple of the dimension.
    #[error("{what}: {len} coordinates do not split into rows of dimension {dim}")]
    Ragged {
        /// Which set.
        what: &'static str,
        /// Number of coordinates given.
        len: usize,
        /// The dimension asked for.
        dim: usize,
    },
    /// Two sets (or a set and a query) of different dimension.
    #[error("dimension mismatch: {what} has dimension {got}, expected {expected}")]
    DimensionMismatch {
        /// Which set.
        what: &'static str,
        /// The dimension required.
        expected: usize,
        /// The dimension found.
        got: usize,
    },
    /// A coordinate that is NaN or infinite.
    #[error("{what}: coordinate {coord} of point {index} is not finite ({value})")]
    NonFinite {
        /// Which set.
        what: &'static str,
        /// Row of the point (0-based).
        index: usize,
        /// Column of the coordinate (0-based).
        coord: usize,
        /// The offending value.
        value: f64,
    },
    /// A parameter that must be strictly positive and finite.
    #[error("{what} must be > 0 and finite, got {value}")]
    NotPositive {
        /// Which parameter ("bandwidth", "dt", "tol", ...).
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// A parameter outside its allowed range.
    #[error("{what} must be {expected}, got {value}")]
    OutOfRange {
        /// Which parameter.
        what: &'static str,
        /// The allowed range, in words.
        expected: &'static str,
        /// The value given.
        value: f64,
    },
    /// A bandwidth rule applied to a set whose points are all identical.
    #[error(
        "{what}: the points have zero spread, so a {rule} bandwidth would be 0; give a fixed bandwidth"
    )]
    ZeroSpread {
        /// Which set.
        what: &'static str,
        /// The rule ("Scott", "Silverman").
        rule: &'static str,
    },
    /// A name (of a metric, a data set, ...) that is not known.
    #[error("unknown {what} {name:?}: {expected}")]
    UnknownName {
        /// What kind of name.
        what: &'static str,
        /// The name given.
        name: String,
        /// What would have been accepted, in words.
        expected: String,
    },
    /// Something asked for needs an input that was not given.
    #[error("{what} needs {needs}")]
    MissingInput {
        /// What was asked for.
        what: String,
        /// What it needs, in words.
        needs: &'static str,
    },
    /// Drawing a picture failed.
    #[error("plot failed: {0}")]
    Plot(String),
    /// The k-d tree library refused the points.
    #[error("k-d tree construction failed: {0}")]
    Tree(String),
    /// A CSV file with bad content.
    #[error("{}: {message}", csv_place(path, *line, *column))]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line; 0 when the whole file is to blame.
        line: u64,
        /// 1-based column, where one is to blame.
        column: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A configuration, `run.toml` or checkpoint file with bad content.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A command-line option (or its configuration key) with a bad value.
    #[error("{option}: {message}")]
    InvalidOption {
        /// The option, as the user wrote it (`--every`).
        option: String,
        /// What is wrong.
        message: String,
    },
    /// An input or output file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The run was interrupted (a signal, or an observer's request at a step) before `step`
    /// was observed or taken.
    #[error("interrupted at step {step}")]
    Interrupted {
        /// The step the run had reached.
        step: u64,
    },
    /// The flow produced a non-finite velocity or position; the state kept is the last
    /// finite one.
    #[error(
        "the flow became non-finite at step {step} (particle {particle}): the time step (--dt) \
         may be too large for the field's speed, or a bandwidth too small for the data's scale"
    )]
    NonFiniteFlow {
        /// The step.
        step: u64,
        /// The first offending particle.
        particle: usize,
    },
    /// An iterative numerical method did not converge.
    #[error("{what} did not converge")]
    NoConvergence {
        /// Which computation.
        what: &'static str,
    },
    /// An observer failed (its own error, boxed).
    #[error("observer failed: {0}")]
    Observer(Box<dyn std::error::Error + Send + Sync>),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An [`Error::Io`] naming `path`: for `map_err` on any file operation.
pub fn io_at(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks that `value` is strictly positive and finite.
pub(crate) fn check_positive(what: &'static str, value: f64) -> Result<f64> {
    if value > 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(Error::NotPositive { what, value })
    }
}

/// `path`, `path: line L` or `path: line L, column C`.
fn csv_place(path: &std::path::Path, line: u64, column: Option<usize>) -> String {
    match (line, column) {
        (0, _) => path.display().to_string(),
        (l, None) => format!("{}: line {l}", path.display()),
        (l, Some(c)) => format!("{}: line {l}, column {c}", path.display()),
    }
}
