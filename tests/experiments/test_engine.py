"""The meta-retraining engine on a toy suite (the example of docs/engine.md): every strategy
runs, a killed run resumes bit for bit, Reptile's update has the right sign, the warm-up
schedule, the step plan, honest selection, mixed-task batched LoRA equals per-task peft.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from torch import nn  # noqa: E402

from experiments.engine import (  # noqa: E402
    STRATEGIES,
    FinetuneSettings,
    RetrainSettings,
    RuntimeOptions,
    TaskModel,
    Workload,
    add_task_parts,
    check_resume,
    finetune_loop,
    get_strategy,
    linear_lr,
    load_tensors,
    plan_steps,
    reptile_update,
    retrain_loop,
    save_json,
    seed_torch,
    select_epochs,
    setup_runtime,
)
from experiments.engine.checkpoint import OutDir  # noqa: E402

torch.set_num_threads(1)
TARGETS = ["body.0", "body.2"]


class Net(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU())
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        return self.head(self.body(x))


class Toy(Workload):
    """Binary tasks given as ``{split: [(X, y) per task]}``; a batch is (task ids, X, y)."""

    def __init__(self, splits, train_split="train", batch_size=8):
        self.splits = splits
        self.train_split = train_split
        self.task_names = [f"t{i}" for i in range(len(splits[train_split]))]
        self.batch_size = batch_size

    def n_examples(self, split):
        return sum(len(y) for _, y in self.splits[split])

    def train_batches(self, task, rng):
        data = self.splits[self.train_split]
        tasks = range(len(self.task_names)) if task is None else [task]
        rows = [(t, i) for t in tasks for i in range(len(data[t][1]))]
        order = rng.permutation(len(rows))
        out = []
        for s in range(0, len(rows), self.batch_size):
            sel = [rows[k] for k in order[s : s + self.batch_size]]
            t = torch.tensor([a for a, _ in sel])
            X = torch.stack([data[a][0][i] for a, i in sel])
            y = torch.stack([data[a][1][i] for a, i in sel])
            out.append((t, X, y))
        return out

    def count(self, batch):
        return len(batch[2])

    def shard(self, batch, rt):
        s = rt.shard(len(batch[2]))
        return tuple(x[s] for x in batch)

    def loss(self, model, batch, rt):
        t, X, y = batch
        if model.mixed:
            model.route_rows(t.to(rt.device))
        with rt.autocast():
            logits = model(X.to(rt.device))
        return nn.functional.cross_entropy(logits.float(), y.to(rt.device), reduction="sum"), 0

    def eval_batches(self, split, task, rt):
        X, y = self.splits[split][task]
        s = rt.shard(len(y))
        yield X[s], y[s]

    def score(self, model, batch, rt):
        X, y = batch
        with rt.autocast():
            pred = model(X.to(rt.device)).argmax(-1)
        return (pred == y.to(rt.device)).sum(), len(y)


def _splits(seed=0, tasks=3, n=32):
    g = torch.Generator().manual_seed(seed)

    def task(w, n):
        X = torch.randn(n, 8, generator=g)
        return X, (X @ w > 0).long()

    shared = torch.randn(8, generator=g)
    ws = [shared + 0.5 * torch.randn(8, generator=g) for _ in range(tasks)]
    return {"train": [task(w, n) for w in ws], "heldout": [task(w, 16) for w in ws]}


RT = setup_runtime(RuntimeOptions(device="cpu"))


def _retrain(method, out, *, epochs=3, mixed=False, resume=False, on_epoch_end=None, warmup=0.0):
    seed_torch(0, 0)
    model = TaskModel(Net(), head="head")
    strategy = get_strategy(method)
    wl = Toy(_splits())
    add_task_parts(model, strategy, wl.task_names, rank=2, alpha=4.0, targets=TARGETS, mixed=mixed)
    s = RetrainSettings(
        epochs=epochs, lr=1e-2, weight_decay=0.01, seed=0, inner_steps=2, mixed=mixed, warmup_ratio=warmup
    )
    return model, retrain_loop(
        model, wl, strategy, s, out, rt=RT, resume=resume, progress=False, on_epoch_end=on_epoch_end
    )


class Kill(Exception):
    pass


@pytest.mark.parametrize("method", sorted(STRATEGIES))
def test_every_strategy_runs_and_resumes_bit_for_bit(tmp_path, method):
    _, full = _retrain(method, tmp_path / "full")
    assert full["finished"] and full["epochs_done"] == 3 and len(full["history"]) == 3
    assert full["best_mean_heldout_accuracy"] == max(h["mean_heldout_accuracy"] for h in full["history"])

    def kill(rec):
        if rec.epoch == 2:
            raise Kill

    with pytest.raises(Kill):
        _retrain(method, tmp_path / "killed", on_epoch_end=kill)
    _, resumed = _retrain(method, tmp_path / "killed", resume=True)

    def strip(hist):
        return [{k: v for k, v in h.items() if k not in ("seconds", "examples_per_s", "tokens_per_s")} for h in hist]

    assert strip(resumed["history"]) == strip(full["history"])
    a = load_tensors(tmp_path / "full" / "checkpoints" / full["checkpoint"]["model"])
    b = load_tensors(tmp_path / "killed" / "checkpoints" / resumed["checkpoint"]["model"])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    base = load_tensors(tmp_path / "full" / "best" / full["best"]["base"])
    assert set(base) == {f"{m}.{p}" for m in TARGETS for p in ("weight", "bias")}  # plain names


def test_resume_is_sensitive(tmp_path):
    """The bit-for-bit comparison above is not vacuous: another seed's run differs."""
    _, a = _retrain("meta-lora", tmp_path / "a")
    seed_torch(0, 0)
    model = TaskModel(Net(), head="head")
    strategy = get_strategy("meta-lora")
    wl = Toy(_splits())
    add_task_parts(model, strategy, wl.task_names, rank=2, alpha=4.0, targets=TARGETS)
    b = retrain_loop(
        model, wl, strategy, RetrainSettings(epochs=3, lr=1e-2, weight_decay=0.01, seed=1), tmp_path / "b", rt=RT, progress=False
    )
    ta = load_tensors(tmp_path / "a" / "checkpoints" / a["checkpoint"]["model"])
    tb = load_tensors(tmp_path / "b" / "checkpoints" / b["checkpoint"]["model"])
    assert any(not torch.equal(ta[k], tb[k]) for k in ta)


