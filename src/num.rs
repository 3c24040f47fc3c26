//! Elementary functions that give the same bits on every CPU.
//!
//! `f64::exp`, `ln`, `sin` and the like call the C library, which on glibc picks an FMA
//! variant on CPUs that have FMA: measured here, two of three runs changed in their last
//! digits when glibc was told to ignore FMA. The numerical code therefore uses these, from the
//! `libm` crate (a Rust port of musl's), compiled for the baseline instruction set, so that a
//! run is bitwise reproducible across machines. `clippy.toml` forbids the `f64` methods
//! outside the pictures and the command line.

/// The CPU-independent elementary functions, as methods.
pub trait Portable {
    /// `e^x`.
    fn exp_p(self) -> Self;
    /// Natural logarithm.
    fn ln_p(self) -> Self;
    /// `ln(1 + x)`.
    fn ln_1p_p(self) -> Self;
    /// `x^y`.
    fn powf_p(self, y: Self) -> Self;
    /// Sine.
    fn sin_p(self) -> Self;
    /// Cosine.
    fn cos_p(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh_p(self) -> Self;
}

impl Portable for f64 {
    #[inline]
    fn exp_p(self) -> f64 {
        libm::exp(self)
    }
    #[inline]
    fn ln_p(self) -> f64 {
        libm::log(self)
    }
    #[inline]
    fn ln_1p_p(self) -> f64 {
        libm::log1p(self)
    }
    #[inline]
    fn powf_p(self, y: f64) -> f64 {
        libm::pow(self, y)
    }
    #[inline]
    fn sin_p(self) -> f64 {
        libm::sin(self)
    }
    #[inline]
    fn cos_p(self) -> f64 {
        libm::cos(self)
    }
    #[inline]
    fn tanh_p(self) -> f64 {
        libm::tanh(self)
    }
}
