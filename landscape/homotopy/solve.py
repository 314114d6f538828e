"""Solve ``F = 0`` (all finite complex solutions) with two independent homotopy runs.

One *run* tracks one path per flip orbit of start points (:mod:`.system`), then accounts
for every path:

- ``finite``: the path reached a nonsingular solution with ``x₀ ≠ 0``; its affine point
  ``V = z/x₀`` is polished by Newton on ``F`` (affine Jacobian condition number kept);
- ``diverging``: the end point is at infinity: ``x₀ = 0`` at a nonsingular end point, or a
  singular end point whose endgame checkpoints show ``|x₀|/‖z‖`` falling by at least
  ``10^{0.05}`` in each of the last three decades of ``1 − s``
  (:func:`~.tracker.diverging_trend`; a path converging to a finite point has decay
  slopes that tend to 0);
- ``singular``: a finite singular end point (a multiple root or a point of a
  positive-dimensional component);
- ``failed``: the tracker stalled (after re-tracking: and the checkpoints show no decay
  of ``|x₀|``).

A path that still fails after that is finished by Newton at ``s = 1`` from where it
stopped, if that lands on a nonsingular solution no other path reaches
(``newton_finished``).

Missing solutions: when another run found a nonsingular solution this run lacks, it is
tracked backwards to its start point (:func:`repair_missing`), which names the path that
was misclassified; that path is reassigned and counted in ``repaired``.

Duplicates: a nonsingular solution is the end point of exactly one path, so two finite
end points on the same flip orbit (compared through the invariants ``P_t = V_tV_tᵀ``)
prove that a path jumped. Duplicated and failed paths are tracked again with the tight
settings (:meth:`TrackSettings.tight`); whatever is still unaccounted for is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .system import F_eval
from .tracker import REACHED, SINGULAR, Reversed, TrackSettings, decay_slopes, diverging_trend, track

__all__ = ["RunOutcome", "run_homotopy", "repair_missing", "orbit_invariants", "match_orbits", "affine_polish"]

FINITE, DIVERGING, SINGULAR_END, FAILED_END = "finite", "diverging", "singular", "failed"


@dataclass
class RunOutcome:
    """Accounting of one homotopy run (one γ / one bend)."""

    kind: np.ndarray  # (P,) str: finite / diverging / singular / failed
    V: np.ndarray  # (P, n) complex affine end points (NaN unless finite)
    cond: np.ndarray  # (P,) affine Jacobian condition numbers (finite paths)
    weights: np.ndarray  # (P,) paths represented by each tracked path (flip orbit size)
    exponents: np.ndarray  # (P,) fitted decay exponent w of |x0| (singular/diverging ends)
    duplicates: int  # finite paths still sharing an orbit after re-tracking
    retracked: int  # paths tracked again with tight settings
    duplicates_found: int  # duplicated paths before re-tracking
    corank: np.ndarray  # (P,) numerical corank of the affine Jacobian at singular ends
    steps: int
    rejections: int
    settings: dict = field(default_factory=dict)
    s_end: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (P,) where each path stopped
    newton_finished: int = 0  # failed paths finished by Newton at s = 1 onto an unclaimed solution
    repaired: int = 0  # paths reassigned by reverse tracking from another run's solution
    repair_failed: int = 0  # missing solutions whose reverse path found no unaccounted start
    context: tuple = field(default=(), repr=False)  # (hom, z0, a) to track again

    def summary(self) -> dict:
        w = self.weights
        out = {"tracked_paths": int(w.size), "paths": int(w.sum())}
        for k in (FINITE, DIVERGING, SINGULAR_END, FAILED_END):
            sel = self.kind == k
            out[k] = int(w[sel].sum())
            out[f"{k}_tracked"] = int(sel.sum())
        div = self.kind == DIVERGING
        fin = self.kind == FINITE
        out["min_divergence_exponent"] = float(np.min(self.exponents[div & np.isfinite(self.exponents)], initial=np.inf))
        out["max_cond"] = float(np.max(self.cond[fin], initial=0.0))
        out["duplicates_found"] = int(self.duplicates_found)
        out["retracked"] = int(self.retracked)
        out["duplicates_left"] = int(self.duplicates)
        out["steps"] = int(self.steps)
        out["rejected_steps"] = int(self.rejections)
        sing = self.kind == SINGULAR_END
        out["max_corank"] = int(np.max(self.corank[sing], initial=0))
        out["newton_finished"] = int(self.newton_finished)
        out["repaired"] = int(self.repaired)
        out["repair_failed"] = int(self.repair_failed)
        return out

    @property
    def mid_path_failures(self) -> int:
        """Tracked paths that failed before the endgame zone (``s < 0.99``): the path of
        the homotopy passes near a degenerate parameter value, not a feature of the target.
        """
        return int(np.count_nonzero((self.kind == FAILED_END) & (self.s_end < 0.99)))

    @property
    def accounted(self) -> bool:
        return (not np.any((self.kind == SINGULAR_END) | (self.kind == FAILED_END)) and self.duplicates == 0
                and self.repair_failed == 0)


def zero_blocks(z0, T: int, d: int, k: int) -> np.ndarray:
    """(P, n) mask of the coordinates of blocks ``V_t`` that are zero at the start point
    (they stay zero along the path: the subspace ``V_t = 0`` is flip-invariant).
    """
    x = np.asarray(z0)[:, 1:].reshape(len(z0), T, d * k)
    scale = np.maximum(np.abs(np.asarray(z0)).max(axis=1), 1e-300)[:, None]
    zero = np.abs(x).max(axis=2) <= 1e-12 * scale
    return np.repeat(zero, d * k, axis=1)


def orbit_invariants(V, T: int, d: int, k: int) -> np.ndarray:
    """Flip-invariant coordinates ``P_t = V_tV_tᵀ`` (upper triangles), shape (P, T·d(d+1)/2)."""
    V = np.asarray(V).reshape(-1, T, d, k)
    P = np.einsum("ptik,ptjk->ptij", V, V)
    iu = np.triu_indices(d)
    return P[:, :, iu[0], iu[1]].reshape(V.shape[0], T * iu[0].size)


def _groups(X, tol: float) -> np.ndarray:
    """Greedy clustering labels of the rows of ``X`` (distance ``≤ tol·max(1, ‖x‖)``)."""
    labels = np.full(X.shape[0], -1, dtype=np.int64)
    reps: list[int] = []
    for i in range(X.shape[0]):
        if reps:
            R = X[reps]
            dist = np.linalg.norm(R - X[i], axis=1)
            j = int(np.argmin(dist))
            if dist[j] <= tol * max(1.0, float(np.linalg.norm(X[i]))):
                labels[i] = labels[reps[j]]
                continue
        labels[i] = len(reps)
        reps.append(i)
    return labels


def match_orbits(A, B, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """For invariant rows ``A`` and ``B``: which rows of each have a partner in the other."""
    inA = np.zeros(A.shape[0], dtype=bool)
    inB = np.zeros(B.shape[0], dtype=bool)
    if A.shape[0] and B.shape[0]:
        for i in range(A.shape[0]):
            dist = np.linalg.norm(B - A[i], axis=1)
            j = int(np.argmin(dist))
            if dist[j] <= tol * max(1.0, float(np.linalg.norm(A[i]))):
                inA[i] = True
                inB[j] = True
    return inA, inB


def affine_polish(V, C, T, d, k, iters: int = 5):
    """Newton on the affine system ``F(V) = 0`` (x₀ = 1); returns (V, residual, cond, corank)."""
    V = np.array(V, dtype=complex)
    one = np.ones((V.shape[0], 1), dtype=complex)
    for _ in range(iters):
        F, J = F_eval(np.concatenate([one, V], axis=1), C, T, d, k)
        try:
            dV = np.linalg.solve(J[:, :, 1:], -F[..., None])[..., 0]
        except np.linalg.LinAlgError:
            dV = np.zeros_like(V)
            for i in range(V.shape[0]):
                try:
                    dV[i] = np.linalg.solve(J[i, :, 1:], -F[i])
                except np.linalg.LinAlgError:
                    pass
        ok = np.isfinite(dV).all(axis=1)
        V[ok] += dV[ok]
    F, J = F_eval(np.concatenate([one, V], axis=1), C, T, d, k)
    sv = np.linalg.svd(J[:, :, 1:], compute_uv=False) if V.shape[0] else np.zeros((0, V.shape[1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = sv[:, 0] / sv[:, -1] if V.shape[0] else np.zeros(0)
    corank = (sv < 1e-7 * sv[:, :1]).sum(axis=1) if V.shape[0] else np.zeros(0, dtype=int)
    return V, np.linalg.norm(F, axis=1), cond, corank


def _decay_exponent(cp: np.ndarray) -> np.ndarray:
    """Per path: the smallest of the last three decay slopes of ``|x₀|/‖z‖`` (NaN if fewer)."""
    sl = decay_slopes(cp, 3)
    return np.where(np.isfinite(sl).all(axis=1), np.nanmin(np.where(np.isfinite(sl), sl, np.inf), axis=1), np.nan)


def _classify_ends(res, C, T, d, k, *, inf_ratio=1e-8, w_min=0.05, cond_max=1e10, allow_stalled=False):
    P = res.n_paths
    kind = np.full(P, FAILED_END, dtype=object)
    V = np.full((P, T * d * k), np.nan + 0j)
    cond = np.full(P, np.nan)
    corank = np.zeros(P, dtype=np.int64)
    ratio = np.abs(res.z[:, 0]) / np.linalg.norm(res.z, axis=1)
    w = _decay_exponent(res.checkpoints)
    reached = res.status == REACHED
    kind[reached & (ratio <= inf_ratio)] = DIVERGING
    cand = np.flatnonzero(reached & (ratio > inf_ratio))
    if cand.size:
        Vc, resid, cc, cr = affine_polish(res.z[cand, 1:] / res.z[cand, :1], C, T, d, k)
        scale = np.maximum(1.0, np.linalg.norm(Vc, axis=1)) ** 3
        good = np.isfinite(cc) & (cc < cond_max) & (resid <= 1e-10 * scale)
        kind[cand[good]] = FINITE
        V[cand[good]] = Vc[good]
        cond[cand] = cc
        kind[cand[~good]] = SINGULAR_END
        corank[cand] = cr
    # after re-tracking, a stalled path whose checkpoints show the power-law decay of |x0|
    # is taken as diverging (weaker evidence: the second run cross-checks it)
    if allow_stalled:
        stalled = np.flatnonzero(res.status > SINGULAR)
        kind[stalled[diverging_trend(res.checkpoints[stalled], w_min)]] = DIVERGING
    sing = np.flatnonzero(res.status == SINGULAR)
    if sing.size:
        div = diverging_trend(res.checkpoints[sing], w_min)
        kind[sing[div]] = DIVERGING
        rest = sing[~div]
        kind[rest] = SINGULAR_END
        if rest.size:
            z = res.z[rest]
            fin = np.abs(z[:, 0]) > 0
            if fin.any():
                _, _, cc, cr = affine_polish(z[fin, 1:] / z[fin, :1], C, T, d, k, iters=0)
                corank[rest[fin]] = cr
                cond[rest[fin]] = cc
    return kind, V, cond, w, corank


def run_homotopy(hom, z0, a, weights, C, T, d, k, settings: TrackSettings | None = None, *,
                 retrack: bool = True, progress=None) -> RunOutcome:
    """Track, account for every path, re-track duplicates and failures (module docstring).

    ``C`` is the target's scaled data (the system at ``s = 1``), used for the affine polish.
    """
    st = settings or TrackSettings()
    frozen = zero_blocks(z0, T, d, k)
    res = track(hom, z0, a, st, progress=progress, frozen=frozen)
    s_end = res.s.copy()
    kind, V, cond, w, corank = _classify_ends(res, C, T, d, k)
    steps, rejections = int(res.steps.sum()), int(res.rejections.sum())
    dup_idx = _duplicated(kind, V, T, d, k)
    n_dup0 = int(dup_idx.size)
    todo = np.union1d(dup_idx, np.flatnonzero((kind == FAILED_END) | (kind == SINGULAR_END)))
    retracked = 0
    newton_finished = 0
    if retrack and todo.size:
        retracked = int(todo.size)
        res2 = track(hom, z0[todo], a, st.tight(), frozen=frozen[todo])
        k2, V2, c2, w2, cr2 = _classify_ends(res2, C, T, d, k, allow_stalled=True)
        kind[todo], V[todo], cond[todo], w[todo], corank[todo] = k2, V2, c2, w2, cr2
        s_end[todo] = np.maximum(s_end[todo], res2.s)
        steps += int(res2.steps.sum())
        rejections += int(res2.rejections.sum())
        # still failed: one deep attempt (tiny steps allowed, endgame down to 1e-8), then
        # the decay test on whichever attempt got furthest
        left = np.flatnonzero(kind == FAILED_END)
        if left.size:
            deep = replace(st.tight(), eg_ratio=st.eg_ratio * 1e-4, eg_gap=1e-9, h_max=st.h_max / 25, tol=st.tol * 10)
            res3 = track(hom, z0[left], a, deep, frozen=frozen[left])
            k3, V3, c3, w3, cr3 = _classify_ends(res3, C, T, d, k, allow_stalled=True)
            kind[left], V[left], cond[left], w[left], corank[left] = k3, V3, c3, w3, cr3
            s_end[left] = np.maximum(s_end[left], res3.s)
            steps += int(res3.steps.sum())
            rejections += int(res3.rejections.sum())
            retracked += int(left.size)
            still = np.flatnonzero(kind == FAILED_END)
            for resx in (res2, res):
                if still.size == 0:
                    break
                pos = still if resx is res else np.searchsorted(todo, still)
                div = diverging_trend(resx.checkpoints[pos], 0.05)
                kind[still[div]] = DIVERGING
                still = still[~div]
            newton_finished = _newton_finish(hom, a, res3, left, still, kind, V, cond, C, T, d, k)
    dups = _duplicated(kind, V, T, d, k)
    return RunOutcome(kind=kind, V=V, cond=cond, weights=np.asarray(weights, dtype=np.int64), exponents=w,
                      duplicates=int(dups.size), retracked=retracked, duplicates_found=n_dup0, corank=corank,
                      steps=steps, rejections=rejections, settings=st.to_json(), context=(hom, z0, a, st),
                      s_end=s_end, newton_finished=newton_finished)


def repair_missing(out: RunOutcome, missing_V, C, T, d, k) -> None:
    """Find, by reverse tracking, the paths of ``out`` that should have reached ``missing_V``.

    Each missing solution (nonsingular, found by another run) is tracked from ``s = 1``
    back to ``s = 0`` with the tight settings; its end point is a start point, and the path
    from that start point is the one that was misclassified (a finite path taken for a
    diverging one, or a failed one). It is reassigned only if it is not already finite;
    otherwise ``repair_failed`` counts the conflict and the census stays incomplete.
    """
    hom, z0, a, st = out.context
    missing_V = np.asarray(missing_V, dtype=complex)
    if missing_V.shape[0] == 0:
        return
    zs = np.concatenate([np.ones((missing_V.shape[0], 1)), missing_V], axis=1)
    zs = zs / (zs @ a)[:, None]
    back = track(Reversed(hom), zs, a, st.tight())
    x0 = back.z[:, :1]
    ok = (back.status == REACHED) & (np.abs(x0[:, 0]) > 1e-8 * np.linalg.norm(back.z, axis=1))
    start_aff = z0[:, 1:] / z0[:, :1]
    I_start = orbit_invariants(start_aff, T, d, k)
    for i in range(missing_V.shape[0]):
        if not ok[i]:
            out.repair_failed += 1
            continue
        inv = orbit_invariants(back.z[i:i + 1, 1:] / x0[i:i + 1], T, d, k)[0]
        dist = np.linalg.norm(I_start - inv, axis=1)
        j = int(np.argmin(dist))
        if dist[j] > 1e-6 * max(1.0, float(np.linalg.norm(inv))) or out.kind[j] == FINITE:
            out.repair_failed += 1
            continue
        Vp, _, cc, _ = affine_polish(missing_V[i:i + 1], C, T, d, k)
        out.kind[j] = FINITE
        out.V[j] = Vp[0]
        out.cond[j] = cc[0]
        out.repaired += 1


def _newton_finish(hom, a, res3, left, still, kind, V, cond, C, T, d, k) -> int:
    """Last resort for paths that failed three times: Newton at ``s = 1`` from where the deep
    attempt stopped. Accepted only onto a finite nonsingular solution that no other path of
    the run reaches (a nonsingular solution ends exactly one path, so if this one is not it,
    another path is misclassified and the second run's cross-check exposes it).
    """
    from .tracker import _newton

    if still.size == 0:
        return 0
    pos = np.searchsorted(left, still)
    z = res3.z[pos]
    zc, ok, _ = _newton(hom, a, z, np.ones(len(z)), 1e-12, 30)
    ok &= np.isfinite(zc).all(axis=1) & (np.abs(zc[:, 0]) > 1e-8 * np.linalg.norm(zc, axis=1))
    done = 0
    for i, j in enumerate(still):
        if not ok[i]:
            continue
        Vp, resid, cc, _ = affine_polish(zc[i:i + 1, 1:] / zc[i:i + 1, :1], C, T, d, k)
        if not (np.isfinite(cc[0]) and cc[0] < 1e10 and resid[0] <= 1e-10 * max(1.0, np.linalg.norm(Vp)) ** 3):
            continue
        fin = np.flatnonzero(kind == FINITE)
        if fin.size:
            inv = orbit_invariants(Vp, T, d, k)
            have, _ = match_orbits(inv, orbit_invariants(V[fin], T, d, k))
            if have[0]:
                continue
        kind[j], V[j], cond[j] = FINITE, Vp[0], cc[0]
        done += 1
    return done


def _duplicated(kind, V, T, d, k, tol: float = 1e-6) -> np.ndarray:
    """Indices of finite paths whose end points share a flip orbit with another path's."""
    fin = np.flatnonzero(kind == FINITE)
    if fin.size < 2:
        return np.zeros(0, dtype=np.int64)
    labels = _groups(orbit_invariants(V[fin], T, d, k), tol)
    counts = np.bincount(labels)
    return fin[counts[labels] > 1]
