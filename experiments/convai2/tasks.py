"""Personas become tasks; the paper's task selection and dialogue splits.

A *task* is one persona: every dialogue whose speaker has the same **set** of persona
sentences (order ignored), or, with a cluster map, every dialogue whose persona the map puts
in the same cluster (the authors merged re-phrased personas with such a map).

Selection (paper §4.2, EXPERIMENTS.md §2): retrain on the ``T`` largest personas of the
train split, holding out the last ``h`` dialogues of each for model selection; fine-tune and
evaluate on the 10 largest personas of the validation split, each split into fine-tune,
selection and evaluation dialogues (the last ``e`` dialogues evaluate, the ``s`` before them
select the epoch honestly, the rest fine-tune). "Largest" = most dialogues, then most
examples, then the task name (a deterministic order).

Cluster maps are JSON, or the pickles that circulate for this data set read through
:func:`restricted_load`, which admits only plain containers, strings, ints and booleans.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

from landscape._validation import check_int
from landscape.errors import InvalidArgument

from .data import PERSONA_PREFIX, Dialogue, DataFormatError

__all__ = [
    "Task",
    "RetrainSplit",
    "TestSplit",
    "UnsafePickleError",
    "persona_key",
    "restricted_load",
    "load_cluster_map",
    "group_tasks",
    "largest_tasks",
    "retrain_splits",
    "test_splits",
]


@dataclass(frozen=True)
class Task:
    """One persona (or persona cluster) and its dialogues in file order."""

    name: str
    persona: tuple[str, ...]
    dialogues: tuple[Dialogue, ...]

    @property
    def n_dialogues(self) -> int:
        return len(self.dialogues)

    @property
    def n_examples(self) -> int:
        return sum(len(d.examples) for d in self.dialogues)


@dataclass(frozen=True)
class RetrainSplit:
    """A retraining task: dialogues to train on and held-out dialogues for model selection."""

    name: str
    train: tuple[Dialogue, ...]
    heldout: tuple[Dialogue, ...]


@dataclass(frozen=True)
class TestSplit:
    """A test persona: fine-tune, (honest) selection and evaluation dialogues."""

    name: str
    finetune: tuple[Dialogue, ...]
    select: tuple[Dialogue, ...]
    evaluate: tuple[Dialogue, ...]


def persona_key(persona) -> tuple[str, ...]:
    """The exact set of persona sentences as a sorted tuple (whitespace-normalised)."""
    return tuple(sorted({_norm_sentence(s) for s in persona}))


def _norm_sentence(s: str) -> str:
    s = s.strip()
    if s.lower().startswith(PERSONA_PREFIX):
        s = s[len(PERSONA_PREFIX) :]
    return " ".join(s.split())


def _task_name(key: tuple[str, ...]) -> str:
    return "persona-" + hashlib.sha1("\n".join(key).encode("utf-8")).hexdigest()[:10]


# --------------------------------------------------------------------------- restricted pickle


class UnsafePickleError(InvalidArgument):
    """A pickle asked for something other than plain containers, strings and numbers."""


_ALLOWED_GLOBALS = {
    (mod, name)
    for mod in ("builtins", "__builtin__")
    for name in ("set", "frozenset", "dict", "list", "tuple", "str", "int", "bool")
}
_PLAIN = (dict, list, tuple, set, frozenset, str, int, bool, type(None))


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return getattr(builtins, name)
        raise UnsafePickleError(
            f"refusing to load global {module}.{name}: cluster-map pickles may hold only "
            "dict/list/tuple/set/str/int/bool/None."
        )

    def persistent_load(self, pid):
        raise UnsafePickleError("refusing a pickle with persistent ids.")


def _check_plain(obj, depth=0):
    if depth > 50:
        raise UnsafePickleError("nesting deeper than 50 levels.")
    if not isinstance(obj, _PLAIN) or type(obj) not in _PLAIN:
        raise UnsafePickleError(f"found an object of type {type(obj).__name__}.")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_plain(k, depth + 1)
            _check_plain(v, depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            _check_plain(v, depth + 1)


def restricted_load(source):
    """Unpickle ``source`` (a path or bytes) admitting only plain containers, strings and ints.

    No class is imported and no callable other than the builtin container/str/int/bool
    constructors is reachable, so a pickle crafted to run code is refused before anything runs.

    Raises
    ------
    UnsafePickleError
        The pickle references any other global, uses persistent ids, or holds other types.
    """
    name = "<bytes>"
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        name = str(source)
        data = Path(source).read_bytes()
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), encoding="utf-8").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{name}: {exc}") from None
    except Exception as exc:  # truncated/corrupt pickles
        raise InvalidArgument(
            f"{name}: not a readable pickle ({type(exc).__name__}: {exc})."
        ) from None
    try:
        _check_plain(obj)
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{name}: {exc}") from None
    return obj


# --------------------------------------------------------------------------- cluster maps


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _canonical(persona) -> tuple[str, ...]:
    """Order-free form of a persona given as sentences or as one string of joined sentences:
    the text is joined, re-split after sentence-ending punctuation and sorted, so that
    ``"i like cats . i am tall ."`` and ``["i am tall .", "i like cats ."]`` agree."""
    if isinstance(persona, str):
        persona = [persona]
    text = " ".join(" ".join(s.replace(PERSONA_PREFIX, " ").split()) for s in persona)
    return tuple(sorted({p.strip() for p in _SENTENCE_END.split(text) if p.strip()}))


def _map_key(persona) -> tuple[str, ...]:
    if isinstance(persona, str) or (
        isinstance(persona, (list, tuple, set, frozenset))
        and all(isinstance(s, str) for s in persona)
    ):
        key = _canonical(sorted(persona) if isinstance(persona, (set, frozenset)) else persona)
        if key:
            return key
    raise InvalidArgument(
        f"a persona in a cluster map must be a non-empty string or list of sentences; got {persona!r:.60}."
    )


def _cluster_id(cid) -> str:
    if isinstance(cid, bool) or not isinstance(cid, (int, str)):
        raise InvalidArgument(f"a cluster id must be an int or a string; got {cid!r}.")
    return str(cid)


def normalize_cluster_map(obj) -> dict:
    """Turn any of the accepted cluster-map shapes into ``{persona form: cluster id}``.

    Accepted shapes: ``{persona: cluster_id}``; ``{cluster_id: [persona, ...]}``;
    ``[[persona, ...], ...]`` (cluster id = position). A persona is a string (its sentences
    joined, in any order) or a list of sentences. Cluster id 0 is a cluster like any other.
    """
    out: dict = {}

    def put(persona, cid):
        key = _map_key(persona)
        cid = _cluster_id(cid)
        if out.get(key, cid) != cid:
            raise InvalidArgument(
                f"persona {str(key)[:60]!r} is in two clusters ({out[key]} and {cid})."
            )
        out[key] = cid

    if isinstance(obj, dict):
        values = list(obj.values())
        if all(isinstance(v, (list, tuple, set, frozenset)) for v in values):
            for cid, members in obj.items():
                for persona in members:
                    put(persona, cid)
        elif all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in values):
            for persona, cid in obj.items():
                put(persona, cid)
        else:
            raise InvalidArgument(
                "a dict cluster map must map personas to cluster ids, or cluster ids to lists of personas."
            )
    elif isinstance(obj, (list, tuple)):
        for cid, members in enumerate(obj):
            if not isinstance(members, (list, tuple, set, frozenset)):
                raise InvalidArgument(
                    f"cluster {cid} of a list-shaped cluster map must be a list of personas."
                )
            for persona in members:
                put(persona, cid)
    else:
        raise InvalidArgument(f"a cluster map must be a dict or a list; got {type(obj).__name__}.")
    if not out:
        raise InvalidArgument("the cluster map is empty.")
    return out


def load_cluster_map(path) -> dict:
    """Read a cluster map from JSON (``.json``) or a pickle (through :func:`restricted_load`)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"`cluster_map` must be an existing file; got {str(path)!r}.")
    raw = path.read_bytes()
    if raw[:1] == b"\x80" or path.suffix in (".pkl", ".pickle", ".p"):
        obj = restricted_load(path)
    else:
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            line = getattr(exc, "lineno", None)
            raise DataFormatError(path, line, f"not valid JSON ({exc}).") from None
    try:
        return normalize_cluster_map(obj)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- grouping / selection


