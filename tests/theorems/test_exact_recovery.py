"""Thm 3.3 / Cor. 3: all zero-loss points at A* for T >= 3; T = 2 is outside the hypothesis."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landscape import Problem
from landscape.strategies import seeds
from theorems import Status, check_exact_recovery, check_recovered_adaptable, search_zero_loss

FAST = dict(starts=3, adversarial_starts=1)


@st.composite
def recovery_problems(draw):
    T, k = draw(st.sampled_from([(3, 1), (3, 2), (4, 1)]))
    d = draw(st.integers(T * k, T * k + 1))
    return Problem.random(d, k, T, seed=draw(seeds))


@settings(max_examples=5)
@given(recovery_problems())
def test_holds_for_T_at_least_3(p):
    z = search_zero_loss(p, seed=0, rank_search=False, **FAST)  # thm3.3 needs the distance adversary
    r = check_exact_recovery(p, search=z)
    assert r.status is Status.HOLDS, r.summary()
    assert r.instances[0]["measured"]["max_distance"] <= 1e-6 * z.scale
    assert check_recovered_adaptable(p, search=z).status is Status.HOLDS


@pytest.fixture(scope="module")
def t3():
    p = Problem.random(5, 1, 3, seed=0)
    return p, search_zero_loss(p, seed=0, **FAST)


def test_wrong_base_fails(t3):
    p, z = t3
    r = check_exact_recovery(p, search=z, A_star=p.A_star + 1e-4)
    assert r.status is Status.FAILS


def test_non_zero_loss_point_as_global_minimum_fails(t3):
    p, z = t3
    r = check_exact_recovery(p, search=z, points=[(p.A_star, 1.001 * p.U_star)])
    assert r.status is Status.FAILS and "not a zero-loss point" in r.message


def test_rank_below_k_fails(t3):
    p, z = t3
    assert check_recovered_adaptable(p, search=z, rank=p.k - 1).status is Status.FAILS


def test_T2_is_assumption_not_met_with_contrast():
    p = Problem.random(4, 1, 2, seed=0)
    z = search_zero_loss(p, seed=0, **FAST)
    r = check_exact_recovery(p, search=z)
    assert r.status is Status.ASSUMPTION_NOT_MET and r.holds is None
    assert r.instances[0]["measured"]["max_distance_over_scale"] > 0.4  # far zero-loss points exist
    r3 = check_recovered_adaptable(p, search=z)
    assert r3.status is Status.ASSUMPTION_NOT_MET and r3.instances[0]["measured"]["max_ell"] > 1e-3


def test_dependent_columns_are_assumption_not_met():
    r = check_exact_recovery(Problem.random(4, 2, 3, seed=0), starts=2, adversarial_starts=0)
    assert r.status is Status.ASSUMPTION_NOT_MET


def test_given_true_minima_hold(t3):
    p, z = t3
    Q = np.array([[[-1.0]], [[1.0]], [[-1.0]]])
    assert check_exact_recovery(p, search=z, points=[(p.A_star, p.U_star * Q)]).holds
