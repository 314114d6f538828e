"""Multi-start search, de-duplication, descent methods, root finder (landscape.search & co)."""

import json

import numpy as np
import pytest

from landscape import Problem, orbit_distance
from landscape.classify import classify_point
from landscape.dedup import group_points, merge_points
from landscape.descent import gradient_descent, perturbed_gradient_descent
from landscape.errors import InvalidArgument
from landscape.multistart import problem_scale, random_starts
from landscape.roots import find_roots
from landscape.search import find_spurious_minimum, load_points, save_point, search
from tests.fixtures import load_spurious


def _rotate(U, rng):
    out = U.copy()
    for t in range(U.shape[0]):
        Q, _ = np.linalg.qr(rng.standard_normal((U.shape[2], U.shape[2])))
        out[t] = U[t] @ Q
    return out


# -- the T = 3 spurious minimum -------------------------------------------------------
def test_roots_find_the_t3_spurious_minimum_of_the_default_instance():
    """docs/math.md §5.7 with the paper's recipe: d=3, k=1, T=3, problem seed 17."""
    problem, frozen = load_spurious("spurious_d3k1T3")
    assert problem == Problem.random(3, 1, 3, seed=17)
    res = search(problem, starts=500, method="roots", seed=0)
    spurious = res.of_kind("spurious-min")
    assert len(spurious) == 1
    assert orbit_distance(spurious[0].U, frozen.U) < 1e-9 * problem_scale(problem)
    assert res.summary["by_kind"]["spurious-min"] == spurious[0].count > 0
    assert res.summary["by_kind"]["saddle"] > 0  # roots find saddles too
    assert res.of_kind("global-min")


@pytest.mark.parametrize("method", ["sosp", "gd", "pgd"])
def test_descent_and_sosp_also_land_there(method):
    problem, frozen = load_spurious("spurious_d3k1T3")
    opts = {"max_iter": 6000, "step": 0.3} if method in ("gd", "pgd") else {}
    res = search(problem, starts=48, method=method, seed=0, **opts)
    kinds = {p.kind for p in res.points}
    assert kinds <= {"global-min", "spurious-min"}, res
    assert res.summary["by_kind"]["spurious-min"] > 0
    assert res.summary["polish_shift"] < 1e-3


def test_find_spurious_minimum_finds_it_and_returns_none_at_t2():
    problem, frozen = load_spurious("spurious_d3k1T3")
    cp = find_spurious_minimum(problem, starts=300, seed=0)
    assert cp is not None and cp.kind == "spurious-min"
    assert orbit_distance(cp.U, frozen.U) < 1e-9 * problem_scale(problem)
    assert find_spurious_minimum(Problem.random(3, 1, 2, seed=17), starts=200, seed=0) is None


def test_spurious_minimum_exists_at_d6_k2_t3():
    """(6, 2, 3): found by the SOSP method on problem seed 13 (roots: rarely)."""
    problem, frozen = load_spurious("spurious_d6k2T3")
    assert problem == Problem.random(6, 2, 3, seed=13)
    cp = find_spurious_minimum(problem, starts=300, seed=1, methods="sosp")
    assert cp is not None
    assert orbit_distance(cp.U, frozen.U) < 1e-8 * problem_scale(problem)


# -- T = 2: no spurious minima -------------------------------------------------------------
@pytest.mark.parametrize("d,k,seed", [(3, 1, 0), (4, 1, 3), (4, 2, 1), (6, 2, 2)])
@pytest.mark.parametrize("method", ["sosp", "roots"])
def test_t2_instances_have_no_spurious_minima(d, k, seed, method):
    res = search(Problem.random(d, k, 2, seed=seed), starts=64, method=method, seed=seed)
    assert res.summary["by_kind"]["spurious-min"] == 0
    assert res.summary["by_kind"]["degenerate"] == 0
    if method == "sosp":
        assert res.summary["by_kind"]["global-min"] == 64
    else:
        assert {p.kind for p in res.points} <= {"global-min", "saddle"}


