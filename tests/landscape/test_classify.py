"""Classification of critical points modulo the O(k) symmetry (landscape.classify)."""

import json

import numpy as np
import pytest

from landscape import Problem, orbit_dimension
from landscape.classify import KINDS, CriticalPoint, classify_point
from landscape.errors import InvalidArgument
from landscape.multistart import problem_scale
from tests.fixtures import SPURIOUS, load_spurious


def _rotations(rng, T, k):
    out = []
    for _ in range(T):
        Q, R = np.linalg.qr(rng.standard_normal((k, k)))
        out.append(Q * np.sign(np.diag(R)))
    return np.stack(out)


@pytest.mark.parametrize("d,k,T", [(3, 1, 3), (5, 2, 2), (6, 2, 3), (7, 3, 2)])
def test_planted_truth_is_a_global_minimum_modulo_symmetry(d, k, T):
    p = Problem.random(d, k, T, seed=11)
    Q = _rotations(np.random.default_rng(0), T, k)
    U = np.einsum("tdk,tkl->tdl", p.U_star, Q)  # U*_t Q_t: same orbit
    cp = classify_point(p, U)
    assert cp.kind == "global-min"
    assert cp.expected_zero == orbit_dimension(T, k) == T * k * (k - 1) // 2
    assert cp.removed == cp.expected_zero  # full-rank U_t: every symmetry direction removed
    assert cp.index == 0
    np.testing.assert_allclose(cp.A, p.A_star, atol=1e-12 * problem_scale(p))


@pytest.mark.parametrize("d,k,T", [(3, 1, 3), (6, 2, 3), (4, 1, 3)])
def test_t3_global_minimum_is_nondegenerate(d, k, T):
    """T >= 3, Tk <= d: exact recovery (docs/math.md §5.4) — no flat directions beyond symmetry."""
    cp = classify_point(Problem.random(d, k, T, seed=2), Problem.random(d, k, T, seed=2).U_star)
    assert cp.n_zero == 0 and cp.min_eig > 0


@pytest.mark.parametrize("d,k", [(3, 1), (4, 2)])
def test_t2_global_minima_form_a_continuum(d, k):
    """T = 2 (docs/math.md §5.6): the zero set has dimension k(2k−1); minus the 2·k(k−1)/2
    symmetry directions that leaves k² zero eigenvalues modulo symmetry.
    """
    p = Problem.random(d, k, 2, seed=5)
    cp = classify_point(p, p.U_star)
    assert cp.kind == "global-min"
    assert cp.n_zero == k * k


def _index_at_zero(p):
    """Closed form at U = 0: ∇²G = (4/T) blockdiag(C_t ⊗ I_k), C_t = R̄ − R*_t."""
    Rbar = p.R_star.mean(axis=0)
    rho = problem_scale(p)
    w = np.concatenate([np.linalg.eigvalsh(Rbar - R) for R in p.R_star])
    return p.k * int(np.sum(w < -1e-8 * rho)), p.k * int(np.sum(np.abs(w) <= 1e-8 * rho))


@pytest.mark.parametrize("d,k,T", [(3, 1, 3), (5, 1, 2), (6, 2, 3), (4, 1, 2), (8, 2, 3)])
def test_zero_is_a_saddle_with_the_right_index(d, k, T):
    p = Problem.random(d, k, T, seed=7)
    cp = classify_point(p, np.zeros((T, d, k)))
    index, zeros = _index_at_zero(p)
    assert cp.kind == "saddle"
    assert cp.grad_norm == 0.0
    assert cp.removed == 0  # the orbit of U = 0 is a point
    assert (cp.index, cp.n_zero) == (index, zeros)
    if T * k <= d:  # independent columns: each R̄ − R*_t has exactly k negative eigenvalues
        assert cp.index == T * k * k


