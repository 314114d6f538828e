"""Retraining and fine-tuning through the engine on a generated IDX set: methods, honest
selection, zero-initialised fine-tuning adapters, determinism, resume, the table.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from experiments.vision.finetune import finetune, head_init_state  # noqa: E402
from experiments.vision.presets import finetune_config, retrain_config  # noqa: E402
from experiments.vision.retrain import load_base, retrain  # noqa: E402
from experiments.vision.table import build_table, format_table  # noqa: E402

from experiments.engine import RuntimeOptions  # noqa: E402

RT = RuntimeOptions(device="cpu", threads=1)  # one thread: tiny models on a shared machine
TINY = dict(width=32, token_hidden=16, channel_hidden=16, heldout=20, train_per_task=60, epochs=2, batch_size=32)
TINY_FT = dict(epochs=2, finetune_images=20, select_images=20, evaluate_images=40, batch_size=16)


@pytest.fixture(scope="module")
def bases(idx_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("bases")
    out = {}
    for m in ("sr", "meta-lora", "last-layer-ml", "reptile"):
        cfg = retrain_config(idx_dir, preset="quick", runtime=RT, method=m, seed=0, reptile_inner_steps=2, **TINY)
        out[m] = (cfg, retrain(cfg, root / m, progress=False))
    return out


def test_every_method_retrains_and_selects_on_heldout(bases):
    for m, (cfg, res) in bases.items():
        assert res.finished and res.epochs_done == 2 and res.method == m
        accs = [h["mean_heldout_accuracy"] for h in res.history]
        assert res.best_epoch == 1 + int(np.argmax(accs)) and res.best_mean_heldout_accuracy == max(accs)
        assert res.n_heldout_images == 80
        with open(f"{res.run_dir}/result.json") as fh:
            assert not any("seconds" in h for h in json.load(fh)["history"])  # timings live elsewhere


def test_meta_lora_has_adapters_on_every_linear_layer_including_the_head(bases):
    from safetensors.torch import load_file

    base = load_base(bases["meta-lora"][1].run_dir)
    heads = load_file(base["heads"])
    assert set(heads) == {"shared/base_layer.weight", "shared/base_layer.bias"} | {
        f"shared/lora_{ab}.{t}.weight" for ab in "AB" for t in ("0-1", "2-3", "4-5", "6-7")
    }
    # the base keeps every bias, under the network's own names (no adapter, no head)
    state = load_file(base["base"])
    for name in (
        "stem",
        "blocks.0.token_mix.0",
        "blocks.0.token_mix.3",
        "blocks.0.channel_mix.0",
        "blocks.0.channel_mix.3",
    ):
        assert f"{name}.weight" in state and f"{name}.bias" in state
    init = head_init_state(heads, "retrained")
    assert set(init) == {"weight", "bias"}
    ll = head_init_state(load_file(load_base(bases["last-layer-ml"][1].run_dir)["heads"]), "retrained")
    assert set(ll) == {"weight", "bias"}  # the mean of the four per-task heads


def _base_accuracy(idx_dir, base_run, cfg):
    """Accuracy of the retrained network with its retrained head on the test task's evaluation images."""
    from experiments.engine import TaskModel, load_tensors
    from experiments.vision import load_images
    from experiments.vision.batches import to_float
    from experiments.vision.retrain import build_net
    from experiments.vision.tasks import test_splits as splits_of_test_task

    base = load_base(base_run)
    images = load_images(idx_dir)
    _, _, ev = splits_of_test_task(
        images,
        base["config"].test_task,
        seed=cfg.seed,
        finetune=cfg.finetune_images,
        select=cfg.select_images,
        evaluate=cfg.evaluate_images,
    )
    model = TaskModel(build_net(base["config"], images.image_shape), head="head")
    model.load_base_state(load_tensors(base["base"]))
    model.add_head("h", head_init_state(load_tensors(base["heads"]), "retrained"))
    model.eval()
    with torch.no_grad():
        pred = model(to_float(torch.as_tensor(ev.images))).argmax(-1).numpy()
    return float((pred == ev.labels).mean())


@pytest.mark.parametrize("method", ["sr", "meta-lora"])
def test_finetuning_starts_at_the_retrained_model_and_selects_honestly(bases, idx_dir, tmp_path, method):
    cfg = finetune_config(
        bases[method][1].run_dir, preset="quick", runtime=RT, adapter="lora", rank=2, seed=0, **TINY_FT
    )
    res = finetune(cfg, tmp_path / "ft", progress=False)
    # epoch 0: fresh adapter (B = 0) and the retrained head = exactly the retrained model
    assert res.before_accuracy == pytest.approx(_base_accuracy(idx_dir, res.base_run, cfg), abs=1e-12)
    assert len(res.eval_accuracy) == len(res.select_accuracy) == 3  # epochs 0, 1, 2
    h = int(np.argmax(res.select_accuracy))
    assert res.honest_epoch == h and res.honest_accuracy == res.eval_accuracy[h]
    assert res.paper_accuracy == max(res.eval_accuracy) >= res.honest_accuracy
    assert (res.n_finetune, res.n_select, res.n_eval) == (20, 20, 40)


