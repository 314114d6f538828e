"""The ``paper-code`` convention, pinned to the published normalisation by hand; explicit inputs.

The reference iterates below are written from the formulas of the published linear
pipeline (samples as columns of ``X_t`` (d, N)):

- adapter step, all tasks at once:
  ``U_t ← U_t − (η_U/N) (X_t R_tᵀ + R_t X_tᵀ) U_t``, ``R_t = (A + U_tU_tᵀ) X_t − Y_t``;
- base step after the adapter steps: ``A ← A − η_A/(N T) Σ_t R_t X_tᵀ``;
- SR: the base step on the pooled data ``X`` (d, TN) with ``T`` never-trained adapters
  ``S_t`` left in the model: ``A ← A − η_A/(N T) Σ_t ((A + S_tS_tᵀ) X − Y) Xᵀ``;
- fine-tuning on ``n'`` test samples, simultaneously:
  ``U ← U − (η/n') R Xᵀ V``, ``V ← V − (η/n') X Rᵀ U``, ``R = (Â + UVᵀ) X − Y``;
- noise with standard deviation σ².
"""

import numpy as np
import pytest

from experiments.linear import (
    CONVENTION_NAMES,
    Inits,
    RunData,
    Schedule,
    Setting,
    check_convention_name,
    draw_inputs,
    get_convention,
    panel_settings,
    plan_settings,
    run_setting,
)
from landscape import InvalidArgument, Problem

D, T, K, N, NT = 3, 3, 1, 4, 3  # NT: fine-tuning samples n'
LR_U, LR_A, LR_FT = 0.003, 0.03, 0.005


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(12)
    p = Problem.random(D, K, T, seed=11)
    X = rng.standard_normal((T, N, D))  # rows are samples (the API's layout)
    Y = X @ p.M_star.transpose(0, 2, 1) + 0.01 * rng.standard_normal((T, N, D))
    Xt = rng.standard_normal((NT, D))
    Yt = Xt @ p.M_test.T + 0.01 * rng.standard_normal((NT, D))
    inits = {
        "U0": 0.1 * rng.standard_normal((T, D, K)),
        "V0": 0.1 * rng.standard_normal((T, D, K)),
        "Uf": 0.1 * rng.standard_normal((D, K)),
        "Vf": 0.1 * rng.standard_normal((D, K)),
        "Uf_sr": 0.1 * rng.standard_normal((D, K)),
        "Vf_sr": 0.1 * rng.standard_normal((D, K)),
        "sr_adapters": 0.1 * rng.standard_normal((T, D, K)),
    }
    return p, {"X": X, "Y": Y, "X_test": Xt, "Y_test": Yt}, inits


def _published_by_hand(samples, inits, rounds, u_steps, sr_steps, ft_steps):
    """The published pipeline's iterates, per sample, from the formulas in the docstring."""
    Xc = samples["X"].transpose(0, 2, 1)  # (T, d, N): columns are samples
    Yc = samples["Y"].transpose(0, 2, 1)
    A = np.zeros((D, D))
    U = inits["U0"].copy()
    for _ in range(rounds):
        for _ in range(u_steps):
            new = U.copy()
            for t in range(T):
                R = (A + U[t] @ U[t].T) @ Xc[t] - Yc[t]
                new[t] = U[t] - (LR_U / N) * (Xc[t] @ R.T + R @ Xc[t].T) @ U[t]
            U = new
        G = sum(((A + U[t] @ U[t].T) @ Xc[t] - Yc[t]) @ Xc[t].T for t in range(T))
        A = A - LR_A / (N * T) * G
    Xp = np.concatenate(list(Xc), axis=1)  # pooled (d, T N)
    Yp = np.concatenate(list(Yc), axis=1)
    S = inits["sr_adapters"]
    A_sr = np.zeros((D, D))
    for _ in range(sr_steps):
        G = sum(((A_sr + S[t] @ S[t].T) @ Xp - Yp) @ Xp.T for t in range(T))
        A_sr = A_sr - LR_A / (N * T) * G
    Xt, Yt = samples["X_test"].T, samples["Y_test"].T

    def finetune(base, Uf, Vf):
        Uf, Vf = Uf.copy(), Vf.copy()
        for _ in range(ft_steps):
            R = (base + Uf @ Vf.T) @ Xt - Yt
            gU, gV = R @ Xt.T @ Vf, Xt @ R.T @ Uf
            Uf, Vf = Uf - (LR_FT / NT) * gU, Vf - (LR_FT / NT) * gV
        return base + Uf @ Vf.T

    return {
        "Meta-LoRA": (A, finetune(A, inits["Uf"], inits["Vf"])),
        "SR": (A_sr, finetune(A_sr, inits["Uf_sr"], inits["Vf_sr"])),
    }


