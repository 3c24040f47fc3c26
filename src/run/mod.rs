//! One run, from its specification to its files: every subcommand that simulates goes
//! through here.
//!
//! ```text
//! RunSpec (defaults <- config file <- command line; run.toml is its serialisation)
//!   -> Inputs (data, start, coordinates, closed forms; a digest of them)
//!   -> RunFolder (claimed, marked, locked)
//!   -> driver: Simulation + observers (recorder and metrics, checkpointer, the caller's)
//!   -> run.toml, trajectories.csv, metrics.csv, checkpoint.bin, final.csv
//! ```

pub mod checkpoint;
pub mod driver;
pub mod estimate;
pub mod folder;
pub mod inputs;
pub mod spec;
pub mod spec_file;

pub use checkpoint::Checkpoint;
pub use driver::{Extend, Outcome, RunOptions, follow, resume, start};
pub use folder::RunFolder;
pub use inputs::{InputDigest, Inputs};
pub use spec::{RunSpec, RunStatus};
