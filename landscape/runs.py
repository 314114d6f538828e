"""The one foundation for results, runs and errors, shared by every package and command.

Everything that was once written many times over lives here, once:

- **exit codes** (:class:`ExitCode`) and the **status** every verdict uses
  (:class:`Status`: holds / fails / undecided, issued / refused, valid / invalid, …), with
  the exit code each status maps to;
- the **result protocol** (:class:`Result`): a dataclass base with ``status``, ``message``,
  ``to_json() -> dict`` and ``from_json``;
- **JSON** that is deterministic (:func:`jsonable`, :func:`canonical_json`) and a
  cryptographic **fingerprint** of anything JSON-able (:func:`fingerprint`);
- **atomic writes** (temporary file in the same folder, then :func:`os.replace`):
  :func:`atomic_write_text`, :func:`atomic_write_bytes`, :func:`atomic_write_json`,
  :func:`atomic_output` for writers that want a path (``savefig``, ``np.savez``,
  safetensors);
- **output-path checks** made *before* any computation (:func:`check_output_file`,
  :func:`check_output_dir`);
- **run directories** that resume without trusting stale work (:class:`RunDir`): every
  record carries the fingerprint of the settings that produced it, and a record made with
  other settings is never reused;
- **seeds**: one :class:`numpy.random.SeedSequence` scheme (:func:`derive_seed`,
  :func:`make_rng`);
- **limits**: BLAS thread limits (:func:`blas_threads`) and up-front work/memory budgets
  (:func:`check_budget`).

The exit-code contract (README, "Exit codes"): 0 holds / issued / valid / done; 1 a negative
verdict; 2 usage or input error; 3 undecided or assumption not met; 4 internal error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import json
import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from ._backend import blas_threads
from .errors import InvalidArgument

__all__ = [
    "ExitCode",
    "Status",
    "Result",
    "jsonable",
    "canonical_json",
    "fingerprint",
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_output",
    "check_output_file",
    "check_output_dir",
    "RunDir",
    "derive_seed",
    "make_rng",
    "seed_list",
    "blas_threads",
    "check_budget",
]


# --------------------------------------------------------------------------------------
# exit codes and statuses
# --------------------------------------------------------------------------------------
class ExitCode(enum.IntEnum):
    """The process exit codes every ``metalora`` command keeps (scripts rely on them)."""

    OK = 0  #: holds / issued / valid / done
    NEGATIVE = 1  #: a negative verdict: claim fails, certificate refused or invalid
    USAGE = 2  #: usage or input error (one line on stderr naming the argument)
    UNDECIDED = 3  #: could not decide / assumption not met (the reason is printed)
    INTERNAL = 4  #: internal error (a bug): one line + where the traceback was written


class Status(str, enum.Enum):
    """The outcome of any verdict in the toolkit, three-valued where it is a judgement.

    ``str(Status.HOLDS) == "holds"``; ``Status.X.exit_code`` is the process exit code a
    command returns for it.
    """

    HOLDS = "holds"
    FAILS = "fails"
    UNDECIDED = "undecided"
    ASSUMPTION_NOT_MET = "assumption-not-met"
    UNAVAILABLE = "unavailable"
    ISSUED = "issued"
    REFUSED = "refused"
    VALID = "valid"
    INVALID = "invalid"
    DONE = "done"

    def __str__(self) -> str:
        return self.value

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT[self]

    @property
    def positive(self) -> bool:
        """True for the statuses that mean "yes" (exit code 0)."""
        return _EXIT[self] == ExitCode.OK


_EXIT = {
    Status.HOLDS: ExitCode.OK,
    Status.ISSUED: ExitCode.OK,
    Status.VALID: ExitCode.OK,
    Status.DONE: ExitCode.OK,
    Status.FAILS: ExitCode.NEGATIVE,
    Status.REFUSED: ExitCode.NEGATIVE,
    Status.INVALID: ExitCode.NEGATIVE,
    Status.UNDECIDED: ExitCode.UNDECIDED,
    Status.ASSUMPTION_NOT_MET: ExitCode.UNDECIDED,
    Status.UNAVAILABLE: ExitCode.UNDECIDED,
}


def combine_exit_codes(codes) -> ExitCode:
    """The exit code of a batch of verdicts: 1 if any is negative, else 3 if any is
    undecided, else 0 (an internal error, 4, dominates everything).
    """
    codes = {ExitCode(int(c)) for c in codes}
    for c in (ExitCode.INTERNAL, ExitCode.USAGE, ExitCode.NEGATIVE, ExitCode.UNDECIDED):
        if c in codes:
            return c
    return ExitCode.OK


# --------------------------------------------------------------------------------------
# JSON and fingerprints
# --------------------------------------------------------------------------------------
def jsonable(obj: Any) -> Any:
    """Plain JSON values from numpy scalars/arrays, tuples, enums, paths and dataclasses.

    Non-finite floats become the strings ``"inf"``, ``"-inf"`` and ``"nan"`` (strict JSON
    has none), so :func:`json.dumps` output is valid and deterministic. Objects with a
    ``to_json()`` method are converted through it.
    """
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if np.iscomplexobj(obj):
            raise TypeError("complex arrays have no JSON form; store real and imaginary parts")
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isfinite(x):
            return x
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_json"):
        return jsonable(obj.to_json())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON")


def canonical_json(obj: Any, *, indent: int | None = None) -> str:
    """Deterministic JSON text of ``obj`` (sorted keys, strict, ``jsonable`` first)."""
    sep = (",", ":") if indent is None else (",", ": ")
    return json.dumps(jsonable(obj), sort_keys=True, indent=indent, separators=sep, allow_nan=False)


def fingerprint(obj: Any) -> str:
    """SHA-256 (hex) of :func:`canonical_json` of ``obj``: equal iff the JSON is equal."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------
