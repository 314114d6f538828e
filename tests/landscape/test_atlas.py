"""Atlas over (d, k, T): aggregates, files, resuming, parallel backends (landscape.atlas)."""

import importlib
import json

import numpy as np
import pytest

from landscape.atlas import atlas, atlas_tasks
from landscape.errors import InvalidArgument

atlas_module = importlib.import_module("landscape.atlas")  # `landscape.atlas` is the function

SMALL = dict(d=3, k=1, T=[2, 3], instances=2, starts=12, methods=("sosp", "roots"), seed=0)


def _cells(res):
    """The cells without their timings (everything else must match exactly)."""
    cells = json.loads(json.dumps(res.cells))
    for c in cells:
        for m in c["methods"].values():
            m.pop("seconds")
    return cells


@pytest.fixture(scope="module")
def reference():
    return atlas(**SMALL, jobs=1, backend="threading")


def test_t2_cells_have_no_spurious_minima(reference):
    cells = {c["T"]: c for c in reference.cells}
    assert set(cells) == {2, 3}
    assert cells[2]["instances_with_spurious"] == 0
    for m in SMALL["methods"]:
        assert cells[2]["methods"][m]["spurious_starts"] == 0
        assert cells[2]["methods"][m]["starts"] == SMALL["instances"] * SMALL["starts"]
    assert cells[2]["methods"]["sosp"]["global_fraction"] == 1.0


def test_a_cell_with_a_known_spurious_instance_reports_it():
    """Seeds are derived per cell; hunt with many starts on (3, 1, 3) until one appears."""
    res = atlas(d=3, k=1, T=3, instances=8, starts=200, methods=("roots",), seed=3, backend="threading")
    (cell,) = res.cells
    found = [r for r in res.records if r["has_spurious"]]
    assert cell["instances_with_spurious"] == len(found)
    assert cell["methods"]["roots"]["spurious_starts"] == sum(
        r["methods"]["roots"]["by_kind"]["spurious-min"] for r in res.records
    )
    for r in found:  # every reported spurious point re-classifies as spurious
        from landscape import Problem, classify_point
        from landscape.classify import CriticalPoint

        p = Problem.random(3, 1, 3, seed=r["problem_seed"])
        for pt in r["spurious_points"]:
            assert classify_point(p, CriticalPoint.from_json(pt).U).kind == "spurious-min"


def test_outputs_are_written(tmp_path, reference):
    res = atlas(**SMALL, out=tmp_path, backend="threading")
    assert _cells(res) == _cells(reference)
    for name in ("atlas.json", "atlas.csv", "atlas.md", "atlas.png"):
        assert (tmp_path / name).stat().st_size > 0
    doc = json.loads((tmp_path / "atlas.json").read_text())
    assert doc["complete"] is True and doc["settings"]["starts"] == SMALL["starts"]
    assert len(list((tmp_path / "instances").glob("*.json"))) == 4
    csv = (tmp_path / "atlas.csv").read_text().splitlines()
    assert csv[0].startswith("d,k,T,method") and len(csv) == 1 + 2 * len(SMALL["methods"])
    assert "| 3 | 1 | 2 |" in (tmp_path / "atlas.md").read_text()
    assert (tmp_path / "atlas.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resuming_an_interrupted_atlas_loses_nothing(tmp_path, reference, monkeypatch):
    calls = []
    real = atlas_module.run_instance

    def flaky(task):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user presses Ctrl-C during the third instance
        calls.append(task["instance"])
        return real(task)

    monkeypatch.setattr(atlas_module, "run_instance", flaky)
    with pytest.raises(KeyboardInterrupt):
        atlas(**SMALL, out=tmp_path, jobs=1, backend="threading")
    saved = sorted(p.name for p in (tmp_path / "instances").glob("*.json"))
    assert len(saved) == 2  # finished instances were saved atomically...
    assert not list(tmp_path.rglob("*.tmp"))  # ...and no torn temporary file is left
    assert json.loads((tmp_path / "atlas.json").read_text())["complete"] is False

    done = []
    monkeypatch.setattr(atlas_module, "run_instance", lambda t: done.append(t) or real(t))
    res = atlas(**SMALL, out=tmp_path, jobs=1, backend="threading")
    assert len(done) == 2  # only the missing instances ran
    assert _cells(res) == _cells(reference)  # identical to an uninterrupted run
    # a third run recomputes nothing
    done.clear()
    atlas(**SMALL, out=tmp_path, jobs=1, backend="threading")
    assert done == []


def test_resume_refuses_different_settings(tmp_path):
    atlas(**{**SMALL, "T": 2, "instances": 1}, out=tmp_path, backend="threading")
    with pytest.raises(InvalidArgument, match="different settings"):
        atlas(**{**SMALL, "T": 2, "instances": 1, "starts": 13}, out=tmp_path, backend="threading")


def test_results_do_not_depend_on_the_grid_or_the_backend(reference):
    alone = atlas(**{**SMALL, "T": 3}, backend="loky", jobs=2)
    assert _cells(alone)[0] == _cells(reference)[1]


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_atlas(reference):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        res = atlas(**SMALL, backend="dask", jobs=2)
    assert _cells(res) == _cells(reference)


def test_task_seeds_are_stable_and_distinct():
    a = atlas_tasks([3], [1], [2, 3], instances=3, starts=4, methods=["sosp"], seed=0, options={})
    b = atlas_tasks([3], [1], [3], instances=3, starts=4, methods=["sosp"], seed=0, options={})
    assert [t["problem_seed"] for t in a[3:]] == [t["problem_seed"] for t in b]
    seeds = [t["problem_seed"] for t in a]
    assert len(set(seeds)) == len(seeds)
    assert atlas_tasks([2], [3], [2], instances=1, starts=1, methods=["sosp"], seed=0, options={}) == []


BAD = [
    (dict(instances=0), "`instances` must be an integer in"),
    (dict(methods=("sosp", "adam")), "`methods` must be a non-empty subset"),
    (dict(backend="spark"), "`backend` must be one of"),
    (dict(d=[]), "`d` must list at least one value"),
    (dict(d=2, k=3), "the grid is empty"),
    (dict(jobs=0), "`jobs` must be a positive integer or -1"),
]


@pytest.mark.parametrize("kwargs,match", BAD)
def test_bad_arguments(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        atlas(**{**SMALL, **kwargs})


def test_heatmap_without_saving(reference):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = reference.heatmap()
    assert len(fig.axes) == len(SMALL["methods"]) + 1  # panels + colour bar
    plt.close(fig)
    assert np.isclose(sum(r["spurious_fraction"] >= 0 for r in reference.rows()), 4)
