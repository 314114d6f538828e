"""Thm 3.2 / Cor. 2 on all zero-loss points found; and failures on false inputs."""

import numpy as np
import pytest
from hypothesis import given, settings

from landscape import InvalidArgument, Problem
from landscape.strategies import problems
from theorems import Status, check_zero_loss_adaptable, check_zero_loss_rank, search_zero_loss

FAST = dict(starts=3, adversarial_starts=1)


@settings(max_examples=6)
@given(problems(max_d=5, max_k=2, max_T=3))
def test_holds_on_drawn_instances(p):
    z = search_zero_loss(p, seed=0, **FAST)
    r = check_zero_loss_rank(p, search=z)
    assert r.status is Status.HOLDS, r.summary()
    assert r.instances[0]["measured"]["max_rank"] <= 2 * p.k
    r2 = check_zero_loss_adaptable(p, search=z)
    assert r2.status is Status.HOLDS, r2.summary()


@pytest.fixture(scope="module")
def t2():
    p = Problem.random(4, 1, 2, seed=0)
    return p, search_zero_loss(p, seed=0, **FAST)


def test_T2_finds_far_points_of_rank_exactly_2k(t2):
    p, z = t2
    m = check_zero_loss_rank(p, search=z).instances[0]["measured"]
    assert m["far_points"] >= 1 and m["far_point_ranks"] == [2]
    assert m["min_ell_2k_at_far_points"] > 1e-6  # rank 2k is not enough at T = 2 ...


def test_cor2_fails_at_rank_2k_for_T2(t2):
    p, z = t2
    r = check_zero_loss_adaptable(p, search=z, rank=2 * p.k)  # ... so cor2 at rank 2k must fail
    assert r.status is Status.FAILS


def test_non_zero_loss_point_passed_as_global_minimum_fails(t2):
    p, z = t2
    r = check_zero_loss_rank(p, search=z, points=[(p.A_star + 1e-3, p.U_star)])
    assert r.status is Status.FAILS and "not a zero-loss point" in r.message
    r = check_zero_loss_adaptable(p, search=z, points=[(p.A_star, 1.01 * p.U_star)])
    assert r.status is Status.FAILS


def test_true_minimum_passed_as_point_holds(t2):
    p, z = t2
    assert check_zero_loss_rank(p, search=z, points=[(p.A_star, -p.U_star)]).holds


def test_wrong_base_fails(t2):
    p, z = t2
    r = check_zero_loss_rank(p, search=z, A_star=p.A_star + 1e-3 * np.eye(4))
    assert r.status is Status.FAILS and "rank" in r.message


def test_T2_without_far_points_fails():
    p = Problem.random(4, 1, 2, seed=0)
    r = check_zero_loss_rank(p, starts=0, adversarial_starts=0, points=[(p.A_star, p.U_star)])
    assert r.status is Status.FAILS and "contrast" in r.message
    assert check_zero_loss_rank(p, starts=0, adversarial_starts=0, points=[(p.A_star, p.U_star)],
                                require_far_at_T2=False).holds


def test_nothing_checked_fails():
    r = check_zero_loss_rank(Problem.random(5, 1, 3, seed=0), starts=0, adversarial_starts=0)
    assert r.status is Status.FAILS and "nothing was checked" in r.message


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(points=[np.zeros(3)]), "points"), (dict(points=[(np.zeros((3, 3)), np.zeros((2, 4, 1)))]), "A"),
     (dict(search="x"), "search"), (dict(A_star=np.zeros(4)), "A_star")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        check_zero_loss_rank(Problem.random(4, 1, 2, seed=0), starts=0, adversarial_starts=0, **kwargs)


def test_bad_rank():
    with pytest.raises(InvalidArgument, match="rank"):
        check_zero_loss_adaptable(Problem.random(4, 1, 2, seed=0), rank=5, starts=0, adversarial_starts=0)
