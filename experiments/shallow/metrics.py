"""Test-task metrics of fine-tuned sigmoid networks (float64).

- :func:`population_loss`: ``E_x[(f_Ŵ(x) − f_W*(x))²]`` with clean targets ``f_W*`` of the
  test task, estimated on fresh inputs ``x ~ N(0, I_d)`` independent of all training data,
  with its Monte-Carlo standard error ``std/√n_test``. This is the honest test loss (add
  ``σ²`` for the loss against noisy targets).
- :func:`insample_error`: ``(1/n') Σ_i (f_Ŵ(x_i) − f_W*(x_i))²`` on the fine-tuning inputs
  themselves, against clean targets: what the paper's code plots (it under-states the
  test loss of an adapter fitted to those very inputs).
"""

from __future__ import annotations

import numpy as np

from .data import Instance, network

__all__ = ["population_loss", "insample_error"]


def population_loss(inst: Instance, W, X_pop) -> tuple[np.ndarray, np.ndarray]:
    """Population test loss of each first layer in ``W`` (E, d, d) and its standard error.

    Parameters
    ----------
    inst : Instance
        Supplies the test task's truth ``A* + U_test U_testᵀ`` and the readout ``c``.
    W : (E, d, d) array
    X_pop : (n_test, d) array
        Fresh inputs (:meth:`Instance.population_inputs`).

    Returns
    -------
    loss, se : (E,) arrays
    """
    f_star = network(inst.W_test, inst.c, X_pop)
    err = (network(np.asarray(W, dtype=np.float64), inst.c, X_pop) - f_star) ** 2
    n_test = X_pop.shape[0]
    return err.mean(axis=-1), err.std(axis=-1, ddof=1) / np.sqrt(n_test)


def insample_error(inst: Instance, W) -> np.ndarray:
    """Mean squared error against clean targets on the fine-tuning inputs, per ``W`` (E, d, d)."""
    f = network(np.asarray(W, dtype=np.float64), inst.c, inst.X_ft)
    return ((f - inst.F_ft) ** 2).mean(axis=-1)
