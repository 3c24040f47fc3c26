//! Built-in, seeded sample sets: targets and starting distributions.
//!
//! Every generator takes a seed and draws from [`ChaCha8Rng`], whose stream is fixed by its
//! specification, so the same seed gives the same samples on every platform and version.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use std::path::Path;

use crate::error::{Error, Result, check_positive, io_at};
use crate::num::Portable;
use crate::points::Points;

mod plain_csv;

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

/// An equal-weight mixture of isotropic Gaussians `N(c_k, σ² I)`: the closed-form density of
/// the Gaussian built-ins. Its log-density and score are exactly a Gaussian KDE whose
/// "samples" are the centres and whose bandwidth is σ, which is how the flow evaluates it.
#[derive(Clone, Debug, PartialEq)]
pub struct IsotropicMixture {
    /// One centre per component.
    pub centers: Points,
    /// Standard deviation of every component.
    pub std: f64,
}

impl IsotropicMixture {
    /// A mixture from 2-D centres.
    fn planar(centers: &[[f64; 2]], std: f64) -> Self {
        let coords = centers.iter().flatten().copied().collect();
        Self {
            centers: Points::new("centres", coords, 2).expect("built-in centres are valid"),
            std,
        }
    }

    /// `n` samples: a uniformly chosen centre plus Gaussian noise.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Points> {
        check_positive("std", self.std)?;
        let mut r = rng(seed);
        let d = self.centers.dim();
        let mut coords = Vec::with_capacity(d * n);
        for _ in 0..n {
            let c = self.centers.row(r.random_range(0..self.centers.len()));
            for x in c {
                coords.push(x + self.std * r.sample::<f64, _>(StandardNormal));
            }
        }
        Points::new("mixture samples", coords, d)
    }
}

/// Seed of the centres of `gaussian-mixture`: fixed, so that every sample seed draws from
/// the same target.
const MIXTURE_CENTER_SEED: u64 = 0x67616e666c6f77;

/// The built-in distributions, usable as targets and as starts. Parameters are documented
/// per variant; `ganflow datasets` lists them.
#[derive(Clone, Debug, PartialEq)]
pub enum Builtin {
    /// Ring of 8 Gaussians: centres at radius 2, angles `2πk/8`, `k = 0..7` (8 distinct
    /// modes), σ = 0.02: the WGAN-GP toy's radius and noise, before its rescaling. 2-D.
    EightGaussians,
    /// 5x5 grid of 25 Gaussians at `{-4, -2, 0, 2, 4}²`, σ = 0.05 (VEEGAN, PacGAN). 2-D.
    TwentyFiveGaussians,
    /// Two interleaved half circles of radius 1: `(cos t, sin t)` and
    /// `(1 - cos t, 0.5 - sin t)`, `t ~ U[0, π]`, plus N(0, 0.05²) noise. 2-D.
    TwoMoons,
    /// Three concentric rings of radii 1, 2, 3, each point's ring chosen with probability
    /// proportional to its radius, plus N(0, 0.05²) noise. 2-D.
    Rings,
    /// A spiral `t (cos t, sin t) / 5`, `t ~ 1.5π (1 + 2U)`, plus N(0, 0.05²) noise. 2-D.
    SwissRoll,
    /// Checkerboard of 8 unit squares (side 2 after scaling) in `[-4, 4]²`, uniform inside. 2-D.
    Checkerboard,
    /// `N(mean, std² I)` in `mean.len()` dimensions.
    Gaussian {
        /// The mean (its length is the dimension).
        mean: Vec<f64>,
        /// Standard deviation.
        std: f64,
    },
    /// Equal-weight mixture of `components` Gaussians `N(c_k, std² I)` in `dim` dimensions;
    /// centres uniform in `[-4, 4]^dim`, drawn from a fixed seed (the same for every
    /// sample seed).
    GaussianMixture {
        /// Dimension.
        dim: usize,
        /// Number of components.
        components: usize,
        /// Standard deviation of each.
        std: f64,
    },
    /// Uniform in the box `[low, high]^dim`.
    Uniform {
        /// Dimension.
        dim: usize,
        /// Lower corner (every coordinate).
        low: f64,
        /// Upper corner.
        high: f64,
    },
}

/// Names of the built-ins, as the command line spells them.
pub const BUILTIN_NAMES: [&str; 9] = [
    "eight-gaussians",
    "twenty-five-gaussians",
    "two-moons",
    "rings",
    "swiss-roll",
    "checkerboard",
    "gaussian",
    "gaussian-mixture",
    "uniform",
];

