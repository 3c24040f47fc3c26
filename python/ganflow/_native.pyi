"""Type stubs of the compiled module (the package's public API wraps it)."""

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

__version__: str

def kde(
    samples: npt.NDArray[np.float64],
    queries: npt.NDArray[np.float64],
    bandwidth: Any,
    estimator: str = "auto",
    tol: float = 1e-6,
    log_weights: Optional[npt.NDArray[np.float64]] = None,
) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def velocity(
    particles: npt.NDArray[np.float64],
    data: npt.NDArray[np.float64],
    **options: Any,
) -> Dict[str, npt.NDArray[np.float64]]: ...

def imitate(
    demos: Optional[npt.NDArray[np.float64]] = None,
    init: Optional[npt.NDArray[np.float64]] = None,
    **options: Any,
) -> Dict[str, Any]: ...

class Simulation:
    def __init__(
        self,
        particles: npt.NDArray[np.float64],
        data: npt.NDArray[np.float64],
        **options: Any,
    ) -> None: ...
    def step(self) -> None: ...
    def run(
        self,
        steps: Optional[int] = None,
        time: Optional[float] = None,
        every: int = 1,
        callback: Optional[
            Callable[[int, float, npt.NDArray[np.float64], Dict[str, float]], Optional[bool]]
        ] = None,
    ) -> Dict[str, float]: ...
    @property
    def particles(self) -> npt.NDArray[np.float64]: ...
    @property
    def diagnostics(self) -> Dict[str, float]: ...
    @property
    def step_count(self) -> int: ...
    @property
    def time(self) -> float: ...
    @property
    def bandwidths(self) -> Tuple[float, float]: ...
    @property
    def discriminator(self) -> Optional[npt.NDArray[np.float64]]: ...
    def spectrum(self, modes: int = 8, products: int = 0) -> Dict[str, Any]: ...
