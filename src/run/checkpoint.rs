//! Checkpoints: everything needed to continue a run bit for bit, in one file written whole.
//!
//! A checkpoint is taken at a step before that step is observed or taken. It holds the
//! flow's state ([`FlowState`], a learning discriminator's parameters included, and the
//! particles), the metrics' state, the lengths of `trajectories.csv`, `metrics.csv` and
//! `discriminator.csv` that hold exactly the observations before that step, the version
//! that wrote it and a digest of the inputs. The flow draws no random numbers and its
//! integrators keep nothing between steps, so that is all the state there is.
//!
//! The file is binary, little-endian: a magic line, a format number, the fields in order,
//! the particles' coordinates as raw `f64` bits, and a SHA-256 of everything before it, so a
//! damaged file is refused rather than half read.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::inputs::InputDigest;
use crate::error::{Error, Result, io_at};
use crate::flow::sim::FlowState;
use crate::metrics::{DecayPoint, DissipationPoint};
use crate::output::write_whole_with;
use crate::points::Points;

const MAGIC: &[u8; 19] = b"ganflow checkpoint\n";
const FORMAT: u32 = 4;

/// One checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The ganflow version that wrote it.
    pub version: String,
    /// The digest of the run's inputs.
    pub digest: InputDigest,
    /// The flow's state besides the particles.
    pub state: FlowState,
    /// The particles, in the flow's coordinates.
    pub particles: Points,
    /// The metrics tracker's state.
    pub dissipation: Option<DissipationPoint>,
    /// The recorder's state for `decay_rate`.
    pub decay: Option<DecayPoint>,
    /// Bytes of `trajectories.csv` that belong to the observations before `state.step`.
    pub trajectories_len: u64,
    /// Bytes of `metrics.csv` that do.
    pub metrics_len: u64,
    /// Bytes of `discriminator.csv` that do (0 without a learning discriminator).
    pub discriminator_len: u64,
}

impl Checkpoint {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.particles.len();
        let d = self.particles.dim();
        let mut b = Vec::with_capacity(256 + 8 * n * d);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&FORMAT.to_le_bytes());
        b.extend_from_slice(&(self.version.len() as u64).to_le_bytes());
        b.extend_from_slice(self.version.as_bytes());
        b.extend_from_slice(&self.digest.0);
        let s = &self.state;
        for v in [
            s.step,
            s.uniform_steps,
            self.trajectories_len,
            self.metrics_len,
            self.discriminator_len,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for v in [s.t, s.t_base, s.base_g, s.base_q, s.dt] {
            b.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        match self.dissipation {
            None => b.push(0),
            Some(p) => {
                b.push(1);
                for v in [p.t, p.energy, p.rate] {
                    b.extend_from_slice(&v.to_bits().to_le_bytes());
                }
            }
        }
        match self.decay {
            None => b.push(0),
            Some(p) => {
                b.push(1);
                for v in [p.t, p.connection_norm2] {
                    b.extend_from_slice(&v.to_bits().to_le_bytes());
                }
            }
        }
        match &s.disc {
            None => b.push(0),
            Some(params) => {
                b.push(1);
                b.extend_from_slice(&(params.len() as u64).to_le_bytes());
                for v in params {
                    b.extend_from_slice(&v.to_bits().to_le_bytes());
                }
            }
        }
        b.extend_from_slice(&(n as u64).to_le_bytes());
        b.extend_from_slice(&(d as u64).to_le_bytes());
        for v in self.particles.as_slice() {
            b.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        let sum = Sha256::digest(&b);
        b.extend_from_slice(&sum);
        b
    }

    /// Reads a file's bytes; `path` names it in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |message: &str| Error::File {
            path: path.to_path_buf(),
            message: format!("not a usable checkpoint: {message}"),
        };
        if bytes.len() < MAGIC.len() + 32 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("it does not start like one"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != sum {
            return Err(bad("its checksum does not match (the file is damaged)"));
        }
        let mut r = Reader {
            bytes: &body[MAGIC.len()..],
        };
        let short = || bad("it ends early");
        let format = u32::from_le_bytes(r.take(4).ok_or_else(short)?.try_into().expect("4"));
        if format != FORMAT {
            return Err(bad(&format!(
                "format {format}, this version reads {FORMAT}"
            )));
        }
        let vlen = r.u64().ok_or_else(short)? as usize;
        let version = String::from_utf8(r.take(vlen).ok_or_else(short)?.to_vec())
            .map_err(|_| bad("its version is not text"))?;
        let digest = InputDigest(r.take(32).ok_or_else(short)?.try_into().expect("32"));
        let step = r.u64().ok_or_else(short)?;
        let uniform_steps = r.u64().ok_or_else(short)?;
        let trajectories_len = r.u64().ok_or_else(short)?;
        let metrics_len = r.u64().ok_or_else(short)?;
        let discriminator_len = r.u64().ok_or_else(short)?;
        let t = r.f64().ok_or_else(short)?;
        let t_base = r.f64().ok_or_else(short)?;
        let base_g = r.f64().ok_or_else(short)?;
        let base_q = r.f64().ok_or_else(short)?;
        let dt = r.f64().ok_or_else(short)?;
        let dissipation = match r.take(1).ok_or_else(short)?[0] {
            0 => None,
            1 => Some(DissipationPoint {
                t: r.f64().ok_or_else(short)?,
                energy: r.f64().ok_or_else(short)?,
                rate: r.f64().ok_or_else(short)?,
            }),
            _ => return Err(bad("a flag is neither 0 nor 1")),
        };
        let decay = match r.take(1).ok_or_else(short)?[0] {
            0 => None,
            1 => Some(DecayPoint {
                t: r.f64().ok_or_else(short)?,
                connection_norm2: r.f64().ok_or_else(short)?,
            }),
            _ => return Err(bad("a flag is neither 0 nor 1")),
        };
        let disc = match r.take(1).ok_or_else(short)?[0] {
            0 => None,
            1 => {
                let k = r.u64().ok_or_else(short)? as usize;
                if k > r.bytes.len() / 8 {
                    return Err(bad("its discriminator block has the wrong length"));
                }
                Some(
                    (0..k)
                        .map(|_| r.f64().ok_or_else(short))
                        .collect::<Result<Vec<f64>>>()?,
                )
            }
            _ => return Err(bad("a flag is neither 0 nor 1")),
        };
        let n = r.u64().ok_or_else(short)? as usize;
        let d = r.u64().ok_or_else(short)? as usize;
        let count = n.checked_mul(d).ok_or_else(|| bad("its size overflows"))?;
        if r.bytes.len() != count.saturating_mul(8) {
            return Err(bad("its particle block has the wrong length"));
        }
        let coords = r
            .bytes
            .chunks_exact(8)
            .map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8"))))
            .collect();
        Ok(Self {
            version,
            digest,
            state: FlowState {
                step,
                t,
                t_base,
                uniform_steps,
                base_g,
                base_q,
                dt,
                disc,
            },
            particles: Points::new("checkpoint particles", coords, d)
                .map_err(|e| bad(&e.to_string()))?,
            dissipation,
            decay,
            trajectories_len,
            metrics_len,
            discriminator_len,
        })
    }

    /// Writes it whole (temporary file, sync, rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes();
        write_whole_with(path, |w| {
            std::io::Write::write_all(w, &bytes).map_err(io_at(path))
        })
    }

    /// Reads it.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(io_at(path))?;
        Self::from_bytes(path, &bytes)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8")))
    }
    fn f64(&mut self) -> Option<f64> {
        self.u64().map(f64::from_bits)
    }
}