impl Builtin {
    /// The built-in called `name` with its default parameters in `dim` dimensions (the
    /// planar ones ignore `dim`): gaussian N(0, I), gaussian-mixture with 4 components of
    /// std 0.5, uniform on `[-2, 2]^dim`.
    pub fn by_name(name: &str, dim: usize) -> Option<Self> {
        Some(match name {
            "eight-gaussians" => Builtin::EightGaussians,
            "twenty-five-gaussians" => Builtin::TwentyFiveGaussians,
            "two-moons" => Builtin::TwoMoons,
            "rings" => Builtin::Rings,
            "swiss-roll" => Builtin::SwissRoll,
            "checkerboard" => Builtin::Checkerboard,
            "gaussian" => Builtin::Gaussian {
                mean: vec![0.0; dim],
                std: 1.0,
            },
            "gaussian-mixture" => Builtin::GaussianMixture {
                dim,
                components: 4,
                std: 0.5,
            },
            "uniform" => Builtin::Uniform {
                dim,
                low: -2.0,
                high: 2.0,
            },
            _ => return None,
        })
    }

    /// Dimension of the samples.
    pub fn dim(&self) -> usize {
        match self {
            Builtin::Gaussian { mean, .. } => mean.len(),
            Builtin::GaussianMixture { dim, .. } | Builtin::Uniform { dim, .. } => *dim,
            _ => 2,
        }
    }

    /// The closed-form density, where there is one (the Gaussians and mixtures).
    pub fn density(&self) -> Result<Option<IsotropicMixture>> {
        Ok(Some(match self {
            Builtin::EightGaussians => {
                let centers: Vec<[f64; 2]> = (0..8)
                    .map(|k| {
                        let a = std::f64::consts::TAU * k as f64 / 8.0;
                        [2.0 * a.cos_p(), 2.0 * a.sin_p()]
                    })
                    .collect();
                IsotropicMixture::planar(&centers, 0.02)
            }
            Builtin::TwentyFiveGaussians => {
                let mut centers = Vec::with_capacity(25);
                for i in -2..=2 {
                    for j in -2..=2 {
                        centers.push([2.0 * i as f64, 2.0 * j as f64]);
                    }
                }
                IsotropicMixture::planar(&centers, 0.05)
            }
            Builtin::Gaussian { mean, std } => IsotropicMixture {
                centers: Points::new("mean", mean.clone(), mean.len())?,
                std: check_positive("std", *std)?,
            },
            Builtin::GaussianMixture {
                dim,
                components,
                std,
            } => {
                let mut r = rng(MIXTURE_CENTER_SEED);
                let coords = (0..dim * components)
                    .map(|_| r.random_range(-4.0..4.0))
                    .collect();
                IsotropicMixture {
                    centers: Points::new("gaussian-mixture components", coords, *dim)?,
                    std: check_positive("std", *std)?,
                }
            }
            _ => return Ok(None),
        }))
    }

    /// `n` samples drawn with `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Points> {
        if n == 0 {
            return Err(Error::Empty { what: "samples" });
        }
        if let Some(mixture) = self.density()? {
            return mixture.sample(n, seed);
        }
        if let Builtin::Uniform { low, high, .. } = self
            && !(low < high && low.is_finite() && high.is_finite())
        {
            return Err(Error::OutOfRange {
                what: "uniform box",
                expected: "low < high, both finite",
                value: *high,
            });
        }
        let mut r = rng(seed);
        let normal = |r: &mut ChaCha8Rng| r.sample::<f64, _>(StandardNormal);
        let pi = std::f64::consts::PI;
        let mut coords = Vec::with_capacity(n * self.dim());
        for _ in 0..n {
            match self {
                Builtin::TwoMoons => {
                    let t = r.random_range(0.0..pi);
                    let (x, y) = if r.random_bool(0.5) {
                        (t.cos_p(), t.sin_p())
                    } else {
                        (1.0 - t.cos_p(), 0.5 - t.sin_p())
                    };
                    coords.push(x + 0.05 * normal(&mut r));
                    coords.push(y + 0.05 * normal(&mut r));
                }
                Builtin::Rings => {
                    // P(radius k) ∝ k for k = 1, 2, 3.
                    let u = r.random_range(0.0..6.0);
                    let radius = if u < 1.0 {
                        1.0
                    } else if u < 3.0 {
                        2.0
                    } else {
                        3.0
                    };
                    let a = r.random_range(0.0..2.0 * pi);
                    coords.push(radius * a.cos_p() + 0.05 * normal(&mut r));
                    coords.push(radius * a.sin_p() + 0.05 * normal(&mut r));
                }
                Builtin::SwissRoll => {
                    let t = 1.5 * pi * (1.0 + 2.0 * r.random::<f64>());
                    coords.push(t * t.cos_p() / 5.0 + 0.05 * normal(&mut r));
                    coords.push(t * t.sin_p() / 5.0 + 0.05 * normal(&mut r));
                }
                Builtin::Checkerboard => {
                    let x: f64 = r.random_range(-2.0..2.0);
                    let band = if r.random_bool(0.5) { 0.0 } else { -2.0 };
                    let y = r.random::<f64>() + band + x.floor().rem_euclid(2.0);
                    coords.push(2.0 * x);
                    coords.push(2.0 * y);
                }
                Builtin::Uniform { dim, low, high } => {
                    for _ in 0..*dim {
                        coords.push(r.random_range(*low..*high));
                    }
                }
                _ => unreachable!("the Gaussian built-ins are sampled through their density"),
            }
        }
        Points::new("built-in samples", coords, self.dim())
    }
}

