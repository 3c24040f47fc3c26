//! A specification's inputs, loaded once: the data, the starting particles, the coordinates
//! the flow runs on, the target's closed form and mode centres, and a digest of all of it
//! that a checkpoint carries so that `resume` can tell when an input file has changed.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::spec::{
    Coordinates, DataDensity, DiscInit, DiscriminatorKind, RunSpec, Start, TimeStep,
};
use crate::datasets::{Builtin, IsotropicMixture, read_csv, read_csv_with_header};
use crate::error::{Error, Result, io_at};
use crate::flow::sim::Simulation;
use crate::game::{Discriminator, Player};
use crate::metrics::Modes;
use crate::points::{Points, Standardizer};

/// A SHA-256 digest of a run's inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputDigest(pub [u8; 32]);

/// Everything a specification reads, in the data's own units.
#[derive(Debug)]
pub struct Inputs {
    /// The target samples.
    pub data: Points,
    /// The data's column names, where its file has a header.
    pub names: Option<Vec<String>>,
    /// The built-in target, unless the data come from a file.
    pub target: Option<Builtin>,
    /// The starting particles.
    pub particles: Points,
    /// The coordinates the flow runs on (standardised or whitened), or the data's own.
    pub coordinates: Option<Standardizer>,
    /// The closed-form data density, with `--data-density exact`.
    pub density: Option<IsotropicMixture>,
    /// Mode centres for the mode metrics, where known and usable.
    pub modes: Option<Modes>,
    /// A learning discriminator's starting parameters, from `--disc-init FILE`.
    pub disc_init: Option<Vec<f64>>,
}

/// The sizes of a run: particles, data samples, dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunSizes {
    /// Particles.
    pub n: usize,
    /// Data samples.
    pub m: usize,
    /// Dimension.
    pub d: usize,
}

impl Inputs {
    /// Loads what `spec` names. Errors name the file or the option at fault.
    pub fn load(spec: &RunSpec) -> Result<Self> {
        Self::load_checked(spec, &|_| Ok(()))
    }

    /// [`Inputs::load`], calling `check` once with the run's sizes as soon as they are known,
    /// before the points are made where it can: before anything when target and start are
    /// built-ins, after the data file is read when the start is a built-in, after the
    /// start's file is read otherwise. An error from `check` stops the loading.
    pub fn load_checked(spec: &RunSpec, check: &dyn Fn(RunSizes) -> Result<()>) -> Result<Self> {
        let target = spec.target_builtin()?;
        // Everything built in: known before anything is drawn.
        let built_in = matches!(spec.init, Start::Builtin(_));
        if let (Some(b), true) = (&target, built_in) {
            check(RunSizes {
                n: spec.n,
                m: spec.m,
                d: b.dim(),
            })?;
        }
        let (data, names) = match (&spec.data, &target) {
            (Some(path), _) => read_csv_with_header(path)?,
            (None, Some(b)) => (b.sample(spec.m, spec.seed)?, None),
            (None, None) => unreachable!("a spec without --data has a built-in target"),
        };
        let coordinates = match spec.coordinates() {
            Coordinates::Whitened => Some(Standardizer::fit_whitening(&data)),
            Coordinates::Standardized => Some(Standardizer::fit(&data)),
            Coordinates::Data => None,
        };
        let sizes = |n| RunSizes {
            n,
            m: data.len(),
            d: data.dim(),
        };
        if target.is_none() && built_in {
            check(sizes(spec.n))?;
        }
        let particles = load_start(spec, &data, coordinates.as_ref())?;
        if !built_in {
            check(sizes(particles.len()))?;
        }
        let density = match spec.data_density {
            DataDensity::Kde => None,
            DataDensity::Exact => Some(
                target
                    .as_ref()
                    .map(|b| b.density())
                    .transpose()?
                    .flatten()
                    .ok_or_else(|| Error::InvalidOption {
                        option: "--data-density".into(),
                        message: format!(
                            "exact needs a built-in target with a closed-form density \
                             (gaussian, gaussian-mixture, eight-gaussians, twenty-five-gaussians), not {}",
                            spec.data
                                .as_ref()
                                .map_or(spec.target.clone(), |p| p.display().to_string())
                        ),
                    })?,
            ),
        };
        let modes = match (&spec.centers, spec.center_std) {
            (Some(_), _) if coordinates.is_some() => {
                return Err(Error::InvalidOption {
                    option: "--centers".into(),
                    message:
                        "centres are in the data's units: leave out --standardize and --whiten"
                            .into(),
                });
            }
            (Some(path), Some(std)) => Some(Modes {
                centers: read_csv(path)?,
                std,
            }),
            // Built-in modes are in the data's units: dropped on standardised coordinates.
            _ if coordinates.is_some() => None,
            _ => target
                .as_ref()
                .map(|b| b.density())
                .transpose()?
                .flatten()
                .map(|m| Modes {
                    centers: m.centers,
                    std: m.std,
                }),
        };
        if let Some(m) = &modes {
            m.centers
                .check_same_dim("mode centres", &data)
                .map_err(|_| Error::InvalidOption {
                    option: "--centers".into(),
                    message: format!(
                        "the centres have {} columns but the data has {}",
                        m.centers.dim(),
                        data.dim()
                    ),
                })?;
        }
        let disc_init = match (&spec.disc_init, spec.discriminator) {
            (_, DiscriminatorKind::Optimal) | (DiscInit::Zeros, _) => None,
            (DiscInit::File(path), _) => Some(read_parameters(path)?),
        };
        Ok(Self {
            data,
            names,
            target,
            particles,
            coordinates,
            density,
            modes,
            disc_init,
        })
    }

