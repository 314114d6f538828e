"""The public hypothesis strategies draw what they promise (bounds, zero loss, nearness)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import landscape as ls
from landscape.strategies import (
    orthogonal_matrices,
    points,
    points_near_truth,
    problems,
    seeds,
    zero_loss_points,
)


@given(problems(min_d=2, max_d=5, max_k=2, min_T=2, max_T=3))
def test_problems_respect_bounds(problem):
    assert isinstance(problem, ls.Problem)
    assert 2 <= problem.d <= 5
    assert 1 <= problem.k <= min(2, problem.d)
    assert 2 <= problem.T <= 3


@given(problems(max_d=8, max_T=4, independent=True))
def test_independent_problems_have_independent_columns(problem):
    d, k, T = problem.d, problem.k, problem.T
    assert (T + 1) * k <= d
    cols = np.concatenate([*problem.U_star, problem.U_test], axis=1)
    assert np.linalg.matrix_rank(cols) == (T + 1) * k


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
    # Distance to the orbit of U*: some U*Q is within the radius; Gram matrices move by O(r).
    scale = max(1.0, np.max(np.linalg.norm(problem.U_star, axis=(1, 2))))
    assert ls.orbit_distance(U, problem.U_star) <= 3e-2 * scale
    # G is quartic around a zero: G(U) = O(r²).
    assert ls.reduced_loss(problem, U) <= 1e-3 * scale**4 * problem.T


@given(problems(max_d=5), st.data())
def test_points_are_random_and_shaped(problem, data):
    A, U = data.draw(points(problem, scale=2.0))
    assert A.shape == (problem.d, problem.d) and U.shape == problem.U_star.shape
    assert np.all(np.isfinite(A)) and np.all(np.isfinite(U))


@given(seeds)
def test_seeds_are_valid_numpy_seeds(seed):
    np.random.default_rng(seed)
    assert 0 <= seed < 2**32
