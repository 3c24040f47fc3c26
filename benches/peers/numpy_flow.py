"""A numpy peer of `ganflow run`: plug-in minimax steps of the flow, brute force.

Reads particles and data from CSV, takes --steps explicit Euler steps of the plug-in velocity
v = D* (grad log q - grad log g) with one fixed bandwidth for both kernel density estimates
(log-sum-exp, blocked pairwise distances through one matrix product, as numpy users write
it), and writes the final particles as CSV. It prints the time of the steps alone and of the
whole script; time the script from the shell as well, the way a user runs it:

    python3 benches/peers/numpy_flow.py --particles p.csv --data d.csv --bandwidth 3 \
        --dt 0.5 --steps 20 --out final.csv
    ganflow run --data d.csv --init p.csv --no-standardize --bandwidth 3 --dt 0.5 \
        --steps 20 --out run

To see what numpy does on a CPU without AVX-512 (its exponential has an AVX-512 kernel),
set NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL" for the peer, and GANFLOW_SIMD=avx2 for
ganflow.

Not part of the tests. Needs numpy (which brings its own OpenBLAS, multithreaded).
"""

import argparse
import time

import numpy as np

# The same blocked brute-force KDE as the velocity peer (numpy only; scikit-learn is not
# imported).
from sklearn_kde import kde_numpy as kde


def main():
    start_all = time.perf_counter()
    p = argparse.ArgumentParser()
    p.add_argument("--particles", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--bandwidth", type=float, required=True)
    p.add_argument("--dt", type=float, required=True)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    x = np.loadtxt(args.particles, delimiter=",", skiprows=1)
    y = np.loadtxt(args.data, delimiter=",", skiprows=1)
    h = args.bandwidth
    start = time.perf_counter()
    for _ in range(args.steps):
        log_g, score_g = kde(x, x, h)
        log_q, score_q = kde(x, y, h)
        dstar = 1.0 / (1.0 + np.exp(log_g - log_q))
        x = x + args.dt * dstar[:, None] * (score_q - score_g)
    steps = time.perf_counter() - start
    header = ",".join(f"x{k}" for k in range(x.shape[1]))
    np.savetxt(args.out, x, delimiter=",", header=header, comments="", fmt="%.17g")
    print(f"numpy: {args.steps} steps, N = {len(x)}, M = {len(y)}, d = {x.shape[1]}: "
          f"steps {steps:.3f} s, whole script {time.perf_counter() - start_all:.3f} s")


if __name__ == "__main__":
    main()
