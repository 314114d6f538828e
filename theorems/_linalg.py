"""Numerical rank with a stated singular-value gap rule, and the independence assumption.

Rank rule (used by every check)
-------------------------------
A matrix ``M`` (m×n) computed in float64 from operands of magnitude at most ``scale``
carries a rounding error ``δM`` with ``‖δM‖₂ ≲ c·max(m, n)·ε·scale`` for a small ``c``
(ε = 2⁻⁵² ≈ 2.2e-16). By Weyl's inequality every singular value moves by at most
``‖δM‖₂``. We therefore call

    τ = RANK_FACTOR · max(m, n) · ε · scale + extra,     RANK_FACTOR = 64,

the *noise floor* and define ``rank_τ(M) = #{i : σ_i(M) > τ}``. ``extra`` adds a known
perturbation bound (e.g. ``‖E_t‖_F`` at a point of small but non-zero loss). Alongside the
rank we report the *gap*: ``σ_r / max(σ_{r+1}, τ)`` — how far the smallest "signal"
singular value sits above the largest "noise" one. A rank decision with gap below
``MIN_GAP`` is flagged as fragile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = float(np.finfo(np.float64).eps)
#: Multiplier of ``max(m, n)·ε·scale`` in the noise floor (a generous margin over the
#: ``O(n ε)`` backward error of forming and decomposing the matrix).
RANK_FACTOR = 64.0
#: Gaps ``σ_r / σ_{r+1}`` below this make a rank decision fragile.
MIN_GAP = 1e3


@dataclass(frozen=True)
class RankInfo:
    rank: int
    singular_values: np.ndarray
    threshold: float
    gap: float

    def to_json(self) -> dict:
        return {
            "rank": self.rank,
            "singular_values": [float(s) for s in self.singular_values],
            "threshold": self.threshold,
            "gap": self.gap,
        }


def noise_floor(shape, scale: float, extra: float = 0.0) -> float:
    """``τ = RANK_FACTOR · max(m, n) · ε · scale + extra`` (see module docstring)."""
    return RANK_FACTOR * max(shape) * EPS * float(scale) + float(extra)


def numerical_rank(M, *, scale: float | None = None, extra: float = 0.0) -> RankInfo:
    """Rank of ``M`` under the gap rule of this module.

    Parameters
    ----------
    M : (m, n) array
    scale : float, optional
        Magnitude of the operands ``M`` was computed from (default ``‖M‖₂``). For a
        difference such as ``A_SR − A*`` pass the size of the operands, not of the result.
    extra : float
        Additional known bound on ``‖δM‖₂`` added to the noise floor.
    """
    M = np.asarray(M, dtype=np.float64)
    s = np.linalg.svd(M, compute_uv=False)
    if scale is None:
        scale = float(s[0]) if s.size else 0.0
    tau = noise_floor(M.shape, scale, extra)
    r = int(np.count_nonzero(s > tau))
    if r == 0:
        gap = 0.0
    else:
        nxt = float(s[r]) if r < s.size else 0.0
        gap = float(s[r - 1] / max(nxt, tau)) if max(nxt, tau) > 0 else float("inf")
    return RankInfo(r, s, float(tau), gap)


def column_independence(V) -> dict:
    """Whether the columns of ``V`` (d×m) are linearly independent, numerically.

    Independent iff ``m <= d`` and ``rank_τ(V) = m`` with ``scale = ‖V‖₂``. Returns the
    verdict, the rank, and ``σ_min/σ_max`` (the relative distance to dependence).
    """
    V = np.asarray(V, dtype=np.float64)
    d, m = V.shape
    if m > d:
        return {"independent": False, "columns": m, "d": d, "rank": min(d, m), "reason": f"{m} columns in dimension {d}"}
    info = numerical_rank(V)
    s = info.singular_values
    rel = float(s[-1] / s[0]) if s.size and s[0] > 0 else 0.0
    out = {"independent": info.rank == m, "columns": m, "d": d, "rank": info.rank, "sigma_min_over_max": rel}
    if info.rank < m:
        out["reason"] = f"numerical rank {info.rank} < {m} columns"
    return out


def frob(M) -> float:
    return float(np.linalg.norm(np.asarray(M), "fro"))
