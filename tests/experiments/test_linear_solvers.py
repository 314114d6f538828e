"""Retraining and fine-tuning solvers: the paper's GD, the fast exact solver, SR, LoRA GD, RRR."""

import numpy as np
import pytest

from experiments.linear import (
    Moments,
    ReducedObjective,
    draw_moments,
    empirical_A_of_U,
    lora_gd,
    meta_empirical_grad,
    meta_empirical_loss,
    meta_lora_fast,
    meta_lora_gd,
    pooled_least_squares,
    reduced_rank_regression,
    seed_streams,
    sr_empirical_loss,
    sr_exact,
    sr_gd,
    stack_moments,
)
from experiments.linear.empirical import empirical_loss
from landscape import InvalidArgument, Problem
from tests.helpers import assert_allclose_report


def _default_runs(seeds, d=10, T=3, N=5000, k=1, sigma=0.1):
    """Ground truth, retraining moments and GD init for each seed, as run_setting draws them."""
    problems, moms, U0 = [], [], []
    for s in seeds:
        g_problem, g_data, _, g_init = seed_streams(s)
        p = Problem.random(d, k, T, seed=g_problem)
        problems.append(p)
        moms.append(draw_moments(p.M_star, N, sigma, rng=g_data))
        U0.append(0.1 * g_init.standard_normal((T, d, k)))
    return problems, stack_moments(moms), np.stack(U0)


@pytest.fixture(scope="module")
def defaults():
    return _default_runs(seeds=(0, 1))


def test_fast_solver_and_paper_gd_agree_on_the_retrained_base(defaults):
    problems, mom, U0 = defaults
    gd = meta_lora_gd(mom, U0)  # the paper's 3000 rounds of (10 U-steps + 1 A-step)
    fast = meta_lora_fast(mom, U0)
    for b, p in enumerate(problems):
        gap = np.linalg.norm(gd.A[b] - fast.A[b])
        err = np.linalg.norm(fast.A[b] - p.A_star)
        assert gap < 1e-6, f"seed {b}: ‖Â_gd − Â_fast‖ = {gap:.3g}"
        assert 1e-4 < err < 0.05, f"seed {b}: finite-sample base error {err:.3g} out of range"
    assert np.all(fast.grad_norm < 1e-10)
    assert np.all(fast.loss <= gd.loss + 1e-10)
    assert np.all(np.isfinite(gd.curve)) and gd.curve.shape == (2, 3000)
    # Broken input: the same GD stopped after 30 rounds is far from the minimiser.
    short = meta_lora_gd(mom, U0, rounds=30)
    assert np.all(np.linalg.norm(short.A - fast.A, axis=(-2, -1)) > 1e-2)


def test_fast_solver_and_gd_agree_with_asymmetric_adapters():
    problems, mom, U0 = _default_runs(seeds=(0,), T=3)
    V0 = 0.1 * np.random.default_rng(9).standard_normal(U0.shape)
    gd = meta_lora_gd(mom, U0, V0)
    fast = meta_lora_fast(mom, U0, V0)
    assert gd.method == fast.method == "Meta-LoRA-asym"
    assert np.linalg.norm(gd.A - fast.A) < 1e-6
    assert fast.grad_norm[0] < 1e-9


def test_A_of_U_minimises_the_finite_sample_objective(defaults, rng):
    _, mom, U0 = defaults
    U = rng.standard_normal(U0.shape)
    A = empirical_A_of_U(U, mom)
    gA, _, _ = meta_empirical_grad(A, U, mom)
    assert np.max(np.abs(gA)) < 1e-10
    E = 1e-3 * rng.standard_normal(A.shape)
    assert np.all(meta_empirical_loss(A + E, U, mom) > meta_empirical_loss(A, U, mom))


@pytest.mark.parametrize("symmetric", [True, False], ids=["UUt", "UVt"])
def test_reduced_gradient_and_hessian_match_finite_differences(symmetric, rng):
    p = Problem.random(4, 2, 3, seed=2)
    mom = draw_moments(p.M_star, 200, 0.3, rng=1)
    obj = ReducedObjective(mom, 2, symmetric=symmetric)
    x = rng.standard_normal(obj.size)
    v = rng.standard_normal(obj.size)
    f, g = obj.value_and_grad(x)
    h = 1e-5
    fd_g = (obj.value_and_grad(x + h * v)[0] - obj.value_and_grad(x - h * v)[0]) / (2 * h)
    assert abs(fd_g - g @ v) <= 1e-6 * (1 + abs(g @ v))
    fd_H = (obj.value_and_grad(x + h * v)[1] - obj.value_and_grad(x - h * v)[1]) / (2 * h)
    assert_allclose_report(obj.hvp(x, v)[0], fd_H, rtol=1e-5, atol=1e-6, name="reduced HVP")
    H = obj.hessian(x)
    assert_allclose_report(H, H.T, rtol=0, atol=1e-10, name="symmetry")
    # The reduced value is the full objective at A(U).
    U, V = obj.split(x)
    full = meta_empirical_loss(
        empirical_A_of_U(U, mom, None if symmetric else V), U, mom, None if symmetric else V
    )
    assert abs(full - f) <= 1e-10 * max(1.0, abs(f))


