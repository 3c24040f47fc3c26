//! Which vector instructions the hot loops use, chosen once per process, and the fixed-order
//! kernels of the exact sums.
//!
//! **Reproducibility across CPUs.** Each kernel here is one portable loop compiled three
//! times: for the baseline x86-64 (or any other architecture), for AVX2 and for AVX-512. Its
//! arithmetic is written so that the vector width cannot change a single bit: every output
//! entry is one lane, summed in index order, and reductions across lanes run in a fixed
//! tree. The two matrix products (`dots`, `accumulate`) and the exponential's polynomial
//! ([`super::exp_shifted_sum`]) use fused multiply-adds, which round once on every level:
//! the AVX2 and AVX-512 instructions, and [`f64::mul_add`] on the baseline (the C library's
//! `fma`, correctly rounded in software where the CPU has no FMA, slowly). Everything else
//! multiplies and adds separately (Rust never fuses them on its own). So a run gives the
//! same bits on a laptop without AVX-512 as on a server with it. The environment variable
//! `GANFLOW_SIMD` (`scalar`, `avx2` or `avx512`) caps the level, so that each path can be
//! forced and compared; a level the CPU lacks is never used.
//!
//! **Speed.** The products run in register tiles written with the vector types of each
//! level (fused multiply-adds need them: the compiler does not vectorise `mul_add` on its
//! own). Measured on the 2-core development machine, one core, a 64 × 256 block at d = 64
//! (in cache): AVX2 (6 × 2 tile) 62 GFLOP/s for the distances and 61 for the weighted sums,
//! 87 % and 85 % of that core's 71.5 GFLOP/s AVX2 FMA peak; AVX-512 (8 × 3) 107 and 99,
//! 76 % and 70 % of 141. The peaks were measured with twelve independent FMA chains.

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
/// [`SimdLevel::current`]. The second form names one body per level: the same arithmetic in
/// a register tile shaped for that level's registers (the shape never changes a bit, see the
/// kernels below).
macro_rules! multiversion {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $body:ident;) => {
        $crate::kde::simd::multiversion! {
            $(#[$doc])*
            $vis fn $name($($arg: $ty),*) -> $ret = avx512: $body, avx2: $body, scalar: $body;
        }
    };
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty =
        avx512: $b512:expr, avx2: $b2:expr, scalar: $bs:expr;) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,fma")]
                unsafe fn avx512($($arg: $ty),*) -> $ret {
                    $b512($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) -> $ret {
                    $b2($($arg),*)
                }
                match $crate::kde::simd::SimdLevel::current() {
                    // SAFETY: `current` never exceeds what the CPU was detected to support.
                    $crate::kde::simd::SimdLevel::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::kde::simd::SimdLevel::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::kde::simd::SimdLevel::Scalar => {}
                }
            }
            $bs($($arg),*)
        }
    };
}

pub(crate) use multiversion;

/// One vector register of `f64` lanes: what the matrix tiles below are written in, so that
/// each level gets its own register shape and fused multiply-adds. `mul_add` rounds once on
/// every level (the baseline calls [`f64::mul_add`]), so a lane's value never depends on the
/// level.
trait Vector: Copy {
    /// Lanes per register.
    const LANES: usize;
    /// All lanes zero.
    fn zero() -> Self;
    /// `v` in every lane.
    fn splat(v: f64) -> Self;
    /// The first `LANES` entries of `s`.
    fn load(s: &[f64]) -> Self;
    /// `self * b + c`, rounded once.
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// Into the first `LANES` entries of `s`.
    fn store(self, s: &mut [f64]);
}

/// The baseline: one lane.
#[derive(Clone, Copy)]
struct Lane(f64);

