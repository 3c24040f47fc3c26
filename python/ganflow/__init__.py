"""ganflow: the GAN training flow as a particle simulation.

A generator trained against the optimal discriminator moves its samples along the
Wasserstein-2 gradient flow of the Jensen-Shannon divergence. ganflow carries the generated
distribution as particles and estimates both densities by Gaussian kernel density estimation
in log space. This package gives numpy arrays in and out:

- :func:`kde`: a kernel density estimate's log-density and score at query points;
- :func:`velocity`: the flow's velocity field at the particles, and what it is made of;
- :class:`Simulation`: a flow, stepped or run with a callback, with its diagnostics and
  the slow modes of its linearisation;
- :func:`imitate`: imitation as a flow on trajectories (GAIL's occupancy measure, whole
  paths) or behaviour cloning, from demonstrations.

Options are the command line's (``ganflow run --help``), spelled as Python names:
``bandwidth_g=0.3`` is ``--bandwidth-g 0.3``. A value means here exactly what it means
there, and the same run gives the same bits. Arrays may be any float dtype and any layout;
they are converted to contiguous float64. A 1-D array is read as one point per entry.
Every numerical call releases the interpreter lock, so other Python threads run meanwhile.
Bad input raises ``ValueError`` with the library's message.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from . import _native

__all__ = ["kde", "velocity", "Simulation", "imitate", "__version__"]
__version__: str = _native.__version__


def _array(name: str, values: Any, ndim: int, what: str) -> np.ndarray:
    """`values` as a C-contiguous float64 array of `ndim` dimensions (`what` names them); an
    array one dimension short gets a last axis of length 1 (one coordinate)."""
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: not an array of numbers ({e})") from None
    if a.ndim == ndim - 1:
        a = a[..., None]
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array ({what}), got {a.ndim}-D")
    return np.ascontiguousarray(a)


def _points(name: str, values: Any) -> np.ndarray:
    """`values` as (n, d) points; a 1-D array is one point per entry."""
    return _array(name, values, 2, "points by coordinates")


def kde(
    samples: Any,
    queries: Any,
    bandwidth: Any = "auto",
    estimator: str = "auto",
    tol: float = 1e-6,
    log_weights: Any = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """The Gaussian kernel density estimate of ``samples`` at ``queries``.

    Args:
        samples: (m, d) sample points.
        queries: (n, d) points at which to estimate.
        bandwidth: a number, or a rule on the samples: ``"auto"`` (the larger of Scott's rule
            and ``"knn"``), ``"scott"``, ``"silverman"`` or ``"knn"`` (the median distance to
            the 10th nearest neighbour).
        estimator: ``"exact"`` (every pair), ``"kdtree"``, ``"grid"`` (d <= 2) or ``"auto"``.
        tol: relative tolerance of the tree and grid: the log-density is within
            ``-ln(1 - tol)``, the score within ``tol (|score| + 1/h)``.
        log_weights: optional (m,) log-weights of the samples (normalised by their total).

    Returns:
        ``(log_density, score)``: shapes (n,) and (n, d).
    """
    s = _points("samples", samples)
    q = _points("queries", queries)
    w = None
    if log_weights is not None:
        w = np.ascontiguousarray(np.asarray(log_weights, dtype=np.float64).reshape(-1))
    return _native.kde(s, q, bandwidth, estimator, float(tol), w)


def velocity(particles: Any, data: Any, **options: Any) -> Dict[str, np.ndarray]:
    """The flow's velocity at the particles, towards the data.

    Options (as ``ganflow velocity``): ``scheme`` (``"plugin"``, ``"variational"``),
    ``loss`` (``"minimax"``, ``"non-saturating"``, ``"least-squares"``, ``"kl"``),
    ``estimator``, ``tol``, ``bandwidth``, ``bandwidth_g``, ``bandwidth_q``.

    Returns:
        A dict with ``v`` (n, d), ``connection`` (n, d), and ``log_g``, ``log_q``,
        ``dstar`` (n,): the particles' and the data's log-densities and the optimal
        discriminator at each particle.
    """
    return _native.velocity(_points("particles", particles), _points("data", data), **options)


Callback = Callable[[int, float, np.ndarray, Dict[str, float]], Optional[bool]]


class Simulation:
    """A particle flow towards a data set.

    Args:
        particles: (n, d) starting positions.
        data: (m, d) target samples.
        **options: the options of ``ganflow run`` that define the flow: those of
            :func:`velocity`, and ``dt`` (a number or ``"auto"``), ``dt_tol``,
            ``integrator`` (``"euler"``, ``"heun"``), ``anneal`` (``"FACTOR:STEPS"``),
            ``discriminator`` (``"optimal"``, ``"linear"``, ``"quadratic"``, ``"rff:K"``,
            ``"mlp:W"``) with ``disc_lr``, ``disc_steps``, ``disc_scale``,
            ``disc_no_bias``, ``penalty``, ``updates``, and ``seed``.
    """

    def __init__(self, particles: Any, data: Any, **options: Any) -> None:
        self._sim = _native.Simulation(
            _points("particles", particles), _points("data", data), **options
        )

    def step(self) -> None:
        """Takes one step. Raises ``FloatingPointError`` if a velocity or position stops
        being finite (the state is then the last finite one)."""
        self._sim.step()

    def run(
        self,
        steps: Optional[int] = None,
        time: Optional[float] = None,
        every: int = 1,
        callback: Optional[Callback] = None,
    ) -> Dict[str, float]:
        """Runs until ``steps`` steps or flow time ``time`` (totals since step 0).

        ``callback(step, t, particles, diagnostics)`` is called at every ``every``-th step
        and at the end; returning ``False`` stops the run there. An exception in it stops
        the run and propagates. Returns the last diagnostics.
        """
        return self._sim.run(steps, time, every, callback)

    @property
    def particles(self) -> np.ndarray:
        """The particles now, (n, d) (a copy)."""
        return self._sim.particles

    @property
    def diagnostics(self) -> Dict[str, float]:
        """The diagnostics now: ``jsd``, ``energy``, ``connection_norm2``,
        ``mean_dstar_particles``, ``mean_dstar_data``, ``max_speed`` (and ``step``, ``t``)."""
        return self._sim.diagnostics

    @property
    def step_count(self) -> int:
        """Steps taken."""
        return self._sim.step_count

    @property
    def time(self) -> float:
        """Flow time reached."""
        return self._sim.time

    @property
    def bandwidths(self) -> Tuple[float, float]:
        """``(h_g, h_q)``: the particles' and the data's bandwidth now."""
        return self._sim.bandwidths

    @property
    def discriminator(self) -> Optional[np.ndarray]:
        """A learning discriminator's parameters, or ``None`` with the optimal one."""
        return self._sim.discriminator

    def spectrum(self, modes: int = 8, products: int = 0) -> Dict[str, Any]:
        """The slowest modes of the flow's Jacobian at the particles now (as ``ganflow
        spectrum --particles``): ``rate``, ``frequency``, ``resolution``, ``residual``
        (one entry per mode), ``displacement`` (a list of (n, d) arrays), ``fastest_rate``,
        ``stable_dt_euler``, ``stable_dt_heun`` and ``products``. ``products`` = 0 takes the
        default search size."""
        return self._sim.spectrum(modes, products)


