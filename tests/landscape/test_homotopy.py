"""The homotopy census (landscape.homotopy): tracker on toy systems, completeness checks, certificates."""

import json

import numpy as np
import pytest

pytest.importorskip("flint")

from landscape import Problem, census, reduced_grad  # noqa: E402
from landscape.errors import InvalidArgument  # noqa: E402
from landscape.homotopy import CensusResult, TrackSettings, certify_point, track  # noqa: E402
from landscape.homotopy import solve as solve_mod  # noqa: E402
from landscape.homotopy.cache import load_start, save_start  # noqa: E402
from landscape.homotopy.system import (  # noqa: E402
    F_eval,
    ParameterHomotopy,
    TotalDegreeHomotopy,
    scaled_data,
    start_orbit_points,
)
from landscape.homotopy.tracker import REACHED, diverging_trend  # noqa: E402
from landscape.multistart import problem_scale  # noqa: E402
from landscape.runs import ExitCode, Status, canonical_json  # noqa: E402
from landscape.search import search  # noqa: E402
from landscape.symmetry import orbit_distance  # noqa: E402


# -- the polynomial system -------------------------------------------------------------
@pytest.mark.parametrize("T,d,k", [(3, 3, 1), (2, 2, 2)])
def test_jacobians_match_finite_differences(T, d, k):
    rng = np.random.default_rng(0)
    n = T * d * k
    C = rng.standard_normal((T, d, d)) + 1j * rng.standard_normal((T, d, d))
    C = C + np.swapaxes(C, 1, 2)
    z = rng.standard_normal((3, n + 1)) + 1j * rng.standard_normal((3, n + 1))
    s = np.full(3, 0.3)
    h = 1e-6
    for hom in (TotalDegreeHomotopy(C, T, d, k, 0.6 + 0.8j),
                ParameterHomotopy(rng.standard_normal((T, d, k)) + 0j, rng.standard_normal((T, d, k)),
                                  1j * rng.standard_normal((T, d, k)), T, d, k)):
        _, Hz, Hs = hom(z, s)
        for j in range(n + 1):
            e = np.zeros(n + 1)
            e[j] = h
            fd = (hom(z + e, s)[0] - hom(z - e, s)[0]) / (2 * h)
            assert np.abs(Hz[:, :, j] - fd).max() < 1e-6
        fd = (hom(z, s + h)[0] - hom(z, s - h)[0]) / (2 * h)
        assert np.abs(Hs - fd).max() < 1e-6


def test_system_is_the_scaled_gradient():
    p = Problem.random(3, 1, 3, seed=1)
    rho = problem_scale(p)
    U = np.random.default_rng(2).standard_normal((3, 3, 1))
    z = np.concatenate([[1.0], U.ravel() / np.sqrt(rho)])[None]
    F, _ = F_eval(z, scaled_data(p.U_star, rho), 3, 3, 1, jac=False)
    np.testing.assert_allclose(F[0] * rho**1.5 * 4 / 3, reduced_grad(p, U).ravel(), atol=1e-12)


