r"""Readers for ConvAI2 / PersonaChat dialogues in the ParlAI text and PersonaChat JSON formats.

Both readers produce the same structures: a :class:`Dialogue` holds the persona sentences of
the speaker whose replies are predicted and one :class:`Example` per reply. An example is the
conversation so far (``history``: oldest turn first, the partner's latest message last) and
the candidate replies, one of which (``candidates[label]``) is the gold reply.

Formats (EXPERIMENTS.md §4)
---------------------------
ParlAI text (``train_self_original.txt``)::

    1 your persona: i like cats .
    2 your persona: i live in a small town .
    3 hi , how are you ?\tgood , i just fed my cat .\t\tcand_1|cand_2|...|cand_20

``n`` restarts at 1 for every dialogue; the gold reply is one of the candidates.

PersonaChat JSON (``personachat_self_original.json``)::

    {"train": [dialog, ...], "valid": [dialog, ...]}
    dialog = {"personality": [str, ...],
              "utterances": [{"history": [str, ...], "candidates": [str x 20]}, ...]}

with the gold reply ``candidates[-1]``.

Every dialogue is kept, including a file's last one (the authors' code drops it). Malformed
input raises :class:`DataFormatError` naming the file and the line.
"""

from __future__ import annotations

import io
import json
import json.decoder as _jd
import json.scanner as _js
import re
from dataclasses import dataclass, field
from pathlib import Path

from landscape.errors import InvalidArgument

__all__ = [
    "DataFormatError",
    "Example",
    "Dialogue",
    "read_parlai",
    "read_personachat_json",
    "read_dialogues",
    "detect_format",
    "find_split",
    "load_split",
    "write_parlai",
    "write_personachat_json",
]

PERSONA_PREFIX = "your persona:"
PARTNER_PREFIX = "partner's persona:"
SPLITS = ("train", "valid")


