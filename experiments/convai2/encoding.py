"""Tokenisation, done once per run and cached: (context, candidate) pairs as flat id arrays.

Each example becomes ``C`` token sequences (one per candidate)::

    prefix + context + middle + candidate + suffix

where ``prefix/middle/suffix`` are the tokenizer's own pair template (``<s> A </s></s> B </s>``
for RoBERTa, ``[CLS] A [SEP] B [SEP]`` for BERT), read off the tokenizer itself. The context
is the turns so far joined with the tokenizer's separator token (optionally preceded by the
persona sentences, ``persona_in_context``; off reproduces the paper), truncated from the
left so that the latest turns are kept; candidates are truncated to
``max_candidate_length``.

The candidates of every example are put in a fixed pseudo-random order (seeded by the
example's position, the same for every run and method): the released files put the gold
reply last, and a model must never profit from the position (ties in argmax, for instance).

Storage (:class:`EncodedSet`) is flat numpy arrays (ids, offsets), so a batch is gathered
with a few vectorised operations and the cache is an ``.npz`` read with
``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landscape.errors import InvalidArgument

__all__ = [
    "PairTemplate",
    "EncodedSet",
    "train_bpe_tokenizer",
    "load_tokenizer",
    "pair_template",
    "encode_examples",
    "cached_encode",
]

ORDER_SEED = 20240523  # fixed: candidate order does not depend on the run's seed

ROBERTA_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


@dataclass(frozen=True)
class PairTemplate:
    """Special tokens around a (context, candidate) pair and the separator between turns."""

    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]
    sep: int
    pad: int
    type_a: int
    type_b: int

    @property
    def n_special(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)


@dataclass
class EncodedSet:
    """Tokenised examples of several tasks.

    Attributes
    ----------
    ids : int32 array
        All sequences concatenated; sequence ``s`` is ``ids[offsets[s]:offsets[s+1]]``.
        Example ``i`` owns sequences ``i*C .. i*C+C-1``.
    offsets : int64 array, ``(n_examples*C + 1,)``
    type_start : int32 array, ``(n_examples*C,)``
        Position where the candidate segment starts (token types, BERT-style models).
    gold : bool array, ``(n_examples, C)``
        Candidates equal to the gold reply (usually exactly one).
    label : int64 array, ``(n_examples,)``
        Index of the gold reply after reordering.
    task : int32 array, ``(n_examples,)``
        Index into ``task_names``.
    task_names : list of str
    """

    ids: np.ndarray
    offsets: np.ndarray
    type_start: np.ndarray
    gold: np.ndarray
    label: np.ndarray
    task: np.ndarray
    task_names: list

    @property
    def n_candidates(self) -> int:
        return int(self.gold.shape[1])

    @property
    def n_examples(self) -> int:
        return int(self.gold.shape[0])

    @property
    def seq_lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def example_max_length(self) -> np.ndarray:
        """Longest of each example's ``C`` sequences (what a batch pads to)."""
        return self.seq_lengths.reshape(self.n_examples, self.n_candidates).max(axis=1)

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    def examples_of(self, task: int) -> np.ndarray:
        return np.flatnonzero(self.task == task)

    def save(self, path, key: str) -> None:
        from landscape.runs import atomic_output

        with atomic_output(Path(path), suffix=".npz") as tmp:
            np.savez(
                tmp,
                ids=self.ids,
                offsets=self.offsets,
                type_start=self.type_start,
                gold=self.gold,
                label=self.label,
                task=self.task,
                task_names=np.array(self.task_names, dtype=str),
                key=np.array(key),
            )

    @classmethod
    def load(cls, path, key: str | None = None) -> "EncodedSet | None":
        with np.load(path, allow_pickle=False) as z:
            if key is not None and str(z["key"]) != key:
                return None
            return cls(
                ids=z["ids"],
                offsets=z["offsets"],
                type_start=z["type_start"],
                gold=z["gold"],
                label=z["label"],
                task=z["task"],
                task_names=[str(s) for s in z["task_names"]],
            )


# --------------------------------------------------------------------------- tokenizers


def train_bpe_tokenizer(texts, vocab_size: int, out_dir, *, max_length: int = 512):
    """Train a byte-level BPE (RoBERTa's special tokens and pair template) and save it.

    Parameters
    ----------
    texts : iterable of str
        Training text (the run's train split).
    vocab_size : int
        Upper bound on the vocabulary (a small corpus stops earlier).
    out_dir : path
        Where ``save_pretrained`` writes it (``RUN/tokenizer``).
    """
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts,
        vocab_size=int(vocab_size),
        min_frequency=2,
        special_tokens=list(ROBERTA_SPECIALS),
        show_progress=False,
    )
    bpe.post_processor = RobertaProcessing(
        ("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>"))
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=max_length,
    )
    tok.save_pretrained(str(out_dir))
    return tok


