"""The ground truth of a Meta-LoRA instance (MATH.md §1).

A :class:`Problem` holds the shared base ``A_star`` (d, d), the retraining tasks' adapter
factors ``U_star`` (T, d, k) and the test task's factor ``U_test`` (d, k). Task ``t`` has
``R*_t = U*_t U*_tᵀ`` and ``M*_t = A* + R*_t``; the test task has
``M*_{T+1} = A* + U_test U_testᵀ``.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ._validation import as_float64, as_rng, check_float, check_int
from .errors import InvalidArgument

__all__ = ["Problem"]

_FORMAT = "metalora.problem/1"


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, dtype=np.float64, copy=True)
    arr.setflags(write=False)
    return arr


def _hex_list(arr: np.ndarray):
    """Nested lists of ``float.hex`` strings: binary64 values round-trip exactly."""
    if arr.ndim == 0:
        return float(arr).hex()
    return [_hex_list(a) for a in arr]


def _from_hex(obj) -> np.ndarray:
    def conv(x):
        if isinstance(x, list):
            return [conv(y) for y in x]
        if isinstance(x, str):
            return float.fromhex(x)
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return float(x)
        raise InvalidArgument(f"problem file: expected hex-float strings, got {x!r}.")

    return np.array(conv(obj), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Problem:
    """Ground truth of a linear Meta-LoRA instance (immutable; arrays are read-only).

    Parameters
    ----------
    A_star : (d, d) array
        Shared base ``A*``.
    U_star : (T, d, k) array
        Retraining tasks' factors ``U*_t``; ``R*_t = U*_t U*_tᵀ``.
    U_test : (d, k) array
        Test task's factor; ``M*_{T+1} = A* + U_test U_testᵀ``.

    Use :meth:`random`, :meth:`from_arrays` or :meth:`load` to build one; all validate.
    """

    A_star: NDArray[np.float64]
    U_star: NDArray[np.float64]
    U_test: NDArray[np.float64]
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # -- construction -----------------------------------------------------------------
    def __post_init__(self):
        A = as_float64("A_star", self.A_star)
        U = as_float64("U_star", self.U_star)
        Ut = as_float64("U_test", self.U_test)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 1:
            raise InvalidArgument(f"`A_star` must be a square (d, d) array; got shape {A.shape}.")
        d = A.shape[0]
        if U.ndim != 3 or U.shape[0] < 1 or U.shape[1] != d or U.shape[2] < 1:
            raise InvalidArgument(
                f"`U_star` must have shape (T, d, k) with T >= 1, d={d}, k >= 1; got shape {U.shape}."
            )
        T, _, k = U.shape
        if k > d:
            raise InvalidArgument(f"`k` must be an integer in [1, d]=[1, {d}]; got k={k}.")
        if Ut.shape != (d, k):
            raise InvalidArgument(f"`U_test` must have shape (d, k)=({d}, {k}); got shape {Ut.shape}.")
        object.__setattr__(self, "A_star", _frozen(A))
        object.__setattr__(self, "U_star", _frozen(U))
        object.__setattr__(self, "U_test", _frozen(Ut))

    @classmethod
    def from_arrays(cls, A_star, U_star, U_test) -> "Problem":
        """Build a problem from explicit arrays (copied, converted to float64, validated)."""
        return cls(A_star, U_star, U_test)

    @classmethod
    def random(
        cls,
        d: int,
        k: int,
        T: int,
        *,
        seed=None,
        base_scale: float = 1.0,
        adapter_scale: float = 1.0,
        symmetric_base: bool = True,
    ) -> "Problem":
        """Draw an instance from the paper's distributions (EXPERIMENTS.md §1).

        ``A* = base_scale · (B + Bᵀ)/2`` with ``B_ij ~ N(0, 1)`` (no 1/√d scaling; with
        ``symmetric_base=False`` simply ``base_scale · B``), and every entry of ``U*_t`` and
        ``U_test`` i.i.d. ``N(0, adapter_scale²)``. Draw order: ``B``, ``U_star``, ``U_test``.

        Parameters
        ----------
        d, k, T : int
            Dimension, adapter rank (``1 <= k <= d``) and number of retraining tasks (>= 1).
        seed : None, int or numpy.random.Generator
            Same seed, same numbers.

        Examples
        --------
        >>> p = Problem.random(4, 1, 3, seed=0)
        >>> p.d, p.k, p.T
        (4, 1, 3)
        """
        d = check_int("d", d, low=1)
        k = check_int("k", k, low=1, high=d)
        T = check_int("T", T, low=1)
        base_scale = check_float("base_scale", base_scale, low=0.0)
        adapter_scale = check_float("adapter_scale", adapter_scale, low=0.0)
        rng = as_rng(seed)
        B = rng.standard_normal((d, d))
        A = (B + B.T) / 2 if symmetric_base else B
        U = rng.standard_normal((T, d, k))
        Ut = rng.standard_normal((d, k))
        return cls(base_scale * A, adapter_scale * U, adapter_scale * Ut)

    # -- sizes and derived quantities -------------------------------------------------
    @property
    def d(self) -> int:
        return self.A_star.shape[0]

    @property
    def k(self) -> int:
        return self.U_star.shape[2]

    @property
    def T(self) -> int:
        return self.U_star.shape[0]

    def _cached(self, key, fn):
        if key not in self._cache:
            value = fn()
            value.setflags(write=False)
            self._cache[key] = value
        return self._cache[key]

    @property
    def R_star(self) -> NDArray[np.float64]:
        """``R*_t = U*_t U*_tᵀ``, shape (T, d, d)."""
        return self._cached("R", lambda: np.einsum("tik,tjk->tij", self.U_star, self.U_star))

    @property
    def M_star(self) -> NDArray[np.float64]:
        """``M*_t = A* + R*_t``, shape (T, d, d)."""
        return self._cached("M", lambda: self.A_star[None] + self.R_star)

    @property
    def R_test(self) -> NDArray[np.float64]:
        return self._cached("Rt", lambda: self.U_test @ self.U_test.T)

    @property
    def M_test(self) -> NDArray[np.float64]:
        """``M*_{T+1} = A* + U_test U_testᵀ``, shape (d, d)."""
        return self._cached("Mt", lambda: self.A_star + self.R_test)

    def with_tasks(self, T: int) -> "Problem":
        """The sub-problem with the first ``T`` retraining tasks (same base and test task)."""
        T = check_int("T", T, low=1, high=self.T)
        return Problem(self.A_star, self.U_star[:T], self.U_test)

    def __repr__(self) -> str:
        return f"Problem(d={self.d}, k={self.k}, T={self.T})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, n), getattr(other, n)) for n in ("A_star", "U_star", "U_test")
        )

    __hash__ = None  # arrays are not hashable by value

    # -- persistence ------------------------------------------------------------------
    def to_json(self) -> dict:
        """A JSON-serialisable dict; numbers as ``float.hex`` strings (exact round trip)."""
        return {
            "format": _FORMAT,
            "d": self.d,
            "k": self.k,
            "T": self.T,
            "A_star": _hex_list(self.A_star),
            "U_star": _hex_list(self.U_star),
            "U_test": _hex_list(self.U_test),
        }

    @classmethod
    def from_json(cls, obj: dict) -> "Problem":
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            raise InvalidArgument(
                f"not a metalora problem: expected a JSON object with format={_FORMAT!r}."
            )
        try:
            arrays = [_from_hex(obj[key]) for key in ("A_star", "U_star", "U_test")]
        except KeyError as exc:
            raise InvalidArgument(f"problem file: missing field {exc.args[0]!r}.") from None
        except ValueError as exc:
            raise InvalidArgument(f"problem file: malformed array ({exc}).") from None
        problem = cls(*arrays)
        for key in ("d", "k", "T"):
            if key in obj and obj[key] != getattr(problem, key):
                raise InvalidArgument(
                    f"problem file: field {key}={obj[key]!r} does not match the arrays "
                    f"({key}={getattr(problem, key)})."
                )
        return problem

    def save(self, path) -> Path:
        """Write to ``path`` (``.json``: exact hex floats; ``.npz``: numpy arrays), atomically."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        if path.suffix == ".json":
            tmp.write_text(json.dumps(self.to_json()))
        elif path.suffix == ".npz":
            with open(tmp, "wb") as fh:
                np.savez(fh, A_star=self.A_star, U_star=self.U_star, U_test=self.U_test)
        else:
            raise InvalidArgument(f"`path` must end in .json or .npz; got path={str(path)!r}.")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path) -> "Problem":
        """Read a problem written by :meth:`save` (``.json`` or ``.npz``; no pickles)."""
        path = Path(path)
        if not path.is_file():
            raise InvalidArgument(f"`path` must be an existing problem file; got path={str(path)!r}.")
        if path.suffix == ".npz":
            try:
                with open(path, "rb") as fh:
                    data = np.load(fh, allow_pickle=False)
                    if not isinstance(data, np.lib.npyio.NpzFile):
                        raise InvalidArgument(f"{path}: not an .npz archive (a bare .npy array).")
                    missing = {"A_star", "U_star", "U_test"} - set(data.files)
                    if missing:
                        raise InvalidArgument(f"{path}: missing arrays {sorted(missing)}.")
                    arrays = [data[key] for key in ("A_star", "U_star", "U_test")]
            except InvalidArgument:
                raise
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                # Not a zip, truncated, or object (pickled) arrays, which are never loaded.
                raise InvalidArgument(f"{path}: not a valid problem .npz file ({exc}).") from None
            return cls(*arrays)
        try:
            obj = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"{path}: not valid JSON ({exc}).") from None
        if isinstance(obj, dict) and "problem" in obj and "format" not in obj:
            obj = obj["problem"]  # a results file that embeds its problem
        return cls.from_json(obj)
