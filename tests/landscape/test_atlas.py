"""Atlas over (d, k, T): aggregates, files, resuming, parallel backends (landscape.atlas)."""

import importlib
import json
import os

import numpy as np
import pytest

from landscape.atlas import atlas, atlas_tasks
from landscape.errors import InvalidArgument

atlas_module = importlib.import_module("landscape.atlas")  # `landscape.atlas` is the function

SMALL = dict(d=3, k=1, T=[2, 3], instances=2, starts=12, methods=("sosp", "roots"), seed=0)


def _cells(res):
    """The cells (no timings in them: they must match exactly)."""
    return json.loads(json.dumps(res.cells))


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
    assert doc["settings"]["starts"] == SMALL["starts"] and "seconds" not in json.dumps(doc)
    assert json.loads((tmp_path / "manifest.json").read_text())["complete"] is True
    assert json.loads((tmp_path / "atlas.timings.json").read_text())["seconds"] > 0
    assert len(list((tmp_path / "instances").glob("*.json"))) == 4
    csv = (tmp_path / "atlas.csv").read_text().splitlines()
    assert csv[0].startswith("d,k,T,method") and len(csv) == 1 + 2 * len(SMALL["methods"])
    assert "| 3 | 1 | 2 |" in (tmp_path / "atlas.md").read_text()
    assert (tmp_path / "atlas.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resuming_an_interrupted_atlas_loses_nothing(tmp_path, reference, monkeypatch):
    calls = []
    real = atlas_module.run_instance

    def flaky(task, *args):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user presses Ctrl-C during the third instance
        calls.append(task["instance"])
        return real(task, *args)

    monkeypatch.setattr(atlas_module, "run_instance", flaky)
    with pytest.raises(KeyboardInterrupt):
        atlas(**SMALL, out=tmp_path, jobs=1, backend="threading")
    saved = sorted(p.name for p in (tmp_path / "instances").glob("*.json"))
    assert len(saved) == 2  # finished instances were saved atomically...
    assert not list(tmp_path.rglob("*.tmp*"))  # ...and no torn temporary file is left
    assert json.loads((tmp_path / "manifest.json").read_text())["complete"] is False
    assert not (tmp_path / "atlas.json").exists()

    done = []
    monkeypatch.setattr(atlas_module, "run_instance", lambda t, *a: done.append(t) or real(t, *a))
    res = atlas(**SMALL, out=tmp_path, jobs=1, backend="threading")
    assert len(done) == 2  # only the missing instances ran
    assert _cells(res) == _cells(reference)  # identical to an uninterrupted run
    # a third run recomputes nothing
    done.clear()
    atlas(**SMALL, out=tmp_path, jobs=1, backend="threading")
    assert done == []


ONE = {**SMALL, "T": 2, "instances": 1, "methods": ("gd",), "backend": "threading"}


def test_resume_never_reuses_records_made_with_other_settings(tmp_path, monkeypatch):
    """The issue's bug: changing an option (here gd's max_iter) silently reused old records."""
    short = atlas(**ONE, out=tmp_path, options={"gd": {"max_iter": 3}})
    assert short.recomputed == 0 and short.cells[0]["methods"]["gd"]["global_fraction"] < 1.0
    fresh = atlas(**ONE, options={"gd": {"max_iter": 20000}})
    again = atlas(**ONE, out=tmp_path, options={"gd": {"max_iter": 20000}})
    assert again.recomputed == 1 and again.reused == 0
    assert _cells(again) == _cells(fresh)
    assert atlas(**ONE, out=tmp_path, options={"gd": {"max_iter": 20000}}).reused == 1


@pytest.mark.parametrize("content", [b"", b"{", b'{"fingerprint": null}', "stub", "wrong task", b"\xff\xfe"])
def test_stub_or_corrupt_records_are_recomputed_not_trusted(tmp_path, content):
    ref = atlas(**ONE, out=tmp_path)
    (rec_file,) = (tmp_path / "instances").glob("*.json")
    doc = json.loads(rec_file.read_text())
    if content == "stub":  # the right fingerprint, an empty record: was a KeyError
        content = json.dumps({"fingerprint": doc["fingerprint"], "record": {}}).encode()
    elif content == "wrong task":
        doc["record"]["start_seed"] += 1
        content = json.dumps(doc).encode()
    rec_file.write_bytes(content)
    res = atlas(**ONE, out=tmp_path)
    assert res.recomputed == 1 and _cells(res) == _cells(ref)
    assert json.loads(rec_file.read_text())["record"]["start_seed"] == ref.records[0]["start_seed"]


def test_same_settings_give_byte_identical_outputs(tmp_path):
    atlas(**ONE, out=tmp_path / "a")
    atlas(**ONE, out=tmp_path / "b", resume=False)
    for name in ("atlas.json", "atlas.csv", "atlas.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_outputs_exist_before_completion_is_declared(tmp_path, monkeypatch):
    from landscape.runs import RunDir

    seen = {}
    real = RunDir.mark_complete

    def spy(self, summary=None):
        seen.update({n: (self.root / n).exists() for n in ("atlas.json", "atlas.csv", "atlas.md", "atlas.png")})
        return real(self, summary)

    monkeypatch.setattr(RunDir, "mark_complete", spy)
    atlas(**ONE, out=tmp_path)
    assert seen and all(seen.values())


def test_scheduler_needs_dask_and_an_unreachable_one_is_a_clear_error():
    with pytest.raises(InvalidArgument, match="`scheduler` needs backend='dask'"):
        atlas(**{**ONE, "backend": "loky"}, scheduler="tcp://127.0.0.1:9")
    pytest.importorskip("distributed")
    with pytest.raises(InvalidArgument, match="cannot reach the Dask scheduler .* within 0.5 s"):
        atlas(**{**ONE, "backend": "dask"}, scheduler="tcp://127.0.0.1:9", scheduler_timeout=0.5)


def test_the_loky_pool_is_shut_down_after_the_run():
    from joblib.externals.loky import reusable_executor

    atlas(**{**ONE, "backend": "loky", "T": [2, 3]}, jobs=2)
    ex = getattr(reusable_executor, "_executor", None)
    assert ex is None or ex._flags.shutdown


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


def test_sigkill_of_the_parent_leaves_no_workers_behind(tmp_path):
    """The issue: SIGKILL of `atlas --jobs 2` left loky workers orphaned for minutes."""
    import signal
    import subprocess
    import sys
    import time

    psutil = pytest.importorskip("psutil")
    script = ("from landscape.atlas import atlas; "
              f"atlas(d=[4], k=[1], T=[3, 4], instances=8, starts=64, methods=('gd',), out={str(tmp_path)!r}, "
              "jobs=2, backend='loky', options={'gd': {'max_iter': 20000}})")
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    try:
        parent = psutil.Process(proc.pid)
        workers = []
        deadline = time.time() + 60
        while time.time() < deadline and len(workers) < 2:
            workers = [c for c in parent.children() if "loky" in " ".join(c.cmdline()) and "Loky" in
                       " ".join(c.cmdline())]
            time.sleep(0.2)
        assert len(workers) == 2, "the pool did not start"
        time.sleep(1.0)  # let them pick up instances
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    for p in alive:  # never leave them behind, even when the test fails
        p.kill()
    assert not alive, f"{len(alive)} worker(s) still running 10 s after the parent's SIGKILL"
