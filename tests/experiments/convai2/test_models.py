"""The cross-encoder: losses against their formulas, per-task heads and peft adapters on one
wrapped model, what a Meta-LoRA step trains, base-weight round trips, opt-in speed paths.
"""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

import numpy as np  # noqa: E402

from experiments.convai2.models import (  # noqa: E402
    CrossEncoder,
    build_model,
    lora_target_names,
    pair_loss,
    predict,
)  # noqa: E402

torch.set_num_threads(1)


class _Tok:
    """Just what build_model needs from a tokenizer."""

    pad_token_id, cls_token_id, sep_token_id = 1, 0, 2

    def __len__(self):
        return 50


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return CrossEncoder(
        build_model("roberta-tiny-random", tokenizer=_Tok(), max_length=16, dropout=0.0, **kw)
    )


def _batch(seed=0, n=6, L=9):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 50, (n, L), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    ids[0, 6:] = 1
    return ids, mask


def test_pointwise_loss_is_mean_binary_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 20, 2, generator=g, dtype=torch.float64)
    gold = torch.zeros(3, 20, dtype=torch.bool)
    gold[0, 4] = gold[1, 0] = gold[2, 19] = True
    label = torch.tensor([4, 0, 19])
    s, n = pair_loss(logits, gold, label, "pointwise")
    p1 = torch.sigmoid(
        logits[..., 1] - logits[..., 0]
    )  # softmax over 2 labels = sigmoid of the difference
    bce = -(gold * torch.log(p1) + (~gold) * torch.log(1 - p1)).mean()
    assert n == 60
    torch.testing.assert_close((s / n).double(), bce, rtol=1e-6, atol=1e-7)
    s2, n2 = pair_loss(logits, gold, label, "listwise")
    ref = -torch.log_softmax(logits[..., 1], dim=1)[torch.arange(3), label].mean()
    assert n2 == 3
    torch.testing.assert_close((s2 / n2).double(), ref, rtol=1e-6, atol=1e-7)
    # prediction: argmax of the *positive* logit (not of the difference)
    assert (predict(logits) == logits[..., 1].argmax(1)).all()
    with pytest.raises(ValueError, match="loss"):
        pair_loss(logits, gold, label, "hinge")


def test_loss_fails_on_wrong_labels():
    """The oracle above is not vacuous: a flipped gold mask changes the loss."""
    logits = torch.randn(2, 20, 2, generator=torch.Generator().manual_seed(1))
    gold = torch.zeros(2, 20, dtype=torch.bool)
    gold[:, 0] = True
    a, _ = pair_loss(logits, gold, gold.long().argmax(1))
    b, _ = pair_loss(logits, ~gold, gold.long().argmax(1))
    assert not torch.isclose(a, b)


def test_lora_targets():
    m = _model()
    names = lora_target_names(m.hf, "all-linear")
    assert len(names) == 12 and all(n.startswith("roberta.encoder.") for n in names)
    assert len(lora_target_names(m.hf, "attention")) == 8
    assert len(lora_target_names(m.hf, "query,value")) == 4
    with pytest.raises(ValueError, match="matches no linear layer"):
        lora_target_names(m.hf, "nonexistent")


