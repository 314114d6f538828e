"""spurious-t3: confirmed spurious minima; given points that are not spurious minima fail."""

import numpy as np
import pytest
from hypothesis import given, settings

from landscape import Problem
from landscape.strategies import seeds
from theorems import Status, check_spurious_minima
from theorems.verify import SPURIOUS_INSTANCES, SPURIOUS_SEARCH


def test_global_minimum_passed_as_spurious_fails():
    p = Problem.random(3, 1, 3, seed=0)
    r = check_spurious_minima(p, points=[np.array(p.U_star)], starts=0, certify=False)
    assert r.status is Status.FAILS and "zero-loss" in r.message


def test_saddle_passed_as_spurious_fails():
    p = Problem.random(3, 1, 3, seed=0)
    r = check_spurious_minima(p, points=[np.zeros_like(p.U_star)], starts=0, certify=False)
    assert r.status is Status.FAILS and "not a minimum" in r.message


def test_T2_is_assumption_not_met():
    p = Problem.random(3, 1, 2, seed=0)
    r = check_spurious_minima(p, points=[np.array(p.U_star)], starts=0, certify=False)
    assert r.status is Status.ASSUMPTION_NOT_MET


def test_nothing_found_fails():
    p = Problem.random(3, 1, 3, seed=0)
    r = check_spurious_minima(p, points=[], starts=0, certify=False)
    assert r.status in (Status.UNDECIDED, Status.UNAVAILABLE)  # not finding one refutes nothing


@pytest.fixture(scope="module")
def spurious():
    pytest.importorskip("landscape.search")
    d, k, T, ps = SPURIOUS_INSTANCES[0]
    p = Problem.random(d, k, T, seed=ps)
    return p, check_spurious_minima(p, starts=256, seed=0, certify=False)


def test_default_instance_has_spurious_minimum(spurious):
    p, r = spurious
    assert r.status is Status.HOLDS, r.summary()
    m = r.instances[0]["measured"]["spurious_minima"][0]
    assert m["loss"] > 0 and m["min_eig"] > 0 and m["critical"]


def test_found_minimum_passes_as_given_point_and_wrong_sign_fails(spurious):
    p, r = spurious
    U = np.array(r.instances[0]["measured"]["spurious_minima"][0]["U"])
    assert check_spurious_minima(p, points=[U], starts=0, certify=False).holds
    flipped = check_spurious_minima(p, points=[U], starts=0, certify=False,
                                    min_eig=lambda problem, V: -1.0)
    assert flipped.status is Status.FAILS


def test_certified(spurious):
    pytest.importorskip("flint")
    pytest.importorskip("landscape.certify")
    p, r = spurious
    U = np.array(r.instances[0]["measured"]["spurious_minima"][0]["U"])
    c = check_spurious_minima(p, points=[U], starts=0, certify=True)
    assert c.status is Status.HOLDS, c.summary()
    assert c.instances[0]["measured"]["n_certified"] == 1


@pytest.mark.parametrize("inst", [i for i in SPURIOUS_INSTANCES if SPURIOUS_SEARCH[i][0] == "sosp"])
def test_plain_random_instance_found_by_search_and_certified(inst):
    """(6, 2, 3, seed 13): the quick profile's search (method, starts, check seed of --seed 0)
    finds the spurious minimum at run time; it is certified, and it is no minimum of another
    instance (the check fails there).
    """
    pytest.importorskip("landscape.search")
    pytest.importorskip("flint")
    pytest.importorskip("landscape.certify")
    d, k, T, ps = inst
    method, starts, _ = SPURIOUS_SEARCH[inst]
    p = Problem.random(d, k, T, seed=ps)
    r = check_spurious_minima(p, starts=starts, method=method, seed=ps, max_certify=1)
    m = r.instances[0]["measured"]
    assert r.status is Status.HOLDS, r.summary()
    assert m["n_certified"] == 1 and m["search"]["method"] == method
    U = np.array(m["spurious_minima"][0]["U"])
    other = check_spurious_minima(Problem.random(d, k, T, seed=ps + 1), points=[U], starts=0, certify=False)
    assert other.status is Status.FAILS and "not a critical point" in other.message


@settings(max_examples=4)
@given(seeds)
def test_whatever_is_reported_as_spurious_is_certified(seed):
    pytest.importorskip("landscape.search")
    pytest.importorskip("flint")
    p = Problem.random(3, 1, 3, seed=seed)
    r = check_spurious_minima(p, starts=64, seed=0)
    m = r.instances[0]["measured"]
    assert r.status in (Status.HOLDS, Status.UNDECIDED)  # never "fails" for want of a find or a proof
    if r.status is Status.HOLDS:
        assert m["n_certified"] >= 1
        for s in m["spurious_minima"]:
            assert s["loss"] > 0 and s["min_eig"] > 0 and s["critical"]
    else:
        assert m["n_spurious"] == 0 or m["n_certified"] == 0


def test_refused_certificate_is_undecided_not_fails(spurious, monkeypatch):
    """A numerical spurious minimum whose certificate is refused leaves the claim undecided."""
    pytest.importorskip("flint")
    import theorems.spurious_minima as mod

    p, r = spurious
    U = np.array(r.instances[0]["measured"]["spurious_minima"][0]["U"])
    monkeypatch.setattr(mod, "certify_one", lambda problem, U, kind: {
        "attempted": True, "issued": False, "reason": "refused: certificate refused at precision 2048 bits"})
    c = mod.check_spurious_minima(p, points=[U], starts=0, certify=True)
    assert c.status is Status.UNDECIDED and "refused at precision" in c.message
