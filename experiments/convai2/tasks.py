"""Personas become tasks; the paper's task selection and dialogue splits.

A *task* is one persona: every dialogue whose speaker has the same **set** of persona
sentences (order ignored), or, with a cluster map, every dialogue whose persona the map puts
in the same cluster (the authors merged re-phrased personas with such a map).

Selection (paper §4.2, EXPERIMENTS.md §2): retrain on the ``T`` largest personas of the
train split, holding out the last ``h`` dialogues of each for model selection; fine-tune and
evaluate on the 10 largest personas of the validation split, each split into fine-tune,
selection and evaluation dialogues (the last ``e`` dialogues evaluate, the ``s`` before them
select the epoch honestly, the rest fine-tune). "Largest" is by the examples kept for
training (``ranking="examples"``, the paper pipeline's rule) or by dialogues, then examples
(``"dialogues"``); ties by name (a deterministic order).

Cluster maps are JSON, or the pickles that circulate for this data set (the paper's
pipeline ships ``train_persona_map`` and ``valid_persona_map``: dicts from persona text to
numpy integer ids) read through :func:`restricted_load`, which admits only plain
containers, strings, ints, booleans and numpy integer/string scalars and arrays. Personas
are matched by :func:`persona_forms` on both sides (lower-cased, sentence-end punctuation
removed, order-free), and every map reports how many personas it matched.
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

from landscape.validation import check_int
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
    "load_split_cluster_map",
    "cluster_map_file",
    "persona_forms",
    "member_fingerprints",
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
#: exactly what rebuilding numpy scalars and arrays needs (numpy 1 and 2 module names)
_NUMPY_GLOBALS = {
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("_codecs", "encode"),  # protocols 0-2 store the scalar's bytes as text re-encoded by it
}
_PLAIN = (dict, list, tuple, set, frozenset, str, int, bool, type(None))


def _numpy_global(module: str, name: str):
    import numpy as np

    if module == "_codecs":
        import _codecs

        return _codecs.encode
    if name in ("dtype", "ndarray"):
        return getattr(np, name)
    try:  # numpy >= 2 (numpy.core is a deprecated alias there)
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1
        from numpy.core import multiarray
    return getattr(multiarray, name)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return getattr(builtins, name)
        if (module, name) in _NUMPY_GLOBALS:
            return _numpy_global(module, name)
        raise UnsafePickleError(
            f"refusing to load global {module}.{name}: cluster-map pickles may hold only "
            "dict/list/tuple/set/str/int/bool/None and numpy integer/string scalars and arrays."
        )

    def persistent_load(self, pid):
        raise UnsafePickleError("refusing a pickle with persistent ids.")


def _to_plain(obj, depth=0):
    """Plain Python values: numpy integer/bool/string scalars and arrays become int/bool/str
    and lists; any other type is refused.
    """
    import numpy as np

    if depth > 50:
        raise UnsafePickleError("nesting deeper than 50 levels.")
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "iubU":
            raise UnsafePickleError(f"found a numpy array of dtype {obj.dtype}.")
        return obj.tolist()
    if isinstance(obj, np.generic):
        if obj.dtype.kind not in "iubU":
            raise UnsafePickleError(f"found a numpy scalar of type {type(obj).__name__}.")
        return obj.item()
    if not isinstance(obj, _PLAIN) or type(obj) not in _PLAIN:
        raise UnsafePickleError(f"found an object of type {type(obj).__name__}.")
    if isinstance(obj, dict):
        return {_to_plain(k, depth + 1): _to_plain(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return type(obj)(_to_plain(v, depth + 1) for v in obj)
    return obj


def restricted_load(source):
    """Unpickle ``source`` (a path or bytes) admitting only plain containers, strings, ints
    and numpy integer/string scalars and arrays (converted to plain Python values).

    No class is imported and no callable other than the builtin container/str/int/bool
    constructors and the numpy scalar/array reconstructors is reachable, so a pickle crafted
    to run code is refused before anything runs.

    Raises
    ------
    UnsafePickleError
        The pickle references any other global, uses persistent ids, or holds other types
        (floats, object arrays, ...).
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
        return _to_plain(obj)
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{name}: {exc}") from None


# --------------------------------------------------------------------------- cluster maps


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_END_PUNCT = re.compile(r"\s*[.!?]+\s*")


def _norm_text(s: str) -> str:
    """Lower-cased, without the persona prefix and sentence-end punctuation, single spaces:
    ``"your persona: I like cats ."``, ``"i like cats"`` and ``"i like cats!"`` agree.
    """
    s = s.replace(PERSONA_PREFIX, " ")
    return " ".join(_END_PUNCT.sub(" ", s).lower().split())


