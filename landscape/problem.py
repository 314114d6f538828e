"""The ground truth of a Meta-LoRA instance (docs/math.md §1).

A :class:`Problem` holds the shared base ``A_star`` (d, d), the retraining tasks' adapter
factors ``U_star`` (T, d, k) and the test task's factor ``U_test`` (d, k). Task ``t`` has
``R*_t = U*_t U*_tᵀ`` and ``M*_t = A* + R*_t``; the test task has
``M*_{T+1} = A* + U_test U_testᵀ``.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .validation import NPY_ERRORS, as_float64, as_rng, check_float, check_int, nested_floats, read_json
from .errors import InvalidArgument, Undecided

__all__ = ["Problem", "check_scale", "scale_problem", "problem_nbytes", "SCALE_LIMITS", "RELATIVE_SCALE_LIMIT"]

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


#: Problems with more numbers than this print their sizes only (the repr would be huge).
_REPR_MAX_NUMBERS = 2000


def _float_text(arr: np.ndarray) -> str:
    """Nested lists in ``repr(float)`` text, which round-trips every binary64 exactly."""
    if arr.ndim == 0:
        return repr(float(arr))
    return "[" + ", ".join(_float_text(a) for a in arr) + "]"


def _from_hex(obj, where: str = "problem file") -> np.ndarray:
    """Nested lists of hex-float strings (or numbers) -> float64 array; bad input is exit 2."""
    return nested_floats(obj, where=where)


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
    # The constructor call that drew this instance (set by `random`/`with_tasks`), or None.
    _recipe: str | None = field(default=None, init=False, repr=False, compare=False)

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
        problem = cls(base_scale * A, adapter_scale * U, adapter_scale * Ut)
        if isinstance(seed, numbers.Integral):  # an int seed rebuilds it; a Generator does not
            extra = "".join(
                f", {name}={value!r}"
                for name, value, default in (
                    ("base_scale", base_scale, 1.0),
                    ("adapter_scale", adapter_scale, 1.0),
                    ("symmetric_base", bool(symmetric_base), True),
                )
                if value != default
            )
            object.__setattr__(problem, "_recipe", f"Problem.random({d}, {k}, {T}, seed={int(seed)}{extra})")
        return problem

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
        sub = Problem(self.A_star, self.U_star[:T], self.U_test)
        if self._recipe is not None:
            object.__setattr__(sub, "_recipe", f"{self._recipe}.with_tasks({T})")
        return sub

    def __repr__(self) -> str:
        """A constructor call that rebuilds this problem bit for bit.

        ``Problem.random(d, k, T, seed=...)`` when it was drawn with an integer seed, else
        ``Problem.from_arrays(...)`` with every entry as Python's shortest round-trip float
        text (exact for binary64); above ``_REPR_MAX_NUMBERS`` numbers only the sizes.
        """
        if self._recipe is not None:
            return self._recipe
        if self.A_star.size + self.U_star.size + self.U_test.size > _REPR_MAX_NUMBERS:
            return f"<Problem d={self.d}, k={self.k}, T={self.T} ({_REPR_MAX_NUMBERS}+ numbers; save() it to rebuild it exactly)>"
        arrays = ", ".join(
            f"{name}={_float_text(getattr(self, name))}" for name in ("A_star", "U_star", "U_test")
        )
        return f"Problem.from_arrays({arrays})"

    def _repr_pretty_(self, printer, cycle) -> None:
        # IPython and hypothesis would otherwise print the dataclass fields (caches included).
        printer.text(repr(self))

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
        """Inverse of :meth:`to_json`; every field's type is checked (untrusted input)."""
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            raise InvalidArgument(
                f"not a metalora problem: expected a JSON object with format={_FORMAT!r}."
            )
        missing = [key for key in ("A_star", "U_star", "U_test") if key not in obj]
        if missing:
            raise InvalidArgument(f"problem file: missing field {missing[0]!r}.")
        arrays = [_from_hex(obj[key], f"problem file: `{key}`") for key in ("A_star", "U_star", "U_test")]
        for key in ("d", "k", "T"):
            if key in obj and (isinstance(obj[key], bool) or not isinstance(obj[key], int)):
                raise InvalidArgument(
                    f"problem file: field {key!r} must be an integer; got {key}={obj[key]!r}."
                )
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
        from .runs import atomic_output, atomic_write_text

        path = Path(path)
        if path.suffix == ".json":
            atomic_write_text(path, json.dumps(self.to_json()))
        elif path.suffix == ".npz":
            with atomic_output(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, A_star=self.A_star, U_star=self.U_star, U_test=self.U_test)
        else:
            raise InvalidArgument(f"`path` must end in .json or .npz; got path={str(path)!r}.")
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
                    # Member sizes come from the zip directory: refuse a forged or bomb
                    # archive before decompressing it.
                    size = sum(info.file_size for info in data.zip.infolist())
                    if size > _MAX_FILE_BYTES:
                        raise InvalidArgument(f"{path}: arrays of {size} bytes; a problem file is at most "
                                              f"{_MAX_FILE_BYTES} bytes.")
                    arrays = [data[key] for key in ("A_star", "U_star", "U_test")]
            except InvalidArgument:
                raise
            except NPY_ERRORS as exc:
                # Not a zip, truncated, or object (pickled) arrays, which are never loaded.
                msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise InvalidArgument(f"{path}: not a valid problem .npz file ({msg}).") from None
            return cls(*arrays)
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise InvalidArgument(f"{path}: {path.stat().st_size} bytes; a problem file is at most "
                                  f"{_MAX_FILE_BYTES} bytes.")
        obj = read_json(path, what="problem file (.json or .npz)", arg="--problem")
        if isinstance(obj, dict) and "problem" in obj and "format" not in obj:
            obj = obj["problem"]  # a results file that embeds its problem
        return cls.from_json(obj)


