"""`metalora verify` and `metalora check`: exit codes, output files, bad arguments."""

import json
import subprocess
import sys

import pytest

from landscape import Problem
from metalora.cli import main

FAST = "thm3.1,cor1,t2-nonunique"


def test_verify_writes_files_and_exits_0(tmp_path, capsys):
    rc = main(["verify", "--claims", FAST, "--out", str(tmp_path), "--seed", "2", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| thm3.1 |" in out and "all claims OK" in out
    data = json.loads((tmp_path / "verify.json").read_text())
    assert data["ok"] is True and data["seed"] == 2 and data["profile"] == "quick"
    assert {c["id"]: c["holds"] for c in data["claims"]} == {"thm3.1": True, "cor1": True, "t2-nonunique": True}
    for name in ("verify.timings.json", "verify.md"):
        assert (tmp_path / name).is_file()
    assert not list(tmp_path.glob("*.tmp"))


def test_verify_same_seed_same_json(tmp_path):
    for sub in ("a", "b"):
        assert main(["verify", "--claims", "thm3.1,cor1", "--out", str(tmp_path / sub)]) == 0
    assert (tmp_path / "a" / "verify.json").read_bytes() == (tmp_path / "b" / "verify.json").read_bytes()


def test_verify_exits_1_when_a_claim_fails(tmp_path, monkeypatch, capsys):
    import theorems.sr_not_adaptable as mod

    monkeypatch.setattr(mod, "sr_solution", lambda p: p.A_star)  # Meta-LoRA's base is adaptable
    assert main(["verify", "--claims", "cor1", "--out", str(tmp_path)]) == 1
    assert "SOME CLAIMS FAILED" in capsys.readouterr().out
    assert json.loads((tmp_path / "verify.json").read_text())["claims"][0]["holds"] is False


@pytest.mark.parametrize(
    "argv, match",
    [
        (["verify", "--profile", "fast"], "invalid choice"),
        (["verify", "--claims", "thm9"], "claim_id"),
        (["verify", "--seed", "-3"], "seed"),
        (["verify", "--seed", "x"], "invalid int"),
        (["check"], "required"),
        (["check", "thm9", "--d", "3", "--k", "1", "--T", "2"], "invalid choice"),
        (["check", "thm3.1"], "--problem"),
        (["check", "thm3.1", "--problem", "/nonexistent/p.json"], "existing problem file"),
        (["check", "cor1", "--d", "6", "--k", "1", "--T", "3", "--starts", "3"], "does not apply"),
        (["check", "thm3.2", "--d", "4", "--k", "1", "--T", "2", "--starts", "-1"], "starts"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


@pytest.fixture
def problem_file(tmp_path):
    def write(d, k, T, seed=0, suffix=".json"):
        return Problem.random(d, k, T, seed=seed).save(tmp_path / f"p{d}{k}{T}{suffix}")

    return write


def test_check_holds_exit_0_and_json(problem_file, tmp_path, capsys):
    path = problem_file(6, 1, 3)
    out = tmp_path / "r.json"  # a missing parent folder is a usage error (tests/cli/test_bad_inputs_cli.py)
    assert main(["check", "thm3.1", "--problem", str(path), "--json", str(out)]) == 0
    assert "thm3.1: HOLDS" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["result"]["holds"] is True and data["result"]["seconds"] >= 0
    assert Problem.from_json(data["problem"]) == Problem.load(path)


def test_check_npz_problem(problem_file):
    assert main(["check", "cor1", "--problem", str(problem_file(6, 1, 3, suffix=".npz"))]) == 0


def test_check_assumption_not_met_exit_3(problem_file, capsys):
    assert main(["check", "thm3.1", "--problem", str(problem_file(4, 2, 3))]) == 3
    assert "ASSUMPTION-NOT-MET" in capsys.readouterr().out
    assert main(["check", "t2-nonunique", "--problem", str(problem_file(4, 1, 3))]) == 3


def test_check_fails_exit_1(problem_file, monkeypatch):
    import theorems.sr_rank_gap as mod

    monkeypatch.setattr(mod, "sr_solution", lambda p: p.A_star + p.R_star.mean(axis=0) + 1e-6)
    assert main(["check", "thm3.1", "--problem", str(problem_file(6, 1, 3))]) == 1


def test_check_zero_loss_claim_with_starts(problem_file):
    assert main(["check", "thm3.3", "--problem", str(problem_file(5, 1, 3)), "--starts", "2"]) == 0


def test_help_lists_options():
    r = subprocess.run([sys.executable, "-m", "metalora", "verify", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--profile" in r.stdout and "--out" in r.stdout
    r = subprocess.run([sys.executable, "-m", "metalora", "check", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "spurious-t3" in r.stdout and "--json" in r.stdout


@pytest.mark.slow
def test_full_quick_verify(tmp_path):
    """The `make verify` run: every claim, quick profile, in one subprocess."""
    import importlib.util

    r = subprocess.run([sys.executable, "-m", "metalora", "verify", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    data = json.loads((tmp_path / "verify.json").read_text())
    status = {c["id"]: c["status"] for c in data["claims"]}
    assert list(status) == ["thm3.1", "cor1", "thm3.2", "cor2", "thm3.3", "cor3", "thm3.4", "t2-nonunique",
                            "spurious-t3"]
    if importlib.util.find_spec("landscape.search") is None:  # the landscape search is not installed
        assert r.returncode == 1 and status["thm3.4"] == status["spurious-t3"] == "unavailable"
        return
    assert r.returncode == 0, r.stdout + r.stderr
    assert set(status.values()) == {"holds"} and data["ok"] is True
    cert = [i for c in data["claims"] if c["id"] == "spurious-t3" for i in c["instances"]]
    assert sum(i["measured"].get("n_certified", 0) for i in cert) >= 2