def persona_forms(persona) -> tuple[tuple, tuple]:
    """The two forms a persona is matched by, the same on the map's side and the data's.

    ``("set", sorted normalised sentences)``: order-free; a string is first split after
    sentence-ending punctuation (and at newlines). ``("bag", sorted words)``: the words of all
    sentences, order-free, which matches maps whose keys are the persona text with the
    periods removed (where the sentence boundaries are lost).
    """
    if isinstance(persona, str):
        persona = [persona]
    parts = [p for s in persona for p in _SENTENCE_END.split(s.replace(PERSONA_PREFIX, " "))]
    sentences = tuple(sorted({_norm_text(p) for p in parts if _norm_text(p)}))
    words = tuple(sorted(" ".join(sentences).split()))
    return ("set", sentences), ("bag", words)


def _map_forms(persona):
    if isinstance(persona, str) or (
        isinstance(persona, (list, tuple, set, frozenset))
        and all(isinstance(s, str) for s in persona)
    ):
        items = sorted(persona) if isinstance(persona, (set, frozenset)) else persona
        forms = persona_forms(items)
        if forms[0][1]:
            return forms
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
    joined, in any order, with or without end punctuation) or a list of sentences. Cluster
    ids may be ints (numpy integers too), or strings; cluster 0 is a cluster like any other.
    """
    out: dict = {}

    ambiguous = set()

    def put(persona, cid):
        cid = _cluster_id(cid)
        exact, bag = _map_forms(persona)
        if out.get(exact, cid) != cid:
            raise InvalidArgument(
                f"persona {str(exact[1])[:60]!r} is in two clusters ({out[exact]} and {cid})."
            )
        out[exact] = cid
        if out.get(bag, cid) != cid:
            ambiguous.add(bag)  # two personas with the same words in different clusters
        out[bag] = cid

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
    for bag in ambiguous:
        del out[bag]
    if not out:
        raise InvalidArgument("the cluster map is empty.")
    return out


def load_cluster_map(path) -> dict:
    """Read one cluster map from JSON or a pickle (through :func:`restricted_load`)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"`--cluster-map` must be an existing file or folder; got {str(path)!r}.")
    raw = path.read_bytes()
    if raw[:1] == b"\x80" or path.suffix in (".pkl", ".pickle", ".p"):
        obj = restricted_load(path)
    else:
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            line = getattr(exc, "lineno", None)
            if isinstance(exc, UnicodeDecodeError) or raw[:1] in (b"(", b"}", b"]"):
                obj = restricted_load(path)  # a protocol-0/1 pickle without extension
            else:
                raise DataFormatError(path, line, f"not valid JSON ({exc}).") from None
    try:
        return normalize_cluster_map(obj)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{path}: {exc}") from None


SPLIT_MAP_NAMES = {"train": "train_persona_map", "valid": "valid_persona_map"}


def cluster_map_file(path, split: str) -> Path:
    """The map file of ``split`` under ``--cluster-map``: the file itself (one map for both
    splits), or ``train_persona_map`` / ``valid_persona_map`` (any extension) in a folder.
    """
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        stem = SPLIT_MAP_NAMES[split]
        found = sorted(p for p in path.iterdir() if p.is_file() and (p.name == stem or p.stem == stem))
        if len(found) == 1:
            return found[0]
        raise InvalidArgument(
            f"`--cluster-map` folder {str(path)!r} must hold one {stem} file (found {len(found)}); "
            "expected train_persona_map and valid_persona_map as the paper's pipeline ships them."
        )
    raise InvalidArgument(f"`--cluster-map` must be an existing file or folder; got {str(path)!r}.")


def load_split_cluster_map(path, split: str) -> tuple[dict, str]:
    """``(map, file)`` for ``split`` (see :func:`cluster_map_file`)."""
    f = cluster_map_file(path, split)
    return load_cluster_map(f), str(f)


# --------------------------------------------------------------------------- grouping / selection


def _lookup(cluster_map: dict, persona):
    for form in persona_forms(persona):
        cid = cluster_map.get(form)
        if cid is not None:
            return cid
    return None


def group_tasks(dialogues, cluster_map: dict | None = None, *, report: dict | None = None, source: str = "") -> tuple[Task, ...]:
    """Group dialogues into tasks, in order of first appearance.

    Parameters
    ----------
    dialogues : iterable of Dialogue
    cluster_map : dict, optional
        From :func:`load_cluster_map` / :func:`normalize_cluster_map`. Personas the map does
        not mention keep their own exact-set task.
    report : dict, optional
        Filled with ``personas`` (distinct personas), ``matched`` (those the map put in a
        cluster) and ``clusters`` (distinct clusters used).
    source : str
        The map's file, for messages.

    Returns
    -------
    tuple of Task
        Named ``cluster-<id>`` (mapped) or ``persona-<hash of the sentence set>``.

    Raises
    ------
    InvalidArgument
        A cluster map that matches none of the personas.
    """
    groups: dict[str, list] = {}
    personas: dict[str, tuple[str, ...]] = {}
    seen, matched, clusters = set(), set(), set()
    for d in dialogues:
        key = persona_key(d.persona)
        seen.add(key)
        name = None
        if cluster_map:
            cid = _lookup(cluster_map, d.persona)
            if cid is not None:
                name = "cluster-" + cid
                matched.add(key)
                clusters.add(cid)
        if name is None:
            name = _task_name(key)
        groups.setdefault(name, []).append(d)
        personas.setdefault(name, key)
    if cluster_map and not matched:
        raise InvalidArgument(
            f"`--cluster-map` {source or 'map'} matches none of the {len(seen)} personas of the split "
            "(sentences are compared lower-cased, without end punctuation, in any order); check the map."
        )
    if report is not None:
        report.update(personas=len(seen), matched=len(matched), clusters=len(clusters))
    return tuple(Task(name, personas[name], tuple(ds)) for name, ds in groups.items())


