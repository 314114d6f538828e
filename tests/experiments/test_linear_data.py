"""Second moments: per-sample and second-moment computations agree; samplers draw the right law."""

import numpy as np
import pytest

from experiments.linear import (
    Moments,
    draw_moments,
    empirical_grad,
    empirical_loss,
    meta_empirical_grad,
    meta_empirical_loss,
    meta_lora_gd,
    moments_from_samples,
    sample_task,
    stack_moments,
)
from landscape import InvalidArgument, Problem
from tests.helpers import assert_allclose_report

RTOL = 1e-10  # second-moment vs per-sample: the same sums in a different order


def _per_sample_meta_loss(A, U, V, Xs, Ys):
    """(1/T) Σ_t (1/N) Σ_i ‖(A + U_tV_tᵀ) x_ti − y_ti‖², straight from the samples."""
    out = 0.0
    for t in range(len(Xs)):
        W = A + U[t] @ V[t].T
        R = Xs[t] @ W.T - Ys[t]
        out += np.mean(np.sum(R * R, axis=1))
    return out / len(Xs)


def _per_sample_meta_grad(A, U, V, Xs, Ys, symmetric):
    T = len(Xs)
    gA = np.zeros_like(A)
    gU = np.zeros_like(U)
    gV = np.zeros_like(V)
    for t in range(T):
        W = A + U[t] @ V[t].T
        R = Xs[t] @ W.T - Ys[t]  # rows: W x_i − y_i
        dW = (2.0 / (T * len(R))) * R.T @ Xs[t]  # ∂/∂W of (1/T)(1/N) Σ ‖W x − y‖²
        gA += dW
        if symmetric:
            gU[t] = (dW + dW.T) @ U[t]
        else:
            gU[t] = dW @ V[t]
            gV[t] = dW.T @ U[t]
    return gA, gU, gV


def _per_sample_alternating_gd(Xs, Ys, U0, rounds, u_steps, lr_U, lr_A):
    """The paper's alternating gradient descent, touching every sample at every step."""
    A = np.zeros((U0.shape[1],) * 2)
    U = U0.copy()
    for _ in range(rounds):
        for _ in range(u_steps):
            _, gU, _ = _per_sample_meta_grad(A, U, U, Xs, Ys, symmetric=True)
            U = U - lr_U * gU
        gA, _, _ = _per_sample_meta_grad(A, U, U, Xs, Ys, symmetric=True)
        A = A - lr_A * gA
    return A, U


@pytest.fixture
def task_samples():
    p = Problem.random(5, 2, 3, seed=3)
    rng = np.random.default_rng(4)
    samples = [sample_task(p.M_star[t], 60, 0.3, rng=rng) for t in range(p.T)]
    Xs = [s[0] for s in samples]
    Ys = [s[1] for s in samples]
    mom = stack_moments([moments_from_samples(X, Y) for X, Y in samples])
    return p, Xs, Ys, mom


def test_single_task_loss_and_gradient_from_moments_match_the_samples(rng):
    X = rng.standard_normal((40, 4))
    Y = rng.standard_normal((40, 4))
    W = rng.standard_normal((4, 4))
    mom = moments_from_samples(X, Y)
    R = X @ W.T - Y
    assert_allclose_report(
        empirical_loss(W, mom), np.mean(np.sum(R * R, axis=1)), rtol=RTOL, name="loss"
    )
    assert_allclose_report(
        empirical_grad(W, mom), 2 * R.T @ X / 40, rtol=RTOL, atol=1e-12, name="grad"
    )


@pytest.mark.parametrize("symmetric", [True, False], ids=["UUt", "UVt"])
def test_meta_objective_and_gradients_from_moments_match_the_samples(task_samples, rng, symmetric):
    p, Xs, Ys, mom = task_samples
    A = rng.standard_normal((p.d, p.d))
    U = rng.standard_normal((p.T, p.d, p.k))
    V = U if symmetric else rng.standard_normal(U.shape)
    Vm = None if symmetric else V
    assert_allclose_report(
        meta_empirical_loss(A, U, mom, Vm),
        _per_sample_meta_loss(A, U, V, Xs, Ys),
        rtol=RTOL,
        name="L̂",
    )
    got = meta_empirical_grad(A, U, mom, Vm)
    want = _per_sample_meta_grad(A, U, V, Xs, Ys, symmetric)
    for name, g, w in zip(("∇A", "∇U", "∇V"), got, want):
        if g is not None:
            assert_allclose_report(g, w, rtol=1e-9, atol=1e-11, name=name)


