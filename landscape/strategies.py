"""Public hypothesis strategies for property-based suites built on :mod:`landscape`.

>>> from hypothesis import given
>>> from landscape.strategies import problems
>>> @given(problems(max_d=4))
... def test_zero_at_truth(p): ...

Every bound is honoured or refused: :func:`problems` enumerates the admissible sizes
``(d, k, T)`` when the strategy is built and raises :class:`~landscape.InvalidArgument`
if there are none, so no draw is ever rejected or silently resized. Conditioning controls
(``min_sigma``, ``max_cond``) are imposed on the drawn factors directly (singular values
clipped), not by filtering. A drawn :class:`~landscape.Problem` prints as a constructor
call that rebuilds it exactly, so a failing example can be replayed outside hypothesis.

The point strategies (:func:`points`, :func:`points_near_truth`, :func:`zero_loss_points`)
take a concrete problem; to draw a problem and then a point on it use :func:`with_points`
(a ``flatmap``) or ``st.data()`` — see ``docs/strategies.md`` for a complete suite.

Requires the ``hypothesis`` package (the ``test`` extra); :mod:`landscape` itself does
not import this module. Notation: ``docs/math.md``.
"""

from __future__ import annotations

import numbers

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .validation import check_float, check_int
from .errors import InvalidArgument
from .objectives import A_of_U
from .problem import Problem

__all__ = [
    "problems",
    "seeds",
    "points",
    "points_near_truth",
    "zero_loss_points",
    "orthogonal_matrices",
    "with_points",
    "condition_factors",
    "factor_columns",
]

#: Seeds accepted by :meth:`Problem.random` and ``numpy.random.default_rng``.
seeds = st.integers(min_value=0, max_value=2**32 - 1)

# The conditioning targets carry this relative margin so that the computed factors meet
# the documented bounds despite the rounding of rebuilding them from their SVD (~1e-15).
_MARGIN = 1e-9

_INDEPENDENT = {False: None, True: "all", "all": "all", "retraining": "retraining"}


def _columns_needed(which: str | None, k: int, T: int) -> int:
    return {None: 0, "all": (T + 1) * k, "retraining": T * k}[which]


def factor_columns(problem: Problem, which: str = "all") -> np.ndarray:
    """The factor columns whose independence a claim assumes (docs/math.md §5).

    ``which="all"``: ``C = [U*_1 … U*_T U_test]``, shape ``(d, (T+1)k)``;
    ``which="retraining"``: ``C = [U*_1 … U*_T]``, shape ``(d, Tk)``.
    """
    if not isinstance(problem, Problem):
        raise InvalidArgument(f"`problem` must be a landscape.Problem; got {type(problem).__name__}.")
    if which not in ("all", "retraining"):
        raise InvalidArgument(f"`which` must be 'all' or 'retraining'; got which={which!r}.")
    blocks = list(problem.U_star) + ([problem.U_test] if which == "all" else [])
    return np.concatenate(blocks, axis=1)


def condition_factors(
    problem: Problem, *, which: str = "all", min_sigma: float | None = None, max_cond: float | None = None
) -> Problem:
    """The problem with the singular values of :func:`factor_columns` clipped into bounds.

    With ``C = P diag(σ) Qᵀ`` (thin SVD), the factors are rebuilt from ``σ'_i =
    max(σ_i, min_sigma, σ'_max / max_cond)``, so afterwards ``σ_min(C) >= min_sigma`` and
    ``σ_max(C) / σ_min(C) <= max_cond``; the singular vectors, ``A*`` and (for
    ``which="retraining"``) ``U_test`` are unchanged. Needs ``C`` to have no more columns
    than rows.
    """
    if not isinstance(problem, Problem):
        raise InvalidArgument(f"`problem` must be a landscape.Problem; got {type(problem).__name__}.")
    C = factor_columns(problem, which)
    d, m = C.shape
    if m > d:
        raise InvalidArgument(
            f"conditioning needs at most d={d} factor columns; which={which!r} has {m} "
            f"(T={problem.T}, k={problem.k})."
        )
    P, s, Qt = np.linalg.svd(C, full_matrices=False)
    s_new = s.copy()
    if min_sigma is not None:
        s_new = np.maximum(s_new, check_float("min_sigma", min_sigma, positive=True) * (1 + _MARGIN))
    if max_cond is not None:
        cond = check_float("max_cond", max_cond, low=1.0)
        s_new = np.maximum(s_new, s_new.max() / cond * (1 + _MARGIN))
    C_new = (P * s_new) @ Qt
    T, k = problem.T, problem.k
    U = np.stack([C_new[:, t * k : (t + 1) * k] for t in range(T)])
    Ut = C_new[:, T * k :] if which == "all" else problem.U_test
    return Problem.from_arrays(problem.A_star, U, Ut)


