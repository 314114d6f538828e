"""The O(k) symmetry ``U_t → U_t Q_t``: tangent basis, null directions, canonical forms.

Identities (from differentiating ``G(U exp(sΩ)) = G(U)``): the gradient is orthogonal to
every tangent direction ``U_t Ω`` at every ``U``, and at a critical point the Hessian
annihilates them; away from critical points it does not (the falsifiable counterpart).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st

import landscape as ls
from landscape.strategies import orthogonal_matrices, points, problems, zero_loss_points

SMALL = dict(max_d=5, max_T=4, max_k=3)


def test_orbit_dimension():
    assert ls.orbit_dimension(3, 1) == 0
    assert ls.orbit_dimension(3, 2) == 3
    assert ls.orbit_dimension(2, 4) == 12


@given(problems(**SMALL), st.data())
def test_tangent_basis_is_orthonormal_and_spans_the_orbit(problem, data):
    _, U = data.draw(points(problem))
    Q = ls.orbit_tangent_basis(U)
    T, d, k = U.shape
    assert Q.shape == (U.size, ls.orbit_dimension(T, k))  # generic U has full-rank U_t
    np.testing.assert_allclose(Q.T @ Q, np.eye(Q.shape[1]), atol=1e-12)
    # d/ds U_t expm(sΩ) at s = 0 is U_t Ω: finite-difference the actual orbit curve.
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    for t in range(T):
        W = rng.standard_normal((k, k))
        Omega = W - W.T
        s = 1e-6
        V = U.copy()
        V[t] = U[t] @ scipy.linalg.expm(s * Omega)
        tangent = ((V - U) / s).ravel()
        resid = tangent - Q @ (Q.T @ tangent)
        assert np.linalg.norm(resid) <= 1e-5 * max(1.0, np.linalg.norm(tangent))


def test_tangent_basis_drops_degenerate_directions():
    """Rank-deficient adapters have a smaller orbit: U_t = 0 contributes nothing, and a
    rank-1 U_t with k = 3 contributes 2 of its 3 directions.
    """
    rng = np.random.default_rng(0)
    U = rng.standard_normal((3, 5, 3))
    U[0] = 0.0
    U[1] = np.outer(rng.standard_normal(5), [1.0, 0.0, 0.0])
    Q = ls.orbit_tangent_basis(U)
    assert Q.shape[1] == 0 + 2 + 3
    assert ls.orbit_tangent_basis(np.ones((2, 4, 1))).shape == (8, 0)


@given(problems(**SMALL), st.data())
def test_gradient_is_orthogonal_to_the_orbit(problem, data):
    A, U = data.draw(points(problem))
    Q = ls.orbit_tangent_basis(U)
    gG = ls.reduced_grad(problem, U).ravel()
    _, gU = ls.meta_grad(problem, A, U)
    for g in (gG, gU.ravel()):
        assert np.max(np.abs(Q.T @ g), initial=0.0) <= 1e-10 * max(1.0, np.max(np.abs(g)))


@given(problems(**SMALL), st.data())
def test_orbit_directions_are_hessian_null_vectors_at_critical_points(problem, data):
    A, U = data.draw(zero_loss_points(problem))  # global minima are critical points
    Q = ls.orbit_tangent_basis(U)
    H = ls.reduced_hessian(problem, U)
    HL = ls.meta_hessian(problem, A, U)
    scale = max(1.0, np.max(np.abs(H)), np.max(np.abs(HL)))
    assert np.max(np.abs(H @ Q), initial=0.0) <= 1e-10 * scale
    QL = np.vstack([np.zeros((problem.d**2, Q.shape[1])), Q])
    assert np.max(np.abs(HL @ QL), initial=0.0) <= 1e-10 * scale
    # The critical point U = 0 is trivial (no orbit); a non-trivial one: the truth.
    Qs = ls.orbit_tangent_basis(problem.U_star)
    assert np.max(np.abs(ls.reduced_hessian(problem, problem.U_star) @ Qs), initial=0.0) <= 1e-10 * scale


def test_orbit_directions_are_not_null_away_from_critical_points():
    """⟨UΩ, ∇²G UΩ⟩ = −⟨∇G, UΩ²⟩ ≠ 0 in general when ∇G ≠ 0."""
    p = ls.Problem.random(5, 2, 3, seed=0)
    U = np.random.default_rng(1).standard_normal(p.U_star.shape)
    Q = ls.orbit_tangent_basis(U)
    H = ls.reduced_hessian(p, U)
    assert np.max(np.abs(H @ Q)) > 1e-3
    # ... and the identity above holds exactly for each basis direction of task 0.
    Omega = np.array([[0.0, 1.0], [-1.0, 0.0]])
    D = np.zeros_like(U)
    D[0] = U[0] @ Omega
    lhs = D.ravel() @ H @ D.ravel()
    D2 = np.zeros_like(U)
    D2[0] = U[0] @ Omega @ Omega
    rhs = -ls.reduced_grad(p, U).ravel() @ D2.ravel()
    assert lhs == pytest.approx(rhs, rel=1e-9)


@given(problems(**SMALL), st.data())
def test_canonical_form_is_an_orbit_invariant(problem, data):
    _, U = data.draw(points(problem))
    Q = np.stack([data.draw(orthogonal_matrices(problem.k)) for _ in range(problem.T)])
    C = ls.canonical_form(U)
    CQ = ls.canonical_form(U @ Q)
    scale = max(1.0, np.max(np.abs(U)) ** 2)
    # Same Gram matrices (same orbit) ...
    assert ls.orbit_distance(C, U) <= 1e-10 * scale
    # ... and the same representative (random U has distinct eigenvalues a.s.).
    np.testing.assert_allclose(CQ, C, atol=1e-7 * scale)
    assert ls.orbit_distance(U, U @ Q) <= 1e-10 * scale


def test_orbit_distance_separates_orbits():
    rng = np.random.default_rng(0)
    U = rng.standard_normal((2, 4, 2))
    V = U.copy()
    V[1] = V[1] @ np.diag([1.0, 1.1])  # not orthogonal: leaves the orbit
    assert ls.orbit_distance(U, V) > 1e-2
    assert ls.orbit_distance(U, V) == ls.orbit_distance(V, U)
    assert ls.orbit_distance(U, U) == 0.0
