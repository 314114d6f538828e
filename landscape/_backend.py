"""Array backends for the batched multi-start solvers: numpy (default) or torch (optional).

The solvers in :mod:`landscape.sosp`, :mod:`landscape.descent` and :mod:`landscape.roots`
advance many starts at once on stacks of shape ``(S, n)`` and ``(S, n, n)``. They only
use the handful of operations below, so the same code runs on numpy arrays or on torch
tensors (CPU or GPU). torch is imported lazily, only when ``backend="torch"`` is asked
for. Everything is float64.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from .errors import InvalidArgument

__all__ = ["get_backend", "NumpyBackend", "TorchBackend", "blas_threads", "single_threaded"]


class NumpyBackend:
    """numpy float64 stacks; batched LAPACK through ``np.linalg``."""

    name = "numpy"
    device = "cpu"

    def asarray(self, x):
        return np.ascontiguousarray(x, dtype=np.float64)

    def to_numpy(self, x) -> np.ndarray:
        return np.asarray(x)

    def zeros(self, shape):
        return np.zeros(shape)

    def eye(self, n):
        return np.eye(n)

    def copy(self, x):
        return x.copy()

    def einsum(self, spec, *ops):
        return np.einsum(spec, *ops, optimize=len(ops) > 2)

    def eigh(self, H):
        return np.linalg.eigh(H)

    def eigvalsh(self, H):
        return np.linalg.eigvalsh(H)

    def solve(self, H, b):
        """``H⁻¹ b`` for stacks ``H`` (S, n, n), ``b`` (S, n)."""
        return np.linalg.solve(H, b[..., None])[..., 0]

    def cholesky_solve(self, H, b, need=None):
        """Solve ``H p = b`` where ``H`` is positive definite; ``ok[s]`` False where it is not.

        numpy's batched Cholesky raises on the first failure in a stack, so when one
        fails the stack is factored by :func:`batched_cholesky` instead, which flags
        each failing matrix. Rows with ``ok`` False have ``p`` set to zero. ``need``
        (host bool mask, optional): solve only those rows (the others get ``p = 0``;
        every matrix is still factored and flagged).
        """
        try:
            L = np.linalg.cholesky(H)
            ok = np.ones(H.shape[0], dtype=bool)
        except np.linalg.LinAlgError:
            L, ok = batched_cholesky(H)
        solve = ok if need is None else ok & np.asarray(need, dtype=bool)
        p = np.zeros_like(b)
        if solve.all():
            p = _cho_solve(L, b)
        elif solve.any():
            p[solve] = _cho_solve(L[solve], b[solve])
        return p, ok

    def norm(self, x):
        """Euclidean norm over the last axis."""
        return np.sqrt(np.einsum("...i,...i->...", x, x))

    def isfinite(self, x):
        return np.isfinite(x)

    def where(self, c, a, b):
        return np.where(c, a, b)

    def mask(self, m):
        return np.asarray(m, dtype=bool)

    def index(self, idx):
        """A host integer index array in the form this backend indexes with."""
        return idx


class TorchBackend(NumpyBackend):
    """torch float64 tensors on ``device`` (``"cpu"`` or ``"cuda[:i]"``); imported lazily."""

    name = "torch"

    def __init__(self, device="cpu"):
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is in the test environment
            raise InvalidArgument(
                "`backend='torch'` needs the optional dependency torch (pip install metalora[torch])."
            ) from None
        self.torch = torch
        try:
            self.device = torch.device(device)
            torch.zeros(1, device=self.device)
        except (RuntimeError, AssertionError) as exc:
            raise InvalidArgument(f"`device` must name an available torch device; got device={device!r} ({exc}).") from None

    def asarray(self, x):
        if self.torch.is_tensor(x):
            return x.to(dtype=self.torch.float64, device=self.device)
        arr = np.array(x, dtype=np.float64, copy=True)  # writable, owned by torch
        return self.torch.from_numpy(arr).to(self.device)

    def to_numpy(self, x) -> np.ndarray:
        if isinstance(x, np.ndarray):
            return x
        return x.detach().cpu().numpy()

    def zeros(self, shape):
        return self.torch.zeros(shape, dtype=self.torch.float64, device=self.device)

    def eye(self, n):
        return self.torch.eye(n, dtype=self.torch.float64, device=self.device)

    def copy(self, x):
        return x.clone()

    def einsum(self, spec, *ops):
        return self.torch.einsum(spec, *ops)

    def eigh(self, H):
        return self.torch.linalg.eigh(H)

    def eigvalsh(self, H):
        return self.torch.linalg.eigvalsh(H)

    def solve(self, H, b):
        return self.torch.linalg.solve(H, b[..., None])[..., 0]

    def cholesky_solve(self, H, b, need=None):
        L, info = self.torch.linalg.cholesky_ex(H)
        ok = info == 0
        solve = ok if need is None else ok & self.mask(need)
        p = self.torch.zeros_like(b)
        if bool(solve.any()):
            p[solve] = self.torch.cholesky_solve(b[solve][..., None], L[solve])[..., 0]
        return p, ok

    def norm(self, x):
        return self.torch.sqrt((x * x).sum(-1))

    def isfinite(self, x):
        return self.torch.isfinite(x)

    def where(self, c, a, b):
        t = self.torch
        a = a if t.is_tensor(a) else t.as_tensor(a, dtype=t.float64, device=self.device)
        b = b if t.is_tensor(b) else t.as_tensor(b, dtype=t.float64, device=self.device)
        return t.where(c, a, b)

    def mask(self, m):
        return self.torch.as_tensor(np.asarray(m, dtype=bool), device=self.device)

    def index(self, idx):
        return self.torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.device)


def batched_cholesky(H):
    """Cholesky factors of a stack ``H`` (S, n, n) and a flag per matrix (numpy).

    Left-looking column algorithm vectorised over the stack: column ``j`` of every factor
    is ``(H[:, j:, j] − L[:, j:, :j] L[:, j, :j]ᵀ) / L[:, j, j]``. A matrix whose pivot is
    not positive (not positive definite in floating point) is flagged and its pivot set
    to 1 so the others proceed; its factor is meaningless.
    """
    S, n, _ = H.shape
    L = np.zeros_like(H)
    ok = np.ones(S, dtype=bool)
    for j in range(n):
        col = H[:, j:, j] - np.einsum("sik,sk->si", L[:, j:, :j], L[:, j, :j])
        piv = col[:, 0]
        bad = ~(piv > 0)
        if bad.any():
            ok &= ~bad
            piv = np.where(bad, 1.0, piv)
        r = np.sqrt(piv)
        L[:, j, j] = r
        L[:, j + 1 :, j] = col[:, 1:] / r[:, None]
    return L, ok


def _cho_solve(L, b):
    """``(L Lᵀ)⁻¹ b`` by batched forward and back substitution."""
    S, n = b.shape
    y = np.empty_like(b)
    for j in range(n):
        y[:, j] = (b[:, j] - np.einsum("sk,sk->s", L[:, j, :j], y[:, :j])) / L[:, j, j]
    x = np.empty_like(b)
    for j in range(n - 1, -1, -1):
        x[:, j] = (y[:, j] - np.einsum("sk,sk->s", L[:, j + 1 :, j], x[:, j + 1 :])) / L[:, j, j]
    return x


def blas_threads(limit: int | None = 1):
    """Context manager limiting BLAS/LAPACK threads (numpy's and scipy's) with threadpoolctl.

    The solvers factor thousands of *small* matrices per call; OpenBLAS threads do not help
    there and, on a loaded machine, busy-waiting threads make batched ``eigh`` 10–50x
    slower. ``limit=None`` leaves the thread pools alone.
    """
    if limit is None:
        return contextlib.nullcontext()
    import scipy.linalg  # noqa: F401 - load scipy's own BLAS too, so the limit reaches it
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=limit, user_api="blas")


def single_threaded(fn):
    """Run ``fn`` under :func:`blas_threads` (``blas_threads=`` keyword, default 1)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with blas_threads(kwargs.pop("blas_threads", 1)):
            return fn(*args, **kwargs)

    return wrapper


def get_backend(backend: str = "numpy", device=None):
    """``"numpy"`` (default) or ``"torch"`` (with ``device``, default ``"cpu"``)."""
    if backend == "numpy":
        if device not in (None, "cpu"):
            raise InvalidArgument(f"`device` needs backend='torch'; got backend='numpy', device={device!r}.")
        return NumpyBackend()
    if backend == "torch":
        return TorchBackend("cpu" if device is None else device)
    raise InvalidArgument(f"`backend` must be 'numpy' or 'torch'; got backend={backend!r}.")
