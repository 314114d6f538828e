"""Thm 3.1: holds on independent instances; fails on a wrong A_SR; assumption-not-met for Tk > d."""

import numpy as np
import pytest
from hypothesis import given, settings

from landscape import InvalidArgument, Problem, sr_solution
from landscape.strategies import problems
from theorems import Status, check_sr_rank_gap

SMALL = dict(sample_sizes=(100, 10_000, 1_000_000), repeats=3)


@settings(max_examples=15)
@given(problems(max_d=8, independent=True))
def test_holds_on_valid_instances(p):
    r = check_sr_rank_gap(p, **SMALL)
    assert r.status is Status.HOLDS, r.summary()
    m = r.instances[0]["measured"]
    assert m["rank"] == p.T * p.k
    assert m["finite_sample"]["slope"] < -0.3


def test_perturbed_A_sr_fails():
    p = Problem.random(6, 1, 3, seed=0)
    wrong = sr_solution(p) + 1e-8 * np.random.default_rng(1).standard_normal((6, 6))
    r = check_sr_rank_gap(p, A_sr=wrong, finite_sample=False)
    assert r.status is Status.FAILS and r.holds is False
    assert "rank(A_SR − A*) = 6" in r.message


def test_wrong_limit_with_right_rank_fails_finite_sample():
    # A* + 2·mean(R) has the right rank Tk but is not the SR solution: pooled least squares
    # converges elsewhere and the error curve flattens.
    p = Problem.random(6, 1, 3, seed=0)
    wrong = p.A_star + 2 * p.R_star.mean(axis=0)
    r = check_sr_rank_gap(p, A_sr=wrong, **SMALL)
    assert r.status is Status.FAILS
    assert "finite-sample SR does not converge" in r.message


def test_assumption_not_met_when_Tk_exceeds_d():
    p = Problem.random(4, 2, 3, seed=0)
    r = check_sr_rank_gap(p, finite_sample=False)
    assert r.status is Status.ASSUMPTION_NOT_MET and r.holds is None and r.ok
    assert r.instances[0]["measured"]["rank"] == 4


def test_dependent_columns_are_assumption_not_met():
    p0 = Problem.random(6, 1, 3, seed=0)
    U = np.array(p0.U_star)
    U[2] = U[0] + U[1]  # Tk = 3 <= d but dependent
    r = check_sr_rank_gap(Problem(p0.A_star, U, p0.U_test), finite_sample=False)
    assert r.status is Status.ASSUMPTION_NOT_MET


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sample_sizes=(100,)), "sample_sizes"),
        (dict(sample_sizes=(1000, 100)), "sample_sizes"),
        (dict(sample_sizes=(2, 100)), "sample_sizes"),
        (dict(repeats=0), "repeats"),
        (dict(noise=-1.0), "noise"),
        (dict(A_sr=np.zeros((3, 3))), "A_sr"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        check_sr_rank_gap(Problem.random(6, 1, 3, seed=0), **kwargs)


def test_same_seed_same_numbers():
    p = Problem.random(6, 1, 3, seed=0)
    a = check_sr_rank_gap(p, seed=5, **SMALL).to_json()
    b = check_sr_rank_gap(p, seed=5, **SMALL).to_json()
    assert a == b