def test_start_orbits_cover_every_start_point():
    T, d, k = 2, 2, 1
    pts, sizes = start_orbit_points(T, d, k)
    assert sizes.sum() == 3 ** 4 and len(pts) == (1 + (3**2 - 1) // 2) ** 2
    # flipping blocks of the representatives gives every start point exactly once
    seen = set()
    for p, m in zip(pts, sizes):
        orbit = {tuple((np.array(sg)[:, None] * p.reshape(T, d * k)).ravel())
                 for sg in np.array(np.meshgrid(*([[1, -1]] * T))).reshape(T, -1).T}
        assert len(orbit) == m and not (orbit & seen)
        seen |= orbit
    assert len(seen) == 3 ** 4


# -- the tracker on toy systems with known roots --------------------------------------------
class _Toy:
    """``f_i = Π_j (x_i − r_ij x₀)`` (per coordinate), from ``g_i = x_i³ − x_i x₀²``; a root
    ``r_ij = ∞`` drops that factor's ``x_i`` (degree kept by ``x₀``) and sends a path to infinity.
    """

    def __init__(self, roots, gamma=0.3 + 0.9j):
        self.roots = roots
        self.gamma = gamma

    def f(self, z):
        x0, x = z[:, :1], z[:, 1:]
        F = np.ones_like(x)
        J = np.zeros((z.shape[0], x.shape[1], z.shape[1]), dtype=complex)
        for i, rs in enumerate(self.roots):
            facs = [(x[:, i] - r * x0[:, 0], 1.0, -r) if np.isfinite(r) else (x0[:, 0], 0.0, 1.0) for r in rs]
            val = np.prod([f for f, _, _ in facs], axis=0)
            F[:, i] = val
            for m, (_, dx, dx0) in enumerate(facs):
                rest = np.prod([f for q, (f, _, _) in enumerate(facs) if q != m], axis=0)
                J[:, i, i + 1] += dx * rest
                J[:, i, 0] += dx0 * rest
        return F, J

    def __call__(self, z, s):
        F, JF = self.f(z)
        x0, x = z[:, :1], z[:, 1:]
        g = x**3 - x * x0**2
        Jg = np.zeros_like(JF)
        idx = np.arange(x.shape[1])
        Jg[:, idx, idx + 1] = 3 * x**2 - x0**2
        Jg[:, :, 0] = -2 * x * x0
        w = (1 - s)[:, None] * self.gamma
        return w * g + s[:, None] * F, w[:, :, None] * Jg + s[:, None, None] * JF, F - self.gamma * g


def _starts(n):
    grid = np.array(np.meshgrid(*([[-1.0, 0.0, 1.0]] * n), indexing="ij")).reshape(n, -1).T
    rng = np.random.default_rng(5)
    a = rng.standard_normal(n + 1) + 1j * rng.standard_normal(n + 1)
    z = np.concatenate([np.ones((len(grid), 1)), grid], axis=1).astype(complex)
    return z / (z @ a)[:, None], a


def test_tracker_finds_every_root_of_a_toy_system():
    roots = [(0.5, -2.0, 1.5 + 1j), (3.0, -0.25, -1j)]
    z0, a = _starts(2)
    res = track(_Toy(roots), z0, a)
    assert np.all(res.status == REACHED)
    ends = res.z[:, 1:] / res.z[:, :1]
    expected = {(r1, r2) for r1 in roots[0] for r2 in roots[1]}
    for r1, r2 in expected:
        assert np.min(np.abs(ends[:, 0] - r1) + np.abs(ends[:, 1] - r2)) < 1e-9
    assert len(expected) == len(ends)


def test_tracker_sends_a_root_at_infinity_to_infinity():
    z0, a = _starts(1)
    res = track(_Toy([(2.0, -3.0, np.inf)]), z0, a)
    ratio = np.abs(res.z[:, 0]) / np.linalg.norm(res.z, axis=1)
    finite = (res.status == REACHED) & (ratio > 1e-6)
    assert finite.sum() == 2
    ends = np.sort((res.z[finite, 1] / res.z[finite, 0]).real)
    np.testing.assert_allclose(ends, [-3.0, 2.0], atol=1e-9)
    other = ~finite
    assert other.sum() == 1
    assert ratio[other][0] < 1e-6 or diverging_trend(res.checkpoints[other])[0]


def test_divergence_test_rejects_converging_checkpoints():
    # |x0| settling to a finite value (slopes decaying geometrically): not diverging
    q = 0.3 + 0.2 * 10.0 ** (-np.arange(2, 13) / 1.0)
    assert not diverging_trend(q[None, :6])[0]
    # |x0| ∝ (1 − s)^{1/3}: diverging
    q = 10.0 ** (-np.arange(2, 13) / 3.0)
    assert diverging_trend(q[None, :6])[0]


# -- the census ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small():
    p = Problem.random(2, 1, 3, seed=0)
    return p, census(p, method="total-degree", seed=0)


def test_small_census_is_complete_and_certified(small):
    p, r = small
    assert isinstance(r, CensusResult)
    assert r.complete and r.status is Status.DONE and r.exit_code == ExitCode.OK
    assert r.counts["solutions"] == 149 and r.counts["solution_orbits"] == 33
    ev = r.evidence
    assert ev["runs_agree"] and ev["all_paths_accounted"] and ev["n_runs"] == 2
    for run in ev["runs"]:
        assert run["paths"] == 3 ** 6 and run["finite"] + run["diverging"] == 3 ** 6
        assert run["failed"] == 0 and run["singular"] == 0 and run["duplicates_left"] == 0
    assert r.counts["by_kind"]["global-min"] == 1
    assert r.all_certified
    assert sum(q.orbit_size for q in r.points) == r.counts["real"]
    rho = problem_scale(p)
    for q in r.points:
        assert np.linalg.norm(reduced_grad(p, q.U)) < 1e-10 * rho**1.5
        assert q.certificate["index"] == q.index


def test_census_contains_every_critical_point_a_search_finds(small):
    p, r = small
    rho = problem_scale(p)
    found = search(p, starts=200, method="roots", seed=3)
    assert found.points
    for q in found.points:
        assert min(orbit_distance(q.U, c.U) for c in r.points) < 1e-6 * rho


def test_census_json_is_deterministic_and_round_trips(small):
    p, r = small
    again = census(p, method="total-degree", seed=0)
    assert canonical_json(r.to_json()) == canonical_json(again.to_json())
    doc = json.loads(canonical_json(r.to_json()))
    assert doc["complete"] is True and "seconds" not in doc
    back = CensusResult.from_json(doc)
    assert back.complete and len(back.points) == len(r.points)
    np.testing.assert_array_equal(back.points[0].U, r.points[0].U)


def test_a_jumped_path_is_caught(monkeypatch):
    """A path forced onto another path's end point: duplicates are found; re-tracking fixes a
    one-off jump, and a jump that persists leaves the census incomplete.
    """
    p = Problem.random(2, 1, 3, seed=0)
    real_track = solve_mod.track
    calls = {"n": 0}

    def jumping(hom, z0, a, settings=None, **kw):
        res = real_track(hom, z0, a, settings, **kw)
        calls["n"] += 1
        if calls["n"] == 1 or persist:
            ratio = np.abs(res.z[:, 0]) / np.linalg.norm(res.z, axis=1)
            fin = np.flatnonzero((res.status == REACHED) & (ratio > 1e-3))
            if fin.size >= 2:
                res.z[fin[1]] = res.z[fin[0]] * (res.z[fin[1]] @ a) / (res.z[fin[0]] @ a)
        return res

    monkeypatch.setattr(solve_mod, "track", jumping)
    persist = False
    r = census(p, method="total-degree", seed=0, runs=2, certify=False)
    assert r.evidence["runs"][0]["duplicates_found"] >= 2
    assert r.evidence["runs"][0]["retracked"] >= 2
    assert r.complete and r.counts["solutions"] == 149
    persist = True
    calls["n"] = 0
    r = census(p, method="total-degree", seed=0, runs=2, certify=False)
    assert not r.complete and r.status is Status.UNDECIDED and r.exit_code == ExitCode.UNDECIDED
    assert "duplicate" in r.message


def test_T2_is_reported_positive_dimensional():
    r = census(Problem.random(2, 1, 2, seed=0), method="total-degree", seed=0, certify=False)
    assert r.positive_dimensional and not r.complete
    assert r.status is Status.UNDECIDED and "positive-dimensional" in r.message
    assert r.evidence["max_corank"] >= 1


def test_parameter_method_uses_the_cache_and_agrees(tmp_path, small):
    p, r = small
    cold = census(p, method="parameter", seed=0, cache=tmp_path, certify=False)
    assert cold.timings["start_system_cached"] is False
    warm = census(p, method="parameter", seed=0, cache=tmp_path, certify=False)
    assert warm.timings["start_system_cached"] is True
    assert canonical_json(warm.to_json()) == canonical_json(cold.to_json())  # same bytes, cache or not
    for res in (cold, warm):
        assert res.complete and res.counts["solutions"] == r.counts["solutions"]
        assert res.counts["by_kind"] == r.counts["by_kind"]
    assert warm.evidence["generic_count"] == 149


def test_cache_ignores_corrupt_and_foreign_files(tmp_path):
    W0 = np.ones((3, 2, 1), dtype=complex)
    f = save_start(2, 1, 3, 0, W0, np.zeros((1, 6)), np.ones(1), {"count": 1, "orbits": 1}, tmp_path)
    assert load_start(2, 1, 3, 0, tmp_path)["meta"]["count"] == 1
    assert load_start(2, 1, 3, 1, tmp_path) is None  # another seed: another key
    f.write_bytes(b"not an npz")
    assert load_start(2, 1, 3, 0, tmp_path) is None


# -- certificates -------------------------------------------------------------------------
def test_certificate_kinds_and_refusal(small):
    p, r = small
    assert certify_point(p, p.U_star).kind == "global-min"
    saddle = next(q for q in r.points if q.kind == "saddle")
    c = certify_point(p, saddle.U)
    assert c.certified and c.kind == "saddle" and c.index == saddle.index
    # a point that is not critical: the Krawczyk test must fail
    bad = certify_point(p, saddle.U + 1e-3)
    assert not bad.certified and bad.kind is None


def test_certificate_refuses_k2_orbits():
    p = Problem.random(3, 2, 3, seed=0)
    c = certify_point(p, p.U_star)  # the O(2) orbit makes the Jacobian singular
    assert not c.certified


# -- bad inputs ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    ({"method": "newton"}, "method"),
    ({"seed": -1}, "seed"),
    ({"runs": 0}, "runs"),
    ({"max_paths": 10}, "paths"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        census(Problem.random(2, 1, 3, seed=0), **kwargs)


def test_problem_must_be_a_problem():
    with pytest.raises(InvalidArgument, match="problem"):
        census("p.json")


def test_tight_settings_are_tighter():
    st = TrackSettings()
    assert st.tight().h_max < st.h_max and st.tight().h_init < st.h_init
