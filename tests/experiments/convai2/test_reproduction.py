"""What a user reproducing Table 1 needs (issue 14): runs record their weights, task ranking
and cluster-map matches; the paper's split with epoch 0; warm-up and bucketing switches;
mixed-task batches; test personas disjoint from retraining ones; failed runs leave no
empty output folder; error messages name flags.
"""

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from experiments.convai2 import finetune_config, retrain_config  # noqa: E402
from experiments.convai2.batching import plan_batches  # noqa: E402
from experiments.convai2.finetune import finetune  # noqa: E402
from experiments.convai2.retrain import retrain  # noqa: E402
from experiments.convai2.table import build_table, format_table  # noqa: E402
from experiments.engine.checkpoint import load_json  # noqa: E402
from metalora.cli import main  # noqa: E402

from .conftest import FIXTURES  # noqa: E402

torch.set_num_threads(1)

SMALL = dict(
    tasks=2, heldout_dialogues=1, epochs=1, max_length=40, max_candidate_length=10, lora_rank=2, batch_size=2
)


def _nodots(persona):
    """The authors' map keys: the persona's sentences joined, without their periods."""
    return " ".join(s.rstrip(" .") for s in persona)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A Meta-LoRA run with the authors' kind of cluster maps (a folder, numpy ids)."""
    import pickle

    from experiments.convai2.data import read_parlai

    root = tmp_path_factory.mktemp("repro")
    train = read_parlai(FIXTURES / "train_self_original.txt")
    valid = read_parlai(FIXTURES / "valid_self_original.txt")
    maps = root / "maps"
    maps.mkdir()
    (maps / "train_persona_map").write_bytes(pickle.dumps({_nodots(train[0].persona): np.int64(0)}))
    (maps / "valid_persona_map").write_bytes(pickle.dumps({_nodots(valid[0].persona): np.int64(5)}))
    cfg = retrain_config(
        str(FIXTURES), preset="quick", method="meta-lora", warmup_ratio=0.5, cluster_map=str(maps), **SMALL
    )
    retrain(cfg, root / "ml", progress=False)
    return root


def test_config_records_weights_ranking_and_warmup(base):
    conf = load_json(base / "ml" / "config.json")
    cm = conf["cluster_map"]
    assert cm["file"].endswith("train_persona_map") and (cm["personas"], cm["matched"], cm["clusters"]) == (3, 1, 1)
    assert conf["tasks"][0]["name"] == "cluster-0"
    assert conf["weights"]["kind"] == "random" and conf["weights"]["model"] == "roberta-tiny-random"
    assert conf["task_ranking"] == "examples" and [t["rank"] for t in conf["tasks"]] == [1, 2]
    assert all(t["personas"] for t in conf["tasks"])
    assert conf["config"]["warmup_ratio"] == 0.5 and conf["config"]["task_batching"] == "cycle"
    # ranked by training examples after the held-out split, largest first
    ex = [t["train_examples"] for t in conf["tasks"]]
    assert ex == sorted(ex, reverse=True)


def test_paper_split_with_epoch0_and_table(base, tmp_path):
    cfg = finetune_config(
        str(base / "ml"), preset="quick", rank=2, test_tasks=2, eval_dialogues=1, select_dialogues=0,
        epochs=2, batch_size=2, eval_epoch0=True, warmup_ratio=0.1,
    )
    res = finetune(cfg, tmp_path / "ft", progress=False)
    assert res.mean_honest_accuracy is None
    for t in res.tasks:
        assert t.honest_accuracy is None and t.select_accuracy == () and t.n_select == 0
        assert len(t.eval_accuracy) == 3 and t.train_loss[0] is None  # epochs 0, 1, 2
        assert t.paper_accuracy == max(t.eval_accuracy) and t.paper_epoch in (0, 1, 2)
    conf = load_json(tmp_path / "ft" / "config.json")
    assert conf["overlap_check"]["checked"] and conf["overlap_check"]["shared"] == 0
    assert conf["cluster_map"]["file"].endswith("valid_persona_map") and conf["cluster_map"]["matched"] == 1
    json.loads((tmp_path / "ft" / "results.json").read_text())  # strict JSON (no NaN)
    table = build_table([tmp_path / "ft"])
    (row,) = table.rows
    assert row.method.endswith("[paper split]") and row.honest_median[0] is None
    text = format_table(table)
    assert "[paper split]" in text and "—" in text and "no honest one" in text