# the result protocol
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Result:
    """Base of every typed result: a :class:`Status` and a one-line ``message``.

    Subclasses are frozen dataclasses with a fixed field set. ``to_json()`` always returns
    a ``dict`` of plain JSON values (never a string) and ``from_json`` rebuilds the
    object. Fields listed in ``_timing_fields`` (wall-clock times) are left out of
    ``to_json()`` unless ``timing=True``, so the same seed gives byte-identical JSON.
    """

    status: Status
    message: str = ""

    _timing_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        object.__setattr__(self, "status", Status(self.status))

    @property
    def exit_code(self) -> ExitCode:
        return self.status.exit_code

    @property
    def ok(self) -> bool:
        return self.status.positive

    def to_json(self, *, timing: bool = False) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            if f.name.startswith("_") or (f.name in self._timing_fields and not timing):
                continue
            out[f.name] = jsonable(getattr(self, f.name))
        return out

    @classmethod
    def from_json(cls, doc: dict):
        if not isinstance(doc, dict):
            raise InvalidArgument(f"a {cls.__name__} must be a JSON object; got {type(doc).__name__}.")
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(doc) - names)
        if unknown:
            raise InvalidArgument(f"unknown field(s) {unknown} for {cls.__name__}.")
        return cls(**{k: v for k, v in doc.items() if k in names})


