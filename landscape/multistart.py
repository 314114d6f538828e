"""What every batched multi-start solver shares: the problem's scale, starts, the result type.

Scale
-----
``ρ = (1/T) Σ_t ‖R*_t‖_F`` (the mean size of the task perturbations; ``ρ = 1`` if all are
zero). ``G`` and ``L`` scale like ``ρ²``, their gradients like ``ρ^{3/2}`` and their
Hessians like ``ρ`` (``U ~ ρ^{1/2}``), so every tolerance in :mod:`landscape.sosp`,
:mod:`landscape.descent`, :mod:`landscape.roots` and :mod:`landscape.classify` is given
*relative* to the matching power of ``ρ`` and is thereby invariant to rescaling the
instance (``U* → cU*`` rescales all of them consistently).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .validation import as_float64, as_rng, check_float, check_int
from .errors import InvalidArgument
from .problem import Problem

__all__ = ["problem_scale", "random_starts", "as_starts", "MultiStartResult"]


def problem_scale(problem: Problem) -> float:
    """``ρ = (1/T) Σ_t ‖R*_t‖_F`` (1.0 when every ``R*_t`` is zero)."""
    rho = float(np.mean(np.linalg.norm(problem.R_star, axis=(1, 2))))
    return rho if rho > 0 else 1.0


def random_starts(problem: Problem, starts: int, *, seed=None, scale: float | None = None) -> NDArray[np.float64]:
    """``starts`` i.i.d. Gaussian adapters, shape ``(starts, T, d, k)``.

    Every entry is ``N(0, s²)`` with ``s = scale`` or, by default, the root-mean-square entry
    of ``U*`` (so ``‖U_t‖_F`` matches the truth on average without revealing it). Only the
    overall size of the truth is used, never its direction.
    """
    starts = check_int("starts", starts, low=1)
    if scale is None:
        s = float(np.sqrt(np.mean(problem.U_star**2)))
        s = s if s > 0 else 1.0
    else:
        s = check_float("scale", scale, positive=True)
    rng = as_rng(seed)
    return s * rng.standard_normal((starts, problem.T, problem.d, problem.k))


def as_starts(problem: Problem, starts) -> NDArray[np.float64]:
    """Validate an explicit stack of starts ``(S, T, d, k)`` (a single ``(T, d, k)`` is promoted)."""
    U = as_float64("starts", starts)
    shape = (problem.T, problem.d, problem.k)
    if U.shape == shape:
        U = U[None]
    if U.ndim != 4 or U.shape[1:] != shape or U.shape[0] < 1:
        raise InvalidArgument(
            f"`starts` must have shape (S, T, d, k) with (T, d, k)={shape}; got shape {U.shape}."
        )
    return U


@dataclass(frozen=True)
class MultiStartResult:
    """End points of a batched multi-start solver (one row per start; fixed schema).

    Attributes
    ----------
    method : str
        ``"sosp"``, ``"gd"``, ``"pgd"`` or ``"roots"``.
    objective : str
        ``"reduced"`` (``G`` in ``U``-space) or ``"full"`` (``L`` in ``(A, U)``-space).
    U : (S, T, d, k) array
    A : (S, d, d) array
        ``A(U)`` for the reduced objective, the iterate's ``A`` for the full one.
    loss, grad_norm : (S,) arrays
        Objective value and ``‖∇‖_F`` of the solved objective at the end point.
    min_eig : (S,) array
        ``λ_min`` of the solved objective's Hessian (whole space, not modulo symmetry;
        ``nan`` where the method does not compute it).
    converged : (S,) bool array
        The method's own stopping test held (see its docstring).
    iterations : (S,) int array
    seconds : float
    options : dict
        Absolute tolerances and settings actually used.
    """

    method: str
    objective: str
    U: NDArray[np.float64]
    A: NDArray[np.float64]
    loss: NDArray[np.float64]
    grad_norm: NDArray[np.float64]
    min_eig: NDArray[np.float64]
    converged: NDArray[np.bool_]
    iterations: NDArray[np.int64]
    seconds: float
    options: dict = field(default_factory=dict)

    @property
    def starts(self) -> int:
        return int(self.U.shape[0])

    @property
    def n_converged(self) -> int:
        return int(np.count_nonzero(self.converged))

    def __repr__(self) -> str:
        return (
            f"MultiStartResult(method={self.method!r}, objective={self.objective!r}, "
            f"starts={self.starts}, converged={self.n_converged}, "
            f"median_iterations={float(np.median(self.iterations)):.0f}, seconds={self.seconds:.3f})"
        )

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "objective": self.objective,
            "starts": self.starts,
            "converged": self.n_converged,
            "loss": self.loss.tolist(),
            "grad_norm": self.grad_norm.tolist(),
            "min_eig": [None if np.isnan(v) else float(v) for v in self.min_eig],
            "iterations": self.iterations.tolist(),
            "seconds": self.seconds,
            "options": self.options,
        }