def test_paper_gd_on_moments_follows_the_per_sample_trajectory(task_samples):
    p, Xs, Ys, mom = task_samples
    U0 = 0.1 * np.random.default_rng(5).standard_normal((p.T, p.d, p.k))
    kw = dict(rounds=15, u_steps=10, lr_U=0.003, lr_A=0.03)
    res = meta_lora_gd(mom, U0, **kw)
    A_ref, U_ref = _per_sample_alternating_gd(Xs, Ys, U0, **kw)
    assert_allclose_report(res.A, A_ref, rtol=1e-9, atol=1e-12, name="A after 15 rounds")
    assert_allclose_report(res.U, U_ref, rtol=1e-9, atol=1e-12, name="U after 15 rounds")
    # Broken input: the moments of all but one sample must give a visibly different path.
    short = stack_moments([moments_from_samples(X[:-1], Y[:-1]) for X, Y in zip(Xs, Ys)])
    res_short = meta_lora_gd(short, U0, **kw)
    assert np.max(np.abs(res_short.A - A_ref)) > 1e-4


def test_sampled_moments_equal_the_moments_of_the_same_samples():
    M = Problem.random(4, 1, 1, seed=0).M_test
    n = 300
    got = draw_moments(M, n, 0.2, rng=7, sampler="samples", chunk_size=n)
    X, Y = sample_task(M, n, 0.2, rng=7)  # same draw order: all of X, then all of E
    want = moments_from_samples(X, Y)
    for name in ("Sxx", "Syx", "Syy"):
        assert_allclose_report(
            getattr(got, name), getattr(want, name), rtol=1e-12, atol=1e-13, name=name
        )


def _noise_zscores(mom: Moments, M, sigma):
    """z-scores of the moments' noise parts against the law of n i.i.d. samples.

    With ``Sxx = XᵀX/n``: ``E Sxx = I``, ``Var (Sxx)_ij = (1 + δ_ij)/n``;
    ``Syx − M Sxx = σ EᵀX/n`` has mean 0 and entry variance ``σ²/n``;
    ``Syy − M Sxx Mᵀ − (cross terms)`` averages ``σ² I``.
    """
    n, d = mom.n, mom.d
    m = mom.Sxx.shape[0]
    S = mom.Sxx
    eye = np.eye(d)
    z = {}
    z["Sxx mean"] = (S.mean(0) - eye) / np.sqrt((1 + eye) / n / m)
    var = S.var(0, ddof=1)
    z["Sxx var"] = (var - (1 + eye) / n) / ((1 + eye) / n * np.sqrt(2 / m))
    noise = mom.Syx - M @ S  # σ EᵀX / n
    z["noise mean"] = noise.mean(0) / np.sqrt(sigma**2 / n / m)
    z["noise var"] = (noise.var(0, ddof=1) - sigma**2 / n) / (sigma**2 / n * np.sqrt(2 / m))
    return {k: float(np.max(np.abs(v))) for k, v in z.items()}


@pytest.mark.parametrize("sampler", ["wishart", "samples"])
def test_samplers_draw_the_law_of_iid_samples(sampler):
    d, n, sigma, m = 3, 40, 0.5, 3000
    M = Problem.random(d, 1, 1, seed=1).M_test
    mom = draw_moments(np.broadcast_to(M, (m, d, d)), n, sigma, rng=11, sampler=sampler)
    z = _noise_zscores(mom, M, sigma)
    assert max(z.values()) < 5.0, z  # 5 standard errors, ~30 statistics
    # The authors' trap (noise std σ² instead of σ) must fail the same check.
    trap = draw_moments(np.broadcast_to(M, (m, d, d)), n, sigma**2, rng=11, sampler=sampler)
    assert _noise_zscores(trap, M, sigma)["noise var"] > 20


def test_wishart_falls_back_to_samples_when_n_is_small():
    M = np.eye(4)
    mom = draw_moments(M, 3, 0.1, rng=0, sampler="wishart")  # n < 2d
    assert np.linalg.matrix_rank(mom.Sxx) == 3


def test_draws_are_reproducible_and_batched():
    M = Problem.random(3, 1, 2, seed=0).M_star
    a = draw_moments(M, 50, 0.1, rng=5)
    b = draw_moments(M, 50, 0.1, rng=5)
    assert a.Sxx.shape == (2, 3, 3) and a.batch_shape == (2,)
    assert np.array_equal(a.Syy, b.Syy)
    assert not np.array_equal(a.Sxx[0], a.Sxx[1])
    np.testing.assert_array_equal(a.Sxx, a.Sxx.swapaxes(-1, -2))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: draw_moments(np.eye(3), 10, 0.1, sampler="exact"), "sampler"),
        (lambda: draw_moments(np.eye(3), 0, 0.1), "n"),
        (lambda: draw_moments(np.eye(3), 10, -1.0), "sigma"),
        (lambda: draw_moments(np.ones(3), 10, 0.1), "M"),
        (lambda: draw_moments(np.eye(3), 10, 0.1, rng=-1), "seed"),
        (lambda: moments_from_samples(np.ones((4, 2)), np.ones((3, 2))), "X"),
        (lambda: sample_task(np.ones((2, 3, 3)), 5, 0.1), "M"),
        (lambda: stack_moments([]), "items"),
    ],
)
def test_bad_arguments_are_named(call, match):
    with pytest.raises(InvalidArgument, match=match):
        call()
