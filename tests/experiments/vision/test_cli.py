"""``metalora vision``: run does all three steps; bad input is one line on stderr and exit code 2."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from metalora.cli import main  # noqa: E402

TINY = ["--width", "32", "--token-hidden", "16", "--channel-hidden", "16", "--heldout", "20",
        "--train-per-task", "60", "--epochs", "1", "--batch-size", "32", "--threads", "1", "--device", "cpu",
        "--no-progress"]  # fmt: skip
TINY_FT = ["--select-images", "20", "--evaluate-images", "40", "--ft-epochs", "1", "--ft-batch-size", "16"]


@pytest.mark.slow
def test_run_does_retrain_finetune_and_table(idx_dir, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["vision", "run", "--data", str(idx_dir), "--methods", "sr,meta-lora", "--preset", "quick", "--seeds", "2",
            "--adapters", "lora", "--finetune-images", "20", "--out", str(out), *TINY, *TINY_FT]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "Meta-LoRA vs SR" in text and "LoRA rank 1, 20 images" in text
    table = json.loads((out / "table.json").read_text())
    assert [r["method"] for r in table["rows"]] == ["sr", "meta-lora"]
    assert all(r["seeds"] == [0, 1] for r in table["rows"])
    assert (out / "table.png").stat().st_size > 0 and (out / "table.md").is_file()
    assert (out / "retrain" / "meta-lora" / "seed-1" / "result.json").is_file()
    assert (out / "finetune" / "sr" / "lora-20" / "seed-0" / "results.json").is_file()
    # a second run refuses to overwrite; --resume reads everything back
    assert main(argv) == 2
    assert "already holds" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0
    # table and finetune as separate subcommands
    assert main(["vision", "table", str(out / "finetune"), "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t.md").read_text() == (out / "table.md").read_text()
    ft = ["vision", "finetune", "--base", str(out / "retrain" / "sr" / "seed-0"), "--adapter", "last-layer",
          "--finetune-images", "all", "--preset", "quick", "--out", str(tmp_path / "ft"), "--select-images", "20",
          "--evaluate-images", "40", "--epochs", "1", "--threads", "1", "--device", "cpu", "--no-progress"]  # fmt: skip
    assert main(ft) == 0
    res = json.loads((tmp_path / "ft" / "results.json").read_text())
    assert res["adapter"] == "last-layer" and res["rank"] is None and res["n_finetune"] > 20


BAD = [
    (["vision", "run", "--data", "{missing}", "--out", "{out}"], "is not a directory"),
    (["vision", "run", "--data", "{idx}", "--methods", "sr,maml", "--out", "{out}"], "--methods"),
    (["vision", "run", "--data", "{idx}", "--tasks", "0-1,1-2", "--out", "{out}"], "every class may appear once"),
    (["vision", "run", "--data", "{idx}", "--test-task", "0-9", "--out", "{out}"], "share no class"),
    (["vision", "run", "--data", "{idx}", "--finetune-images", "1", "--out", "{out}"], "--finetune-images"),
    (["vision", "run", "--data", "{idx}", "--seeds", "0", "--out", "{out}"], "--seeds"),
    (["vision", "retrain", "--data", "{idx}", "--epochs", "0", "--out", "{out}"], "epochs"),
    (["vision", "retrain", "--data", "{idx}", "--tasks", "0-1,2-12", "--out", "{out}"], "class 12"),
    (["vision", "retrain", "--data", "{idx}", "--method", "maml", "--out", "{out}"], "invalid choice"),
    (["vision", "finetune", "--base", "{idx}", "--out", "{out}"], "not a vision retraining run"),
    (["vision", "table", "{empty}"], "no vision fine-tuning results"),
    (["vision"], "give a subcommand"),
    (["vision", "run", "--data", "{idx}", "--seeds", "99999999999", "--out", "{out}"], "--seeds"),
    (["vision", "run", "--data", "{idx}", "--lr", "inf", "--out", "{out}"], "finite"),
    (["vision", "retrain", "--data", "{idx}", "--threads", "99999999999", "--out", "{out}"], "--threads"),
    (["vision", "retrain", "--data", "{idx}", "--out", ""], "empty string"),
    (["vision", "retrain", "--data", "{idx}", "--out", "{file}/x"], "is not a writable folder"),
    (["vision", "run", "--data", "{idx}", "--out", "{file}"], "is a file"),
]


@pytest.mark.parametrize("argv, match", BAD, ids=[" ".join(a[:2]) + f" ({m})" for a, m in BAD])
def test_bad_input_is_one_line_and_exit_2(argv, match, idx_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "f").write_text("x")
    fill = {"missing": str(tmp_path / "nope"), "idx": str(idx_dir), "out": str(tmp_path / "o"),
            "empty": str(tmp_path / "empty"), "file": str(tmp_path / "f")}  # fmt: skip
    assert main([a.format(**fill) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    assert not (tmp_path / "o").exists()  # nothing half-made is left behind
