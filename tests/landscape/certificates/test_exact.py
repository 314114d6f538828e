"""Kernel A's exact arithmetic: G, ∇G, ∇²G at rational centres, λ_min bounds, the variation bound."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

flint = pytest.importorskip("flint")

from landscape import Problem, reduced_grad, reduced_hessian, reduced_loss  # noqa: E402
from landscape.certificates.exact import Center, chol_lower_bound, frac, q_hi, q_lo, sqrt_hi, sqrt_lo  # noqa: E402
from landscape.certificates.gauge import small_sym_lambda_min_lower  # noqa: E402
from landscape.certificates.prover import lip  # noqa: E402


def _center_of(U):
    flat = U.ravel().tolist()
    q = max(x.as_integer_ratio()[1].bit_length() - 1 for x in flat)
    Z = np.array([x.as_integer_ratio()[0] << (q - (x.as_integer_ratio()[1].bit_length() - 1)) for x in flat],
                 dtype=object).reshape(U.shape)
    return Z, 1 << q


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([(3, 1, 3), (4, 2, 2), (5, 2, 3)]))
def test_center_matches_float_derivatives(seed, dkT):
    p = Problem.random(*dkT, seed=seed % 1000)
    U = np.random.default_rng(seed).standard_normal(p.U_star.shape)
    c = Center(p, *_center_of(U))
    assert float(frac(c.loss())) == pytest.approx(reduced_loss(p, U), rel=1e-12)
    g = np.array([float(frac(c.grad_scale * int(x))) for x in c.GZ.ravel()])
    np.testing.assert_allclose(g, reduced_grad(p, U).ravel(), rtol=1e-10, atol=1e-12)
    assert float(frac(c.grad_sq())) == pytest.approx(float(g @ g), rel=1e-10)
    H = np.array([float(frac(c.hessian_scale * int(x))) for x in c.hessian_int().ravel()]).reshape(U.size, U.size)
    np.testing.assert_allclose(H, reduced_hessian(p, U), rtol=1e-10, atol=1e-10)


def test_rational_centre_and_exact_zero():
    p = Problem.random(4, 1, 3, seed=0)
    Z, N = _center_of(np.array(p.U_star))
    assert Center(p, Z, N).loss() == 0 and Center(p, Z, N).grad_sq() == 0
    # a non-dyadic denominator works too: 3·U*/3
    assert Center(p, Z * 3, N * 3).loss() == 0


@given(st.integers(0, 2**32 - 1), st.integers(2, 12))
def test_cholesky_bound_is_a_lower_bound(seed, n):
    rng = np.random.default_rng(seed)
    B = rng.integers(-1000, 1000, size=(n, n))
    M = (B @ B.T + np.eye(n, dtype=np.int64)).astype(object) * (1 << 70)  # beyond int64
    lo, est = chol_lower_bound(M)
    lam = np.linalg.eigvalsh((B @ B.T + np.eye(n)).astype(float))[0] * 2.0**70
    assert lo is not None and 0 < float(frac(lo)) <= lam * (1 + 1e-9)


def test_cholesky_bound_refuses_indefinite_and_singular():
    assert chol_lower_bound(np.array([[1, 2], [2, 1]], dtype=object))[0] is None
    assert chol_lower_bound(np.array([[1, 1], [1, 1]], dtype=object))[0] is None


def test_rounding_helpers():
    x = flint.fmpq(1, 3)
    assert Fraction(q_lo(x)) <= Fraction(1, 3) <= Fraction(q_hi(x))
    assert sqrt_lo(flint.fmpq(2)) ** 2 <= 2 <= sqrt_hi(flint.fmpq(2)) ** 2
    assert sqrt_hi(0) == 0


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([(3, 1, 3), (4, 2, 2), (5, 2, 4)]), st.floats(1e-3, 1.0))
def test_variation_bound_holds(seed, dkT, rho):
    """‖∇²G(c + δ) − ∇²G(c)‖₂ <= Lip(‖δ‖) with a >= max_t ‖c_t‖₂ (the bound both kernels use)."""
    p = Problem.random(*dkT, seed=seed % 997)
    rng = np.random.default_rng(seed)
    c = rng.standard_normal(p.U_star.shape)
    delta = rng.standard_normal(c.shape)
    delta *= rho / np.linalg.norm(delta)
    a = max(np.linalg.norm(c[t], 2) for t in range(p.T))
    dH = np.linalg.norm(reduced_hessian(p, c + delta) - reduced_hessian(p, c), 2)
    L = float(lip(flint.fmpq(*float(a).as_integer_ratio()), flint.fmpq(*float(rho).as_integer_ratio()), p.T))
    assert dH <= L * (1 + 1e-9)


def test_a_quarter_of_the_variation_bound_fails():
    """The bound is not vacuous: a quarter of it is violated on some random instance."""
    worst = 0.0
    for seed in range(40):
        p = Problem.random(3, 1, 2, seed=seed)
        rng = np.random.default_rng(seed)
        c = rng.standard_normal(p.U_star.shape)
        delta = rng.standard_normal(c.shape)
        delta *= 0.5 / np.linalg.norm(delta)
        a = max(np.linalg.norm(c[t], 2) for t in range(p.T))
        dH = np.linalg.norm(reduced_hessian(p, c + delta) - reduced_hessian(p, c), 2)
        L = float(lip(flint.fmpq(*float(a).as_integer_ratio()), flint.fmpq(1, 2), p.T))
        worst = max(worst, dH / L)
    assert worst > 0.25


@given(st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_small_lambda_lower_is_a_lower_bound(seed, k):
    rng = np.random.default_rng(seed)
    B = rng.integers(-50, 50, size=(k, k))
    M = B @ B.T + np.eye(k, dtype=np.int64)
    lo = small_sym_lambda_min_lower(M)
    lam = np.linalg.eigvalsh(M.astype(float))[0]
    assert float(lo) <= lam * (1 + 1e-12)
    assert float(lo) > 0


def test_small_lambda_lower_fails_on_singular():
    assert small_sym_lambda_min_lower([[1, 1], [1, 1]]) <= 0
    assert small_sym_lambda_min_lower([[1, 2], [2, 1]]) <= 0
