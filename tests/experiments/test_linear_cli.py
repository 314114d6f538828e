"""``metalora figure1``: exit codes, bad arguments, outputs, resume."""

import json

import pytest

from metalora.cli import main

SMALL = ["--seeds", "1", "--rounds", "300", "--no-progress"]


def test_help_lists_the_panels(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["figure1", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for word in ("--panel", "--quick", "--jobs", "adapters", "noise", "rate"):
        assert word in text


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
        (["--sigma", "-0.5"], "sigma"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, match, capsys, tmp_path):
    rc = main(["figure1", *argv, "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and match in err, err
    assert not list(tmp_path.iterdir())  # nothing was run


def test_a_small_run_writes_every_output_and_resumes(capsys, tmp_path):
    out = tmp_path / "fig"
    rc = main(["figure1", "--panel", "n", *SMALL, "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "claim HOLDS" in text and "rate (Meta-LoRA" in text
    for name in (
        "runs.csv",
        "runs.json",
        "rate.json",
        "summary.json",
        "figure1_n.png",
        "figure1.png",
        "rate.png",
    ):
        assert (out / name).is_file(), name
    assert (out / "figure1_n.png").read_bytes()[:4] == b"\x89PNG"
    runs = json.loads((out / "runs.json").read_text())
    assert len(runs) == 3 * 1 * 2 and {r["method"] for r in runs} == {"SR", "Meta-LoRA"}
    assert all(r["sigma"] == 0.1 and r["k"] == 1 for r in runs)

    rc = main(["figure1", "--panel", "n", *SMALL, "--out", str(out), "--no-figures"])
    assert rc == 0
    assert "(0 run, 3 resumed)" in capsys.readouterr().out


def test_exit_1_when_the_claim_fails(capsys, tmp_path):
    # One round of retraining leaves Meta-LoRA's base near 0: it cannot beat SR.
    rc = main(
        [
            "figure1",
            "--panel",
            "k",
            "--seeds",
            "1",
            "--rounds",
            "1",
            "--no-check-solver",
            "--finetune-steps",
            "500",
            "--no-figures",
            "--no-progress",
            "--out",
            str(tmp_path),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 1, text
    assert "claim FAILS" in text