# -- descent: GD stays at saddles, PGD escapes ---------------------------------------
def test_gd_stays_at_the_saddle_and_pgd_leaves_it():
    p = Problem.random(3, 1, 3, seed=4)
    zero = np.zeros((2, 3, 3, 1))
    gd = search(p, starts=zero, method="gd", max_iter=200)
    assert [pt.kind for pt in gd.points] == ["saddle"] and gd.points[0].count == 2
    pgd = search(p, starts=zero, method="pgd", seed=0, max_iter=20000, step=0.3)
    assert {pt.kind for pt in pgd.points} <= {"global-min", "spurious-min"}
    assert pgd.summary["solver_options"]["perturbations"] >= 2


def test_gd_converges_on_a_planted_instance_and_reports_its_guard():
    p = Problem.random(4, 1, 2, seed=8)
    r = gradient_descent(p, random_starts(p, 16, seed=0), step=0.3, max_iter=20000)
    assert r.converged.all()
    assert r.options["guard_fired"] == 0
    rho = problem_scale(p)
    assert r.loss.max() < 1e-8 * rho**2
    # a step far too large triggers the guard (and is reported) instead of diverging
    big = gradient_descent(p, random_starts(p, 4, seed=0), step=50.0, max_iter=300)
    assert big.options["guard_fired"] > 0
    assert np.isfinite(big.loss).all()


def test_pgd_is_reproducible():
    p = Problem.random(3, 1, 3, seed=4)
    a = perturbed_gradient_descent(p, np.zeros((2, 3, 3, 1)), seed=3, max_iter=3000, step=0.3)
    b = perturbed_gradient_descent(p, np.zeros((2, 3, 3, 1)), seed=3, max_iter=3000, step=0.3)
    np.testing.assert_array_equal(a.U, b.U)


# -- roots --------------------------------------------------------------------------------
def test_roots_converge_to_exact_critical_points():
    p = Problem.random(4, 2, 3, seed=1)
    r = find_roots(p, random_starts(p, 32, seed=0))
    assert r.converged.sum() >= 8
    for U in r.U[r.converged][:8]:
        assert classify_point(p, U).kind != "not-critical"


# -- de-duplication modulo symmetry --------------------------------------------------------
def test_dedup_merges_rotated_copies_and_counts_them():
    p = Problem.random(5, 2, 3, seed=0)
    rng = np.random.default_rng(1)
    A, B = p.U_star, random_starts(p, 1, seed=3)[0]
    stack = np.stack([A, _rotate(A, rng), B, _rotate(A, rng), _rotate(B, rng), -A])
    g = group_points(p, stack)
    assert len(g.representatives) == 2
    assert list(g.labels) == [0, 0, 1, 0, 1, 0]
    assert list(g.counts) == [4, 2]


def test_dedup_keeps_distinct_points_apart():
    p = Problem.random(5, 2, 3, seed=0)
    rho = problem_scale(p)
    moved = p.U_star + 1e-3 * np.sqrt(rho) * np.random.default_rng(0).standard_normal(p.U_star.shape)
    g = group_points(p, np.stack([p.U_star, moved]))
    assert len(g.representatives) == 2
    # ...unless the threshold is made coarse enough
    assert len(group_points(p, np.stack([p.U_star, moved]), tol=1e-1).representatives) == 1


def test_search_merges_symmetric_starts_into_one_point():
    """Starts U*_t Q_t (k = 2): all end at the same orbit, reported once with its count."""
    p = Problem.random(5, 2, 3, seed=0)
    rng = np.random.default_rng(2)
    starts = np.stack([_rotate(p.U_star, rng) for _ in range(6)])
    res = search(p, starts=starts, method="sosp")
    assert len(res.points) == 1 and res.points[0].count == 6 and res.points[0].kind == "global-min"


def test_merge_points_sums_counts():
    problem, point = load_spurious("spurious_d6k2T3")
    rot = classify_point(problem, _rotate(point.U, np.random.default_rng(0))).with_count(3)
    merged = merge_points(problem, [point.with_count(2), rot])
    assert len(merged) == 1 and merged[0].count == 5


