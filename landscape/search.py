"""Multi-start landscape search: run a batched method, polish, de-duplicate, classify.

``search(problem, starts=64, method=...)`` draws Gaussian starts (or takes yours), runs
one of the batched methods on all of them at once, and returns the distinct end points
modulo the O(k) symmetry, each classified (:func:`~landscape.classify.classify_point`)
and counted, plus a summary of how many starts ended where.

Methods (a registry, :data:`METHODS`):

- ``"sosp"``: :func:`~landscape.sosp.find_sosp`, second order, ends at (ε_g, ε_H)-SOSPs;
- ``"gd"``: :func:`~landscape.descent.gradient_descent`, plain fixed-step descent;
- ``"pgd"``: :func:`~landscape.descent.perturbed_gradient_descent`;
- ``"roots"``: :func:`~landscape.roots.find_roots`, zeros of ``∇G`` of any kind.

Descent methods stop at ``‖∇f‖ <= 1e-6·ρ^{3/2}``; their end points are then *polished*
by a few Levenberg–Marquardt steps on ``∇G`` (:func:`~landscape.roots.find_roots`),
which converge to the critical point the descent was approaching, so they can be
classified at the classifier's tolerance. The largest polishing move is reported in the
summary (``polish_shift``, relative to ``√ρ``): small values mean the polished point is
the one the descent reached.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._validation import as_float64, check_int
from .classify import KINDS, CriticalPoint, classify_point
from .dedup import group_points
from .descent import gradient_descent, perturbed_gradient_descent
from .errors import InvalidArgument
from .multistart import as_starts, problem_scale, random_starts
from .problem import Problem
from .roots import find_roots
from .sosp import find_sosp

__all__ = [
    "METHODS",
    "SearchResult",
    "search",
    "load_points",
    "save_point",
    "find_spurious_minimum",
    "scan_for_spurious",
]

#: method name -> (solver, is a descent method that needs polishing)
METHODS = {
    "sosp": (find_sosp, False),
    "gd": (gradient_descent, True),
    "pgd": (perturbed_gradient_descent, True),
    "roots": (find_roots, False),
}

_FORMAT = "metalora.search/1"


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Distinct end points of a multi-start search, classified and counted.

    Attributes
    ----------
    points : tuple of CriticalPoint
        Distinct points modulo symmetry (sorted by kind, then loss), each with ``count``.
        Starts that ended at a non-critical point are counted in the summary, not listed
        (unless ``keep_noncritical=True``).
    method : str
    starts : int
    seed : int or None
    summary : dict
        ``starts``, ``converged`` (the method's own test), ``by_kind`` (starts per kind),
        ``distinct_by_kind``, ``fraction`` (per kind), ``spurious_fraction``,
        ``min_loss``, ``polish_shift``, tolerances, sizes.
    seconds : float
    problem : Problem
    """

    points: tuple
    method: str
    starts: int
    seed: int | None
    summary: dict
    seconds: float
    problem: Problem | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        kinds = ", ".join(f"{k}={v}" for k, v in self.summary.get("by_kind", {}).items() if v)
        return (
            f"SearchResult(method={self.method!r}, starts={self.starts}, distinct={len(self.points)}, "
            f"{kinds}, seconds={self.seconds:.2f})"
        )

    def of_kind(self, kind: str) -> list[CriticalPoint]:
        """The points of one kind (see :data:`~landscape.classify.KINDS`)."""
        if kind not in KINDS:
            raise InvalidArgument(f"`kind` must be one of {KINDS}; got kind={kind!r}.")
        return [p for p in self.points if p.kind == kind]

    def to_json(self) -> dict:
        """``{"schema", "method", "starts", "seed", "seconds", "summary", "points", "problem"}``.

        The file doubles as a problem file: ``Problem.load`` reads the embedded problem.
        """
        return {
            "schema": _FORMAT,  # not "format": Problem.load reads the embedded problem
            "method": self.method,
            "starts": self.starts,
            "seed": self.seed,
            "seconds": self.seconds,
            "summary": self.summary,
            "points": [p.to_json() for p in self.points],
            "problem": None if self.problem is None else self.problem.to_json(),
        }

    def save(self, path) -> Path:
        """Write :meth:`to_json` to ``path`` atomically."""
        return _atomic_write_json(path, self.to_json())


def _atomic_write_json(path, obj) -> Path:
    import os

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)
    return path


