"""The public hypothesis strategies draw what they promise: bounds, conditioning, points."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import landscape as ls
from landscape.strategies import (
    _admissible_sizes,
    condition_factors,
    factor_columns,
    orthogonal_matrices,
    points,
    points_near_truth,
    problems,
    seeds,
    with_points,
    zero_loss_points,
)


# -- sizes: every bound honoured, or refused at once --------------------------------------
@given(problems(min_d=2, max_d=5, max_k=2, min_T=2, max_T=3))
def test_problems_respect_bounds(problem):
    assert isinstance(problem, ls.Problem)
    assert 2 <= problem.d <= 5
    assert 1 <= problem.k <= min(2, problem.d)
    assert 2 <= problem.T <= 3


@given(problems(min_k=2, min_T=3, max_d=8, independent=True))
def test_min_k_and_min_T_are_honoured_with_independence(problem):
    # The example: min_k used to be ignored (k = 1 came back).
    assert problem.k >= 2 and problem.T >= 3 and (problem.T + 1) * problem.k <= problem.d


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(min_k=2, min_T=3, independent=True),  # (T+1)k >= 8 > max_d = 6
        dict(min_k=4, max_d=3),  # k <= d impossible: used to lower k silently
        dict(min_d=5, max_d=4),
        dict(max_k=1, min_k=2),
        dict(min_T=3, max_Tk=2),
        dict(min_sigma=0.1),  # conditioning without a column set
        dict(independent="sometimes"),
        dict(independent=True, max_cond=0.5),
        dict(independent=True, min_sigma=-1.0),
        dict(adapter_scales=()),
    ],
)
def test_infeasible_or_malformed_bounds_raise_at_once(kwargs):
    with pytest.raises(ls.InvalidArgument):
        problems(**kwargs)


def _brute_force_sizes(min_d, max_d, min_k, max_k, min_T, max_T, which, max_Tk):
    out = set()
    for d in range(min_d, max_d + 1):
        for k in range(1, d + 1):
            for T in range(1, max_T + 1):
                ok = min_k <= k <= (max_k or d) and T >= min_T
                ok &= which != "all" or (T + 1) * k <= d
                ok &= which != "retraining" or T * k <= d
                ok &= max_Tk is None or T * k <= max_Tk
                if ok:
                    out.add((d, k, T))
    return out


@given(
    st.integers(1, 6), st.integers(0, 4), st.integers(1, 3), st.integers(0, 3), st.integers(1, 3),
    st.integers(0, 3), st.sampled_from([None, "all", "retraining"]), st.none() | st.integers(1, 10),
)
def test_size_table_is_exactly_the_admissible_set(min_d, dd, min_k, dk, min_T, dT, which, max_Tk):
    # Generation draws from this table: nothing admissible is missing, nothing else is drawn,
    # so no draw ever needs rejecting.
    args = (min_d, min_d + dd, min_k, min_k + dk, min_T, min_T + dT, which, max_Tk)
    table = _admissible_sizes(*args)
    drawn = {(d, k, T) for d, k, lo, hi in table for T in range(lo, hi + 1)}
    assert drawn == _brute_force_sizes(*args)


@given(
    st.data(),
    st.integers(1, 7), st.integers(0, 3), st.integers(1, 3), st.none() | st.integers(1, 4),
    st.integers(1, 3), st.integers(0, 3), st.sampled_from([False, True, "retraining"]),
    st.none() | st.integers(1, 12),
)
def test_any_bounds_either_raise_or_are_honoured(data, min_d, dd, min_k, max_k, min_T, dT, indep, max_Tk):
    max_d, max_T = min_d + dd, min_T + dT
    which = {False: None, True: "all"}.get(indep, indep)
    feasible = (max_k is None or max_k >= min_k) and bool(
        _brute_force_sizes(min_d, max_d, min_k, max_k, min_T, max_T, which, max_Tk)
    )
    kwargs = dict(min_d=min_d, max_d=max_d, min_k=min_k, max_k=max_k, min_T=min_T, max_T=max_T,
                  independent=indep, max_Tk=max_Tk)
    if not feasible:
        with pytest.raises(ls.InvalidArgument):
            problems(**kwargs)
        return
    p = data.draw(problems(**kwargs))
    assert min_d <= p.d <= max_d and min_T <= p.T <= max_T
    assert min_k <= p.k <= (p.d if max_k is None else min(max_k, p.d))
    if indep is True:
        assert (p.T + 1) * p.k <= p.d
    if indep == "retraining":
        assert p.T * p.k <= p.d
    if max_Tk is not None:
        assert p.T * p.k <= max_Tk


@given(problems(max_d=8, max_T=4, independent=True))
def test_independent_problems_have_independent_columns(problem):
    d, k, T = problem.d, problem.k, problem.T
    assert (T + 1) * k <= d
    cols = np.concatenate([*problem.U_star, problem.U_test], axis=1)
    assert np.linalg.matrix_rank(cols) == (T + 1) * k


# -- conditioning ---------------------------------------------------------------------------
@given(problems(max_d=7, independent=True, min_sigma=0.4, max_cond=20.0))
def test_conditioning_bounds_hold_and_give_cor1_margin(problem):
    s = np.linalg.svd(factor_columns(problem, "all"), compute_uv=False)
    assert s[-1] >= 0.4 and s[0] / s[-1] <= 20.0
    # The documented consequence (Ostrowski): σ_{(T+1)k}(Δ) >= min_sigma²/T.
    T, k = problem.T, problem.k
    Delta = problem.R_test - problem.R_star.mean(axis=0)
    sd = np.linalg.svd(Delta, compute_uv=False)
    assert sd[(T + 1) * k - 1] >= 0.4**2 / T * (1 - 1e-12)
    A_sr = ls.sr_solution(problem)
    for r in range((T + 1) * k):
        assert ls.adaptability(problem, A_sr, r).loss >= ((T + 1) * k - r) * (0.4**2 / T) ** 2 * (1 - 1e-9)


@given(problems(max_d=7, independent=True, max_cond=3.0))
def test_max_cond_gives_a_scale_free_cor1_margin(problem):
    T, k = problem.T, problem.k
    A_sr = ls.sr_solution(problem)
    bound = float(np.sum(problem.R_test**2)) / (k * T**2 * 3.0**4)
    for r in range((T + 1) * k):
        assert ls.adaptability(problem, A_sr, r).loss >= bound * (1 - 1e-9)


@given(problems(max_d=6, independent="retraining", min_sigma=0.3))
def test_retraining_conditioning_bounds_the_sr_rank_gap(problem):
    C = factor_columns(problem, "retraining")
    assert np.linalg.svd(C, compute_uv=False)[-1] >= 0.3
    gap = np.linalg.svd(ls.sr_solution(problem) - problem.A_star, compute_uv=False)
    assert gap[problem.T * problem.k - 1] >= 0.3**2 / problem.T * (1 - 1e-12)


def _near_collinear():
    # Two tasks and a test factor with nearly parallel columns: σ_min(C) ~ 1e-8.
    e = np.eye(4)
    U = np.stack([e[:, :1], (e[:, 0] + 1e-8 * e[:, 1])[:, None]])
    return ls.Problem.from_arrays(np.zeros((4, 4)), U, e[:, 2:3])


def test_conditioning_check_fails_on_a_near_collinear_draw_and_conditioning_repairs_it():
    p = _near_collinear()
    s = np.linalg.svd(factor_columns(p), compute_uv=False)
    assert s[-1] < 1e-7  # the kind of draw behind "σ₂(Δ) = 1.5e-8": the bound would fail
    q = condition_factors(p, min_sigma=0.5, max_cond=4.0)
    s = np.linalg.svd(factor_columns(q), compute_uv=False)
    assert s[-1] >= 0.5 and s[0] / s[-1] <= 4.0
    np.testing.assert_array_equal(q.A_star, p.A_star)
    # Only the singular values changed: the column space is the same.
    P = np.linalg.svd(factor_columns(p), full_matrices=False)[0]
    Cq = factor_columns(q)
    np.testing.assert_allclose(P @ (P.T @ Cq), Cq, atol=1e-12)


def test_condition_factors_refuses_too_many_columns():
    with pytest.raises(ls.InvalidArgument, match="at most d"):
        condition_factors(ls.Problem.random(3, 1, 3, seed=0), min_sigma=0.1)
    with pytest.raises(ls.InvalidArgument):
        factor_columns(ls.Problem.random(3, 1, 1, seed=0), "some")


# -- points ---------------------------------------------------------------------------------
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(st.just(n), orthogonal_matrices(n))))
def test_orthogonal_matrices(arg):
    n, Q = arg
    assert Q.shape == (n, n)
    np.testing.assert_allclose(Q.T @ Q, np.eye(n), atol=1e-12)


@given(problems(max_d=5), st.data())
def test_zero_loss_points_have_zero_loss(problem, data):
    A, U = data.draw(zero_loss_points(problem))
    np.testing.assert_array_equal(A, problem.A_star)
    assert ls.orbit_distance(U, problem.U_star) <= 1e-12 * max(1.0, np.max(np.abs(problem.U_star)) ** 2)
    assert ls.meta_loss(problem, A, U) <= 1e-24 * max(1.0, np.max(np.abs(problem.M_star))) ** 2 * problem.d**2


@given(problems(max_d=5), st.data())
def test_points_near_truth_are_near(problem, data):
    A, U = data.draw(points_near_truth(problem, radius=1e-2))
    np.testing.assert_allclose(A, ls.A_of_U(problem, U), rtol=0, atol=0)
    scale = max(1.0, np.max(np.linalg.norm(problem.U_star, axis=(1, 2))))
    assert ls.orbit_distance(U, problem.U_star) <= 3e-2 * scale
    assert ls.reduced_loss(problem, U) <= 1e-3 * scale**4 * problem.T


@given(problems(max_d=5), st.data())
def test_points_are_random_and_shaped(problem, data):
    A, U = data.draw(points(problem, scale=2.0))
    assert A.shape == (problem.d, problem.d) and U.shape == problem.U_star.shape
    assert np.all(np.isfinite(A)) and np.all(np.isfinite(U))


@given(with_points(problems(max_d=5, max_T=3), points_near_truth, radius=1e-3))
def test_with_points_draws_a_problem_then_a_point_on_it(pair):
    problem, (A, U) = pair
    assert U.shape == problem.U_star.shape
    np.testing.assert_array_equal(A, ls.A_of_U(problem, U))


@pytest.mark.parametrize("fn", [points, points_near_truth, zero_loss_points])
def test_point_strategies_refuse_a_strategy_with_the_pattern_to_use(fn):
    with pytest.raises(ls.InvalidArgument, match=r"with_points\(problems\(\.\.\.\).*data\.draw"):
        fn(problems(max_d=3))
    with pytest.raises(ls.InvalidArgument, match="Problem"):
        fn("not a problem")


def test_with_points_refuses_a_problem():
    with pytest.raises(ls.InvalidArgument, match="strategy"):
        with_points(ls.Problem.random(3, 1, 2, seed=0))


@given(seeds)
def test_seeds_are_valid_numpy_seeds(seed):
    np.random.default_rng(seed)
    assert 0 <= seed < 2**32


@settings(max_examples=10)
@given(problems(max_d=3))
def test_unconditioned_draws_are_plain_random_draws(problem):
    assert repr(problem).startswith("Problem.random(")
