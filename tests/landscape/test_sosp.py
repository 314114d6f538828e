"""Batched objectives, batched Cholesky, and the SOSP finder (landscape.sosp)."""

import importlib

import numpy as np
import pytest
import scipy.optimize

from landscape import (
    Problem,
    meta_grad,
    meta_hessian,
    meta_loss,
    pack,
    reduced_grad,
    reduced_hessian,
    reduced_loss,
)
from landscape._backend import batched_cholesky, get_backend
from landscape.batched import BatchedObjective
from landscape.classify import classify_point
from landscape.errors import InvalidArgument
from landscape.multistart import problem_scale, random_starts
from landscape.sosp import find_sosp
from tests.helpers import assert_allclose_report

SIZES = [(3, 1, 3), (4, 2, 3), (5, 2, 2)]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("d,k,T", SIZES)
def test_batched_objective_matches_dense_oracles(d, k, T, backend):
    p = Problem.random(d, k, T, seed=3)
    rng = np.random.default_rng(0)
    U = rng.standard_normal((4, T, d, k))
    A = rng.standard_normal((4, d, d))
    red = BatchedObjective(p, "reduced", backend=backend)
    xp = red.xp
    f, g = red.value_grad(xp.asarray(U.reshape(4, -1)))
    H = red.hessian(xp.asarray(U.reshape(4, -1)))
    f, g, H = xp.to_numpy(f), xp.to_numpy(g), xp.to_numpy(H)
    for i in range(4):
        assert_allclose_report(f[i], reduced_loss(p, U[i]), name="G")
        assert_allclose_report(g[i], reduced_grad(p, U[i]).ravel(), name="grad G")
        assert_allclose_report(H[i], reduced_hessian(p, U[i]), name="hess G")
    full = BatchedObjective(p, "full", backend=backend)
    X = np.stack([pack(A[i], U[i]) for i in range(4)])
    f, g = full.value_grad(xp.asarray(X))
    H = xp.to_numpy(full.hessian(xp.asarray(X)))
    f, g = xp.to_numpy(f), xp.to_numpy(g)
    for i in range(4):
        assert_allclose_report(f[i], meta_loss(p, A[i], U[i]), name="L")
        assert_allclose_report(g[i], pack(*meta_grad(p, A[i], U[i])), name="grad L")
        assert_allclose_report(H[i], meta_hessian(p, A[i], U[i]), name="hess L")


def test_batched_hessian_out_buffer_is_used():
    p = Problem.random(4, 2, 3, seed=0)
    ob = BatchedObjective(p)
    x = np.random.default_rng(1).standard_normal((3, ob.n))
    buf = np.empty(3 * ob.n * ob.n + 7)
    H = ob.hessian(x, out=buf)
    assert np.shares_memory(H, buf)
    assert_allclose_report(H, ob.hessian(x), name="buffered Hessian")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_batched_cholesky_flags_exactly_the_indefinite_matrices(backend):
    rng = np.random.default_rng(0)
    n, S = 12, 9
    B = rng.standard_normal((S, n, n))
    H = B @ B.transpose(0, 2, 1) + 0.1 * np.eye(n)
    bad = np.array([1, 4, 8])
    H[bad] -= 50 * np.eye(n)  # indefinite
    b = rng.standard_normal((S, n))
    xp = get_backend(backend)
    p, ok = xp.cholesky_solve(xp.asarray(H), xp.asarray(b))
    ok, p = np.asarray(xp.to_numpy(ok), dtype=bool), xp.to_numpy(p)
    expected = np.ones(S, dtype=bool)
    expected[bad] = False
    np.testing.assert_array_equal(ok, expected)
    for i in np.flatnonzero(ok):
        assert_allclose_report(H[i] @ p[i], b[i], rtol=1e-8, atol=1e-9, name="solve")
    # the column algorithm itself (numpy path used when LAPACK's batch fails)
    L, ok2 = batched_cholesky(H)
    np.testing.assert_array_equal(ok2, expected)
    assert_allclose_report(L[0] @ L[0].T, H[0], rtol=1e-10, atol=1e-10, name="L Lᵀ")