def _run(tiny, convention, rounds, u_steps, sr_steps, ft_steps, **kw):
    p, samples, inits = tiny
    return run_setting(
        Setting(d=D, T=T, N=N, n=NT, k=K),
        seeds=(0,),
        schedule=Schedule(rounds=rounds, u_steps=u_steps, sr_steps=sr_steps, ft_steps=ft_steps,
                          check_solver=False),  # fmt: skip
        convention=convention,
        problem=p,
        samples=samples,
        inits=inits,
        **kw,
    )


@pytest.mark.parametrize("rounds, u_steps, sr_steps, ft_steps", [(1, 1, 1, 1), (2, 3, 2, 3)])
def test_paper_code_first_iterates_match_the_published_formulas(tiny, rounds, u_steps, sr_steps, ft_steps):
    want = _published_by_hand(tiny[1], tiny[2], rounds, u_steps, sr_steps, ft_steps)
    res = _run(tiny, "paper-code", rounds, u_steps, sr_steps, ft_steps)
    assert res.convention == "paper-code" and res.steps["ft_steps"] == ft_steps
    for method, (A, W) in want.items():
        np.testing.assert_allclose(res.bases[method][0], A, rtol=1e-12, atol=1e-15, err_msg=method)
        np.testing.assert_allclose(res.finetuned[method][0], W, rtol=1e-12, atol=1e-15, err_msg=method)


def test_our_convention_does_not_match_the_published_iterates(tiny):
    # The check above must fail on the other normalisation: ours steps A ×2, U ×2/T,
    # fine-tuning ×2, with no stray SR adapters and one shared fine-tuning init.
    want = _published_by_hand(tiny[1], tiny[2], 2, 3, 2, 3)
    res = _run(tiny, "ours", 2, 3, 2, 3)
    for method, (A, W) in want.items():
        assert np.max(np.abs(res.bases[method][0] - A)) > 1e-3 * np.max(np.abs(A)), method
        assert np.max(np.abs(res.finetuned[method][0] - W)) > 1e-6, method


def test_ours_with_rescaled_step_sizes_reproduces_paper_codes_meta_lora(tiny):
    # The effective steps of docs/math.md's normalisation: U ×T/2, A ×1/2, fine-tuning ×1/2.
    steps = {"lr_U": LR_U * T / 2, "lr_A": LR_A / 2, "lr_ft": LR_FT / 2}
    ours = _run(tiny, "ours", 2, 3, 2, 3, step_sizes=steps)
    paper = _run(tiny, "paper-code", 2, 3, 2, 3)
    np.testing.assert_allclose(ours.bases["Meta-LoRA"], paper.bases["Meta-LoRA"], rtol=1e-12)
    np.testing.assert_allclose(ours.finetuned["Meta-LoRA"], paper.finetuned["Meta-LoRA"], rtol=1e-12)
    assert ours.schedule.lr_A == LR_A / 2 and ours.steps["effective"]["lr_A"] == LR_A / 2


def test_effective_step_sizes_of_each_convention():
    nominal = Schedule().nominal_steps()
    assert get_convention("ours").effective_steps(nominal, 3) == nominal
    pc = get_convention("paper-code").effective_steps(nominal, 3)
    assert pc == pytest.approx({"lr_U": 0.0045, "lr_A": 0.015, "lr_sr": 0.045, "lr_ft": 0.0025})
    assert get_convention("paper-code").effective_steps(nominal, 5)["lr_U"] == pytest.approx(0.0075)


def test_paper_code_draws_noise_with_std_sigma_squared_from_the_same_normals():
    st = Setting(d=4, T=3, N=500, n=50, sigma=0.3)
    ours = draw_inputs(st, 3)
    paper = draw_inputs(st, 3, convention="paper-code")
    M = ours.problem.M_star
    np.testing.assert_array_equal(ours.problem.A_star, paper.problem.A_star)
    np.testing.assert_array_equal(ours.data.retrain.Sxx, paper.data.retrain.Sxx)
    np.testing.assert_array_equal(ours.inits.U0, paper.inits.U0)
    noise_ours = ours.data.retrain.Syx - M @ ours.data.retrain.Sxx  # σ EᵀX/N
    noise_paper = paper.data.retrain.Syx - M @ paper.data.retrain.Sxx  # σ² EᵀX/N
    np.testing.assert_allclose(noise_paper, 0.3 * noise_ours, rtol=1e-9, atol=1e-15)


