"""Run the many tiny matrix products of the linear experiments on one BLAS thread.

With d ≤ 20 every product is far too small to gain from threads, and on a busy machine
OpenBLAS's thread synchronisation makes small LAPACK calls (``eigh`` of 30×30, the
L-BFGS-B updates) tens of times slower. ``threadpoolctl`` (extra ``fast``) limits the
threads for the duration; without it this is a no-op.
"""

from __future__ import annotations

import contextlib

__all__ = ["single_threaded_blas"]


def single_threaded_blas():
    """A context manager limiting BLAS to one thread (no-op without ``threadpoolctl``)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional dependency
        return contextlib.nullcontext()
    import scipy.linalg  # noqa: F401 - load scipy's own BLAS too, so the limit reaches it

    return threadpool_limits(limits=1, user_api="blas")
