"""verify(): deterministic JSON, timings kept apart, every claim has default instances."""

import json

import pytest

import theorems
from landscape import InvalidArgument
from theorems.verify import default_instances, problem_seed

FAST = ["thm3.1", "cor1", "t2-nonunique"]


def test_every_claim_has_claim_instances_in_both_profiles():
    for profile in ("quick", "full"):
        insts = default_instances(profile)
        for cid in theorems.claim_ids():
            assert any(i.claim == cid and i.role == "claim" for i in insts), (profile, cid)
    assert len(default_instances("full")) > len(default_instances("quick"))


def test_same_seed_same_bytes_and_timings_apart(tmp_path):
    a = theorems.verify(claims=FAST, seed=3, out=tmp_path / "a")
    b = theorems.verify(claims=FAST, seed=3, out=tmp_path / "b")
    ja, jb = (tmp_path / x / "verify.json" for x in "ab")
    assert ja.read_bytes() == jb.read_bytes()
    assert a.ok and b.ok
    data = json.loads(ja.read_text())
    assert data["format"] == "metalora.verify/1" and data["complete"] is True
    assert [c["id"] for c in data["claims"]] == FAST
    assert "seconds" not in ja.read_text()
    t = json.loads((tmp_path / "a" / "verify.timings.json").read_text())
    assert set(t["claims"]) == set(FAST) and t["total_seconds"] > 0 and t["environment"]["cpu_count"]
    md = (tmp_path / "a" / "verify.md").read_text()
    assert "| claim | statement | holds | instances | worst measured quantity | time (s) |" in md


def test_other_seed_other_instances():
    a = theorems.verify(claims=["thm3.1"], seed=0).to_json()
    b = theorems.verify(claims=["thm3.1"], seed=1).to_json()
    assert a != b


def test_report_ok_reflects_a_failure(monkeypatch):
    import theorems.sr_rank_gap as mod

    monkeypatch.setattr(mod, "sr_solution", lambda p: p.A_star + 2 * p.R_star.mean(axis=0) + 1e-3)
    r = theorems.verify(claims=["thm3.1"])
    assert not r.ok and r.results[0].holds is False


def test_problem_seeds_are_shared_across_claims():
    insts = [i for i in default_instances("quick") if (i.d, i.k, i.T) == (6, 2, 3) and i.construction == "random"]
    assert len({problem_seed(i, 0) for i in insts}) == 1 and len(insts) > 1


def test_spurious_instances_are_plain_random_and_searched():
    from theorems.verify import SPURIOUS_INSTANCES, SPURIOUS_SEARCH

    assert (6, 2, 3, 13) in SPURIOUS_INSTANCES and set(SPURIOUS_SEARCH) == set(SPURIOUS_INSTANCES)
    for profile in ("quick", "full"):
        insts = [i for i in default_instances(profile) if i.claim == "spurious-t3" and i.role == "claim"]
        assert {(i.d, i.k, i.T, i.problem_seed) for i in insts} == set(SPURIOUS_INSTANCES)
        for i in insts:
            assert i.construction == "fixed" and i.opts()["starts"] > 0
            assert i.opts()["method"] == SPURIOUS_SEARCH[(i.d, i.k, i.T, i.problem_seed)][0]


@pytest.mark.parametrize("kwargs, match", [(dict(profile="fast"), "profile"), (dict(claims=["x"]), "claim_id"),
                                           (dict(claims=[]), "claims"), (dict(seed=-1), "seed")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        theorems.verify(**kwargs)
