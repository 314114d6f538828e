"""Exact draws of the finite-sample second moments (no N-sized arrays).

For task data ``x_n ~ N(0, I_d)``, ``y_n = M x_n + σ ε_n`` (n = 1..N), least squares
depends on the data only through ``S = Σ_n x_n x_nᵀ`` and ``Σ_n y_n x_nᵀ = M S + σ E Xᵀ``
(docs/math.md §2). Both are drawn exactly in distribution at O(d³) cost:

- ``S ~ Wishart_d(N, I)`` by Bartlett's decomposition ``S = B Bᵀ``, ``B`` lower triangular
  with ``B_ii = sqrt(χ²_{N−i})`` (i = 0..d−1) and ``B_ij ~ N(0, 1)`` below the diagonal;
- given ``X``, each row of ``E Xᵀ`` is ``N(0, S)``, so ``E Xᵀ = Z Cᵀ`` with ``Z`` a d×d
  standard normal matrix and ``C`` any factor with ``C Cᵀ = S`` (here ``C = B``).
"""

from __future__ import annotations

import numpy as np


def wishart_bartlett(d: int, N: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(S, B)`` with ``S = B Bᵀ ~ Wishart_d(N, I_d)`` (requires ``N >= d``)."""
    B = np.tril(rng.standard_normal((d, d)), -1)
    B[np.diag_indices(d)] = np.sqrt(rng.chisquare(N - np.arange(d)))
    return B @ B.T, B


def pooled_least_squares(M_star: np.ndarray, N: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Standard retraining on drawn data: pooled least squares over all tasks.

    ``Â_N = (Σ_t Σ_n y_{t,n} x_{t,n}ᵀ)(Σ_t Σ_n x_{t,n} x_{t,n}ᵀ)⁻¹`` with ``N`` samples per task
    (the minimiser of the empirical SR loss); converges to ``A_SR = (1/T) Σ_t M*_t`` at rate
    ``O(N^{-1/2})``.
    """
    T, d, _ = M_star.shape
    Syx = np.zeros((d, d))
    Sxx = np.zeros((d, d))
    for t in range(T):
        S, B = wishart_bartlett(d, N, rng)
        Z = rng.standard_normal((d, d))
        Syx += M_star[t] @ S + noise * (Z @ B.T)
        Sxx += S
    return np.linalg.solve(Sxx.T, Syx.T).T  # Syx Sxx⁻¹ (Sxx symmetric)
