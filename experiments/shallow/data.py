"""Seeded draws of the shallow nonlinear experiment (ground truth, samples, test inputs).

Every array comes from its own stream :func:`landscape.runs.make_rng` ``(seed, "shallow",
part, sizes...)``, so settings that share sizes share draws (common random numbers):
the T = 3 tasks of a seed are the first three of its T = 5 tasks, and changing σ rescales
the same standard-normal noise. Everything here is float64 numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape.runs import make_rng

from .settings import Setting

__all__ = ["Instance", "draw_instance", "network", "sigmoid"]


def sigmoid(z):
    """The logistic function ``1 / (1 + e^{−z})`` (numerically safe for any sign)."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def network(W: np.ndarray, c: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``f(x) = cᵀ σ(W x)`` for each row ``x`` of ``X`` (..., n, d); ``W`` (..., d, d)."""
    return sigmoid(X @ np.swapaxes(W, -1, -2)) @ c


@dataclass(frozen=True, eq=False)
class Instance:
    """One seed's ground truth and samples.

    Attributes
    ----------
    setting : Setting
    seed : int
    A_star : (d, d)
        Shared ground-truth weights, N(0, 1) entries (not symmetrised).
    U_star : (T, d, k)
        Retraining tasks' adapters, ``ΔA*_t = U*_t U*_tᵀ``.
    U_test : (d, k)
        The test task's adapter.
    c : (d,)
        The readout, N(0, I_d); known to the learner (not trained).
    X : (T, N, d), Y : (T, N)
        Retraining inputs and noisy targets ``cᵀσ((A* + ΔA*_t) x) + σ ε``.
    X_ft : (n, d), Y_ft : (n,), F_ft : (n,)
        Fine-tuning inputs, noisy targets and clean targets on the test task.
    """

    setting: Setting
    seed: int
    A_star: np.ndarray
    U_star: np.ndarray
    U_test: np.ndarray
    c: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    X_ft: np.ndarray
    Y_ft: np.ndarray
    F_ft: np.ndarray

    @property
    def W_test(self) -> np.ndarray:
        """The test task's true first layer ``A* + U_test U_testᵀ``."""
        return self.A_star + self.U_test @ self.U_test.T

    def population_inputs(self, n_test: int) -> np.ndarray:
        """Fresh test inputs (n_test, d), independent of every training sample."""
        d = self.setting.d
        return make_rng(self.seed, "shallow", "population", d, n_test).standard_normal((n_test, d))


def draw_instance(setting: Setting, seed: int) -> Instance:
    """Draw the ground truth and all samples of ``setting`` for ``seed``.

    Parameters
    ----------
    setting : Setting
    seed : int
        Non-negative.

    Returns
    -------
    Instance
    """
    d, T, N, n, k, sigma = setting.d, setting.T, setting.N, setting.n, setting.k, setting.sigma
    g = make_rng(seed, "shallow", "truth", d, k)
    A_star = g.standard_normal((d, d))
    c = g.standard_normal(d)
    U_test = g.standard_normal((d, k))
    U_star = np.empty((T, d, k))
    X = np.empty((T, N, d))
    Y = np.empty((T, N))
    for t in range(T):
        gt = make_rng(seed, "shallow", "task", t, d, k, N)
        U_star[t] = gt.standard_normal((d, k))
        X[t] = gt.standard_normal((N, d))
        W = A_star + U_star[t] @ U_star[t].T
        Y[t] = network(W, c, X[t]) + sigma * gt.standard_normal(N)
    gf = make_rng(seed, "shallow", "finetune", d, k, n)
    X_ft = gf.standard_normal((n, d))
    F_ft = network(A_star + U_test @ U_test.T, c, X_ft)
    Y_ft = F_ft + sigma * gf.standard_normal(n)
    return Instance(setting, int(seed), A_star, U_star, U_test, c, X, Y, X_ft, Y_ft, F_ft)
