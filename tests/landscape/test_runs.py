"""The foundation module: statuses and exit codes, results, atomic writes, run folders, seeds."""

import json
import os

import numpy as np
import pytest

from landscape.errors import InvalidArgument
from landscape.runs import (
    ExitCode,
    Result,
    RunDir,
    Status,
    atomic_output,
    atomic_write_json,
    canonical_json,
    check_budget,
    check_output_dir,
    check_output_file,
    combine_exit_codes,
    derive_seed,
    fingerprint,
    jsonable,
    make_rng,
)


def test_every_status_has_a_documented_exit_code():
    assert {s.exit_code for s in Status} == {ExitCode.OK, ExitCode.NEGATIVE, ExitCode.UNDECIDED}
    assert Status.UNDECIDED.exit_code == 3 and Status.REFUSED.exit_code == 1
    assert str(Status.HOLDS) == "holds"


def test_combine_exit_codes_orders_negative_over_undecided():
    assert combine_exit_codes([0, 0]) == 0
    assert combine_exit_codes([0, 3]) == 3
    assert combine_exit_codes([3, 1, 0]) == 1
    assert combine_exit_codes([1, 4]) == 4


def test_result_round_trips_as_a_dict():
    r = Result(status="undecided", message="precision limit")
    doc = r.to_json()
    assert doc == {"status": "undecided", "message": "precision limit"}
    assert Result.from_json(doc) == r
    assert r.exit_code == 3 and not r.ok
    with pytest.raises(InvalidArgument):
        Result.from_json({"status": "holds", "bogus": 1})


def test_jsonable_and_fingerprint_are_deterministic():
    doc = {"b": np.float64(1.5), "a": [np.int64(2), np.inf, np.nan], "c": Status.FAILS}
    assert jsonable(doc) == {"b": 1.5, "a": [2, "inf", "nan"], "c": "fails"}
    assert canonical_json(doc) == canonical_json(dict(reversed(list(doc.items()))))
    assert fingerprint({"x": 1}) != fingerprint({"x": 1.0000001})
    with pytest.raises(TypeError):
        jsonable(np.array([1j]))


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "out.json"
    atomic_write_json(path, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_output(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left behind


def test_output_checks_happen_before_work(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InvalidArgument, match="is a folder"):
        check_output_file(tmp_path, arg="--json")
    with pytest.raises(InvalidArgument, match="does not exist"):
        check_output_file(tmp_path / "missing" / "x.json")
    with pytest.raises(InvalidArgument, match="is a file"):
        check_output_dir(tmp_path / "afile")
    assert check_output_file(tmp_path / "ok.json").name == "ok.json"
    assert check_output_dir(tmp_path / "new").is_dir()
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(InvalidArgument, match="not writable"):
            check_output_file(ro / "x.json")


def test_rundir_never_reuses_work_made_with_other_settings(tmp_path):
    run = RunDir(tmp_path / "run", kind="atlas", settings={"gd_max_iter": 100})
    run.save("instances/a.json", {"spurious": 3})
    assert RunDir(tmp_path / "run", kind="atlas", settings={"gd_max_iter": 100}).load("instances/a.json") == {"spurious": 3}
    other = RunDir(tmp_path / "run", kind="atlas", settings={"gd_max_iter": 5})
    assert other.load("instances/a.json") is None
    assert other.stale == ["instances/a.json"]
    # a stub or corrupt record is recomputed, never a KeyError
    (tmp_path / "run" / "instances" / "b.json").write_text('{"spurious": 1}')
    (tmp_path / "run" / "instances" / "c.json").write_text("{not json")
    assert other.load("instances/b.json") is None and other.load("instances/c.json") is None
    assert not other.complete
    other.mark_complete({"n": 0})
    assert other.complete
    assert not RunDir(tmp_path / "run", kind="atlas", settings={"gd_max_iter": 6}).complete


def test_seeds_are_independent_streams_and_reproducible():
    assert derive_seed(0, 1, 2) == derive_seed(0, 1, 2)
    assert len({derive_seed(0), derive_seed(0, 0), derive_seed(0, 1), derive_seed(1, 0), derive_seed(0, "a")}) == 5
    assert 0 <= derive_seed(2**40, 7) < 2**63
    a = make_rng(5, 3).standard_normal(4)
    np.testing.assert_array_equal(a, make_rng(5, 3).standard_normal(4))
    g = np.random.default_rng(0)
    assert make_rng(g) is g
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(InvalidArgument):
            derive_seed(bad)


def test_check_budget_names_the_estimate_and_the_override():
    check_budget("the search", 10, 100, unit="MB")
    with pytest.raises(InvalidArgument, match=r"about 2e\+03 MB|about 2k MB") as exc:
        check_budget("the search", 2e3, 100, unit="MB")
    assert "--force" in str(exc.value)
    check_budget("the search", 2e3, 100, unit="MB", force=True)


def test_atomic_files_get_the_usual_permissions(tmp_path):
    path = atomic_write_json(tmp_path / "x.json", {"a": 1})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_make_parent_creates_only_when_asked(tmp_path):
    with pytest.raises(InvalidArgument, match="does not exist"):
        check_output_dir(tmp_path / "results" / "run")
    assert check_output_dir(tmp_path / "results" / "run", make_parent=True).is_dir()
