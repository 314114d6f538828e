"""The exact integer engines behind the certificates (exactness, and refusal when unproven)."""

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

flint = pytest.importorskip("flint")

from landscape.certify._exact import (  # noqa: E402
    OverflowRisk,
    dyadic,
    exact_combination,
    exact_products,
    int_matvec,
    small_sym_lambda_min_lower,
    split_limbs,
    sumsq_int64,
)


@given(st.integers(0, 2**32 - 1), st.sampled_from([5, 13, 20, 31]))
def test_split_limbs_round_trip(seed, beta):
    rnd = random.Random(seed)
    a = np.array([rnd.randint(-(2**200), 2**200) for _ in range(20)] + [0, -1, 1], dtype=object)
    limbs = split_limbs(a, beta)
    assert all(int(np.max(np.abs(x))) < 2**beta for x in limbs)
    rec = [sum(int(limbs[j][i]) << (beta * j) for j in range(len(limbs))) for i in range(a.size)]
    assert rec == [int(x) for x in a]


@given(st.integers(0, 2**32 - 1))
def test_exact_products_equal_integer_products(seed):
    rng = np.random.default_rng(seed)
    A = rng.integers(-(2**60), 2**60, size=(17, 33))
    B = rng.integers(-(2**60), 2**60, size=(33, 9))
    rec = sum(P.astype(np.int64).astype(object) * (1 << e) for e, P in exact_products(A, B))
    assert (rec == A.astype(object) @ B.astype(object)).all()


def test_exact_combination_is_exact_and_refuses_overflow():
    rng = np.random.default_rng(0)
    M1 = rng.integers(-(2**50), 2**50, size=(20, 20))
    M2 = 4 * M1 + rng.integers(-1000, 1000, size=(20, 20))
    R = exact_combination([(2, M1, +1), (0, M2, -1)])
    assert (R.astype(object) == 4 * M1.astype(object) - M2.astype(object)).all()
    # a result near 2^62 cannot be proven to fit: refused, never wrapped silently
    with pytest.raises(OverflowRisk):
        exact_combination([(12, M1, +1), (0, M2, -1)])


def test_sumsq_and_matvec_exact():
    rng = np.random.default_rng(1)
    x = rng.integers(-(2**61), 2**61, size=3000)
    assert sumsq_int64(x) == sum(int(v) ** 2 for v in x)
    v = [random.Random(2).randint(-(2**150), 2**150) for _ in range(40)]
    M = rng.integers(-(2**56), 2**56, size=(25, 40))
    assert int_matvec(M, v) == list(M.astype(object) @ np.array(v, dtype=object))


def test_dyadic_is_exact():
    x = np.array([0.1, -3.5e-20, 7.0, 0.0, 2.0**-1074])
    q, (Z,) = dyadic(x)
    from fractions import Fraction

    assert [Fraction(int(z), 2**q) for z in Z] == [Fraction(v) for v in x]


@given(st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_small_lambda_lower_is_a_lower_bound(seed, k):
    rng = np.random.default_rng(seed)
    B = rng.integers(-50, 50, size=(k, k))
    M = B @ B.T + np.eye(k, dtype=np.int64)
    lo = small_sym_lambda_min_lower(M)
    lam = np.linalg.eigvalsh(M.astype(float))[0]
    assert float(lo) <= lam * (1 + 1e-12)
    assert float(lo) > 0  # a positive definite integer matrix is proven positive


def test_small_lambda_lower_fails_on_singular():
    assert small_sym_lambda_min_lower([[1, 1], [1, 1]]) <= 0
    assert small_sym_lambda_min_lower([[1, 2], [2, 1]]) <= 0  # indefinite