def member_fingerprints(task: Task) -> list[str]:
    """Short hashes of the distinct personas (sentence sets) of a task's dialogues."""
    keys = {persona_key(d.persona) for d in task.dialogues}
    return sorted(hashlib.sha1("\n".join(k).encode("utf-8")).hexdigest()[:16] for k in keys)


RANKINGS = ("examples", "dialogues")


def _size_order(task: Task):
    return (-task.n_dialogues, -task.n_examples, task.name)


def largest_tasks(tasks, n: int, *, min_dialogues: int = 1, key=None, flag: str = "--tasks") -> tuple[Task, ...]:
    """The ``n`` largest tasks with at least ``min_dialogues`` dialogues, largest first.

    ``key`` orders tasks (default: most dialogues, then most examples, then name).
    """
    n = check_int(flag, n, low=1)
    min_dialogues = check_int("min_dialogues", min_dialogues, low=1)
    eligible = sorted((t for t in tasks if t.n_dialogues >= min_dialogues), key=key or _size_order)
    if len(eligible) < n:
        raise InvalidArgument(
            f"`{flag}` {n}: only {len(eligible)} personas have at least "
            f"{min_dialogues} dialogues (of {len(tuple(tasks))}); lower {flag} or the "
            "held-out/selection/evaluation dialogue counts."
        )
    return tuple(eligible[:n])


def _n_examples(dialogues) -> int:
    return sum(len(d.examples) for d in dialogues)


def _ranking_key(ranking: str, kept):
    """Order by the examples a task keeps for training (``examples``, the paper pipeline's
    rule) or by dialogues (``dialogues``); ties by the other count, then the name.
    """
    if ranking == "examples":
        return lambda t: (-_n_examples(kept(t)), -t.n_dialogues, t.name)
    if ranking == "dialogues":
        return _size_order
    raise InvalidArgument(f"`--task-ranking` must be one of {RANKINGS}; got {ranking!r}.")


def retrain_splits(
    tasks, n_tasks: int, heldout_dialogues: int = 3, *, ranking: str = "dialogues"
) -> tuple[RetrainSplit, ...]:
    """The ``n_tasks`` largest tasks; the last ``heldout_dialogues`` of each are held out.

    ``ranking="examples"`` ranks by training examples after the held-out split (the paper
    pipeline's rule); ``"dialogues"`` by dialogues, then examples.
    """
    h = check_int("--heldout-dialogues", heldout_dialogues, low=1)
    key = _ranking_key(ranking, lambda t: t.dialogues[:-h])
    chosen = largest_tasks(tasks, n_tasks, min_dialogues=h + 1, key=key, flag="--tasks")
    return tuple(RetrainSplit(t.name, t.dialogues[:-h], t.dialogues[-h:]) for t in chosen)


def test_splits(
    tasks,
    n_tasks: int = 10,
    *,
    eval_dialogues: int = 2,
    select_dialogues: int = 1,
    finetune_dialogues: int | None = None,
    ranking: str = "dialogues",
) -> tuple[TestSplit, ...]:
    """The ``n_tasks`` largest tasks split into fine-tune / selection / evaluation dialogues.

    The last ``eval_dialogues`` evaluate (as in the paper), the ``select_dialogues`` before
    them choose the epoch honestly (0: none, the paper's split, where only the best-on-
    evaluation number exists), and the rest (or the first ``finetune_dialogues`` of the rest)
    fine-tune. ``ranking="examples"`` ranks by the examples outside the evaluation dialogues.
    """
    e = check_int("--eval-dialogues", eval_dialogues, low=1)
    s = check_int("--select-dialogues", select_dialogues, low=0)
    f = (
        None
        if finetune_dialogues is None
        else check_int("--finetune-dialogues", finetune_dialogues, low=1)
    )
    key = _ranking_key(ranking, lambda t: t.dialogues[: len(t.dialogues) - e])
    chosen = largest_tasks(tasks, n_tasks, min_dialogues=e + s + (f or 1), key=key, flag="--test-tasks")
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
