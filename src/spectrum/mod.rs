//! The flow's linearisation at equilibrium: its decay rates, slow modes and stable steps.
//!
//! Near an equilibrium `rho_0` of the plug-in flow with loss weight `w`, a perturbation
//! `eps` of the particles' density evolves by
//!
//! ```text
//! d eps/dt = w(1/2) div( rho_0 grad( (K_{h_g} * eps) / p_h ) ),      K_{h_g} * rho_0 = p_h,
//! ```
//!
//! where `p_h` is the target as the flow sees it (the closed form, or the data's KDE). The
//! rates are the eigenvalues of this operator with their sign turned; `docs/spectrum.md`
//! derives it and the closed forms the tests check it against.
//!
//! [`continuum`] and [`continuum2d`] discretise the operator on a grid in 1-D and 2-D;
//! [`particle`] takes the Jacobian of a set of particles' velocities, in any dimension.

pub mod continuum;
pub mod continuum2d;
pub mod particle;
pub mod smooth;

pub use continuum::{ContinuumTarget, Mode, Spectrum, continuum_1d};
pub use continuum2d::{Spectrum2d, continuum_2d};
pub use particle::{ParticleMode, ParticleSpectrum, particle_spectrum};

use crate::error::{Error, Result};
use crate::kde::BandwidthFrom;
use crate::points::Points;
use crate::run::Inputs;
use crate::run::spec::{DataDensity, RunSpec, SchemeName};

/// Cells of the continuum grid when none is asked for: on the line, and per axis in the
/// plane (where the cost grows with the cells' count squared).
pub const DEFAULT_GRID_1D: usize = 400;
/// See [`DEFAULT_GRID_1D`].
pub const DEFAULT_GRID_2D: usize = 60;

/// A continuum spectrum on the line or in the plane.
#[derive(Clone, Debug, PartialEq)]
pub enum Continuum {
    /// 1-D.
    Line(Spectrum),
    /// 2-D.
    Plane(Spectrum2d),
}

impl Continuum {
    /// The slowest modes, by ascending rate.
    pub fn modes(&self) -> &[Mode] {
        match self {
            Continuum::Line(s) => &s.modes,
            Continuum::Plane(s) => &s.modes,
        }
    }

    /// The largest rate of the resolved operator.
    pub fn fastest_rate(&self) -> f64 {
        match self {
            Continuum::Line(s) => s.fastest_rate,
            Continuum::Plane(s) => s.fastest_rate,
        }
    }

    /// The largest stable Euler step.
    pub fn stable_dt_euler(&self) -> f64 {
        match self {
            Continuum::Line(s) => s.stable_dt_euler,
            Continuum::Plane(s) => s.stable_dt_euler,
        }
    }

    /// The largest stable Heun step.
    pub fn stable_dt_heun(&self) -> f64 {
        match self {
            Continuum::Line(s) => s.stable_dt_heun,
            Continuum::Plane(s) => s.stable_dt_heun,
        }
    }

    /// The cells per axis.
    pub fn cells(&self) -> usize {
        match self {
            Continuum::Line(s) => s.grid.len(),
            Continuum::Plane(s) => s.cells,
        }
    }

    /// The cell centres.
    pub fn centres(&self) -> Result<Points> {
        match self {
            Continuum::Line(s) => Points::new("grid centres", s.grid.clone(), 1),
            Continuum::Plane(s) => Ok(s.centres.clone()),
        }
    }

    /// `rho_0` at the centres.
    pub fn rho0(&self) -> &[f64] {
        match self {
            Continuum::Line(s) => &s.rho0,
            Continuum::Plane(s) => &s.rho0,
        }
    }

    /// Each mode's displacement field at the centres (row-major, one row per centre).
    pub fn displacements(&self) -> Vec<Vec<f64>> {
        match self {
            Continuum::Line(s) => s.modes.iter().map(|m| m.displacement(s)).collect(),
            Continuum::Plane(s) => s.displacements.clone(),
        }
    }
}

/// The continuum spectrum of a run's equilibrium, with what it was computed for.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpectrum {
    /// The spectrum.
    pub spectrum: Continuum,
    /// The loss weight at `D* = 1/2`.
    pub w_half: f64,
    /// The particles' bandwidth.
    pub h_g: f64,
}