def search(
    problem: Problem,
    *,
    starts=64,
    method: str = "sosp",
    seed=None,
    objective: str = "reduced",
    start_scale: float | None = None,
    dedup_tol: float = 1e-6,
    tol_grad: float = 1e-8,
    tol_eig: float = 1e-8,
    tol_loss: float = 1e-10,
    polish: bool = True,
    keep_noncritical: bool = False,
    backend: str = "numpy",
    device=None,
    **options,
) -> SearchResult:
    """Multi-start search for critical points of ``G`` (module docstring).

    Parameters
    ----------
    problem : Problem
    starts : int or (S, T, d, k) array
        Number of Gaussian starts (:func:`~landscape.multistart.random_starts`), or the
        starts themselves.
    method : {"sosp", "gd", "pgd", "roots"}
    seed : None or int
        Seed for the starts (and the perturbations of ``pgd``).
    objective : {"reduced", "full"}
        Run the method on ``G(U)`` or on ``L(A, U)``; end points are classified on ``G``
        (``(A, U)`` is critical/minimal for ``L`` iff ``A = A(U)`` and ``U`` is for ``G``).
    start_scale : float, optional
        Entry standard deviation of the starts (default: the RMS entry of ``U*``).
    dedup_tol : float
        Relative orbit distance below which two end points are the same
        (:mod:`landscape.dedup`).
    tol_grad, tol_eig, tol_loss : float
        Classifier tolerances (:func:`~landscape.classify.classify_point`).
    polish : bool
        Polish the end points of descent methods before classifying (module docstring).
    keep_noncritical : bool
        Also list groups of end points that are not critical.
    backend, device : str
        Array backend of the batched method (``"numpy"`` or ``"torch"``).
    **options
        Passed to the method (e.g. ``max_iter``, ``step``, ``eps_H``).

    Returns
    -------
    SearchResult

    Examples
    --------
    >>> from landscape import Problem
    >>> r = search(Problem.random(3, 1, 2, seed=0), starts=16, seed=0)
    >>> r.summary["by_kind"]["global-min"]       # T = 2: every SOSP is a global minimum
    16
    """
    if method not in METHODS:
        raise InvalidArgument(f"`method` must be one of {sorted(METHODS)}; got method={method!r}.")
    t0 = time.perf_counter()
    seed_out = seed if (seed is None or isinstance(seed, (int, np.integer))) else None
    if isinstance(starts, (int, np.integer)) and not isinstance(starts, bool):
        n_starts = check_int("starts", starts, low=1)
        U0 = random_starts(problem, n_starts, seed=seed, scale=start_scale)
    else:
        U0 = as_starts(problem, starts)
    solver, is_descent = METHODS[method]
    kwargs = dict(objective=objective, backend=backend, device=device, **options)
    if method == "pgd":
        kwargs.setdefault("seed", None if seed is None else np.random.default_rng(seed).integers(2**63))
    run = solver(problem, U0, **kwargs)
    U_end, g_end = run.U, run.grad_norm
    shift = 0.0
    rho = problem_scale(problem)
    if polish and (is_descent or objective == "full"):
        pol = find_roots(problem, U_end, max_iter=50, backend=backend, device=device)
        shift = float(np.max(np.linalg.norm((pol.U - U_end).reshape(len(U_end), -1), axis=1))) / np.sqrt(rho)
        U_end, g_end = pol.U, pol.grad_norm
    points, by_kind, labels = _classify_groups(
        problem, U_end, np.argsort(g_end, kind="stable"), dedup_tol, dict(tol_grad=tol_grad, tol_eig=tol_eig, tol_loss=tol_loss), keep_noncritical
    )
    S = U_end.shape[0]
    summary = {
        "d": problem.d,
        "k": problem.k,
        "T": problem.T,
        "method": method,
        "objective": objective,
        "starts": S,
        "converged": run.n_converged,
        "by_kind": by_kind,
        "distinct_by_kind": {k: sum(1 for p in points if p.kind == k) for k in KINDS},
        "fraction": {k: by_kind[k] / S for k in KINDS},
        "spurious_fraction": by_kind["spurious-min"] / S,
        "min_loss": float(min((p.loss for p in points), default=float("nan"))),
        "max_spurious_loss": float(max((p.loss for p in points if p.kind == "spurious-min"), default=0.0)),
        "polish_shift": shift,
        "median_iterations": float(np.median(run.iterations)),
        "solver_seconds": run.seconds,
        "solver_options": run.options,
        "tolerances": {"tol_grad": tol_grad, "tol_eig": tol_eig, "tol_loss": tol_loss, "dedup_tol": dedup_tol,
                       "scale": rho},
    }
    return SearchResult(
        points=tuple(points),
        method=method,
        starts=S,
        seed=None if seed_out is None else int(seed_out),
        summary=summary,
        seconds=time.perf_counter() - t0,
        problem=problem,
    )


