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
//! [`continuum`] discretises the operator on a grid (1-D for now).

pub mod continuum;

pub use continuum::{ContinuumTarget, Mode, Spectrum, continuum_1d};
