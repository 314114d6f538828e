"""``metalora search`` and ``metalora atlas`` from the command line."""

import json
import subprocess
import sys

import pytest

from landscape import Problem
from landscape.search import load_points
from metalora.cli import main
from tests.fixtures import HERE


def test_search_writes_loadable_points(tmp_path, capsys):
    out = tmp_path / "s.json"
    rc = main(["search", "--d", "3", "--k", "1", "--T", "3", "--seed", "17", "--starts", "300",
               "--method", "roots", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "spurious-min" in text and f"wrote {out}" in text
    obj = json.loads(out.read_text())
    assert obj["summary"]["starts"] == 300
    kinds = {p["kind"] for p in obj["points"]}
    assert {"global-min", "spurious-min", "saddle"} <= kinds
    for p in obj["points"]:
        assert {"U", "A", "loss", "grad_norm", "min_eig", "index", "kind", "count"} <= set(p)
    points = load_points(out)
    assert len(points) == len(obj["points"])
    # the result file doubles as the problem file for other commands
    assert Problem.load(out) == Problem.random(3, 1, 3, seed=17)


def test_search_on_a_problem_file_to_stdout(capsys):
    rc = main(["search", "--problem", str(HERE / "spurious_d6k2T3_problem.json"), "--starts", "40",
               "--start-seed", "1", "--out", "-"])
    assert rc == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["method"] == "sosp"
    assert {p["kind"] for p in obj["points"]} <= {"global-min", "spurious-min"}
    assert sum(p["count"] for p in obj["points"]) == 40


@pytest.mark.parametrize(
    "argv,message",
    [
        (["search", "--d", "3", "--k", "5", "--T", "3"], "`k` must be an integer in [1, 3]"),
        (["search", "--problem", "x.json", "--d", "3"], "either `--problem` or `--d/--k/--T`"),
        (["search", "--d", "3", "--k", "1"], "give `--problem FILE` or all of"),
        (["search", "--d", "3", "--k", "1", "--T", "2", "--starts", "0"], "`starts` must be an integer"),
        (["search", "--d", "3", "--k", "1", "--T", "2", "--method", "adam"], "invalid choice: 'adam'"),
        (["atlas", "--d", "3", "--k", "1", "--T", "2", "--out", "o", "--jobs", "0"], "`jobs` must be"),
        (["atlas", "--d", "3", "--k", "1", "--T", "2"], "required: --out"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_atlas_cli_writes_and_resumes(tmp_path, capsys):
    argv = ["atlas", "--d", "3", "--k", "1", "--T", "2", "3", "--instances", "1", "--starts", "8",
            "--methods", "sosp", "roots", "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "| 3 | 1 | 3 |" in first
    for name in ("atlas.json", "atlas.csv", "atlas.md", "atlas.png"):
        assert (tmp_path / name).exists()
    assert main(argv) == 0  # resumes: nothing left to compute, same table
    assert capsys.readouterr().out.splitlines()[:4] == first.splitlines()[:4]


def test_help_runs_as_a_subprocess():
    for cmd in ("search", "atlas"):
        r = subprocess.run([sys.executable, "-m", "metalora", cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "--starts" in r.stdout
