"""spurious-t3 and thm3.3 with ``census=True``: exact counts and exhaustive verdicts."""

import json
from pathlib import Path

import pytest

from landscape import Problem
from theorems import _critical
from theorems.exact_recovery import check_exact_recovery
from theorems.spurious_minima import check_spurious_minima

FIXTURE = Path(__file__).parents[1] / "landscape" / "certificates" / "spurious_d3_k1_T3.json"


def _fixture_problem():
    return Problem.from_json(json.loads(FIXTURE.read_text())["spurious_minima"][0]["problem"])


def _fake(**over):
    rec = {"complete": True, "certified": True, "exhaustive": True, "spurious": 1, "global": 1,
           "by_kind": {"global-min": 1, "spurious-min": 1, "saddle": 17}, "by_index": {}, "message": "complete"}
    rec.update(over)
    return lambda problem, seed=0: rec


def test_exhaustive_census_gives_exact_count(monkeypatch):
    p = _fixture_problem()
    monkeypatch.setattr(_critical, "census_record", _fake(spurious=2))
    r = check_spurious_minima(p, starts=0, census=True)
    assert r.status == "holds" and "exactly 2 spurious minima" in r.message


def test_incomplete_census_never_decides(monkeypatch):
    p = _fixture_problem()
    monkeypatch.setattr(_critical, "census_record", _fake(complete=False, exhaustive=False, message="3 paths failed"))
    r = check_spurious_minima(p, starts=0, census=True)
    assert r.status == "undecided" and "census incomplete" in r.message
    r = check_exact_recovery(p, starts=2, adversarial_starts=1, census=True)
    assert r.status == "holds" and "not exhaustive" in r.message


def test_uncertified_zero_loss_point_makes_thm33_undecided(monkeypatch):
    p = _fixture_problem()
    monkeypatch.setattr(_critical, "census_record", _fake(certified=False, exhaustive=False, **{"global": 2}))
    r = check_exact_recovery(p, starts=2, adversarial_starts=1, census=True)
    assert r.status == "undecided"


@pytest.mark.slow
def test_real_census_on_the_fixture_is_exhaustive(monkeypatch):
    pytest.importorskip("flint")
    p = _fixture_problem()
    rec = _critical.census_record(p, seed=0)
    assert rec["exhaustive"], rec["message"]
    monkeypatch.setattr(_critical, "census_record", lambda problem, seed=0: rec)
    r = check_spurious_minima(p, starts=0, census=True)
    assert r.status == "holds" and "exactly 1 spurious minima" in r.message
    r = check_exact_recovery(p, starts=2, adversarial_starts=1, census=True)
    assert r.status == "holds" and r.message.startswith("exhaustive")