def test_paper_code_fixes_fine_tuning_counts_per_panel_and_splits_the_default_setting():
    counts = {p: {s.ft_steps for s in panel_settings(p, convention="paper-code")} for p in "dTNnk"}
    assert counts == {"d": {1400}, "T": {10000}, "N": {1000}, "n": {1000}, "k": {10000}}
    assert {s.ft_steps for s in panel_settings("k")} == {None}
    ours, _ = plan_settings("all")
    paper, index = plan_settings("all", convention="paper-code")
    assert len(ours) == 18 and len(paper) == 20  # the default setting at 10000, 1400, 1000 steps
    defaults = [s for s in paper if s.physical() == Setting().physical()]
    assert sorted(s.ft_steps for s in defaults) == [1000, 1400, 10000]


def test_paper_code_runs_a_fixed_count_and_ours_stops_at_convergence():
    st = Setting(d=5, T=3, N=500, n=60)
    sc = Schedule(rounds=300, sr_steps=300, ft_steps=4000, check_solver=False)
    paper = run_setting(st, seeds=(0,), schedule=sc, convention="paper-code")
    ours = run_setting(st, seeds=(0,), schedule=sc)
    assert set(paper.select("SR", "finetune_steps")) == {4000}
    assert max(ours.select("SR", "finetune_steps")) < 4000
    assert paper.select("SR", "noise_std")[0] == pytest.approx(0.01)
    # The published SR keeps its stray adapters: its base is pooled least squares minus them.
    assert paper.select("SR", "solver_gap")[0] < 1e-6


def test_explicit_moments_and_partial_inits(tiny):
    p, samples, inits = tiny
    data = RunData.from_samples(samples["X"], samples["Y"], samples["X_test"], samples["Y_test"])
    st = Setting(d=D, T=T, N=N, n=NT, k=K)
    sc = Schedule(rounds=3, sr_steps=3, ft_steps=3, check_solver=False)
    a = run_setting(st, (0,), sc, problem=p, samples=samples, inits=inits)
    b = run_setting(st, (0,), sc, problem=p, moments=data, inits=Inits.from_dict(inits, st))
    c = run_setting(st, (0,), sc, problem=p, moments=(data.retrain, data.finetune), inits={"U0": inits["U0"]})
    np.testing.assert_allclose(a.bases["Meta-LoRA"], b.bases["Meta-LoRA"], rtol=1e-13)
    np.testing.assert_allclose(a.bases["Meta-LoRA"], c.bases["Meta-LoRA"], rtol=1e-13)
    assert a.steps["explicit"] == {"problem": True, "data": True, "inits": True}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"convention": "paper"}, "convention"),
        ({"step_sizes": {"lr_B": 0.1}}, "step_sizes"),
        ({"step_sizes": {"lr_A": -1.0}}, "lr_A"),
        ({"problem": Problem.random(4, 1, 3, seed=0)}, "problem"),
        ({"samples": {"X": np.zeros((3, 4, 3))}}, "samples"),
        ({"samples": {"X": np.zeros((3, 5, 3)), "Y": np.zeros((3, 5, 3)),
                      "X_test": np.zeros((3, 3)), "Y_test": np.zeros((3, 3))}}, "N=4"),  # fmt: skip
        ({"inits": {"U0": np.zeros((3, 3, 2))}}, "U0"),
        ({"inits": {"W": np.zeros(3)}}, "unknown"),
        ({"inits": [{"U0": np.zeros((3, 3, 1))}] * 2}, "one per seed"),
        ({"moments": "data"}, "moments"),
    ],
)
def test_bad_explicit_inputs_are_named(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        run_setting(Setting(d=D, T=T, N=N, n=NT, k=K), seeds=(0,), schedule=Schedule(rounds=1), **kwargs)


def test_convention_names_are_one_registry():
    assert CONVENTION_NAMES == ("ours", "paper-code")
    assert check_convention_name("paper-code") == "paper-code"
    with pytest.raises(InvalidArgument, match="convention"):
        check_convention_name("Paper-Code")
