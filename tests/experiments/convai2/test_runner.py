"""End to end on the shipped fixture: retrain with every method, fine-tune, table; resume after
a simulated kill equals an uninterrupted run; the CLI.
"""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from experiments.convai2 import finetune_config, retrain_config  # noqa: E402
from experiments.convai2.finetune import finetune  # noqa: E402
from experiments.convai2.retrain import retrain  # noqa: E402
from experiments.engine.checkpoint import load_json, load_tensors  # noqa: E402
from experiments.convai2.finetune import select_epochs  # noqa: E402
from experiments.convai2.table import build_table, format_table  # noqa: E402
from metalora.cli import main  # noqa: E402

from .conftest import FIXTURES  # noqa: E402

torch.set_num_threads(1)

METHODS = ("sr", "meta-lora", "last-layer-ml", "reptile")


def _rcfg(method, **kw):
    base = dict(
        method=method,
        tasks=2,
        heldout_dialogues=1,
        epochs=2,
        max_length=48,
        max_candidate_length=12,
        lora_rank=2,
        lora_dropout=0.1,
        model_dropout=0.1,
        reptile_inner_steps=2,
        batch_size=2,
    )
    base.update(kw)
    return retrain_config(str(FIXTURES), preset="quick", **base)


def _fcfg(run, **kw):
    base = dict(
        rank=2,
        test_tasks=2,
        eval_dialogues=1,
        select_dialogues=1,
        epochs=2,
        batch_size=2,
        dropout=0.1,
    )
    base.update(kw)
    return finetune_config(str(run), preset="quick", **base)


class Kill(Exception):
    pass


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("convai2")
    res = {m: retrain(_rcfg(m), root / m, progress=False) for m in METHODS}
    ft = {
        "sr-lora": finetune(_fcfg(root / "sr"), root / "ft-sr", progress=False),
        "ml-lora": finetune(_fcfg(root / "meta-lora"), root / "ft-ml", progress=False),
        "llml-ll": finetune(
            _fcfg(root / "last-layer-ml", adapter="last-layer"), root / "ft-llml", progress=False
        ),
        "reptile-lora": finetune(
            _fcfg(root / "reptile", head_init="mean"), root / "ft-rep", progress=False
        ),
    }
    return root, res, ft


def test_retrain_every_method(runs):
    root, res, _ = runs
    for m in METHODS:
        r = res[m]
        assert r.method == m and r.epochs_done == 2 and r.finished and len(r.history) == 2
        assert r.best_epoch in (1, 2)
        assert r.best_mean_heldout_accuracy == max(h.mean_heldout_accuracy for h in r.history)
        assert all(0 <= a <= 1 for h in r.history for a in h.heldout_accuracy.values())
        assert len(r.tasks) == 2 and r.n_train_examples == 7 and r.n_heldout_examples == 4
        run = root / m
        for f in (
            "config.json",
            "state.json",
            "result.json",
            "tokenizer/tokenizer.json",
            "model/config.json",
        ):
            assert (run / f).is_file(), f
        state = load_json(run / "state.json")
        assert sorted(p.name for p in (run / "checkpoints").iterdir()) == sorted(
            state["checkpoint"].values()
        )
        base = load_tensors(run / "best" / state["best"]["base"])
        assert not any("lora" in k for k in base)
        heads = load_tensors(run / "best" / state["best"]["heads"])
        n_heads = len({k.split("/")[0] for k in heads})
        assert n_heads == (2 if m in ("meta-lora", "last-layer-ml") else 1)
        assert r.to_json()["method"] == m


def test_methods_train_different_weights(runs):
    root, _, _ = runs
    bases = {m: load_tensors(next((root / m / "best").glob("*-base.safetensors"))) for m in METHODS}
    key = "roberta.encoder.layer.0.attention.self.query.weight"
    for a in METHODS:
        for b in METHODS:
            if a < b:
                assert not torch.equal(bases[a][key], bases[b][key]), (a, b)


