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

Files: :meth:`SearchResult.save` writes the result without any timing, so the same seed
gives a byte-identical file, and the timings beside it (``NAME.timings.json``).

Limits: :func:`check_search_budget` estimates a search's memory and work from its sizes
(:func:`search_cost`) and refuses, before anything is allocated, work above
:data:`MEMORY_LIMIT` bytes or :data:`WORK_LIMIT` floating-point operations unless
``force=True`` (the commands' ``--force``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .validation import as_float64, check_int, load_npy, nested_floats, read_json
from .classify import KINDS, CriticalPoint, classify_point
from .dedup import group_points
from .descent import gradient_descent, perturbed_gradient_descent
from .errors import InvalidArgument
from .multistart import as_starts, problem_scale, random_starts
from .problem import SCALE_LIMITS, Problem, check_scale, problem_nbytes, scale_problem
from .roots import find_roots
from .runs import atomic_write_json, check_budget, derive_seed
from .sosp import find_sosp

__all__ = [
    "METHODS",
    "SearchResult",
    "search",
    "load_points",
    "save_point",
    "find_spurious_minimum",
    "scan_for_spurious",
    "search_cost",
    "check_search_budget",
    "check_memory",
    "check_work",
    "MEMORY_LIMIT",
    "WORK_LIMIT",
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
        ``min_loss``, ``polish_shift``, tolerances, sizes. No timing (deterministic).
    seconds : float
        Wall-clock time of the whole search (kept out of :meth:`to_json` by default).
    problem : Problem
    timings : dict
        ``seconds`` and ``solver_seconds`` (the batched method alone).
    """

    points: tuple
    method: str
    starts: int
    seed: int | None
    summary: dict
    seconds: float
    problem: Problem | None = field(default=None, repr=False)
    timings: dict = field(default_factory=dict, repr=False)

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

    def to_json(self, *, timing: bool = False) -> dict:
        """``{"schema", "method", "starts", "seed", "summary", "points", "problem"}``.

        No wall-clock time unless ``timing=True`` (then also ``"timings"``), so the same
        seed gives the same JSON. The file doubles as a problem file: ``Problem.load``
        reads the embedded problem.
        """
        out = {
            "schema": _FORMAT,  # not "format": Problem.load reads the embedded problem
            "method": self.method,
            "starts": self.starts,
            "seed": self.seed,
            "summary": self.summary,
            "points": [p.to_json() for p in self.points],
            "problem": None if self.problem is None else self.problem.to_json(),
        }
        if timing:
            out["timings"] = self.timings_json()
        return out

    def timings_json(self) -> dict:
        return {"schema": _FORMAT + "/timings", "seconds": self.seconds, **self.timings}

    def save(self, path, *, timings: bool = True) -> Path:
        """Write :meth:`to_json` to ``path`` atomically (deterministic: same seed, same
        bytes) and, with ``timings``, the timings to ``NAME.timings.json`` beside it.
        """
        path = atomic_write_json(path, self.to_json(), indent=None)
        if timings:
            atomic_write_json(timings_path(path), self.timings_json())
        return path


def timings_path(path) -> Path:
    """``dir/NAME.timings.json`` for a result file ``dir/NAME.json``."""
    path = Path(path)
    stem = path.name[:-5] if path.name.endswith(".json") else path.name
    return path.with_name(stem + ".timings.json")


# -- limits ----------------------------------------------------------------------------
#: Memory a search (or each parallel atlas worker's search) may need without ``force``.
MEMORY_LIMIT = 4 * 2**30
#: Floating-point operations a command may plan without ``force`` (about a day on one
#: core at the ~1 Gflop/s that batched small-matrix work reaches).
WORK_LIMIT = 1e14
#: Dense (Hessian) iterations assumed per start by :func:`search_cost`: typical, not worst case.
_DENSE_ITERATIONS = 30
#: Fixed cost of one search (Python overhead, classification set-up), in flop-equivalents
#: (~10 ms): a billion tiny searches is not cheap.
_SEARCH_OVERHEAD = 1e7
_DESCENT_DEFAULT_ITER = 20000


def search_cost(d: int, k: int, T: int, starts: int, method: str = "sosp", *,
                objective: str = "reduced", max_iter: int | None = None) -> tuple[float, float]:
    """Estimated ``(bytes, flops)`` of :func:`search` at these sizes.

    Every method holds a dense Hessian per start at some point (the second-order steps,
    the polishing of descent end points, the classification), so memory is about
    ``8·S·(3n² + 3Td²)`` bytes with ``n = Tdk`` variables (``+ d²`` for the full
    objective) plus the problem; work is about ``S·(30·(n³/3 + n²d) + 10n³)`` flops, plus
    ``S·iters·8Td²k`` for gradient descent and a fixed ``1e7`` per search. Rough on purpose: it exists to refuse
    absurd sizes up front, not to predict run times.
    """
    d, k, T, S = (float(x) for x in (d, k, T, starts))
    n = T * d * k + (d * d if objective == "full" else 0.0)
    memory = problem_nbytes(d, k, T) + 8.0 * S * (3 * n * n + 3 * T * d * d + 4 * n)
    work = _SEARCH_OVERHEAD + S * (_DENSE_ITERATIONS * (n**3 / 3 + n * n * d) + 10 * n**3)
    if method in ("gd", "pgd"):
        iters = _DESCENT_DEFAULT_ITER if max_iter is None else float(max_iter)
        work += S * iters * 8.0 * T * d * d * k
    elif max_iter is not None:
        work = max(work, S * float(max_iter) * (n**3 / 3 + n * n * d))
    return memory, work


def check_search_budget(d: int, k: int, T: int, starts: int, method: str = "sosp", *,
                        objective: str = "reduced", max_iter: int | None = None, force: bool = False,
                        repeats: int = 1, parallel: int = 1, arg: str = "--force") -> None:
    """Refuse (:class:`InvalidArgument`, exit 2) a search whose :func:`search_cost`
    exceeds :data:`MEMORY_LIMIT` (times ``parallel`` searches at once) or whose work
    (times ``repeats``) exceeds :data:`WORK_LIMIT`, unless ``force``.
    """
    memory, work = search_cost(d, k, T, starts, method, objective=objective, max_iter=max_iter)
    what = f"a {method} search at d={d}, k={k}, T={T} with {starts} starts"
    if parallel > 1:
        what += f" ({parallel} at once)"
    check_memory(what, memory * max(parallel, 1), force=force, arg=arg)
    if repeats > 1:
        what = f"{repeats} searches like {what[2:]}"
    check_work(what, work * max(repeats, 1), force=force, arg=arg)


def check_memory(what: str, nbytes: float, *, force: bool = False, arg: str = "--force") -> None:
    """Refuse (exit 2) ``what`` needing more than :data:`MEMORY_LIMIT` bytes unless ``force``."""
    check_budget(what, nbytes / 2**30, MEMORY_LIMIT / 2**30, unit="GiB of memory", force=force, arg=arg)


def check_work(what: str, flops: float, *, force: bool = False, arg: str = "--force") -> None:
    """Refuse (exit 2) ``what`` needing more than :data:`WORK_LIMIT` flops unless ``force``."""
    check_budget(what, flops, WORK_LIMIT, unit="floating-point operations", force=force, arg=arg)


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
    if not isinstance(problem, Problem):
        raise InvalidArgument(f"`problem` must be a landscape.Problem; got {type(problem).__name__}.")
    check_scale(problem)  # overflow or cancellation would make every classification meaningless
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
        kwargs.setdefault("seed", None if seed is None else derive_seed(int(seed), "pgd"))
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
        timings={"solver_seconds": run.seconds},
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
    return atomic_write_json(path, point.to_json(), indent=None)


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
        U = as_float64(f"{path}", load_npy(path, what="points file (.npy)"))
        U = as_starts(problem, U)
        _check_point_scale(path, problem, U)
        return [classify_point(problem, u) for u in U]
    obj = read_json(path, what="points file (a search result, a point, or .npy)")
    if isinstance(obj, dict) and "points" in obj:
        items = obj["points"]
    elif isinstance(obj, dict) and "kind" in obj:
        items = [obj]
    elif isinstance(obj, list):
        items = obj
    else:
        raise InvalidArgument(f"{path}: expected a search result (with `points`) or a point.")
    if not isinstance(items, list):
        raise InvalidArgument(f"{path}: `points` must be a list; got {type(items).__name__}.")
    points = [_point_from_json(item, f"{path}: point {i}") for i, item in enumerate(items)]
    if problem is not None:
        shape = problem.U_star.shape
        for p in points:
            if p.U.shape != shape:
                raise InvalidArgument(f"{path}: point U has shape {p.U.shape}, the problem needs {shape}.")
        _check_point_scale(path, problem, *(p.U for p in points))
    return points


_POINT_NUMBERS = ("loss", "grad_norm", "min_eig")
_NON_FINITE = ("nan", "inf", "-inf")
_POINT_INTS = ("index", "n_zero", "expected_zero", "count", "removed")


def _point_from_json(item, where: str) -> CriticalPoint:
    """One point of a file, every field type-checked first (a bool or a string where a
    number belongs, a complex or nested-too-deep array, is an input error).
    """
    if not isinstance(item, dict):
        raise InvalidArgument(f"{where}: must be a JSON object; got {type(item).__name__}.")
    for key in ("U", "A"):
        for name in (f"{key}_hex", key):
            if name in item:
                arr = nested_floats(item[name], where=f"{where}: `{name}`")
                if not np.isfinite(arr).all():
                    raise InvalidArgument(f"{where}: `{name}` has NaN/inf entries.")
                limit = SCALE_LIMITS[1] ** (0.5 if key == "U" else 1.0)
                if arr.size and float(np.max(np.abs(arr))) > limit:
                    raise InvalidArgument(f"{where}: `{name}` has entries above {limit:.0e}, which overflow "
                                          f"float64 arithmetic (products of up to four entries).")
                if arr.ndim != (3 if key == "U" else 2):
                    raise InvalidArgument(f"{where}: `{name}` must be a {3 if key == 'U' else 2}-D array; "
                                          f"got shape {arr.shape}.")
    for name in _POINT_NUMBERS:  # "nan"/"inf"/"-inf": how strict JSON (runs.jsonable) spells them
        value = item.get(name, 0.0)
        if value in _NON_FINITE and isinstance(value, str):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidArgument(f"{where}: `{name}` must be a number; got {value!r:.40}.")
    for name in _POINT_INTS:
        if name in item and (isinstance(item[name], bool) or not isinstance(item[name], int)):
            raise InvalidArgument(f"{where}: `{name}` must be an integer; got {item[name]!r:.40}.")
    if "eigenvalues" in item:
        eig = nested_floats(item["eigenvalues"], where=f"{where}: `eigenvalues`")
        if eig.ndim != 1:
            raise InvalidArgument(f"{where}: `eigenvalues` must be a list of numbers.")
    if "tolerances" in item and not isinstance(item["tolerances"], dict):
        raise InvalidArgument(f"{where}: `tolerances` must be an object.")
    return CriticalPoint.from_json(item)


def _check_point_scale(path, problem, *points) -> None:
    why = scale_problem(problem, *points)
    if why is not None:
        raise InvalidArgument(f"{path}: {why}.")


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