def load_tokenizer(path):
    """A tokenizer saved with ``save_pretrained`` (never downloads)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def tokenizer_fingerprint(tokenizer) -> str:
    vocab = tokenizer.get_vocab()
    h = hashlib.sha256(json.dumps(sorted(vocab.items())).encode())
    h.update(
        repr((tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)).encode()
    )
    return h.hexdigest()[:16]


def pair_template(tokenizer) -> PairTemplate:
    """Read the tokenizer's pair template off one probe pair."""
    a, b = "hello there", "good bye"
    ia = tokenizer(a, add_special_tokens=False)["input_ids"]
    ib = tokenizer(b, add_special_tokens=False)["input_ids"]
    enc = tokenizer(a, b, return_token_type_ids=True)
    full = list(enc["input_ids"])
    types = list(enc.get("token_type_ids") or [0] * len(full))
    i = next((k for k in range(len(full)) if full[k : k + len(ia)] == ia), None)
    if i is None:
        raise InvalidArgument("could not find the first segment in the tokenizer's pair encoding.")
    j = next((k for k in range(i + len(ia), len(full)) if full[k : k + len(ib)] == ib), None)
    if j is None:
        raise InvalidArgument("could not find the second segment in the tokenizer's pair encoding.")
    sep = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    pad = tokenizer.pad_token_id
    if sep is None or pad is None:
        raise InvalidArgument("the tokenizer needs a separator (sep or eos) token and a pad token.")
    return PairTemplate(
        prefix=tuple(full[:i]),
        middle=tuple(full[i + len(ia) : j]),
        suffix=tuple(full[j + len(ib) :]),
        sep=int(sep),
        pad=int(pad),
        type_a=int(types[i]),
        type_b=int(types[j]),
    )


# --------------------------------------------------------------------------- encoding


def encode_examples(
    tokenizer,
    tasks,
    *,
    max_length: int,
    max_candidate_length: int,
    persona_in_context: bool = False,
) -> EncodedSet:
    """Tokenise the examples of ``tasks``: a sequence of ``(name, dialogues)`` pairs.

    Returns
    -------
    EncodedSet
        Examples in task order, then dialogue order, then turn order.
    """
    tmpl = pair_template(tokenizer)
    room = max_length - tmpl.n_special
    if room <= max_candidate_length:
        raise InvalidArgument(
            f"`--max-length` {max_length} leaves no room for a context after the {tmpl.n_special} "
            f"special tokens and `--max-candidate-length` {max_candidate_length}."
        )
    strings: dict[str, int] = {}
    rows = []  # (task, context string ids, candidate string ids, label, persona id)
    names = []
    n_cands = None
    for t, (name, dialogues) in enumerate(tasks):
        names.append(name)
        for d in dialogues:
            persona = " ".join(d.persona)
            pid = strings.setdefault(persona, len(strings)) if persona_in_context else None
            for e in d.examples:
                if n_cands is None:
                    n_cands = len(e.candidates)
                elif len(e.candidates) != n_cands:
                    raise InvalidArgument(
                        f"every example needs the same number of candidates; got {len(e.candidates)} and {n_cands}."
                    )
                ctx = [strings.setdefault(s, len(strings)) for s in e.history]
                cands = [strings.setdefault(s, len(strings)) for s in e.candidates]
                gold = [c == e.candidates[e.label] for c in e.candidates]
                rows.append((t, pid, ctx, cands, gold))
    if not rows:
        raise InvalidArgument("no examples to encode.")
    texts = list(strings)
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    pieces = [np.asarray(x, dtype=np.int32) for x in encoded]
    sep = np.asarray([tmpl.sep], dtype=np.int32)
    prefix, middle, suffix = (
        np.asarray(x, dtype=np.int32) for x in (tmpl.prefix, tmpl.middle, tmpl.suffix)
    )
    order_rng = np.random.default_rng(ORDER_SEED)
    seqs, type_start, gold_rows, labels, task_ids = [], [], [], [], []
    for t, pid, ctx, cands, gold in rows:
        parts = []
        if pid is not None:
            parts += [pieces[pid], sep]
        for k, s in enumerate(ctx):
            if k:
                parts.append(sep)
            parts.append(pieces[s])
        context = np.concatenate(parts) if parts else np.zeros(0, np.int32)
        perm = order_rng.permutation(len(cands))
        g = np.asarray(gold, dtype=bool)[perm]
        for c in perm:
            cand = pieces[cands[c]][:max_candidate_length]
            ctx_room = room - len(cand)
            ctx_part = context[-ctx_room:] if len(context) > ctx_room else context
            seqs.append(np.concatenate([prefix, ctx_part, middle, cand, suffix]))
            type_start.append(len(prefix) + len(ctx_part) + len(middle))
        gold_rows.append(g)
        labels.append(int(np.flatnonzero(g)[-1]))
        task_ids.append(t)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return EncodedSet(
        ids=np.concatenate(seqs).astype(np.int32),
        offsets=offsets,
        type_start=np.asarray(type_start, dtype=np.int32),
        gold=np.stack(gold_rows),
        label=np.asarray(labels, dtype=np.int64),
        task=np.asarray(task_ids, dtype=np.int32),
        task_names=names,
    )


def _data_digest(tasks) -> str:
    h = hashlib.sha256()
    for name, dialogues in tasks:
        h.update(name.encode())
        for d in dialogues:
            h.update("\x1e".join(d.persona).encode())
            for e in d.examples:
                h.update("\x1f".join(e.history).encode())
                h.update("\x1f".join(e.candidates).encode())
                h.update(str(e.label).encode())
    return h.hexdigest()


def cached_encode(cache_dir, role: str, tokenizer, tasks, **settings) -> EncodedSet:
    """:func:`encode_examples`, cached in ``cache_dir/<role>.npz`` under a key of
    (tokenizer, data, settings); a stale cache is rebuilt.
    """
    tasks = [(name, tuple(ds)) for name, ds in tasks]
    key = hashlib.sha256(
        json.dumps(
            {
                "tok": tokenizer_fingerprint(tokenizer),
                "data": _data_digest(tasks),
                "order": ORDER_SEED,
                **settings,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    path = Path(cache_dir) / f"{role}.npz"
    if path.is_file():
        enc = EncodedSet.load(path, key)
        if enc is not None:
            return enc
    enc = encode_examples(tokenizer, tasks, **settings)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    enc.save(path, key)
    return enc
