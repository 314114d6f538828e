"""Exact derivatives of L (meta_*) and G (reduced_*) against three independent oracles.

Strongest oracle first (STYLE.md): closed forms of docs/math.md §3–4 (H_AA = 2I, the
commutation-matrix block formula, the Schur complement), then reverse-mode autograd and
torch.func in float64 on hypothesis-drawn instances, then Taylor-remainder slopes with
finite steps. Each check is also run on a deliberately wrong derivative and must fail.
"""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import landscape as ls
from landscape.strategies import points, points_near_truth, problems, zero_loss_points
from tests.helpers import assert_allclose_report

torch = pytest.importorskip("torch")
from torch.func import grad as tgrad  # noqa: E402
from torch.func import hessian as thessian  # noqa: E402
from torch.func import jvp as tjvp  # noqa: E402

SMALL = dict(max_d=5, max_T=4, max_k=3)


# -- independent implementations of L and G ------------------------------------------------
def autograd_L(problem):
    d, k, T = problem.d, problem.k, problem.T
    M = np.array(problem.M_star)

    def L(x):
        A = anp.reshape(x[: d * d], (d, d))
        U = anp.reshape(x[d * d :], (T, d, k))
        E = A[None] + anp.matmul(U, anp.transpose(U, (0, 2, 1))) - M
        return anp.sum(E * E) / T

    return L


def autograd_G(problem):
    d, k, T = problem.d, problem.k, problem.T
    R = np.array(problem.R_star)

    def G(u):
        U = anp.reshape(u, (T, d, k))
        D = anp.matmul(U, anp.transpose(U, (0, 2, 1))) - R
        C = D - anp.mean(D, axis=0, keepdims=True)
        return anp.sum(C * C) / T

    return G


def torch_L(problem):
    d, k, T = problem.d, problem.k, problem.T
    M = torch.tensor(np.array(problem.M_star), dtype=torch.float64)

    def L(x):
        A = x[: d * d].reshape(d, d)
        U = x[d * d :].reshape(T, d, k)
        E = A[None] + U @ U.transpose(1, 2) - M
        return (E * E).sum() / T

    return L


def torch_G(problem):
    d, k, T = problem.d, problem.k, problem.T
    R = torch.tensor(np.array(problem.R_star), dtype=torch.float64)

    def G(u):
        U = u.reshape(T, d, k)
        D = U @ U.transpose(1, 2) - R
        C = D - D.mean(dim=0, keepdim=True)
        return (C * C).sum() / T

    return G


def autograd_derivs(f, x, v):
    g = autograd.grad(f)
    hvp = autograd.grad(lambda y: anp.dot(g(y), v))(x)
    return g(x), hvp, autograd.hessian(f)(x)


def torch_derivs(f, x, v):
    xt, vt = torch.tensor(x), torch.tensor(v)
    g = tgrad(f)
    hvp = tjvp(g, (xt,), (vt,))[1]
    return g(xt).numpy(), hvp.numpy(), thessian(f)(xt).numpy()


def _tol(*arrays):
    """Absolute tolerance scaled to the data (float64 rounding, generous by ~1e3)."""
    scale = max(1.0, *(float(np.max(np.abs(a))) for a in arrays))
    return 1e-11 * scale


def _ours_meta(problem, A, U, dA, dU):
    g = ls.pack(*ls.meta_grad(problem, A, U))
    h = ls.pack(*ls.meta_hvp(problem, A, U, dA, dU))
    return g, h, ls.meta_hessian(problem, A, U)


def _ours_reduced(problem, U, dU):
    return (
        ls.reduced_grad(problem, U).ravel(),
        ls.reduced_hvp(problem, U, dU).ravel(),
        ls.reduced_hessian(problem, U),
    )


def _compare(ours, oracle, label):
    for name, a, b in zip(("gradient", "HVP", "Hessian"), ours, oracle):
        assert_allclose_report(a, b, rtol=1e-9, atol=_tol(a, b), name=f"{label} {name}")


# Point families: far from the truth, near it, exactly on the zero-loss set.
def _draw_point(data, problem):
    kind = data.draw(st.sampled_from(["far", "near", "zero"]), label="kind")
    if kind == "far":
        A, U = data.draw(points(problem), label="point")
    elif kind == "near":
        A, U = data.draw(points_near_truth(problem, radius=0.5), label="point")
    else:
        A, U = data.draw(zero_loss_points(problem), label="point")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="direction seed"))
    return A, U, rng.standard_normal(A.shape), rng.standard_normal(U.shape)


