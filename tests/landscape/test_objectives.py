"""Objectives of docs/math.md §2 and §4 against closed forms and independent loops.

Covers ``meta_loss``/``task_losses`` (zero exactly on the truth's orbit), SR, ``A(U)``
(minimiser of ``L(·, U)``: zero gradient and the exact quadratic growth ``‖Δ‖²``), the
reduced loss ``G(U) = L(A(U), U)``, Eckart–Young optimality of ``adaptability`` and the
O(k) invariance ``U_t → U_t Q_t``. Each property also has a case where it must fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import landscape as ls
from landscape.strategies import orthogonal_matrices, points, problems, zero_loss_points
from tests.helpers import assert_allclose_report

SMALL = dict(max_d=6, max_T=4, max_k=3)


def loop_meta_loss(problem, A, U):
    """L(A, U) one task at a time, straight from the definition."""
    total = 0.0
    for t in range(problem.T):
        M = problem.A_star + problem.U_star[t] @ problem.U_star[t].T
        total += np.linalg.norm(A + U[t] @ U[t].T - M, "fro") ** 2
    return total / problem.T


def _scale(problem, A, U):
    return max(1.0, np.max(np.abs(problem.M_star)), np.max(np.abs(A)), np.max(np.abs(U)) ** 2)


@given(problems(**SMALL), st.data())
def test_meta_loss_matches_definition(problem, data):
    A, U = data.draw(points(problem))
    L = ls.meta_loss(problem, A, U)
    assert L == pytest.approx(loop_meta_loss(problem, A, U), rel=1e-12)
    per_task = ls.task_losses(problem, A, U)
    assert per_task.shape == (problem.T,)
    assert np.all(per_task >= 0)
    assert L == pytest.approx(per_task.mean(), rel=1e-14)


@given(problems(**SMALL), st.data())
def test_meta_loss_is_zero_on_the_truths_orbit(problem, data):
    A, U = data.draw(zero_loss_points(problem))
    # Zero up to rounding: M*_t = A* + R*_t is stored rounded, and U*_t Q_t Q_tᵀ U*_tᵀ
    # equals U*_t U*_tᵀ only up to rounding.
    tiny = 1e-28 * _scale(problem, A, U) ** 2 * problem.d**2
    assert ls.meta_loss(problem, problem.A_star, problem.U_star) <= tiny
    assert ls.meta_loss(problem, A, U) <= tiny
    # ... and clearly positive once A moves off A*.
    assert ls.meta_loss(problem, A + 1e-3 * np.eye(problem.d), U) == pytest.approx(1e-6 * problem.d)


@given(problems(**SMALL), st.data())
def test_sr_solution_minimises_sr_loss(problem, data):
    A_sr = ls.sr_solution(problem)
    assert_allclose_report(A_sr, problem.A_star + problem.R_star.mean(axis=0), name="A_SR")
    Delta = data.draw(points(problem))[0]
    # L_SR is (1/T) Σ ‖A − M_t‖²: a quadratic with Hessian 2I, so the growth is exactly ‖Δ‖².
    growth = ls.sr_loss(problem, A_sr + Delta) - ls.sr_loss(problem, A_sr)
    assert growth == pytest.approx(np.sum(Delta**2), rel=1e-9, abs=1e-9 * _scale(problem, Delta, Delta))
    # SR is Meta-LoRA with the adapters switched off.
    zero = np.zeros_like(problem.U_star)
    assert ls.sr_loss(problem, Delta) == pytest.approx(ls.meta_loss(problem, Delta, zero), rel=1e-13)


@given(problems(**SMALL), st.data())
def test_A_of_U_minimises_L_and_gives_G(problem, data):
    A, U = data.draw(points(problem))
    AU = ls.A_of_U(problem, U)
    gA, _ = ls.meta_grad(problem, AU, U)
    tol = 1e-12 * _scale(problem, A, U)
    assert np.max(np.abs(gA)) <= tol, "∇_A L(A(U), U) must vanish"
    # L(·, U) is quadratic with H_AA = 2I: L(A(U)+Δ, U) − L(A(U), U) = ‖Δ‖² exactly.
    L0 = ls.meta_loss(problem, AU, U)
    assert ls.meta_loss(problem, AU + A, U) - L0 == pytest.approx(np.sum(A**2), rel=1e-8, abs=1e3 * tol)
    # G(U) = L(A(U), U).
    assert ls.reduced_loss(problem, U) == pytest.approx(L0, rel=1e-10, abs=tol)
    # A random A does worse (falsifiable: a wrong A(U) would violate this somewhere).
    assert ls.meta_loss(problem, A, U) >= L0 - tol


def test_a_wrong_A_of_U_is_detected():
    """``A(U)`` without the mean (using task 0 only) has a non-zero A-gradient."""
    p = ls.Problem.random(4, 1, 3, seed=0)
    U = np.random.default_rng(1).standard_normal(p.U_star.shape)
    wrong = p.M_star[0] - U[0] @ U[0].T
    gA, _ = ls.meta_grad(p, wrong, U)
    assert np.max(np.abs(gA)) > 1e-3


@given(problems(**SMALL), st.data())
def test_reduced_loss_does_not_depend_on_A_star(problem, data):
    _, U = data.draw(points(problem))
    other = ls.Problem.from_arrays(problem.A_star + 5.0, problem.U_star, problem.U_test)
    assert ls.reduced_loss(other, U) == pytest.approx(ls.reduced_loss(problem, U), rel=1e-9, abs=1e-9)
    # ... whereas L at a fixed A does.
    A = np.zeros((problem.d, problem.d))
    assert ls.meta_loss(other, A, U) != ls.meta_loss(problem, A, U)


# -- O(k) invariance ------------------------------------------------------------------------
@given(problems(**SMALL), st.data())
def test_losses_invariant_under_orthogonal_adapters(problem, data):
    A, U = data.draw(points(problem))
    Q = np.stack([data.draw(orthogonal_matrices(problem.k)) for _ in range(problem.T)])
    UQ = U @ Q
    for f, args, argsQ in [
        (ls.meta_loss, (A, U), (A, UQ)),
        (lambda p, u: ls.reduced_loss(p, u), (U,), (UQ,)),
    ]:
        assert f(problem, *argsQ) == pytest.approx(f(problem, *args), rel=1e-11, abs=1e-11)
    # The gradient is equivariant: ∇_{U_t} L(A, UQ) = ∇_{U_t} L(A, U) Q_t.
    _, g = ls.meta_grad(problem, A, U)
    _, gQ = ls.meta_grad(problem, A, UQ)
    assert_allclose_report(gQ, g @ Q, atol=1e-10 * _scale(problem, A, U) ** 1.5, name="∇_U L equivariance")


def test_losses_not_invariant_under_non_orthogonal_adapters():
    """The invariance check is not vacuous: a non-orthogonal mixing changes L and G."""
    p = ls.Problem.random(4, 2, 3, seed=2)
    A = np.zeros((4, 4))
    U = np.random.default_rng(3).standard_normal(p.U_star.shape)
    S = np.array([[1.0, 0.3], [0.0, 1.0]])  # det 1, not orthogonal
    assert abs(ls.meta_loss(p, A, U @ S) - ls.meta_loss(p, A, U)) > 1e-3
    assert abs(ls.reduced_loss(p, U @ S) - ls.reduced_loss(p, U)) > 1e-3


# -- adaptability (Eckart–Young) --------------------------------------------------------------
@given(problems(**SMALL), st.data())
def test_adaptability_is_eckart_young_optimal(problem, data):
    A = data.draw(st.sampled_from(["A_star", "A_sr", "random"]))
    A = {
        "A_star": np.array(problem.A_star),
        "A_sr": ls.sr_solution(problem),
        "random": data.draw(points(problem))[0],
    }[A]
    r = data.draw(st.integers(0, problem.d))
    res = ls.adaptability(problem, A, r)
    d = problem.d
    assert res.U.shape == (d, r) and res.V.shape == (d, r)
    s = np.linalg.svd(problem.M_test - A, compute_uv=False)
    assert_allclose_report(res.singular_values, s, atol=1e-12 * max(1.0, s[0]), name="σ(M − A)")
    assert res.loss == pytest.approx(float(np.sum(s[r:] ** 2)), rel=1e-12, abs=1e-300)
    # The returned adapter attains the loss ...
    fit = ls.test_loss(problem, A, res.U, res.V)
    assert fit == pytest.approx(res.loss, rel=1e-8, abs=1e-20 + 1e-24 * s[0] ** 2 * d * d)
    # ... is stationary (∇_U = 2EV, ∇_V = 2EᵀU with E = A + UVᵀ − M) ...
    E = A + res.U @ res.V.T - problem.M_test
    tol = 1e-10 * max(1.0, s[0] ** 2)
    assert np.max(np.abs(E @ res.V), initial=0.0) <= tol
    assert np.max(np.abs(E.T @ res.U), initial=0.0) <= tol
    # ... and no rank-r adapter does better: random ones, and perturbations of the optimum.
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    for _ in range(20):
        U, V = rng.standard_normal((d, r)), rng.standard_normal((d, r))
        assert ls.test_loss(problem, A, U, V) >= res.loss * (1 - 1e-12)
        U2 = res.U + 1e-3 * U
        V2 = res.V + 1e-3 * V
        assert ls.test_loss(problem, A, U2, V2) >= res.loss - 1e-12 * max(1.0, s[0] ** 2)


@given(problems(**SMALL), st.data())
def test_adaptability_is_monotone_in_rank(problem, data):
    A = data.draw(points(problem))[0]
    losses = [ls.adaptability(problem, A, r).loss for r in range(problem.d + 1)]
    assert losses[0] == pytest.approx(np.sum((problem.M_test - A) ** 2), rel=1e-12)
    assert losses[-1] == 0.0
    assert all(a >= b for a, b in zip(losses, losses[1:]))


def test_adaptability_of_truth_is_zero_at_rank_k():
    """ℓ_k(A*) = 0 (the test task differs from A* by a rank-k matrix), ℓ_{k−1}(A*) > 0."""
    p = ls.Problem.random(6, 2, 3, seed=5)
    assert ls.adaptability(p, p.A_star, p.k).loss < 1e-20
    assert ls.adaptability(p, p.A_star, p.k - 1).loss > 1e-3


def test_suboptimal_adapter_is_detected():
    """Checking the Eckart–Young comparison can fail: keeping the wrong singular pair."""
    p = ls.Problem.random(5, 1, 2, seed=7)
    A = ls.sr_solution(p)
    res = ls.adaptability(p, A, 1)
    P, s, Qt = np.linalg.svd(p.M_test - A)
    worse = ls.test_loss(p, A, P[:, [1]] * s[1], Qt[[1]].T)
    assert worse > res.loss + 1e-6


def test_test_loss_definition():
    p = ls.Problem.random(4, 1, 2, seed=0)
    rng = np.random.default_rng(0)
    A, U, V = rng.standard_normal((4, 4)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    want = np.linalg.norm(A + U @ V.T - (p.A_star + p.U_test @ p.U_test.T)) ** 2
    assert ls.test_loss(p, A, U, V) == pytest.approx(want, rel=1e-13)
    assert ls.test_loss(p, p.A_star, p.U_test, p.U_test) == 0.0


def test_gram():
    U = np.random.default_rng(0).standard_normal((3, 4, 2))
    G = ls.gram(U)
    for t in range(3):
        assert_allclose_report(G[t], U[t] @ U[t].T, name="gram")