/// The largest coordinate magnitude read from a file: squared distances of points this far
/// apart, summed over a thousand coordinates, stay far from overflow.
pub const MAX_COORDINATE: f64 = 1e100;

/// Reads points from a CSV file: comma-separated, one point per row, an optional header row
/// (recognised by having no numeric field), any column names.
///
/// A ragged row, a non-numeric or non-finite value, or a file with no data row is an
/// [`Error::Csv`] naming the file, the line and the column.
pub fn read_csv(path: &Path) -> Result<Points> {
    Ok(read_csv_with_header(path)?.0)
}

/// [`read_csv`], also returning the header row's column names when the file has one.
///
/// A plain file of numbers is read in blocks and parsed in parallel (`plain_csv`); any
/// other file, and any error, goes through the csv reader, with the same bits for the same
/// numbers.
pub fn read_csv_with_header(path: &Path) -> Result<(Points, Option<Vec<String>>)> {
    let file = std::fs::File::open(path).map_err(io_at(path))?;
    if let Some(plain) = plain_csv::read_plain(file).map_err(io_at(path))? {
        return Ok((Points::new("csv", plain.coords, plain.dim)?, plain.header));
    }
    read_with_csv_reader(path)
}

/// Why a CSV field is not a coordinate.
enum NotCoordinate {
    NotANumber,
    NotFinite,
    TooLarge,
}

/// A (trimmed) CSV field as a coordinate: a number [`str::parse`] reads, finite, and within
/// [`MAX_COORDINATE`]. Both ways of reading a file take their numbers from here, so they
/// give the same bits.
#[inline(always)]
fn coordinate(field: &str) -> std::result::Result<f64, NotCoordinate> {
    let value: f64 = field.parse().map_err(|_| NotCoordinate::NotANumber)?;
    if !value.is_finite() {
        Err(NotCoordinate::NotFinite)
    } else if value.abs() > MAX_COORDINATE {
        Err(NotCoordinate::TooLarge)
    } else {
        Ok(value)
    }
}

/// Whether a file's first row, its fields trimmed, is a header: no field reads as a number.
fn is_header<'a>(mut fields: impl Iterator<Item = &'a str>) -> bool {
    fields.all(|f| f.parse::<f64>().is_err())
}

/// [`read_csv_with_header`] through the csv reader, record by record.
fn read_with_csv_reader(path: &Path) -> Result<(Points, Option<Vec<String>>)> {
    let file = std::fs::File::open(path).map_err(io_at(path))?;
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
    let mut header = None;
    let mut record = csv::StringRecord::new();
    let mut first = true;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(match e.into_kind() {
                    csv::ErrorKind::Io(source) => io_at(path)(source),
                    csv::ErrorKind::Utf8 { .. } => bad(line, None, "not valid UTF-8".into()),
                    other => bad(line, None, format!("{other:?}")),
                });
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        if first {
            first = false;
            if is_header(record.iter()) {
                dim = Some(record.len());
                header = Some(record.iter().map(String::from).collect());
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
            let value = coordinate(field).map_err(|why| {
                let message = match why {
                    NotCoordinate::NotANumber => format!("{field:?} is not a number"),
                    NotCoordinate::NotFinite => format!("{field} is not finite"),
                    NotCoordinate::TooLarge => format!(
                        "{field} is too large: squared distances would overflow; rescale the \
                         values to at most {MAX_COORDINATE:e} in magnitude"
                    ),
                };
                bad(line, Some(c + 1), message)
            })?;
            coords.push(value);
        }
    }
    match dim {
        Some(d) if !coords.is_empty() => Ok((Points::new("csv", coords, d)?, header)),
        _ => Err(bad(0, None, "the file has no data row".into())),
    }
}

/// Writes points as CSV with the header `x0,...,x{d-1}`.
pub fn write_points<W: std::io::Write>(out: W, points: &Points) -> Result<(), csv::Error> {
    write_points_named(out, points, None)
}

/// Writes points as CSV with the header `names` (one per column), or `x0,...,x{d-1}`.
pub fn write_points_named<W: std::io::Write>(
    out: W,
    points: &Points,
    names: Option<&[String]>,
) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    match names.filter(|n| n.len() == points.dim()) {
        Some(names) => w.write_record(names)?,
        None => w.write_record((0..points.dim()).map(|k| format!("x{k}")))?,
    }
    // The header through the csv writer (names may need quoting), the numbers directly.
    let mut out = w.into_inner().map_err(|e| e.into_error())?;
    crate::output::write_rows(&mut out, points.len(), |i, buf| {
        crate::output::push_fields(buf, points.row(i).iter().copied())
    })?;
    out.flush()?;
    Ok(())
}
