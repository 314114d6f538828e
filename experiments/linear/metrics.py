"""Test metrics of the linear experiment: the honest population loss and the authors' metric.

- **Population test loss** (the honest one, docs/math.md §2):
  ``‖W − M*_{T+1}‖_F²`` for the fine-tuned map ``W = Â + U Vᵀ``, i.e.
  ``E‖W x − y‖² − dσ²`` on fresh test-task data.
- **Authors' in-sample summed metric** (what the paper's Figure 1 plots, EXPERIMENTS.md
  §1): the noiseless error on the ``n'`` fine-tuning inputs, *summed* over them,
  ``Σ_i ‖(W − M*_{T+1}) x_i‖² = n' ⟨(W − M) Sxx, W − M⟩``; its scale grows with ``n'``
  and it is measured on the samples the adapter was fitted to.
- **Rate reference** (docs/math.md §7): with the exact base and rank-``r`` reduced-rank
  regression on ``n'`` noisy samples, the population test loss is about
  ``σ² r (2d − r) / n'`` (the number of parameters of a rank-``r`` ``d × d`` matrix times
  ``σ²/n'``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from landscape.validation import check_float, check_int

from .data import Moments

__all__ = ["population_test_loss", "authors_insample_metric", "rate_reference"]


def population_test_loss(W, M_test) -> NDArray[np.float64]:
    """``‖W − M*_{T+1}‖_F²`` over the last two axes (batched)."""
    E = np.asarray(W, dtype=np.float64) - np.asarray(M_test, dtype=np.float64)
    return np.einsum("...ij,...ij->...", E, E)


def authors_insample_metric(W, M_test, mom: Moments) -> NDArray[np.float64]:
    """The authors' plotted number: ``Σ_{i ≤ n'} ‖(W − M*_{T+1}) x_i‖² = n' ⟨E Sxx, E⟩``."""
    E = np.asarray(W, dtype=np.float64) - np.asarray(M_test, dtype=np.float64)
    return mom.n * np.einsum("...ij,...ij->...", E @ mom.Sxx, E)


def rate_reference(sigma: float, d: int, rank: int, n: int) -> float:
    """``σ² r (2d − r) / n'``: the calibrated O(kd/n) fine-tuning rate of docs/math.md §7.

    Examples
    --------
    >>> round(rate_reference(0.1, 10, 1, 100), 12)
    0.0019
    """
    sigma = check_float("sigma", sigma, low=0.0)
    d = check_int("d", d, low=1)
    r = check_int("rank", rank, low=0, high=d)
    n = check_int("n", n, low=1)
    return sigma**2 * r * (2 * d - r) / n