def test_finetune_results(runs):
    root, _, ft = runs
    for r in ft.values():
        assert len(r.tasks) == 2
        for t in r.tasks:
            assert len(t.eval_accuracy) == len(t.select_accuracy) == len(t.train_loss) == 2
            he, ha, pe, pa = select_epochs(t.select_accuracy, t.eval_accuracy)
            assert (he, ha, pe, pa) == (
                t.honest_epoch,
                t.honest_accuracy,
                t.paper_epoch,
                t.paper_accuracy,
            )
            assert t.paper_accuracy >= t.honest_accuracy  # test-set selection can only look better
            assert t.n_finetune == 2 and t.n_select == 2 and t.n_eval == 2
    assert ft["sr-lora"].rank == 2 and ft["llml-ll"].rank is None
    assert ft["ml-lora"].base_rank == 2 and ft["sr-lora"].base_rank is None
    # the fine-tuned checkpoints are cleaned up, the results kept
    assert not list((root / "ft-sr" / "checkpoints").glob("task-*"))
    assert (root / "ft-sr" / "results.json").is_file()


def test_select_epochs_rule():
    assert select_epochs([0.1, 0.5, 0.5], [0.9, 0.2, 0.3]) == (2, 0.2, 1, 0.9)
    with pytest.raises(ValueError, match="equal length"):
        select_epochs([0.1], [0.1, 0.2])


def test_table(runs, tmp_path):
    root, _, ft = runs
    table = build_table([root / "ft-sr", root / "ft-ml", root / "ft-llml", root / "ft-rep"])
    labels = [(r.block, r.method) for r in table.rows]
    assert labels == [
        ("LoRA rank 2", "Meta-LoRA-2"),
        ("LoRA rank 2", "Reptile+LoRA"),
        ("LoRA rank 2", "SR+LoRA"),
        ("last layer", "LL-ML+LL"),
    ]
    row = table.rows[2]
    want = [100 * t.honest_accuracy for t in ft["sr-lora"].tasks]
    assert row.honest_median == pytest.approx(want + [sum(want) / 2])
    assert row.n_seeds == 1
    text = format_table(table)
    assert "Honest" in text and "test-set early stopping" in text and "41.52" in text
    # CLI: print and write
    prefix = tmp_path / "t1"
    assert (
        main(["convai2", "table", str(root / "ft-sr"), str(root / "ft-ml"), "--out", str(prefix)])
        == 0
    )
    assert "SR+LoRA" in (tmp_path / "t1.md").read_text()
    assert json.loads((tmp_path / "t1.json").read_text())["rows"][0]["method"] == "Meta-LoRA-2"
    with pytest.raises(ValueError, match="not a finished fine-tuning run"):
        build_table([tmp_path])


def test_table_statistics_over_seeds(tmp_path):
    """Median and mean ± s.e. over seeds against a hand computation."""
    accs = [[0.2, 0.4], [0.6, 0.4], [0.4, 1.0]]
    paths = []
    for s, (a, b) in enumerate(accs):
        tasks = [
            dict(name=n, honest_accuracy=x, paper_accuracy=min(1.0, x + 0.1))
            for n, x in (("p1", a), ("p2", b))
        ]
        p = tmp_path / f"s{s}"
        p.mkdir()
        (p / "results.json").write_text(
            json.dumps(dict(tasks=tasks, adapter="lora", rank=8, method="sr", base_rank=None))
        )
        paths.append(p)
    (row,) = build_table(paths).rows
    assert row.honest_median == pytest.approx([40.0, 40.0, 40.0])
    per_seed = [30.0, 50.0, 70.0]
    assert row.honest_mean == pytest.approx([40.0, 60.0, 50.0])
    assert row.honest_se[2] == pytest.approx(float(torch.tensor(per_seed).std()) / 3**0.5)
    assert row.paper_median[0] == pytest.approx(50.0)


def _strip_timing(history):
    return [
        {k: v for k, v in h.items() if k not in ("seconds", "examples_per_s", "tokens_per_s")}
        for h in history
    ]


