"""Data of the linear experiment, reduced to second moments (docs/math.md §1–2).

Task data: ``x ~ N(0, I_d)``, ``y = M x + ε``, ``ε ~ N(0, σ² I_d)`` with σ a standard
deviation. Samples are the rows of ``X`` and ``Y`` (shape ``(n, d)``). Every finite-sample
loss of the experiment is a function of

    Sxx = XᵀX / n,   Syx = YᵀX / n,   Syy = YᵀY / n,

so an optimisation step costs O(d³) whatever ``n`` is. :func:`draw_moments` draws these
three matrices directly and exactly, either from a Wishart matrix (O(d²) random numbers,
independent of ``n``) or by drawing the samples in chunks and accumulating.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from landscape.validation import as_float64, check_float, check_int
from landscape.errors import InvalidArgument
from landscape.runs import make_rng

__all__ = ["Moments", "draw_moments", "sample_task", "moments_from_samples", "stack_moments"]

_SAMPLERS = ("wishart", "samples")


@dataclass(frozen=True, eq=False)
class Moments:
    """Second moments of a task's samples (or a stack of tasks': leading axes are batch axes).

    Attributes
    ----------
    Sxx, Syx, Syy : (..., d, d) arrays
        ``XᵀX/n``, ``YᵀX/n`` and ``YᵀY/n`` (``Sxx``, ``Syy`` symmetric).
    n : int
        Number of samples behind each moment.

    Notes
    -----
    The mean squared error of a linear map ``W`` over the samples is
    ``(1/n) Σ_i ‖W x_i − y_i‖² = ⟨W, W Sxx⟩ − 2⟨W, Syx⟩ + tr Syy``
    (see :func:`experiments.linear.empirical.empirical_loss`).
    """

    Sxx: NDArray[np.float64]
    Syx: NDArray[np.float64]
    Syy: NDArray[np.float64]
    n: int

    @property
    def d(self) -> int:
        return self.Sxx.shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.Sxx.shape[:-2]

    def __getitem__(self, index) -> "Moments":
        return Moments(self.Sxx[index], self.Syx[index], self.Syy[index], self.n)


def _sym(S):
    return 0.5 * (S + np.swapaxes(S, -1, -2))


def stack_moments(items) -> Moments:
    """Stack :class:`Moments` with equal ``n`` along a new leading axis."""
    items = list(items)
    if not items or len({m.n for m in items}) != 1:
        raise InvalidArgument("`items` must be a non-empty list of Moments with equal n.")
    return Moments(
        np.stack([m.Sxx for m in items]),
        np.stack([m.Syx for m in items]),
        np.stack([m.Syy for m in items]),
        items[0].n,
    )


def moments_from_samples(X, Y) -> Moments:
    """Second moments of samples ``X``, ``Y`` of shape ``(n, d)`` (rows are samples).

    Examples
    --------
    >>> X = np.eye(2); Y = 2 * X
    >>> m = moments_from_samples(X, Y)
    >>> m.Syx.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    X = as_float64("X", X)
    Y = as_float64("Y", Y)
    if X.ndim != 2 or X.shape != Y.shape or X.shape[0] < 1:
        raise InvalidArgument(
            f"`X` and `Y` must both have shape (n, d) with n >= 1; got {X.shape} and {Y.shape}."
        )
    n = X.shape[0]
    return Moments(_sym(X.T @ X) / n, (Y.T @ X) / n, _sym(Y.T @ Y) / n, n)


def _check_M(M) -> np.ndarray:
    M = as_float64("M", M)
    if M.ndim < 2 or M.shape[-1] != M.shape[-2]:
        raise InvalidArgument(f"`M` must have shape (..., d, d); got shape {M.shape}.")
    return M


