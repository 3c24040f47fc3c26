//! The `run.toml` format, shared by every command that writes a run folder (`run`,
//! `imitate`): a version key, the command that wrote it, the folder's status, then the
//! command's specification with its keys spelled as the long options.
//!
//! A configuration file (`--config`) is the same table without the status; it may be a
//! run folder's `run.toml`, or written by hand with any subset of the keys. Merging is in
//! one order: the specification's defaults, the file, the options given on the command
//! line.

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The key of the version that wrote a `run.toml`.
pub const VERSION_KEY: &str = "ganflow-version";
/// The key of the command that wrote a `run.toml` (`run` where absent).
pub const COMMAND_KEY: &str = "command";
/// The key of a run folder's state in `run.toml`.
pub const STATUS_KEY: &str = "status";

/// Where a run stands, as written in its `run.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Being computed now (or killed while it was: `ganflow resume` continues it).
    Running,
    /// Stopped by a signal; `ganflow resume` continues it.
    Interrupted,
    /// Stopped by an error; the message said which.
    Failed,
    /// Finished by its stop rule; `ganflow resume --steps` extends it.
    Complete,
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::Interrupted => "interrupted",
            Self::Failed => "failed",
            Self::Complete => "complete",
        })
    }
}

/// The command whose specification a `run.toml` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `ganflow run` (a flow towards a target).
    Run,
    /// `ganflow imitate` (an imitation of demonstrations).
    Imitate,
}

impl Command {
    /// The command's name, as typed and as written under [`COMMAND_KEY`].
    pub fn name(self) -> &'static str {
        match self {
            Self::Run => "run",
            Self::Imitate => "imitate",
        }
    }
}

/// A command's specification: what `run.toml` holds and `--config` sets.
pub trait Specification: Serialize + DeserializeOwned {
    /// The command it specifies.
    const COMMAND: Command;
    /// The first line of its `run.toml` (without the `#`): how to rerun it.
    const RERUN: &'static str;
    /// Checks every rule, naming the option that breaks it.
    fn check(&self) -> Result<()>;
}

/// An error in `option`'s value.
pub fn option_error(option: &str, message: impl Into<String>) -> Error {
    Error::InvalidOption {
        option: option.to_string(),
        message: message.into(),
    }
}

/// `v` is positive and finite, or an error naming `option`.
pub fn positive(option: &str, v: f64) -> Result<()> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(option_error(
            option,
            format!("must be > 0 and finite, got {v}"),
        ))
    }
}

/// Takes the version key out of a table; a version other than this one is refused (a file
/// without the key, written by hand, is fine).
fn check_version(table: &mut toml::Table) -> std::result::Result<(), String> {
    // The key of version 0.1, before keys were spelled as the long options.
    if let Some(v) = table.remove("ganflow_version") {
        let v = v.as_str().map_or_else(|| v.to_string(), String::from);
        return Err(format!(
            "written by ganflow {v}, whose keys this version ({}) does not read; \
             write the options again by hand or rerun that version",
            env!("CARGO_PKG_VERSION")
        ));
    }
    match table.remove(VERSION_KEY) {
        None => Ok(()),
        Some(toml::Value::String(v)) if v == env!("CARGO_PKG_VERSION") => Ok(()),
        Some(v) => Err(format!(
            "written by ganflow {}, but this is ganflow {}: results may differ, so it is refused",
            v.as_str().map_or_else(|| v.to_string(), String::from),
            env!("CARGO_PKG_VERSION")
        )),
    }
}

/// Takes the command key out of a table; a file another command wrote is refused, with the
/// command that reads it (a file without the key is taken as `command`'s).
fn check_command(table: &mut toml::Table, command: Command) -> std::result::Result<(), String> {
    match table.remove(COMMAND_KEY) {
        None => Ok(()),
        Some(toml::Value::String(v)) if v == command.name() => Ok(()),
        Some(v) => {
            let v = v.as_str().map_or_else(|| v.to_string(), String::from);
            Err(format!(
                "written by `ganflow {v}`, not `ganflow {}`: run it with `ganflow {v} --config`",
                command.name()
            ))
        }
    }
}

