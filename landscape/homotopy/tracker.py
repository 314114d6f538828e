"""A vectorised predictor–corrector path tracker on a random affine chart.

All paths advance together: every array carries a leading path axis and the linear
algebra is numpy's batched ``solve``; finished paths leave the active set. One step of a
path at ``s`` with step ``h``:

1. **Predictor** (classical Runge–Kutta 4) for the Davidenko equation
   ``[H_z; a] ż = [−H_s; 0]`` (the chart ``a·z = 1`` is the last row).
2. **Corrector**: at most ``max_newton`` Newton steps on ``[H(z, s+h); a·z − 1] = 0``.
   The step is accepted only if the Newton corrections shrink (each ``≤ ½`` of the
   previous one once above the tolerance) and reach ``‖Δz‖ ≤ tol·‖z‖``; this keeps a path
   from being captured by a neighbouring one (path jumping), which the census still
   checks for independently (duplicate end points, a second γ).
3. **Step control**: halve ``h`` on rejection, double it after 3 accepted steps (at
   most ``h_max``). ``h < h_min`` stops the path as ``STALLED``.

Endgame zone ``1 − s ≤ 10⁻²``: steps are capped at ``0.7(1 − s)`` so that ``s → 1``
geometrically. Each time a path passes ``1 − s = 10^{-j}`` (j = 2..12) the tracker
records ``|x₀|/‖z‖`` (the homogenising coordinate; it tends to 0 along a diverging path
like ``(1 − s)^w``, ``w > 0``), and from ``1 − s ≤ 10⁻³`` on it tries to finish with
Newton at ``s = 1``: quadratic convergence with a well-conditioned Jacobian ends the path
as ``REACHED`` (a nonsingular end point). A path that gets within ``10⁻¹²`` of ``s = 1``
without that, whose steps fall below ``10⁻²(1 − s)`` once ``1 − s ≤ 10⁻⁵``, or whose
checkpoints by then show a steady decay of ``|x₀|`` (:func:`diverging_trend`), ends as
``SINGULAR`` (its checkpoints tell a diverging path from a finite
singular one; see :func:`landscape.homotopy.census`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["TrackSettings", "TrackResult", "track", "diverging_trend", "REACHED", "SINGULAR", "STALLED", "FAILED"]

REACHED, SINGULAR, STALLED, FAILED = 1, 2, 3, 4
CONTRACT = 0.5  # a Newton correction must shrink by this factor (above the tolerance)
STATUS_NAMES = {0: "active", REACHED: "reached", SINGULAR: "singular", STALLED: "stalled", FAILED: "failed"}


@dataclass(frozen=True)
class TrackSettings:
    """Tracking tolerances (module docstring); :meth:`tight` gives the re-tracking ones."""

    h_init: float = 0.01
    h_max: float = 0.05
    h_min: float = 1e-14
    tol: float = 1e-9
    max_newton: int = 3
    max_steps: int = 20000
    end_tol: float = 1e-12
    end_cond: float = 1e9
    endgame: float = 1e-2
    end_gap: float = 1e-12
    eg_ratio: float = 1e-2
    eg_gap: float = 1e-5
    w_min: float = 0.05
    chunk: int = 4096

    def tight(self) -> "TrackSettings":
        # smaller steps (what prevents jumps); the same Newton tolerance: a tighter one
        # makes paths near singular end points stall
        return TrackSettings(
            h_init=self.h_init / 10, h_max=self.h_max / 5, h_min=self.h_min, tol=self.tol,
            max_newton=self.max_newton, max_steps=self.max_steps * 5, end_tol=self.end_tol, end_cond=self.end_cond,
            endgame=self.endgame, end_gap=self.end_gap, eg_ratio=self.eg_ratio / 10,
            eg_gap=self.eg_gap, w_min=self.w_min, chunk=self.chunk,
        )

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class TrackResult:
    """End points and diagnostics of a batch of paths (arrays over paths)."""

    z: np.ndarray  # (P, N) end points (projective coordinates on the chart)
    s: np.ndarray  # (P,) where each path stopped
    status: np.ndarray  # (P,) REACHED / SINGULAR / STALLED / FAILED
    steps: np.ndarray  # (P,) accepted steps
    rejections: np.ndarray  # (P,) rejected steps
    cond: np.ndarray  # (P,) condition number of the chart Jacobian at the end (REACHED)
    checkpoints: np.ndarray  # (P, J) |x0|/‖z‖ at 1 − s = 10^{-j}, j = 2..; NaN if not reached
    settings: TrackSettings = field(default_factory=TrackSettings)

    @property
    def n_paths(self) -> int:
        return int(self.z.shape[0])


CHECKPOINT_EXPONENTS = np.arange(2, 13)


def decay_slopes(cp: np.ndarray, last: int = 3) -> np.ndarray:
    """``log10(q_j/q_{j+1})`` over the last ``last`` decades of checkpoints (NaN-padded), (P, last)."""
    out = np.full((cp.shape[0], last), np.nan)
    for i, row in enumerate(cp):
        q = row[np.isfinite(row) & (row > 0)]
        if q.size >= 2:
            sl = np.log10(q[:-1] / q[1:])[-last:]
            out[i, last - sl.size:] = sl
    return out


def diverging_trend(cp: np.ndarray, w_min: float = 0.05) -> np.ndarray:
    """Endgame test for divergence from the checkpoints ``q_j = |x₀|/‖z‖`` at ``1 − s = 10^{-j}``.

    Along a path to infinity ``q ∝ (1 − s)^w`` with a fixed rational ``w > 0``, so each
    decade shrinks ``q`` by ``10^w``; along a path to a finite point ``q`` converges and the
    slopes ``log10(q_j/q_{j+1})`` decay geometrically to 0. Diverging: the last three slopes
    are all ``≥ w_min`` and the last is at least half the one before (not decaying); with
    only two slopes, both ``≥ w_min``, the second at least 0.8× the first and ``q < 10⁻²``
    at the last checkpoint.
    """
    sl = decay_slopes(cp, 3)
    # the last slope must not have collapsed: a path converging to a finite point with
    # large norm has q − q* ∝ (1 − s), i.e. slopes shrinking ~10× per decade
    three = np.all(np.isfinite(sl) & (sl >= w_min), axis=1) & (sl[:, 2] >= 0.5 * sl[:, 1])
    two = np.isfinite(sl[:, 1:]).all(axis=1) & ~np.isfinite(sl[:, 0])
    two &= (sl[:, 1] >= w_min) & (sl[:, 2] >= np.maximum(w_min, 0.8 * sl[:, 1]))
    last = np.array([row[np.isfinite(row)][-1] if np.isfinite(row).any() else np.nan for row in cp])
    two &= last < 1e-2
    return three | two


def _solve(A, b):
    """Batched ``A x = b``; singular or non-finite systems give NaN rows instead of raising."""
    try:
        return np.linalg.solve(A, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.full(b.shape, np.nan + 0j)
        for i in range(A.shape[0]):
            try:
                out[i] = np.linalg.solve(A[i], b[i])
            except np.linalg.LinAlgError:
                pass
        return out


def _chart(Hz, a, frozen=None, rhs=None):
    """The chart Jacobian ``[H_z; a]``; coordinates in ``frozen`` (B, N−1) are pinned.

    A path from a start point with ``V_t = 0`` stays in the invariant subspace ``V_t = 0``
    (flip symmetry), where ``F_t ≡ 0``. We solve only the system restricted to that
    subspace: row ``c`` and column ``c + 1`` become the identity (so ``Δz_{c+1} = 0``). The
    transverse block ``−P̄ − x₀²C_t`` may turn singular along the path (a branch of
    solutions with ``V_t ≠ 0`` crossing this one) without affecting the path itself.
    """
    B = Hz.shape[0]
    A = np.concatenate([Hz, np.broadcast_to(a, (B, 1, a.size))], axis=1)
    if frozen is not None and frozen.any():
        b, c = np.nonzero(frozen)
        A[b, c, :] = 0
        A[b, :, c + 1] = 0
        A[b, c, c + 1] = 1
        if rhs is not None:
            rhs[b, c] = 0
    return A


def _velocity(hom, a, z, s, frozen=None):
    _, Hz, Hs = hom(z, s)
    rhs = np.concatenate([-Hs, np.zeros((z.shape[0], 1), dtype=complex)], axis=1)
    return _solve(_chart(Hz, a, frozen, rhs), rhs)


def _newton(hom, a, z, s, tol, max_newton, frozen=None):
    """Up to ``max_newton`` Newton steps; returns (z, converged, last correction)."""
    z = z.copy()
    conv = np.zeros(z.shape[0], dtype=bool)
    bad = np.zeros(z.shape[0], dtype=bool)
    prev = np.full(z.shape[0], np.inf)
    last = np.full(z.shape[0], np.inf)
    for _ in range(max_newton):
        todo = np.flatnonzero(~conv & ~bad)
        if todo.size == 0:
            break
        zt = z[todo]
        H, Hz, _ = hom(zt, s[todo])
        res = -np.concatenate([H, (zt @ a - 1.0)[:, None]], axis=1)
        dz = _solve(_chart(Hz, a, None if frozen is None else frozen[todo], res), res)
        nd = np.linalg.norm(dz, axis=1)
        nz = np.linalg.norm(zt, axis=1)
        ok = np.isfinite(nd)
        z[todo[ok]] = zt[ok] + dz[ok]
        thr = tol * np.maximum(nz, 1.0)
        # a correction that does not contract (above the tolerance) means we are not in
        # the quadratic basin of this path: reject rather than risk a jump
        diverging = (nd > CONTRACT * prev[todo]) & (nd > thr)
        bad[todo[~ok | diverging]] = True
        conv[todo[ok & ~diverging & (nd <= thr)]] = True
        prev[todo] = nd
        last[todo] = nd
    return z, conv & ~bad, last


def track(hom, z0, a, settings: TrackSettings | None = None, *, progress=None, frozen=None) -> TrackResult:
    """Track the paths of ``hom`` from ``z0`` (P, N) at ``s = 0`` to ``s = 1`` on the chart ``a·z = 1``.

    Parameters
    ----------
    hom : callable
        ``hom(z, s) -> (H, H_z, H_s)`` with shapes (B, N−1), (B, N−1, N), (B, N−1).
    z0 : (P, N) complex array
        Start points (solutions of ``H(·, 0) = 0`` on the chart).
    a : (N,) complex array
        The chart.
    settings : TrackSettings
    progress : callable, optional
        Called with the number of paths finished since the last call.
    frozen : (P, N−1) bool array, optional
        Affine coordinates pinned to 0 along each path (an invariant subspace, see
        :func:`_chart`); they are set to exactly 0 at the start.
    """
    st = settings or TrackSettings()
    z0 = np.asarray(z0, dtype=complex)
    P, N = z0.shape
    Z = z0.copy()
    if frozen is not None:
        frozen = np.asarray(frozen, dtype=bool)
        Z[:, 1:][frozen] = 0
    S = np.zeros(P)
    Hh = np.full(P, st.h_init)
    succ = np.zeros(P, dtype=np.int64)
    status = np.zeros(P, dtype=np.int64)
    steps = np.zeros(P, dtype=np.int64)
    rej = np.zeros(P, dtype=np.int64)
    cond = np.full(P, np.nan)
    cps = np.full((P, CHECKPOINT_EXPONENTS.size), np.nan)
    cp_gap = 10.0 ** (-CHECKPOINT_EXPONENTS.astype(float))
    while True:
        act = np.flatnonzero(status == 0)
        if act.size == 0:
            break
        I = act[: st.chunk]
        z, s = Z[I], S[I]
        gap = 1.0 - s
        h = np.minimum(Hh[I], gap)
        in_eg = gap <= st.endgame
        h = np.where(in_eg, np.minimum(h, 0.7 * gap), h)
        fr = None if frozen is None else frozen[I]
        k1 = _velocity(hom, a, z, s, fr)
        k2 = _velocity(hom, a, z + (h / 2)[:, None] * k1, s + h / 2, fr)
        k3 = _velocity(hom, a, z + (h / 2)[:, None] * k2, s + h / 2, fr)
        k4 = _velocity(hom, a, z + h[:, None] * k3, s + h, fr)
        zp = z + (h / 6)[:, None] * (k1 + 2 * k2 + 2 * k3 + k4)
        s1 = np.minimum(s + h, 1.0)
        zc, ok, _ = _newton(hom, a, zp, s1, st.tol, st.max_newton, fr)
        ok &= np.isfinite(zc).all(axis=1)
        acc, rj = I[ok], I[~ok]
        # accepted steps
        old_gap = 1.0 - S[acc]
        Z[acc], S[acc] = zc[ok], s1[ok]
        steps[acc] += 1
        succ[acc] += 1
        grow = acc[succ[acc] >= 3]
        Hh[grow] = np.minimum(2 * Hh[grow], st.h_max)
        succ[grow] = 0
        new_gap = 1.0 - S[acc]
        crossed = (old_gap[:, None] > cp_gap[None]) & (new_gap[:, None] <= cp_gap[None])
        if crossed.any():
            ratio = np.abs(Z[acc, 0]) / np.linalg.norm(Z[acc], axis=1)
            rows, cols = np.nonzero(crossed)
            cps[acc[rows], cols] = ratio[rows]
        # rejected steps
        Hh[rj] /= 2
        succ[rj] = 0
        rej[rj] += 1
        status[rj[Hh[rj] < st.h_min]] = STALLED
        # in the endgame a step far below the distance to s = 1 means a singular end point
        # is near (the Jacobian degenerates); stop and let the checkpoints speak
        gap_rj = 1.0 - S[rj]
        near = gap_rj <= st.eg_gap
        status[rj[near & (Hh[rj] < st.eg_ratio * gap_rj)]] = SINGULAR
        # before that, tiny steps may just be a sharp turn of a path to a nonsingular
        # point: allow much smaller steps before giving up
        status[rj[~near & (gap_rj <= st.endgame) & (Hh[rj] < st.eg_ratio * 1e-2 * gap_rj)]] = STALLED
        status[acc[S[acc] >= 1.0]] = SINGULAR  # provisional; the end check below decides
        # end check: Newton at s = 1 from paths that just crossed a checkpoint with gap <= 1e-3
        probe = acc[(crossed[:, 1:].any(axis=1)) | (S[acc] >= 1.0)]
        if probe.size:
            _end_check(hom, a, Z, S, status, cond, probe, st, None if frozen is None else frozen[probe])
        status[acc[(status[acc] == 0) & (1.0 - S[acc] < st.end_gap)]] = SINGULAR
        # a path whose |x0|/‖z‖ keeps falling by a steady power of (1 − s) diverges: stop it
        # (the census re-applies the same test to classify it)
        watch = acc[crossed.any(axis=1) & (status[acc] == 0) & (1.0 - S[acc] <= st.eg_gap)]
        if watch.size:
            status[watch[diverging_trend(cps[watch], st.w_min)]] = SINGULAR
        too_long = I[(steps[I] + rej[I] >= st.max_steps) & (status[I] == 0)]
        status[too_long] = FAILED
        if progress is not None:
            progress(int(np.count_nonzero(status[I] != 0)))
    return TrackResult(Z, S, status, steps, rej, cond, cps, st)


def _end_check(hom, a, Z, S, status, cond, idx, st, frozen=None):
    """Finish paths whose end point is a nonsingular solution at ``s = 1`` (module docstring)."""
    one = np.ones(idx.size)
    zc, ok, last = _newton(hom, a, Z[idx], one, st.end_tol, 6, frozen)
    ok &= np.isfinite(zc).all(axis=1)
    if not ok.any():
        return
    i_ok = idx[ok]
    _, Hz, _ = hom(zc[ok], one[ok])
    # the full Jacobian, not the pinned one: the end point must be nonsingular for F itself
    c = np.linalg.cond(_chart(Hz, a))
    good = np.isfinite(c) & (c <= st.end_cond)
    # the Newton limit must stay close to the tracked point: otherwise it is another path's
    near = np.linalg.norm(zc[ok] - Z[i_ok], axis=1) <= 1e-2 * np.maximum(np.linalg.norm(Z[i_ok], axis=1), 1.0)
    fin = i_ok[good & near]
    Z[fin] = zc[ok][good & near]
    S[fin] = 1.0
    status[fin] = REACHED
    cond[fin] = c[good & near]


class Reversed:
    """The homotopy run backwards, ``H̃(z, σ) = H(z, 1 − σ)``: tracks a solution of the
    target system back to a start point (used to find the path that should have reached
    it).
    """

    def __init__(self, hom):
        self.hom = hom

    def __call__(self, z, s):
        H, Hz, Hs = self.hom(z, 1.0 - s)
        return H, Hz, -Hs


def newton_polish(hom, a, z, iters: int = 8):
    """Newton at ``s = 1`` to machine precision; returns (z, final correction norms, cond)."""
    one = np.ones(z.shape[0])
    z = z.copy()
    nd = np.full(z.shape[0], np.inf)
    for _ in range(iters):
        H, Hz, _ = hom(z, one)
        res = np.concatenate([H, (z @ a - 1.0)[:, None]], axis=1)
        dz = _solve(_chart(Hz, a), -res)
        nd = np.linalg.norm(dz, axis=1)
        okk = np.isfinite(nd)
        z[okk] += dz[okk]
    _, Hz, _ = hom(z, one)
    return z, nd, np.linalg.cond(_chart(Hz, a))
