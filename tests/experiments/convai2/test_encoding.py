"""Tokenisation (BPE trained on the data, pair template, truncation, cache) and batching."""

import numpy as np
import pytest

pytest.importorskip("tokenizers")
pytest.importorskip("transformers")

from experiments.convai2.batching import collate, plan_batches, round_up  # noqa: E402
from experiments.convai2.data import read_parlai  # noqa: E402
from experiments.convai2.encoding import (  # noqa: E402
    EncodedSet,
    cached_encode,
    encode_examples,
    load_tokenizer,
    pair_template,
    train_bpe_tokenizer,
)
from experiments.convai2.tasks import group_tasks  # noqa: E402

from .conftest import FIXTURES


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    train = read_parlai(FIXTURES / "train_self_original.txt")
    texts = sorted({s for d in train for e in d.examples for s in (*e.history, *e.candidates)})
    out = tmp_path_factory.mktemp("tok")
    train_bpe_tokenizer(texts, 600, out)
    return load_tokenizer(out)


@pytest.fixture(scope="module")
def tasks():
    return [
        (t.name, t.dialogues)
        for t in group_tasks(read_parlai(FIXTURES / "train_self_original.txt"))
    ]


def _naive(tok, history, cand, max_length, max_cand, persona=None):
    """Per-pair reference: the obvious construction with the tokenizer's own pair encoding."""
    sep = tok.sep_token
    ctx = f" {sep} ".join(([" ".join(persona)] if persona else []) + list(history))
    ids_ctx = []
    for k, part in enumerate(ctx.split(f" {sep} ")):
        if k:
            ids_ctx.append(tok.sep_token_id)
        ids_ctx += tok(part, add_special_tokens=False)["input_ids"]
    ids_c = tok(cand, add_special_tokens=False)["input_ids"][:max_cand]
    room = max_length - 4 - len(ids_c)
    ids_ctx = ids_ctx[-room:]
    return (
        [tok.cls_token_id]
        + ids_ctx
        + [tok.sep_token_id, tok.sep_token_id]
        + ids_c
        + [tok.sep_token_id]
    )


def test_template_is_robertas(tok):
    t = pair_template(tok)
    assert (
        t.prefix == (tok.cls_token_id,)
        and t.middle == (tok.sep_token_id,) * 2
        and t.suffix == (tok.sep_token_id,)
    )
    assert t.pad == tok.pad_token_id == 1


@pytest.mark.parametrize("persona", [False, True])
def test_sequences_match_naive_construction(tok, tasks, persona):
    enc = encode_examples(
        tok, tasks, max_length=40, max_candidate_length=6, persona_in_context=persona
    )
    C = enc.n_candidates
    i = 0
    for _, dialogues in tasks:
        for d in dialogues:
            for e in d.examples:
                got = {
                    tuple(enc.ids[enc.offsets[i * C + j] : enc.offsets[i * C + j + 1]])
                    for j in range(C)
                }
                want = {
                    tuple(_naive(tok, e.history, c, 40, 6, d.persona if persona else None))
                    for c in e.candidates
                }
                assert got == want
                # the gold mask follows the candidates through the reordering
                j = int(enc.label[i])
                assert tuple(enc.ids[enc.offsets[i * C + j] : enc.offsets[i * C + j + 1]]) == tuple(
                    _naive(tok, e.history, e.gold, 40, 6, d.persona if persona else None)
                )
                i += 1
    assert i == enc.n_examples
    assert enc.seq_lengths.max() <= 40
    # the gold reply is not always in the same position after reordering
    assert len(set(enc.label.tolist())) > 3


def test_cache_reused_and_invalidated(tok, tasks, tmp_path):
    a = cached_encode(
        tmp_path,
        "train",
        tok,
        tasks,
        max_length=40,
        max_candidate_length=6,
        persona_in_context=False,
    )
    mtime = (tmp_path / "train.npz").stat().st_mtime_ns
    b = cached_encode(
        tmp_path,
        "train",
        tok,
        tasks,
        max_length=40,
        max_candidate_length=6,
        persona_in_context=False,
    )
    assert (tmp_path / "train.npz").stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(a.ids, b.ids)
    c = cached_encode(
        tmp_path,
        "train",
        tok,
        tasks,
        max_length=32,
        max_candidate_length=6,
        persona_in_context=False,
    )
    assert c.seq_lengths.max() <= 32 < a.seq_lengths.max()
    assert EncodedSet.load(tmp_path / "train.npz", key="stale") is None


def test_too_short_max_length(tok, tasks):
    with pytest.raises(ValueError, match="no room for a context"):
        encode_examples(tok, tasks, max_length=10, max_candidate_length=6)


def test_collate_matches_per_candidate_loop(tok, tasks):
    enc = encode_examples(tok, tasks, max_length=48, max_candidate_length=8)
    idx = np.array([3, 0, 5])
    b = collate(enc, idx, pad_id=1, pad_multiple=8, token_types=True)
    C = enc.n_candidates
    L = b["input_ids"].shape[1]
    assert L % 8 == 0 and b["input_ids"].shape[0] == 3 * C
    for r, (i, j) in enumerate((i, j) for i in idx for j in range(C)):
        seq = enc.ids[enc.offsets[i * C + j] : enc.offsets[i * C + j + 1]]
        row = b["input_ids"][r]
        np.testing.assert_array_equal(row[: len(seq)], seq)
        assert (row[len(seq) :] == 1).all() and b["attention_mask"][r].sum() == len(seq)
        assert b["token_type_ids"][r, : enc.type_start[i * C + j]].sum() == 0
    np.testing.assert_array_equal(b["gold"], enc.gold[idx])
    assert b["n_tokens"] == int(b["attention_mask"].sum())


def _fake(lengths, C=2):
    lengths = np.asarray(lengths)
    seq_len = np.repeat(lengths, C)
    offsets = np.zeros(len(seq_len) + 1, dtype=np.int64)
    np.cumsum(seq_len, out=offsets[1:])
    n = len(lengths)
    return EncodedSet(
        np.zeros(offsets[-1], np.int32),
        offsets,
        np.zeros(len(seq_len), np.int32),
        np.eye(C, dtype=bool)[np.zeros(n, int)],
        np.zeros(n, np.int64),
        np.zeros(n, np.int32),
        ["t"],
    )


def test_bucketing_groups_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 200, size=400)
    enc = _fake(lengths)
    batches = plan_batches(
        enc, np.arange(400), batch_size=8, rng=np.random.default_rng(1), bucket=50
    )
    assert sorted(np.concatenate(batches).tolist()) == list(range(400))
    padded = sum(len(b) * lengths[b].max() for b in batches)
    naive = sum(len(b) * lengths[b].max() for b in np.array_split(rng.permutation(400), 50))
    assert padded < 0.7 * naive
    # same generator state, same plan
    again = plan_batches(enc, np.arange(400), batch_size=8, rng=np.random.default_rng(1), bucket=50)
    assert all((a == b).all() for a, b in zip(batches, again))


def test_max_tokens_budget():
    lengths = np.array([10, 12, 30, 31, 100, 7, 8, 64])
    enc = _fake(lengths)
    for rng in (None, np.random.default_rng(0)):
        batches = plan_batches(
            enc, np.arange(8), batch_size=1, max_tokens=160, rng=rng, pad_multiple=8
        )
        assert sorted(np.concatenate(batches).tolist()) == list(range(8))
        for b in batches:
            cost = len(b) * 2 * int(round_up(lengths[b].max(), 8))
            assert cost <= 160 or len(b) == 1