#: Largest problem file read (bytes).
_MAX_FILE_BYTES = 2**31


# -- numerical scale -------------------------------------------------------------------
#: Range of the matrix scale ``s = max(max|A*|, max|U|²)`` (U: U*, U_test and any point)
#: in which float64 arithmetic on an instance is meaningful: ``G`` and its derivatives
#: form products of up to four entries, so ``s > 1e100`` overflows (or, through
#: cancellation, loses every digit) and ``0 < s < 1e-100`` underflows to zero.
SCALE_LIMITS = (1e-100, 1e100)

#: Largest ``‖A*‖_F / ρ`` (``ρ = (1/T) Σ_t ‖R*_t‖_F``): beyond it the task perturbations
#: ``R*_t`` sit below ``1e-8`` of ``A*``, so ``M*_t − A*`` (which every claim about the
#: adapters measures) keeps fewer than half of float64's digits and a tolerance check on
#: it would judge rounding, not the claim.
RELATIVE_SCALE_LIMIT = 1e8


def scale_problem(problem: "Problem", *points) -> str | None:
    """Why float64 results on ``problem`` (and on ``points``, adapters ``U``) would be
    numerically meaningless, or None when they are not.

    See :data:`SCALE_LIMITS` (absolute range) and :data:`RELATIVE_SCALE_LIMIT` (``A*``
    against the task perturbations).
    """
    a = float(np.max(np.abs(problem.A_star)))
    u = max(float(np.max(np.abs(problem.U_star))), float(np.max(np.abs(problem.U_test))))
    for U in points:
        U = np.asarray(U, dtype=np.float64)
        if U.size:
            u = max(u, float(np.max(np.abs(U))))
    if not (np.isfinite(a) and np.isfinite(u)):
        return "the instance has non-finite entries"
    lo, hi = SCALE_LIMITS
    scale = max(a, u * u) if u < 1e150 else float("inf")
    if scale > hi:
        return (f"badly scaled: entries up to {max(a, u):.3g} make products above {hi:.0e}, where float64 "
                f"overflows or cancels every digit; rescale the instance")
    if 0 < scale < lo:
        return (f"badly scaled: entries at most {max(a, u):.3g} make products below {lo:.0e}, which "
                f"underflow to zero in float64; rescale the instance")
    frob_A = float(np.linalg.norm(problem.A_star))
    rho = float(np.mean(np.linalg.norm(problem.R_star, axis=(1, 2))))
    if rho > 0 and frob_A > RELATIVE_SCALE_LIMIT * rho:
        return (f"badly scaled: ‖A*‖_F = {frob_A:.3g} is {frob_A / rho:.2g} times the task size "
                f"ρ = {rho:.3g}; above {RELATIVE_SCALE_LIMIT:.0e} the R*_t are lost in A*'s rounding")
    return None


def check_scale(problem: "Problem", *points) -> None:
    """Raise :class:`~landscape.errors.Undecided` (exit code 3) with the reason when
    :func:`scale_problem` finds the instance numerically meaningless.

    Examples
    --------
    >>> check_scale(Problem.random(3, 1, 2, seed=0))     # well scaled: returns None
    >>> check_scale(Problem.random(3, 1, 2, seed=0, base_scale=1e200))
    Traceback (most recent call last):
    ...
    landscape.errors.Undecided: badly scaled: ...
    """
    why = scale_problem(problem, *points)
    if why is not None:
        raise Undecided(why)


def problem_nbytes(d: int, k: int, T: int) -> float:
    """Bytes a :class:`Problem` of these sizes holds (its arrays and the cached ``R*``, ``M*``)."""
    return 8.0 * (d * d * (2 + 2 * T) + (T + 1) * d * k)
