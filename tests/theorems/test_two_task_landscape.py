"""Thm 3.4: strict saddles and global minima at T = 2; failures on false inputs.

The search-based tests need ``landscape.search`` (skipped without it); the falsification
tests use given points only.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landscape import InvalidArgument, Problem, min_eigenvalue
from landscape.strategies import seeds
from theorems import Status, check_two_task_landscape


def saddle_and_minimum(p):
    # U = 0 is critical (∇G = (4/T)C_t U_t) with loss (1/T)Σ‖R_t − R̄‖² > 0 and a negative
    # curvature direction; U* is a global minimum.
    return [np.zeros_like(p.U_star), np.array(p.U_star)]


def test_given_points_hold():
    p = Problem.random(3, 1, 2, seed=0)
    r = check_two_task_landscape(p, points=saddle_and_minimum(p), starts=0)
    assert r.status is Status.HOLDS, r.summary()
    m = r.instances[0]["measured"]
    assert m["strict_saddles"] == 1 and m["global_minima"] == 1
    assert m["least_negative_saddle_eig"] < 0


def test_wrong_hessian_sign_fails():
    p = Problem.random(3, 1, 2, seed=0)

    def flipped(problem, U):
        return -min_eigenvalue(problem, U, modulo_symmetry=True).value

    r = check_two_task_landscape(p, points=saddle_and_minimum(p), starts=0, min_eig=flipped)
    assert r.status is Status.FAILS and "SOSP with positive loss" in r.message


def test_non_critical_point_fails():
    p = Problem.random(3, 1, 2, seed=0)
    r = check_two_task_landscape(p, points=[p.U_star + 0.1], starts=0)
    assert r.status is Status.FAILS and "not a critical point" in r.message


def test_T3_is_assumption_not_met():
    p = Problem.random(3, 1, 3, seed=0)
    r = check_two_task_landscape(p, points=saddle_and_minimum(p), starts=0)
    assert r.status is Status.ASSUMPTION_NOT_MET and r.ok


def test_bad_points():
    with pytest.raises(InvalidArgument, match="points"):
        check_two_task_landscape(Problem.random(3, 1, 2, seed=0), points=[np.zeros((3, 3, 1))], starts=0)


@st.composite
def two_task_problems(draw):
    k = draw(st.integers(1, 2))
    d = draw(st.integers(2 * k, 2 * k + 1))
    return Problem.random(d, k, 2, seed=draw(seeds))


@settings(max_examples=5)
@given(two_task_problems())
def test_holds_on_searched_critical_points(p):
    pytest.importorskip("landscape.search")
    r = check_two_task_landscape(p, starts=24, seed=0)
    assert r.status is Status.HOLDS, r.summary()
    assert r.instances[0]["measured"]["critical_points"] >= 1