def _classify_groups(problem, U, order, dedup_tol, tols, keep_noncritical):
    """De-duplicate (best-polished first), classify one point per group, count per kind."""
    groups = group_points(problem, U, tol=dedup_tol, order=order)
    by_kind = {k: 0 for k in KINDS}
    points = []
    for g, rep in enumerate(groups.representatives):
        cp = classify_point(problem, U[rep], **tols).with_count(int(groups.counts[g]))
        by_kind[cp.kind] += cp.count
        if cp.kind != "not-critical" or keep_noncritical:
            points.append(cp)
    order = {k: i for i, k in enumerate(KINDS)}
    points.sort(key=lambda p: (order[p.kind], p.loss, -p.count))
    return points, by_kind, groups.labels


# -- files -----------------------------------------------------------------------------
def save_point(point: CriticalPoint, path) -> Path:
    """Write one point (:meth:`CriticalPoint.to_json`) to a JSON file atomically."""
    return _atomic_write_json(path, point.to_json())


def load_points(path, problem: Problem | None = None) -> list[CriticalPoint]:
    """Points from a file: a search JSON (its ``points``), a single point JSON, or ``.npy``.

    A ``.npy`` file holds one ``U`` (T, d, k) or a stack (S, T, d, k); those are
    classified afresh, which needs ``problem`` (a search JSON embeds its problem, which
    is used when ``problem`` is None only for ``.npy``-free files; points in JSON files
    keep their stored classification).
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"`path` must be an existing points file; got path={str(path)!r}.")
    if path.suffix == ".npy":
        if problem is None:
            raise InvalidArgument("a .npy file holds bare U arrays: pass `problem` to classify them.")
        U = as_float64("U", np.load(path, allow_pickle=False))
        U = as_starts(problem, U)
        return [classify_point(problem, u) for u in U]
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"{path}: not valid JSON ({exc}).") from None
    if isinstance(obj, dict) and "points" in obj:
        items = obj["points"]
    elif isinstance(obj, dict) and "kind" in obj:
        items = [obj]
    elif isinstance(obj, list):
        items = obj
    else:
        raise InvalidArgument(f"{path}: expected a search result (with `points`) or a point.")
    points = [CriticalPoint.from_json(item) for item in items]
    if problem is not None:
        shape = problem.U_star.shape
        for p in points:
            if p.U.shape != shape:
                raise InvalidArgument(f"{path}: point U has shape {p.U.shape}, the problem needs {shape}.")
    return points


# -- spurious minima ------------------------------------------------------------------------
def find_spurious_minimum(
    problem: Problem, starts: int = 2000, seed=0, *, methods=("sosp", "roots"), **options
) -> CriticalPoint | None:
    """The most robust spurious minimum a search finds (largest ``min_eig``), or None.

    Tries ``methods`` in order and stops at the first that finds one. ``"roots"`` is the
    paper's recipe (App. D.2): zeros of ``∇G`` from many random starts, kept if ``G > 0``
    and the Hessian is positive definite modulo symmetry. ``"sosp"`` lands in minima
    only and finds the spurious ones far more often when ``n = Tdk`` grows (at
    ``(6, 2, 3)`` roots reach most starts' saddles instead).

    Parameters
    ----------
    problem : Problem
    starts : int
    seed : None or int
        Seed of the starts (the same for every method tried).
    methods : str or tuple of str
        Methods of :func:`search` to try, in order.
    **options
        Passed to :func:`search`.

    Examples
    --------
    >>> from landscape import Problem
    >>> cp = find_spurious_minimum(Problem.random(3, 1, 3, seed=17), starts=500, seed=0)
    >>> cp.kind, bool(cp.loss > 0), bool(cp.min_eig > 0)
    ('spurious-min', True, True)
    """
    if isinstance(methods, str):
        methods = (methods,)
    for method in methods:
        res = search(problem, starts=starts, method=method, seed=seed, **options)
        spurious = res.of_kind("spurious-min")
        if spurious:
            return max(spurious, key=lambda p: p.min_eig)
    return None


def scan_for_spurious(
    d: int, k: int, T: int, *, problem_seeds=range(50), starts: int = 1000, seed=0, **options
):
    """First problem seed (in order) whose instance has a spurious minimum a search finds.

    Returns ``(problem_seed, problem, point)`` or ``None`` when no seed yields one.
    ``Problem.random(d, k, T, seed=problem_seed)`` rebuilds the instance.
    """
    for ps in problem_seeds:
        problem = Problem.random(d, k, T, seed=int(ps))
        cp = find_spurious_minimum(problem, starts=starts, seed=seed, **options)
        if cp is not None:
            return int(ps), problem, cp
    return None