# -- autodiff oracles -------------------------------------------------------------------------
@given(problems(**SMALL), st.data())
def test_meta_derivatives_match_autograd_and_torch(problem, data):
    A, U, dA, dU = _draw_point(data, problem)
    x, v = ls.pack(A, U), ls.pack(dA, dU)
    ours = _ours_meta(problem, A, U, dA, dU)
    _compare(ours, autograd_derivs(autograd_L(problem), x, v), "L vs autograd")
    _compare(ours, torch_derivs(torch_L(problem), x, v), "L vs torch.func")


@given(problems(**SMALL), st.data())
def test_reduced_derivatives_match_autograd_and_torch(problem, data):
    _, U, _, dU = _draw_point(data, problem)
    ours = _ours_reduced(problem, U, dU)
    u, v = U.ravel(), dU.ravel()
    _compare(ours, autograd_derivs(autograd_G(problem), u, v), "G vs autograd")
    _compare(ours, torch_derivs(torch_G(problem), u, v), "G vs torch.func")


@given(problems(**SMALL), st.data())
def test_losses_match_autograd_and_torch_implementations(problem, data):
    A, U, _, _ = _draw_point(data, problem)
    x = ls.pack(A, U)
    L = ls.meta_loss(problem, A, U)
    G = ls.reduced_loss(problem, U)
    assert L == pytest.approx(autograd_L(problem)(x), rel=1e-12, abs=1e-12)
    assert L == pytest.approx(float(torch_L(problem)(torch.tensor(x))), rel=1e-12, abs=1e-12)
    assert G == pytest.approx(autograd_G(problem)(U.ravel()), rel=1e-12, abs=1e-12)


# -- Taylor-remainder slopes ------------------------------------------------------------------
#: Steps for a unit-norm direction.
STEPS = 2.0 ** -np.arange(5, 12)


def taylor_slopes(f, g, hvp, x, v):
    """Log-log slopes of the first- and second-order Taylor remainders of ``f`` at ``x``.

    ``r1(h) = f(x+hv) − f(x) − h⟨g, v⟩`` and ``r2(h) = r1(h) − (h²/2)⟨v, Hv⟩`` for a unit
    direction ``v``. Both losses are quartic polynomials, so along a line
    ``r2(h) = c3 h³ + c4 h⁴`` exactly; one-sided remainders can cancel (``c3 ≈ −c4 h``), so
    each order uses ``m(h) = max(|r(h)|, |r(−h)|)``, which equals ``|odd part| + |even part|``
    (e.g. ``|c3| h³ + |c4| h⁴``) and cannot cancel. Correct derivatives give slopes ≥ 2 and
    ≥ 3 (exactly 2 and 3 unless a leading coefficient vanishes); a wrong gradient gives ~1
    and a wrong Hessian ~2. Remainders within 100 ulps of ``f`` are rounding noise and are
    left out of the fit (a slope of ``inf`` means every remainder was noise).
    """
    nv = np.linalg.norm(v)
    v, hvp = v / nv, hvp / nv  # the HVP is linear in the direction
    f0 = f(x)
    gv = float(np.dot(g, v))
    vHv = float(np.dot(v, hvp))
    m1, m2 = [], []
    for h in STEPS:
        r1 = [f(x + s * v) - f0 - s * gv for s in (h, -h)]
        r2 = [r - 0.5 * h * h * vHv for r in r1]
        m1.append(max(map(abs, r1)))
        m2.append(max(map(abs, r2)))
    floor = 100 * np.finfo(float).eps * max(abs(f0), 1.0)

    def slope(m):
        m = np.asarray(m)
        keep = m > floor
        if np.count_nonzero(keep) < 3:
            return np.inf
        return float(np.polyfit(np.log(STEPS[keep]), np.log(m[keep]), 1)[0])

    return slope(m1), slope(m2)


def _meta_pieces(problem, A, U, dA, dU, hvp=None):
    hvp = hvp or ls.meta_hvp
    d = problem.d

    def f(x):
        return ls.meta_loss(problem, x[: d * d].reshape(d, d), x[d * d :].reshape(U.shape))

    g = ls.pack(*ls.meta_grad(problem, A, U))
    return f, g, ls.pack(*hvp(problem, A, U, dA, dU))


