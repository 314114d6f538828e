"""Census: every critical point of ``G`` on an instance, by homotopy continuation.

``census(problem)`` solves the cubic system ``∇G = 0`` (:mod:`.system`) for **all** its
finite complex solutions, keeps the real ones, classifies them (global minimum, spurious
minimum, saddle of index i, degenerate), groups them modulo the sign flips
``U_t → −U_t`` and proves each one with an interval Krawczyk test (:mod:`.krawczyk`).

Methods
-------
- ``"total-degree"``: start system ``x_i³ − x_i x₀²`` with the γ trick, one path per flip
  orbit of its ``3ⁿ`` start points (``(1 + (3^{dk} − 1)/2)^T`` paths).
- ``"parameter"``: from a generic complex instance solved once per ``(d, k, T)`` and
  cached on disk (:mod:`.cache`), one path per flip orbit of its solutions, along a
  randomly bent segment in the space of factors ``U*``. A bend whose run has paths that
  fail mid-way (it passes near a parameter value where solutions escape to infinity) is
  redrawn (``evidence.start_system.redrawn_bends``).
- ``"auto"``: ``"total-degree"`` for now (the parameter method stalls on too many bends
  to be faster, see docs/census.md); when a parameter census is tried and is incomplete it
  is redone by total degree (the attempt is kept in ``evidence.parameter_attempt``). With a
  cached start system the total-degree census also checks the generic count.

Completeness evidence (``result.evidence``; ``complete`` is True only if all hold)
---------------------------------------------------------------------------------
1. every path of each run is accounted for: finite nonsingular, or diverging (confirmed
   at infinity by the endgame), none failed, none ending at a finite singular point;
2. no two paths of a run end on the same flip orbit of solutions (a path jump), after
   re-tracking the duplicated and failed paths at tighter tolerances;
3. ``runs`` (default 2) runs with independent random γ (or bend) and chart give the same
   set of solutions — a solution one run lacks is tracked backwards in that run to name
   the misclassified path, which is then reassigned (``repaired``); a run that cannot
   be repaired this way leaves the census incomplete;
4. the number of finite solutions equals the generic number for ``(d, k, T)`` (known
   once the start system is cached; a random instance is generic with probability one, so
   a shortfall is reported as incomplete) — for the parameter method the start system
   itself passed 1–3.

Finite singular end points (a multiple root or a positive-dimensional set of critical
points, as for ``T = 2`` where ``G`` depends on ``D₁ − D₂`` only, or ``k > 1`` where the
O(k) orbits are continuous) are reported with the numerical corank of the Jacobian there
(``positive_dimensional``), never counted, and make the census incomplete.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..validation import check_int
from ..classify import KINDS, classify_point
from ..derivatives import reduced_grad, reduced_hessian
from ..errors import InvalidArgument, Undecided
from ..multistart import problem_scale
from ..problem import Problem, _from_hex, _hex_list
from ..runs import Result, Status, check_budget, make_rng
from .cache import CODE_VERSION, load_start, save_start
from .krawczyk import certify_point
from .solve import FINITE, match_orbits, orbit_invariants, repair_missing, run_homotopy
from .system import (
    ParameterHomotopy,
    TotalDegreeHomotopy,
    n_start_orbits,
    scaled_data,
    start_orbit_points,
)
from .tracker import TrackSettings

__all__ = ["CensusPoint", "CensusResult", "census", "generic_start", "METHODS"]

METHODS = ("auto", "total-degree", "parameter")
_FORMAT = "metalora.census/1"


@dataclass(frozen=True, eq=False)
class CensusPoint:
    """A real critical point of ``G`` found by the census (one per flip orbit).

    Attributes
    ----------
    U : (T, d, k) array
        The polished float point (a representative of its flip orbit).
    kind : str
        Float classification (:data:`landscape.KINDS`): ``global-min``, ``spurious-min``,
        ``saddle``, ``degenerate`` or ``not-critical``.
    index : int
        Number of negative Hessian eigenvalues (float).
    loss, grad_norm : float
    eigenvalues : array
        All eigenvalues of ``∇²G(U)`` (ascending).
    orbit_size : int
        ``2^{#nonzero U_t}``: the number of critical points this entry stands for.
    certified : bool
        True iff the interval test proved a unique critical point in a box around ``U``
        *and* its certified kind and index agree with ``kind``/``index``.
    certificate : dict or None
        :class:`~landscape.homotopy.krawczyk.PointCertificate` as JSON.
    """

    U: np.ndarray
    kind: str
    index: int
    loss: float
    grad_norm: float
    eigenvalues: np.ndarray
    orbit_size: int
    certified: bool = False
    certificate: dict | None = None

    def __repr__(self) -> str:
        return (f"CensusPoint(kind={self.kind!r}, index={self.index}, loss={self.loss:.6g}, "
                f"orbit_size={self.orbit_size}, certified={self.certified})")

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "index": int(self.index),
            "loss": float(self.loss),
            "grad_norm": float(self.grad_norm),
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "orbit_size": int(self.orbit_size),
            "certified": bool(self.certified),
            "certificate": self.certificate,
            "U": self.U.tolist(),
            "U_hex": _hex_list(self.U),
        }

    @classmethod
    def from_json(cls, doc: dict) -> "CensusPoint":
        U = _from_hex(doc["U_hex"]) if "U_hex" in doc else np.asarray(doc["U"], dtype=float)
        return cls(U=U, kind=doc["kind"], index=int(doc["index"]), loss=float(doc["loss"]),
                   grad_norm=float(doc["grad_norm"]), eigenvalues=np.asarray(doc["eigenvalues"], dtype=float),
                   orbit_size=int(doc["orbit_size"]), certified=bool(doc["certified"]),
                   certificate=doc.get("certificate"))


@dataclass(frozen=True, eq=False)
class CensusResult(Result):
    """Every finite critical point of ``G`` on one instance (see the module docstring).

    ``status`` is ``done`` (exit 0) when the census is complete and ``undecided`` (exit 3)
    otherwise; ``message`` says why. ``points`` are the real critical points (one per flip
    orbit), ``solutions`` all finite complex ones (orbit representatives, in ``U`` units),
    ``counts`` the tallies (``by_kind``/``by_index`` count orbits, ``*_points`` count
    points with their flips), ``evidence`` the completeness checks.
    """

    complete: bool = False
    positive_dimensional: bool = False
    method: str = ""
    seed: int = 0
    sizes: dict = field(default_factory=dict)
    points: tuple = ()
    counts: dict = field(default_factory=dict)
    solutions: dict = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)
    problem: Problem | None = field(default=None, repr=False)
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)

    _timing_fields = ("seconds", "timings")

    def __repr__(self) -> str:
        return (f"CensusResult(status={self.status.value!r}, complete={self.complete}, "
                f"solutions={self.counts.get('solutions')}, real_orbits={len(self.points)}, "
                f"by_kind={self.counts.get('by_kind')})")

    def of_kind(self, kind: str) -> list:
        if kind not in KINDS:
            raise InvalidArgument(f"`kind` must be one of {KINDS}; got kind={kind!r}.")
        return [p for p in self.points if p.kind == kind]

    @property
    def all_certified(self) -> bool:
        return bool(self.points) and all(p.certified for p in self.points)

    def to_json(self, *, timing: bool = False) -> dict:
        out = super().to_json(timing=timing)
        out["format"] = _FORMAT
        return out

    @classmethod
    def from_json(cls, doc: dict) -> "CensusResult":
        if not isinstance(doc, dict):
            raise InvalidArgument(f"a census result must be a JSON object; got {type(doc).__name__}.")
        doc = dict(doc)
        doc.pop("format", None)
        try:
            doc["points"] = tuple(CensusPoint.from_json(p) for p in doc.get("points", ()))
            if doc.get("problem") is not None:
                doc["problem"] = Problem.from_json(doc["problem"])
        except (KeyError, TypeError) as exc:
            raise InvalidArgument(f"census result: malformed point or problem ({exc}).") from None
        return super().from_json(doc)


# ------------------------------------------------------------------------------------
def _chart_points(pts, rng):
    """Start points (P, n) → projective points on a random chart ``a·z = 1``."""
    n = pts.shape[1]
    a = (rng.standard_normal(n + 1) + 1j * rng.standard_normal(n + 1)) / np.sqrt(2 * (n + 1))
    z = np.concatenate([np.ones((pts.shape[0], 1)), pts], axis=1).astype(complex)
    return z / (z @ a)[:, None], a


def _total_degree_runs(C, T, d, k, seed, runs, settings, progress, tag):
    pts, sizes = start_orbit_points(T, d, k)
    outs = []
    for r in range(runs):
        rng = make_rng(seed, "census", tag, "total-degree", r)
        gamma = np.exp(2j * np.pi * rng.random())
        z0, a = _chart_points(pts, rng)
        hom = TotalDegreeHomotopy(C, T, d, k, gamma)
        with _bar(progress, len(pts), f"total-degree run {r + 1}/{runs}") as cb:
            outs.append(run_homotopy(hom, z0, a, sizes, C, T, d, k, settings, progress=cb))
    return outs


class _bar:
    def __init__(self, on, total, desc):
        self.on, self.total, self.desc, self.bar = on, total, desc, None

    def __enter__(self):
        if not self.on:
            return None
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, desc=self.desc, unit="path", leave=False)
        return self.bar.update

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()


def _combine(outs, T, d, k):
    """Union of the runs' finite orbits, and whether the runs agree."""
    sets = []
    for o in outs:
        fin = o.kind == FINITE
        sets.append((o.V[fin], o.weights[fin]))
    V, w = sets[0]
    agree = True
    per_run = [int(s[0].shape[0]) for s in sets]
    for V2, w2 in sets[1:]:
        I1, I2 = orbit_invariants(V, T, d, k), orbit_invariants(V2, T, d, k)
        in1, in2 = match_orbits(I1, I2)
        agree &= bool(in1.all() and in2.all() and V.shape[0] == V2.shape[0])
        V = np.concatenate([V, V2[~in2]])
        w = np.concatenate([w, w2[~in2]])
    return V, w, agree, per_run


def _repair(outs, V, T, d, k, C):
    """Reverse-track, in each run, the union's solutions that the run lacks."""
    I_all = orbit_invariants(V, T, d, k)
    for o in outs:
        fin = o.kind == FINITE
        have, _ = match_orbits(I_all, orbit_invariants(o.V[fin], T, d, k))
        if (~have).any():
            repair_missing(o, V[~have], C, T, d, k)


def _orbit_size(V, T, d, k):
    blocks = np.abs(np.asarray(V).reshape(-1, T, d * k)).max(axis=2)
    scale = np.maximum(1.0, np.abs(np.asarray(V)).max(axis=1, initial=0.0))[:, None]
    return 2 ** (blocks > 1e-10 * scale).sum(axis=1)


def generic_start(d: int, k: int, T: int, *, seed: int = 0, cache=None, settings=None, runs: int = 2,
                  progress: bool = False) -> dict:
    """The generic start system for ``(d, k, T)``: load it from the cache or build it.

    Builds by a total-degree census (``runs`` γ's) of a random complex instance ``W₀``;
    refuses (``Undecided``) to cache one that is not complete.
    Returns a dict with ``W0`` (T, d, k) complex, ``V`` (orbits, Tdk) complex solutions,
    ``weights`` (orbit sizes), ``meta`` (counts and the build's evidence), ``file``.
    """
    st = load_start(d, k, T, seed, cache)
    if st is not None:
        st["cached"] = True
        return st
    t0 = time.perf_counter()
    rng = make_rng(seed, "census-start", d, k, T)
    W0 = (rng.standard_normal((T, d, k)) + 1j * rng.standard_normal((T, d, k))) / np.sqrt(2)
    R = np.einsum("tik,tjk->tij", W0, W0)
    W0 = W0 / np.sqrt(np.mean(np.linalg.norm(R, axis=(1, 2))))
    C0 = scaled_data(W0, 1.0)
    outs = _total_degree_runs(C0, T, d, k, seed, runs, settings, progress, "start")
    V, w, agree, per_run = _combine(outs, T, d, k)
    if not agree:
        _repair(outs, V, T, d, k, C0)
        V, w, agree, per_run = _combine(outs, T, d, k)
    ok = agree and all(o.accounted for o in outs)
    evidence = {"runs": [o.summary() for o in outs], "runs_agree": agree, "finite_orbits_per_run": per_run}
    if not ok:
        raise Undecided(f"the generic start system for (d, k, T)=({d}, {k}, {T}) could not be solved "
                        f"completely (runs agree: {agree}; per run: {[o.summary() for o in outs]}); not cached.")
    meta = {"d": d, "k": k, "T": T, "seed": seed, "code": CODE_VERSION, "count": int(w.sum()),
            "orbits": int(V.shape[0]), "complete": True, "evidence": evidence,
            "build_seconds": time.perf_counter() - t0}
    f = save_start(d, k, T, seed, W0, V, w, meta, cache)
    return {"W0": W0, "V": V, "weights": w, "meta": meta, "file": str(f), "cached": False}


def _real_newton(problem, U, iters=4):
    for _ in range(iters):
        g = reduced_grad(problem, U).ravel()
        H = reduced_hessian(problem, U)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        U = U - step.reshape(U.shape)
    return U


def census(problem: Problem, *, method: str = "auto", seed: int = 0, runs: int = 2, certify: bool = True,
           settings: TrackSettings | None = None, cache=None, start_seed: int = 0, max_paths: int = 200_000,
           force: bool = False, progress: bool = False, max_redraws: int = 4) -> CensusResult:
    """All finite critical points of ``G`` on ``problem``, the real ones classified and certified.

    Parameters
    ----------
    problem : Problem
    method : {"auto", "total-degree", "parameter"}
    seed : int
        Seed of the random γ's, bends and charts (same seed, same JSON).
    runs : int
        Independent runs that must agree (>= 1; completeness needs >= 2).
    certify : bool
        Prove each real point with the Krawczyk test (python-flint).
    settings : TrackSettings, optional
    cache : path, optional
        Folder of cached start systems (default ``$METALORA_CACHE_DIR`` or the user cache).
    start_seed : int
        Seed of the generic start instance (part of the cache key).
    max_paths, force
        Refuse (``InvalidArgument``) runs with more tracked paths unless ``force``.
    progress : bool
        tqdm progress bars.
    max_redraws : int
        Parameter method: bends redrawn at most this many times when a run has paths that
        fail mid-way (the bent segment passes near a degenerate parameter value).

    Returns
    -------
    CensusResult

    Examples
    --------
    >>> from landscape import Problem
    >>> r = census(Problem.random(2, 1, 3, seed=0), method="total-degree")  # doctest: +SKIP
    >>> r.complete, r.counts["by_kind"]["global-min"]                      # doctest: +SKIP
    (True, 1)
    """
    t0 = time.perf_counter()
    if not isinstance(problem, Problem):
        raise InvalidArgument(f"`problem` must be a landscape.Problem; got {type(problem).__name__}.")
    if method not in METHODS:
        raise InvalidArgument(f"`method` must be one of {METHODS}; got method={method!r}.")
    seed = check_int("seed", seed, low=0)
    runs = check_int("runs", runs, low=1, high=8)
    start_seed = check_int("start_seed", start_seed, low=0)
    T, d, k = problem.T, problem.d, problem.k
    n = T * d * k
    auto = method == "auto"
    if auto:
        # the parameter method is opt-in: too many random bends pass near parameter values
        # where paths stall (docs/census.md, "Known limitations"), so it is not faster yet
        method = "total-degree"
    rho = problem_scale(problem)
    C = scaled_data(problem.U_star, rho)
    timings = {}
    generic = None
    start_info = None
    if method == "total-degree":
        P = n_start_orbits(T, d, k)
        check_budget(f"a total-degree census of (d, k, T)=({d}, {k}, {T})", P * runs, max_paths,
                     unit="paths", force=force)
        cached = load_start(d, k, T, start_seed, cache)
        if cached is not None:
            generic = int(cached["meta"]["count"])
        outs = _total_degree_runs(C, T, d, k, seed, runs, settings, progress, "target")
    else:
        if T < 2:
            raise InvalidArgument(f"the parameter method needs T >= 2; got T={T}.")
        check_budget(f"building the start system of (d, k, T)=({d}, {k}, {T})", 2 * n_start_orbits(T, d, k),
                     max_paths, unit="paths", force=force)
        ts = time.perf_counter()
        start = generic_start(d, k, T, seed=start_seed, cache=cache, settings=settings, progress=progress)
        timings["start_system"] = time.perf_counter() - ts
        generic = int(start["meta"]["count"])
        # where the start system came from is environment, not result: kept with the timings
        timings["start_system_cached"] = bool(start["cached"])
        timings["start_system_file"] = start["file"]
        start_info = {"orbits": int(start["meta"]["orbits"]), "count": generic, "seed": start_seed,
                      "code": CODE_VERSION}
        W1 = problem.U_star / np.sqrt(rho)
        outs, redrawn = [], []
        r = 0
        while len(outs) < runs and r < runs + max_redraws:
            rng = make_rng(seed, "census", "parameter", r)
            bend = (rng.standard_normal((T, d, k)) + 1j * rng.standard_normal((T, d, k))) / np.sqrt(2)
            z0, a = _chart_points(np.asarray(start["V"]), rng)
            hom = ParameterHomotopy(start["W0"], W1, bend, T, d, k)
            with _bar(progress, z0.shape[0], f"parameter run {len(outs) + 1}/{runs}") as cb:
                o = run_homotopy(hom, z0, a, start["weights"], C, T, d, k, settings, progress=cb)
            r += 1
            # paths failing mid-way mean this bend passes near a degenerate parameter value
            # (e.g. where solutions escape to infinity): draw another bend, keep the record
            if o.mid_path_failures and r < runs + max_redraws:
                redrawn.append({"bend": r - 1, "mid_path_failures": o.mid_path_failures})
                continue
            outs.append(o)
        start_info["redrawn_bends"] = redrawn
    timings["tracking"] = time.perf_counter() - t0 - timings.get("start_system", 0.0)

    V, w, agree, per_run = _combine(outs, T, d, k)
    if not agree:
        _repair(outs, V, T, d, k, C)
        V, w, agree, per_run = _combine(outs, T, d, k)
    w = _orbit_size(V, T, d, k)
    n_sol = int(w.sum())
    accounted = all(o.accounted for o in outs)
    sing = [int(o.summary()["singular"]) for o in outs]
    max_corank = max(int(o.summary()["max_corank"]) for o in outs)
    positive_dim = any(s > 0 for s in sing) and max_corank > 0
    # a random instance is generic with probability one, so fewer solutions than the generic
    # count means missed paths far more likely than a special instance: not complete
    within_generic = generic is None or n_sol == generic
    complete = bool(accounted and agree and runs >= 2 and within_generic)
    evidence = {
        "runs": [o.summary() for o in outs],
        "n_runs": runs,
        "runs_agree": bool(agree),
        "finite_orbits_per_run": per_run,
        "all_paths_accounted": bool(accounted),
        "generic_count": generic,
        "equals_generic_count": bool(within_generic),
        "start_system": start_info,
        "total_degree_bound": 3 ** n,
        "paths_per_run": int(outs[0].weights.sum()),
        "tracked_per_run": int(outs[0].weights.size),
        "singular_endpoints": sing,
        "max_corank": max_corank,
    }

    # real solutions: polish in U units, classify, certify
    tc = time.perf_counter()
    scale = np.maximum(1.0, np.linalg.norm(V, axis=1)) if V.size else np.zeros(0)
    real = np.abs(V.imag).max(axis=1, initial=0.0) <= 1e-7 * scale if V.size else np.zeros(0, dtype=bool)
    points = []
    for v in V[real]:
        U = _real_newton(problem, (np.sqrt(rho) * v.real).reshape(T, d, k))
        cp = classify_point(problem, U)
        Hs = reduced_hessian(problem, U)
        eig = np.linalg.eigvalsh((Hs + Hs.T) / 2)
        cert, ok = None, False
        if certify:
            pc = certify_point(problem, U)
            cert = pc.to_json()
            ok = pc.certified and pc.index == cp.index and (
                pc.kind == cp.kind or (pc.kind == "saddle" and cp.kind == "saddle"))
            if pc.certified and not ok:
                cert["reason"] += f"; certified kind {pc.kind!r}/index {pc.index} does not match the float kind {cp.kind!r}"
        points.append(CensusPoint(U=U, kind=cp.kind, index=cp.index, loss=cp.loss, grad_norm=cp.grad_norm,
                                  eigenvalues=eig, orbit_size=int(_orbit_size(U.reshape(1, -1), T, d, k)[0]),
                                  certified=ok, certificate=cert))
    order = {kk: i for i, kk in enumerate(KINDS)}
    points.sort(key=lambda p: (order[p.kind], p.index, p.loss))
    timings["classify_certify"] = time.perf_counter() - tc

    by_kind = {kk: sum(1 for p in points if p.kind == kk) for kk in KINDS}
    by_kind_points = {kk: sum(p.orbit_size for p in points if p.kind == kk) for kk in KINDS}
    by_index = {}
    for p in points:
        if p.kind != "not-critical":
            by_index[str(p.index)] = by_index.get(str(p.index), 0) + 1
    counts = {
        "solutions": n_sol,
        "solution_orbits": int(V.shape[0]),
        "real": int(sum(p.orbit_size for p in points)),
        "real_orbits": len(points),
        "by_kind": by_kind,
        "by_kind_points": by_kind_points,
        "by_index": dict(sorted(by_index.items(), key=lambda kv: int(kv[0]))),
        "spurious": by_kind["spurious-min"],
        "certified": sum(1 for p in points if p.certified),
        "certified_spurious": sum(1 for p in points if p.certified and p.kind == "spurious-min"),
    }
    solutions = {
        "unit": "U",
        "re": (np.sqrt(rho) * V.real).tolist(),
        "im": (np.sqrt(rho) * V.imag).tolist(),
        "orbit_size": w.tolist(),
        "real": real.tolist(),
    }
    if complete:
        status = Status.DONE
        msg = (f"complete: {n_sol} finite complex critical points ({V.shape[0]} flip orbits), "
               f"{counts['real']} real ({len(points)} orbits): "
               + ", ".join(f"{v} {kk}" for kk, v in by_kind.items() if v)
               + f"; {counts['certified']}/{len(points)} certified")
    else:
        status = Status.UNDECIDED
        why = []
        if positive_dim:
            why.append(f"singular end points: positive-dimensional solution sets or multiple roots "
                       f"(Jacobian corank up to {max_corank})")
        elif any(sing):
            why.append(f"{sum(sing)} paths end at finite singular points")
        failed = [o.summary()["failed"] for o in outs]
        if any(failed):
            why.append(f"failed paths per run {failed}")
        dl = [o.duplicates for o in outs]
        if any(dl):
            why.append(f"duplicate end points left per run {dl} (path jumping)")
        if not agree:
            why.append(f"the {runs} runs disagree (finite orbits per run {per_run})")
        if runs < 2:
            why.append("a single run cannot show completeness")
        if not within_generic:
            why.append(f"{n_sol} finite solutions, the generic count of (d, k, T) is {generic} "
                       "(a special instance, or paths taken for diverging ones)")
        msg = "incomplete: " + "; ".join(why)
    if auto and method == "parameter" and not complete:
        # the parameter run could not account for every path: fall back to total degree
        res = census(problem, method="total-degree", seed=seed, runs=runs, certify=certify, settings=settings,
                     cache=cache, start_seed=start_seed, max_paths=max_paths, force=force, progress=progress)
        ev = dict(res.evidence, parameter_attempt={"message": msg, "runs": evidence["runs"],
                                                   "start_system": start_info})
        tm = dict(res.timings, parameter_attempt=time.perf_counter() - t0 - res.seconds)
        return replace(res, evidence=ev, timings=tm, seconds=time.perf_counter() - t0)
    return CensusResult(
        status=status, message=msg, complete=complete, positive_dimensional=bool(positive_dim), method=method,
        seed=seed, sizes={"d": d, "k": k, "T": T, "n": n}, points=tuple(points), counts=counts,
        solutions=solutions, evidence=evidence, problem=problem, seconds=time.perf_counter() - t0,
        timings=timings,
    )