class DataFormatError(InvalidArgument):
    """A data file is malformed; the message names the file and the (1-based) line."""

    def __init__(self, path, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Example:
    """One reply to predict: the conversation so far and the candidate replies.

    Attributes
    ----------
    history : tuple of str
        All turns before the reply, oldest first; ``history[-1]`` is the partner's message.
    candidates : tuple of str
        Candidate replies (20 in ConvAI2); ``candidates[label]`` is the gold reply.
    label : int
        Index of the gold reply (its last occurrence when it is repeated).
    line : int
        Line in the source file (not part of equality: both formats compare equal).
    """

    history: tuple[str, ...]
    candidates: tuple[str, ...]
    label: int
    line: int = field(default=0, compare=False)

    @property
    def gold(self) -> str:
        return self.candidates[self.label]


@dataclass(frozen=True)
class Dialogue:
    """A dialogue seen from one speaker: their persona sentences and one example per reply."""

    persona: tuple[str, ...]
    examples: tuple[Example, ...]
    partner_persona: tuple[str, ...] = ()
    source: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


# --------------------------------------------------------------------------- ParlAI text

_LINE = re.compile(r"(\d{1,9}) (.*)\Z", re.S)  # (bounded: int() of a huge number raises)


def _read_text(path) -> str:
    """A data file as text; bytes that are not UTF-8 are an input error naming the file."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, None, f"not UTF-8 text (bad byte at offset {exc.start}).") from None
    except OSError as exc:
        raise DataFormatError(path, None, f"cannot read ({exc.strerror or exc}).") from None


def read_parlai(path) -> tuple[Dialogue, ...]:
    """Read a ParlAI-format ConvAI2 file (``*_self_original.txt``).

    Parameters
    ----------
    path : str or Path
        The text file.

    Returns
    -------
    tuple of Dialogue
        In file order; every dialogue is kept, the last one included.

    Raises
    ------
    DataFormatError
        A line without a leading number, a turn number out of sequence, a reply line without
        candidates, a gold reply missing from its candidates, an empty persona sentence, a
        dialogue without persona, or a varying number of candidates.
    """
    path = Path(path)
    dialogues: list[Dialogue] = []
    state: dict | None = None
    n_cands: tuple[int, int] | None = None  # (count, line) of the first example

    def finish(st):
        if st is None:
            return
        if not st["persona"]:
            raise DataFormatError(
                path, st["start"], "dialogue has no 'your persona:' line (empty persona)."
            )
        if not st["examples"]:
            raise DataFormatError(
                path, st["start"], "dialogue has persona lines but no reply lines."
            )
        dialogues.append(
            Dialogue(
                persona=tuple(st["persona"]),
                examples=tuple(st["examples"]),
                partner_persona=tuple(st["partner"]),
                source=str(path),
                line=st["start"],
            )
        )

    for lineno, raw in enumerate(io.StringIO(_read_text(path), newline=None), 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            raise DataFormatError(
                path,
                lineno,
                f"expected '<n> <text>' (a turn number, a space, the text); got {line[:60]!r}.",
            )
        n, rest = int(m.group(1)), m.group(2)
        if n == 1:
            finish(state)
            state = {
                "start": lineno,
                "n": 1,
                "persona": [],
                "partner": [],
                "examples": [],
                "history": [],
            }
        elif state is None or n != state["n"] + 1:
            want = 1 if state is None else state["n"] + 1
            raise DataFormatError(
                path, lineno, f"turn number {n} out of sequence (expected {want} or 1)."
            )
        else:
            state["n"] = n
        fields = rest.split("\t")
        text = fields[0].strip()
        if len(fields) == 1 and text.startswith(PERSONA_PREFIX):
            sentence = text[len(PERSONA_PREFIX) :].strip()
            if not sentence:
                raise DataFormatError(path, lineno, "empty persona sentence.")
            if state["examples"]:
                raise DataFormatError(
                    path, lineno, "persona line after the dialogue's first reply."
                )
            state["persona"].append(sentence)
            continue
        if len(fields) == 1 and text.startswith(PARTNER_PREFIX):
            sentence = text[len(PARTNER_PREFIX) :].strip()
            if not sentence:
                raise DataFormatError(path, lineno, "empty partner persona sentence.")
            state["partner"].append(sentence)
            continue
        if len(fields) < 2 or not fields[1].strip():
            raise DataFormatError(
                path,
                lineno,
                "reply line without a tab-separated gold reply (expected "
                "'<n> <text>\\t<gold>\\t\\t<cand_1>|...|<cand_N>').",
            )
        gold = fields[1].strip()
        if len(fields) < 4 or not fields[3].strip():
            raise DataFormatError(
                path, lineno, "reply line without candidates (4th tab-separated field)."
            )
        cands = tuple(c.strip() for c in fields[3].split("|"))
        if gold not in cands:
            raise DataFormatError(
                path,
                lineno,
                f"the gold reply {gold[:50]!r} is not among the {len(cands)} candidates.",
            )
        if n_cands is None:
            n_cands = (len(cands), lineno)
        elif len(cands) != n_cands[0]:
            raise DataFormatError(
                path,
                lineno,
                f"{len(cands)} candidates, but line {n_cands[1]} has {n_cands[0]} "
                "(every example of a file must have the same number).",
            )
        label = len(cands) - 1 - cands[::-1].index(gold)
        state["history"].append(text)
        state["examples"].append(Example(tuple(state["history"]), cands, label, lineno))
        state["history"].append(gold)
    finish(state)
    if not dialogues:
        raise DataFormatError(path, None, "no dialogues found (empty file).")
    return tuple(dialogues)


# --------------------------------------------------------------------------- PersonaChat JSON


class _PosDict(dict):
    pos = 0


class _PosList(list):
    pos = 0


class _PositionContext:
    """A json scanner context whose objects and arrays remember where they start."""

    def __init__(self):
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _jd._CONSTANTS.__getitem__
        self.parse_string = _jd.scanstring
        self.memo = {}

    @staticmethod
    def parse_object(s_and_end, *args):
        start = s_and_end[1] - 1
        obj, end = _jd.JSONObject(s_and_end, *args)
        out = _PosDict(obj)
        out.pos = start
        return out, end

    @staticmethod
    def parse_array(s_and_end, scan_once):
        start = s_and_end[1] - 1
        arr, end = _jd.JSONArray(s_and_end, scan_once)
        out = _PosList(arr)
        out.pos = start
        return out, end


def _locate(text: str, path: tuple) -> int | None:
    """Line of the deepest object/array on ``path`` (re-parses with positions; error path only)."""
    scan = _js.py_make_scanner(_PositionContext())
    idx = len(text) - len(text.lstrip())
    try:
        node, _ = scan(text, idx)
    except Exception:  # pragma: no cover - the fast parser accepted this text
        return None
    pos = getattr(node, "pos", 0)
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
        pos = getattr(node, "pos", pos)
    return text.count("\n", 0, pos) + 1


class _ShapeError(Exception):
    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


def _jpath(path: tuple) -> str:
    return "".join(
        f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path)
    )


def _str_list(node, path, what, *, min_len=1):
    if not isinstance(node, list) or len(node) < min_len:
        raise _ShapeError(
            path, f"`{_jpath(path)}` must be a list of at least {min_len} strings ({what})."
        )
    for i, s in enumerate(node):
        if not isinstance(s, str):
            raise _ShapeError(
                path, f"`{_jpath(path + (i,))}` must be a string; got {type(s).__name__}."
            )
    return tuple(s.strip() for s in node)


def _parse_json_split(obj, split: str, source: str) -> tuple[Dialogue, ...]:
    if not isinstance(obj, dict):
        raise _ShapeError(
            (),
            f"the top level must be an object with keys {list(SPLITS)}; got {type(obj).__name__}.",
        )
    if split not in obj:
        raise _ShapeError((), f"no {split!r} split; the top-level keys are {sorted(obj)[:10]}.")
    dialogs = obj[split]
    if not isinstance(dialogs, list):
        raise _ShapeError(
            (split,), f"`{split}` must be a list of dialogues; got {type(dialogs).__name__}."
        )
    out = []
    n_cands = None
    for d, dialog in enumerate(dialogs):
        p = (split, d)
        if (
            not isinstance(dialog, dict)
            or "personality" not in dialog
            or "utterances" not in dialog
        ):
            raise _ShapeError(
                p, f"`{_jpath(p)}` must be an object with 'personality' and 'utterances'."
            )
        persona = _str_list(dialog["personality"], p + ("personality",), "persona sentences")
        if any(not s for s in persona):
            raise _ShapeError(
                p + ("personality",), f"`{_jpath(p)}.personality` has an empty persona sentence."
            )
        utts = dialog["utterances"]
        if not isinstance(utts, list) or not utts:
            raise _ShapeError(
                p + ("utterances",), f"`{_jpath(p)}.utterances` must be a non-empty list."
            )
        examples = []
        for u, utt in enumerate(utts):
            q = p + ("utterances", u)
            if not isinstance(utt, dict) or "history" not in utt or "candidates" not in utt:
                raise _ShapeError(
                    q, f"`{_jpath(q)}` must be an object with 'history' and 'candidates'."
                )
            history = _str_list(utt["history"], q + ("history",), "the conversation so far")
            cands = _str_list(
                utt["candidates"], q + ("candidates",), "candidate replies", min_len=2
            )
            if n_cands is None:
                n_cands = (len(cands), _jpath(q))
            elif len(cands) != n_cands[0]:
                raise _ShapeError(
                    q + ("candidates",),
                    f"`{_jpath(q)}.candidates` has {len(cands)} entries, but "
                    f"`{n_cands[1]}` has {n_cands[0]} (every example must have the same number).",
                )
            examples.append(Example(history, cands, len(cands) - 1))
        out.append(Dialogue(persona=persona, examples=tuple(examples), source=source))
    return tuple(out)


def read_personachat_json(path, split: str) -> tuple[Dialogue, ...]:
    """Read one split of a PersonaChat JSON file (``personachat_self_original.json``).

    Parameters
    ----------
    path : str or Path
        The JSON file ``{"train": [...], "valid": [...]}``.
    split : str
        Top-level key to read (``"train"`` or ``"valid"``).

    Returns
    -------
    tuple of Dialogue
        The gold reply of each utterance is ``candidates[-1]``.

    Raises
    ------
    DataFormatError
        Invalid JSON or the wrong shape; the message names the file, the line and the JSON path.
    """
    path = Path(path)
    text = _read_text(path)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, exc.lineno, f"invalid JSON: {exc.msg}.") from None
    except RecursionError:
        raise DataFormatError(path, None, "invalid JSON: nested too deeply.") from None
    except ValueError as exc:  # e.g. an integer too long to convert
        raise DataFormatError(path, None, f"invalid JSON: {str(exc).splitlines()[0]}") from None
    try:
        dialogues = _parse_json_split(obj, split, str(path))
    except _ShapeError as exc:
        raise DataFormatError(path, _locate(text, exc.path), exc.message) from None
    if not dialogues:
        raise DataFormatError(
            path, _locate(text, (split,)), f"the {split!r} split has no dialogues."
        )
    return dialogues


# --------------------------------------------------------------------------- auto-detection


def detect_format(path) -> str:
    """``"json"`` when the file's first non-blank character is ``{``, else ``"parlai"``."""
    with open(path, encoding="utf-8", errors="replace") as fh:  # the reader reports bad bytes
        while True:
            chunk = fh.read(4096)
            if not chunk:
                return "parlai"
            stripped = chunk.lstrip()
            if stripped:
                return "json" if stripped[0] == "{" else "parlai"


def read_dialogues(path, split: str | None = None) -> tuple[Dialogue, ...]:
    """Read dialogues from ``path`` in whichever of the two formats it is written.

    ``split`` is required for JSON files (the top-level key) and ignored for ParlAI files.
    """
    fmt = detect_format(path)
    if fmt == "json":
        if split is None:
            raise InvalidArgument(f"`split` is required for the JSON file {path}; got split=None.")
        return read_personachat_json(path, split)
    return read_parlai(path)


def find_split(data, split: str) -> Path:
    """The file that holds ``split`` under ``data`` (a directory or a file).

    A directory is searched for ``{split}_self_original.txt``, ``{split}.txt``, then a single
    ``{split}*.txt``, then ``personachat_self_original.json`` or a single ``*.json``.
    """
    if split not in SPLITS:
        raise InvalidArgument(f"`split` must be one of {SPLITS}; got split={split!r}.")
    data = Path(data)
    if data.is_file():
        if detect_format(data) != "json":
            raise InvalidArgument(
                f"`--data` {str(data)!r} is a ParlAI text file; give the directory that holds "
                "train_self_original.txt and valid_self_original.txt (only a JSON file holds both splits)."
            )
        return data
    if not data.is_dir():
        raise InvalidArgument(
            f"`--data` must be a directory or a file; got {str(data)!r} (not found)."
        )
    for name in (f"{split}_self_original.txt", f"{split}.txt"):
        if (data / name).is_file():
            return data / name
    txt = sorted(data.glob(f"{split}*.txt"))
    if len(txt) == 1:
        return txt[0]
    if (data / "personachat_self_original.json").is_file():
        return data / "personachat_self_original.json"
    js = sorted(data.glob("*.json"))
    if len(js) == 1:
        return js[0]
    raise InvalidArgument(
        f"`--data` {str(data)!r} holds no file for split {split!r}: expected {split}_self_original.txt "
        "(ParlAI text) or personachat_self_original.json (PersonaChat JSON)."
    )


def load_split(data, split: str) -> tuple[Dialogue, ...]:
    """Dialogues of ``split`` (``"train"`` or ``"valid"``) from a data directory or file."""
    return read_dialogues(find_split(data, split), split)


# --------------------------------------------------------------------------- writers


def _check_writable(dialogues) -> None:
    for d in dialogues:
        for e in d.examples:
            for text in (*e.history, *e.candidates, *d.persona):
                if "\t" in text or "\n" in text:
                    raise InvalidArgument(
                        f"text may not contain tabs or newlines; got {text[:50]!r}."
                    )
            for c in e.candidates:
                if "|" in c:
                    raise InvalidArgument(f"a candidate may not contain '|'; got {c[:50]!r}.")


def write_parlai(dialogues, path) -> Path:
    """Write dialogues in the ParlAI text format (inverse of :func:`read_parlai`).

    Each example's ``history`` must extend the previous example's history by the previous
    gold reply and one partner message (as :func:`read_parlai` produces).
    """
    dialogues = tuple(dialogues)
    _check_writable(dialogues)
    lines = []
    for d in dialogues:
        n = 0
        for s in d.persona:
            n += 1
            lines.append(f"{n} {PERSONA_PREFIX} {s}")
        for s in d.partner_persona:
            n += 1
            lines.append(f"{n} {PARTNER_PREFIX} {s}")
        prev: tuple[str, ...] = ()
        for e in d.examples:
            if e.history[: len(prev)] != prev or len(e.history) != len(prev) + 1:
                raise InvalidArgument(
                    "each example's history must extend the previous one by one gold reply and one message."
                )
            n += 1
            lines.append(f"{n} {e.history[-1]}\t{e.gold}\t\t" + "|".join(e.candidates))
            prev = e.history + (e.gold,)
    path = Path(path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_personachat_json(splits: dict, path) -> Path:
    """Write ``{split: dialogues}`` as PersonaChat JSON; the gold reply is moved last."""
    out = {}
    for split, dialogues in splits.items():
        dialogues = tuple(dialogues)
        rows = []
        for d in dialogues:
            utts = []
            for e in d.examples:
                cands = list(e.candidates[: e.label] + e.candidates[e.label + 1 :]) + [e.gold]
                utts.append({"history": list(e.history), "candidates": cands})
            rows.append({"personality": list(d.persona), "utterances": utts})
        out[split] = rows
    path = Path(path)
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return path
