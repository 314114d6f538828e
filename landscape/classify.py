"""Classify a point of the reduced loss ``G``: loss, gradient, Hessian inertia modulo O(k).

A critical point ``U`` of ``G`` is one of (docs/math.md §4–5):

- ``global-min``: ``G(U) = 0`` (then ``(A(U), U)`` is a global minimum of ``L``);
- ``spurious-min``: ``G(U) > 0``, ``∇²G(U)`` positive definite modulo the symmetry — a
  strict local minimum that is not global (docs/math.md §5.7);
- ``saddle``: some eigenvalue is negative (index ``>= 1``);
- ``degenerate``: ``G > 0``, no negative eigenvalue, but zero eigenvalues beyond the
  ``T·k(k−1)/2`` symmetry directions — second-order information cannot decide;
- ``not-critical``: the gradient is not zero within tolerance.

Curvature modulo symmetry: ``U_t → U_tQ_t`` leaves ``G`` unchanged, so at a critical
point with full-rank ``U_t`` the Hessian vanishes on the orbit's tangent space (the
``U_tΩ`` directions, ``T·k(k−1)/2`` of them). The classifier restricts ``∇²G`` to the
orthogonal complement of that space (an orthonormal basis ``N``; eigenvalues of
``Nᵀ∇²G N``), so ``index`` and ``n_zero`` count only directions that change the orbit.

Tolerances (relative to ``ρ = (1/T) Σ_t ‖R*_t‖_F``, see :mod:`landscape.multistart`)
-----------------------------------------------------------------------------------
- ``‖∇G‖_F <= tol_grad·ρ^{3/2}`` (default ``1e-8``): the solvers polish to ``<= 1e-10``
  relative, the gradient's rounding floor is ``≈ 1e-16·√(Tdk)``, while points that are
  not critical (a search path, a stalled start) have relative gradients ``≫ 1e-6``.
- ``|λ| <= tol_eig·ρ`` counts as zero (default ``1e-8``): at a point ``δ`` away from an
  exact critical point the Hessian is off by ``<= (24/T)·max‖U_t‖₂·δ`` (docs/math.md §6), and
  ``δ <= ‖∇G‖/μ``; with the polished gradients this is ``≲ 1e-10·ρ``, plus the
  eigensolver's ``≈ 1e-15·ρ``. True nonzero curvatures at the minima we observed are
  ``≳ 1e-6·ρ`` (most ``≳ 1e-4·ρ``).
- ``G <= tol_loss·ρ²`` is a global minimum (default ``1e-10``): at a polished global
  minimum ``G ≈ ‖∇G‖²/μ`` is ``≲ 1e-20·ρ²``; the smallest spurious value found is
  ``≈ 1.5e-7·ρ²`` (``Problem.random(3, 1, 3, seed=12)``).
These are float-level judgements, not proofs; certificates (interval arithmetic) are
the job of ``landscape.certify``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from .validation import check_float, check_U
from .derivatives import reduced_grad, reduced_hessian
from .errors import InvalidArgument
from .multistart import problem_scale
from .objectives import A_of_U, reduced_loss
from .problem import Problem, _from_hex, _hex_list
from .symmetry import orbit_dimension, orbit_tangent_basis

__all__ = ["CriticalPoint", "classify_point", "KINDS", "symmetry_reduced_hessian"]

#: The possible values of :attr:`CriticalPoint.kind`.
KINDS = ("global-min", "spurious-min", "saddle", "degenerate", "not-critical")

_FORMAT = "metalora.point/1"


@dataclass(frozen=True, eq=False)
class CriticalPoint:
    """A classified point of the reduced loss ``G`` (see the module docstring).

    Attributes
    ----------
    U : (T, d, k) array
    A : (d, d) array
        ``A(U)``, the optimal base for ``U``.
    loss : float
        ``G(U) = L(A(U), U)``.
    grad_norm : float
        ``‖∇G(U)‖_F``.
    min_eig : float
        Smallest eigenvalue of ``∇²G(U)`` modulo the O(k) symmetry.
    index : int
        Number of eigenvalues ``< −tol_eig·ρ`` (modulo symmetry).
    n_zero : int
        Number of eigenvalues with ``|λ| <= tol_eig·ρ`` modulo symmetry (directions of
        zero curvature *beyond* the symmetry; ``> 0`` means degenerate).
    expected_zero : int
        ``T·k(k−1)/2``, the number of symmetry directions (removed before counting).
    kind : str
        One of :data:`KINDS`.
    count : int
        Number of starts that reached this point (after de-duplication).
    removed : int
        Symmetry directions actually removed (``< expected_zero`` when some ``U_t`` is
        rank-deficient, e.g. at ``U = 0``).
    eigenvalues : (m,) array
        The lowest (up to 8) eigenvalues modulo symmetry.
    tolerances : dict
        The absolute thresholds used and the scale ``ρ``.
    """

    U: NDArray[np.float64]
    A: NDArray[np.float64]
    loss: float
    grad_norm: float
    min_eig: float
    index: int
    n_zero: int
    expected_zero: int
    kind: str
    count: int = 1
    removed: int = 0
    eigenvalues: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    tolerances: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        T, d, k = self.U.shape
        return (
            f"CriticalPoint(kind={self.kind!r}, loss={self.loss:.6g}, grad_norm={self.grad_norm:.2e}, "
            f"min_eig={self.min_eig:.6g}, index={self.index}, n_zero={self.n_zero}, "
            f"count={self.count}, d={d}, k={k}, T={T})"
        )

    def with_count(self, count: int) -> "CriticalPoint":
        return replace(self, count=int(count))

    def to_json(self) -> dict:
        """Plain numbers plus exact ``float.hex`` copies of ``U`` and ``A`` (``U_hex``, ``A_hex``)."""
        return {
            "format": _FORMAT,
            "kind": self.kind,
            "loss": float(self.loss),
            "grad_norm": float(self.grad_norm),
            "min_eig": float(self.min_eig),
            "index": int(self.index),
            "n_zero": int(self.n_zero),
            "expected_zero": int(self.expected_zero),
            "removed": int(self.removed),
            "count": int(self.count),
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "tolerances": dict(self.tolerances),
            "U": self.U.tolist(),
            "A": self.A.tolist(),
            "U_hex": _hex_list(self.U),
            "A_hex": _hex_list(self.A),
        }

    @classmethod
    def from_json(cls, obj: dict) -> "CriticalPoint":
        """Inverse of :meth:`to_json` (``U``/``A`` read exactly from the hex fields when present)."""
        if not isinstance(obj, dict):
            raise InvalidArgument(f"a point must be a JSON object; got {type(obj).__name__}.")
        try:
            U = _from_hex(obj["U_hex"]) if "U_hex" in obj else np.asarray(obj["U"], dtype=np.float64)
            A = _from_hex(obj["A_hex"]) if "A_hex" in obj else np.asarray(obj["A"], dtype=np.float64)
            kind = obj["kind"]
            if kind not in KINDS:
                raise InvalidArgument(f"point: `kind` must be one of {KINDS}; got kind={kind!r}.")
            return cls(
                U=U,
                A=A,
                loss=float(obj["loss"]),
                grad_norm=float(obj["grad_norm"]),
                min_eig=float(obj["min_eig"]),
                index=int(obj["index"]),
                n_zero=int(obj["n_zero"]),
                expected_zero=int(obj["expected_zero"]),
                kind=kind,
                count=int(obj.get("count", 1)),
                removed=int(obj.get("removed", 0)),
                eigenvalues=np.asarray(obj.get("eigenvalues", []), dtype=np.float64),
                tolerances=dict(obj.get("tolerances", {})),
            )
        except KeyError as exc:
            raise InvalidArgument(f"point: missing field {exc.args[0]!r}.") from None


def symmetry_reduced_hessian(problem: Problem, U) -> tuple[NDArray[np.float64], int]:
    """``Nᵀ∇²G(U)N`` with ``N`` an orthonormal basis of the complement of the orbit tangent.

    Returns the restricted matrix and the number of symmetry directions removed.
    """
    U = check_U(problem, U)
    H = reduced_hessian(problem, U)
    Q = orbit_tangent_basis(U)
    if Q.shape[1] == 0:
        return H, 0
    N = scipy.linalg.null_space(Q.T)
    Hs = N.T @ H @ N
    return (Hs + Hs.T) / 2, Q.shape[1]


def classify_point(
    problem: Problem,
    U,
    *,
    tol_grad: float = 1e-8,
    tol_eig: float = 1e-8,
    tol_loss: float = 1e-10,
) -> CriticalPoint:
    """Classify ``U`` as a critical point of ``G`` (tolerances relative to ``ρ``; module doc).

    Parameters
    ----------
    problem : Problem
    U : (T, d, k) array
    tol_grad, tol_eig, tol_loss : float
        Relative tolerances: critical iff ``‖∇G‖_F <= tol_grad·ρ^{3/2}``; an eigenvalue
        is zero iff ``|λ| <= tol_eig·ρ``; a global minimum iff ``G <= tol_loss·ρ²``.

    Returns
    -------
    CriticalPoint

    Examples
    --------
    >>> import numpy as np
    >>> from landscape import Problem
    >>> p = Problem.random(3, 1, 3, seed=0)
    >>> classify_point(p, p.U_star).kind
    'global-min'
    >>> cp = classify_point(p, np.zeros((3, 3, 1)))   # U = 0: a saddle of index T·k²
    >>> cp.kind, cp.index
    ('saddle', 3)
    """
    U = check_U(problem, U)
    tol_grad = check_float("tol_grad", tol_grad, positive=True)
    tol_eig = check_float("tol_eig", tol_eig, positive=True)
    tol_loss = check_float("tol_loss", tol_loss, positive=True)
    rho = problem_scale(problem)
    gtol, etol, ltol = tol_grad * rho**1.5, tol_eig * rho, tol_loss * rho**2
    loss = reduced_loss(problem, U)
    grad_norm = float(np.linalg.norm(reduced_grad(problem, U)))
    Hs, removed = symmetry_reduced_hessian(problem, U)
    w = scipy.linalg.eigvalsh(Hs)
    index = int(np.count_nonzero(w < -etol))
    n_zero = int(np.count_nonzero(np.abs(w) <= etol))
    if grad_norm > gtol:
        kind = "not-critical"
    elif index > 0:
        kind = "saddle"
    elif loss <= ltol:
        kind = "global-min"
    elif n_zero > 0:
        kind = "degenerate"
    else:
        kind = "spurious-min"
    return CriticalPoint(
        U=U.copy(),
        A=A_of_U(problem, U),
        loss=loss,
        grad_norm=grad_norm,
        min_eig=float(w[0]),
        index=index,
        n_zero=n_zero,
        expected_zero=orbit_dimension(problem.T, problem.k),
        kind=kind,
        removed=removed,
        eigenvalues=w[:8].copy(),
        tolerances={
            "scale": rho,
            "grad": gtol,
            "eig": etol,
            "loss": ltol,
            "tol_grad": tol_grad,
            "tol_eig": tol_eig,
            "tol_loss": tol_loss,
        },
    )
