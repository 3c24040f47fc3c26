//! Built-in, seeded sample sets: targets and starting distributions.
//!
//! Every generator takes a seed and draws from [`ChaCha8Rng`], whose stream is fixed by its
//! specification, so the same seed gives the same samples on every platform and version.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use std::path::Path;

use crate::error::{Error, Result, check_positive};
use crate::points::Points;

/// The random number generator used for every built-in.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` samples of `N(mean, std² I)` in `mean.len()` dimensions.
pub fn gaussian(n: usize, mean: &[f64], std: f64, seed: u64) -> Result<Points> {
    check_positive("std", std)?;
    let mut r = rng(seed);
    let d = mean.len();
    let coords = (0..n * d)
        .map(|k| mean[k % d] + std * r.sample::<f64, _>(StandardNormal))
        .collect();
    Points::new("gaussian samples", coords, d)
}

/// Centres and common standard deviation of a built-in 2-D mixture.
pub struct Mixture {
    /// One centre per mode.
    pub centers: Vec<[f64; 2]>,
    /// Standard deviation of every mode.
    pub std: f64,
}

impl Mixture {
    /// The ring of 8 Gaussians: centres at radius 2, angles `2πk/8`, `k = 0..7` (8 distinct
    /// modes), σ = 0.02: the WGAN-GP toy's radius and noise, before its rescaling.
    pub fn eight_gaussians() -> Self {
        let centers = (0..8)
            .map(|k| {
                let a = std::f64::consts::TAU * k as f64 / 8.0;
                [2.0 * a.cos(), 2.0 * a.sin()]
            })
            .collect();
        Self { centers, std: 0.02 }
    }

    /// The 5x5 grid of 25 Gaussians at `{-4, -2, 0, 2, 4}²`, σ = 0.05 (VEEGAN, PacGAN).
    pub fn twenty_five_gaussians() -> Self {
        let mut centers = Vec::with_capacity(25);
        for i in -2..=2 {
            for j in -2..=2 {
                centers.push([2.0 * i as f64, 2.0 * j as f64]);
            }
        }
        Self { centers, std: 0.05 }
    }

    /// `n` samples: a uniformly chosen centre plus Gaussian noise.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Points> {
        let mut r = rng(seed);
        let mut coords = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let c = self.centers[r.random_range(0..self.centers.len())];
            for x in c {
                coords.push(x + self.std * r.sample::<f64, _>(StandardNormal));
            }
        }
        Points::new("mixture samples", coords, 2)
    }
}

/// Reads points from a CSV file: comma-separated, one point per row, an optional header row
/// (recognised by having no numeric field), any column names.
///
/// A ragged row, a non-numeric or non-finite value, or a file with no data row is an
/// [`Error::Csv`] naming the file, the line and the column.
pub fn read_csv(path: &Path) -> Result<Points> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |line: u64, column: Option<usize>, message: String| Error::Csv {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(std::io::BufReader::new(file));
    let mut coords = Vec::new();
    let mut dim: Option<usize> = None;
    let mut record = csv::StringRecord::new();
    let mut first = true;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(match e.into_kind() {
                    csv::ErrorKind::Io(source) => Error::Io {
                        path: path.to_path_buf(),
                        source,
                    },
                    csv::ErrorKind::Utf8 { .. } => bad(line, None, "not valid UTF-8".into()),
                    other => bad(line, None, format!("{other:?}")),
                });
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        if first {
            first = false;
            if record.iter().all(|f| f.parse::<f64>().is_err()) {
                dim = Some(record.len());
                continue;
            }
        }
        let expected = *dim.get_or_insert(record.len());
        if record.len() != expected {
            return Err(bad(
                line,
                None,
                format!("expected {expected} fields, found {}", record.len()),
            ));
        }
        for (c, field) in record.iter().enumerate() {
            let value: f64 = field
                .parse()
                .map_err(|_| bad(line, Some(c + 1), format!("{field:?} is not a number")))?;
            if !value.is_finite() {
                return Err(bad(line, Some(c + 1), format!("{field} is not finite")));
            }
            coords.push(value);
        }
    }
    match dim {
        Some(d) if !coords.is_empty() => Points::new("csv", coords, d),
        _ => Err(bad(0, None, "the file has no data row".into())),
    }
}

/// Writes points as CSV with the header `x0,...,x{d-1}`.
pub fn write_points<W: std::io::Write>(out: W, points: &Points) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record((0..points.dim()).map(|k| format!("x{k}")))?;
    for row in points.rows() {
        w.write_record(row.iter().map(|v| v.to_string()))?;
    }
    w.flush()?;
    Ok(())
}
