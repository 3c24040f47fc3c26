//! Diagnostics of the flow (MATH.md section 4).

use crate::flow::velocity::{DataSide, Field};
use crate::kde::{sigmoid, softplus};

/// One record of diagnostics. Sums are taken sequentially, so values are identical at any
/// thread count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Diagnostics {
    /// JSD estimate `E / 2`, in nats (in `[0, ln 2]`).
    pub jsd: f64,
    /// The discrete energy `E` of MATH.md section 3 (a KDE-regularised `2 JSD`).
    pub energy: f64,
    /// `||A||² ≈ (1/N) Σ_i |A(x_i)|²`, the Otto-metric norm of the connection.
    pub connection_norm2: f64,
    /// Mean of `D*` over the particles (-> 1/2 at equilibrium).
    pub mean_dstar_particles: f64,
    /// Mean of `D*` over the data (-> 1/2 at equilibrium).
    pub mean_dstar_data: f64,
    /// Largest particle speed `max_i |v_i|`.
    pub max_speed: f64,
}

/// `||A||²` from a field.
pub fn connection_norm2(field: &Field) -> f64 {
    let n = field.dstar.len() as f64;
    field.connection.iter().map(|a| a * a).sum::<f64>() / n
}

/// The energy `E = (1/N) Σ_i ln(2g/(g+q))(x_i) + (1/M) Σ_j ln(2q/(g+q))(y_j)`, in log space:
/// `ln(2g/(g+q)) = ln 2 - softplus(log q - log g)`.
pub fn energy(field: &Field, data: &DataSide) -> f64 {
    let ln2 = std::f64::consts::LN_2;
    let particles = field
        .log_g
        .iter()
        .zip(&field.log_q)
        .map(|(g, q)| ln2 - softplus(q - g))
        .sum::<f64>()
        / field.log_g.len() as f64;
    let data_part = data
        .log_g
        .iter()
        .zip(&data.log_q)
        .map(|(g, q)| ln2 - softplus(g - q))
        .sum::<f64>()
        / data.log_g.len() as f64;
    particles + data_part
}

/// All diagnostics of one state.
pub fn diagnostics(field: &Field, data: &DataSide, dim: usize) -> Diagnostics {
    let e = energy(field, data);
    let max_speed = field
        .velocity
        .chunks_exact(dim)
        .map(|v| v.iter().map(|a| a * a).sum::<f64>().sqrt())
        .fold(0.0, f64::max);
    let mean_dstar_data = data
        .log_g
        .iter()
        .zip(&data.log_q)
        .map(|(g, q)| sigmoid(q - g))
        .sum::<f64>()
        / data.log_g.len() as f64;
    Diagnostics {
        jsd: e / 2.0,
        energy: e,
        connection_norm2: connection_norm2(field),
        mean_dstar_particles: field.dstar.iter().sum::<f64>() / field.dstar.len() as f64,
        mean_dstar_data,
        max_speed,
    }
}
