"""Thm 3.4: strict saddles and global minima at T = 2; failures on false inputs.

The search-based tests need ``landscape.search`` (skipped without it); the falsification
tests use given points only.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landscape import InvalidArgument, Problem, min_eigenvalue
from landscape.strategies import seeds
from theorems import Status, check_two_task_landscape


def saddle_and_minimum(p):
    # U = 0 is critical (∇G = (4/T)C_t U_t) with loss (1/T)Σ‖R_t − R̄‖² > 0 and a negative
    # curvature direction; U* is a global minimum.
    return [np.zeros_like(p.U_star), np.array(p.U_star)]


def test_given_points_hold():
    p = Problem.random(3, 1, 2, seed=0)
    r = check_two_task_landscape(p, points=saddle_and_minimum(p), starts=0)
    assert r.status is Status.HOLDS, r.summary()
    m = r.instances[0]["measured"]
    assert m["strict_saddles"] == 1 and m["global_minima"] == 1
    assert m["least_negative_saddle_eig"] < 0


def test_wrong_hessian_sign_fails():
    p = Problem.random(3, 1, 2, seed=0)

    def flipped(problem, U):
        return -min_eigenvalue(problem, U, modulo_symmetry=True).value

    r = check_two_task_landscape(p, points=saddle_and_minimum(p), starts=0, min_eig=flipped, certify=False)
    assert r.status is Status.FAILS and "SOSP with positive loss" in r.message


def test_uncertified_counterexample_is_undecided():
    """A numerical "SOSP with positive loss" (here a saddle behind a wrong λ_min) that cannot be
    certified as a minimum makes the claim undecided, never "fails", and never "holds".
    """
    pytest.importorskip("flint")
    p = Problem.random(3, 1, 2, seed=0)

    def flipped(problem, U):
        return -min_eigenvalue(problem, U, modulo_symmetry=True).value

    r = check_two_task_landscape(p, points=saddle_and_minimum(p), starts=0, min_eig=flipped)
    assert r.status is Status.UNDECIDED and "SOSP with positive loss" in r.message and "not certified" in r.message


def test_non_critical_point_fails():
    p = Problem.random(3, 1, 2, seed=0)
    r = check_two_task_landscape(p, points=[p.U_star + 0.1], starts=0)
    assert r.status is Status.FAILS and "not a critical point" in r.message


def test_T3_is_assumption_not_met():
    p = Problem.random(3, 1, 3, seed=0)
    r = check_two_task_landscape(p, points=saddle_and_minimum(p), starts=0)
    assert r.status is Status.ASSUMPTION_NOT_MET and r.ok


def test_bad_points():
    with pytest.raises(InvalidArgument, match="points"):
        check_two_task_landscape(Problem.random(3, 1, 2, seed=0), points=[np.zeros((3, 3, 1))], starts=0)


@st.composite
def two_task_problems(draw):
    k = draw(st.integers(1, 2))
    d = draw(st.integers(2 * k, 2 * k + 1))
    return Problem.random(d, k, 2, seed=draw(seeds))


@settings(max_examples=5)
@given(two_task_problems())
def test_holds_on_searched_critical_points(p):
    pytest.importorskip("landscape.search")
    r = check_two_task_landscape(p, starts=24, seed=0)
    assert r.status is Status.HOLDS, r.summary()
    assert r.instances[0]["measured"]["critical_points"] >= 1


def test_positive_loss_critical_points_are_certified_no_local_min():
    """U = 0 at T = 2 is degenerate (no strict-saddle certificate) but gets a no-local-min one."""
    pytest.importorskip("flint")
    p = Problem.random(3, 1, 2, seed=0)
    r = check_two_task_landscape(p, points=saddle_and_minimum(p), starts=0)
    cs = r.instances[0]["measured"]["no_min_certificates"]
    assert cs["certified"] == cs["of"] == 1
    assert "certified 'no local minimum'" in r.message


def test_refused_certificate_makes_the_claim_undecided(monkeypatch):
    """Could not prove is never "fails": a refusal gives UNDECIDED with the reason."""
    pytest.importorskip("flint")
    import theorems.two_task_landscape as mod

    monkeypatch.setattr(mod, "certify_one", lambda problem, U, kind: {
        "attempted": True, "issued": False, "reason": "refused: certificate refused at precision 64 bits"})
    p = Problem.random(3, 1, 2, seed=0)
    r = check_two_task_landscape(p, points=saddle_and_minimum(p), starts=0)
    assert r.status is Status.UNDECIDED and "refused at precision" in r.message


def test_dedup_modulo_Okk():
    """A point and its O(k, k) images (boosts, sign flips) are one critical set at T = 2."""
    from scipy.linalg import expm

    from theorems.two_task_landscape import distinct_critical_sets

    p = Problem.random(5, 2, 2, seed=3)
    U = np.random.default_rng(0).standard_normal(p.U_star.shape)
    X = np.zeros((4, 4))
    B = np.array([[0.3, -0.1], [0.2, 0.4]])
    X[:2, 2:], X[2:, :2] = B, B.T
    S = np.concatenate([U[0], U[1]], axis=1) @ expm(X)
    V = np.stack([S[:, :2], -S[:, 2:]])
    W = np.random.default_rng(1).standard_normal(U.shape)
    assert distinct_critical_sets([U, V, W], rho=1.0) == [[0, 1], [2]]
