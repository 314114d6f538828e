"""ClaimResult: status/holds consistency, fixed JSON schema, determinism helpers."""

import json

import numpy as np
import pytest

from theorems.result import ClaimResult, Status, jsonable

KEYS = {"id", "statement", "holds", "status", "message", "worst", "measured", "tolerance",
        "tolerance_reason", "instances"}


def make(status, holds, **kw):
    return ClaimResult(id="thm3.1", statement="s", holds=holds, status=status, message="m", **kw)


@pytest.mark.parametrize(
    "status, holds",
    [(Status.HOLDS, True), (Status.FAILS, False), (Status.ASSUMPTION_NOT_MET, None), (Status.UNAVAILABLE, None)],
)
def test_status_and_holds_agree(status, holds):
    r = make(status, holds)
    assert r.holds is holds
    assert r.ok is (status in (Status.HOLDS, Status.ASSUMPTION_NOT_MET))


@pytest.mark.parametrize(
    "status, holds",
    [(Status.HOLDS, False), (Status.FAILS, True), (Status.ASSUMPTION_NOT_MET, False), (Status.HOLDS, None)],
)
def test_inconsistent_holds_is_refused(status, holds):
    with pytest.raises(ValueError, match="holds"):
        make(status, holds)


def test_json_has_fixed_keys_and_no_timing():
    r = make(Status.HOLDS, True, measured={"x": np.float64(1.5), "v": np.arange(3)}, seconds=3.25)
    out = r.to_json()
    assert set(out) == KEYS
    assert out["measured"] == {"x": 1.5, "v": [0, 1, 2]}
    assert "seconds" not in json.dumps(out)
    assert r.to_json(timing=True)["seconds"] == 3.25
    back = ClaimResult.from_json(r.to_json(timing=True))
    assert back == r and back.seconds == 3.25


def test_jsonable_non_finite_and_enums():
    assert jsonable([np.inf, -np.inf, np.nan, Status.FAILS, (1, np.int64(2)), np.bool_(True)]) == [
        "inf", "-inf", "nan", "fails", [1, 2], True]
    with pytest.raises(TypeError):
        jsonable(object())


def test_status_string():
    assert str(Status.ASSUMPTION_NOT_MET) == "assumption-not-met"