@given(problems(min_d=2, **SMALL), st.data())
def test_taylor_remainder_slopes_meta(problem, data):
    A, U = data.draw(points(problem))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    dA, dU = rng.standard_normal(A.shape), rng.standard_normal(U.shape)
    f, g, hv = _meta_pieces(problem, A, U, dA, dU)
    s1, s2 = taylor_slopes(f, g, hv, ls.pack(A, U), ls.pack(dA, dU))
    assert s1 > 1.9, f"first-order remainder slope {s1:.3f}, expected ~2"
    assert s2 > 2.9, f"second-order remainder slope {s2:.3f}, expected ~3"


@given(problems(min_d=2, min_T=2, **SMALL), st.data())
def test_taylor_remainder_slopes_reduced(problem, data):
    _, U = data.draw(points(problem))
    dU = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).standard_normal(U.shape)

    def f(u):
        return ls.reduced_loss(problem, u.reshape(U.shape))

    g = ls.reduced_grad(problem, U).ravel()
    hv = ls.reduced_hvp(problem, U, dU).ravel()
    s1, s2 = taylor_slopes(f, g, hv, U.ravel(), dU.ravel())
    assert s1 > 1.9, f"first-order remainder slope {s1:.3f}, expected ~2"
    assert s2 > 2.9, f"second-order remainder slope {s2:.3f}, expected ~3"


# -- falsifiability: the same machinery must reject wrong derivatives --------------------------
def _far_instance(seed=3, d=4, k=2, T=3):
    p = ls.Problem.random(d, k, T, seed=seed)
    rng = np.random.default_rng(seed + 100)
    A, U = rng.standard_normal((d, d)), rng.standard_normal((T, d, k))
    return p, A, U, rng.standard_normal((d, d)), rng.standard_normal((T, d, k))


def hvp_sym_factor_dropped(problem, A, U, dA, dU):
    """H_UU with ``(I_k ⊗ sym E_t)`` instead of ``2 (I_k ⊗ sym E_t)`` (a classic slip)."""
    hA, hU = ls.meta_hvp(problem, A, U, dA, dU)
    E = A[None] + U @ U.transpose(0, 2, 1) - problem.M_star
    return hA, hU - (1.0 / problem.T) * ((E + E.transpose(0, 2, 1)) @ dU)


def hvp_cross_sign_flipped(problem, A, U, dA, dU):
    """``H_AU`` and ``H_UA`` with the wrong sign."""
    hA, hU = ls.meta_hvp(problem, A, U, dA, dU)
    hAU = ls.meta_hvp(problem, A, U, np.zeros_like(dA), dU)[0]  # H_AU dU (H_AA 0 = 0)
    hUA = ls.meta_hvp(problem, A, U, dA, np.zeros_like(dU))[1]  # H_UA dA
    return hA - 2 * hAU, hU - 2 * hUA


@pytest.mark.parametrize("wrong", [hvp_sym_factor_dropped, hvp_cross_sign_flipped])
def test_wrong_hessian_is_caught_by_taylor_and_autodiff(wrong):
    p, A, U, dA, dU = _far_instance()
    x, v = ls.pack(A, U), ls.pack(dA, dU)
    f, g, hv_bad = _meta_pieces(p, A, U, dA, dU, hvp=wrong)
    _, s2 = taylor_slopes(f, g, hv_bad, x, v)
    assert s2 < 2.3, f"a wrong HVP should give a second-order slope ~2, got {s2:.3f}"
    _, hv_ok = _meta_pieces(p, A, U, dA, dU)[1:]
    assert taylor_slopes(f, g, hv_ok, x, v)[1] > 2.9  # the same instance passes when right
    _, ag_hvp, _ = autograd_derivs(autograd_L(p), x, v)
    with pytest.raises(AssertionError, match="exceed"):
        assert_allclose_report(hv_bad, ag_hvp, rtol=1e-9, atol=_tol(ag_hvp), name="HVP")
    _, tf_hvp, _ = torch_derivs(torch_L(p), x, v)
    with pytest.raises(AssertionError, match="exceed"):
        assert_allclose_report(hv_bad, tf_hvp, rtol=1e-9, atol=_tol(tf_hvp), name="HVP")


