"""The synthetic corpus: deterministic, ConvAI2-shaped, and the persona decides the reply."""

import pytest

from experiments.convai2.data import load_split
from experiments.convai2.synth import SLOTS, synth_dialogues, write_synth
from experiments.convai2.tasks import group_tasks


def test_same_seed_same_files(tmp_path):
    a = write_synth(tmp_path / "a", seed=3, train_personas=5, valid_personas=4, json_too=True)
    write_synth(tmp_path / "b", seed=3, train_personas=5, valid_personas=4)
    write_synth(tmp_path / "c", seed=4, train_personas=5, valid_personas=4)
    ta = (tmp_path / "a" / "train_self_original.txt").read_text()
    assert ta == (tmp_path / "b" / "train_self_original.txt").read_text()
    assert ta != (tmp_path / "c" / "train_self_original.txt").read_text()
    assert load_split(tmp_path / "a", "valid") == load_split(
        tmp_path / "a" / "personachat_self_original.json", "valid"
    )
    assert a.n_personas == {"train": 5, "valid": 4}
    assert a.to_json()["seed"] == 3


def test_persona_facts_determine_the_reply():
    dialogues = synth_dialogues(6, (2, 3), turns=3, n_values=4, seed=0)
    for task in group_tasks(dialogues):
        answers = {}
        for d in task.dialogues:
            facts = set(d.persona)
            for e in d.examples:
                assert len(e.candidates) == 20 and e.label == 19
                assert e.gold in facts  # the gold reply states one of the persona's facts
                slot = next(s for s in SLOTS if any(q in e.history[-1] for q in s[1]))
                same = [c for c in e.candidates if c.startswith(slot[2].split("{}")[0])]
                assert (
                    len(same) == 4
                )  # every value of the slot is a candidate: only the persona decides
                answers.setdefault(slot[0], set()).add(e.gold)
        assert all(len(v) == 1 for v in answers.values())  # one persona, one answer per question


def test_values_balanced_across_personas():
    dialogues = synth_dialogues(40, (1, 1), turns=1, slots_per_persona=7, n_values=4, seed=1)
    for s, (_, _, template, values) in enumerate(SLOTS):
        counts = [sum(template.format(v) in d.persona for d in dialogues) for v in values[:4]]
        assert max(counts) - min(counts) <= 1, counts


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"n_values": 1}, "`--values`"),
        ({"n_values": 2}, "too small"),
        ({"turns": 6}, "`--turns`"),
        ({"same_slot_distractors": 10}, "`--same-slot`"),
        ({"dialogues_per_persona": (3, 2)}, "LOW <= HIGH"),
    ],
)
def test_bad_arguments(kw, match):
    """Messages name the CLI flags, not the Python parameters."""
    with pytest.raises(ValueError, match=match):
        synth_dialogues(3, **{"dialogues_per_persona": (1, 2), **kw})


def test_write_synth_refuses_an_existing_file_as_out(tmp_path):
    from landscape.errors import InvalidArgument

    from experiments.convai2.synth import write_synth

    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(InvalidArgument, match="--out"):
        write_synth(f, train_personas=2, valid_personas=2, n_candidates=3, n_values=3, turns=1)
    with pytest.raises(InvalidArgument, match="--turns"):  # checked before the folder is made
        write_synth(tmp_path / "new", turns=0)
    assert not (tmp_path / "new").exists()