def _trajectories(name: str, values: Any) -> np.ndarray:
    """`values` as (count, T + 1, d) states; a 2-D array is trajectories in 1-D."""
    return _array(name, values, 3, "trajectories by states by coordinates")


def imitate(demos: Any = None, init: Any = None, **options: Any) -> Dict[str, Any]:
    """Learners that flow towards demonstrations, as ``ganflow imitate``.

    The environment is a point mass, ``s[t+1] = s[t] + tau a[t]``; a trajectory is its
    states ``s[0..T]``, and its actions follow from them.

    Args:
        demos: (M, T + 1, d) states of the demonstrations; default: ``m`` trajectories of
            ``horizon`` steps from the built-in ``expert`` (``"around-obstacle"``,
            ``"two-goals"``, ``"circle"``).
        init: (N, T + 1, d) states where the learners start; default: ``n`` rollouts of
            random actions with the demonstrations' action mean and deviation.
        **options: ``objective`` (``"path"``, ``"occupancy"``, ``"bc"``), ``steps``,
            ``every``, ``dt``, ``loss``, ``scheme``, ``bandwidth``, ``estimator``, ``tol``,
            ``tau``, ``seed``, and ``expert``, ``m``, ``horizon``, ``n`` as above.

    Returns:
        A dict: ``experts`` and ``paths`` (the demonstrations and the final learners, as
        (count, T + 1, d) arrays), ``step`` and ``flow_t`` of every record, ``recorded``
        (the learners at each record) and ``metrics``, a dict of arrays over the records:
        ``energy``, ``jsd``, ``pairs_sw2``, ``paths_sw2`` and the built-in expert's
        yardsticks (route shares, collisions and goal for around-obstacle, the share at each
        goal for two-goals).
    """
    d = None if demos is None else _trajectories("demos", demos)
    s = None if init is None else _trajectories("init", init)
    return _native.imitate(d, s, **options)
