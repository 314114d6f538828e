"""Argument checks shared by the public functions (one message style everywhere)."""

from __future__ import annotations

import numbers

import numpy as np

from .errors import InvalidArgument


def check_int(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an ``int`` in ``[low, high]`` or raise :class:`InvalidArgument`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InvalidArgument(f"`{name}` must be an integer; got {name}={value!r}.")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise InvalidArgument(f"`{name}` must be an integer in [{lo}, {hi}]; got {name}={value}.")
    return value


def check_float(name: str, value, *, low: float | None = None, positive: bool = False) -> float:
    """Return ``value`` as a finite ``float`` (optionally ``> 0`` or ``>= low``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidArgument(f"`{name}` must be a real number; got {name}={value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise InvalidArgument(f"`{name}` must be finite; got {name}={value}.")
    if positive and value <= 0:
        raise InvalidArgument(f"`{name}` must be > 0; got {name}={value}.")
    if low is not None and value < low:
        raise InvalidArgument(f"`{name}` must be >= {low}; got {name}={value}.")
    return value


def as_float64(name: str, value, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Convert ``value`` to a finite float64 array of the given shape.

    Integer and floating inputs are converted exactly (every float16/32 and every integer
    below 2**53 is a float64); complex, boolean, object and string arrays are refused.
    """
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise InvalidArgument(
            f"`{name}` must be a real float64 array; got dtype {arr.dtype} "
            f"(convert with np.asarray(..., dtype=np.float64))."
        )
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if shape is not None and arr.shape != tuple(shape):
        raise InvalidArgument(f"`{name}` must have shape {tuple(shape)}; got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InvalidArgument(f"`{name}` must be finite; it has {bad} NaN/inf entries.")
    return arr


def check_A(problem, A, name: str = "A") -> np.ndarray:
    d = problem.d
    return as_float64(name, A, (d, d))


def check_U(problem, U, name: str = "U") -> np.ndarray:
    return as_float64(name, U, (problem.T, problem.d, problem.k))


def as_rng(seed) -> np.random.Generator:
    """``None``, an int or a Generator → a Generator (library code never seeds globally)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidArgument(
            f"`seed` must be None, a non-negative integer or a numpy Generator; got seed={seed!r}."
        )
    return np.random.default_rng(int(seed))
