"""Enclosures: exact G/∇G/A, the integer anchor Hessian, the Hessian variation bound, residuals."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

flint = pytest.importorskip("flint")

from landscape import A_of_U, Problem, reduced_grad, reduced_hessian, reduced_loss  # noqa: E402
from landscape.certify.enclosures import (  # noqa: E402
    Anchor,
    ExactPoint,
    cholesky_residual_sq,
    default_anchor_bits,
    hessian_variation,
    krawczyk_residuals,
    rayleigh_int,
)
from landscape.certify.gauge import tangent_float  # noqa: E402
from landscape.strategies import problems  # noqa: E402
from tests.helpers import assert_allclose_report  # noqa: E402


def _f(x):
    from fractions import Fraction

    return float(Fraction(int(x.p), int(x.q)))


def lip(a, rho, T):
    return float(hessian_variation(flint.arb(a), flint.arb(rho), T).upper())


@given(problems(max_d=4, max_T=4), st.integers(0, 2**32 - 1))
def test_exact_point_matches_floats(p, seed):
    U = np.random.default_rng(seed).standard_normal(p.U_star.shape)
    ex = ExactPoint(U, p.U_star, p.A_star)
    G = reduced_loss(p, U)
    assert abs(_f(ex.loss()) - G) <= 1e-12 * max(1.0, G)
    g2 = float(np.sum(reduced_grad(p, U) ** 2))
    assert abs(_f(ex.grad_sq()) - g2) <= 1e-11 * max(1.0, g2)
    A = np.array([[_f(x) for x in row] for row in ex.A_center()])
    assert_allclose_report(A, A_of_U(p, U), rtol=1e-12, atol=1e-12, name="A(U)")


def test_exact_loss_is_zero_exactly_at_truth():
    p = Problem.random(4, 2, 3, seed=3)
    assert ExactPoint(p.U_star, p.U_star, p.A_star).loss() == 0
    assert ExactPoint(p.U_star * (1 + 2.0**-52), p.U_star, p.A_star).loss() > 0


@given(problems(max_d=4, max_T=4), st.integers(0, 2**32 - 1))
def test_anchor_hessian_is_the_hessian_at_the_anchor(p, seed):
    U = np.random.default_rng(seed).standard_normal(p.U_star.shape)
    ex = ExactPoint(U, p.U_star, p.A_star)
    an = Anchor(ex, default_anchor_bits(U, p.U_star, None), "none")
    H = an.hessian(None).astype(float) * _f(an.hessian_scale)
    Hc = reduced_hessian(p, an.c)
    epsR = 4 / p.T * math.sqrt(_f(an.epsR_sq))
    # exact up to the R* → R̂ rounding (ε_R, proven) and float rounding of reduced_hessian
    err = np.linalg.norm(H - Hc, 2)
    assert err <= epsR + 1e-12 * max(1.0, np.abs(Hc).max())
    assert math.sqrt(_f(an.delta_sq)) == pytest.approx(np.linalg.norm(U - an.c), rel=1e-9, abs=1e-300)


def test_anchor_penalty_is_the_gauge_gram():
    p = Problem.random(5, 2, 3, seed=1)
    U = p.U_star + 0.01
    ex = ExactPoint(U, p.U_star, p.A_star)
    an = Anchor(ex, 18, "slice")
    e = 3
    D = (an.hessian(e) - an.hessian(None)).astype(float)
    W = tangent_float(an.c, "slice") * 2.0**an.qc
    assert_allclose_report(D, 2.0**e * W @ W.T, name="2^e WWᵀ")
    assert an.m == 3  # T·k(k−1)/2


def test_quadratic_form_used_in_the_variation_bound():
    # ∇²G(U)[Δ,Δ] = (2/T)Σ‖B_t − B̄‖² + (4/T)Σ⟨C_t, Δ_tΔ_tᵀ⟩ (the derivation's starting point)
    p = Problem.random(4, 2, 3, seed=5)
    rng = np.random.default_rng(0)
    U, D = rng.standard_normal(p.U_star.shape), rng.standard_normal(p.U_star.shape)
    B = np.einsum("tik,tjk->tij", U, D)
    B = B + B.transpose(0, 2, 1)
    Bc = B - B.mean(axis=0)
    Dt = np.einsum("tik,tjk->tij", U, U) - p.R_star
    C = Dt - Dt.mean(axis=0)
    q = 2 / p.T * np.sum(Bc**2) + 4 / p.T * np.einsum("tij,tij->", C, np.einsum("tik,tjk->tij", D, D))
    assert q == pytest.approx(D.ravel() @ reduced_hessian(p, U) @ D.ravel(), rel=1e-12)


def _variation_ratio(p, seed, rho_scale):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal(p.U_star.shape) * rng.choice([0.3, 1.0, 3.0])
    delta = rng.standard_normal(c.shape)
    rho = rho_scale * rng.choice([1e-3, 0.1, 1.0, 5.0])
    delta *= rho / np.linalg.norm(delta)
    diff = np.linalg.norm(reduced_hessian(p, c + delta) - reduced_hessian(p, c), 2)
    a = max(np.linalg.norm(c[t], 2) for t in range(p.T))
    return diff / lip(a, rho, p.T)


@given(problems(max_d=4, max_T=5), st.integers(0, 2**32 - 1))
def test_hessian_variation_bound_holds(p, seed):
    assert _variation_ratio(p, seed, 1.0) <= 1 + 1e-9


def test_a_quarter_of_the_variation_bound_fails():
    # the bound is not vacuous: a quarter of it is violated on some instances
    ratios = [_variation_ratio(Problem.random(3, 1, 3, seed=s), s, 1.0) for s in range(60)]
    assert max(ratios) > 0.25


@given(st.integers(0, 2**32 - 1), st.integers(2, 30))
def test_cholesky_residual_gives_a_lower_bound(seed, n):
    rng = np.random.default_rng(seed)
    B = rng.integers(-(2**20), 2**20, size=(n, n))
    H = B @ B.T + (2**30) * np.eye(n, dtype=np.int64)
    lam = np.linalg.eigvalsh(H.astype(float))[0]
    s = int(lam * 0.9)
    res = cholesky_residual_sq(H, s)
    assert res is not None
    lower = s - math.sqrt(_f(res))
    assert 0 < lower <= lam * (1 + 1e-12)
    # a shift above λ_min has no Cholesky factor: no bound
    assert cholesky_residual_sq(H, int(lam * 1.5)) is None


def test_krawczyk_residuals_and_rayleigh_match_floats():
    rng = np.random.default_rng(3)
    n = 12
    B = rng.integers(-(2**25), 2**25, size=(n, n))
    J = B + B.T
    F = [int(x) << 40 for x in rng.integers(-(2**40), 2**40, size=n)]
    kd = krawczyk_residuals(J, F)
    Y = np.linalg.inv(J.astype(float))
    assert math.sqrt(_f(kd.kappa0_sq)) < 1e-6
    assert math.sqrt(_f(kd.ynorm_sq)) == pytest.approx(np.linalg.norm(Y), rel=1e-6)
    assert math.sqrt(_f(kd.res_sq)) == pytest.approx(np.linalg.norm(Y @ np.array(F, dtype=float)), rel=1e-6)
    v = [int(x) for x in rng.integers(-1000, 1000, size=n)]
    vf = np.array(v, dtype=float)
    assert _f(rayleigh_int(J, v)) == pytest.approx(vf @ J.astype(float) @ vf / (vf @ vf), rel=1e-12)
    # a singular Jacobian yields no Krawczyk data (or data that cannot contract)
    Js = J.copy()
    Js[:, 0] = Js[:, 1]
    Js[0, :] = Js[1, :]
    kd2 = krawczyk_residuals(Js, F)
    assert kd2 is None or math.sqrt(_f(kd2.kappa0_sq)) > 1e-3 or _f(kd2.ynorm_sq) > 1e20
