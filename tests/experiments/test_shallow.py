"""Shallow nonlinear suite: gradients, AdamW, vectorised loops vs the per-seed oracle, the check."""

import dataclasses

import numpy as np
import pytest
import torch

from experiments.shallow import (
    ADAPTERS,
    CONVENTIONS,
    METHODS,
    TRUTH,
    AdamW,
    Schedule,
    Setting,
    SettingResult,
    check_gap,
    draw_instance,
    finetune,
    get_convention,
    plan_settings,
    retrain,
    run_setting,
    stacked_loss_grad,
)
from experiments.shallow.reference import reference_finetune, reference_retrain
from landscape.errors import InvalidArgument
from landscape.runs import Status, canonical_json

TINY = Setting(d=4, T=3, N=40, n=30)
TINY_SCHEDULE = Schedule(retrain_steps=25, finetune_steps=25, n_test=500, record_every=10,
                         dtype="float64")
# A small setting where the check is expected to hold (seeded, so deterministic).
EASY = Setting(d=4, T=3, N=200, n=100)
EASY_SCHEDULE = Schedule(retrain_steps=600, finetune_steps=600, lr=1e-2, n_test=2000,
                         record_every=100)


def _autograd_loss(W, X, y, c, w):
    f = torch.einsum("bj,bmij->bmi", c, torch.sigmoid(torch.einsum("bmjk,bik->bmij", W, X)))
    return ((f - y[:, None]) ** 2 * w[None, :, None]).sum(), ((f - y[:, None]) ** 2).mean(-1)


def test_stacked_gradient_matches_autograd():
    g = torch.Generator().manual_seed(0)
    B, M, d, n = 3, 2, 4, 7
    W = torch.randn(B, M, d, d, generator=g, dtype=torch.float64, requires_grad=True)
    X = torch.randn(B, n, d, generator=g, dtype=torch.float64)
    y = torch.randn(B, n, generator=g, dtype=torch.float64)
    c = torch.randn(B, d, generator=g, dtype=torch.float64)
    w = torch.tensor([0.3, 0.7], dtype=torch.float64)
    loss, mse_ref = _autograd_loss(W, X, y, c, w)
    (G_ref,) = torch.autograd.grad(loss, W)
    mse, G = stacked_loss_grad(W.detach(), X.transpose(1, 2).contiguous(), X, y, c, w)
    assert torch.allclose(G, G_ref, atol=1e-13, rtol=0)
    assert torch.allclose(mse, mse_ref.detach(), atol=1e-14, rtol=0)
    # A wrong derivative (σ instead of σ') would be caught: the check is not vacuous.
    assert not torch.allclose(G, 2 * G_ref, atol=1e-6)


@pytest.mark.parametrize("name", ["symmetric", "asymmetric"])
def test_adapter_pullback_matches_autograd(name):
    g = torch.Generator().manual_seed(1)
    a = ADAPTERS[name]
    F = tuple(torch.randn(2, 5, 2, generator=g, dtype=torch.float64, requires_grad=True)
              for _ in range(a.factors))
    G = torch.randn(2, 5, 5, generator=g, dtype=torch.float64)
    (G * a.delta(F)).sum().backward()
    for got, f in zip(a.grads(G, tuple(f.detach() for f in F)), F):
        assert torch.allclose(got, f.grad, atol=1e-13)


def test_adamw_matches_torch():
    p = torch.randn(5, 3, dtype=torch.float64)
    q = p.clone().requires_grad_(True)
    ours = AdamW([p], lr=1e-2, weight_decay=0.01)
    theirs = torch.optim.AdamW([q], lr=1e-2, weight_decay=0.01)
    for i in range(40):
        ours.step([torch.sin(3 * p + i)])
        q.grad = torch.sin(3 * q.detach() + i)
        theirs.step()
    assert torch.allclose(p, q.detach(), atol=1e-14, rtol=0)