def test_wrong_gradient_is_caught_by_taylor():
    """Dropping the transpose in ``(E_t + E_tᵀ) U_t`` (wrong unless E_t is symmetric)."""
    p, A, U, dA, dU = _far_instance()
    E = A[None] + U @ U.transpose(0, 2, 1) - p.M_star
    gA, _ = ls.meta_grad(p, A, U)
    g_bad = ls.pack(gA, (4.0 / p.T) * E @ U)
    f, g_ok, hv = _meta_pieces(p, A, U, dA, dU)
    s1, _ = taylor_slopes(f, g_bad, hv, ls.pack(A, U), ls.pack(dA, dU))
    assert s1 < 1.2, f"a wrong gradient should give a first-order slope ~1, got {s1:.3f}"
    assert taylor_slopes(f, g_ok, hv, ls.pack(A, U), ls.pack(dA, dU))[0] > 1.9


def test_wrong_reduced_hessian_is_caught_by_autograd():
    """The reduced HVP without centring ``B_t − B̄`` (i.e. the Hessian of L at fixed A)."""
    p, _, U, _, dU = _far_instance()
    C = ls.reduced_hvp(p, U, dU)
    B = U @ dU.transpose(0, 2, 1)
    B = B + B.transpose(0, 2, 1)
    bad = C + (4.0 / p.T) * (B.mean(axis=0, keepdims=True) @ U)
    _, want, _ = autograd_derivs(autograd_G(p), U.ravel(), dU.ravel())
    assert_allclose_report(C.ravel(), want, atol=_tol(want))
    with pytest.raises(AssertionError, match="exceed"):
        assert_allclose_report(bad.ravel(), want, atol=_tol(want))


# -- closed forms of docs/math.md §3 ----------------------------------------------------------------
@given(problems(**SMALL), st.data())
def test_H_AA_is_2I_and_H_AU_is_J(problem, data):
    A, U, dA, _ = _draw_point(data, problem)
    d = problem.d
    H = ls.meta_hessian(problem, A, U)
    np.testing.assert_array_equal(H[: d * d, : d * d], 2.0 * np.eye(d * d))
    hA, hU = ls.meta_hvp(problem, A, U, dA, np.zeros_like(U))
    assert_allclose_report(hA, 2.0 * dA, name="H_AA dA")
    assert_allclose_report(H, H.T, rtol=0, atol=0, name="symmetry of the Hessian")


def _commutation(m, n):
    """``K`` with ``K vec(X) = vec(Xᵀ)`` for X (m×n), column-major vec."""
    K = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            K[i * n + j, j * m + i] = 1.0
    return K


@given(problems(**SMALL), st.data())
def test_block_formula_with_commutation_matrix(problem, data):
    """docs/math.md §3 in column-major vec: H_{A,U_t} = (2/T) J_t and
    H_{U_t,U_t} = (2/T)[J_tᵀJ_t + 2 (I_k ⊗ sym E_t)], J_t = U_t⊗I + (I⊗U_t)K.
    """
    A, U, _, _ = _draw_point(data, problem)
    d, k, T = problem.d, problem.k, problem.T
    H = ls.meta_hessian(problem, A, U)
    # Permutations from our row-major pack order to column-major vec per block.
    colA = np.arange(d * d).reshape(d, d).ravel(order="F")
    K = _commutation(d, k)
    E = A[None] + U @ U.transpose(0, 2, 1) - problem.M_star
    for t in range(T):
        off = d * d + t * d * k
        colU = off + np.arange(d * k).reshape(d, k).ravel(order="F")
        J = np.kron(U[t], np.eye(d)) + np.kron(np.eye(d), U[t]) @ K
        symE = (E[t] + E[t].T) / 2
        want_AU = (2.0 / T) * J
        want_UU = (2.0 / T) * (J.T @ J + 2.0 * np.kron(np.eye(k), symE))
        assert_allclose_report(H[np.ix_(colA, colU)], want_AU, atol=_tol(want_AU), name="H_AU")
        assert_allclose_report(H[np.ix_(colU, colU)], want_UU, atol=_tol(want_UU), name="H_UU")
        for s in range(T):
            if s != t:
                cols = d * d + s * d * k + np.arange(d * k)
                assert not np.any(H[np.ix_(colU, cols)]), "H_{U_t,U_s} must vanish for t != s"


