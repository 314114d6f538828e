"""The census on the frozen T = 3 spurious-minimum fixture: the spurious minimum is there, certified."""

import json
from pathlib import Path

import pytest

pytest.importorskip("flint")

from landscape import Problem, census  # noqa: E402
from landscape.multistart import problem_scale  # noqa: E402
from landscape.problem import _from_hex  # noqa: E402
from landscape.symmetry import orbit_distance  # noqa: E402

FIXTURE = Path(__file__).parent / "certificates" / "spurious_d3_k1_T3.json"


@pytest.mark.slow
def test_frozen_spurious_minimum_appears_in_the_census():
    entry = json.loads(FIXTURE.read_text())["spurious_minima"][0]
    p = Problem.from_json(entry["problem"])
    U = _from_hex(entry["U"]).reshape(p.T, p.d, p.k)
    r = census(p, method="total-degree", seed=0)
    assert r.complete, r.message
    assert r.counts["solutions"] == 1095 and r.counts["real"] == 91 and r.counts["real_orbits"] == 19
    sp = r.of_kind("spurious-min")
    assert len(sp) == 1 and sp[0].certified and sp[0].certificate["kind"] == "spurious-min"
    assert orbit_distance(sp[0].U, U) < 1e-6 * problem_scale(p)
    assert r.all_certified
    assert r.counts["by_index"] == {"0": 2, "1": 2, "2": 5, "3": 7, "4": 3}