impl Vector for Lane {
    const LANES: usize = 1;
    #[inline(always)]
    fn zero() -> Self {
        Lane(0.0)
    }
    #[inline(always)]
    fn splat(v: f64) -> Self {
        Lane(v)
    }
    #[inline(always)]
    fn load(s: &[f64]) -> Self {
        Lane(s[0])
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        Lane(self.0.mul_add(b.0, c.0))
    }
    #[inline(always)]
    fn store(self, s: &mut [f64]) {
        s[0] = self.0;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The AVX2 and AVX-512 registers. Their methods are only ever inlined into the
    //! functions that `multiversion!` compiles with those features enabled, which run only
    //! where [`SimdLevel::current`](super::SimdLevel::current) found them.
    use std::arch::x86_64::*;

    use super::Vector;

    /// Four lanes (AVX2 with FMA).
    #[derive(Clone, Copy)]
    pub(super) struct Ymm(__m256d);

    impl Vector for Ymm {
        const LANES: usize = 4;
        #[inline(always)]
        fn zero() -> Self {
            // SAFETY: only reached from code compiled for, and run on, AVX2 (module docs).
            Ymm(unsafe { _mm256_setzero_pd() })
        }
        #[inline(always)]
        fn splat(v: f64) -> Self {
            // SAFETY: as above.
            Ymm(unsafe { _mm256_set1_pd(v) })
        }
        #[inline(always)]
        fn load(s: &[f64]) -> Self {
            let s = &s[..4];
            // SAFETY: as above; `s` holds four entries.
            Ymm(unsafe { _mm256_loadu_pd(s.as_ptr()) })
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            // SAFETY: as above (FMA comes with the AVX2 level).
            Ymm(unsafe { _mm256_fmadd_pd(self.0, b.0, c.0) })
        }
        #[inline(always)]
        fn store(self, s: &mut [f64]) {
            let s = &mut s[..4];
            // SAFETY: as above; `s` holds four entries.
            unsafe { _mm256_storeu_pd(s.as_mut_ptr(), self.0) }
        }
    }

    /// Eight lanes (AVX-512F with FMA).
    #[derive(Clone, Copy)]
    pub(super) struct Zmm(__m512d);

    impl Vector for Zmm {
        const LANES: usize = 8;
        #[inline(always)]
        fn zero() -> Self {
            // SAFETY: only reached from code compiled for, and run on, AVX-512F (module docs).
            Zmm(unsafe { _mm512_setzero_pd() })
        }
        #[inline(always)]
        fn splat(v: f64) -> Self {
            // SAFETY: as above.
            Zmm(unsafe { _mm512_set1_pd(v) })
        }
        #[inline(always)]
        fn load(s: &[f64]) -> Self {
            let s = &s[..8];
            // SAFETY: as above; `s` holds eight entries.
            Zmm(unsafe { _mm512_loadu_pd(s.as_ptr()) })
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            // SAFETY: as above.
            Zmm(unsafe { _mm512_fmadd_pd(self.0, b.0, c.0) })
        }
        #[inline(always)]
        fn store(self, s: &mut [f64]) {
            let s = &mut s[..8];
            // SAFETY: as above; `s` holds eight entries.
            unsafe { _mm512_storeu_pd(s.as_mut_ptr(), self.0) }
        }
    }
}

#[cfg(target_arch = "x86_64")]
use x86::{Ymm, Zmm};

// The register tiles, rows × vectors, measured on the development machine (one core, a
// 64 × 256 block at d = 64, the whole tile in L1): AVX-512 8 × 3 (24 of the 32 registers
// accumulate), AVX2 6 × 2 (12 of 16; 4 × 3 spills one accumulator to the stack). A tile's
// width in `f64` lanes, `NV × LANES`, is what [`Panels`] are laid out for.
const AVX512_WIDTH: usize = 8 * 3;
const AVX2_WIDTH: usize = 4 * 2;
const SCALAR_WIDTH: usize = 2;

/// Samples laid out once for the register tiles of the process's vector level, so that the
/// products read each block contiguously, instead of copying it into place in every call
/// (which was 5-7 % of their time at N = 2000 in 64-D: the data's tile was copied once per
/// tile of queries, a particle tile once per pair of tiles).
///
/// For `ns` samples of `d` coordinates (row-major) and the tile's width `w`:
/// - `by_sample`: for each block of `w` samples, their `d × w` transpose (zeros past the
///   last sample), which [`dots`] reads;
/// - `by_coordinate`: for each block of `w` coordinates below `wide = d - d % 8`, the
///   `ns × w` columns (zeros past `wide`), which [`accumulate`] and [`accumulate_t`] read;
/// - `narrow_t`: the coordinates from `wide` on, transposed (`(d - wide) × ns`), summed
///   outside the register tiles.
#[derive(Clone, Debug)]
pub(crate) struct Panels {
    width: usize,
    d: usize,
    ns: usize,
    by_sample: Vec<f64>,
    by_coordinate: Vec<f64>,
    narrow_t: Vec<f64>,
}

impl Panels {
    /// Lays out the row-major samples `x` (`d` coordinates each) for the current level.
    pub(crate) fn new(x: &[f64], d: usize) -> Self {
        let width = match SimdLevel::current() {
            SimdLevel::Avx512 => AVX512_WIDTH,
            SimdLevel::Avx2 => AVX2_WIDTH,
            SimdLevel::Scalar => SCALAR_WIDTH,
        };
        let ns = x.len() / d;
        let wide = wide(d);
        let mut by_sample = vec![0.0; ns.div_ceil(width) * d * width];
        for (b, block) in by_sample.chunks_exact_mut(d * width).enumerate() {
            for (t, xj) in x.chunks_exact(d).skip(b * width).take(width).enumerate() {
                for (k, v) in xj.iter().enumerate() {
                    block[k * width + t] = *v;
                }
            }
        }
        let mut by_coordinate = vec![0.0; wide.div_ceil(width) * ns * width];
        for (c, block) in by_coordinate.chunks_exact_mut(ns * width).enumerate() {
            let c0 = c * width;
            let c = width.min(wide - c0);
            for (row, xj) in block.chunks_exact_mut(width).zip(x.chunks_exact(d)) {
                row[..c].copy_from_slice(&xj[c0..c0 + c]);
            }
        }
        let mut narrow_t = Vec::with_capacity((d - wide) * ns);
        for k in wide..d {
            narrow_t.extend(x.chunks_exact(d).map(|xj| xj[k]));
        }
        Self {
            width,
            d,
            ns,
            by_sample,
            by_coordinate,
            narrow_t,
        }
    }
}

/// The coordinates the register tiles take, `d - d % 8`; the rest are summed apart. It
/// depends on `d` alone, never on the level, so neither does a bit of the result.
fn wide(d: usize) -> usize {
    d - d % 8
}

multiversion! {
    /// `out[i ns + j] = Σ_k q[i d + k] x_j[k]` for `nq` rows of `q` (row-major, `d`
    /// columns) and the `ns` samples `x` of `panels`. Each entry is a chain of fused
    /// multiply-adds in `k` order from 0, on every level. With `upper` (the rows are the
    /// samples themselves), only the register tiles that reach the diagonal or above it are
    /// computed: every entry with `j >= i`, and some below, the rest left as they were.
    pub(crate) fn dots(q: &[f64], panels: &Panels, upper: bool, out: &mut [f64]) -> () =
        avx512: dots_portable::<Zmm, 8, 3>, avx2: dots_portable::<Ymm, 6, 2>,
        scalar: dots_portable::<Lane, 4, 2>;
}

/// `Σ_k w_t[k] v_k` for `R` weight rows at once, `v_k` the `k`-th row of `block` (`NV`
/// vectors wide), each lane a chain of fused multiply-adds in `k` order from 0: the one
/// register tile the kernels use.
#[inline(always)]
fn tile<V: Vector, const R: usize, const NV: usize>(
    rows: [&[f64]; R],
    block: &[f64],
) -> [[V; NV]; R] {
    let width = NV * V::LANES;
    let len = block.len() / width;
    let mut short = rows;
    for (s, r) in short.iter_mut().zip(rows) {
        *s = &r[..len];
    }
    let rows = short;
    let mut a = [[V::zero(); NV]; R];
    for (k, xk) in block.chunks_exact(width).enumerate() {
        let mut x = [V::zero(); NV];
        for (v, xv) in x.iter_mut().enumerate() {
            *xv = V::load(&xk[v * V::LANES..]);
        }
        for t in 0..R {
            let w = V::splat(rows[t][k]);
            for v in 0..NV {
                a[t][v] = w.mul_add(x[v], a[t][v]);
            }
        }
    }
    a
}

/// [`tile`] with the weight rows read down the columns of a row-major matrix: row `t` of
/// the tile is column `j0 + t` of `e` (rows of `stride`), so `w_t[k] = e[k stride + j0 + t]`.
#[inline(always)]
fn tile_columns<V: Vector, const R: usize, const NV: usize>(
    e: &[f64],
    stride: usize,
    j0: usize,
    block: &[f64],
) -> [[V; NV]; R] {
    let width = NV * V::LANES;
    let mut a = [[V::zero(); NV]; R];
    for (k, xk) in block.chunks_exact(width).enumerate() {
        let mut x = [V::zero(); NV];
        for (v, xv) in x.iter_mut().enumerate() {
            *xv = V::load(&xk[v * V::LANES..]);
        }
        let w = &e[k * stride + j0..k * stride + j0 + R];
        for t in 0..R {
            let wt = V::splat(w[t]);
            for v in 0..NV {
                a[t][v] = wt.mul_add(x[v], a[t][v]);
            }
        }
    }
    a
}

/// The first `c` lanes of a tile row, stored into `out`.
#[inline(always)]
fn store_row<V: Vector, const NV: usize>(row: &[V; NV], c: usize, out: &mut [f64]) {
    if c == NV * V::LANES {
        for (v, r) in row.iter().enumerate() {
            r.store(&mut out[v * V::LANES..]);
        }
        return;
    }
    let mut lanes = [0.0f64; 64];
    for (v, r) in row.iter().enumerate() {
        r.store(&mut lanes[v * V::LANES..]);
    }
    for (o, l) in out[..c].iter_mut().zip(&lanes) {
        *o = *l;
    }
}

/// Rows `i0..i0 + R` of a row-major matrix with rows of `len`, the last row repeated past
/// its end (computed and not stored, so that the tile's shape, and its vectorisation, stay
/// fixed); and how many are real.
#[inline(always)]
fn row_block<const R: usize>(m: &[f64], len: usize, i0: usize) -> ([&[f64]; R], usize) {
    let n = m.len() / len;
    let r = R.min(n - i0);
    let mut rows = [&m[..0]; R];
    for (t, row) in rows.iter_mut().enumerate() {
        let i = i0 + t.min(r - 1);
        *row = &m[i * len..(i + 1) * len];
    }
    (rows, r)
}

/// The panels' width, checked against the tile's (the panels are laid out for the level
/// that runs the kernels).
#[inline(always)]
fn checked_width<V: Vector, const NV: usize>(panels: &Panels) -> usize {
    let width = NV * V::LANES;
    assert_eq!(
        panels.width, width,
        "panels laid out for another vector level"
    );
    width
}

#[inline(always)]
fn dots_portable<V: Vector, const R: usize, const NV: usize>(
    q: &[f64],
    panels: &Panels,
    upper: bool,
    out: &mut [f64],
) {
    let width = checked_width::<V, NV>(panels);
    let (d, ns) = (panels.d, panels.ns);
    let nq = q.len() / d;
    // A block of `width` samples stays in L1 while every query row passes over it.
    for (b, block) in panels.by_sample.chunks_exact(d * width).enumerate() {
        let j0 = b * width;
        let c = width.min(ns - j0);
        // Below the diagonal, a tile whose rows all start past the block's last sample.
        let rows_end = if upper { nq.min(j0 + width) } else { nq };
        for i0 in (0..rows_end).step_by(R) {
            let (rows, r) = row_block::<R>(q, d, i0);
            let a = tile::<V, R, NV>(rows, block);
            for (t, at) in a.iter().enumerate().take(r) {
                store_row(at, c, &mut out[(i0 + t) * ns + j0..]);
            }
        }
    }
}

multiversion! {
    /// `acc[i d + c] += Σ_j e[i ns + j] x_j[c]` for the `nq = acc.len() / d` rows of `e`
    /// (`nq × ns`) and the `ns` samples `x` of `panels`. The columns below `d - d % 8` are
    /// summed in `j` order by the register tile, fused multiply-adds from 0, then added to
    /// `acc`; the rest (all of them when `d < 8`) in [`PARTIALS`] interleaved partial sums
    /// over `j`, added up in a fixed tree. Which way a column goes depends on `d` alone.
    pub(crate) fn accumulate(e: &[f64], panels: &Panels, acc: &mut [f64]) -> () =
        avx512: accumulate_portable::<Zmm, 8, 3>, avx2: accumulate_portable::<Ymm, 6, 2>,
        scalar: accumulate_portable::<Lane, 4, 2>;
}

multiversion! {
    /// `acc[j d + c] += Σ_i e[i nj + j] x_i[c]`: [`accumulate`] with `e` transposed
    /// (`e` is `ni × nj`, the `ni` samples `x` are those of `panels`, `acc` is `nj × d`),
    /// without forming the transpose. Columns below `d - d % 8` are summed in `i` order by
    /// the register tile, fused multiply-adds from 0, then added to `acc`; the rest in `i`
    /// order, a multiply then an add, from 0, then added.
    pub(crate) fn accumulate_t(e: &[f64], panels: &Panels, nj: usize, acc: &mut [f64]) -> () =
        avx512: accumulate_t_portable::<Zmm, 8, 3>, avx2: accumulate_t_portable::<Ymm, 6, 2>,
        scalar: accumulate_t_portable::<Lane, 4, 2>;
}

#[inline(always)]
fn accumulate_t_portable<V: Vector, const R: usize, const NV: usize>(
    e: &[f64],
    panels: &Panels,
    nj: usize,
    acc: &mut [f64],
) {
    let width = checked_width::<V, NV>(panels);
    let (d, ni) = (panels.d, panels.ns);
    let wide = wide(d);
    let mut sums = [0.0f64; 64];
    // Columns past the last whole tile of rows read a padded copy of `e` (made once).
    let whole = nj - nj % R;
    let mut padded = Vec::new();
    if whole < nj && wide > 0 {
        padded = vec![0.0f64; ni * R];
        for (p, row) in padded.chunks_exact_mut(R).zip(e.chunks_exact(nj)) {
            p[..nj - whole].copy_from_slice(&row[whole..]);
        }
    }
    for (b, block) in panels.by_coordinate.chunks_exact(ni * width).enumerate() {
        let c0 = b * width;
        let c = width.min(wide - c0);
        for j0 in (0..nj).step_by(R) {
            let a = if j0 < whole {
                tile_columns::<V, R, NV>(e, nj, j0, block)
            } else {
                tile_columns::<V, R, NV>(&padded, R, 0, block)
            };
            for (t, at) in a.iter().enumerate().take(nj - j0) {
                store_row(at, c, &mut sums);
                let out = &mut acc[(j0 + t) * d + c0..(j0 + t) * d + c0 + c];
                for (o, v) in out.iter_mut().zip(&sums) {
                    *o += v;
                }
            }
        }
    }
    if wide == d {
        return;
    }
    let mut column = vec![0.0f64; nj];
    for (c, xc) in (wide..d).zip(panels.narrow_t.chunks_exact(ni)) {
        column.iter_mut().for_each(|v| *v = 0.0);
        for (row, &w) in e.chunks_exact(nj).zip(xc) {
            for (s, ev) in column.iter_mut().zip(row) {
                *s += ev * w;
            }
        }
        for (j, s) in column.iter().enumerate() {
            acc[j * d + c] += s;
        }
    }
}

/// Interleaved partial sums of [`accumulate`]'s narrow columns: two vectors of AVX-512, four
/// of AVX2, enough independent chains to hide the adder's latency.
const PARTIALS: usize = 16;

#[inline(always)]
fn accumulate_portable<V: Vector, const R: usize, const NV: usize>(
    e: &[f64],
    panels: &Panels,
    acc: &mut [f64],
) {
    let width = checked_width::<V, NV>(panels);
    let (d, ns) = (panels.d, panels.ns);
    let nq = acc.len() / d;
    let wide = wide(d);
    let mut sums = [0.0f64; 64];
    for (b, block) in panels.by_coordinate.chunks_exact(ns * width).enumerate() {
        let c0 = b * width;
        let c = width.min(wide - c0);
        for i0 in (0..nq).step_by(R) {
            let (rows, r) = row_block::<R>(e, ns, i0);
            let a = tile::<V, R, NV>(rows, block);
            for (t, at) in a.iter().enumerate().take(r) {
                store_row(at, c, &mut sums);
                let out = &mut acc[(i0 + t) * d + c0..(i0 + t) * d + c0 + c];
                for (o, v) in out.iter_mut().zip(&sums) {
                    *o += v;
                }
            }
        }
    }
    if wide == d {
        return;
    }
    for (a, w) in acc.chunks_exact_mut(d).zip(e.chunks_exact(ns)) {
        for (ac, xrow) in a[wide..].iter_mut().zip(panels.narrow_t.chunks_exact(ns)) {
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