def test_block_formula_without_the_factor_two_fails():
    """The same comparison rejects ``J_tᵀJ_t + (I_k ⊗ sym E_t)`` (factor 2 dropped)."""
    p, A, U, _, _ = _far_instance()
    d, k, T = p.d, p.k, p.T
    H = ls.meta_hessian(p, A, U)
    K = _commutation(d, k)
    E = A[None] + U @ U.transpose(0, 2, 1) - p.M_star
    colU = d * d + np.arange(d * k).reshape(d, k).ravel(order="F")
    J = np.kron(U[0], np.eye(d)) + np.kron(np.eye(d), U[0]) @ K
    bad = (2.0 / T) * (J.T @ J + np.kron(np.eye(k), (E[0] + E[0].T) / 2))
    with pytest.raises(AssertionError, match="exceed"):
        assert_allclose_report(H[np.ix_(colU, colU)], bad, atol=_tol(bad), name="H_UU")


# -- eliminating A: A(U), G, Schur complement (docs/math.md §4) ------------------------------------
@given(problems(**SMALL), st.data())
def test_schur_complement_equals_reduced_hessian_at_A_of_U(problem, data):
    _, U, dA, _ = _draw_point(data, problem)
    AU = ls.A_of_U(problem, U)
    HG = ls.reduced_hessian(problem, U)
    S = ls.schur_complement(problem, AU, U)
    assert_allclose_report(S, HG, atol=_tol(HG), name="Schur complement at A(U)")
    # Elsewhere: H_UU depends on A only through sym(A) and shifts by (2/T) I_T ⊗ 2sym(ΔA) ⊗ I_k.
    Delta = dA + dA.T
    S2 = ls.schur_complement(problem, AU + dA, U)
    shift = (2.0 / problem.T) * np.kron(np.eye(problem.T), np.kron(Delta, np.eye(problem.k)))
    assert_allclose_report(S2 - S, shift, atol=_tol(S2, S), name="Schur complement shift")
    assert np.max(np.abs(S2 - HG)) > 1e-6 * max(1.0, np.max(np.abs(HG)))


def test_schur_complement_unchanged_by_antisymmetric_shift_of_A():
    """Derived: only sym(A) enters H_UU, so A(U) + skew gives the same Schur complement."""
    p, _, U, dA, _ = _far_instance()
    AU = ls.A_of_U(p, U)
    skew = dA - dA.T
    assert_allclose_report(
        ls.schur_complement(p, AU + skew, U), ls.reduced_hessian(p, U), atol=1e-10
    )


@given(problems(**SMALL), st.data())
def test_reduced_gradient_is_meta_gradient_at_A_of_U(problem, data):
    """Envelope theorem: ∇G(U) = ∇_U L(A(U), U), and ∇_A L(A(U), U) = 0."""
    _, U, _, _ = _draw_point(data, problem)
    AU = ls.A_of_U(problem, U)
    gA, gU = ls.meta_grad(problem, AU, U)
    gG = ls.reduced_grad(problem, U)
    assert_allclose_report(gA, np.zeros_like(gA), atol=_tol(problem.M_star, gU), name="∇_A L at A(U)")
    assert_allclose_report(gU, gG, atol=_tol(gU), name="∇G vs ∇_U L")


@given(problems(**SMALL), st.data())
def test_reduced_hvp_matches_dense_and_operator(problem, data):
    _, U, _, dU = _draw_point(data, problem)
    H = ls.reduced_hessian(problem, U)
    hv = ls.reduced_hvp(problem, U, dU).ravel()
    assert_allclose_report(hv, H @ dU.ravel(), atol=_tol(H, hv), name="reduced HVP vs dense")
    op = ls.reduced_hessian_operator(problem, U)
    assert_allclose_report(op.matvec(dU.ravel()), hv, atol=_tol(hv), name="operator")


def test_pack_unpack_round_trip():
    p, A, U, _, _ = _far_instance()
    x = ls.pack(A, U)
    assert x.shape == (p.d**2 + p.T * p.d * p.k,)
    A2, U2 = ls.unpack(p, x)
    np.testing.assert_array_equal(A2, A)
    np.testing.assert_array_equal(U2, U)
    np.testing.assert_array_equal(x, np.concatenate([A.ravel(), U.ravel()]))


@settings(max_examples=10)
@given(problems(min_T=1, max_T=1, max_d=4))
def test_T1_reduced_loss_and_hessian_vanish(problem):
    """With one task, A(U) fits it exactly: G ≡ 0 and so do its derivatives."""
    U = np.random.default_rng(0).standard_normal(problem.U_star.shape)
    assert ls.reduced_loss(problem, U) == 0.0
    assert not np.any(ls.reduced_grad(problem, U))
    assert not np.any(ls.reduced_hessian(problem, U))
