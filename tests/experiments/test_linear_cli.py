"""``metalora figure1``: exit codes, bad arguments and inputs, outputs, conventions, resume."""

import json

import numpy as np
import pytest

from landscape import Problem
from metalora.cli import main

SMALL = ["--seeds", "1", "--rounds", "300", "--no-progress"]


def test_help_lists_the_panels_and_conventions(capsys):
    assert main(["figure1", "--help"]) == 0
    text = capsys.readouterr().out
    for word in ("--panel", "--quick", "--jobs", "adapters", "noise", "rate", "--convention",
                 "paper-code", "--problem", "--data", "--inits", "--lr-A", "exit codes"):  # fmt: skip
        assert word in text, word


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--panel", "bogus"], "invalid panel"),
        (["--panel", "k,zz"], "invalid panel"),
        (["--seeds", "0"], "--seeds"),
        (["--seeds", "two"], "invalid int"),
        (["--jobs", "0"], "--jobs"),
        (["--seed", "-3"], "--seed"),
        (["--rounds", "-1"], "rounds"),
        (["--solver", "adam"], "invalid choice"),
        (["--convention", "paper"], "invalid choice"),
        (["--sigma", "-0.5"], "sigma"),
        (["--lr-A", "0"], "lr_A"),
        (["--lr-U", "nan"], "lr_U"),
        (["--rounds", "100000000"], "--force"),
        (["--problem", "/nonexistent/p.json"], "problem"),
        (["--data", "/nonexistent/d.npz"], "--problem"),
        (["--inits", "/nonexistent/i.npz"], "--inits"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, match, capsys, tmp_path):
    rc = main(["figure1", *argv, "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and match in err, err
    assert not list(tmp_path.iterdir())  # nothing was run


def test_bad_output_paths_exit_2_before_computing(capsys, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile, tmp_path / "missing" / "deeper"):
        rc = main(["figure1", "--panel", "k", *SMALL, "--out", str(out)])
        err = capsys.readouterr().err
        assert rc == 2 and "--out" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def _problem_file(tmp_path, d=4, k=1, T=3, seed=0):
    p = Problem.random(d, k, T, seed=seed)
    path = tmp_path / "p.json"
    p.save(path)
    return p, path


def test_bad_input_files_exit_2(capsys, tmp_path):
    p, ppath = _problem_file(tmp_path)
    out = tmp_path / "out"
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    cplx = tmp_path / "cplx.npz"
    np.savez(cplx, X=np.zeros((3, 10, 4), complex), Y=np.zeros((3, 10, 4)),
             X_test=np.zeros((5, 4)), Y_test=np.zeros((5, 4)))  # fmt: skip
    short = tmp_path / "short.npz"
    np.savez(short, X=np.zeros((3, 10, 4)))
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, X=np.zeros((3, 10, 5)), Y=np.zeros((3, 10, 5)),
             X_test=np.zeros((5, 5)), Y_test=np.zeros((5, 5)))  # fmt: skip
    cases = [
        (["--problem", str(ppath), "--panel", "k"], "varies d, T or k"),
        (["--problem", str(ppath), "--data", str(garbage)], "not a valid .npz"),
        (["--problem", str(ppath), "--data", str(cplx)], "real numbers"),
        (["--problem", str(ppath), "--data", str(short)], "lacks arrays"),
        (["--problem", str(ppath), "--data", str(wrong)], "dimension d=4"),
        (["--problem", str(ppath), "--inits", str(short)], "unknown arrays"),
        (["--problem", str(garbage)], "problem"),
    ]
    for argv, match in cases:
        rc = main(["figure1", *argv, *SMALL, "--out", str(out), "--no-figures"])
        err = capsys.readouterr().err.strip()
        assert rc == 2, (argv, err)
        assert len(err.splitlines()) == 1 and match in err, (argv, err)


def test_a_small_run_writes_every_output_and_resumes(capsys, tmp_path):
    out = tmp_path / "fig"
    rc = main(["figure1", "--panel", "n", *SMALL, "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "claim HOLDS" in text and "rate (Meta-LoRA" in text and "[ours]" in text
    for name in ("runs.csv", "runs.json", "rate.json", "summary.json", "timing.json",
                 "manifest.json", "figure1_n.png", "figure1.png", "rate.png"):  # fmt: skip
        assert (out / name).is_file(), name
    assert (out / "figure1_n.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(out.rglob("*.tmp*"))
    runs = json.loads((out / "runs.json").read_text())
    assert len(runs) == 3 * 1 * 2 and {r["method"] for r in runs} == {"SR", "Meta-LoRA"}
    assert all(r["sigma"] == 0.1 and r["k"] == 1 and r["convention"] == "ours" for r in runs)
    assert json.loads((out / "manifest.json").read_text())["complete"] is True
    summary = (out / "summary.json").read_bytes()

    rc = main(["figure1", "--panel", "n", *SMALL, "--out", str(out), "--no-figures"])
    assert rc == 0
    assert "(0 run, 3 resumed)" in capsys.readouterr().out
    # Another convention or step size shares nothing with these records.
    rc = main(["figure1", "--panel", "n", *SMALL, "--lr-ft", "0.004", "--out", str(out), "--no-figures"])
    assert rc == 0
    assert "(3 run, 0 resumed, 3 stale records recomputed)" in capsys.readouterr().out
    # Same inputs, fresh folder: byte-identical summary (timings live in timing.json).
    again = tmp_path / "again"
    assert main(["figure1", "--panel", "n", *SMALL, "--out", str(again)]) == 0
    capsys.readouterr()
    assert (again / "summary.json").read_bytes() == summary.replace(str(out).encode(), str(again).encode())


def test_paper_code_convention_runs_and_says_so(capsys, tmp_path):
    out = tmp_path / "pc"
    rc = main(["figure1", "--convention", "paper-code", "--panel", "k", *SMALL,
               "--finetune-steps", "2000", "--out", str(out), "--no-figures"])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "[paper-code]" in text and "U 0.0045, A 0.015, SR 0.045, fine-tuning 0.0025" in text
    assert "noise std 0.01" in text and "fixed counts per panel" in text
    runs = json.loads((out / "runs.json").read_text())
    assert {r["convention"] for r in runs} == {"paper-code"}
    assert {r["finetune_steps"] for r in runs} == {2000}


def test_explicit_problem_data_and_inits(capsys, tmp_path):
    p, ppath = _problem_file(tmp_path, d=4, k=1, T=3, seed=5)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 200, 4))
    Y = X @ p.M_star.transpose(0, 2, 1) + 0.1 * rng.standard_normal((3, 200, 4))
    Xt = rng.standard_normal((40, 4))
    Yt = Xt @ p.M_test.T + 0.1 * rng.standard_normal((40, 4))
    data = tmp_path / "data.npz"
    np.savez(data, X=X, Y=Y, X_test=Xt, Y_test=Yt)
    inits = tmp_path / "inits.npz"
    np.savez(inits, U0=0.1 * rng.standard_normal((3, 4, 1)))
    out = tmp_path / "own"
    argv = ["figure1", "--problem", str(ppath), "--data", str(data), "--inits", str(inits),
            "--rounds", "500", "--lr-A", "0.02", "--no-progress", "--no-figures", "--out", str(out)]  # fmt: skip
    rc = main(argv)
    text = capsys.readouterr().out
    assert rc == 0, text
    runs = json.loads((out / "runs.json").read_text())
    assert len(runs) == 2 and {(r["d"], r["T"], r["N"], r["n"]) for r in runs} == {(4, 3, 200, 40)}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schedule"]["lr_A"] == 0.02
    assert summary["settings"][0]["steps"]["explicit"] == {"problem": True, "data": True, "inits": True}
    # Changed data: the fingerprint differs, nothing is reused.
    np.savez(data, X=X, Y=Y + 1e-9, X_test=Xt, Y_test=Yt)
    assert main(argv) == 0
    assert "0 resumed" in capsys.readouterr().out


def test_exit_3_when_no_setting_predicts_a_gap(capsys, tmp_path):
    # T = 2, k = 1: fine-tuning rank 3 = (T+1)k makes SR adaptable too (Corollary 1).
    _, ppath = _problem_file(tmp_path, d=4, k=1, T=2, seed=1)
    rc = main(["figure1", "--problem", str(ppath), "--panel", "base", *SMALL, "--no-figures",
               "--finetune-steps", "500", "--out", str(tmp_path / "o")])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 3, text
    assert "claim UNDECIDED" in text


def test_exit_1_when_the_claim_fails(capsys, tmp_path):
    # One round of retraining leaves Meta-LoRA's base near 0: it cannot beat SR.
    rc = main(["figure1", "--panel", "k", "--seeds", "1", "--rounds", "1", "--no-check-solver",
               "--finetune-steps", "500", "--no-figures", "--no-progress", "--out", str(tmp_path / "o")])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 1, text
    assert "claim FAILS" in text
