"""T = 2 non-uniqueness: exact sympy hyperbola, the O(k,k) family, and failures."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landscape import InvalidArgument, Problem
from landscape.strategies import seeds
from theorems import Status, check_two_task_nonunique, okk_element, symbolic_hyperbola


def test_symbolic_hyperbola_is_exact():
    s = symbolic_hyperbola()
    assert s["residuals_vanish"] and s["closed_form"] and s["rank_two_for_nonzero_theta"]
    assert s["determinant_is_minus_sinh_squared"] and s["loss"] == "0"
    assert s["determinant"] == "-sinh(theta)**2"


@given(st.integers(1, 4), seeds)
def test_okk_elements_preserve_J(k, seed):
    G = okk_element(k, scale=0.7, seed=seed)
    J = np.diag(np.r_[np.ones(k), -np.ones(k)])
    np.testing.assert_allclose(G @ J @ G.T, J, atol=1e-12 * np.linalg.norm(G) ** 2)


@st.composite
def two_task_problems(draw):
    k = draw(st.integers(1, 3))
    d = draw(st.integers(2 * k, 2 * k + 3))
    return Problem.random(d, k, 2, seed=draw(seeds))


@settings(max_examples=10)
@given(two_task_problems())
def test_holds_for_T2(p):
    r = check_two_task_nonunique(p, symbolic=False)
    assert r.status is Status.HOLDS, r.summary()
    for row in r.instances[0]["measured"]["family"]:
        assert row["rank"] == 2 * p.k and row["hessian_nullity"] == p.k * (2 * p.k - 1)


def test_transform_outside_okk_fails():
    p = Problem.random(6, 2, 2, seed=0)
    G = np.eye(4) + 0.01 * np.random.default_rng(0).standard_normal((4, 4))
    r = check_two_task_nonunique(p, transforms=[G], symbolic=False)
    assert r.status is Status.FAILS and "does not give zero loss" in r.message


def test_T3_is_assumption_not_met():
    r = check_two_task_nonunique(Problem.random(6, 2, 3, seed=0), symbolic=False)
    assert r.status is Status.ASSUMPTION_NOT_MET
    assert r.instances[0]["measured"]["contrast_nullity_at_truth"] == 3  # only the O(k) symmetry


def test_exact_example_numerically():
    A = np.array([[1.0, 2.0], [2.0, -1.0]])
    p = Problem.from_arrays(A, np.array([[[1.0], [0.0]], [[0.0], [1.0]]]), np.array([[0.3], [0.4]]))
    th = 0.8
    G = np.array([[np.cosh(th), np.sinh(th)], [np.sinh(th), np.cosh(th)]])  # in O(1,1)
    r = check_two_task_nonunique(p, transforms=[G], symbolic=False)
    assert r.holds
    row = r.instances[0]["measured"]["family"][0]
    s, c = np.sinh(th), np.cosh(th)
    assert abs(row["distance"] - np.linalg.norm([[s * s, c * s], [c * s, s * s]])) < 1e-12


@pytest.mark.parametrize("kwargs, match", [(dict(transforms=[]), "transforms"),
                                           (dict(transforms=[np.eye(3)]), "transforms"),
                                           (dict(samples=0), "samples")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        check_two_task_nonunique(Problem.random(4, 1, 2, seed=0), symbolic=False, **kwargs)
