"""De-duplication of end points modulo the O(k) symmetry, with counts.

Two adapters ``U`` and ``V`` lie on one orbit of ``U_t → U_tQ_t`` iff
``U_tU_tᵀ = V_tV_tᵀ`` for every task, so points are compared through these invariants,
never through ``U_t`` itself:

    ``dist(U, V) = max_t ‖U_tU_tᵀ − V_tV_tᵀ‖_F``   (:func:`landscape.orbit_distance`).

Clustering is greedy in the given order: a point joins the first representative within
``tol·ρ`` (``ρ = (1/T) Σ_t ‖R*_t‖_F``), else it becomes a new representative. With the
default ``tol = 1e-6``, copies of one isolated critical point (polished to ``‖∇G‖ ≲
1e-10·ρ^{3/2}``, hence ``≲ 1e-9·ρ`` apart in ``UUᵀ``) merge, while distinct critical
points — separated by ``≳ 1e-3·ρ`` in every instance we examined — stay apart. On a
continuum of critical points (the T = 2 hyperbola of global minima, docs/math.md §5.6)
different points of the continuum stay distinct, as they should.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from .validation import check_float
from .errors import InvalidArgument
from .multistart import problem_scale
from .objectives import gram
from .problem import Problem

__all__ = ["Groups", "group_points", "merge_points"]


class Groups(NamedTuple):
    """Result of :func:`group_points`."""

    representatives: NDArray[np.int64]  # index of each group's first member
    labels: NDArray[np.int64]  # group of every point
    counts: NDArray[np.int64]  # members per group


def group_points(problem: Problem, U, *, tol: float = 1e-6, order=None) -> Groups:
    """Group a stack of adapters ``U`` (S, T, d, k) by orbit (module docstring).

    Parameters
    ----------
    tol : float
        Relative orbit-distance threshold (times ``ρ``).
    order : array of int, optional
        The order in which points are visited (earlier points become representatives;
        e.g. sort by gradient norm so the best-polished copy represents its group).
    """
    tol = check_float("tol", tol, positive=True)
    U = np.asarray(U, dtype=np.float64)
    if U.ndim != 4 or U.shape[1:] != problem.U_star.shape:
        raise InvalidArgument(
            f"`U` must have shape (S, T, d, k) with (T, d, k)={problem.U_star.shape}; got shape {U.shape}."
        )
    S = U.shape[0]
    thr = tol * problem_scale(problem)
    inv = np.stack([gram(u) for u in U]) if S else np.zeros((0,) + (problem.T, problem.d, problem.d))
    order = np.arange(S) if order is None else np.asarray(order, dtype=np.int64)
    labels = np.full(S, -1, dtype=np.int64)
    reps: list[int] = []
    rep_inv = np.zeros((0, problem.T, problem.d, problem.d))
    for i in order:
        if rep_inv.shape[0]:
            dist = np.sqrt(((rep_inv - inv[i]) ** 2).sum(axis=(2, 3))).max(axis=1)
            j = int(np.argmin(dist))
            if dist[j] <= thr:
                labels[i] = j
                continue
        labels[i] = len(reps)
        reps.append(int(i))
        rep_inv = np.concatenate([rep_inv, inv[i][None]])
    counts = np.bincount(labels, minlength=len(reps)) if S else np.zeros(0, dtype=np.int64)
    return Groups(np.asarray(reps, dtype=np.int64), labels, counts.astype(np.int64))


def merge_points(problem: Problem, points, *, tol: float = 1e-6) -> list:
    """Merge :class:`~landscape.classify.CriticalPoint` lists modulo symmetry, summing counts.

    The representative of each group is its member with the smallest gradient norm.
    """
    points = list(points)
    if not points:
        return []
    U = np.stack([p.U for p in points])
    order = np.argsort([p.grad_norm for p in points], kind="stable")
    groups = group_points(problem, U, tol=tol, order=order)
    out = []
    for g, rep in enumerate(groups.representatives):
        total = sum(p.count for p, lab in zip(points, groups.labels) if lab == g)
        out.append(points[rep].with_count(total))
    return out
