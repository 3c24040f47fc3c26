//! Kernel sums whose work per query does not grow with the number of samples near it: a
//! k-d tree whose nodes carry Taylor moments, for `d <= 3`.
//!
//! # The expansion
//!
//! For a node with centre `c` and samples `y_i = c + h z_i` of weights `w_i`, and a query
//! `x = c + h u`,
//!
//! ```text
//! Σ_i w_i exp(-|x - y_i|² / 2h²) = exp(-|u|²/2) F(u),   F(u) = Σ_i w'_i exp(u · z_i),
//! Σ_i w_i exp(-|x - y_i|² / 2h²) (y_i - x) = h exp(-|u|²/2) (∇F(u) - u F(u)),
//! ```
//!
//! with `w'_i = w_i exp(-|z_i|²/2)`. Truncating `exp(u · z)` after degree `p <= P` (here
//! `P = 20`) gives `F_p(u) = Σ_{|α| <= p} M_α u^α` with moments `M_α = Σ_i w'_i z_i^α / α!`
//! (the multinomial expansion of `Σ_{k <= p} (u · z_i)^k / k!`). With `r = max_i |z_i|` and
//! `ρ = |u| r`, each sample's `t = u · z_i` has `|t| <= ρ`, and Lagrange's remainder gives
//! `|e^t - Σ_{k <= p} t^k / k!| <= max(1, e^t) |t|^(p+1) / (p+1)! <= e^t e^ρ ρ^(p+1) / (p+1)!`.
//! Every weight is positive, so summing term by term,
//!
//! ```text
//! |F - F_p| <= g_(p+1) F,          g_k = e^ρ ρ^k / k!,
//! |∇F - ∇F_p| <= r g_p F           (∇F_p sums z_i times the degree p - 1 truncation),
//! ```
//!
//! relative to the node's own sum, whatever the samples. The displacement sum's error is
//! then at most `h (r g_p + |u| g_(p+1))` times the node's sum. A node is expanded, at the
//! lowest degree `p` for which both bounds are within `ε/2`, when there is one: the errors
//! then add up to at most `ε/2` of the whole sum, whatever the number of nodes. What matters
//! is `ρ = |x - c| r / h²`, so a query far from a node can use it only if the node is small;
//! a tail query's nodes shrink with its distance, but not with the number of samples they
//! hold. Rounding: the terms' magnitudes add up to at most `e^ρ W'`, against a sum of at
//! least `e^(-ρ) W'`, so `ρ` is also capped at 3.5.
//!
//! # Pruning
//!
//! A node at least `d_min` from the query, with total weight `W_n`, holds at most
//! `W_n K(d_min)` of the sum and `W_n K(d_min) d_max` of the displacement sum. With `S_lo`
//! a lower bound of the whole sum and `W` the total weight, it is dropped when
//! `K(d_min) max(1, d_max/h) <= (ε/2) S_lo / W`: the dropped nodes then hold at most `ε/2`
//! of the sum, and `ε/2 h` times it of the displacement sum. `S_lo` is the larger of the
//! nearest sample's own term and `(1 - ε)` times what has been summed so far (each part of
//! which is within `ε/2` of its truth); it only grows, and is below the sum throughout.
//!
//! # The guarantee
//!
//! With both halves, the sum is within a relative `ε` and the displacement sum within
//! `ε h S`. Then (see `kdtree.rs`) the log-density is within `-ln(1 - tol)` and the score
//! within `tol (|score| + 1/h)` for `ε = tol / (1 + tol)`: the tree's and the grid's
//! guarantee. Each query is summed in a fixed order (near child first), so results are the
//! same at any thread count.

use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use super::{KernelSums, LogSumAcc, dist2, exp_one, exp_shifted_sum};
use crate::error::{Error, Result};
use crate::num::Portable;
use crate::points::Points;

