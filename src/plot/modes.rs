//! Drawing a spectrum's slow modes: each mode a panel of displacement arrows on the
//! particles (over the data in grey), in the style of `ganflow plot`. In 1-D, where arrows
//! would lie on one line, a panel plots each particle's displacement against its position.

use std::path::Path;

use super::{Panel, Projection, scatter_png};
use crate::error::{Error, Result};
use crate::output::write_whole;
use crate::points::Points;

/// Most arrows drawn per panel; the particles are thinned evenly beyond it.
pub const MAX_ARROWS: usize = 400;

/// One mode to draw: its title and its displacement field (row-major `N x d`, one row per
/// position).
pub struct ModeField {
    /// The panel's title ("mode 1, rate 0.5").
    pub title: String,
    /// The displacement of each position.
    pub displacement: Vec<f64>,
}

/// Writes `path` (whole, or not at all): one panel per mode, `panel_px` pixels square.
pub fn modes_png(
    path: &Path,
    data: &Points,
    positions: &Points,
    modes: &[ModeField],
    panel_px: u32,
) -> Result<()> {
    let d = positions.dim();
    positions.check_same_dim("data", data)?;
    for m in modes {
        if m.displacement.len() != positions.as_slice().len() {
            return Err(Error::DimensionMismatch {
                what: "a mode's displacement (one row per position)",
                expected: positions.as_slice().len(),
                got: m.displacement.len(),
            });
        }
    }
    let stride = positions.len().div_ceil(MAX_ARROWS).max(1);
    let shown: Vec<usize> = (0..positions.len()).step_by(stride).collect();
    let (data_xy, panels): (Vec<(f64, f64)>, Vec<Panel>) = if d == 1 {
        let x = positions.as_slice();
        let panels = modes
            .iter()
            .map(|m| Panel {
                title: format!("{} (dx against x)", m.title),
                particles: (0..positions.len())
                    .map(|i| (x[i], m.displacement[i]))
                    .collect(),
                arrows: None,
                discs: Vec::new(),
            })
            .collect();
        (Vec::new(), panels)
    } else {
        let projection = Projection::fit(data);
        let picked = positions.select(&shown);
        let xy = projection.apply(&picked);
        let origin = projection.apply(&Points::new("origin", vec![0.0; d], d)?)[0];
        let panels = modes
            .iter()
            .map(|m| {
                let rows: Vec<f64> = shown
                    .iter()
                    .flat_map(|&i| m.displacement[i * d..(i + 1) * d].to_vec())
                    .collect();
                let arrows = projection
                    .apply(&Points::new("displacements", rows, d)?)
                    .into_iter()
                    .map(|(u, v)| (u - origin.0, v - origin.1))
                    .collect();
                Ok(Panel {
                    title: m.title.clone(),
                    particles: xy.clone(),
                    arrows: Some(arrows),
                    discs: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        (projection.apply(data), panels)
    };
    write_whole(path, |p| scatter_png(p, &data_xy, &panels, panel_px))
}
