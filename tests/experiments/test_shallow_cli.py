"""Shallow suite: sweeps (outputs, resume, fingerprints) and the `metalora shallow` command."""

import json

import pytest

from experiments.shallow import Schedule, Setting, sweep
from metalora.cli import main

BASE = Setting(d=4, T=3, N=30, n=20)
SCHEDULE = Schedule(retrain_steps=20, finetune_steps=20, n_test=300, record_every=10)


class Stop(Exception):
    pass


@pytest.mark.slow
def test_sweep_writes_outputs_and_resumes(tmp_path):
    out = tmp_path / "run"
    seen = []

    def stop_after_first(res):
        seen.append(res.setting)
        raise Stop

    with pytest.raises(Stop):
        sweep("T", seeds=2, schedule=SCHEDULE, base=BASE, out=out, progress=False,
              figures=False, on_setting_done=stop_after_first)
    res = sweep("T", seeds=2, schedule=SCHEDULE, base=BASE, out=out, progress=False)
    assert (res.resumed, res.computed) == (1, 3)
    names = {p.name for p in out.iterdir()}
    assert {"runs.csv", "runs.json", "check.json", "summary.json", "timings.json",
            "shallow_T.png", "shallow.png", "retraining_curves.png"} <= names
    summary = (out / "summary.json").read_text()
    rows = json.loads((out / "runs.json").read_text())
    assert len(rows) == 2 * (4 * 4 + 4)  # seeds × (4 bases × 4 settings + 4 rank-3k rows at T=2)
    # Everything resumes; the deterministic summary is byte-identical.
    again = sweep("T", seeds=2, schedule=SCHEDULE, base=BASE, out=out, progress=False)
    assert (again.resumed, again.computed) == (4, 0)
    assert (out / "summary.json").read_text() == summary
    # Other settings (a step count) never reuse saved work.
    other = sweep("T", seeds=2, schedule=SCHEDULE.replace(finetune_steps=21), base=BASE,
                  out=out, progress=False, figures=False)
    assert other.resumed == 0


def test_cli_help_and_usage_errors(tmp_path, capsys):
    assert main(["shallow", "--help"]) == 0
    assert "--convention" in capsys.readouterr().out
    afile = tmp_path / "file"
    afile.write_text("x")
    for argv in (
        ["shallow", "--panel", "k"],
        ["shallow", "--seeds", "0"],
        ["shallow", "--jobs", "0"],
        ["shallow", "--lr", "-1"],
        ["shallow", "--convention", "paper"],
        ["shallow", "--out", str(afile)],
        ["shallow", "--out", str(tmp_path / "missing" / "deeper")],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, (argv, err)


def test_cli_tiny_run(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["shallow", "--panel", "d", "--seeds", "2", "--retrain-steps", "5",
                 "--finetune-steps", "5", "--out", str(out), "--no-progress", "--no-figures",
                 "--convention", "paper-code"])
    text = capsys.readouterr().out
    # Five steps fine-tune nothing: the truth base is far from the floor, so the check fails.
    assert code == 1, text
    assert "check FAILS" in text and "convention paper-code" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["convention"]["name"] == "paper-code"
    assert summary["check"]["status"] == "fails"