@pytest.mark.parametrize("method", ["meta-lora", "reptile"])
def test_resume_after_kill_equals_uninterrupted(runs, tmp_path, method):
    root, res, _ = runs
    out = tmp_path / "killed"

    def kill(rec):
        if rec.epoch == 1:
            raise Kill

    with pytest.raises(Kill):
        retrain(_rcfg(method), out, progress=False, on_epoch_end=kill)
    assert load_json(out / "state.json")["epochs_done"] == 1
    with pytest.raises(ValueError, match="already holds a run"):
        retrain(_rcfg(method), out, progress=False)
    with pytest.raises(ValueError, match="lr differ"):
        retrain(_rcfg(method, lr=0.5), out, resume=True, progress=False)
    resumed = retrain(_rcfg(method), out, resume=True, progress=False)
    full = res[method]
    assert _strip_timing(resumed.to_json()["history"]) == _strip_timing(
        full.to_json()["history"]
    )
    a = load_tensors(next((root / method / "checkpoints").glob("*-model.safetensors")))
    b = load_tensors(next((out / "checkpoints").glob("*-model.safetensors")))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_finetune_resume_after_kill(runs, tmp_path):
    root, _, ft = runs
    out = tmp_path / "ft"

    def kill(task, epoch):
        if (task, epoch) == (1, 1):
            raise Kill

    with pytest.raises(Kill):
        finetune(_fcfg(root / "meta-lora"), out, progress=False, on_epoch_end=kill)
    resumed = finetune(_fcfg(root / "meta-lora"), out, resume=True, progress=False)
    assert [json.loads(json.dumps(t.__dict__)) for t in resumed.tasks] == [
        json.loads(json.dumps(t.__dict__)) for t in ft["ml-lora"].tasks
    ]


def test_cli_synth_and_usage_errors(tmp_path, capsys):
    assert (
        main(
            [
                "convai2",
                "synth",
                "--out",
                str(tmp_path / "c"),
                "--train-personas",
                "3",
                "--valid-personas",
                "2",
                "--json",
            ]
        )
        == 0
    )
    assert (tmp_path / "c" / "personachat_self_original.json").is_file()
    capsys.readouterr()
    assert (
        main(
            ["convai2", "retrain", "--data", str(tmp_path / "c"), "--method", "maml", "--out", "x"]
        )
        == 2
    )
    assert "invalid choice: 'maml'" in capsys.readouterr().err
    assert (
        main(
            [
                "convai2",
                "retrain",
                "--data",
                str(tmp_path / "nowhere"),
                "--out",
                str(tmp_path / "r"),
                "--preset",
                "quick",
            ]
        )
        == 2
    )
    assert "must be a directory or a file" in capsys.readouterr().err
    assert (
        main(
            [
                "convai2",
                "retrain",
                "--data",
                str(tmp_path / "c"),
                "--out",
                str(tmp_path / "r"),
                "--lr",
                "-1",
            ]
        )
        == 2
    )
    assert "`--lr` must be > 0" in capsys.readouterr().err
    assert main(["convai2", "finetune", "--base", str(tmp_path), "--out", str(tmp_path / "f")]) == 2
    assert "is not a retraining run directory" in capsys.readouterr().err
    assert main(["convai2"]) == 2
    assert "give a subcommand" in capsys.readouterr().err


def test_cli_retrain_and_finetune(tmp_path, capsys):
    rc = main(
        [
            "convai2",
            "retrain",
            "--data",
            str(FIXTURES),
            "--method",
            "sr",
            "--preset",
            "quick",
            "--tasks",
            "2",
            "--heldout-dialogues",
            "1",
            "--epochs",
            "1",
            "--max-length",
            "40",
            "--max-candidate-length",
            "10",
            "--seed",
            "0",
            "1",
            "--out",
            str(tmp_path / "sr"),
            "--no-progress",
            "--device",
            "cpu",
            "--max-tokens",
            "2000",
        ]
    )
    assert rc == 0
    assert {p.name for p in (tmp_path / "sr").iterdir()} == {"seed-0", "seed-1"}
    rc = main(
        [
            "convai2",
            "finetune",
            "--base",
            str(tmp_path / "sr" / "seed-0"),
            str(tmp_path / "sr" / "seed-1"),
            "--preset",
            "quick",
            "--rank",
            "2",
            "--test-tasks",
            "2",
            "--eval-dialogues",
            "1",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "ft"),
            "--no-progress",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "mean honest accuracy" in out and "peak memory" in out
    assert main(["convai2", "table", str(tmp_path / "ft"), "--out", str(tmp_path / "tab")]) == 0
    assert "| 2 |" in (tmp_path / "tab.md").read_text()  # two seeds in the row
