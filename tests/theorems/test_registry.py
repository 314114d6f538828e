"""The registry: exact claim ids, dispatch, argument validation."""

import pytest

import theorems
from landscape import InvalidArgument, Problem

IDS = ("thm3.1", "cor1", "thm3.2", "cor2", "thm3.3", "cor3", "thm3.4", "t2-nonunique", "spurious-t3")


def test_claim_ids_are_exactly_the_json_ids():
    assert theorems.claim_ids() == IDS
    for cid in IDS:
        c = theorems.get_claim(cid)
        assert c.id == cid and c.statement and c.labels and c.hypothesis and c.tolerance_reason


def test_check_dispatches_and_passes_options():
    p = Problem.random(6, 1, 3, seed=0)
    r = theorems.check("thm3.1", p, finite_sample=False)
    assert r.id == "thm3.1" and r.holds
    r = theorems.check("cor1", p, A_sr=p.A_star)
    assert r.holds is False


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("thm9", Problem.random(3, 1, 2, seed=0)), {}, "claim_id"),
        (("thm3.1", "not a problem"), {}, "problem"),
        (("thm3.1", Problem.random(3, 1, 2, seed=0)), {"bogus": 1}, "unknown option"),
    ],
)
def test_bad_arguments(args, kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        theorems.check(*args, **kwargs)


@pytest.mark.parametrize("claim_id", ["thm3.1", "thm3.3", "spurious-t3"])
def test_badly_scaled_input_is_undecided_not_a_verdict(claim_id):
    from landscape import Problem

    p = Problem.random(4, 1, 3, seed=0, base_scale=1e200)
    r = theorems.check(claim_id, p)
    assert r.status == "undecided" and r.holds is None and r.exit_code == 3
    assert "badly scaled" in r.message
