"""Readers: both formats of the shipped fixture give identical results; malformed files fail
with the file and line; every dialogue (the last one included) is kept.
"""

import json

import pytest

from experiments.convai2.data import (
    DataFormatError,
    detect_format,
    find_split,
    load_split,
    read_parlai,
    read_personachat_json,
    write_parlai,
    write_personachat_json,
)

from .conftest import FIXTURES


@pytest.mark.parametrize("split", ["train", "valid"])
def test_both_formats_identical(split):
    txt = read_parlai(FIXTURES / f"{split}_self_original.txt")
    js = read_personachat_json(FIXTURES / "personachat_self_original.json", split)
    assert txt == js
    assert len(txt) == 6
    assert all(len(e.candidates) == 20 for d in txt for e in d.examples)
    # gold reply is the last candidate in the released files, and in the fixture
    assert all(e.label == 19 for d in txt for e in d.examples)


def test_fixture_structure_and_last_dialogue_kept():
    train = read_parlai(FIXTURES / "train_self_original.txt")
    last = train[-1]
    assert last.persona == ("i paint birds on small stones .", "i do not own a television .")
    assert last.examples[-1].gold == "i do not own a television ."
    first = train[0]
    # history alternates partner message / gold reply, ending with the partner's message
    e0, e1 = first.examples
    assert e0.history == ("hello ! what do you do all day ?",)
    assert e1.history == (e0.history[0], e0.gold, "that sounds quiet . any hobbies ?")
    assert e0.line == 4 and first.line == 1


def test_auto_detection(fixture_dir):
    assert detect_format(fixture_dir / "train_self_original.txt") == "parlai"
    assert detect_format(fixture_dir / "personachat_self_original.json") == "json"
    assert find_split(fixture_dir, "valid").name == "valid_self_original.txt"
    assert load_split(fixture_dir / "personachat_self_original.json", "valid") == load_split(
        fixture_dir, "valid"
    )


def test_json_only_directory(tmp_path, fixture_dir):
    (tmp_path / "personachat_self_original.json").write_text(
        (fixture_dir / "personachat_self_original.json").read_text()
    )
    assert load_split(tmp_path, "train") == load_split(fixture_dir, "train")


def test_writers_round_trip(tmp_path):
    train = read_parlai(FIXTURES / "train_self_original.txt")
    write_parlai(train, tmp_path / "t.txt")
    write_personachat_json({"train": train}, tmp_path / "t.json")
    assert read_parlai(tmp_path / "t.txt") == train
    assert read_personachat_json(tmp_path / "t.json", "train") == train


GOOD = "1 your persona: i like cats .\n2 hi !\thello .\t\ta .|hello .|b .\n"

PARLAI_BAD = [
    (
        "1 your persona: i like cats .\nhi there\thello .\t\ta .|hello .\n",
        2,
        "expected '<n> <text>'",
    ),
    (
        "1 your persona: i like cats .\n2 hi !\thello .\t\ta .|b .\n",
        2,
        "not among the 2 candidates",
    ),
    ("1 your persona: i like cats .\n2 hi !\thello .\n", 2, "without candidates"),
    ("1 your persona: i like cats .\n2 hi !\n", 2, "without a tab-separated gold reply"),
    ("1 your persona:   \n2 hi !\thello .\t\ta .|hello .\n", 1, "empty persona sentence"),
    ("1 hi !\thello .\t\ta .|hello .\n", 1, "no 'your persona:' line"),
    ("1 your persona: i like cats .\n3 hi !\thello .\t\ta .|hello .\n", 2, "out of sequence"),
    (GOOD + "3 ok ?\tyes .\t\tyes .|no .\n", 3, "2 candidates, but line 2 has 3"),
    (GOOD + "1 your persona: x .\n", 3, "no reply lines"),
    ("", None, "no dialogues"),
]


@pytest.mark.parametrize("text,line,match", PARLAI_BAD)
def test_malformed_parlai(tmp_path, text, line, match):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=match) as info:
        read_parlai(path)
    assert info.value.line == line
    assert str(path) in str(info.value)
    if line is not None:
        assert f"line {line}:" in str(info.value)


def test_good_parlai_passes(tmp_path):
    path = tmp_path / "good.txt"
    path.write_text(GOOD)
    (d,) = read_parlai(path)
    assert d.examples[0].label == 1


def _dialog(cands=("a .", "b ."), history=("hi",), persona=("i like cats .",)):
    return {
        "personality": list(persona),
        "utterances": [{"history": list(history), "candidates": list(cands)}],
    }


JSON_BAD = [
    ("[1, 2]", 1, "top level must be an object"),
    ('{"train": []}', 1, "no 'valid' split"),
    ('{\n "valid": {"x": 1}\n}', 2, "must be a list of dialogues"),
    ('{"valid": [\n  {"personality": []}\n]}', 2, "'personality' and 'utterances'"),
    (
        json.dumps({"valid": [_dialog()]}, indent=1).replace('"i like cats ."', '""'),
        4,
        "empty persona sentence",
    ),
    (json.dumps({"valid": [_dialog(cands=("only one",))]}, indent=1), 12, "at least 2 strings"),
    (
        json.dumps({"valid": [_dialog(), _dialog(cands=("a", "b", "c"))]}, indent=1),
        28,
        "3 entries, but",
    ),
    (json.dumps({"valid": [_dialog(history=(3,))]}, indent=1), 9, "must be a string"),
    ('{"valid": [\n  {"personality": ["x"], "utterances": [],}\n]}', 2, "invalid JSON"),
    ('{"valid": [\n]}', 1, "has no dialogues"),
]


@pytest.mark.parametrize("text,line,match", JSON_BAD)
def test_malformed_json(tmp_path, text, line, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=match) as info:
        read_personachat_json(path, "valid")
    assert str(path) in str(info.value)
    assert info.value.line == line, str(info.value)


def test_parlai_file_is_not_both_splits(fixture_dir):
    with pytest.raises(ValueError, match="give the directory"):
        find_split(fixture_dir / "train_self_original.txt", "train")


def test_missing_directory(tmp_path):
    with pytest.raises(ValueError, match="holds no file for split"):
        find_split(tmp_path, "train")


def test_no_torch_at_import():
    """The data layer, the package and the CLI module import neither torch nor transformers."""
    import subprocess
    import sys

    code = (
        "import sys, experiments, experiments.convai2, metalora.commands.convai2 as c\n"
        "from metalora.cli import build_parser\n"
        "build_parser('convai2')\n"
        "bad = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
