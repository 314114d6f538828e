"""Hessian operators and ``min_eigenvalue`` (dense, Lanczos, LOBPCG, modulo the O(k) symmetry).

Oracles: ``numpy.linalg.eigvalsh`` of the dense Hessians (themselves checked against
autodiff in test_derivatives.py), an independently built projector onto the orbit's normal
space, and closed forms: at ``U = 0`` the reduced Hessian is block diagonal with blocks
``(4/T)(R̄* − R*_t) ⊗ I_k``, so ``λ_min = −(4/T) max_t λ_max(R*_t − R̄*)``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import landscape as ls
from landscape.strategies import points, points_near_truth, problems, zero_loss_points
from tests.helpers import assert_allclose_report

SMALL = dict(max_d=5, max_T=4, max_k=3)
METHODS = ["dense", "lanczos", "lobpcg"]


def _draw_U(data, problem):
    kind = data.draw(st.sampled_from(["far", "near", "zero"]))
    strategy = {"far": points, "near": points_near_truth, "zero": zero_loss_points}[kind]
    return data.draw(strategy(problem))


def _eig_tol(H):
    return 1e-7 * max(1.0, float(np.max(np.abs(H))))


# -- operators ----------------------------------------------------------------------------------
@given(problems(**SMALL), st.data())
def test_operators_match_dense_hessians(problem, data):
    A, U = _draw_U(data, problem)
    H = ls.reduced_hessian(problem, U)
    op = ls.reduced_hessian_operator(problem, U)
    n = U.size
    assert op.shape == (n, n) and op.dtype == np.float64
    tol = 1e-11 * max(1.0, np.max(np.abs(H)))
    assert_allclose_report(op @ np.eye(n), H, atol=tol, name="reduced operator")
    assert_allclose_report(op.rmatvec(np.eye(n)[:, 0]), H[0], atol=tol, name="rmatvec")
    HL = ls.meta_hessian(problem, A, U)
    opL = ls.meta_hessian_operator(problem, A, U)
    tolL = 1e-11 * max(1.0, np.max(np.abs(HL)))
    assert_allclose_report(opL @ np.eye(HL.shape[0]), HL, atol=tolL, name="meta operator")


# -- min_eigenvalue vs eigvalsh -----------------------------------------------------------------
@settings(max_examples=15)
@given(problems(min_d=2, **SMALL), st.data(), st.sampled_from(METHODS), st.booleans())
def test_min_eigenvalue_matches_eigvalsh(problem, data, method, full):
    A, U = _draw_U(data, problem)
    if full:
        H = ls.meta_hessian(problem, A, U)
        res = ls.min_eigenvalue(problem, U, A, method=method)
    else:
        H = ls.reduced_hessian(problem, U)
        res = ls.min_eigenvalue(problem, U, method=method)
    want = np.linalg.eigvalsh(H)[0]
    tol = _eig_tol(H)
    assert res.value == pytest.approx(want, abs=tol)
    assert res.n == H.shape[0] and res.removed == 0 and not res.modulo_symmetry
    assert np.linalg.norm(res.vector) == pytest.approx(1.0, rel=1e-12)
    assert res.residual <= tol
    # The reported residual is the true one.
    true_residual = np.linalg.norm(H @ res.vector - res.value * res.vector)
    assert true_residual == pytest.approx(res.residual, abs=1e-12 * max(1.0, np.max(np.abs(H))))


@pytest.mark.parametrize("method", METHODS)
def test_min_eigenvalue_larger_instance(method):
    """N = 240 (beyond LOBPCG's dense fallback), against eigvalsh."""
    p = ls.Problem.random(20, 2, 6, seed=4)
    U = np.random.default_rng(5).standard_normal(p.U_star.shape)
    H = ls.reduced_hessian(p, U)
    res = ls.min_eigenvalue(p, U, method=method, seed=1)
    assert res.value == pytest.approx(np.linalg.eigvalsh(H)[0], abs=_eig_tol(H))
    assert res.residual <= _eig_tol(H)
    assert res.method == method


def test_min_eigenvalue_is_deterministic_and_auto_picks_dense():
    p = ls.Problem.random(6, 2, 3, seed=1)
    U = np.random.default_rng(2).standard_normal(p.U_star.shape)
    a = ls.min_eigenvalue(p, U, method="lanczos", seed=3)
    b = ls.min_eigenvalue(p, U, method="lanczos", seed=3)
    assert a.value == b.value and np.array_equal(a.vector, b.vector)
    assert ls.min_eigenvalue(p, U).method == "dense"
    out = a.to_json()
    json.dumps(out)
    assert "vector" not in out and out["method"] == "lanczos" and out["n"] == U.size
    assert "MinEig(value=" in repr(a)


def test_min_eigenvalue_with_zero_hessian_T1():
    """T = 1: G ≡ 0, so ∇²G = 0 (Krylov methods must not break down)."""
    p = ls.Problem.random(4, 2, 1, seed=0)
    U = np.random.default_rng(0).standard_normal(p.U_star.shape)
    for method in METHODS:
        res = ls.min_eigenvalue(p, U, method=method)
        assert res.value == pytest.approx(0.0, abs=1e-12)
        assert res.residual <= 1e-12


# -- modulo the O(k) symmetry -------------------------------------------------------------------
@settings(max_examples=15)
@given(problems(min_d=2, min_k=2, **SMALL), st.data(), st.sampled_from(METHODS))
def test_modulo_symmetry_matches_projected_eigvalsh(problem, data, method):
    """λ_min of ∇²G restricted to the orbit's normal space, against an independent basis."""
    _, U = _draw_U(data, problem)
    H = ls.reduced_hessian(problem, U)
    res = ls.min_eigenvalue(problem, U, method=method, modulo_symmetry=True)
    # The orbit's tangent directions U_t Ω, built here from scratch.
    cols = []
    for t in range(problem.T):
        for a in range(problem.k):
            for b in range(a + 1, problem.k):
                D = np.zeros_like(U)
                D[t, :, a], D[t, :, b] = -U[t, :, b], U[t, :, a]
                cols.append(D.ravel())
    M = np.stack(cols, axis=1)
    rank = np.linalg.matrix_rank(M)
    assert res.removed == rank
    if np.all(np.linalg.matrix_rank(U) == problem.k):  # full-rank adapters
        assert res.removed == ls.orbit_dimension(problem.T, problem.k)
    # Orthonormal basis of the normal space from a full SVD of M.
    N = np.linalg.svd(M, full_matrices=True)[0][:, rank:]
    want = np.linalg.eigvalsh(N.T @ H @ N)[0]
    tol = _eig_tol(H)
    assert res.value == pytest.approx(want, abs=tol)
    assert res.residual <= tol
    assert np.max(np.abs(M.T @ res.vector)) <= 1e-8 * max(1.0, np.max(np.abs(M))), "vector not ⟂ orbit"


@pytest.mark.parametrize("method", ["lanczos", "lobpcg"])
def test_modulo_symmetry_iterative_matches_dense_on_a_larger_instance(method):
    """N = 144 with 12 symmetry directions, at a random point and at the truth."""
    p = ls.Problem.random(12, 3, 4, seed=6)
    for U in (np.random.default_rng(7).standard_normal(p.U_star.shape), np.array(p.U_star)):
        dense = ls.min_eigenvalue(p, U, method="dense", modulo_symmetry=True)
        it = ls.min_eigenvalue(p, U, method=method, modulo_symmetry=True, seed=2)
        assert it.removed == dense.removed == ls.orbit_dimension(4, 3)
        tol = _eig_tol(ls.reduced_hessian(p, U))
        assert it.value == pytest.approx(dense.value, abs=tol)
        assert it.residual <= tol
        Q = ls.orbit_tangent_basis(U)
        assert np.max(np.abs(Q.T @ it.vector)) <= 1e-8


def test_tangent_blocks_assemble_the_dense_basis():
    from landscape.symmetry import tangent_blocks

    U = np.random.default_rng(0).standard_normal((3, 5, 3))
    U[1] = 0.0
    blocks = tangent_blocks(U)
    assert blocks.shape == (3, 15, 3)
    assert not np.any(blocks[1])
    Q = ls.orbit_tangent_basis(U)
    P_blocks = np.zeros((45, 45))
    for t in range(3):
        P_blocks[15 * t : 15 * (t + 1), 15 * t : 15 * (t + 1)] = blocks[t] @ blocks[t].T
    np.testing.assert_allclose(P_blocks, Q @ Q.T, atol=1e-12)


@pytest.mark.parametrize(
    "d, k, T",
    [(5, 1, 3), (3, 1, 3), (4, 1, 4), (6, 2, 3), (7, 2, 3), (8, 2, 4), (9, 3, 3)],
)
def test_truth_is_strict_minimum_modulo_symmetry_for_T_at_least_3(d, k, T):
    """T ≥ 3 and Tk ≤ d (docs/math.md Thm 3.3): at the truth, ∇²G has exactly T·k(k−1)/2 zero
    eigenvalues (the orbit) and is positive definite on the orbit's normal space.
    """
    p = ls.Problem.random(d, k, T, seed=3)
    H = ls.reduced_hessian(p, p.U_star)
    w = np.linalg.eigvalsh(H)
    scale = max(1.0, np.max(np.abs(w)))
    zeros = int(np.sum(np.abs(w) <= 1e-9 * scale))
    assert zeros == ls.orbit_dimension(T, k)
    for method in METHODS:
        res = ls.min_eigenvalue(p, p.U_star, method=method, modulo_symmetry=True)
        assert res.removed == ls.orbit_dimension(T, k)
        assert res.value > 1e-6 * scale, (method, res)
        assert res.value == pytest.approx(w[zeros], rel=1e-6)
    # Without the projection the zero eigenvalues are found (when there are any).
    plain = ls.min_eigenvalue(p, p.U_star, method="dense")
    assert abs(plain.value) <= 1e-9 * scale if k > 1 else plain.value > 1e-6 * scale


@pytest.mark.parametrize("d, k", [(4, 1), (4, 2), (6, 2), (7, 3)])
def test_truth_is_degenerate_beyond_symmetry_for_T_equal_2(d, k):
    """T = 2 (docs/math.md claim 6): the zero-loss set is an O(k, k) orbit of dimension k(2k−1),
    so ∇²G at the truth has k(2k−1) zero eigenvalues — k² more than the O(k)×O(k) symmetry —
    and modulo symmetry λ_min is still 0.
    """
    p = ls.Problem.random(d, k, 2, seed=3)
    H = ls.reduced_hessian(p, p.U_star)
    w = np.linalg.eigvalsh(H)
    scale = max(1.0, np.max(np.abs(w)))
    assert int(np.sum(np.abs(w) <= 1e-9 * scale)) == k * (2 * k - 1)
    res = ls.min_eigenvalue(p, p.U_star, method="dense", modulo_symmetry=True)
    assert abs(res.value) <= 1e-9 * scale
    assert res.removed == ls.orbit_dimension(2, k)


@settings(max_examples=15)
@given(problems(min_T=2, **SMALL))
def test_saddle_at_zero_has_closed_form_negative_eigenvalue(problem):
    """At U = 0: λ_min(∇²G) = −(4/T) max_t λ_max(R*_t − R̄*) < 0 unless all R*_t coincide;
    the full Hessian at (A(0), 0) has λ_min = min(2, that).
    """
    U0 = np.zeros(problem.U_star.shape)
    R = np.array(problem.R_star)
    closed = -(4.0 / problem.T) * max(np.linalg.eigvalsh(Rt - R.mean(axis=0))[-1] for Rt in R)
    H = ls.reduced_hessian(problem, U0)
    tol = _eig_tol(H)
    assert closed < 0
    for method in METHODS:
        assert ls.min_eigenvalue(problem, U0, method=method).value == pytest.approx(closed, abs=tol)
    full = ls.min_eigenvalue(problem, U0, ls.A_of_U(problem, U0), method="dense")
    assert full.value == pytest.approx(min(2.0, closed), abs=tol)


def test_saddle_at_zero_needs_two_distinct_tasks():
    """Falsifiable counterpart: identical tasks (R*_1 = R*_2) give no negative curvature at 0."""
    p = ls.Problem.random(4, 1, 1, seed=0)
    twin = ls.Problem.from_arrays(p.A_star, np.concatenate([p.U_star, -p.U_star]), p.U_test)
    res = ls.min_eigenvalue(twin, np.zeros(twin.U_star.shape), method="dense")
    assert res.value == pytest.approx(0.0, abs=1e-12)


def test_negative_curvature_direction_decreases_the_loss():
    """The λ_min < 0 eigenvector at a saddle is a real descent direction for G."""
    p = ls.Problem.random(5, 1, 3, seed=2)
    U0 = np.zeros(p.U_star.shape)
    res = ls.min_eigenvalue(p, U0, method="lanczos")
    step = 1e-2 * res.vector.reshape(U0.shape)
    assert ls.reduced_loss(p, U0 + step) < ls.reduced_loss(p, U0)