def _lbfgs(p, x0):
    T, d, k = p.U_star.shape
    fun = lambda x: reduced_loss(p, x.reshape(T, d, k))  # noqa: E731
    jac = lambda x: reduced_grad(p, x.reshape(T, d, k)).ravel()  # noqa: E731
    res = scipy.optimize.minimize(
        fun, x0.ravel(), jac=jac, method="L-BFGS-B", options=dict(gtol=1e-12, ftol=0.0, maxiter=5000)
    )
    return res.x.reshape(T, d, k)


@pytest.mark.parametrize("d,k,T", [(3, 1, 3), (4, 2, 2)])
def test_escapes_saddles_where_lbfgs_stays(d, k, T):
    """U = 0 (gradient exactly 0) and U_T = 0 (a stable manifold of saddles): L-BFGS stays."""
    p = Problem.random(d, k, T, seed=1)
    U0 = np.zeros((2, T, d, k))
    U0[1] = random_starts(p, 1, seed=2)[0]
    U0[1, -1] = 0.0  # ∇_{U_T} G = (4/T) C_T U_T = 0 stays 0 along any gradient path
    res = find_sosp(p, U0)
    assert res.converged.all()
    for i in range(2):
        end = _lbfgs(p, U0[i])
        assert np.all(end[-1] == 0.0)  # it never left the stable manifold
        theirs = classify_point(p, end, tol_grad=1e-6)
        ours = classify_point(p, res.U[i])
        assert theirs.kind == "saddle", theirs  # quasi-Newton ends at a saddle...
        assert ours.kind in ("global-min", "spurious-min"), ours  # ...ours does not
        assert ours.loss < theirs.loss
        assert res.min_eig[i] >= -res.options["htol_abs"]


@pytest.mark.parametrize("d,k,T,seed", [(3, 1, 2, 0), (4, 1, 2, 1), (4, 2, 2, 2), (6, 2, 2, 3)])
def test_t2_every_sosp_is_a_global_minimum(d, k, T, seed):
    """docs/math.md §5.5: with T = 2 every SOSP has L = 0."""
    p = Problem.random(d, k, T, seed=seed)
    res = find_sosp(p, random_starts(p, 48, seed=seed))
    assert res.converged.all()
    rho = problem_scale(p)
    assert res.loss.max() <= 1e-12 * rho**2, res.loss.max()


def test_sosp_is_not_always_global_at_t3(spurious_d3k1T3):
    """The T = 2 statement fails at T = 3: the frozen spurious minimum is an SOSP with G > 0."""
    problem, point = spurious_d3k1T3
    res = find_sosp(problem, point.U[None])
    assert res.converged[0]
    assert res.loss[0] > 1e-4 * problem_scale(problem) ** 2


def test_reports_both_tolerances_and_meets_them():
    p = Problem.random(5, 2, 3, seed=4)
    res = find_sosp(p, random_starts(p, 16, seed=0), eps_g=1e-9, eps_H=1e-5)
    rho = problem_scale(p)
    assert res.options["gtol_abs"] == pytest.approx(1e-9 * rho**1.5)
    assert res.options["htol_abs"] == pytest.approx(1e-5 * rho)
    ok = res.converged
    assert ok.all()
    assert (res.grad_norm[ok] <= res.options["gtol_abs"]).all()
    assert (res.min_eig[ok] >= -res.options["htol_abs"]).all()


def test_iteration_cap_reports_not_converged():
    p = Problem.random(4, 1, 3, seed=0)
    res = find_sosp(p, random_starts(p, 8, seed=0), max_iter=1, warm_start=False)
    assert not res.converged.any()
    assert (res.iterations == 1).all()


@pytest.mark.parametrize("warm_start", [False, True])
def test_full_objective_ends_at_sosp_of_L(warm_start):
    p = Problem.random(3, 1, 3, seed=5)
    res = find_sosp(p, random_starts(p, 8, seed=1), objective="full", warm_start=warm_start)
    assert res.converged.all()
    for i in range(8):
        H = meta_hessian(p, res.A[i], res.U[i])
        assert np.linalg.eigvalsh(H)[0] >= -res.options["htol_abs"]
        g = pack(*meta_grad(p, res.A[i], res.U[i]))
        assert np.linalg.norm(g) <= res.options["gtol_abs"]