def sample_task(M, n: int, sigma: float, *, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` samples of one task: ``X`` rows ``~ N(0, I_d)``, ``Y = X Mᵀ + σ E``.

    Draw order: all of ``X``, then all of ``E`` (each ``(n, d)`` standard normal).
    """
    M = _check_M(M)
    if M.ndim != 2:
        raise InvalidArgument(f"`M` must be a single (d, d) matrix here; got shape {M.shape}.")
    n = check_int("n", n, low=1)
    sigma = check_float("sigma", sigma, low=0.0)
    rng = make_rng(rng)
    d = M.shape[0]
    X = rng.standard_normal((n, d))
    E = rng.standard_normal((n, d))
    return X, X @ M.T + sigma * E


def _bartlett(p: int, df: int, rng: np.random.Generator) -> np.ndarray:
    """``W ~ Wishart_p(df, I)`` by Bartlett's decomposition (needs ``df >= p``).

    ``W = L Lᵀ`` with ``L`` lower triangular, ``L_ii = sqrt(χ²_{df−i})`` (i = 0..p−1) and
    ``L_ij ~ N(0, 1)`` below the diagonal: exactly the law of ``ZᵀZ`` for ``Z`` an
    ``(df, p)`` matrix of independent standard normals.
    """
    L = np.tril(rng.standard_normal((p, p)), -1)
    L[np.diag_indices(p)] = np.sqrt(rng.chisquare(df - np.arange(p)))
    return L @ L.T


def _one_task(M, n, sigma, rng, sampler, chunk_size):
    d = M.shape[0]
    if sampler == "wishart" and n >= 2 * d:
        # [X, E] is an (n, 2d) standard normal matrix; its Gram matrix is Wishart(n, I_2d).
        W = _bartlett(2 * d, n, rng)
        XX, EX, EE = W[:d, :d], W[d:, :d], W[d:, d:]
    else:
        XX = np.zeros((d, d))
        EX = np.zeros((d, d))
        EE = np.zeros((d, d))
        done = 0
        while done < n:
            m = min(chunk_size, n - done)
            X = rng.standard_normal((m, d))
            E = rng.standard_normal((m, d))
            XX += X.T @ X
            EX += E.T @ X
            EE += E.T @ E
            done += m
    XX = _sym(XX)
    YX = M @ XX + sigma * EX
    MEX = M @ EX.T
    YY = M @ XX @ M.T + sigma * (MEX + MEX.T) + sigma**2 * _sym(EE)
    return XX / n, YX / n, _sym(YY) / n


def draw_moments(
    M, n: int, sigma: float, *, rng=None, sampler: str = "wishart", chunk_size: int = 65536
) -> Moments:
    """Draw the second moments of ``n`` samples of each task ``y = M x + ε``.

    Parameters
    ----------
    M : (..., d, d) array
        Ground-truth maps; leading axes are independent tasks (drawn in C order).
    n : int
        Samples per task.
    sigma : float
        Noise standard deviation σ (``ε ~ N(0, σ² I)``).
    rng : None, int or numpy.random.Generator
    sampler : {"wishart", "samples"}
        ``"wishart"``: draw ``G = [X E]ᵀ[X E] ~ Wishart_2d(n, I)`` by Bartlett's
        decomposition (O(d²) random numbers and O(d³) work, independent of ``n``);
        falls back to ``"samples"`` when ``n < 2d``. ``"samples"``: draw ``X`` and ``E``
        in chunks of ``chunk_size`` rows and accumulate (O(n d²)). Both give exactly
        the law of the moments of ``n`` i.i.d. samples; they consume the generator
        differently, so the same seed gives different (equally valid) draws.

    Returns
    -------
    Moments
        With ``XᵀX = G_xx``, ``EᵀX = G_ex``, ``EᵀE = G_ee``:
        ``n Sxx = XᵀX``, ``n Syx = M XᵀX + σ EᵀX``,
        ``n Syy = M XᵀX Mᵀ + σ (M XᵀE + EᵀX Mᵀ) + σ² EᵀE``.
    """
    M = _check_M(M)
    n = check_int("n", n, low=1)
    sigma = check_float("sigma", sigma, low=0.0)
    chunk_size = check_int("chunk_size", chunk_size, low=1)
    if sampler not in _SAMPLERS:
        raise InvalidArgument(f"`sampler` must be one of {_SAMPLERS}; got sampler={sampler!r}.")
    rng = make_rng(rng)
    flat = M.reshape((-1,) + M.shape[-2:])
    out = [_one_task(Mi, n, sigma, rng, sampler, chunk_size) for Mi in flat]
    Sxx, Syx, Syy = (np.stack([o[i] for o in out]).reshape(M.shape) for i in range(3))
    return Moments(Sxx, Syx, Syy, n)