def test_meta_lora_learns_and_finetune_selects_honestly(tmp_path):
    model, st = _retrain("meta-lora", tmp_path / "run", epochs=6, warmup=0.1)
    assert st["history"][-1]["train_loss"] < st["history"][0]["train_loss"]
    # fine-tune the best base on two new tasks
    seed_torch(0, 0)
    ft = TaskModel(Net(), head="head")
    ft.load_base_state(load_tensors(tmp_path / "run" / "best" / st["best"]["base"]))
    ft.set_base_trainable(False)
    sp = _splits(seed=5, tasks=2)
    test = Toy({"finetune": sp["train"], "select": sp["heldout"], "evaluate": _splits(seed=6, tasks=2)["heldout"]}, "finetune")
    s = FinetuneSettings(adapter="lora", epochs=3, lr=1e-2, weight_decay=0.0, seed=0, rank=2, alpha=4.0, targets=tuple(TARGETS))
    res = finetune_loop(ft, test, s, tmp_path / "ft", rt=RT, progress=False)
    assert len(res) == 2
    for r in res:
        assert len(r.select_accuracy) == len(r.eval_accuracy) == 3
        assert r.paper_accuracy >= r.honest_accuracy
        assert (r.honest_epoch, r.honest_accuracy, r.paper_epoch, r.paper_accuracy) == select_epochs(
            r.select_accuracy, r.eval_accuracy
        )
    # no selection split, epoch 0 evaluated: only the labelled best-on-evaluation number
    seed_torch(0, 0)
    ft2 = TaskModel(Net(), head="head")
    ft2.load_base_state(load_tensors(tmp_path / "run" / "best" / st["best"]["base"]))
    ft2.set_base_trainable(False)
    s2 = FinetuneSettings(
        adapter="last-layer", epochs=2, lr=1e-2, weight_decay=0.0, seed=0, select_split=None, eval_epoch0=True
    )
    res2 = finetune_loop(ft2, test, s2, tmp_path / "ft2", rt=RT, progress=False)
    for r in res2:
        assert r.honest_epoch is None and r.honest_accuracy is None and r.select_accuracy == ()
        assert len(r.eval_accuracy) == 3 and r.train_loss[0] is None
        assert r.paper_epoch in (0, 1, 2) and r.paper_accuracy == max(r.eval_accuracy)
    json.dumps([r.__dict__ for r in res2], allow_nan=False)  # strict JSON


