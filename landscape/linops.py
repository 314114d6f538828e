"""Hessians as :class:`scipy.sparse.linalg.LinearOperator` and the smallest eigenvalue.

The operators apply the exact Hessian-vector products of :mod:`landscape.derivatives`
(O(T d² k) per product), so ``eigsh``/``lobpcg`` work unchanged; dense Hessians are for
small sizes and serve as oracles.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import scipy.linalg
import scipy.sparse.linalg as spla
from numpy.typing import NDArray

from .validation import as_rng, check_A, check_float, check_U
from .derivatives import _meta_hvp, _reduced_hvp, meta_hessian, reduced_hessian
from .errors import InvalidArgument
from .objectives import reduced_residuals
from .problem import Problem
from .symmetry import orbit_tangent_basis, tangent_blocks

__all__ = [
    "meta_hessian_operator",
    "reduced_hessian_operator",
    "MinEig",
    "min_eigenvalue",
    "symmetry_basis",
]

#: Below this many variables ``method="auto"`` uses a dense symmetric eigensolver.
DENSE_LIMIT = 1500


def meta_hessian_operator(problem: Problem, A, U) -> spla.LinearOperator:
    """``∇²L(A, U)`` as a LinearOperator on vectors in the :func:`~landscape.pack` order."""
    A, U = check_A(problem, A), check_U(problem, U)
    n = A.size + U.size
    dd = A.size

    def mv(x):
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        hA, hU = _meta_hvp(problem, A, U, x[:dd].reshape(A.shape), x[dd:].reshape(U.shape))
        return np.concatenate([hA.ravel(), hU.ravel()])

    return spla.LinearOperator((n, n), matvec=mv, rmatvec=mv, dtype=np.float64)


def reduced_hessian_operator(problem: Problem, U) -> spla.LinearOperator:
    """``∇²G(U)`` as a LinearOperator on vectors in ``U.ravel()`` order."""
    U = check_U(problem, U)
    C = reduced_residuals(problem, U)
    shape = U.shape

    def mv(x):
        dU = np.asarray(x, dtype=np.float64).reshape(shape)
        return _reduced_hvp(problem, U, C, dU).ravel()

    def mm(X):
        X = np.asarray(X, dtype=np.float64)
        return np.stack([mv(X[:, j]) for j in range(X.shape[1])], axis=1)

    return spla.LinearOperator((U.size, U.size), matvec=mv, rmatvec=mv, matmat=mm, dtype=np.float64)


def symmetry_basis(problem: Problem, U, A=None) -> NDArray[np.float64]:
    """Orthonormal basis of the O(k)-orbit tangent directions in the operator's vector order.

    For the reduced loss (``A is None``) the vectors are ``U.ravel()``-ordered; for the full
    objective they are padded with zeros for ``A`` (the symmetry does not move ``A``).
    """
    U = check_U(problem, U)
    Q = orbit_tangent_basis(U)
    if A is not None:
        Q = np.vstack([np.zeros((problem.d**2, Q.shape[1])), Q])
    return Q


@dataclass(frozen=True)
class MinEig:
    """Smallest Hessian eigenvalue and its certificate of accuracy.

    ``residual = ‖H v − λ v‖₂`` for the unit vector ``v``; by Weyl/Bauer–Fike some
    eigenvalue of ``H`` (of its restriction, modulo symmetry) lies within ``residual`` of
    ``value``. ``removed`` is the number of symmetry directions projected out.
    """

    value: float
    vector: NDArray[np.float64]
    residual: float
    method: str
    n: int
    removed: int
    modulo_symmetry: bool
    seconds: float
    matvecs: int

    def __repr__(self) -> str:
        return (
            f"MinEig(value={self.value:.6g}, residual={self.residual:.2e}, method={self.method!r}, "
            f"n={self.n}, removed={self.removed}, seconds={self.seconds:.3f})"
        )

    def to_json(self) -> dict:
        out = asdict(self)
        out.pop("vector")
        return out


class _Counting(spla.LinearOperator):
    def __init__(self, op):
        super().__init__(np.float64, op.shape)
        self.op, self.count = op, 0

    def _matvec(self, x):
        self.count += 1
        return self.op.matvec(x)

    def _matmat(self, X):
        self.count += X.shape[1]
        return self.op.matmat(X)

    def _adjoint(self):
        return self


def min_eigenvalue(
    problem: Problem,
    U,
    A=None,
    *,
    modulo_symmetry: bool = False,
    method: str = "auto",
    tol: float = 1e-10,
    seed=0,
) -> MinEig:
    """Smallest eigenvalue (and eigenvector) of ``∇²G(U)``, or of ``∇²L(A, U)`` if ``A`` is given.

    Parameters
    ----------
    modulo_symmetry : bool
        Restrict to the orthogonal complement of the O(k)-orbit tangent (the ``U_t Ω``
        directions, which are zero-curvature at critical points). ``removed`` in the result
        says how many directions were removed.
    method : {"auto", "dense", "lanczos", "lobpcg"}
        ``dense``: :func:`scipy.linalg.eigh` on the (projected) dense Hessian. ``lanczos``:
        :func:`scipy.sparse.linalg.eigsh` (``which="SA"``) on the matrix-free operator,
        deflated by a shift on the symmetry directions. ``lobpcg``:
        :func:`scipy.sparse.linalg.lobpcg` with the symmetry directions as constraints.
        ``auto``: dense below ``DENSE_LIMIT`` variables, else Lanczos.
    tol : float
        Relative tolerance for the iterative solvers.
    seed : None, int or Generator
        Starting vector of the iterative solvers (same seed, same numbers).

    Returns
    -------
    MinEig
    """
    U = check_U(problem, U)
    if A is not None:
        A = check_A(problem, A)
    if method not in ("auto", "dense", "lanczos", "lobpcg"):
        raise InvalidArgument(
            f"`method` must be one of 'auto', 'dense', 'lanczos', 'lobpcg'; got method={method!r}."
        )
    tol = check_float("tol", tol, positive=True)
    rng = as_rng(seed)
    t0 = time.perf_counter()
    op = reduced_hessian_operator(problem, U) if A is None else meta_hessian_operator(problem, A, U)
    n = op.shape[0]
    # Per-task blocks of the orbit's tangent basis (disjoint supports): cheap projections.
    blocks = tangent_blocks(U) if modulo_symmetry else np.zeros((problem.T, U[0].size, 0))
    m = int(np.count_nonzero(np.any(blocks != 0.0, axis=1)))
    offset = n - U.size  # the symmetry does not move A
    if m >= n:
        raise InvalidArgument("nothing is left after removing the symmetry directions.")
    if method == "auto":
        method = "dense" if n <= DENSE_LIMIT else "lanczos"
    counting = _Counting(op)

    def project(x):
        if not m:
            return x
        y = np.array(x, dtype=np.float64)  # a vector or a block of column vectors
        X = y[offset:].reshape(blocks.shape[0], blocks.shape[1], -1)  # a view into y
        X -= blocks @ (blocks.transpose(0, 2, 1) @ X)
        return y

    if method == "dense" or n - m <= 3:
        method = "dense"
        H = reduced_hessian(problem, U) if A is None else meta_hessian(problem, A, U)
        if m:
            # Orthonormal basis N of the complement of span(Q): H restricted to it.
            Q = symmetry_basis(problem, U, A)
            N = scipy.linalg.null_space(Q.T)
            w, V = scipy.linalg.eigh(N.T @ H @ N, subset_by_index=[0, 0])
            v = N @ V[:, 0]
        else:
            w, V = scipy.linalg.eigh(H, subset_by_index=[0, 0])
            v = V[:, 0]
        value = float(w[0])
    if method in ("lanczos", "lobpcg"):
        # Deflate the symmetry directions by moving them far up the spectrum.
        shift = _spectral_bound(counting, rng) * 2 + 1.0 if m else 0.0

        def mv(x):
            x = np.asarray(x).reshape(-1)
            px = project(x)
            y = project(counting.matvec(px))
            return y + shift * (x - px) if m else y

        deflated = spla.LinearOperator((n, n), matvec=mv, rmatvec=mv, dtype=np.float64)
    if method == "lanczos":
        v0 = project(rng.standard_normal(n))
        # A few Ritz pairs, not one: with k=1 Lanczos can settle on a converged pair while
        # a lower eigenvalue (e.g. an exact null space reached only through v0) is missed.
        nev = min(4, n - 1)
        try:
            w, V = spla.eigsh(
                deflated, k=nev, which="SA", tol=tol, v0=v0, ncv=min(n, max(2 * nev + 1, 40)),
                maxiter=max(20 * n, 1000),
            )
        except spla.ArpackError:  # e.g. H = 0 (T = 1): the Krylov space collapses
            method = "lobpcg"
        else:
            i = int(np.argmin(w))
            value, v = float(w[i]), project(V[:, i])
    if method == "lobpcg":
        X = project(rng.standard_normal((n, min(8, n - m))))
        with warnings.catch_warnings():
            # Non-convergence is reported through the residual, not a warning.
            warnings.simplefilter("ignore")
            w, V = spla.lobpcg(
                deflated, X, largest=False, tol=max(tol, 1e-9),
                maxiter=max(2 * n, 1000),
            )
        i = int(np.argmin(w))
        value, v = float(w[i]), project(V[:, i])
    v = v / np.linalg.norm(v)
    Hv = project(op.matvec(v))
    residual = float(np.linalg.norm(Hv - value * v))
    return MinEig(
        value=value,
        vector=v,
        residual=residual,
        method=method,
        n=n,
        removed=m,
        modulo_symmetry=modulo_symmetry,
        seconds=time.perf_counter() - t0,
        matvecs=counting.count,
    )


def _spectral_bound(op, rng, iters: int = 30) -> float:
    """A cheap over-estimate of ``‖H‖₂`` (power iteration, padded by 10%)."""
    x = rng.standard_normal(op.shape[0])
    x /= np.linalg.norm(x)
    lam = 0.0
    for _ in range(iters):
        y = op.matvec(x)
        lam = float(np.linalg.norm(y))
        if lam == 0.0:
            return 1.0
        x = y / lam
    return 1.1 * lam