def test_sr_gradient_descent_converges_to_pooled_least_squares(defaults):
    _, mom, _ = defaults
    exact = sr_exact(mom)
    gd = sr_gd(mom)  # 3000 steps of size 0.03
    assert_allclose_report(gd.A, exact.A, rtol=0, atol=1e-10, name="A_SR")
    assert np.all(exact.grad_norm < 1e-10)
    assert_allclose_report(
        exact.loss, sr_empirical_loss(pooled_least_squares(mom), mom), name="loss"
    )
    assert np.all(np.diff(gd.curve, axis=-1) <= 1e-9)  # monotone (rounding aside)
    assert np.max(np.abs(sr_gd(mom, steps=10).A - exact.A)) > 1e-2  # broken: too few steps


def _ft_problem(n=100, d=8, r=2, seed=0):
    p = Problem.random(d, r, 3, seed=seed)
    ft = draw_moments(p.M_test, n, 0.1, rng=seed + 1)
    base = p.A_star + 0.05 * np.random.default_rng(seed).standard_normal((d, d))
    return p, ft, base


def test_lora_gd_reaches_the_reduced_rank_regression_optimum():
    p, ft, base = _ft_problem()
    rng = np.random.default_rng(3)
    U0, V0 = 0.1 * rng.standard_normal((2, 8, 2))
    gd = lora_gd(base, ft, U0, V0, steps=30000, lr=0.005)
    rrr = reduced_rank_regression(base, ft, 2)
    assert gd.steps < 30000  # stopped at convergence
    assert abs(gd.loss - rrr.loss) < 1e-9
    assert_allclose_report(gd.weights(base), rrr.weights(base), rtol=0, atol=1e-5, name="W")
    # Broken: 50 steps are not enough.
    assert lora_gd(base, ft, U0, V0, steps=50).loss - rrr.loss > 1e-3


@pytest.mark.parametrize("n", [100, 5], ids=["n>d", "n<d (singular S)"])
def test_reduced_rank_regression_is_the_global_rank_r_optimum(n):
    p, ft, base = _ft_problem(n=n)
    rrr = reduced_rank_regression(base, ft, 2)
    assert np.linalg.matrix_rank(rrr.U @ rrr.V.T) <= 2
    rng = np.random.default_rng(1)
    for _ in range(20):
        # A local perturbation of the optimum or a random rank-2 adapter never does better.
        U = rrr.U + 1e-3 * rng.standard_normal(rrr.U.shape)
        V = rrr.V + 1e-3 * rng.standard_normal(rrr.V.shape)
        assert empirical_loss(base + U @ V.T, ft) >= rrr.loss - 1e-10
        U, V = rng.standard_normal((2, 8, 2))
        assert empirical_loss(base + U @ V.T, ft) >= rrr.loss - 1e-10


def test_reduced_rank_regression_is_eckart_young_when_Sxx_is_identity(rng):
    d, r = 6, 2
    base = rng.standard_normal((d, d))
    C = rng.standard_normal((d, d))
    mom = Moments(np.eye(d), C, C @ C.T + np.eye(d), 1000)
    res = reduced_rank_regression(base, mom, r)
    P, s, Qt = np.linalg.svd(C - base)
    assert_allclose_report(
        res.U @ res.V.T, (P[:, :r] * s[:r]) @ Qt[:r], rtol=1e-10, atol=1e-12, name="Δ"
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m, U: meta_lora_gd(m, U[..., :2, :]), "U0"),
        (lambda m, U: meta_lora_gd(m, U, rounds=-1), "rounds"),
        (lambda m, U: meta_lora_gd(m, U, lr_U=0.0), "lr_U"),
        (lambda m, U: meta_lora_fast(m, U, gtol=-1.0), "gtol"),
        (lambda m, U: sr_gd(m, steps=-2), "steps"),
        (lambda m, U: meta_lora_gd(m[0, 0], U), "mom"),
        (lambda m, U: reduced_rank_regression(np.eye(3), m[0, 0], 1), "base"),
        (lambda m, U: reduced_rank_regression(np.eye(10), m[0, 0], 11), "rank"),
        (lambda m, U: lora_gd(np.eye(10), m[0, 0], np.ones((10, 1)), np.ones((9, 1))), "U0"),
    ],
)
def test_bad_arguments_are_named(defaults, call, match):
    _, mom, U0 = defaults
    with pytest.raises(InvalidArgument, match=match):
        call(mom, U0)