/// Merges, in order, the specification's defaults, a configuration file's table (`config`:
/// its path and contents; a `run.toml` works too) and the options given on the command line
/// (`given`, keyed as the long options), then checks the result. Unknown keys and badly
/// typed values name the file or the command line; a `run.toml` written by another ganflow
/// version or another command is refused.
pub fn merge<T: Specification>(config: Option<(&Path, &str)>, given: toml::Table) -> Result<T> {
    let command = T::COMMAND;
    let mut table = toml::Table::new();
    if let Some((path, text)) = config {
        let file_err = |message: String| Error::File {
            path: path.to_path_buf(),
            message,
        };
        let mut file: toml::Table = toml::from_str(text).map_err(|e| file_err(e.to_string()))?;
        check_version(&mut file).map_err(file_err)?;
        check_command(&mut file, command).map_err(file_err)?;
        file.remove(STATUS_KEY);
        // Checked on its own, so that an unknown key is blamed on the file.
        let _: T = toml::Value::Table(file.clone())
            .try_into()
            .map_err(|e: toml::de::Error| file_err(e.to_string()))?;
        table = file;
    }
    for (key, value) in given {
        table.insert(key, value);
    }
    from_options(table, OptionSource::CommandLine)
}

/// Where options come from, for the names errors give them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionSource {
    /// The command line: `--bandwidth-g`.
    CommandLine,
    /// A library caller's keyword arguments (Python): `bandwidth_g`.
    Keywords,
}

impl OptionSource {
    /// The name of the option whose key is `key` (`bandwidth-g`).
    pub fn name(self, key: &str) -> String {
        match self {
            Self::CommandLine => format!("--{key}"),
            Self::Keywords => key.replace('-', "_"),
        }
    }
}

/// The specification from `options` (keyed as the long options) over the defaults, checked.
/// A key or value that does not read is blamed on its option, named as `source` names it.
pub fn from_options<T: Specification>(options: toml::Table, source: OptionSource) -> Result<T> {
    let whole: std::result::Result<T, toml::de::Error> =
        toml::Value::Table(options.clone()).try_into();
    let spec = match whole {
        Ok(spec) => spec,
        Err(e) => {
            // The first option that does not read on its own names the error.
            for (key, value) in options {
                let one = toml::Table::from_iter([(key.clone(), value)]);
                if let Err(e) = toml::Value::Table(one).try_into::<T>() {
                    return Err(option_error(&source.name(&key), e.message()));
                }
            }
            return Err(option_error("options", e.message()));
        }
    };
    spec.check()?;
    Ok(spec)
}

/// Reads a run folder's `run.toml`: the specification, checked, and the status.
pub fn read<T: Specification>(path: &Path) -> Result<(T, RunStatus)> {
    let command = T::COMMAND;
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file_err = |message: String| Error::File {
        path: path.to_path_buf(),
        message,
    };
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| file_err(e.to_string()))?;
    check_version(&mut table).map_err(file_err)?;
    check_command(&mut table, command).map_err(file_err)?;
    let status = match table.remove(STATUS_KEY) {
        Some(v) => v
            .try_into()
            .map_err(|e: toml::de::Error| file_err(e.to_string()))?,
        None => {
            return Err(file_err(format!(
                "no {STATUS_KEY} key: not a run folder's run.toml"
            )));
        }
    };
    let spec: T = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| file_err(e.to_string()))?;
    spec.check().map_err(|e| file_err(e.to_string()))?;
    Ok((spec, status))
}

/// The text of `run.toml` for `spec` with `status`.
pub fn text<T: Specification>(spec: &T, status: RunStatus) -> Result<String> {
    let version = env!("CARGO_PKG_VERSION");
    let body = toml::to_string(spec).map_err(|e| option_error("run.toml", e.to_string()))?;
    Ok(format!(
        "# ganflow {version}: {}\n{VERSION_KEY} = {version:?}\n{COMMAND_KEY} = \"{}\"\n\
         {STATUS_KEY} = \"{status}\"\n{body}",
        T::RERUN,
        T::COMMAND.name()
    ))
}
