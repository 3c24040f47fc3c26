//! Which vector instructions the hot loops use, chosen once per process, and the fixed-order
//! kernels of the exact sums.
//!
//! **Reproducibility across CPUs.** Each kernel here is one portable loop compiled three
//! times: for the baseline x86-64 (or any other architecture), for AVX2 and for AVX-512. Its
//! arithmetic is written so that the vector width cannot change a single bit: every output
//! entry is one lane, summed in index order with a separate multiply and add (Rust never
//! fuses them on its own), and reductions across lanes run in a fixed tree. So a run gives
//! the same bits on a laptop without AVX-512 as on a server with it. The environment
//! variable `GANFLOW_SIMD` (`scalar`, `avx2` or `avx512`) caps the level, so that each path
//! can be forced and compared; a level the CPU lacks is never used.

use std::sync::OnceLock;

/// A vector instruction level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// Baseline instructions only.
    Scalar,
    /// AVX2 and FMA (4 lanes of `f64`).
    Avx2,
    /// AVX-512F and FMA (8 lanes).
    Avx512,
}

impl SimdLevel {
    /// The level in use: the best the CPU has, capped by `GANFLOW_SIMD`.
    pub fn current() -> Self {
        static LEVEL: OnceLock<SimdLevel> = OnceLock::new();
        *LEVEL.get_or_init(|| {
            let cap = match std::env::var("GANFLOW_SIMD").as_deref() {
                Ok("scalar") => SimdLevel::Scalar,
                Ok("avx2") => SimdLevel::Avx2,
                _ => SimdLevel::Avx512,
            };
            Self::detected().min(cap)
        })
    }

    /// The best level the CPU has.
    pub fn detected() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("fma");
            if fma && std::arch::is_x86_feature_detected!("avx512f") {
                return SimdLevel::Avx512;
            }
            if fma && std::arch::is_x86_feature_detected!("avx2") {
                return SimdLevel::Avx2;
            }
        }
        SimdLevel::Scalar
    }

    /// Its name, as `GANFLOW_SIMD` spells it.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Scalar => "scalar",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }
}

/// Compiles a portable `#[inline(always)]` body for each level and dispatches on
/// [`SimdLevel::current`].
macro_rules! multiversion {
    ($(#[$doc:meta])* pub(crate) fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $body:ident;) => {
        $(#[$doc])*
        pub(crate) fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,fma")]
                unsafe fn avx512($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                match $crate::kde::simd::SimdLevel::current() {
                    // SAFETY: `current` never exceeds what the CPU was detected to support.
                    $crate::kde::simd::SimdLevel::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::kde::simd::SimdLevel::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::kde::simd::SimdLevel::Scalar => {}
                }
            }
            $body($($arg),*)
        }
    };
}

pub(crate) use multiversion;

/// Lanes of the dot-product tile (one AVX-512 vector, two AVX2 ones).
const LANES: usize = 8;
/// Query rows per tile.
const ROWS: usize = 4;

multiversion! {
    /// `out[i ns + j] = Σ_k q[i d + k] xt[k ns + j]` for `nq` rows of `q` (row-major, `d`
    /// columns) and `ns` columns of `xt` (`d × ns`, row-major: the samples transposed). Each
    /// entry is summed in `k` order from 0, a multiply then an add.
    pub(crate) fn dots(q: &[f64], xt: &[f64], d: usize, ns: usize, out: &mut [f64]) -> () = dots_portable;
}

/// `Σ_k w_t[k] v[k]` for four weight rows at once, eight lanes per `v[k]`, each lane summed
/// in `k` order: the one register tile both kernels use.
#[inline(always)]
fn tile(rows: [&[f64]; ROWS], v: &[[f64; LANES]]) -> [[f64; LANES]; ROWS] {
    let mut a = [[0.0f64; LANES]; ROWS];
    let [r0, r1, r2, r3] = rows;
    for ((((x, w0), w1), w2), w3) in v.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
        let w = [*w0, *w1, *w2, *w3];
        for t in 0..ROWS {
            for l in 0..LANES {
                a[t][l] += w[t] * x[l];
            }
        }
    }
    a
}

