"""Writes the two synthetic high-dimensional sets of this folder (run from data/):

- clusters30.csv: 600 points in 4 clusters of a 6-D subspace of R^30, with isotropic noise,
  then every feature scaled by e^U(-2, 2) and shifted by U(-10, 10);
- manifold100.csv: 800 points of a 3-D Gaussian latent through a random tanh layer into
  R^100, with noise 0.05, every feature scaled by e^U(-1.5, 1.5).
"""
import numpy as np
rng = np.random.default_rng(2026)
# clusters30: 4 clusters in a 6-D subspace of R^30, isotropic noise, then features in unequal units
n, d, k = 600, 30, 4
basis, _ = np.linalg.qr(rng.normal(size=(d, 6)))
centres = rng.normal(scale=2.0, size=(k, 6))
lab = rng.integers(0, k, size=n)
x = (centres[lab] + rng.normal(scale=0.5, size=(n, 6))) @ basis.T + rng.normal(scale=0.3, size=(n, d))
x = x * np.exp(rng.uniform(-2, 2, size=d)) + rng.uniform(-10, 10, size=d)
np.savetxt("clusters30.csv", x, delimiter=",", fmt="%.6g", header=",".join(f"x{i}" for i in range(d)), comments="")
# manifold100: a 3-D latent through a random tanh layer, into R^100, with noise and unequal units
n, d = 800, 100
z = rng.normal(size=(n, 3))
a = rng.normal(size=(3, d))
x = np.tanh(z @ a) + rng.normal(scale=0.05, size=(n, d))
x = x * np.exp(rng.uniform(-1.5, 1.5, size=d))
np.savetxt("manifold100.csv", x, delimiter=",", fmt="%.6g", header=",".join(f"x{i}" for i in range(d)), comments="")