@pytest.mark.parametrize("convention", ["ours", "paper-code"])
def test_vectorised_loops_match_per_seed_autograd(convention):
    insts = [draw_instance(TINY, s) for s in (0, 3)]
    rr = retrain(insts, METHODS, TINY_SCHEDULE, convention)
    for m in METHODS:
        for s, inst in enumerate(insts):
            ref = reference_retrain(inst, m, TINY_SCHEDULE, convention)
            np.testing.assert_allclose(rr.bases[m][s], ref, atol=1e-12, rtol=0)
    bases = {TRUTH: np.stack([i.A_star for i in insts]), "SR": rr.bases["SR"]}
    ft = finetune(insts, bases, (1, 3), TINY_SCHEDULE, convention)
    for e, (b, r) in enumerate(ft.entries):
        for s, inst in enumerate(insts):
            ref = reference_finetune(inst, bases[b][s], r, TINY_SCHEDULE, convention, b)
            np.testing.assert_allclose(ft.W[s, e], ref, atol=1e-12, rtol=0)


def test_conventions_differ_and_share_the_linear_names():
    from experiments.linear.conventions import CONVENTION_NAMES, DEFAULT_CONVENTION

    from experiments.shallow import DEFAULT_CONVENTION as OURS_DEFAULT

    assert set(CONVENTIONS) == set(CONVENTION_NAMES)
    assert OURS_DEFAULT == DEFAULT_CONVENTION
    insts = [draw_instance(TINY, 0)]
    a = retrain(insts, ("Meta-LoRA-asym",), TINY_SCHEDULE, "ours").bases["Meta-LoRA-asym"]
    b = retrain(insts, ("Meta-LoRA-asym",), TINY_SCHEDULE, "paper-code").bases["Meta-LoRA-asym"]
    assert np.abs(a - b).max() > 1e-3


def test_float32_agrees_with_float64_on_a_short_run():
    sched = dataclasses.replace(TINY_SCHEDULE, retrain_steps=100, finetune_steps=100)
    r64 = run_setting(TINY, 2, sched)
    r32 = run_setting(TINY, 2, sched.replace(dtype="float32"))
    for b in r64.bases:
        np.testing.assert_allclose(r32.select(b, "pop_loss"), r64.select(b, "pop_loss"),
                                   rtol=1e-4, atol=1e-7)


def test_same_seed_same_json_and_batch_independence():
    a = run_setting(TINY, (0, 1), TINY_SCHEDULE)
    b = run_setting(TINY, (0, 1), TINY_SCHEDULE)
    assert canonical_json(a.to_json()) == canonical_json(b.to_json())
    assert "timing" not in a.to_json() and "retrain_s" in a.to_json(timing=True)["timing"]
    alone = run_setting(TINY, (1,), TINY_SCHEDULE)
    np.testing.assert_allclose(alone.select("SR", "pop_loss"), a.select("SR", "pop_loss")[1:],
                               rtol=1e-12)
    again = SettingResult.from_json(a.to_json())
    assert canonical_json(again.to_json()) == canonical_json(a.to_json())


def test_nested_task_draws_across_T():
    i3 = draw_instance(Setting(d=4, T=3, N=20, n=10), 5)
    i5 = draw_instance(Setting(d=4, T=5, N=20, n=10), 5)
    np.testing.assert_array_equal(i3.X, i5.X[:3])
    np.testing.assert_array_equal(i3.A_star, i5.A_star)


def test_check_holds_on_an_easy_setting():
    res = run_setting(EASY, 3, EASY_SCHEDULE)
    check = check_gap([res])
    assert check.status is Status.HOLDS, check.message
    assert all(f["holds"] for f in check.floor)
    assert check.gap[0]["gap"] > 2 * check.gap[0]["gap_se"]


def test_check_fails_on_a_corrupted_reference_base():
    res = run_setting(EASY, 3, EASY_SCHEDULE, corrupt_truth=3.0)
    check = check_gap([res])
    assert check.status is Status.FAILS
    assert "noise floor" in check.message
    assert not check.floor[0]["holds"]