/// The continuum spectrum for a run's specification and inputs: its target (the closed form
/// with `--data-density exact`, else the data's KDE), bandwidths and loss, on `grid_points`
/// cells per axis ([`DEFAULT_GRID_1D`] or [`DEFAULT_GRID_2D`] when `None`); the `modes`
/// slowest. Errors name the option that makes it undefined.
pub fn for_run(
    spec: &RunSpec,
    inputs: &Inputs,
    grid_points: Option<usize>,
    modes: usize,
) -> Result<RunSpectrum> {
    let refuse = |option: &str, message: String| Error::InvalidOption {
        option: option.to_string(),
        message,
    };
    if spec.scheme == SchemeName::Variational {
        return Err(refuse(
            "--scheme",
            "the continuum spectrum covers the plug-in scheme, not variational (--particles \
             covers both)"
                .into(),
        ));
    }
    let d = inputs.data.dim();
    if d > 2 {
        return Err(refuse(
            "--data/--dim",
            format!(
                "the continuum spectrum is computed in 1-D and 2-D; the data has {d} columns \
                 (--particles covers any dimension)"
            ),
        ));
    }
    let config = spec.flow_config();
    for (option, b) in [
        ("--bandwidth-g", config.bandwidth_g),
        ("--bandwidth-q", config.bandwidth_q),
    ] {
        if b.from == BandwidthFrom::Particles {
            return Err(refuse(
                option,
                "a bandwidth on the particles is not defined at equilibrium; give a number or \
                 a rule on the data"
                    .into(),
            ));
        }
    }
    let h_g = config.bandwidth_g.compute(&inputs.data, &inputs.data)?;
    let target = match (&inputs.density, spec.data_density) {
        (Some(density), DataDensity::Exact) => ContinuumTarget::Closed(density.clone()),
        _ => ContinuumTarget::Samples {
            data: inputs.data.clone(),
            h_q: config.bandwidth_q.compute(&inputs.data, &inputs.data)?,
        },
    };
    let w_half = config.loss.weight(0.5);
    let spectrum = if d == 1 {
        let g = grid_points.unwrap_or(DEFAULT_GRID_1D);
        Continuum::Line(continuum_1d(&target, h_g, w_half, g, modes)?)
    } else {
        let g = grid_points.unwrap_or(DEFAULT_GRID_2D);
        Continuum::Plane(continuum_2d(&target, h_g, w_half, g, modes)?)
    };
    Ok(RunSpectrum {
        spectrum,
        w_half,
        h_g,
    })
}

/// The particle spectrum at a run's particles, in the data's units.
#[derive(Clone, Debug, PartialEq)]
pub struct RunParticleSpectrum {
    /// The spectrum, in the flow's coordinates.
    pub spectrum: ParticleSpectrum,
    /// The particles, in the data's units.
    pub positions: Points,
    /// Each mode's displacement field, in the data's units (row-major `N x d`).
    pub displacements: Vec<Vec<f64>>,
    /// The particles' bandwidth (in the flow's coordinates).
    pub h_g: f64,
}

/// The particle spectrum for a run's specification with its starting particles as the
/// configuration (`Inputs::particles`; `ganflow spectrum --particles` loads them as the
/// start): the Jacobian of the velocity field the run would move them with, its `modes`
/// slowest modes from `products` Jacobian-vector products (0: the default). Bandwidths are
/// those the run computes at its first step, held fixed.
pub fn particles_for_run(
    spec: &RunSpec,
    inputs: &Inputs,
    modes: usize,
    products: usize,
) -> Result<RunParticleSpectrum> {
    let sim = inputs.simulation(spec)?;
    let h_g = sim.bandwidths().0;
    let x = sim.particles().clone();
    let velocity = |p: &Points| sim.velocity_of(p);
    let spectrum = particle_spectrum(&velocity, &x, h_g, modes, products)?;
    let displacements = spectrum
        .modes
        .iter()
        .map(|m| match &inputs.coordinates {
            Some(s) => s.inverse_vector(&m.displacement),
            None => m.displacement.clone(),
        })
        .collect();
    Ok(RunParticleSpectrum {
        spectrum,
        positions: inputs.particles.clone(),
        displacements,
        h_g,
    })
}