/// The degree of the Taylor expansion on the line and in the plane (231 moments in 2-D).
const DEGREE: usize = 20;
/// The degree in three dimensions: 455 moments, where degree 20 would have 1771.
const DEGREE_3D: usize = 12;
/// The largest `ρ` a node is expanded at, whatever the tolerance: the expansion's terms
/// reach `e^ρ` where the sum may be as small as `e^(-ρ)` of the node's weight, so rounding
/// loses at most `e^(2ρ)` (1100) times the unit roundoff per term: over 455 terms (3-D),
/// 6e-11 of the node's sum, far below `tol = 1e-8`.
const MAX_RHO: f64 = 3.5;
/// `p!` for `p <= DEGREE + 1`, each the product `1 · 2 ⋯ p` in that order.
const FACTORIAL: [f64; DEGREE + 2] = {
    let mut t = [1.0; DEGREE + 2];
    let mut p = 1;
    while p <= DEGREE + 1 {
        t[p] = t[p - 1] * p as f64;
        p += 1;
    }
    t
};
/// Samples per leaf.
const LEAF: usize = 32;
/// Nodes wider than this many bandwidths carry no moments (they are never expanded unless
/// the query sits almost at their centre, and recursing costs little there).
const MOMENT_RADIUS: f64 = 4.0;
/// The dimensions served.
pub const MAX_DIM: usize = 3;

/// One node of the tree: its samples (a range of `order`), its box, and its children.
#[derive(Clone, Debug)]
struct Node {
    start: usize,
    end: usize,
    children: Option<(usize, usize)>,
    lo: [f64; MAX_DIM],
    hi: [f64; MAX_DIM],
    centre: [f64; MAX_DIM],
    /// `max_i |y_i - c|`.
    radius: f64,
}

/// The tree's shape, which depends on the samples only.
#[derive(Debug)]
struct Shape {
    nodes: Vec<Node>,
    /// Sample indices, each node's a contiguous range.
    order: Vec<usize>,
}

/// Kernel sums on a k-d tree with Taylor moments (`d <= 3`), relative tolerance `tol`.
pub struct FarFieldSums {
    samples: Points,
    tol: f64,
    shape: OnceLock<Shape>,
    /// The unweighted moments at the last bandwidth asked for (its bits), reused while it
    /// stays: the data's sums are asked for at one bandwidth every step.
    unweighted: Mutex<Option<(u64, Arc<Vec<NodeData>>)>>,
    /// Where the moments sit, for the samples' dimension.
    layout: Layout,
    /// The largest `ρ` the density's bound allows at the top degree and `tol`: nodes beyond
    /// it are not tried.
    rho_max: f64,
}

/// Where the moments sit: the multi-indices `(a, b, c)` of total degree `<= top` in `d`
/// dimensions (the unused ones 0), in columns of fixed `(b, c)` (by `c`, then `b`), each
/// holding `a = 0..=top - b - c` in order: the order [`taylor`] reads them in.
struct Layout {
    d: usize,
    /// The highest degree: [`DEGREE`], or [`DEGREE_3D`] in three dimensions.
    top: usize,
    indices: Vec<[usize; MAX_DIM]>,
    /// `1 / α!` for each multi-index `α` of `indices`.
    inv_factorials: Vec<f64>,
    /// Each column's `(b, c)` and where it starts in `indices`.
    columns: Vec<([usize; 2], usize)>,
}

impl Layout {
    fn new(d: usize) -> Self {
        let top = if d <= 2 { DEGREE } else { DEGREE_3D };
        let (b_max, c_max) = match d {
            1 => (0, 0),
            2 => (top, 0),
            _ => (top, top),
        };
        let (mut indices, mut columns) = (Vec::new(), Vec::new());
        for c in 0..=c_max {
            for b in 0..=b_max.min(top - c) {
                columns.push(([b, c], indices.len()));
                for a in 0..=top - b - c {
                    indices.push([a, b, c]);
                }
            }
        }
        let inv_factorials = indices
            .iter()
            .map(|a| 1.0 / (FACTORIAL[a[0]] * FACTORIAL[a[1]] * FACTORIAL[a[2]]))
            .collect();
        Self {
            d,
            top,
            indices,
            inv_factorials,
            columns,
        }
    }