def test_same_seed_same_json_and_resume_equals_uninterrupted(idx_dir, tmp_path):
    cfg = retrain_config(idx_dir, preset="quick", runtime=RT, method="meta-lora", seed=3, **{**TINY, "epochs": 3})
    a = retrain(cfg, tmp_path / "a", progress=False)

    class Kill(Exception):
        pass

    def kill_after_2(rec):
        if rec.epoch == 2:
            raise Kill

    with pytest.raises(Kill):
        retrain(cfg, tmp_path / "b", progress=False, on_epoch_end=kill_after_2)
    b = retrain(cfg, tmp_path / "b", resume=True, progress=False)
    assert (tmp_path / "a" / "result.json").read_text().replace(str(tmp_path / "a"), "RUN") == (
        tmp_path / "b" / "result.json"
    ).read_text().replace(str(tmp_path / "b"), "RUN")
    assert a.best_epoch == b.best_epoch
    fa = finetune(finetune_config(a.run_dir, preset="quick", runtime=RT, **TINY_FT), tmp_path / "fa", progress=False)
    fb = finetune(finetune_config(b.run_dir, preset="quick", runtime=RT, **TINY_FT), tmp_path / "fb", progress=False)
    assert fa.eval_accuracy == fb.eval_accuracy and fa.train_loss == fb.train_loss


def test_resume_refuses_other_settings(idx_dir, bases, tmp_path):
    from landscape.errors import InvalidArgument

    cfg, res = bases["sr"]
    with pytest.raises(InvalidArgument, match="already holds"):
        retrain(cfg, res.run_dir, progress=False)
    other = retrain_config(idx_dir, preset="quick", runtime=RT, method="sr", seed=0, **{**TINY, "lr": 0.5})
    with pytest.raises(InvalidArgument, match="lr"):
        retrain(other, res.run_dir, resume=True, progress=False)


def test_table_pairs_seeds_and_labels_best_on_test(bases, tmp_path):
    runs = []
    for m in ("sr", "meta-lora"):
        cfg = finetune_config(bases[m][1].run_dir, preset="quick", runtime=RT, adapter="last-layer", **TINY_FT)
        finetune(cfg, tmp_path / m, progress=False)
        runs.append(tmp_path / m)
    t = build_table([tmp_path])
    assert [r.method for r in t.rows] == ["sr", "meta-lora"]
    (c,) = t.comparisons
    sr, ml = (r.honest[0] for r in t.rows)
    assert c.differences == (pytest.approx(ml - sr),) and c.seeds == (0,)
    text = format_table(t)
    assert "best-on-test (labelled)" in text and "last layer, 20 images" in text


def test_sr_learns_the_synthetic_tasks_and_not_shuffled_labels(idx_dir, tmp_path):
    """Above chance on learnable tasks; the same run on shuffled labels stays near chance."""
    import dataclasses

    from experiments.vision import load_images, write_idx

    fast = {**TINY, "epochs": 3, "lr": 1e-2, "train_per_task": 150}
    res = retrain(retrain_config(idx_dir, preset="quick", runtime=RT, **fast), tmp_path / "ok", progress=False)
    assert res.best_mean_heldout_accuracy > 0.7  # 80 held-out images: chance gives > 0.7 with p < 1e-3
    images = load_images(idx_dir)
    perm = np.random.default_rng(0).permutation(len(images.train_labels))
    write_idx(dataclasses.replace(images, train_labels=images.train_labels[perm]), tmp_path / "shuffled")
    bad = retrain(retrain_config(tmp_path / "shuffled", preset="quick", runtime=RT, **fast), tmp_path / "bad",
                  progress=False)  # fmt: skip
    assert bad.best_mean_heldout_accuracy < 0.7


@pytest.mark.parametrize(
    "acc, n, expected", [(0.70, 100, True), (0.60, 100, False), (0.55, 2000, True), (0.5, 40, False)]
)
def test_above_chance_is_a_one_sided_binomial_test_at_1_percent(acc, n, expected):
    from experiments.vision.table import _above_chance

    assert _above_chance(acc, n) is expected


def test_meta_lora_with_a_head_per_task(idx_dir, tmp_path):
    from safetensors.torch import load_file

    cfg = retrain_config(idx_dir, preset="quick", runtime=RT, method="meta-lora", meta_heads="per-task",
                         **{**TINY, "epochs": 1})  # fmt: skip
    res = retrain(cfg, tmp_path / "r", progress=False)
    heads = load_file(load_base(res.run_dir)["heads"])
    assert {k.split("/")[0] for k in heads} == {"0-1", "2-3", "4-5", "6-7"}
    assert not any("lora_" in k for k in heads)  # adapters on the body only; the heads are per task
    ft = finetune(finetune_config(res.run_dir, preset="quick", runtime=RT, **TINY_FT), tmp_path / "f", progress=False)
    assert ft.meta_heads == "per-task" and len(ft.eval_accuracy) == 3