# --------------------------------------------------------------------------------------
# atomic writes and output checks
# --------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_output(path, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was, so a
    reader never sees a half-written file. ``suffix`` (default: ``path``'s) keeps writers
    that choose a format by extension (``savefig``, ``np.savez``) happy.
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (fsync'd temporary file, then rename)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj, *, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """Write ``obj`` (made :func:`jsonable`) as strict JSON to ``path`` atomically."""
    text = json.dumps(jsonable(obj), indent=indent, sort_keys=sort_keys, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def _check_parent(path: Path, arg: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise InvalidArgument(f"`{arg}`: the folder {str(parent)!r} does not exist; create it first.")
    if not parent.is_dir():
        raise InvalidArgument(f"`{arg}`: {str(parent)!r} is not a folder.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidArgument(f"`{arg}`: the folder {str(parent)!r} is not writable.")


def check_output_file(path, *, arg: str = "--out", overwrite: bool = True) -> Path:
    """Check, before computing anything, that ``path`` can be written as a file.

    Raises :class:`InvalidArgument` (exit code 2) if ``path`` is a directory, exists while
    ``overwrite`` is False, exists but is not writable, or its parent folder is missing or
    not writable.
    """
    if path is None or str(path) == "":
        raise InvalidArgument(f"`{arg}` must be a file path; got an empty value.")
    path = Path(path)
    if path.is_dir():
        raise InvalidArgument(f"`{arg}`: {str(path)!r} is a folder; expected a file path.")
    if path.exists():
        if not overwrite:
            raise InvalidArgument(f"`{arg}`: {str(path)!r} exists; choose another path.")
        if not os.access(path, os.W_OK):
            raise InvalidArgument(f"`{arg}`: {str(path)!r} exists and is not writable.")
    _check_parent(path, arg)
    return path


def check_output_dir(path, *, arg: str = "--out", create: bool = True, make_parent: bool = False) -> Path:
    """Check (and by default create) an output folder before computing anything.

    Raises :class:`InvalidArgument` (exit code 2) if ``path`` is an existing file, or its
    parent is missing (unless ``make_parent``: a command's own default such as
    ``results/figure1`` creates ``results/``) or not writable.
    """
    if path is None or str(path) == "":
        raise InvalidArgument(f"`{arg}` must be a folder path; got an empty value.")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InvalidArgument(f"`{arg}`: {str(path)!r} is a file; expected a folder.")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise InvalidArgument(f"`{arg}`: the folder {str(path)!r} is not writable.")
        return path
    if make_parent and create:
        with contextlib.suppress(OSError):  # _check_parent names the problem
            path.parent.mkdir(parents=True, exist_ok=True)
    _check_parent(path, arg)
    if create:
        path.mkdir()
    return path


# --------------------------------------------------------------------------------------
# run directories: resume without trusting stale work
# --------------------------------------------------------------------------------------
class RunDir:
    """A folder of records that resumes only work computed with the same settings.

    ``RunDir(path, kind="atlas", settings={...})`` writes ``path/manifest.json`` holding
    ``kind``, the settings and their :func:`fingerprint`. Every record saved with
    :meth:`save` carries that fingerprint; :meth:`load` returns a record only if it exists,
    parses, and carries the *same* fingerprint, so changing any setting (an iteration
    count, a tolerance, a convention) recomputes instead of reusing stale results.

    Parameters
    ----------
    path : path-like
        The run folder (created if missing; its parent must exist).
    kind : str
        What the run is (``"atlas"``, ``"figure1"``, ``"convai2-retrain"``, …); part of the
        fingerprint.
    settings : dict
        Everything that determines the results (JSON-able).
    resume : bool
        If False, existing records are ignored (they are overwritten as work proceeds).
    arg : str
        The command-line flag naming ``path``, for error messages.

    Notes
    -----
    A run killed with SIGKILL can leave temporary files named ``.NAME.*.tmp*`` (never a
    half-written record) and, for pooled runs, worker processes that exit on their own
    once their parent is gone.
    """

    MANIFEST = "manifest.json"

    def __init__(self, path, *, kind: str, settings: dict, resume: bool = True, arg: str = "--out"):
        self.root = check_output_dir(path, arg=arg)
        self.kind = str(kind)
        self.settings = jsonable(settings)
        self.fingerprint = fingerprint({"kind": self.kind, "settings": self.settings})
        self.resume = bool(resume)
        self.stale: list[str] = []  # names of records found but made with other settings
        previous = self._read(self.root / self.MANIFEST)
        self.previous_fingerprint = None if previous is None else previous.get("fingerprint")
        if previous is None or previous.get("fingerprint") != self.fingerprint or not resume:
            self._write_manifest(complete=False, summary=None)

    # manifest ------------------------------------------------------------------------
    def _write_manifest(self, *, complete: bool, summary) -> None:
        atomic_write_json(
            self.root / self.MANIFEST,
            {
                "kind": self.kind,
                "fingerprint": self.fingerprint,
                "settings": self.settings,
                "complete": bool(complete),
                "summary": summary,
            },
        )

    @property
    def complete(self) -> bool:
        doc = self._read(self.root / self.MANIFEST)
        return bool(doc and doc.get("fingerprint") == self.fingerprint and doc.get("complete"))

    def mark_complete(self, summary=None) -> None:
        """Declare the run complete; call only after every output has been written."""
        self._write_manifest(complete=True, summary=jsonable(summary))

    # records -------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        """The path of a record or output ``name`` inside the run (sub-folders created)."""
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    @staticmethod
    def _read(path: Path):
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError, RecursionError):
            return None
        return doc if isinstance(doc, dict) else None

    def load(self, name: str):
        """The record ``name`` (without its fingerprint wrapper) if it can be reused, else None."""
        if not self.resume:
            return None
        doc = self._read(self.root / name)
        if doc is None or "record" not in doc:
            return None
        if doc.get("fingerprint") != self.fingerprint:
            self.stale.append(name)
            return None
        return doc["record"]

    def save(self, name: str, record) -> Path:
        """Save ``record`` atomically under ``name``, stamped with the run's fingerprint."""
        return atomic_write_json(self.path(name), {"fingerprint": self.fingerprint, "record": record})


# --------------------------------------------------------------------------------------
# seeds
# --------------------------------------------------------------------------------------
def _check_seed(seed, arg: str = "seed") -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidArgument(f"`{arg}` must be a non-negative integer; got {arg}={seed!r}.")
    return int(seed)


def derive_seed(seed, *parts) -> int:
    """A 63-bit integer seed for the stream ``(seed, *parts)``, via SeedSequence.

    Different ``parts`` give statistically independent streams; the same arguments always
    give the same integer. ``seed`` and integer parts are in ``[0, 2⁶⁴)``; string parts are
    hashed. Each value enters the entropy as a type tag and two 32-bit words after the
    number of parts, so distinct argument lists never share an entropy pool (SeedSequence
    alone treats ``[s]`` and ``[s, 0]`` alike).
    """
    words = [len(parts)]
    for i, p in enumerate((seed, *parts)):
        if isinstance(p, str) and i > 0:
            tag, v = 1, int.from_bytes(hashlib.sha256(p.encode()).digest()[:8], "little")
        else:
            tag, v = 0, _check_seed(p, "seed" if i == 0 else "part")
            if v >= 2**64:
                raise InvalidArgument(f"seeds must be below 2**64; got {v}.")
        words += [tag, v & 0xFFFFFFFF, v >> 32]
    state = np.random.SeedSequence(words).generate_state(2, dtype=np.uint32)
    return int((int(state[1]) << 32) | int(state[0])) & ((1 << 63) - 1)


def seed_list(seeds, first=0) -> tuple:
    """The seeds of a multi-seed run: ``seeds`` as a count (``first, first+1, …``) or a list.

    Raises :class:`InvalidArgument` unless the result is a non-empty tuple of distinct
    non-negative integers.
    """
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, (bool, np.bool_)):
        if seeds < 1:
            raise InvalidArgument(f"`seeds` must be a positive count or a list of seeds; got seeds={seeds!r}.")
        first = _check_seed(first, "seed")
        return tuple(range(first, first + int(seeds)))
    try:
        out = tuple(_check_seed(s, "seed") for s in seeds)
    except TypeError:
        raise InvalidArgument(f"`seeds` must be a count or a list of seeds; got seeds={seeds!r}.") from None
    if not out or len(set(out)) != len(out):
        raise InvalidArgument(f"`seeds` must be non-empty and distinct; got seeds={out!r}.")
    return out


def make_rng(seed=None, *parts) -> np.random.Generator:
    """A Generator from ``None`` (fresh entropy), an int, or a Generator (returned as is).

    With ``parts``, the stream :func:`derive_seed` ``(seed, *parts)``; a Generator with
    parts spawns a child deterministically from its own state.
    """
    if isinstance(seed, np.random.Generator):
        if not parts:
            return seed
        return np.random.default_rng(derive_seed(int(seed.integers(2**62)), *parts))
    if seed is None:
        if parts:
            raise InvalidArgument("`seed` must be given when stream parts are.")
        return np.random.default_rng()
    seed = _check_seed(seed)
    return np.random.default_rng(derive_seed(seed, *parts) if parts else seed)


# --------------------------------------------------------------------------------------
# budgets
# --------------------------------------------------------------------------------------
def check_budget(what: str, estimate: float, limit: float, *, unit: str, force: bool = False,
                 arg: str = "--force") -> None:
    """Refuse work whose estimated size exceeds ``limit`` unless ``force`` is set.

    Raises :class:`InvalidArgument` (exit code 2) naming the estimate, the limit and the
    flag that overrides it.
    """
    if not force and not (estimate <= limit):
        raise InvalidArgument(
            f"{what} needs about {_human(estimate)} {unit}, above the limit of {_human(limit)} {unit}; "
            f"use smaller sizes or pass `{arg}` to run it anyway."
        )


def _human(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    for div, suf in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suf}"
    return f"{x:.3g}"
