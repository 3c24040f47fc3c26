"""Peers of `ganflow bench`, for side-by-side timing on the same machine.

Times, for N = M points in --dim dimensions (default 2; queries from N(0, I), samples from N(0.5, I), Scott
bandwidth as ganflow computes it: sigma * M^(-1/6), sigma the mean per-coordinate std):

- scikit-learn's KD-tree KernelDensity, log-density only, at relative tolerance --rtol;
- a vectorised numpy brute force of one plug-in velocity (log-density and score of both
  KDEs, in blocks, log-sum-exp), when --numpy is given.

Not part of the tests. Needs numpy and scikit-learn:

    pip install numpy scikit-learn
    python3 benches/peers/sklearn_kde.py --n 100000 --rtol 1e-4
    ganflow bench --n 100000 --estimators exact,kdtree --tol 1e-4
"""

import argparse
import time

import numpy as np


def scott(samples):
    n, d = samples.shape
    sigma = np.sqrt(samples.var(axis=0, ddof=1).mean())
    return sigma * n ** (-1.0 / (d + 4))


def kde_numpy(queries, samples, h, block=2048):
    """Log-density and score of the Gaussian KDE, brute force in blocks."""
    n, d = queries.shape
    log_dens = np.empty(n)
    score = np.empty((n, d))
    s_norm = (samples**2).sum(1)
    for i in range(0, n, block):
        q = queries[i : i + block]
        d2 = (q**2).sum(1)[:, None] + s_norm[None, :] - 2 * q @ samples.T
        np.maximum(d2, 0, out=d2)
        t = -d2 / (2 * h * h)
        m = t.max(1, keepdims=True)
        e = np.exp(t - m)
        s = e.sum(1)
        log_dens[i : i + block] = (
            m[:, 0] + np.log(s) - np.log(len(samples)) - 0.5 * d * np.log(2 * np.pi * h * h)
        )
        score[i : i + block] = (e @ samples / s[:, None] - q) / (h * h)
    return log_dens, score


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--rtol", type=float, default=1e-4)
    p.add_argument("--dim", type=int, default=2)
    p.add_argument("--numpy", action="store_true", help="also time the numpy plug-in velocity")
    p.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn")
    p.add_argument("--bandwidth", type=float, default=None, help="fixed bandwidth [Scott]")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    queries = rng.standard_normal((args.n, args.dim))
    samples = rng.standard_normal((args.n, args.dim)) + 0.5
    h = args.bandwidth or scott(samples)

    if not args.no_sklearn:
        from sklearn.neighbors import KernelDensity

        start = time.perf_counter()
        kd = KernelDensity(bandwidth=h, kernel="gaussian", algorithm="kd_tree", rtol=args.rtol)
        kd.fit(samples)
        kd.score_samples(queries)
        print(f"sklearn KD-tree log-density, N = M = {args.n}, d = {args.dim}, rtol {args.rtol}: "
              f"{time.perf_counter() - start:.2f} s")

    if args.numpy:
        start = time.perf_counter()
        lg, sg = kde_numpy(queries, queries, h)
        lq, sq = kde_numpy(queries, samples, h)
        dstar = 1.0 / (1.0 + np.exp(lg - lq))
        v = dstar[:, None] * (sq - sg)
        print(f"numpy brute-force plug-in velocity, N = M = {args.n}, d = {args.dim}: "
              f"{time.perf_counter() - start:.2f} s (|v| mean {np.linalg.norm(v, axis=1).mean():.4f})")


if __name__ == "__main__":
    main()
