//! Writing: the CSV recorder (trajectories and metrics, streamed), the one helper that
//! writes a file whole, and the number format every CSV uses.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, io_at};
use crate::flow::sim::{Observation, Observer};
use crate::metrics::{DecayPoint, MetricsTracker, decay_rate};
use crate::points::Standardizer;

/// `DIR/.STEM.tmp-PID.EXT` for `DIR/STEM.EXT`: where [`write_whole`] writes before renaming
/// (the extension is kept, for writers that pick a format by it).
pub fn temp_beside(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join(format!(".{stem}.tmp-{}{ext}", std::process::id()))
}

/// Whether a file name is one of [`temp_beside`]'s.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

/// Writes `path` whole: `fill` writes a temporary file beside it (the path it is given),
/// which is synced to disk and renamed over `path` only once complete. On any failure the
/// temporary file is removed and `path` is left as it was. Every file that must never be
/// seen half-written goes through here.
pub fn write_whole(path: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = temp_beside(path);
    let result = fill(&tmp).and_then(|()| {
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_at(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io_at(path))?;
        // The rename itself is durable once the folder is synced (best effort: not every
        // file system lets a folder be opened for it).
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// [`write_whole`] through a buffered writer.
pub fn write_whole_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    write_whole(path, |tmp| {
        let mut w = BufWriter::new(File::create(tmp).map_err(io_at(path))?);
        fill(&mut w)?;
        w.flush().map_err(io_at(path))
    })
}

/// A number as every CSV of ganflow writes it: the shortest text that reads back to the same
/// bits, in plain notation for moderate magnitudes (`0.5`, `120`) and in exponent notation
/// otherwise (`1e300`, `2.5e-9`), so that no value becomes hundreds of digits long.
pub fn fmt_f64(v: f64) -> String {
    let mut text = Vec::new();
    push_f64(&mut text, v);
    String::from_utf8(text).expect("a formatted number is ASCII")
}

/// Appends `v` to `out` as [`fmt_f64`] writes it, without allocating a string.
///
/// The digits come from Ryū (the `ryu` crate), about twice as fast as the standard
/// library's `Display`, and the text is the standard library's (`Display` for
/// `1e-5 <= |v| < 1e16`, `LowerExp` otherwise), byte for byte: Ryū switches notation at the
/// same magnitudes, and differs only in writing whole numbers as `120.0` and in the rare
/// tie, where two shortest texts lie equally close to `v` and Ryū picks the even last digit
/// while the standard library rounds away from zero. Zeros, infinities, NaN and ties are
/// written by the standard library.
pub fn push_f64(out: &mut Vec<u8>, v: f64) {
    if v == 0.0 || !v.is_finite() {
        std_f64(out, v);
        return;
    }
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(v).as_bytes();
    let text = text.strip_suffix(b".0").unwrap_or(text);
    if is_tie(v, text) {
        std_f64(out, v);
    } else {
        out.extend_from_slice(text);
    }
}

/// The number format through the standard library's `Display` and `LowerExp`: the
/// reference [`push_f64`] keeps to.
fn std_f64(out: &mut Vec<u8>, v: f64) {
    let a = v.abs();
    // Writing into a Vec cannot fail.
    let _ = if a == 0.0 || (1e-5..1e16).contains(&a) || !a.is_finite() {
        write!(out, "{v}")
    } else {
        write!(out, "{v:e}")
    };
}

/// Whether the finite, non-zero `v` lies exactly halfway between two neighbours of its
/// shortest decimal `text` (as Ryū writes it, without a trailing `.0`).
///
/// Write `|v| = m 2^e` with `m` odd and `text` as the integer `d` times `10^k`. The halfway
/// point `(d + 1/2) 10^k = (2d + 1) 5^k 2^(k-1)` has the odd part `(2d + 1) 5^k`, so `v` is
/// that point exactly when `e = k - 1` and the odd parts agree. With `m < 2^53` and
/// `d < 10^17` they can agree only for `-24 <= k <= 22`, so only for `-25 <= e <= 21`
/// (checked with a margin of one). Any other `v` is not a tie and its text is not parsed:
/// among them every double below 2^26 in magnitude whose odd mantissa has all 53 bits, as
/// almost every coordinate does.
fn is_tie(v: f64, text: &[u8]) -> bool {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (m, e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    let (m, e) = (m >> m.trailing_zeros(), e + m.trailing_zeros() as i32);
    if !(-26..=21).contains(&e) {
        return false;
    }
    let (mut d, mut decimals, mut exponent, mut point) = (0u128, 0i32, 0i32, false);
    let mut bytes = text.iter();
    while let Some(&c) = bytes.next() {
        match c {
            b'-' => {}
            b'.' => point = true,
            b'e' => {
                exponent = std::str::from_utf8(bytes.as_slice())
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(i32::MIN);
                break;
            }
            digit => {
                d = 10 * d + u128::from(digit - b'0');
                decimals += i32::from(point);
            }
        }
    }
    let k = exponent.saturating_sub(decimals);
    if e + 1 != k {
        return false;
    }
    let (odd, five) = (2 * d + 1, 5u128.checked_pow(k.unsigned_abs()));
    let m = u128::from(m);
    match five {
        Some(p) if k >= 0 => p.checked_mul(odd) == Some(m),
        Some(p) => p.checked_mul(m) == Some(odd),
        None => false,
    }
}

/// Appends the fields `values` to a CSV line in `out`, each as [`fmt_f64`] writes it, a
/// comma before each one but the line's first.
pub fn push_fields(out: &mut Vec<u8>, values: impl IntoIterator<Item = f64>) {
    for v in values {
        if !out.is_empty() && out.last() != Some(&b'\n') {
            out.push(b',');
        }
        push_f64(out, v);
    }
}

/// Rows per parallel block of [`write_rows`], and blocks formatted between two writes.
const ROWS_PER_BLOCK: usize = 512;
const BLOCKS_PER_BATCH: usize = 64;

/// Writes `rows` CSV lines of numbers to `out`, line `i` made by `line(i, buffer)` (which
/// appends its fields, see [`push_fields`]): formatted in parallel in blocks, written in
/// order, streaming (a batch of blocks at a time). Numbers never need quoting, so the bytes
/// are those of the csv writer writing the same fields.
pub fn write_rows<W: Write>(
    out: &mut W,
    rows: usize,
    line: impl Fn(usize, &mut Vec<u8>) + Sync,
) -> std::io::Result<()> {
    use rayon::prelude::*;
    let blocks = rows.div_ceil(ROWS_PER_BLOCK);
    for batch in (0..blocks).step_by(BLOCKS_PER_BATCH) {
        let formatted: Vec<Vec<u8>> = (batch..(batch + BLOCKS_PER_BATCH).min(blocks))
            .into_par_iter()
            .map(|b| {
                let mut buf = Vec::new();
                for i in b * ROWS_PER_BLOCK..((b + 1) * ROWS_PER_BLOCK).min(rows) {
                    line(i, &mut buf);
                    buf.push(b'\n');
                }
                buf
            })
            .collect();
        for block in &formatted {
            out.write_all(block)?;
        }
    }
    Ok(())
}

/// A writer that counts the bytes that pass through it: a checkpoint records how much of a
/// streamed file belongs to the state it saves.
#[derive(Debug)]
pub struct Counted<W: Write> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Counted<W> {
    /// Counts from `already` (the bytes a resumed file already holds).
    pub fn new(inner: W, already: u64) -> Self {
        Self {
            inner,
            bytes: already,
        }
    }

    /// Bytes written so far, counting from the start of the file.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The writer inside.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Header of `metrics.csv`.
pub const METRICS_HEADER: [&str; 12] = [
    "step",
    "t",
    "jsd",
    "connection_norm2",
    "mean_dstar_particles",
    "mean_dstar_data",
    "energy",
    "max_speed",
    "h_g",
    "h_q",
    "decay_rate",
    "dt",
];

/// Writes every observation: one row per particle to the trajectories (`step,t,id,x0..`, with
/// `v0..` and `dstar` when asked) and one row to the metrics. Rows are written as they come,
/// so memory does not grow with the number of steps; call [`CsvRecorder::finish`] to flush.
pub struct CsvRecorder<W: Write> {
    /// Written directly: every field is a number or a plain column name.
    trajectories: W,
    metrics: csv::Writer<W>,
    with_velocity: bool,
    header_done: bool,
    unscale: Option<Standardizer>,
    extra: Option<(MetricsTracker, bool)>,
    last_extra: Vec<(&'static str, Option<f64>)>,
    /// The files' paths, for errors: trajectories, then metrics.
    paths: [Option<PathBuf>; 2],
    /// The previous observation's connection norm, for `decay_rate`.
    decay: Option<DecayPoint>,
    /// `discriminator.csv` (a learning discriminator's parameters at each observation) and
    /// its path.
    discriminator: Option<(csv::Writer<W>, PathBuf)>,
}

/// The columns `metrics.csv` adds for a learning discriminator.
pub const GAME_METRICS: [&str; 3] = ["disc_gap", "param_norm", "rotation"];

/// The error of a write to one of the two files: naming it where its path is known.
fn write_err(path: &Option<PathBuf>, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    match path {
        Some(path) => Error::File {
            path: path.clone(),
            message: e.to_string(),
        },
        None => Error::Observer(Box::new(e)),
    }
}

impl<W: Write> CsvRecorder<W> {
    /// Records into two writers.
    pub fn new(trajectories: W, metrics: W, with_velocity: bool) -> Self {
        Self {
            trajectories,
            metrics: csv::Writer::from_writer(metrics),
            with_velocity,
            header_done: false,
            unscale: None,
            extra: None,
            last_extra: Vec::new(),
            paths: [None, None],
            decay: None,
            discriminator: None,
        }
    }

    /// Records a learning discriminator's parameters into `w` (`discriminator.csv` at
    /// `path`): `step,t,p0,p1,..` at each observation.
    pub fn with_discriminator(mut self, w: W, path: PathBuf) -> Self {
        self.discriminator = Some((csv::Writer::from_writer(w), path));
        self
    }

    /// Flushes `discriminator.csv` through and lends its writer out, if there is one.
    pub fn flush_discriminator(&mut self) -> Result<Option<&W>> {
        match &mut self.discriminator {
            None => Ok(None),
            Some((w, path)) => {
                w.flush().map_err(|e| write_err(&Some(path.clone()), e))?;
                Ok(Some(w.get_ref()))
            }
        }
    }

    /// Adds the tracker's optional metrics as columns of `metrics.csv`. `variational` picks
    /// the dissipation rate the residual compares with (`(1/N) Σ |v|²` rather than `||A||²`).
    pub fn with_metrics(mut self, tracker: MetricsTracker, variational: bool) -> Self {
        self.extra = Some((tracker, variational));
        self
    }

    /// The optional metrics of the last observation (empty without a tracker).
    pub fn last_metrics(&self) -> &[(&'static str, Option<f64>)] {
        &self.last_extra
    }

    /// Writes positions and velocities back in the original units of a standardised run.
    pub fn unscaled_by(mut self, standardizer: Standardizer) -> Self {
        self.unscale = Some(standardizer);
        self
    }

    /// Names the two files in errors (trajectories, then metrics).
    pub fn at_paths(mut self, trajectories: PathBuf, metrics: PathBuf) -> Self {
        self.paths = [Some(trajectories), Some(metrics)];
        self
    }

    /// Continues recordings already begun (a resumed run): the headers are not written again.
    pub fn continuing(mut self) -> Self {
        self.header_done = true;
        self
    }

    /// Flushes both writers through to the writers inside and lends them out (a checkpoint
    /// reads their positions and syncs them).
    pub fn flush(&mut self) -> Result<(&W, &W)> {
        self.trajectories
            .flush()
            .map_err(|e| write_err(&self.paths[0], e))?;
        self.metrics
            .flush()
            .map_err(|e| write_err(&self.paths[1], e))?;
        Ok((&self.trajectories, self.metrics.get_ref()))
    }

    /// The state carried between observations for `decay_rate` (for checkpoints).
    pub fn decay_state(&self) -> Option<DecayPoint> {
        self.decay
    }

    /// Restores [`CsvRecorder::decay_state`] (a resumed run).
    pub fn set_decay_state(&mut self, p: Option<DecayPoint>) {
        self.decay = p;
    }

    /// The optional metrics' tracker, if any.
    pub fn tracker_mut(&mut self) -> Option<&mut MetricsTracker> {
        self.extra.as_mut().map(|(t, _)| t)
    }

    /// Flushes every writer and hands them back: trajectories, metrics, and the
    /// discriminator's when there is one.
    pub fn finish(self) -> Result<(W, W, Option<W>)> {
        let d = match self.discriminator {
            None => None,
            Some((w, path)) => Some(
                w.into_inner()
                    .map_err(|e| write_err(&Some(path), e.into_error()))?,
            ),
        };
        let mut t = self.trajectories;
        t.flush().map_err(|e| write_err(&self.paths[0], e))?;
        let m = self
            .metrics
            .into_inner()
            .map_err(|e| write_err(&self.paths[1], e.into_error()))?;
        Ok((t, m, d))
    }

    fn write_headers(&mut self, d: usize, game: Option<usize>) -> Result<()> {
        let mut h: Vec<String> = ["step", "t", "id"].iter().map(|s| s.to_string()).collect();
        h.extend((0..d).map(|k| format!("x{k}")));
        if self.with_velocity {
            h.extend((0..d).map(|k| format!("v{k}")));
            h.push("dstar".into());
        }
        let line = h.join(",") + "\n";
        self.trajectories
            .write_all(line.as_bytes())
            .map_err(|e| write_err(&self.paths[0], e))?;
        let mut header: Vec<&str> = METRICS_HEADER.to_vec();
        if game.is_some() {
            header.extend(GAME_METRICS);
        }
        if let Some((tracker, _)) = &self.extra {
            header.extend(tracker.columns());
        }
        self.metrics
            .write_record(&header)
            .map_err(|e| write_err(&self.paths[1], e))?;
        if let (Some((w, path)), Some(p)) = (&mut self.discriminator, game) {
            let mut h = vec!["step".to_string(), "t".to_string()];
            h.extend((0..p).map(|k| format!("p{k}")));
            w.write_record(&h)
                .map_err(|e| write_err(&Some(path.clone()), e))?;
        }
        self.header_done = true;
        Ok(())
    }
}

impl<W: Write> Observer for CsvRecorder<W> {
    fn observe(&mut self, o: &Observation<'_>) -> Result<ControlFlow<()>> {
        let d = o.particles.dim();
        if !self.header_done {
            self.write_headers(d, o.game.as_ref().map(|g| g.params.len()))?;
        }
        let (step, t) = (o.step.to_string(), fmt_f64(o.t));
        let original;
        let (positions, velocity) = match &self.unscale {
            None => (
                o.particles,
                std::borrow::Cow::Borrowed(&o.field.velocity[..]),
            ),
            Some(s) => {
                original = s.inverse(o.particles)?;
                let v = if self.with_velocity {
                    s.inverse_vector(&o.field.velocity)
                } else {
                    Vec::new()
                };
                (&original, std::borrow::Cow::Owned(v))
            }
        };
        let with_velocity = self.with_velocity;
        let line = |i: usize, buf: &mut Vec<u8>| {
            let start = buf.len();
            buf.extend_from_slice(step.as_bytes());
            buf.push(b',');
            buf.extend_from_slice(t.as_bytes());
            buf.push(b',');
            let _ = write!(buf, "{i}");
            for &v in positions.row(i) {
                buf.push(b',');
                push_f64(buf, v);
            }
            if with_velocity {
                for &v in &velocity[i * d..(i + 1) * d] {
                    buf.push(b',');
                    push_f64(buf, v);
                }
                buf.push(b',');
                push_f64(buf, o.field.dstar[i]);
            }
            debug_assert!(buf.len() > start);
        };
        write_rows(&mut self.trajectories, positions.len(), line)
            .map_err(|e| write_err(&self.paths[0], e))?;
        let m = o.diagnostics;
        let values = [
            m.jsd,
            m.connection_norm2,
            m.mean_dstar_particles,
            m.mean_dstar_data,
            m.energy,
            m.max_speed,
            o.h_g,
            o.h_q,
        ];
        let mut row = vec![step, t];
        row.extend(values.iter().map(|v| fmt_f64(*v)));
        let now = DecayPoint {
            t: o.t,
            connection_norm2: m.connection_norm2,
        };
        // Undefined at the first row: an empty cell.
        row.push(decay_rate(self.decay, now).map_or(String::new(), fmt_f64));
        self.decay = Some(now);
        row.push(fmt_f64(o.dt));
        if let Some(g) = &o.game {
            let m = g.measures;
            row.extend([m.disc_gap, m.param_norm, m.rotation].map(fmt_f64));
            if let Some((w, path)) = &mut self.discriminator {
                let mut r = vec![o.step.to_string(), fmt_f64(o.t)];
                r.extend(g.params.iter().map(|v| fmt_f64(*v)));
                w.write_record(&r)
                    .map_err(|e| write_err(&Some(path.clone()), e))?;
            }
        }
        if let Some((tracker, variational)) = &mut self.extra {
            let rate = if *variational {
                o.field.velocity.iter().map(|v| v * v).sum::<f64>() / o.particles.len() as f64
            } else {
                m.connection_norm2
            };
            let values = tracker.compute(o.particles, o.data, o.t, m.energy, rate)?;
            // An undefined value (the first dissipation residual) is an empty cell.
            row.extend(values.iter().map(|v| v.map_or(String::new(), fmt_f64)));
            self.last_extra = tracker.columns().iter().copied().zip(values).collect();
        }
        self.metrics
            .write_record(&row)
            .map_err(|e| write_err(&self.paths[1], e))?;
        Ok(ControlFlow::Continue(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows written in parallel blocks are the bytes of the csv writer writing the same
    /// fields one row at a time, across block and batch boundaries, for numbers in every
    /// notation (zeros, subnormals, exponents, infinities, NaN).
    #[test]
    fn parallel_rows_are_the_csv_writers_bytes() {
        let specials = [
            0.0,
            -0.0,
            1e-5,
            9.99e-6,
            5e-324,
            1e16,
            -123.456,
            f64::INFINITY,
            f64::NAN,
            std::f64::consts::PI,
        ];
        let rows = ROWS_PER_BLOCK * BLOCKS_PER_BATCH + 3 * ROWS_PER_BLOCK + 7;
        let value = |i: usize, k: usize| specials[(i * 7 + k) % specials.len()] * (i as f64 + 0.5);
        let mut expected = csv::Writer::from_writer(Vec::new());
        for i in 0..rows {
            expected
                .write_record((0..3).map(|k| fmt_f64(value(i, k))))
                .unwrap();
        }
        let expected = expected.into_inner().unwrap();
        let mut got = Vec::new();
        write_rows(&mut got, rows, |i, buf| {
            push_fields(buf, (0..3).map(|k| value(i, k)))
        })
        .unwrap();
        assert!(got == expected, "the bytes differ");
    }

    fn through_std(v: f64) -> String {
        let mut text = Vec::new();
        std_f64(&mut text, v);
        String::from_utf8(text).unwrap()
    }

    /// The fast format is the standard library's, byte for byte: on exact ties (where Ryū
    /// alone would write `...312`), whole numbers, both notations and their boundaries,
    /// subnormals, and a million doubles drawn as random bits, as dyadic fractions (where
    /// ties live) and as ordinary coordinates.
    #[test]
    fn number_format_is_the_standard_librarys() {
        use rand::{Rng, SeedableRng};
        let ties = [
            (2f64.powi(-25), "2.9802322387695313e-8"),
            (0.00010156631469726563, "0.00010156631469726563"),
            (-8445430741020421.0 / 4.0, "-2111357685255105.3"),
            (12.000625610351562, "12.000625610351563"),
        ];
        for (v, text) in ties {
            assert_eq!(fmt_f64(v), text);
            assert!(is_tie(v, ryu::Buffer::new().format_finite(v).as_bytes()));
        }
        let fixed = [
            120.0,
            -3.0,
            1e15,
            9999999999999998.0,
            1e16,
            1e-5,
            9.99e-6,
            0.5,
            5e-324,
            1e300,
            -2.5e-9,
            f64::MAX,
            f64::MIN_POSITIVE,
            0.1,
            1.0 / 3.0,
        ];
        // And the doubles on either side of where the notation changes.
        let beside = [1e-5, 1e16].map(|b: f64| [b.next_down(), b.next_up()]);
        for v in fixed.into_iter().chain(beside.into_iter().flatten()) {
            assert_eq!(fmt_f64(v), through_std(v), "{v:?}");
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for i in 0..1_000_000u32 {
            let v = match i % 3 {
                0 => f64::from_bits(rng.random()),
                1 => {
                    (rng.random::<u64>() >> rng.random_range(0..64)) as f64
                        * 2f64.powi(rng.random_range(-80..80))
                }
                _ => rng.random::<f64>() * 20.0 - 10.0,
            };
            assert_eq!(fmt_f64(v), through_std(v), "{v:?}");
        }
    }
}