def test_test_personas_must_not_be_retraining_personas(base, tmp_path):
    """A validation split that repeats the train split's personas is refused."""
    data = tmp_path / "same"
    data.mkdir()
    shutil.copy(FIXTURES / "train_self_original.txt", data / "train_self_original.txt")
    shutil.copy(FIXTURES / "train_self_original.txt", data / "valid_self_original.txt")
    # the valid map must match something in this split, or the run stops earlier
    import pickle

    from experiments.convai2.data import read_parlai

    train = read_parlai(FIXTURES / "train_self_original.txt")
    vmap = base / "maps" / "valid_persona_map"
    original = vmap.read_bytes()
    vmap.write_bytes(pickle.dumps({_nodots(train[-1].persona): np.int64(5), "i am nobody": np.int64(6)}))
    try:
        cfg = finetune_config(
            str(base / "ml"), preset="quick", data=str(data), rank=2, test_tasks=2, eval_dialogues=1, epochs=1,
            select_dialogues=0,
        )
        with pytest.raises(ValueError, match="was also a retraining task"):
            finetune(cfg, tmp_path / "ft", progress=False)
    finally:
        vmap.write_bytes(original)
    assert not (tmp_path / "ft").exists()  # and the failed run left no folder


def test_mixed_task_batching_runs_and_is_refused_for_sr(tmp_path, capsys):
    cfg = retrain_config(str(FIXTURES), preset="quick", method="meta-lora", task_batching="mixed", **SMALL)
    res = retrain(cfg, tmp_path / "mixed", progress=False)
    assert res.finished and res.n_parameters > 0
    base = next((tmp_path / "mixed" / "best").glob("*-base.safetensors"))
    from experiments.engine import load_tensors

    assert not any("lora" in k for k in load_tensors(base))
    capsys.readouterr()
    rc = main(
        ["convai2", "retrain", "--data", str(FIXTURES), "--method", "sr", "--task-batching", "mixed",
         "--preset", "quick", "--out", str(tmp_path / "x")]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "--task-batching mixed" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_failed_runs_leave_no_empty_out_folder(tmp_path, capsys):
    out = tmp_path / "runs" / "r"
    rc = main(
        ["convai2", "retrain", "--data", str(FIXTURES), "--model", "roberta-large", "--out", str(out),
         "--no-progress", "--tasks", "2", "--heldout-dialogues", "1"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "no local pretrained weights" in err and "--model DIR" in err
    assert not (tmp_path / "runs").exists()
    rc = main(
        ["convai2", "retrain", "--data", str(FIXTURES), "--preset", "quick", "--tasks", "9", "--out", str(out),
         "--no-progress"]
    )
    assert rc == 2 and "`--tasks` 9" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_bucketing_switch():
    from experiments.convai2.encoding import EncodedSet

    lengths = np.array([5, 40, 6, 39, 7, 38, 8, 37] * 5)
    n = len(lengths)
    enc = EncodedSet(
        ids=np.zeros(int(lengths.sum()), np.int32),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        type_start=np.zeros(n, np.int32),
        gold=np.ones((n, 1), bool),
        label=np.zeros(n, np.int64),
        task=np.zeros(n, np.int32),
        task_names=["t"],
    )
    idx = np.arange(n)
    rng = np.random.default_rng(0)
    plain = plan_batches(enc, idx, batch_size=4, rng=np.random.default_rng(0), bucketing=False)
    perm = idx[rng.permutation(n)]
    assert [list(b) for b in plain] == [list(perm[i : i + 4]) for i in range(0, n, 4)]
    bucketed = plan_batches(enc, idx, batch_size=4, rng=np.random.default_rng(0))

    def spread(batches):
        return np.mean([lengths[b].max() - lengths[b].min() for b in batches])

    assert spread(bucketed) < spread(plain)  # bucketing groups similar lengths
