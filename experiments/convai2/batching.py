"""Batches shaped for the accelerator: length bucketing, a token budget, vectorised collation.

* **Dynamic padding**: a batch is padded to its own longest sequence (rounded up to
  ``pad_multiple``), never to the task's longest.
* **Bucketing** (on by default; ``bucketing=False`` gives plain random minibatches): examples are shuffled, cut into chunks of ``bucket`` batches, sorted by
  length inside a chunk, batched, and the batch order shuffled again, so that a batch holds
  examples of similar length while the epoch stays random.
* **Token budget** (``max_tokens``): a batch holds as many examples as fit in
  ``n_examples * C * padded_length <= max_tokens`` (at least one).
* **All C candidates of an example in one forward**: a batch of ``B`` examples is one
  ``(B*C, L)`` tensor.
* **Collation** gathers every token of a batch with one fancy-indexing operation on the flat
  id array (no Python loop over candidates or tokens).
"""

from __future__ import annotations

import numpy as np

from landscape.validation import check_int

from .encoding import EncodedSet

__all__ = ["plan_batches", "collate", "round_up"]


def round_up(n, multiple: int):
    return ((np.asarray(n) + multiple - 1) // multiple) * multiple


def _cut(
    idx: np.ndarray,
    lengths: np.ndarray,
    batch_size: int,
    max_tokens: int | None,
    n_cand: int,
    pad_multiple: int,
):
    """Cut length-sorted ``idx`` into batches (fixed size, or greedy under the token budget)."""
    if max_tokens is None:
        return [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
    out, start, longest = [], 0, 0
    for pos in range(len(idx)):
        L = int(round_up(lengths[idx[pos]], pad_multiple))
        new_longest = max(longest, L)
        if pos > start and (pos - start + 1) * n_cand * new_longest > max_tokens:
            out.append(idx[start:pos])
            start, longest = pos, L
        else:
            longest = new_longest
    out.append(idx[start:])
    return out


def plan_batches(
    enc: EncodedSet,
    examples: np.ndarray,
    *,
    batch_size: int,
    max_tokens: int | None = None,
    rng: np.random.Generator | None = None,
    bucket: int = 50,
    pad_multiple: int = 8,
    bucketing: bool = True,
) -> list[np.ndarray]:
    """Split ``examples`` (indices into ``enc``) into batches.

    Parameters
    ----------
    batch_size : int
        Examples per batch (ignored when ``max_tokens`` is given).
    max_tokens : int, optional
        Padded-token budget per batch (``B * C * L``).
    rng : numpy Generator, optional
        Shuffle (training); ``None`` sorts all examples by length (evaluation, deterministic).
    bucket : int
        Chunk size in batches for length bucketing.
    bucketing : bool
        False: plain random minibatches (the shuffled examples cut in order, no sorting by
        length), as a reference for what bucketing changes.
    """
    batch_size = check_int("batch_size", batch_size, low=1)
    examples = np.asarray(examples, dtype=np.int64)
    if examples.size == 0:
        return []
    lengths = enc.example_max_length
    C = enc.n_candidates
    if rng is None:
        order = examples[np.argsort(lengths[examples], kind="stable")]
        return _cut(order, lengths, batch_size, max_tokens, C, pad_multiple)
    perm = examples[rng.permutation(len(examples))]
    if not bucketing:
        return _cut(perm, lengths, batch_size, max_tokens, C, pad_multiple)
    if max_tokens is None:
        chunk = batch_size * bucket
    else:
        chunk = max(1, (max_tokens // (C * max(1, int(np.median(lengths[examples]))))) * bucket)
    batches = []
    for s in range(0, len(perm), chunk):
        part = perm[s : s + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(_cut(part, lengths, batch_size, max_tokens, C, pad_multiple))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def collate(
    enc: EncodedSet,
    examples: np.ndarray,
    *,
    pad_id: int,
    pad_multiple: int = 8,
    token_types: bool = False,
) -> dict:
    """Padded numpy arrays for the examples: all ``C`` candidates of each, one row per pair.

    Returns
    -------
    dict
        ``input_ids`` and ``attention_mask`` ``(B*C, L)`` int64 (``token_type_ids`` too when
        asked), ``gold`` ``(B, C)`` bool, ``label`` ``(B,)`` int64, ``n_tokens`` (real tokens).
    """
    examples = np.asarray(examples, dtype=np.int64)
    C = enc.n_candidates
    seq = (examples[:, None] * C + np.arange(C)[None, :]).reshape(-1)
    starts = enc.offsets[seq]
    lens = enc.offsets[seq + 1] - starts
    L = int(round_up(lens.max(), pad_multiple))
    pos = np.arange(L)[None, :]
    mask = pos < lens[:, None]
    src = np.where(mask, starts[:, None] + pos, 0)
    ids = np.where(mask, enc.ids[src], pad_id).astype(np.int64)
    out = {
        "input_ids": ids,
        "attention_mask": mask.astype(np.int64),
        "gold": enc.gold[examples],
        "label": enc.label[examples],
        "n_tokens": int(lens.sum()),
    }
    if token_types:
        out["token_type_ids"] = (pos >= enc.type_start[seq][:, None]).astype(np.int64) * mask
    return out


def to_torch(batch: dict, device):
    """Move a :func:`collate` batch to ``device`` as torch tensors (pinned, non-blocking on CUDA)."""
    import torch

    out = {}
    for k, v in batch.items():
        if k == "n_tokens":
            out[k] = v
            continue
        t = torch.from_numpy(np.ascontiguousarray(v))
        if device is not None and torch.device(device).type == "cuda":
            t = t.pin_memory().to(device, non_blocking=True)
        out[k] = t
    return out


__all__ += ["to_torch"]