    /// Inputs given as points (a library caller's own arrays): the data's own coordinates, no
    /// closed form, no mode centres, a learning discriminator starting from zeros.
    pub fn from_points(data: Points, particles: Points) -> Self {
        Self {
            data,
            names: None,
            target: None,
            particles,
            coordinates: None,
            density: None,
            modes: None,
            disc_init: None,
        }
    }

    /// The length, in the data's units, of one unit of the flow's coordinates along the
    /// first axis (for a 1-D picture's bandwidths): the data's spread on standardised or
    /// whitened coordinates, 1 on the data's own.
    pub fn first_axis_unit(&self) -> f64 {
        match &self.coordinates {
            Some(s) => {
                let d = self.data.dim();
                let mut e = vec![0.0; d];
                e[0] = 1.0;
                let v = s.inverse_vector(&e);
                v.iter().map(|a| a * a).sum::<f64>().sqrt()
            }
            None => 1.0,
        }
    }

    /// The data and the particles in the flow's coordinates.
    fn in_flow_coordinates(&self) -> Result<(Points, Points)> {
        match &self.coordinates {
            Some(s) => Ok((s.forward(&self.data)?, s.forward(&self.particles)?)),
            None => Ok((self.data.clone(), self.particles.clone())),
        }
    }

    /// Resolves a step given per squared bandwidth (`--dt 0.6h^2`, the default) into the
    /// fixed step it comes to with the particles' bandwidth at the start, in the flow's
    /// coordinates and before any annealing.
    pub fn resolve_time_step(&self, spec: &mut RunSpec) -> Result<()> {
        if let TimeStep::PerBandwidth(_) = spec.dt {
            let (data, particles) = self.in_flow_coordinates()?;
            let h_g = spec.flow_config().bandwidth_g.compute(&particles, &data)?;
            spec.resolve_time_step(h_g);
        }
        Ok(())
    }

    /// The simulation at step 0: the flow on the run's coordinates.
    pub fn simulation(&self, spec: &RunSpec) -> Result<Simulation> {
        let mut resolved = spec.clone();
        self.resolve_time_step(&mut resolved)?;
        let spec = &resolved;
        let (data, particles) = self.in_flow_coordinates()?;
        let config = spec.flow_config();
        let d = data.dim();
        let sim = match &self.density {
            None => Simulation::new(config, particles, data),
            Some(m) => Simulation::with_exact_density(config, particles, data, m.clone()),
        }?;
        let (Some(family), Some(game)) = (spec.disc_family(d)?, spec.game_config()) else {
            return Ok(sim);
        };
        let disc = match &self.disc_init {
            None => Discriminator::zeros(family, d, spec.seed.wrapping_add(3)),
            Some(params) => {
                let expected = family.parameters(d);
                Discriminator::with_params(family, d, params.clone()).map_err(|_| {
                    Error::InvalidOption {
                        option: "--disc-init".into(),
                        message: format!(
                            "the file holds {} parameters; --discriminator {} in {d}-D has {expected}",
                            params.len(),
                            spec.discriminator
                        ),
                    }
                })?
            }
        };
        sim.with_opponent(Box::new(Player { disc, config: game }))
    }