@pytest.mark.parametrize("name", SPURIOUS)
def test_frozen_spurious_minimum_is_classified_spurious(name):
    problem, point = load_spurious(name)
    cp = classify_point(problem, point.U)
    assert cp.kind == "spurious-min"
    rho = problem_scale(problem)
    assert cp.loss > 1e-5 * rho**2  # far above tol_loss = 1e-10 ρ²
    assert cp.min_eig > 1e-4 * rho  # far above tol_eig = 1e-8 ρ
    assert cp.index == 0 and cp.n_zero == 0
    assert cp.removed == cp.expected_zero
    # the stored classification agrees with a fresh one
    assert point.kind == cp.kind and point.loss == cp.loss


@pytest.mark.parametrize("name", SPURIOUS)
def test_spurious_classification_fails_on_broken_inputs(name):
    problem, point = load_spurious(name)
    rng = np.random.default_rng(0)
    moved = point.U + 1e-4 * rng.standard_normal(point.U.shape)
    assert classify_point(problem, moved).kind == "not-critical"
    other = Problem.random(problem.d, problem.k, problem.T, seed=999)
    assert classify_point(other, point.U).kind == "not-critical"
    # with a curvature threshold above its smallest eigenvalue it is no longer "PD"
    strict = classify_point(problem, point.U, tol_eig=2 * point.min_eig / problem_scale(problem))
    assert strict.kind == "degenerate"


def test_loose_gradient_tolerance_changes_the_verdict():
    p = Problem.random(3, 1, 3, seed=7)
    U = 1e-6 * np.ones((3, 3, 1))  # near the saddle U = 0, not on it
    assert classify_point(p, U).kind == "not-critical"
    assert classify_point(p, U, tol_grad=1e-3).kind == "saddle"


def test_json_round_trip_is_exact(tmp_path):
    problem, point = load_spurious("spurious_d6k2T3")
    cp = classify_point(problem, point.U).with_count(5)
    obj = json.loads(json.dumps(cp.to_json()))
    for key in ("U", "A", "U_hex", "A_hex", "loss", "grad_norm", "min_eig", "index", "kind", "count"):
        assert key in obj
    back = CriticalPoint.from_json(obj)
    assert np.array_equal(back.U, cp.U) and np.array_equal(back.A, cp.A)
    assert (back.kind, back.count, back.index, back.n_zero) == (cp.kind, 5, cp.index, cp.n_zero)
    assert back.loss == cp.loss


def test_scale_invariance_of_the_tolerances():
    """Tolerances are relative to ρ: rescaling U* by c (ρ by c²) keeps every verdict."""
    problem, point = load_spurious("spurious_d3k1T3")
    for c in (1e-3, 1e3):
        scaled = Problem(problem.A_star, c * problem.U_star, c * problem.U_test)
        cp = classify_point(scaled, c * point.U)
        assert cp.kind == "spurious-min"
        np.testing.assert_allclose(cp.loss, c**4 * point.loss, rtol=1e-9)


BAD = [
    (dict(tol_grad=0.0), "`tol_grad` must be > 0"),
    (dict(tol_eig=float("nan")), "`tol_eig` must be finite"),
    (dict(tol_loss=-1.0), "`tol_loss` must be > 0"),
]


@pytest.mark.parametrize("kwargs,match", BAD)
def test_bad_tolerances(kwargs, match):
    p = Problem.random(3, 1, 2, seed=0)
    with pytest.raises(InvalidArgument, match=match):
        classify_point(p, p.U_star, **kwargs)


def test_bad_point_and_json():
    p = Problem.random(3, 1, 2, seed=0)
    with pytest.raises(InvalidArgument, match="`U` must have shape"):
        classify_point(p, np.zeros((3, 3, 1)))
    good = classify_point(p, p.U_star).to_json()
    with pytest.raises(InvalidArgument, match="`kind` must be one of"):
        CriticalPoint.from_json({**good, "kind": "maximum"})
    broken = dict(good)
    del broken["loss"]
    with pytest.raises(InvalidArgument, match="missing field 'loss'"):
        CriticalPoint.from_json(broken)
    assert set(KINDS) == {"global-min", "spurious-min", "saddle", "degenerate", "not-critical"}
