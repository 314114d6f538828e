"""Personas -> tasks, cluster maps (JSON and restricted pickles), selection and splits."""

import json
import os
import pickle

import pytest

from experiments.convai2.data import read_parlai
from experiments.convai2.tasks import (
    UnsafePickleError,
    group_tasks,
    largest_tasks,
    load_cluster_map,
    normalize_cluster_map,
    persona_key,
    restricted_load,
    retrain_splits,
    test_splits,
)

from .conftest import FIXTURES


@pytest.fixture
def train():
    return read_parlai(FIXTURES / "train_self_original.txt")


def test_group_by_exact_sentence_set(train):
    tasks = group_tasks(train)
    # persona A appears with its sentences in two orders: still one task
    assert [t.n_dialogues for t in tasks] == [3, 2, 1]
    assert tasks[0].persona == persona_key(train[0].persona)
    assert all(t.name.startswith("persona-") for t in tasks)


def test_largest_and_retrain_splits(train):
    tasks = group_tasks(train)
    assert [t.n_dialogues for t in largest_tasks(tasks, 2)] == [3, 2]
    splits = retrain_splits(tasks, 2, heldout_dialogues=1)
    assert [len(s.train) for s in splits] == [2, 1]
    assert splits[0].heldout == (tasks[0].dialogues[-1],)  # the *last* dialogues are held out
    with pytest.raises(ValueError, match="only 1 personas have at least 3"):
        retrain_splits(tasks, 2, heldout_dialogues=2)


def test_test_splits():
    valid = read_parlai(FIXTURES / "valid_self_original.txt")
    (a, _) = test_splits(group_tasks(valid), 2, eval_dialogues=1, select_dialogues=1)
    t = next(t for t in group_tasks(valid) if t.name == a.name)
    assert (
        a.evaluate == t.dialogues[-1:]
        and a.select == t.dialogues[-2:-1]
        and a.finetune == t.dialogues[:-2]
    )
    with pytest.raises(ValueError, match="finetune_dialogues"):
        test_splits(group_tasks(valid), 2, finetune_dialogues=0)


def test_cluster_map_shapes_merge_personas(train, tmp_path):
    A, B = train[0].persona, train[1].persona
    shapes = [
        {" ".join(A): 0, "\n".join(B): 0},  # persona string -> id (cluster 0 is a real cluster)
        {"0": [list(A), list(B)]},  # id -> list of personas
        [[list(reversed(A)), " ".join(B)]],  # list of clusters
    ]
    for shape in shapes:
        tasks = group_tasks(train, normalize_cluster_map(shape))
        assert tasks[0].name == "cluster-0" and tasks[0].n_dialogues == 5
        assert tasks[1].name.startswith("persona-")  # unmapped personas keep their own task
    path = tmp_path / "map.json"
    path.write_text(json.dumps(shapes[1]))
    assert group_tasks(train, load_cluster_map(path))[0].n_dialogues == 5


def test_cluster_map_errors(tmp_path):
    with pytest.raises(ValueError, match="two clusters"):
        normalize_cluster_map({"a b": 1, "a  b": 2})
    with pytest.raises(ValueError, match="empty"):
        normalize_cluster_map({})
    with pytest.raises(ValueError, match="cluster ids to lists"):
        normalize_cluster_map({"a": 1, "b": [1]})
    bad = tmp_path / "bad.json"
    bad.write_text("{\n 'x': 1}")
    with pytest.raises(ValueError, match="bad.json, line 2"):
        load_cluster_map(bad)


def test_restricted_unpickler_reads_plain_maps(tmp_path, train):
    A = train[0].persona
    obj = {frozenset(A): 3, "x y": 4, 5: [("a", "b"), {"c"}], "n": None, "t": True}
    for proto in (0, 2, pickle.HIGHEST_PROTOCOL):
        assert restricted_load(pickle.dumps(obj, protocol=proto)) == obj
    path = tmp_path / "map.pkl"
    path.write_bytes(pickle.dumps({" ".join(A): 0}, protocol=2))
    assert group_tasks(train, load_cluster_map(path))[0].name == "cluster-0"


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"persona": _RunsCode(marker)})
    # the payload does run code with the ordinary unpickler (the check is meaningful) ...
    pickle.loads(payload)
    assert marker.exists()
    marker.unlink()
    # ... and is refused, before running anything, by ours
    with pytest.raises(UnsafePickleError, match=r"refusing to load global (posix|os)\.system"):
        restricted_load(payload)
    assert not marker.exists()
    path = tmp_path / "evil.pkl"
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match="evil.pkl"):
        load_cluster_map(path)
    assert not marker.exists()


def test_restricted_unpickler_refuses_other_classes():
    import collections

    with pytest.raises(UnsafePickleError, match="collections.OrderedDict"):
        restricted_load(pickle.dumps(collections.OrderedDict(a=1)))
    with pytest.raises(UnsafePickleError, match="float"):
        restricted_load(pickle.dumps({"a": 1.5}))
    with pytest.raises(ValueError, match="not a readable pickle"):
        restricted_load(pickle.dumps({"a": 1})[:-3])