def test_reptile_update_sign():
    theta = [torch.tensor([1.0, 2.0])]
    inner = [torch.tensor([3.0, 0.0])]
    p = [inner[0].clone()]
    reptile_update(p, theta, 0.25)
    # theta + eps (theta_inner - theta) = [1 + 0.5, 2 - 0.5]
    torch.testing.assert_close(p[0], torch.tensor([1.5, 1.5]))
    # the opposite sign (theta - eps (theta_inner - theta)) is a different point
    assert not torch.allclose(p[0], theta[0] - 0.25 * (inner[0] - theta[0]))
    p = [inner[0].clone()]
    reptile_update(p, theta, 1.0)  # eps = 1: the inner solution
    torch.testing.assert_close(p[0], inner[0])


def test_warmup_schedule():
    assert linear_lr(1.0, 0.0) == 1.0 and linear_lr(1.0, 0.5) == 0.5 and linear_lr(1.0, 1.0) == 0.0
    assert linear_lr(1.0, 0.0, 0.1) == 0.0
    assert linear_lr(1.0, 0.05, 0.1) == pytest.approx(0.5)
    assert linear_lr(1.0, 0.1, 0.1) == pytest.approx(1.0)
    assert linear_lr(1.0, 0.55, 0.1) == pytest.approx(0.5)
    assert linear_lr(2.0, 1.0, 0.1) == 0.0
    # the paper pipeline's step schedule (transformers.get_linear_schedule_with_warmup)
    transformers = pytest.importorskip("transformers")
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = transformers.get_linear_schedule_with_warmup(opt, 10, 100)
    for step in range(100):
        assert opt.param_groups[0]["lr"] == pytest.approx(linear_lr(1.0, step / 100, 0.1), abs=1e-12)
        opt.step()
        sched.step()


def test_plan_steps_cycles_and_groups():
    def batches(task, rng):
        n = {None: 5, 0: 3, 1: 1, 2: 2}[task]
        return [f"{task}-{i}" for i in range(n)]

    rng = np.random.default_rng(0)
    steps = plan_steps(get_strategy("meta-lora"), batches, 3, rng)
    assert steps == [(0, ["0-0"]), (1, ["1-0"]), (2, ["2-0"]), (0, ["0-1"]), (2, ["2-1"]), (0, ["0-2"])]
    steps = plan_steps(get_strategy("reptile"), batches, 3, rng, inner_steps=2)
    assert steps == [(0, ["0-0", "0-1"]), (1, ["1-0"]), (2, ["2-0", "2-1"]), (0, ["0-2"])]
    assert plan_steps(get_strategy("sr"), batches, 3, rng) == [(None, [f"None-{i}"]) for i in range(5)]
    assert plan_steps(get_strategy("meta-lora"), batches, 3, rng, mixed=True)[0] == (None, ["None-0"])


def test_select_epochs_epoch0_and_ties():
    assert select_epochs([0.1, 0.5, 0.5], [0.9, 0.2, 0.3]) == (2, 0.2, 1, 0.9)
    assert select_epochs([0.1, 0.5, 0.5], [0.9, 0.2, 0.3], first_epoch=0) == (1, 0.2, 0, 0.9)
    with pytest.raises(ValueError, match="equal length"):
        select_epochs([0.1], [0.1, 0.2])


