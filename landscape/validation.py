"""Argument checks shared by the public functions (one message style everywhere)."""

from __future__ import annotations

import json
import numbers
import tokenize
import zipfile
from pathlib import Path

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
    """``None``, an int or a Generator → a Generator (library code never seeds globally).

    The same scheme as :func:`landscape.runs.make_rng` (an int seeds ``default_rng``
    directly); only the message names the argument the public functions document.
    """
    from .runs import make_rng

    if isinstance(seed, (bool, np.bool_)) or not (
        seed is None or isinstance(seed, (np.random.Generator, numbers.Integral))
    ) or (isinstance(seed, numbers.Integral) and seed < 0):
        raise InvalidArgument(
            f"`seed` must be None, a non-negative integer or a numpy Generator; got seed={seed!r}."
        )
    return make_rng(seed)


# -- untrusted files ---------------------------------------------------------------------
#: Deepest array nesting a data file may have (arrays here are at most 4-D).
MAX_ARRAY_DEPTH = 8


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def parse_json(text: str, *, where: str):
    """Strict JSON: duplicate keys, too deep nesting and malformed text are input errors.

    Raises :class:`InvalidArgument` naming ``where`` (a file, or a flag) instead of the
    ``RecursionError`` / ``JSONDecodeError`` / silently-kept-last-duplicate of :mod:`json`.
    """
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise InvalidArgument(f"{where}: duplicate key {exc.args[0]!r} in a JSON object.") from None
    except RecursionError:
        raise InvalidArgument(f"{where}: JSON nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError, and ints too long to convert
        raise InvalidArgument(f"{where}: not valid JSON ({_first_line(exc)}).") from None


def read_json(path, *, what: str = "JSON file", arg: str = "path"):
    """Read an untrusted JSON file strictly (:func:`parse_json`); errors are one line."""
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"`{arg}` must be an existing {what}; got {str(path)!r}.")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument(f"{path}: not a {what} (not UTF-8 text).") from None
    except OSError as exc:
        raise InvalidArgument(f"{path}: cannot read ({exc.strerror or exc}).") from None
    return parse_json(text, where=str(path))


def hex_float(x, *, where: str = "file") -> float:
    """A binary64 from a ``float.hex`` string or a JSON number (never a bool or other type).

    ``"0x1p+1024"`` (overflows binary64) and garbage are :class:`InvalidArgument`.
    """
    if isinstance(x, str):
        try:
            return float.fromhex(x)
        except OverflowError:
            raise InvalidArgument(f"{where}: {x[:40]!r} overflows a float64.") from None
        except ValueError:
            raise InvalidArgument(f"{where}: {x[:40]!r} is not a hex float.") from None
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        try:
            return float(x)
        except OverflowError:
            raise InvalidArgument(f"{where}: an integer too large for a float64.") from None
    raise InvalidArgument(f"{where}: expected a number or a hex-float string; got {_short(x)}.")


def nested_floats(obj, *, where: str = "file") -> np.ndarray:
    """A float64 array from nested lists of numbers / hex strings (depth and shape checked)."""

    def conv(x, depth):
        if isinstance(x, list):
            if depth >= MAX_ARRAY_DEPTH:
                raise InvalidArgument(f"{where}: arrays nested deeper than {MAX_ARRAY_DEPTH} levels.")
            return [conv(y, depth + 1) for y in x]
        return hex_float(x, where=where)

    values = conv(obj, 0)
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        raise InvalidArgument(f"{where}: a ragged array (rows of different lengths).") from None


#: What numpy raises on a malformed ``.npy``/``.npz`` (a forged header reaches the
#: tokenizer and ``ast.literal_eval``).
NPY_ERRORS = (OSError, ValueError, EOFError, SyntaxError, tokenize.TokenError, zipfile.BadZipFile,
              NotImplementedError, KeyError)


def load_npy(path, *, what: str = "array file") -> np.ndarray:
    """One array from an untrusted ``.npy`` file (no pickles; empty/garbage files refused)."""
    path = Path(path)
    fmt = np.lib.format
    try:
        with open(path, "rb") as fh:
            if fh.read(2) == b"PK":
                raise InvalidArgument(f"{path}: not a {what} (an .npz archive, expected one .npy array).")
            fh.seek(0)
            version = fmt.read_magic(fh)
            read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = read_header(fh)
            if dtype.hasobject:
                raise InvalidArgument(f"{path}: not a {what} (object arrays are never loaded).")
            # The header's shape must match the bytes present: a forged header cannot make
            # us allocate more than the file holds.
            need = int(np.prod(shape, dtype=object)) * dtype.itemsize
            have = path.stat().st_size - fh.tell()
            if need > have:
                raise InvalidArgument(f"{path}: not a valid {what} (truncated: {have} of {need} bytes).")
            fh.seek(0)
            return np.load(fh, allow_pickle=False)
    except InvalidArgument:
        raise
    except NPY_ERRORS as exc:
        raise InvalidArgument(f"{path}: not a valid {what} ({_first_line(exc)}).") from None


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _short(x) -> str:
    r = repr(x)
    return r if len(r) <= 40 else r[:37] + "..."