# -- results and files ------------------------------------------------------------------
def test_search_json_and_load_points_round_trip(tmp_path):
    problem, _ = load_spurious("spurious_d3k1T3")
    res = search(problem, starts=64, method="roots", seed=0)
    path = res.save(tmp_path / "s.json")
    obj = json.loads(path.read_text())
    assert obj["summary"]["starts"] == 64
    assert Problem.from_json(obj["problem"]) == problem
    for pt in obj["points"]:
        for key in ("U", "A", "loss", "grad_norm", "min_eig", "index", "kind", "count"):
            assert key in pt
    loaded = load_points(path)
    assert [p.kind for p in loaded] == [p.kind for p in res.points]
    assert all(np.array_equal(a.U, b.U) for a, b in zip(loaded, res.points))
    assert Problem.load(path) == problem  # the embedded problem is loadable as a problem file
    # a single point file and a bare .npy stack
    one = save_point(res.points[0], tmp_path / "p.json")
    assert load_points(one)[0].kind == res.points[0].kind
    np.save(tmp_path / "u.npy", np.stack([p.U for p in res.points]))
    again = load_points(tmp_path / "u.npy", problem)
    assert [p.kind for p in again] == [p.kind for p in res.points]


def test_same_seed_same_result():
    p = Problem.random(3, 1, 3, seed=2)
    a = search(p, starts=32, method="sosp", seed=5)
    b = search(p, starts=32, method="sosp", seed=5)
    assert a.summary["by_kind"] == b.summary["by_kind"]
    assert all(np.array_equal(x.U, y.U) for x, y in zip(a.points, b.points))


def test_full_objective_search_agrees_with_reduced():
    problem, _ = load_spurious("spurious_d3k1T3")
    a = search(problem, starts=24, method="sosp", seed=1)
    b = search(problem, starts=24, method="sosp", seed=1, objective="full")
    assert {p.kind for p in b.points} <= {"global-min", "spurious-min"}
    assert a.summary["distinct_by_kind"] == b.summary["distinct_by_kind"]


def test_bad_search_arguments(tmp_path):
    p = Problem.random(3, 1, 2, seed=0)
    with pytest.raises(InvalidArgument, match="`method` must be one of"):
        search(p, method="newton")
    with pytest.raises(InvalidArgument, match="`starts` must be an integer in"):
        search(p, starts=0)
    with pytest.raises(InvalidArgument, match="`starts` must have shape"):
        search(p, starts=np.zeros((2, 3)))
    np.save(tmp_path / "u.npy", p.U_star)
    with pytest.raises(InvalidArgument, match="pass `problem`"):
        load_points(tmp_path / "u.npy")
    with pytest.raises(InvalidArgument, match="existing points file"):
        load_points(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InvalidArgument, match="expected a search result"):
        load_points(tmp_path / "x.json")
    other = Problem.random(4, 1, 2, seed=0)
    res = search(p, starts=4, seed=0)
    path = res.save(tmp_path / "r.json")
    with pytest.raises(InvalidArgument, match="the problem needs"):
        load_points(path, other)


def test_search_json_is_byte_identical_for_the_same_seed_and_timings_live_apart(tmp_path):
    from landscape.search import timings_path

    p = Problem.random(3, 1, 3, seed=2)
    for name in ("a.json", "b.json"):
        search(p, starts=16, method="pgd", seed=5, max_iter=200).save(tmp_path / name)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    text = (tmp_path / "a.json").read_text()
    assert "seconds" not in text
    t = json.loads(timings_path(tmp_path / "a.json").read_text())
    assert t["seconds"] > 0 and t["solver_seconds"] > 0
    assert timings_path(tmp_path / "a.json").name == "a.timings.json"
    # the timing is still there for whoever asks
    assert "timings" in search(p, starts=2, seed=0).to_json(timing=True)