/// Rows `i0..i0 + ROWS` of a row-major matrix with rows of `len`, the last row repeated past
/// its end (computed and not stored, so that the tile's shape, and its vectorisation, stay
/// fixed); and how many are real.
#[inline(always)]
fn row_block(m: &[f64], len: usize, i0: usize) -> ([&[f64]; ROWS], usize) {
    let n = m.len() / len;
    let r = ROWS.min(n - i0);
    let rows = std::array::from_fn(|t| {
        let i = i0 + t.min(r - 1);
        &m[i * len..(i + 1) * len]
    });
    (rows, r)
}

#[inline(always)]
fn dots_portable(q: &[f64], xt: &[f64], d: usize, ns: usize, out: &mut [f64]) {
    let nq = q.len() / d;
    let mut block = vec![[0.0f64; LANES]; d];
    let mut j0 = 0;
    // A block of LANES samples, packed contiguously, stays in L1 while every query row
    // passes over it.
    while j0 + LANES <= ns {
        for (b, xrow) in block.iter_mut().zip(xt.chunks_exact(ns)) {
            b.copy_from_slice(&xrow[j0..j0 + LANES]);
        }
        for i0 in (0..nq).step_by(ROWS) {
            let (rows, r) = row_block(q, d, i0);
            let a = tile(rows, &block);
            for (t, at) in a.iter().enumerate().take(r) {
                out[(i0 + t) * ns + j0..(i0 + t) * ns + j0 + LANES].copy_from_slice(at);
            }
        }
        j0 += LANES;
    }
    for j in j0..ns {
        for (i, row) in q.chunks_exact(d).enumerate() {
            let mut s = 0.0;
            for (k, qk) in row.iter().enumerate() {
                s += qk * xt[k * ns + j];
            }
            out[i * ns + j] = s;
        }
    }
}

multiversion! {
    /// `acc[i d + c] += Σ_j e[i ns + j] x[j d + c]` for the `nq = acc.len() / d` rows of `e`
    /// (`nq × ns`), with the samples both as `x` (`ns × d`) and transposed as `xt`
    /// (`d × ns`). Columns in whole blocks of eight are summed in `j` order, eight columns to
    /// a vector; the rest (all of them when `d < 8`) in [`PARTIALS`] interleaved partial sums
    /// over `j`, added up in a fixed tree. Which way a column goes depends on `d` alone.
    pub(crate) fn accumulate(e: &[f64], x: &[f64], xt: &[f64], d: usize, ns: usize, acc: &mut [f64]) -> () = accumulate_portable;
}

/// Interleaved partial sums of [`accumulate`]'s narrow columns: two vectors of AVX-512, four
/// of AVX2, enough independent chains to hide the adder's latency.
const PARTIALS: usize = 16;

#[inline(always)]
fn accumulate_portable(e: &[f64], x: &[f64], xt: &[f64], d: usize, ns: usize, acc: &mut [f64]) {
    let nq = acc.len() / d;
    let wide = d - d % LANES;
    let mut block = vec![[0.0f64; LANES]; ns];
    for c0 in (0..wide).step_by(LANES) {
        for (b, xj) in block.iter_mut().zip(x.chunks_exact(d)) {
            b.copy_from_slice(&xj[c0..c0 + LANES]);
        }
        for i0 in (0..nq).step_by(ROWS) {
            let (rows, r) = row_block(e, ns, i0);
            let a = tile(rows, &block);
            for (t, at) in a.iter().enumerate().take(r) {
                let out = &mut acc[(i0 + t) * d + c0..(i0 + t) * d + c0 + LANES];
                for (o, v) in out.iter_mut().zip(at) {
                    *o += v;
                }
            }
        }
    }
    if wide == d {
        return;
    }
    for (a, w) in acc.chunks_exact_mut(d).zip(e.chunks_exact(ns)) {
        for (ac, xrow) in a[wide..].iter_mut().zip(xt[wide * ns..].chunks_exact(ns)) {
            let mut p = [0.0f64; PARTIALS];
            let mut wc = w.chunks_exact(PARTIALS);
            let mut xc = xrow.chunks_exact(PARTIALS);
            for (wb, xb) in (&mut wc).zip(&mut xc) {
                for ((pl, wl), xl) in p.iter_mut().zip(wb).zip(xb) {
                    *pl += wl * xl;
                }
            }
            for ((pl, wl), xl) in p.iter_mut().zip(wc.remainder()).zip(xc.remainder()) {
                *pl += wl * xl;
            }
            let mut width = PARTIALS;
            while width > 1 {
                width /= 2;
                for l in 0..width {
                    p[l] += p[l + width];
                }
            }
            *ac += p[0];
        }
    }
}