    /// The largest `ρ <= MAX_RHO` at which the density's bound at the top degree,
    /// `e^ρ ρ^(top+1) / (top+1)!` (increasing in `ρ`), is within `ε/2` (bisection).
    fn rho_max(&self, eps: f64) -> f64 {
        let bound =
            |rho: f64| rho.exp_p() * rho.powi(self.top as i32 + 1) / FACTORIAL[self.top + 1];
        let (mut lo, mut hi) = (0.0, MAX_RHO);
        if bound(hi) <= 0.5 * eps {
            lo = hi;
        }
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if bound(mid) <= 0.5 * eps {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

impl FarFieldSums {
    /// Takes the samples; `tol` in (0, 1). Fails above [`MAX_DIM`] dimensions.
    pub fn new(samples: Points, tol: f64) -> Result<Self> {
        if samples.dim() > MAX_DIM {
            return Err(Error::OutOfRange {
                what: "far-field tree dimension",
                expected: "at most 3",
                value: samples.dim() as f64,
            });
        }
        let layout = Layout::new(samples.dim());
        let rho_max = layout.rho_max(tol / (1.0 + tol));
        Ok(Self {
            samples,
            tol,
            shape: OnceLock::new(),
            unweighted: Mutex::new(None),
            layout,
            rho_max,
        })
    }

    fn shape(&self) -> &Shape {
        self.shape.get_or_init(|| build_shape(&self.samples))
    }

    /// The work of each query: samples summed directly plus nodes expanded (for reports and
    /// tests), at bandwidth `h`, unweighted.
    pub fn work(&self, queries: &Points, h: f64) -> Vec<usize> {
        let mut ls = vec![0.0; queries.len()];
        let mut sh = vec![0.0; queries.len() * queries.dim()];
        self.evaluate(queries, h, None, &mut ls, &mut sh)
    }

    /// The sums at every query; returns each query's work.
    fn evaluate(
        &self,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
        shift: &mut [f64],
    ) -> Vec<usize> {
        let d = self.samples.dim();
        let shape = self.shape();
        let samples = &self.samples;
        let lw = |i: usize| log_weights.map_or(0.0, |w| w[i]);
        // Per node: its largest log weight, its log total weight, and (when first asked
        // for: most nodes never are) its moments.
        let layout = &self.layout;
        let top_degree = layout.top;
        let moments_of = |n: &Node, top: f64| -> Vec<f64> {
            let mut m = vec![0.0; layout.indices.len()];
            // Unused dimensions keep z^0 = 1.
            let mut powers = [[1.0; DEGREE + 1]; MAX_DIM];
            for &i in &shape.order[n.start..n.end] {
                let y = samples.row(i);
                let mut z = [0.0; MAX_DIM];
                for k in 0..d {
                    z[k] = (y[k] - n.centre[k]) / h;
                }
                let z2: f64 = z.iter().map(|v| v * v).sum();
                let w = (lw(i) - top - 0.5 * z2).exp_p();
                for (k, zk) in z.iter().enumerate().take(d) {
                    for p in 1..=top_degree {
                        powers[k][p] = powers[k][p - 1] * zk;
                    }
                }
                for (j, a) in layout.indices.iter().enumerate() {
                    m[j] += w * (powers[0][a[0]] * powers[1][a[1]] * powers[2][a[2]]);
                }
            }
            m.iter_mut()
                .zip(&layout.inv_factorials)
                .for_each(|(v, f)| *v *= f);
            m
        };
        let compute = || -> Vec<NodeData> {
            shape
                .nodes
                .par_iter()
                .map(|n| {
                    let members = &shape.order[n.start..n.end];
                    let (top, total) = match log_weights {
                        // Unweighted: the sum of n ones, without n exponentials.
                        None => (0.0, (members.len() as f64).ln_p()),
                        Some(_) => {
                            let top = members
                                .iter()
                                .map(|&i| lw(i))
                                .fold(f64::NEG_INFINITY, f64::max);
                            let total = if top == f64::NEG_INFINITY {
                                top
                            } else {
                                top + members
                                    .iter()
                                    .map(|&i| (lw(i) - top).exp_p())
                                    .sum::<f64>()
                                    .ln_p()
                            };
                            (top, total)
                        }
                    };
                    let radius = n.radius / h;
                    NodeData {
                        log_w_max: top,
                        log_w_total: total,
                        radius,
                        expandable: radius <= MOMENT_RADIUS && top > f64::NEG_INFINITY,
                        moments: OnceLock::new(),
                    }
                })
                .collect()
        };
        let node_data: Arc<Vec<NodeData>> = match log_weights {
            Some(_) => Arc::new(compute()),
            None => {
                let mut cache = self.unweighted.lock().unwrap_or_else(|e| e.into_inner());
                match &*cache {
                    Some((bits, data)) if *bits == h.to_bits() => Arc::clone(data),
                    _ => {
                        let data = Arc::new(compute());
                        *cache = Some((h.to_bits(), Arc::clone(&data)));
                        data
                    }
                }
            }
        };
        let log_total = node_data[0].log_w_total;
        let eps = self.tol / (1.0 + self.tol);
        let inv_top_factorial = 1.0 / FACTORIAL[top_degree];
        let inv_2h2 = 0.5 / (h * h);
        // The pruning test's constants: each node's share of ε/2 per unit weight, and the
        // part of what has been summed that is surely below the truth.
        let log_share = (0.5 * eps).ln_p() - log_total;
        let log_keep = (-eps).ln_1p_p();
        log_sum
            .par_iter_mut()
            .zip(shift.par_chunks_mut(d))
            .zip(queries.as_slice().par_chunks(d))
            .with_min_len(16)
            // One traversal stack and one leaf buffer per worker, reused from query to query.
            .map_init(
                || (Vec::new(), Vec::new()),
                |(stack, leaf), ((ls, sh), q)| {
                    let mut acc = LogSumAcc::new(sh);
                    let mut work = 0;
                    // A lower bound of the whole sum: the nearest sample's own term, and, once
                    // more has been summed, what has been summed (each part within a relative
                    // ε/2 of its true value, so (1 - ε) of it is below the truth).
                    let (nn, nn_d2) = nearest(shape, samples, q, stack);
                    let log_nn = lw(nn) - nn_d2 * inv_2h2;
                    stack.clear();
                    stack.push(0usize);
                    while let Some(k) = stack.pop() {
                        let n = &shape.nodes[k];
                        let nd = &node_data[k];
                        if nd.log_w_max == f64::NEG_INFINITY {
                            continue;
                        }
                        let (dmin2, dmax2) = box_distances(n, q, d);
                        let spread = log_upper(dmax2 / (h * h)) * 0.5;
                        let log_lo = log_nn.max(acc.log_total_lower() + log_keep);
                        if log_lo > f64::NEG_INFINITY
                            && -dmin2 * inv_2h2 + spread <= log_share + log_lo
                        {
                            continue;
                        }
                        if nd.expandable {
                            let mut u = [0.0; MAX_DIM];
                            for j in 0..d {
                                u[j] = (q[j] - n.centre[j]) / h;
                            }
                            let un = u.iter().map(|v| v * v).sum::<f64>().sqrt();
                            let rho = un * nd.radius;
                            // The lowest degree whose bounds are both within ε/2: with
                            // g_p = e^ρ ρ^p / p!, the density's bound is g_(p+1) and the
                            // displacement's r g_p + |u| g_(p+1). Tried at the top first, then
                            // downwards while it holds (the bounds grow as p falls, for p >= ρ).
                            let fits = |g: f64, next: f64| nd.radius * g + un * next <= 0.5 * eps;
                            let degree = (rho <= self.rho_max)
                                .then(|| {
                                    if rho == 0.0 {
                                        return Some(usize::from(!fits(1.0, 0.0)));
                                    }
                                    // e^ρ from above: exp_one's few ulp are covered by 1e-12.
                                    let e1 = (1.0 + 1e-12) / exp_one(-rho);
                                    let mut g =
                                        e1 * rho.powi(top_degree as i32) * inv_top_factorial;
                                    if !fits(g, g * rho / (top_degree + 1) as f64) {
                                        return None;
                                    }
                                    let mut p = top_degree;
                                    let inv_rho = 1.0 / rho;
                                    while p > 0 && rho < p as f64 {
                                        let lower = g * p as f64 * inv_rho;
                                        if !fits(lower, g) {
                                            break;
                                        }
                                        (g, p) = (lower, p - 1);
                                    }
                                    Some(p)
                                })
                                .flatten();
                            if let Some(p) = degree {
                                work += 1;
                                // Computed by whichever query needs them first, without a lock:
                                // two threads may both compute them (the same numbers) and one
                                // copy is kept. Waiting on a lock instead measured 38 % slower
                                // on a 3-D ring, where one node's moments cost the most.
                                let m = match nd.moments.get() {
                                    Some(m) => m,
                                    None => {
                                        let _ = nd.moments.set(moments_of(n, nd.log_w_max));
                                        nd.moments.get().expect("set above")
                                    }
                                };
                                let (f, grad) = taylor(m, &u, layout, p);
                                if f > 0.0 {
                                    let log_scale = nd.log_w_max - 0.5 * un * un;
                                    let mut n_vec = [0.0; MAX_DIM];
                                    for j in 0..d {
                                        n_vec[j] = h * (grad[j] - u[j] * f);
                                    }
                                    acc.add_scaled(log_scale, f, &n_vec[..d]);
                                }
                                continue;
                            }
                        }
                        match n.children {
                            Some(pair) => push_near_last(stack, shape, pair, q, d),
                            None => {
                                // The leaf's terms relative to their largest, by the
                                // vectorised exponential, then added as one.
                                let members = &shape.order[n.start..n.end];
                                work += members.len();
                                // (A leaf of copies of one point may hold more than LEAF.)
                                leaf.resize(members.len(), 0.0);
                                let terms = &mut leaf[..];
                                let mut top = f64::NEG_INFINITY;
                                for (t, &i) in terms.iter_mut().zip(members) {
                                    *t = lw(i) - dist2(samples.row(i), q) * inv_2h2;
                                    top = top.max(*t);
                                }
                                if top > f64::NEG_INFINITY {
                                    let total = exp_shifted_sum(terms, top);
                                    let mut v = [0.0; MAX_DIM];
                                    for (e, &i) in terms.iter().zip(members) {
                                        let y = samples.row(i);
                                        for j in 0..d {
                                            v[j] += e * (y[j] - q[j]);
                                        }
                                    }
                                    acc.add_scaled(top, total, &v[..d]);
                                }
                            }
                        }
                    }
                    *ls = acc.finish(h * h);
                    work
                },
            )
            .collect()
    }
}

/// Per call: what the weights and the bandwidth make of a node.
struct NodeData {
    log_w_max: f64,
    log_w_total: f64,
    /// The node's radius in bandwidths.
    radius: f64,
    /// Whether the node may be expanded: within [`MOMENT_RADIUS`], and of positive weight.
    expandable: bool,
    /// Taylor moments (scaled by `exp(-log_w_max)`) of an expandable node, computed when
    /// first needed.
    moments: OnceLock<Vec<f64>>,
}

/// `F_p(u)` and its gradient from the moments (in the order of [`Layout`]), truncated at
/// total degree `p <= layout.top`.
///
/// Column by column (`(b, c)`, the powers of `u1` and `u2`), `r_a += M_abc u1^b u2^c`, and
/// the same with the derivatives of `u1^b u2^c` for the gradient: independent lanes, open
/// to vectorisation, each summed in column order whatever the vector width (no dependency
/// chain runs along a column, unlike Horner's rule within it). Then Horner in `u0` over `a`.
/// The line and the plane have their own loop: the hot path of the demo, 45 % slower when
/// it went through the 3-D one.
fn taylor(m: &[f64], u: &[f64; MAX_DIM], layout: &Layout, p: usize) -> (f64, [f64; MAX_DIM]) {
    let mut r = [0.0; DEGREE + 1];
    let mut s1 = [0.0; DEGREE + 1];
    let mut s2 = [0.0; DEGREE + 1];
    if layout.d < 3 {
        // Column b (the power of u1) starts at b (top + 1) - b (b - 1) / 2, as in the
        // layout's list; reading the list here instead measured 10 % slower.
        let columns = if layout.d == 1 { 0 } else { p };
        // u1^b and its derivative b u1^(b-1).
        let (mut power, mut slope) = (1.0, 0.0);
        for b in 0..=columns {
            let start = b * (layout.top + 1) - b * b.saturating_sub(1) / 2;
            let column = &m[start..start + p - b + 1];
            for ((ra, sa), v) in r.iter_mut().zip(s1.iter_mut()).zip(column) {
                *ra += v * power;
                *sa += v * slope;
            }
            slope = slope * u[1] + power;
            power *= u[1];
        }
    } else {
        // x^k and its derivative k x^(k-1), for k <= p.
        let powers = |x: f64| {
            let (mut power, mut slope) = ([1.0; DEGREE + 1], [0.0; DEGREE + 1]);
            for k in 1..=p {
                slope[k] = slope[k - 1] * x + power[k - 1];
                power[k] = power[k - 1] * x;
            }
            (power, slope)
        };
        let (p1, q1) = powers(u[1]);
        let (p2, q2) = powers(u[2]);
        for &([b, c], start) in &layout.columns {
            if b + c > p {
                continue;
            }
            let column = &m[start..start + p - b - c + 1];
            let (f0, f1, f2) = (p1[b] * p2[c], q1[b] * p2[c], p1[b] * q2[c]);
            for (((ra, sa), ta), v) in r
                .iter_mut()
                .zip(s1.iter_mut())
                .zip(s2.iter_mut())
                .zip(column)
            {
                *ra += v * f0;
                *sa += v * f1;
                *ta += v * f2;
            }
        }
    }
    let (mut f, mut d0, mut d1, mut d2) = (0.0, 0.0, 0.0, 0.0);
    for a in (0..=p).rev() {
        d0 = d0 * u[0] + f;
        f = f * u[0] + r[a];
        d1 = d1 * u[0] + s1[a];
        d2 = d2 * u[0] + s2[a];
    }
    (f, [d0, d1, d2])
}

/// An upper bound of `ln max(1, x)` within `ln 2` of it, from the float's exponent (no
/// logarithm taken: the pruning test runs at every node visited).
fn log_upper(x: f64) -> f64 {
    if x <= 1.0 || !x.is_finite() {
        return if x.is_finite() { 0.0 } else { f64::INFINITY };
    }
    let exponent = ((x.to_bits() >> 52) & 0x7ff) as i64 - 1023;
    (exponent + 1) as f64 * std::f64::consts::LN_2
}

/// Squared distances from `q` to the nearest and the farthest point of the node's box.
fn box_distances(n: &Node, q: &[f64], d: usize) -> (f64, f64) {
    let (mut near, mut far) = (0.0, 0.0);
    for ((lo, hi), x) in n.lo.iter().zip(&n.hi).zip(q).take(d) {
        let gap = (lo - x).max(0.0).max((x - hi).max(0.0));
        near += gap * gap;
        let span = (x - lo).abs().max((hi - x).abs());
        far += span * span;
    }
    (near, far)
}

/// Pushes a node's two children, the one nearer `q` last, so that it is visited first.
fn push_near_last(
    stack: &mut Vec<usize>,
    shape: &Shape,
    (a, b): (usize, usize),
    q: &[f64],
    d: usize,
) {
    let da = box_distances(&shape.nodes[a], q, d).0;
    let db = box_distances(&shape.nodes[b], q, d).0;
    if da <= db {
        stack.extend([b, a]);
    } else {
        stack.extend([a, b]);
    }
}

/// The nearest sample to `q` and its squared distance (ties: the first in the tree's order).
/// `stack` is scratch space (left empty).
fn nearest(shape: &Shape, samples: &Points, q: &[f64], stack: &mut Vec<usize>) -> (usize, f64) {
    let d = samples.dim();
    let mut best = (shape.order[0], f64::INFINITY);
    stack.clear();
    stack.push(0usize);
    while let Some(k) = stack.pop() {
        let n = &shape.nodes[k];
        if box_distances(n, q, d).0 >= best.1 {
            continue;
        }
        match n.children {
            Some(pair) => push_near_last(stack, shape, pair, q, d),
            None => {
                // A leaf of copies of one point (it stopped splitting) needs one look.
                let members = &shape.order[n.start..n.end];
                let look = if n.radius == 0.0 {
                    &members[..1]
                } else {
                    members
                };
                for &i in look {
                    let r2 = dist2(samples.row(i), q);
                    if r2 < best.1 {
                        best = (i, r2);
                    }
                }
            }
        }
    }
    best
}

/// Median splits on the widest axis of each node's box, down to [`LEAF`] samples.
fn build_shape(samples: &Points) -> Shape {
    let d = samples.dim();
    let mut order: Vec<usize> = (0..samples.len()).collect();
    let mut nodes = Vec::new();
    let mut pending = vec![(0usize, samples.len(), usize::MAX, false)];
    while let Some((start, end, parent, is_right)) = pending.pop() {
        let members = &order[start..end];
        let mut lo = [0.0; MAX_DIM];
        let mut hi = [0.0; MAX_DIM];
        for k in 0..d {
            lo[k] = members
                .iter()
                .map(|&i| samples.row(i)[k])
                .fold(f64::INFINITY, f64::min);
            hi[k] = members
                .iter()
                .map(|&i| samples.row(i)[k])
                .fold(f64::NEG_INFINITY, f64::max);
        }
        let mut centre = [0.0; MAX_DIM];
        for k in 0..d {
            centre[k] = 0.5 * (lo[k] + hi[k]);
        }
        let radius = members
            .iter()
            .map(|&i| dist2(samples.row(i), &centre[..d]))
            .fold(0.0, f64::max)
            .sqrt();
        let index = nodes.len();
        nodes.push(Node {
            start,
            end,
            children: None,
            lo,
            hi,
            centre,
            radius,
        });
        if parent != usize::MAX {
            let c = nodes[parent].children.get_or_insert((0, 0));
            if is_right {
                c.1 = index;
            } else {
                c.0 = index;
            }
        }
        let axis = (0..d)
            .max_by(|&a, &b| (hi[a] - lo[a]).total_cmp(&(hi[b] - lo[b])))
            .unwrap_or(0);
        if end - start <= LEAF || hi[axis] <= lo[axis] {
            continue;
        }
        let mid = start + (end - start) / 2;
        order[start..end].select_nth_unstable_by(mid - start, |&a, &b| {
            samples.row(a)[axis]
                .total_cmp(&samples.row(b)[axis])
                .then(a.cmp(&b))
        });
        pending.push((mid, end, index, true));
        pending.push((start, mid, index, false));
    }
    Shape { nodes, order }
}

impl KernelSums for FarFieldSums {
    fn samples(&self) -> &Points {
        &self.samples
    }

    fn eval_unchecked(
        &self,
        queries: &Points,
        h: f64,
        log_weights: Option<&[f64]>,
        log_sum: &mut [f64],
        shift: &mut [f64],
    ) {
        self.evaluate(queries, h, log_weights, log_sum, shift);
    }

    fn name(&self) -> &'static str {
        "farfield"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `F_p` and its gradient, read from the moments in their column order, equal the
    /// truncated series summed sample by sample, `Σ_i w_i Σ_(k <= p) t_i^k / k!` with
    /// `t_i = u · z_i` (and `Σ_i w_i z_i Σ_(k < p) t_i^k / k!`), at every degree and in
    /// every dimension served. The tolerance, 1e-14 of the value, is 23 times the worst
    /// difference measured (4.4e-16); rounding could in the worst case reach 2.5e-13 (455
    /// terms of up to `e^ρ W = 8.4` against a value of at least `e^(-ρ) W = 1.7`, with
    /// `ρ = 0.81` and `W = 3.75` here), but a wrong moment or column moves it by far more.
    #[test]
    fn taylor_is_the_truncated_series() {
        let zs: [[f64; 3]; 4] = [
            [0.3, -0.2, 0.1],
            [-0.5, 0.1, -0.3],
            [0.05, 0.4, 0.2],
            [0.6, 0.6, -0.1],
        ];
        let ws: [f64; 4] = [1.0, 0.5, 2.0, 0.25];
        let mut worst: f64 = 0.0;
        for d in 1..=MAX_DIM {
            let layout = Layout::new(d);
            let mut u = [0.7, -0.5, 0.4];
            u.iter_mut().skip(d).for_each(|v| *v = 0.0);
            let m: Vec<f64> = layout
                .indices
                .iter()
                .map(|a| {
                    let sum: f64 = zs
                        .iter()
                        .zip(&ws)
                        .map(|(z, w)| {
                            (0..MAX_DIM)
                                .map(|k| z[k].powi(a[k] as i32))
                                .product::<f64>()
                                * w
                        })
                        .sum();
                    sum * a.iter().map(|&k| 1.0 / FACTORIAL[k]).product::<f64>()
                })
                .collect();
            for p in 0..=layout.top {
                let (f, grad) = taylor(&m, &u, &layout, p);
                let series = |t: f64, top: usize| -> f64 {
                    (0..=top).map(|k| t.powi(k as i32) / FACTORIAL[k]).sum()
                };
                let (mut want, mut want_grad) = (0.0, [0.0; MAX_DIM]);
                for (z, w) in zs.iter().zip(&ws) {
                    let t: f64 = (0..d).map(|k| u[k] * z[k]).sum();
                    want += w * series(t, p);
                    for k in 0..d {
                        if p > 0 {
                            want_grad[k] += w * z[k] * series(t, p - 1);
                        }
                    }
                }
                worst = worst.max((f - want).abs() / want);
                assert!(
                    (f - want).abs() <= 1e-14 * want,
                    "d={d} p={p}: {f} vs {want}"
                );
                for k in 0..MAX_DIM {
                    let err = (grad[k] - want_grad[k]).abs();
                    worst = worst.max(err / want);
                    assert!(
                        err <= 1e-14 * want,
                        "d={d} p={p} k={k}: {grad:?} vs {want_grad:?}"
                    );
                }
            }
        }
        eprintln!("worst relative difference: {worst:e}");
    }
}