def _fake(values: dict, setting=Setting(d=4, T=3, N=10, n=10)):
    """A SettingResult with given population losses per base (one entry per seed)."""
    seeds = tuple(range(len(next(iter(values.values())))))
    recs = []
    for b, v in values.items():
        for s, x in zip(seeds, v):
            recs.append({"method": b, "rank": setting.k, "pop_loss": x, "seed": s})
    return SettingResult(setting, seeds, TINY_SCHEDULE, "ours", tuple(m for m in values if m != TRUTH),
                         0.0, tuple(recs), {})


def test_check_three_values_on_synthetic_records():
    ok = _fake({TRUTH: [0.001, 0.002, 0.001], "SR": [0.2, 0.3, 0.25], "Meta-LoRA": [0.01] * 3})
    assert check_gap([ok]).status is Status.HOLDS
    closed = _fake({TRUTH: [0.001] * 3, "SR": [0.002, 0.003, 0.001], "Meta-LoRA": [0.01] * 3})
    c = check_gap([closed])
    assert c.status is Status.FAILS and "closed" in c.message
    assert any(x["method"] == "SR" for x in c.closes)
    noiseless = _fake({TRUTH: [0.0] * 3, "SR": [0.2] * 3}, Setting(d=4, T=3, N=10, n=10, sigma=0.0))
    assert check_gap([noiseless]).status is Status.UNDECIDED
    one = _fake({TRUTH: [0.001], "SR": [0.2], "Meta-LoRA": [0.01]})
    assert check_gap([one]).status is Status.UNDECIDED
    no_t3 = _fake({TRUTH: [0.001] * 2, "SR": [0.2] * 2}, Setting(d=4, T=2, N=10, n=10))
    no_t3 = SettingResult(no_t3.setting, no_t3.seeds, TINY_SCHEDULE, "ours", ("SR",), 0.0,
                          no_t3.records + tuple({**r, "rank": 3} for r in no_t3.records), {})
    assert check_gap([no_t3]).status is Status.UNDECIDED


def test_plan_settings_shares_the_base():
    settings, index = plan_settings("all")
    assert len(settings) == 6
    assert settings[index["d"][1]] == settings[index["T"][1]] == Setting()
    assert Setting(T=2).ranks == (1, 3) and Setting().ranks == (1,)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Setting(d=0), "`d` must be"),
        (lambda: Setting(d=2, T=2), "3k=3"),
        (lambda: Setting(sigma=-1.0), "`sigma` must be"),
        (lambda: Schedule(dtype="float16"), "`dtype` must be"),
        (lambda: Schedule(lr=0.0), "`lr` must be"),
        (lambda: get_convention("paper"), "`convention` must be"),
        (lambda: plan_settings("x"), "`panel` must be"),
        (lambda: run_setting(TINY, 0, TINY_SCHEDULE), "`seeds` must be"),
        (lambda: run_setting(TINY, (1, 1), TINY_SCHEDULE), "distinct"),
        (lambda: retrain([draw_instance(TINY, 0)], ("Reptile",), TINY_SCHEDULE), "`methods`"),
        (lambda: finetune([draw_instance(TINY, 0)], {"x": np.zeros((1, 4, 4))}, (5,),
                          TINY_SCHEDULE), "`ranks`"),
    ],
)
def test_bad_inputs(make, match):
    with pytest.raises(InvalidArgument, match=match):
        make()


def test_methods_dispatch_through_the_engine_registry():
    from experiments.engine.strategies import STRATEGIES

    from experiments.shallow import METHOD_ADAPTER, METHOD_STRATEGY

    assert {METHOD_STRATEGY[m][0] for m in METHODS} <= set(STRATEGIES)
    assert METHOD_ADAPTER == {"SR": None, "Meta-LoRA": "symmetric",
                              "Meta-LoRA-asym": "asymmetric"}
    assert not STRATEGIES["sr"].adapters and STRATEGIES["meta-lora"].adapters