def group_tasks(dialogues, cluster_map: dict | None = None) -> tuple[Task, ...]:
    """Group dialogues into tasks, in order of first appearance.

    Parameters
    ----------
    dialogues : iterable of Dialogue
    cluster_map : dict, optional
        From :func:`load_cluster_map` / :func:`normalize_cluster_map`. Personas the map does
        not mention keep their own exact-set task.

    Returns
    -------
    tuple of Task
        Named ``cluster-<id>`` (mapped) or ``persona-<hash of the sentence set>``.
    """
    groups: dict[str, list] = {}
    personas: dict[str, tuple[str, ...]] = {}
    for d in dialogues:
        key = persona_key(d.persona)
        name = None
        if cluster_map:
            cid = cluster_map.get(_canonical(d.persona))
            if cid is not None:
                name = "cluster-" + cid
        if name is None:
            name = _task_name(key)
        groups.setdefault(name, []).append(d)
        personas.setdefault(name, key)
    return tuple(Task(name, personas[name], tuple(ds)) for name, ds in groups.items())


def _size_order(task: Task):
    return (-task.n_dialogues, -task.n_examples, task.name)


def largest_tasks(tasks, n: int, *, min_dialogues: int = 1) -> tuple[Task, ...]:
    """The ``n`` largest tasks with at least ``min_dialogues`` dialogues, largest first."""
    n = check_int("n", n, low=1)
    min_dialogues = check_int("min_dialogues", min_dialogues, low=1)
    eligible = sorted((t for t in tasks if t.n_dialogues >= min_dialogues), key=_size_order)
    if len(eligible) < n:
        raise InvalidArgument(
            f"`n`={n} tasks requested but only {len(eligible)} personas have at least "
            f"{min_dialogues} dialogues (of {len(tuple(tasks))}); lower the task count or the "
            "held-out/selection/evaluation dialogue counts."
        )
    return tuple(eligible[:n])


