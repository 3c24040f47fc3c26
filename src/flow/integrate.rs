//! Time integrators for `dx/dt = v(x)`.

/// How positions advance over one step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Integrator {
    /// `x <- x + dt v(x)`: the paper's discretisation, first order.
    #[default]
    Euler,
    /// Heun's method (explicit trapezoid): predictor `x~ = x + dt v(x)`, then
    /// `x <- x + dt/2 (v(x) + v(x~))`. Second order; two field evaluations per step.
    Heun,
}

/// `x + dt v`, elementwise.
pub(crate) fn euler(x: &[f64], v: &[f64], dt: f64) -> Vec<f64> {
    x.iter().zip(v).map(|(a, b)| a + dt * b).collect()
}

/// `x + dt/2 (v1 + v2)`, elementwise.
pub(crate) fn heun(x: &[f64], v1: &[f64], v2: &[f64], dt: f64) -> Vec<f64> {
    x.iter()
        .zip(v1.iter().zip(v2))
        .map(|(a, (b, c))| a + 0.5 * dt * (b + c))
        .collect()
}
