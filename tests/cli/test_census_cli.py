"""``metalora census`` and ``metalora census-atlas`` from the command line."""

import json

import pytest

pytest.importorskip("flint")

from landscape import Problem  # noqa: E402
from metalora.cli import main  # noqa: E402


def test_census_writes_every_real_point(tmp_path, capsys):
    out = tmp_path / "c.json"
    rc = main(["census", "--d", "2", "--k", "1", "--T", "3", "--seed", "0", "--method", "total-degree",
               "--quiet", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "complete:" in text and f"wrote {out}" in text
    doc = json.loads(out.read_text())
    assert doc["complete"] is True and doc["status"] == "done"
    assert doc["counts"]["solutions"] == 149
    assert {"global-min", "saddle"} <= {p["kind"] for p in doc["points"]}
    for p in doc["points"]:
        assert {"U", "U_hex", "kind", "index", "certified", "orbit_size"} <= set(p)
    assert "seconds" not in doc and (tmp_path / "c.timings.json").is_file()
    assert Problem.from_json(doc["problem"]) == Problem.random(2, 1, 3, seed=0)


def test_census_of_T2_is_incomplete(capsys):
    rc = main(["census", "--d", "2", "--k", "1", "--T", "2", "--no-certify", "--quiet"])
    assert rc == 3
    assert "positive-dimensional" in capsys.readouterr().out


@pytest.mark.parametrize("argv,match", [
    (["census", "--d", "2", "--k", "1", "--T", "3", "--runs", "0"], "--runs"),
    (["census", "--d", "2", "--k", "1", "--T", "3", "--out", "/nonexistent/dir/c.json"], "--out"),
    (["census", "--problem", "/nonexistent/p.json"], "p.json"),
    (["census", "--d", "2", "--k", "1"], "--T"),
    (["census", "--d", "3", "--k", "1", "--T", "3", "--method", "total-degree", "--max-paths", "10"], "paths"),
    (["census-atlas", "--instances", "0", "--out", "/nonexistent/x"], "--out"),
    (["census-atlas", "--methods", "magic", "--instances", "1"], "methods"),
])
def test_bad_input_is_one_line_and_exit_2(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err


def test_census_atlas_resumes(tmp_path, capsys):
    out = tmp_path / "atlas"
    argv = ["census-atlas", "--d", "2", "--k", "1", "--T", "3", "--instances", "2", "--starts", "20",
            "--methods", "roots", "--method", "total-degree", "--no-certify", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    doc = json.loads((out / "census_atlas.json").read_text())
    s = doc["summary"]
    assert s["instances"] == 2 and s["complete"] == 2
    assert 0.0 <= s["spurious_fraction"] <= 1.0 and "roots" in s["recall"]
    assert (out / "census_atlas.md").is_file() and (out / "census_atlas.png").is_file()
    assert main(argv) == 0
    assert json.loads((out / "timings.json").read_text())["reused"] == 2
    assert json.loads((out / "census_atlas.json").read_text()) == doc