def test_torch_backend_agrees_with_numpy():
    pytest.importorskip("torch")
    p = Problem.random(4, 2, 3, seed=1)
    U0 = random_starts(p, 6, seed=0)
    a = find_sosp(p, U0)
    b = find_sosp(p, U0, backend="torch", device="cpu")
    assert a.converged.all()
    assert b.converged.all()
    rho = problem_scale(p)
    np.testing.assert_allclose(a.loss, b.loss, atol=1e-12 * rho**2)


def test_callback_sees_every_iteration():
    p = Problem.random(3, 1, 2, seed=0)
    seen = []
    res = find_sosp(p, np.zeros((1, 2, 3, 1)), callback=lambda it, U: seen.append(U[0].copy()))
    assert len(seen) == res.iterations[0]
    assert np.linalg.norm(seen[0]) > 0  # the first step already leaves the saddle U = 0


BAD = [
    (dict(eps_g=0.0), "`eps_g` must be > 0"),
    (dict(eps_H=-1.0), "`eps_H` must be > 0"),
    (dict(max_iter=-1), "`max_iter` must be an integer"),
    (dict(objective="both"), "`objective` must be 'reduced' or 'full'"),
    (dict(backend="jax"), "`backend` must be 'numpy' or 'torch'"),
    (dict(device="cuda"), "`device` needs backend='torch'"),
    (dict(chunk=0), "`chunk` must be an integer"),
]


@pytest.mark.parametrize("kwargs,match", BAD)
def test_bad_arguments(kwargs, match):
    p = Problem.random(3, 1, 2, seed=0)
    with pytest.raises(InvalidArgument, match=match):
        find_sosp(p, np.zeros((1, 2, 3, 1)), **kwargs)


def test_bad_starts_shape():
    p = Problem.random(3, 1, 2, seed=0)
    with pytest.raises(InvalidArgument, match="`starts` must have shape"):
        find_sosp(p, np.zeros((1, 3, 3, 1)))


def test_module_is_importable_by_name():
    assert importlib.import_module("landscape.sosp").find_sosp is find_sosp


@pytest.fixture
def spurious_d3k1T3():
    from tests.fixtures import load_spurious

    return load_spurious("spurious_d3k1T3")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_cholesky_solve_need_mask_solves_only_the_needed_rows(backend):
    rng = np.random.default_rng(3)
    n, S = 7, 6
    B = rng.standard_normal((S, n, n))
    H = B @ B.transpose(0, 2, 1) + 0.1 * np.eye(n)
    H[2] -= 50 * np.eye(n)  # indefinite: flagged whether needed or not
    b = rng.standard_normal((S, n))
    need = np.array([True, False, True, True, False, True])
    xp = get_backend(backend)
    p, ok = xp.cholesky_solve(xp.asarray(H), xp.asarray(b), need=need)
    ok, p = np.asarray(xp.to_numpy(ok), dtype=bool), xp.to_numpy(p)
    np.testing.assert_array_equal(ok, [True, True, False, True, True, True])
    for i in range(S):
        if ok[i] and need[i]:
            assert_allclose_report(H[i] @ p[i], b[i], rtol=1e-8, atol=1e-9, name="solve")
        else:
            assert not p[i].any()


def test_lbfgs_phase_hands_slow_starts_to_newton():
    from landscape import sosp

    p = Problem.random(10, 2, 5, seed=0)
    ob = BatchedObjective(p)
    rho = problem_scale(p)
    x = random_starts(p, 16, seed=1).reshape(16, ob.n)
    f, g = ob.value_grad(x)
    gn = np.linalg.norm(g, axis=1)
    gtol = 1e-10 * rho**1.5
    full = sosp._lbfgs_phase(ob, x, f, g, gn, gtol, 500, rho)
    assert (full[3] <= gtol).all()  # L-BFGS alone reaches ε_g here ...
    capped = sosp._lbfgs_phase(ob, x, f, g, gn, gtol, 500, rho, gslow=1e-7 * rho**1.5, max_tail=2)
    assert (capped[3] > gtol).any() and (capped[4] < full[4]).any()  # ... but not in 2 steps
    assert (capped[4] <= full[4]).all()
    res = find_sosp(p, x.reshape(16, 5, 10, 2))  # the default cap: still all SOSPs
    assert res.converged.all() and (res.grad_norm <= res.options["gtol_abs"]).all()
    assert (res.min_eig >= -res.options["htol_abs"]).all()
