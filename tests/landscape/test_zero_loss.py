"""The zero-loss search: exact Jacobian, genuine zero-loss points, the T = 2 / T >= 3 contrast."""

import numpy as np
import pytest

from landscape import InvalidArgument, Problem, meta_loss, reduced_loss
from landscape.zero_loss import _jacobian, _residual, search_zero_loss


def test_jacobian_matches_finite_differences(rng):
    T, d, k = 3, 4, 2
    U = rng.standard_normal((T, d, k))
    R = Problem.random(d, k, T, seed=3)
    J = _jacobian(U, T)
    h = 1e-6
    for j in rng.choice(U.size, 6, replace=False):
        E = np.zeros(U.size)
        E[j] = h
        fd = (_residual(U + E.reshape(U.shape), R) - _residual(U - E.reshape(U.shape), R)).ravel() / (2 * h)
        np.testing.assert_allclose(J[:, j], fd / np.sqrt(T), atol=1e-7)


def test_points_are_zero_loss_and_T3_recovers():
    p = Problem.random(5, 1, 3, seed=1)
    z = search_zero_loss(p, starts=3, adversarial_starts=1, seed=0)
    assert z.points
    for q in z.points:
        assert meta_loss(p, q.A, q.U) <= 1e-20 * z.scale**2
        assert q.distance < 1e-8 * z.scale
    # the adversary never reached zero loss away from A*
    assert all(v is None or v > 1e-6 for k, v in z.min_constrained_loss.items() if k.startswith("distance"))


def test_T2_adversary_finds_far_minima():
    p = Problem.random(4, 1, 2, seed=1)
    z = search_zero_loss(p, starts=0, adversarial_starts=1, rank_search=False, seed=0)
    far = [q for q in z.points if q.distance > 0.4 * z.scale]
    assert len(far) >= 3
    for q in far:
        assert reduced_loss(p, q.U) <= 1e-20 * z.scale**2


def test_same_seed_same_points():
    p = Problem.random(4, 1, 2, seed=2)
    a = search_zero_loss(p, starts=2, adversarial_starts=1, seed=3)
    b = search_zero_loss(p, starts=2, adversarial_starts=1, seed=3)
    assert a.to_json() == b.to_json()


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(starts=-1), "starts"), (dict(distances=(0.0,)), "distances"), (dict(adversarial_starts=1.5), "adversarial")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        search_zero_loss(Problem.random(3, 1, 2, seed=0), **kwargs)
