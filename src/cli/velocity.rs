//! `ganflow velocity`: the flow's field at given points, as CSV.

use std::path::Path;

use ganflow::datasets::read_csv;
use ganflow::output::{push_fields, write_rows};
use ganflow::{Points, Simulation};

use super::args::VelocityArgs;
use super::{AnyResult, write_output};

/// The points of `--grid xmin,xmax,ymin,ymax,nx,ny`, row by row (x fastest).
fn grid(spec: &str) -> AnyResult<Points> {
    let bad = || format!("--grid: expected xmin,xmax,ymin,ymax,nx,ny, got {spec:?}");
    let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
    if parts.len() != 6 {
        return Err(bad().into());
    }
    let lim: Vec<f64> = parts[..4]
        .iter()
        .map(|v| v.parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let (nx, ny): (usize, usize) = (
        parts[4].parse().map_err(|_| bad())?,
        parts[5].parse().map_err(|_| bad())?,
    );
    if nx < 2 || ny < 2 || !(lim[0] < lim[1] && lim[2] < lim[3]) {
        return Err(
            format!("--grid: need xmin < xmax, ymin < ymax, nx, ny >= 2; got {spec:?}").into(),
        );
    }
    let mut coords = Vec::with_capacity(2 * nx * ny);
    for j in 0..ny {
        for i in 0..nx {
            coords.push(lim[0] + (lim[1] - lim[0]) * i as f64 / (nx - 1) as f64);
            coords.push(lim[2] + (lim[3] - lim[2]) * j as f64 / (ny - 1) as f64);
        }
    }
    Ok(Points::new("grid", coords, 2)?)
}

pub fn velocity(args: VelocityArgs) -> AnyResult<()> {
    let particles = read_csv(&args.particles)?;
    let data = read_csv(&args.data)?;
    if particles.dim() != data.dim() {
        return Err(format!(
            "{} has {} columns but {} has {}: particles and data must have the same dimension",
            args.particles.display(),
            particles.dim(),
            args.data.display(),
            data.dim()
        )
        .into());
    }
    let at = match (&args.at, &args.grid) {
        (Some(path), _) => Some(read_csv(path)?),
        (None, Some(spec)) => Some(grid(spec)?),
        (None, None) => None,
    };
    if let Some(at) = &at
        && at.dim() != data.dim()
    {
        let what = args
            .at
            .as_deref()
            .map_or("the grid".to_string(), |p: &Path| p.display().to_string());
        return Err(format!(
            "{what} has {} columns but the data has {}",
            at.dim(),
            data.dim()
        )
        .into());
    }
    let config = args.flow.config()?;
    let sim = Simulation::new(config, particles, data)?;
    let field = match &at {
        Some(points) => sim.field_at_points(points)?,
        None => sim.field()?,
    };
    let points = at.as_ref().unwrap_or(sim.particles());
    let d = points.dim();
    write_output(args.out.as_deref(), |w| {
        let mut csv = csv::Writer::from_writer(w);
        let mut header: Vec<String> = (0..d).map(|k| format!("x{k}")).collect();
        header.extend((0..d).map(|k| format!("v{k}")));
        header.extend(["log_g", "log_q", "dstar"].map(String::from));
        csv.write_record(&header)?;
        let mut w = csv.into_inner().map_err(|e| e.into_error())?;
        write_rows(&mut w, points.len(), |i, buf| {
            let v = &field.velocity[i * d..(i + 1) * d];
            let tail = [field.log_g[i], field.log_q[i], field.dstar[i]];
            push_fields(buf, points.row(i).iter().chain(v).chain(&tail).copied());
        })?;
        w.flush()?;
        Ok(())
    })
}
