"""Public hypothesis strategies for property-based suites built on :mod:`landscape`.

>>> from hypothesis import given
>>> from landscape.strategies import problems
>>> @given(problems(max_d=4))
... def test_zero_at_truth(p): ...

Requires the ``hypothesis`` package (the ``test`` extra); :mod:`landscape` itself does
not import this module.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .objectives import A_of_U
from .problem import Problem

__all__ = ["problems", "seeds", "points", "points_near_truth", "zero_loss_points", "orthogonal_matrices"]

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def problems(
    draw,
    *,
    min_d: int = 1,
    max_d: int = 6,
    min_k: int = 1,
    max_k: int | None = None,
    min_T: int = 1,
    max_T: int = 4,
    independent: bool = False,
) -> Problem:
    """Random problems of bounded size from :meth:`Problem.random` with a drawn seed.

    ``independent=True`` only draws sizes with ``(T+1)k <= d`` (the independence assumption
    of MATH.md §5 then holds almost surely).
    """
    d = draw(st.integers(min_d, max_d))
    hi_k = d if max_k is None else min(max_k, d)
    k = draw(st.integers(min(min_k, hi_k), hi_k))
    hi_T = max_T
    if independent:
        hi_T = min(max_T, d // k - 1)
        if hi_T < min_T:
            k = 1
            hi_T = min(max_T, d - 1)
        if hi_T < min_T:
            from hypothesis import reject

            reject()
    T = draw(st.integers(min_T, hi_T))
    scale = draw(st.sampled_from([0.5, 1.0, 2.0]))
    return Problem.random(d, k, T, seed=draw(seeds), adapter_scale=scale)


@st.composite
def orthogonal_matrices(draw, n: int) -> np.ndarray:
    """Haar-like orthogonal n×n matrices (QR of a Gaussian with sign correction)."""
    rng = np.random.default_rng(draw(seeds))
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))


@st.composite
def points(draw, problem: Problem, *, scale: float = 1.0):
    """Points ``(A, U)`` far from the truth: i.i.d. ``N(0, scale²)`` entries."""
    rng = np.random.default_rng(draw(seeds))
    return scale * rng.standard_normal((problem.d, problem.d)), scale * rng.standard_normal(
        problem.U_star.shape
    )


@st.composite
def points_near_truth(draw, problem: Problem, *, radius: float = 1e-2):
    """Points ``(A(U), U)`` with ``U = U*_t Q_t + N`` and ``‖N‖_F <= radius``."""
    rng = np.random.default_rng(draw(seeds))
    U = draw(zero_loss_points(problem))[1]
    N = rng.standard_normal(U.shape)
    U = U + radius * draw(st.floats(0.0, 1.0)) * N / max(np.linalg.norm(N), 1e-300)
    return A_of_U(problem, U), U


@st.composite
def zero_loss_points(draw, problem: Problem):
    """Global minima ``(A*, U*_t Q_t)`` with drawn ``Q_t ∈ O(k)``."""
    Qs = [draw(orthogonal_matrices(problem.k)) for _ in range(problem.T)]
    U = np.stack([problem.U_star[t] @ Qs[t] for t in range(problem.T)])
    return np.array(problem.A_star), U