def _copy_peft_into_batched(peft_model, batched, names):
    """Give the batched model the peft model's weights (base, heads, each task's A and B)."""
    pb = dict(peft_model.named_parameters())
    with torch.no_grad():
        for n, p in batched.named_parameters():
            if "lora_A" in n or "lora_B" in n:
                layer = n.split(".lora_")[0].removeprefix("net.")
                which = "lora_A" if "lora_A" in n else "lora_B"
                for t, name in enumerate(names):
                    key = f"net.base_model.model.{layer}.{which}.{name}.weight"
                    p[t].copy_(pb[key])
            else:
                key = n.replace("net.", "net.base_model.model.", 1)
                p.copy_(pb[key] if key in pb else pb[n])


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_batched_lora_gradients_equal_per_task_peft():
    names = ["t0", "t1", "t2"]
    strategy = get_strategy("meta-lora")
    seed_torch(0, 0)
    cyc = TaskModel(Net(), head="head")
    add_task_parts(cyc, strategy, names, rank=2, alpha=4.0, targets=TARGETS)
    seed_torch(1, 0)
    mix = TaskModel(Net(), head="head")
    add_task_parts(mix, strategy, names, rank=2, alpha=4.0, targets=TARGETS, mixed=True)
    # make the adapters non-trivial, then give both models the same weights
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for n, p in cyc.named_parameters():
            if "lora_B" in n or "head" in n:
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    _copy_peft_into_batched(cyc, mix, names)
    X = torch.randn(10, 8, generator=g)
    y = torch.randint(0, 2, (10,), generator=g)
    rows = torch.tensor([0, 2, 1, 1, 0, 2, 2, 0, 1, 0])
    # per-task peft path: one forward and backward per task on its rows (gradients add up;
    # peft freezes the other adapters on switching, so each backward runs before the switch)
    total = 0.0
    for t, name in enumerate(names):
        cyc.use(name)
        sel = rows == t
        part = nn.functional.cross_entropy(cyc(X[sel]), y[sel], reduction="sum")
        part.backward()
        total = total + part.detach()
    # mixed path: one forward, each row routed to its task
    mix.route_rows(rows)
    loss = nn.functional.cross_entropy(mix(X), y, reduction="sum")
    loss.backward()
    torch.testing.assert_close(loss, total)
    gc, gm = _grads(cyc), _grads(mix)
    for n, gr in gm.items():
        if "lora_" in n:
            layer = n.split(".lora_")[0].removeprefix("net.")
            which = "lora_A" if "lora_A" in n else "lora_B"
            for t, name in enumerate(names):
                torch.testing.assert_close(gr[t], gc[f"net.base_model.model.{layer}.{which}.{name}.weight"])
        else:
            key = n.replace("net.", "net.base_model.model.", 1)
            torch.testing.assert_close(gr, gc[key if key in gc else n])
    # the comparison is sensitive: routing two rows to the wrong task changes the gradients
    mix.zero_grad()
    wrong = rows.clone()
    wrong[:2] = torch.tensor([1, 0])
    mix.route_rows(wrong)
    nn.functional.cross_entropy(mix(X), y, reduction="sum").backward()
    assert not torch.allclose(_grads(mix)["net.body.0.lora_B"], gm["net.body.0.lora_B"])


def test_mixed_meta_lora_retrains(tmp_path):
    _, st = _retrain("meta-lora", tmp_path / "mixed", mixed=True)
    assert st["finished"] and len(st["history"]) == 3
    base = load_tensors(tmp_path / "mixed" / "best" / st["best"]["base"])
    assert set(base) == {f"{m}.{p}" for m in TARGETS for p in ("weight", "bias")}


def test_check_resume_names_flags(tmp_path):
    save_json(tmp_path / "config.json", {"config": {"lr": 0.1, "runtime": {"device": "cpu"}}})
    with pytest.raises(ValueError, match="already holds a run; pass --resume"):
        check_resume(tmp_path, {"lr": 0.1}, False, exists=True, what="a run")
    with pytest.raises(ValueError, match="lr differ"):
        check_resume(tmp_path, {"lr": 0.2}, True, exists=True, what="a run")
    check_resume(tmp_path, {"lr": 0.1, "runtime": {"device": "cuda"}}, True, exists=True, what="a run")


def test_failed_run_leaves_no_empty_out_folder(tmp_path):
    out = tmp_path / "a" / "b"
    with pytest.raises(RuntimeError):
        with OutDir(out):
            assert out.is_dir()
            raise RuntimeError("boom")
    assert not (tmp_path / "a").exists()
    # a folder that holds a finished epoch is kept
    with pytest.raises(RuntimeError):
        with OutDir(out):
            (out / "state.json").write_text("{}")
            raise RuntimeError("boom")
    assert (out / "state.json").is_file()


def test_out_folder_beneath_a_file_is_an_input_error(tmp_path):
    from landscape.errors import InvalidArgument

    f = tmp_path / "afile"
    f.write_text("x")
    for out in (f, f / "run", f / "run" / "deeper"):
        with pytest.raises(InvalidArgument, match="--out"):
            with OutDir(out):
                pass
    assert f.read_text() == "x"


def test_adapters_with_a_shared_head():
    """Several adapters under one shared head (no per-task heads): each task routes through
    its own adapter and the one head (this raised KeyError in add_lora before).
    """
    from experiments.engine import SHARED, Strategy

    strategy = Strategy("shared-lora", adapters=True, per_task_heads=False, schedule="cycled")
    names = ["t0", "t1", "t2"]
    seed_torch(0, 0)
    model = TaskModel(Net(), head="head")
    add_task_parts(model, strategy, names, rank=2, alpha=4.0, targets=TARGETS)
    assert model.adapters == names and list(model.multihead.heads) == [SHARED]
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_()
    x = torch.randn(4, 8)
    outs = []
    for t in names:
        model.use(strategy.route(t))
        assert model.net.active_adapter == t and model.multihead.active == SHARED
        outs.append(model(x))
    assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[1], outs[2])
    with pytest.raises(KeyError):
        model.use("nope")