def _perturb_adapter(m, name, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.adapter_parameters(name):
            p.add_(0.5 * torch.randn(p.shape, generator=g))


def test_per_task_adapters_and_heads_on_one_wrapped_model():
    m = _model()
    m.add_head("a")
    m.add_head("b")
    m.add_lora("a", rank=2, alpha=4, dropout=0.0)
    wrapped = m.net
    m.add_lora("b", rank=2, alpha=4, dropout=0.0)
    assert m.net is wrapped  # added to the same PeftModel, not re-wrapped
    m.eval()
    ids, mask = _batch()
    m.use("a")
    zero_a = m(ids, mask)
    _perturb_adapter(m, "a", 1)
    _perturb_adapter(m, "b", 2)
    out_a = m(ids, mask)
    m.use("b")
    out_b = m(ids, mask)
    m.use("a")
    torch.testing.assert_close(m(ids, mask), out_a)
    assert not torch.allclose(out_a, out_b) and not torch.allclose(out_a, zero_a)
    # base weights: plain names, no adapters, unchanged by the adapters
    base = m.base_state()
    assert not any("lora" in k or "base_layer" in k or k.startswith("classifier") for k in base)
    fresh = _model(seed=5)
    fresh.load_base_state(base)
    fresh.add_head("a", m.head_states()["a"])
    fresh.eval()
    m.add_head("z", m.head_states()["a"])
    m.add_lora("z", rank=2, alpha=4, dropout=0.0)  # B = 0: an untrained adapter is the identity
    m.use("z")
    torch.testing.assert_close(fresh(ids, mask), m(ids, mask))
    with pytest.raises(ValueError, match="do not fit"):
        fresh.load_base_state({"nonsense.weight": torch.zeros(1)})


def test_meta_lora_step_trains_base_active_adapter_and_head_only():
    from experiments.engine import make_optimizer
    from experiments.engine import Runtime

    m = _model()
    for t in ("a", "b"):
        m.add_head(t)
    for t in ("a", "b"):
        m.add_lora(t, rank=2, alpha=4, dropout=0.0)
    m.set_base_trainable(True)
    m.train()
    opt = make_optimizer(
        m.parameters(), lr=1e-2, weight_decay=0.01, rt=Runtime(torch.device("cpu"), None)
    )
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    m.use("b")
    ids, mask = _batch()
    m(ids, mask).sum().backward()
    opt.step()
    changed = {n for n, p in m.named_parameters() if not torch.equal(p, before[n])}
    assert any("lora_A.b." in n for n in changed) and not any(
        ".a." in n and "lora" in n for n in changed
    )
    assert any("heads.b." in n for n in changed) and not any("heads.a." in n for n in changed)
    assert any("encoder.layer.0.attention.self.query.base_layer.weight" in n for n in changed)
    assert set(map(id, m.active_parameters())) == set(
        map(id, m.base_parameters() + m.head_parameters("b") + m.adapter_parameters("b"))
    )


def test_gradient_checkpointing_same_gradients():
    grads = []
    for ckpt in (False, True):
        m = _model()
        m.add_head("s")
        if ckpt:
            m.hf.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        m.train()
        ids, mask = _batch()
        m(ids, mask).square().sum().backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in m.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_bf16_autocast_on_cpu_close_to_fp32():
    m = _model()
    m.add_head("s")
    m.eval()
    ids, mask = _batch()
    ref = m(ids, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = m(ids, mask)
    assert low.dtype == torch.bfloat16
    assert (
        m.hf.roberta.embeddings.word_embeddings.weight.dtype == torch.float32
    )  # fp32 master weights
    np.testing.assert_allclose(low.detach().float().numpy(), ref.detach().numpy(), atol=0.05)


def test_sdpa_matches_eager_with_padding():
    outs = []
    for attn in ("sdpa", "eager"):
        m = _model(attn=attn)
        m.add_head("s")
        m.eval()
        outs.append(m(*_batch()))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- weights


def test_model_names_never_silently_random(tmp_path):
    from experiments.convai2.models import MODEL_PRESETS, resolve_model

    assert all(name.endswith("-random") for name in MODEL_PRESETS)
    assert resolve_model("roberta-large-random").random
    empty_cache = tmp_path / "hub"
    empty_cache.mkdir()
    for name in ("roberta-large", "roberta-base", "FacebookAI/roberta-large"):
        with pytest.raises(ValueError, match="no local pretrained weights") as info:
            resolve_model(name, cache_dir=empty_cache)
        msg = str(info.value)
        assert str(empty_cache) in msg and "--model DIR" in msg and "\n" not in msg
    with pytest.raises(ValueError, match="roberta-large-random"):
        resolve_model("roberta-large", cache_dir=empty_cache)
    with pytest.raises(ValueError, match="no directory"):
        resolve_model(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="without config.json"):
        resolve_model(str(tmp_path))


def _fake_snapshot(folder):
    """A tiny pretrained-looking snapshot: config.json and weights."""
    m = build_model("roberta-tiny-random", tokenizer=_Tok(), max_length=16)
    m.save_pretrained(str(folder))
    return folder


def test_pretrained_name_from_the_local_cache_and_its_hash(tmp_path):
    from experiments.convai2.models import resolve_model

    cache = tmp_path / "hub"
    repo = cache / "models--FacebookAI--roberta-base"
    snap = repo / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    _fake_snapshot(snap)
    src = resolve_model("roberta-base", cache_dir=cache)
    assert src.kind == "pretrained" and src.path == str(snap)
    d = src.describe()
    assert d["files"] == ["model.safetensors"] and len(d["sha256"]) == 64
    # the hash is of the weights: change one byte, the hash changes
    w = snap / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 1
    w.write_bytes(bytes(data))
    assert src.describe()["sha256"] != d["sha256"]
    # a directory given directly
    assert resolve_model(str(snap)).path == str(snap.resolve())


# --------------------------------------------------------------------------- mixed-task batches


def _plain(name: str) -> str:
    return name.replace("net.base_model.model.", "net.").replace(".base_layer.", ".")


def test_batched_lora_cross_encoder_same_gradients_as_peft():
    """Mixed-task batches through the batched LoRA layer give the gradients of the per-task
    peft path (every linear layer of the encoder, per-task heads), to float tolerance.
    """
    from experiments.engine import add_task_parts, get_strategy

    names = ["a", "b", "c"]
    strategy = get_strategy("meta-lora")
    cyc, mix = _model(seed=0), _model(seed=0)
    add_task_parts(cyc, strategy, names, rank=2, alpha=4.0, targets=cyc.lora_targets("all-linear"))
    add_task_parts(mix, strategy, names, rank=2, alpha=4.0, targets="all-linear", mixed=True)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in cyc.named_parameters():
            if "lora_B" in n or "heads" in n:
                p.add_(0.2 * torch.randn(p.shape, generator=g))
        peft = dict(cyc.named_parameters())
        peft_plain = {_plain(n): p for n, p in peft.items() if ".lora_" not in n}
        for n, p in mix.named_parameters():
            if ".lora_" in n:
                layer, which = n.removeprefix("net.").rsplit(".", 1)
                for t, name in enumerate(names):
                    p[t].copy_(peft[f"net.base_model.model.{layer}.{which}.{name}.weight"])
            else:
                p.copy_(peft_plain[_plain(n)])
    cyc.eval()
    mix.eval()  # dropout off: the two paths see the same numbers
    ids, mask = _batch(n=6)
    rows = torch.tensor([0, 2, 1, 0, 1, 2])
    total = 0.0
    for t, name in enumerate(names):
        cyc.use(name)
        sel = rows == t
        part = cyc(ids[sel], mask[sel]).square().sum()
        part.backward()
        total = total + part.detach()
    mix.route_rows(rows)
    out = mix(ids, mask).square().sum()
    out.backward()
    torch.testing.assert_close(out, total, rtol=1e-5, atol=1e-5)
    gp = {n: p.grad for n, p in cyc.named_parameters() if p.grad is not None}
    gp_plain = {_plain(n): g for n, g in gp.items() if ".lora_" not in n}
    checked = 0
    for n, p in mix.named_parameters():
        if ".lora_" in n:
            layer, which = n.removeprefix("net.").rsplit(".", 1)
            for t, name in enumerate(names):
                torch.testing.assert_close(
                    p.grad[t], gp[f"net.base_model.model.{layer}.{which}.{name}.weight"], rtol=1e-4, atol=1e-6
                )
                checked += 1
        elif p.grad is not None:  # base weights and heads: float32 sums in another order
            ref = gp_plain[_plain(n)]
            assert float((p.grad - ref).norm()) <= 1e-4 * float(ref.norm()) + 1e-7, n
            checked += 1
    assert checked > 12 * 2 * 3  # 12 linear layers x (A, B) x 3 tasks, and the base and heads
