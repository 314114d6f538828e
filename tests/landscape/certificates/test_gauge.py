"""The symmetry algebra used by the gauge slice: O(k)^T, and O(k, k) when T = 2."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st

flint = pytest.importorskip("flint")

from landscape import Problem, reduced_grad, reduced_loss  # noqa: E402
from landscape.certificates.gauge import (  # noqa: E402
    generators,
    gram_lower,
    resolve_gauge,
    tangent_float,
    tangent_int,
)
from landscape.strategies import problems  # noqa: E402


def _dense(gen, T, k):
    X = np.zeros((T * k, T * k))
    for i, j, v in gen:
        X[i, j] = v
    return X


def _act(U, M):
    T, d, k = U.shape
    big = np.concatenate(list(U), axis=1) @ M  # [U_1 … U_T] M
    return np.stack(np.split(big, T, axis=1))


@given(problems(max_d=4, max_T=4), st.integers(0, 2**32 - 1))
def test_generators_are_symmetries(p, seed):
    rng = np.random.default_rng(seed)
    U = rng.standard_normal(p.U_star.shape)
    G0 = reduced_loss(p, U)
    gens = generators(p.T, p.k)
    assert len(gens) == p.T * p.k * (p.k - 1) // 2 + (p.k * p.k if p.T == 2 else 0)
    for gen in gens:
        X = _dense(gen, p.T, p.k)
        assert np.sum(X * X) == 2
        M = scipy.linalg.expm(0.3 * X)
        assert reduced_loss(p, _act(U, M)) == pytest.approx(G0, rel=1e-9, abs=1e-12)
    # tangents are orthogonal to the gradient (invariance), at any point
    W = tangent_float(U, "slice")
    if W.shape[1]:
        g = reduced_grad(p, U).ravel()
        assert np.max(np.abs(W.T @ g)) <= 1e-9 * max(1.0, np.linalg.norm(g) * np.linalg.norm(W))


def test_hyperbolic_directions_are_not_symmetries_for_T3():
    # the O(k,k) generators are special to T = 2: for T = 3 they change G
    p = Problem.random(3, 1, 3, seed=0)
    U = np.random.default_rng(1).standard_normal(p.U_star.shape)
    X = np.zeros((3, 3))
    X[0, 1] = X[1, 0] = 1
    assert abs(reduced_loss(p, _act(U, scipy.linalg.expm(0.3 * X))) - reduced_loss(p, U)) > 1e-3


def test_gauge_resolution():
    assert resolve_gauge("auto", 1, 3) == "none"
    assert resolve_gauge("auto", 2, 3) == "slice"
    assert resolve_gauge("auto", 1, 2) == "slice"  # O(1,1) is continuous
    assert resolve_gauge("none", 3, 3) == "none"


def test_gram_lower_bound_and_rank_deficiency():
    rng = np.random.default_rng(0)
    Z = rng.integers(-1000, 1000, size=(3, 5, 2))
    W = tangent_int(Z, "slice")
    lo = float(gram_lower(W, 0))
    lam = np.linalg.eigvalsh((W.T @ W).astype(float))[0] / 2
    assert 0 < lo <= lam * (1 + 1e-12)
    # a rank-one U_t makes its rotation tangent vanish when the columns are parallel:
    Z[1, :, 1] = 3 * Z[1, :, 0]
    W2 = tangent_int(Z, "slice")
    assert W2.shape[1] == 3  # still non-zero tangent Z_t Ω, but ...
    # ... T = 2 with dependent tangents: [U_1 U_2] of rank 1 < 2k
    Z2 = np.zeros((2, 4, 1), dtype=np.int64)
    Z2[0, :, 0] = [1, 2, 3, 4]
    Z2[1, :, 0] = [2, 4, 6, 8]
    W3 = tangent_int(Z2, "slice")
    assert W3.shape[1] == 1 and float(gram_lower(W3, 0)) > 0
    assert gram_lower(np.stack([W3[:, 0], 2 * W3[:, 0]], axis=1), 0) == 0