    /// The digest of everything loaded: data, start, and mode centres, bit for bit.
    pub fn digest(&self) -> InputDigest {
        let mut h = Sha256::new();
        let mut add = |label: &[u8], p: &Points| {
            h.update(label);
            h.update((p.len() as u64).to_le_bytes());
            h.update((p.dim() as u64).to_le_bytes());
            for v in p.as_slice() {
                h.update(v.to_bits().to_le_bytes());
            }
        };
        add(b"data", &self.data);
        add(b"particles", &self.particles);
        if let Some(m) = &self.modes {
            add(b"centres", &m.centers);
        }
        if let Some(p) = &self.disc_init {
            h.update(b"discriminator");
            h.update((p.len() as u64).to_le_bytes());
            for v in p {
                h.update(v.to_bits().to_le_bytes());
            }
        }
        InputDigest(h.finalize().into())
    }
}

/// The starting particles, in the data's units.
fn load_start(spec: &RunSpec, data: &Points, fit: Option<&Standardizer>) -> Result<Points> {
    let d = data.dim();
    let seed = spec.seed.wrapping_add(1);
    let particles = match &spec.init {
        Start::Builtin(name)
            if (name == "gaussian" || name == "uniform")
                && (spec.data.is_some() || fit.is_some()) =>
        {
            // Matched to the data: per-feature mean and std (the full covariance when
            // whitening), so any data set works untuned.
            let fitted;
            let fit = match fit {
                Some(f) => f,
                None => {
                    fitted = Standardizer::fit(data);
                    &fitted
                }
            };
            let unit = if name == "gaussian" {
                Builtin::Gaussian {
                    mean: vec![0.0; d],
                    std: 1.0,
                }
            } else {
                Builtin::Uniform {
                    dim: d,
                    low: -2.0,
                    high: 2.0,
                }
            };
            fit.inverse(&unit.sample(spec.n, seed)?)?
        }
        Start::Builtin(name) => Builtin::by_name(name, d)
            .ok_or_else(|| Error::InvalidOption {
                option: "--init".into(),
                message: format!("unknown built-in {name:?}"),
            })?
            .sample(spec.n, seed)?,
        Start::File(path) => read_csv(path)?,
    };
    if particles.dim() != d {
        let source = match &spec.data {
            Some(path) => path.display().to_string(),
            None => format!("the built-in target {}", spec.target),
        };
        return Err(Error::InvalidOption {
            option: "--init".into(),
            message: format!(
                "{} has {} columns but {source} has {d}: particles and data must have the same dimension",
                spec.init,
                particles.dim()
            ),
        });
    }
    Ok(particles)
}

/// The files a specification reads, made absolute so that its `run.toml` works from any
/// folder. Errors name the path.
pub fn absolutize(spec: &mut RunSpec) -> Result<()> {
    let abs = |p: &Path| -> Result<PathBuf> { fs::canonicalize(p).map_err(io_at(p)) };
    if let Some(p) = &spec.data {
        spec.data = Some(abs(p)?);
    }
    if let Some(p) = &spec.centers {
        spec.centers = Some(abs(p)?);
    }
    if let Start::File(p) = &spec.init {
        spec.init = Start::File(abs(p)?);
    }
    Ok(())
}

/// The input files a specification reads (for the output folder's safety checks).
pub fn input_files(spec: &RunSpec) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = spec.data.iter().chain(&spec.centers).cloned().collect();
    if let Start::File(p) = &spec.init {
        files.push(p.clone());
    }
    files
}

/// A discriminator's parameters from the last row of a CSV file: the numbers of the row, or
/// its columns after `step,t` when the header starts with `step` (as `discriminator.csv`).
fn read_parameters(path: &Path) -> Result<Vec<f64>> {
    let text = fs::read_to_string(path).map_err(io_at(path))?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let csv_error = |line: usize, column: Option<usize>, message: String| Error::Csv {
        path: path.to_path_buf(),
        line: line as u64,
        column,
        message,
    };
    let Some(&(last, row)) = lines.last() else {
        return Err(csv_error(0, None, "is empty: no parameters".into()));
    };
    let skip = match lines.first() {
        Some((_, h)) if h.trim_start().starts_with("step") => 2,
        _ => 0,
    };
    let cells: Vec<&str> = row.split(',').map(str::trim).collect();
    if cells.len() <= skip {
        return Err(csv_error(last + 1, None, "holds no parameters".into()));
    }
    cells[skip..]
        .iter()
        .enumerate()
        .map(|(k, c)| match c.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(csv_error(
                last + 1,
                Some(skip + k + 1),
                format!("{c:?} is not a finite number"),
            )),
        })
        .collect()
}