def retrain_splits(tasks, n_tasks: int, heldout_dialogues: int = 3) -> tuple[RetrainSplit, ...]:
    """The ``n_tasks`` largest tasks; the last ``heldout_dialogues`` of each are held out."""
    h = check_int("heldout_dialogues", heldout_dialogues, low=1)
    chosen = largest_tasks(tasks, n_tasks, min_dialogues=h + 1)
    return tuple(RetrainSplit(t.name, t.dialogues[:-h], t.dialogues[-h:]) for t in chosen)


def test_splits(
    tasks,
    n_tasks: int = 10,
    *,
    eval_dialogues: int = 2,
    select_dialogues: int = 1,
    finetune_dialogues: int | None = None,
) -> tuple[TestSplit, ...]:
    """The ``n_tasks`` largest tasks split into fine-tune / selection / evaluation dialogues.

    The last ``eval_dialogues`` evaluate (as in the paper), the ``select_dialogues`` before
    them choose the epoch honestly, and the rest (or the first ``finetune_dialogues`` of the
    rest) fine-tune.
    """
    e = check_int("eval_dialogues", eval_dialogues, low=1)
    s = check_int("select_dialogues", select_dialogues, low=1)
    f = (
        None
        if finetune_dialogues is None
        else check_int("finetune_dialogues", finetune_dialogues, low=1)
    )
    chosen = largest_tasks(tasks, n_tasks, min_dialogues=e + s + (f or 1))
    out = []
    for t in chosen:
        ds = t.dialogues
        rest = ds[: len(ds) - e - s]
        out.append(
            TestSplit(
                t.name,
                rest if f is None else rest[:f],
                ds[len(ds) - e - s : len(ds) - e],
                ds[len(ds) - e :],
            )
        )
    return tuple(out)


test_splits.__test__ = False  # not a pytest test despite the name