def _admissible_sizes(min_d, max_d, min_k, max_k, min_T, max_T, which, max_Tk):
    """All ``(d, k, T_lo, T_hi)`` with a non-empty admissible ``T`` range, in increasing order."""
    out = []
    for d in range(min_d, max_d + 1):
        for k in range(min_k, min(d, max_k if max_k is not None else d) + 1):
            hi = max_T
            if which == "all":
                hi = min(hi, d // k - 1)
            elif which == "retraining":
                hi = min(hi, d // k)
            if max_Tk is not None:
                hi = min(hi, max_Tk // k)
            if hi >= min_T:
                out.append((d, k, min_T, hi))
    return out


def problems(
    *,
    min_d: int = 1,
    max_d: int = 6,
    min_k: int = 1,
    max_k: int | None = None,
    min_T: int = 1,
    max_T: int = 4,
    independent: bool | str = False,
    max_Tk: int | None = None,
    min_sigma: float | None = None,
    max_cond: float | None = None,
    adapter_scales=(0.5, 1.0, 2.0),
) -> SearchStrategy[Problem]:
    """Random problems whose sizes and conditioning honour every bound given.

    Parameters
    ----------
    min_d, max_d, min_k, max_k, min_T, max_T : int
        Inclusive bounds on ``d``, ``k`` (also ``k <= d``; ``max_k=None`` means ``d``) and
        ``T``. Every drawn problem satisfies all of them.
    independent : False, True, "all" or "retraining"
        ``True``/``"all"``: only sizes with ``(T+1)k <= d`` (the columns of
        ``C = [U*_1 … U*_T U_test]`` can be independent: Cor. 1's hypothesis);
        ``"retraining"``: ``Tk <= d`` (``[U*_1 … U*_T]``: Thm 3.1 and Thm 3.3).
        A size condition only: Gaussian columns are then independent with probability 1
        but may be nearly dependent; use ``min_sigma`` for a quantitative guarantee.
    max_Tk : int, optional
        Only sizes with ``T·k <= max_Tk``.
    min_sigma : float, optional
        ``σ_min(C) >= min_sigma`` for the columns ``C`` named by ``independent`` (required).
        Consequences (Ostrowski's inertia bound, docs/strategies.md): with ``"all"``,
        ``σ_{(T+1)k}(Δ) >= min_sigma²/T`` for ``Δ = R*_{T+1} − (1/T) Σ_t R*_t``, hence
        ``ℓ_r(A_SR) >= ((T+1)k − r)·(min_sigma²/T)²`` for ``r < (T+1)k``; with either
        choice ``σ_{Tk}(A_SR − A*) >= min_sigma²/T``. With ``max_cond`` too (and "all"),
        ``ℓ_r(A_SR) / ‖R*_{T+1}‖_F² >= 1/(k·T²·max_cond⁴)`` for ``r < (T+1)k``.
    max_cond : float, optional
        ``σ_max(C) / σ_min(C) <= max_cond`` (>= 1) for the same ``C`` (needs ``independent``).
    adapter_scales : sequence of float
        ``adapter_scale`` of :meth:`Problem.random` is drawn from these (before conditioning).

    Returns
    -------
    SearchStrategy[Problem]
        Without conditioning, draws of ``Problem.random(d, k, T, seed=s, adapter_scale=c)``
        (their repr is that call); with it, those draws passed through
        :func:`condition_factors` (repr: an exact ``Problem.from_arrays(...)`` call).

    Raises
    ------
    InvalidArgument
        At once (not at draw time) when a bound is malformed or no size meets them all.
    """
    min_d = check_int("min_d", min_d, low=1)
    max_d = check_int("max_d", max_d, low=min_d)
    min_k = check_int("min_k", min_k, low=1)
    if max_k is not None:
        max_k = check_int("max_k", max_k, low=min_k)
    min_T = check_int("min_T", min_T, low=1)
    max_T = check_int("max_T", max_T, low=min_T)
    if max_Tk is not None:
        max_Tk = check_int("max_Tk", max_Tk, low=1)
    if not isinstance(independent, (bool, str)) or independent not in _INDEPENDENT:
        raise InvalidArgument(
            f"`independent` must be False, True, 'all' or 'retraining'; got independent={independent!r}."
        )
    which = _INDEPENDENT[independent]
    if (min_sigma is not None or max_cond is not None) and which is None:
        raise InvalidArgument(
            "`min_sigma`/`max_cond` condition the factor columns named by `independent`; "
            "pass independent=True ('all') or 'retraining' with them."
        )
    if min_sigma is not None:
        min_sigma = check_float("min_sigma", min_sigma, positive=True)
    if max_cond is not None:
        max_cond = check_float("max_cond", max_cond, low=1.0)
    scales = tuple(adapter_scales) if not isinstance(adapter_scales, numbers.Real) else (adapter_scales,)
    if not scales:
        raise InvalidArgument("`adapter_scales` must contain at least one value.")
    scales = tuple(check_float("adapter_scales", c, positive=True) for c in scales)
    if (max_d - min_d + 1) * max_d > 100_000:
        raise InvalidArgument(f"`max_d` must keep the size table small (<= 100000 (d, k) pairs); got max_d={max_d}.")

    sizes = _admissible_sizes(min_d, max_d, min_k, max_k, min_T, max_T, which, max_Tk)
    if not sizes:
        raise InvalidArgument(
            f"no (d, k, T) meets the bounds d in [{min_d}, {max_d}], k in [{min_k}, "
            f"{'d' if max_k is None else max_k}] (k <= d), T in [{min_T}, {max_T}]"
            + {None: "", "all": ", (T+1)k <= d", "retraining": ", Tk <= d"}[which]
            + ("" if max_Tk is None else f", Tk <= {max_Tk}")
            + "."
        )

    @st.composite
    def _draw(draw):
        d, k, T_lo, T_hi = draw(st.sampled_from(sizes))
        T = draw(st.integers(T_lo, T_hi))
        p = Problem.random(d, k, T, seed=draw(seeds), adapter_scale=draw(st.sampled_from(scales)))
        if min_sigma is not None or max_cond is not None:
            p = condition_factors(p, which=which, min_sigma=min_sigma, max_cond=max_cond)
        return p

    return _draw()


def _check_problem(fn: str, problem) -> Problem:
    if isinstance(problem, Problem):
        return problem
    if isinstance(problem, SearchStrategy):
        raise InvalidArgument(
            f"`{fn}` needs a concrete Problem, got a strategy. Draw the problem first: "
            f"with_points(problems(...), {fn}) gives (problem, point) pairs (a flatmap), or "
            f"inside @given(problems(...), st.data()) call data.draw({fn}(problem))."
        )
    raise InvalidArgument(f"`{fn}` needs a landscape.Problem; got {type(problem).__name__}.")


def orthogonal_matrices(n: int) -> SearchStrategy[np.ndarray]:
    """Orthogonal ``n×n`` matrices: QR of a seeded Gaussian with the sign of ``diag(R)`` fixed (Haar)."""
    n = check_int("n", n, low=1)

    def build(seed):
        Q, R = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
        return Q * np.sign(np.diag(R))

    return seeds.map(build)


def points(problem: Problem, *, scale: float = 1.0) -> SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """Points ``(A, U)`` unrelated to the truth: i.i.d. ``N(0, scale²)`` entries."""
    problem = _check_problem("points", problem)
    scale = check_float("scale", scale, positive=True)

    def build(seed):
        rng = np.random.default_rng(seed)
        return scale * rng.standard_normal((problem.d, problem.d)), scale * rng.standard_normal(
            problem.U_star.shape
        )

    return seeds.map(build)


def zero_loss_points(problem: Problem) -> SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """Global minima ``(A*, (U*_t Q_t)_t)`` with drawn ``Q_t ∈ O(k)`` (``L = 0`` up to rounding)."""
    problem = _check_problem("zero_loss_points", problem)
    T, k = problem.T, problem.k

    def build(Qs):
        U = np.stack([problem.U_star[t] @ Qs[t] for t in range(T)])
        return np.array(problem.A_star), U

    return st.tuples(*[orthogonal_matrices(k) for _ in range(T)]).map(build)


def points_near_truth(problem: Problem, *, radius: float = 1e-2) -> SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """Points ``(A(U), U)`` with ``U = (U*_t Q_t)_t + N``, ``Q_t ∈ O(k)`` and ``‖N‖_F <= radius``."""
    problem = _check_problem("points_near_truth", problem)
    radius = check_float("radius", radius, low=0.0)

    def build(args):
        (_, U), seed, frac = args
        N = np.random.default_rng(seed).standard_normal(U.shape)
        U = U + radius * frac * N / max(np.linalg.norm(N), 1e-300)
        return A_of_U(problem, U), U

    return st.tuples(zero_loss_points(problem), seeds, st.floats(0.0, 1.0)).map(build)


def with_points(problem_strategy: SearchStrategy[Problem], point_strategy=zero_loss_points, **kwargs):
    """Pairs ``(problem, (A, U))``: a problem, then a point on it (``flatmap``).

    ``point_strategy`` is :func:`points`, :func:`points_near_truth`,
    :func:`zero_loss_points` or any function ``problem -> strategy``; ``kwargs`` go to it.

    >>> from landscape.strategies import problems, with_points, points_near_truth
    >>> pairs = with_points(problems(max_d=4), points_near_truth, radius=1e-3)
    """
    if not isinstance(problem_strategy, SearchStrategy):
        raise InvalidArgument(
            f"`problem_strategy` must be a hypothesis strategy of problems (e.g. problems(...)); "
            f"got {type(problem_strategy).__name__}."
        )
    if not callable(point_strategy):
        raise InvalidArgument("`point_strategy` must be a function problem -> strategy (e.g. zero_loss_points).")
    return problem_strategy.flatmap(lambda p: st.tuples(st.just(p), point_strategy(p, **kwargs)))
