//! A run's output folder: claimed atomically, marked as ganflow's, locked while a process
//! writes it, and never replaced unless it holds nothing but a run's own files.
//!
//! Rules, each refused before any work is done:
//! - a path that is a file, not a folder;
//! - the current folder or one of its ancestors, and any folder that holds an input file;
//! - a folder with files ganflow did not write (even with `--force`);
//! - a run folder without `--force` (`ganflow resume` continues it);
//! - a folder that another ganflow process is writing (its lock is held).
//!
//! Without `--out`, the first free `runs/run-N` is taken with `create_dir`, which fails for
//! all but one of several processes racing for the same N, so concurrent runs get distinct
//! folders. The lock is an advisory lock on the marker file: the operating system drops it
//! when the process ends, however it ends, so a killed run never leaves a stale lock.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, io_at};

/// The marker file that says a folder is a ganflow run's.
pub const MARKER: &str = ".ganflow-run";

/// Every file a run writes into its folder, besides the marker and the temporary files of
/// [`crate::output::write_whole`].
pub const RUN_FILES: [&str; 14] = [
    "run.toml",
    "trajectories.csv",
    "metrics.csv",
    "discriminator.csv",
    "demos.csv",
    "paths.csv",
    "final_paths.csv",
    "paths.png",
    "final.csv",
    "checkpoint.bin",
    "particles.png",
    "metrics.png",
    "flow.gif",
    "digits.png",
];

/// A claimed, locked run folder. The lock is held until this is dropped.
#[derive(Debug)]
pub struct RunFolder {
    path: PathBuf,
    _lock: File,
}

fn refuse(path: &Path, message: impl Into<String>) -> Error {
    Error::InvalidOption {
        option: format!("--out {}", path.display()),
        message: message.into(),
    }
}

impl RunFolder {
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file of the folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Claims the first free `runs/run-N` under `base`.
    pub fn claim_next(base: &Path) -> Result<Self> {
        fs::create_dir_all(base).map_err(io_at(base))?;
        for i in 1.. {
            let path = base.join(format!("run-{i}"));
            match fs::create_dir(&path) {
                Ok(()) => return Self::mark_new(path),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_at(&path)(e)),
            }
        }
        unreachable!("some index is free")
    }

    /// Claims `path` for a new run: creates it, or takes an existing empty folder, or (with
    /// `force`) a finished or stopped run's folder, whose files are removed. `inputs` are the
    /// files the run reads: a folder holding one is refused.
    pub fn claim(path: &Path, force: bool, inputs: &[PathBuf]) -> Result<Self> {
        match fs::symlink_metadata(path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    fs::create_dir_all(parent).map_err(io_at(parent))?;
                }
                match fs::create_dir(path) {
                    Ok(()) => return Self::mark_new(path.to_path_buf()),
                    // Another process made it first: judge it like any existing folder.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_at(path)(e)),
                }
            }
            Err(e) => return Err(io_at(path)(e)),
            Ok(meta) if !meta.is_dir() => {
                return Err(refuse(
                    path,
                    "is a file, not a folder; name a folder for the run",
                ));
            }
            Ok(_) => {}
        }
        let canonical = fs::canonicalize(path).map_err(io_at(path))?;
        let cwd = std::env::current_dir().map_err(io_at(Path::new(".")))?;
        if cwd.starts_with(&canonical) {
            return Err(refuse(
                path,
                "is the current folder or one of its parents; name a new folder for the run",
            ));
        }
        for input in inputs {
            let input = fs::canonicalize(input).map_err(io_at(input))?;
            if input.starts_with(&canonical) {
                return Err(refuse(
                    path,
                    format!(
                        "holds the input file {}; name a new folder",
                        input.display()
                    ),
                ));
            }
        }
        let entries = list(path)?;
        if !entries.iter().any(|e| e == MARKER) {
            if entries.is_empty() {
                return Self::mark_new(path.to_path_buf());
            }
            return Err(refuse(
                path,
                format!(
                    "exists and holds files that ganflow did not write ({}); nothing was touched",
                    preview(&entries)
                ),
            ));
        }
        let folder = Self::lock(path)?;
        if !force {
            return Err(refuse(
                path,
                "already holds a run; pass --force to replace it, or `ganflow resume` to continue it",
            ));
        }
        let foreign: Vec<String> = entries
            .iter()
            .filter(|e| !is_run_file(e))
            .cloned()
            .collect();
        if !foreign.is_empty() {
            return Err(refuse(
                path,
                format!(
                    "holds a run but also other files ({}); --force replaces only a folder with \
                     nothing but a run's own files; nothing was touched",
                    preview(&foreign)
                ),
            ));
        }
        for e in entries.iter().filter(|e| e.as_str() != MARKER) {
            let p = path.join(e);
            fs::remove_file(&p).map_err(io_at(&p))?;
        }
        Ok(folder)
    }

    /// Opens an existing run folder to continue it (`ganflow resume`).
    pub fn open(path: &Path) -> Result<Self> {
        let meta = fs::metadata(path).map_err(io_at(path))?;
        if !meta.is_dir() {
            return Err(Error::File {
                path: path.to_path_buf(),
                message: "is a file, not a run folder".into(),
            });
        }
        if !path.join(MARKER).exists() {
            return Err(Error::File {
                path: path.to_path_buf(),
                message: "is not a ganflow run folder (it has no marker file)".into(),
            });
        }
        Self::lock(path)
    }

    fn mark_new(path: PathBuf) -> Result<Self> {
        let marker = path.join(MARKER);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)
            .map_err(io_at(&marker))?;
        Self::lock(&path)
    }

    fn lock(path: &Path) -> Result<Self> {
        let marker = path.join(MARKER);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&marker)
            .map_err(io_at(&marker))?;
        match file.try_lock() {
            Ok(()) => Ok(Self {
                path: path.to_path_buf(),
                _lock: file,
            }),
            Err(fs::TryLockError::WouldBlock) => Err(Error::File {
                path: path.to_path_buf(),
                message: "is in use by another ganflow process".into(),
            }),
            Err(fs::TryLockError::Error(e)) => Err(io_at(&marker)(e)),
        }
    }
}

fn is_run_file(name: &str) -> bool {
    name == MARKER || RUN_FILES.contains(&name) || crate::output::is_temp_name(name)
}

fn list(path: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(path).map_err(io_at(path))? {
        let entry = entry.map_err(io_at(path))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

fn preview(names: &[String]) -> String {
    let mut s = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        s.push_str(&format!(" and {} more", names.len() - 5));
    }
    s
}
