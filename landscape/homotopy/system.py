"""The critical-point equations of ``G`` as a homogeneous cubic system, and its homotopies.

Critical points of the reduced loss (docs/math.md §4) solve ``∇_{U_t}G = (4/T)(D_t − D̄)U_t = 0``.
Dropping the factor ``4/T`` and writing ``P_t = U_tU_tᵀ`` (a plain transpose, also for
complex ``U``), ``C_t = R*_t − R̄*`` with ``R̄* = (1/T)Σ_s R*_s``:

    ``F_t(U) = (P_t − P̄ − C_t) U_t = 0``,   t = 1..T   (``n = Tdk`` cubic equations).

Scaling: we solve for ``V = U/√ρ`` with ``C̃_t = C_t/ρ`` (``ρ`` the problem scale of
:func:`landscape.multistart.problem_scale`), so solutions have entries of order one.

Projective form: with a homogenising coordinate ``x₀`` and ``z = (x₀, V)`` the system is

    ``F_t(z) = (P_t − P̄ − x₀² C̃_t) V_t``,

homogeneous of degree 3; finite solutions have ``x₀ ≠ 0`` (``V = V/x₀``), solutions at
infinity have ``x₀ = 0``. Paths are tracked on a random affine chart ``a·z = 1`` (one extra
linear equation), where paths that diverge in ``Cⁿ`` stay bounded.

Symmetry: ``F_t`` is odd in ``V_t`` and even in every other block, so the sign flips
``V_t → −V_t`` map solutions to solutions. The start system ``g_i = x_i³ − x_i x₀²``
(solutions ``x_i ∈ {−1, 0, 1}``) has the same symmetry, hence so does the total-degree
homotopy ``H = (1−s)γ g + s F``: paths from flipped start points are flipped paths, and one
path per flip orbit of start points suffices.

Jacobian of ``F`` with respect to ``V_s[a, c]`` (``δ`` Kronecker, ``M_t = P_t − P̄ − x₀²C̃_t``):

    ``∂F_t[i,l]/∂V_s[a,c] = (δ_ts − 1/T)(δ_ia (V_sᵀV_t)[c,l] + V_s[i,c] V_t[a,l]) + δ_ts δ_lc M_t[i,a]``,
    ``∂F_t/∂x₀ = −2 x₀ C̃_t V_t``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "scaled_data",
    "F_eval",
    "TotalDegreeHomotopy",
    "ParameterHomotopy",
    "start_orbit_points",
    "n_start_orbits",
]


def scaled_data(U_star, rho: float):
    """``C̃_t = (R*_t − R̄*)/ρ`` from factors ``U*`` (T, d, k) (real or complex), shape (T, d, d)."""
    Us = np.asarray(U_star) / np.sqrt(rho)
    R = np.einsum("tik,tjk->tij", Us, Us)
    return R - R.mean(axis=0, keepdims=True)


def F_eval(z, C, T: int, d: int, k: int, *, jac: bool = True):
    """Homogenised ``F`` (B, n) and its Jacobian (B, n, n+1) at ``z`` (B, n+1).

    ``C`` is (T, d, d) or per path (B, T, d, d). Column 0 of the Jacobian is ``∂/∂x₀``.
    """
    B = z.shape[0]
    x0 = z[:, 0]
    V = z[:, 1:].reshape(B, T, d, k)
    P = np.einsum("btik,btjk->btij", V, V)
    Cb = C if C.ndim == 4 else C[None]
    M = P - P.mean(axis=1, keepdims=True) - (x0 * x0)[:, None, None, None] * Cb
    F = np.einsum("btij,btjk->btik", M, V).reshape(B, -1)
    if not jac:
        return F, None
    n = T * d * k
    E = np.eye(T) - 1.0 / T
    Gm = np.einsum("bsjc,btjl->btlsc", V, V)  # (V_sᵀV_t)[c, l] at [b, t, l, s, c]
    J = np.einsum("ts,btlsc->btlsc", E, Gm)[:, :, None, :, :, None, :] * np.eye(d)[None, None, :, None, None, :, None]
    J = J + np.einsum("ts,bsic,btal->btilsac", E, V, V)
    for t in range(T):
        for c in range(k):
            J[:, t, :, c, t, :, c] += M[:, t]
    Jz = np.empty((B, n, n + 1), dtype=np.result_type(z, C))
    Jz[:, :, 1:] = J.reshape(B, n, n)
    Jz[:, :, 0] = (-2 * x0[:, None, None, None] * np.einsum("btij,btjk->btik", np.broadcast_to(Cb, M.shape), V)).reshape(B, n)
    return F, Jz


class TotalDegreeHomotopy:
    """``H(z, s) = (1 − s) γ g(z) + s F(z)`` with ``g_i = x_i³ − x_i x₀²`` (module docstring)."""

    def __init__(self, C, T: int, d: int, k: int, gamma: complex):
        self.C = np.asarray(C, dtype=complex)
        self.T, self.d, self.k = T, d, k
        self.gamma = complex(gamma)

    def __call__(self, z, s):
        F, JF = F_eval(z, self.C, self.T, self.d, self.k)
        x0 = z[:, :1]
        x = z[:, 1:]
        g = x**3 - x * x0**2
        B, n = x.shape
        Jg = np.zeros((B, n, n + 1), dtype=complex)
        idx = np.arange(n)
        Jg[:, idx, idx + 1] = 3 * x**2 - x0**2
        Jg[:, :, 0] = -2 * x * x0
        w = (1 - s)[:, None] * self.gamma
        H = w * g + s[:, None] * F
        Hz = w[:, :, None] * Jg + s[:, None, None] * JF
        Hs = F - self.gamma * g
        return H, Hz, Hs


class ParameterHomotopy:
    """``H(z, s) = F(z; C̃(s))`` along ``W(s) = (1−s)W₀ + sW₁ + s(1−s)B`` in the space of factors.

    ``W₀`` is the generic (complex) start instance, ``W₁`` the target's scaled factors and
    ``B`` a random complex bend (the parameter-homotopy analogue of the γ trick: two
    different bends give two independent paths through the generic parameter space).
    ``C̃(s) = (R(s) − R̄(s))`` with ``R_t(s) = W_t(s)W_t(s)ᵀ`` stays in the rank-k family.
    """

    def __init__(self, W0, W1, bend, T: int, d: int, k: int):
        self.W0 = np.asarray(W0, dtype=complex)
        self.W1 = np.asarray(W1, dtype=complex)
        self.bend = np.asarray(bend, dtype=complex)
        self.T, self.d, self.k = T, d, k

    def _C(self, s):
        s4 = s[:, None, None, None]
        W = (1 - s4) * self.W0 + s4 * self.W1 + s4 * (1 - s4) * self.bend
        dW = (self.W1 - self.W0)[None] + (1 - 2 * s4) * self.bend
        R = np.einsum("btik,btjk->btij", W, W)
        dR = np.einsum("btik,btjk->btij", dW, W)
        dR = dR + np.swapaxes(dR, -1, -2)
        return R - R.mean(axis=1, keepdims=True), dR - dR.mean(axis=1, keepdims=True)

    def __call__(self, z, s):
        C, dC = self._C(s)
        F, JF = F_eval(z, C, self.T, self.d, self.k)
        B = z.shape[0]
        V = z[:, 1:].reshape(B, self.T, self.d, self.k)
        x0 = z[:, 0]
        Hs = -(x0 * x0)[:, None] * np.einsum("btij,btjk->btik", dC, V).reshape(B, -1)
        return F, JF, Hs


def n_start_orbits(T: int, d: int, k: int) -> int:
    """Number of flip orbits of the start points: ``(1 + (3^{dk} − 1)/2)^T``."""
    return (1 + (3 ** (d * k) - 1) // 2) ** T


def _block_reps(m: int) -> np.ndarray:
    """Representatives of ``{−1,0,1}^m`` modulo ``x → −x``: 0 and the vectors whose first
    nonzero entry is +1; shape ((3^m + 1)/2, m), the zero vector first.
    """
    grid = np.array(np.meshgrid(*([[0, 1, -1]] * m), indexing="ij")).reshape(m, -1).T
    keep = []
    for v in grid:
        nz = np.flatnonzero(v)
        if nz.size == 0 or v[nz[0]] == 1:
            keep.append(v)
    return np.array(keep, dtype=float)


def start_orbit_points(T: int, d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One start point per flip orbit (S, n) and the orbit sizes ``2^{#nonzero blocks}`` (S,)."""
    reps = _block_reps(d * k)
    nb = reps.shape[0]
    idx = np.array(np.meshgrid(*([np.arange(nb)] * T), indexing="ij")).reshape(T, -1).T
    pts = reps[idx].reshape(idx.shape[0], T * d * k)
    nonzero = (reps[idx] != 0).any(axis=2).sum(axis=1)
    return pts, 2 ** nonzero
