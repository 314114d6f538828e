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
    with pytest.raises(ValueError, match="--finetune-dialogues"):
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


# --------------------------------------------------------------------------- the authors' maps


def _authors_map(dialogues, ids):
    """A map shaped like the paper pipeline's: persona text (sentences joined, no trailing
    periods) -> numpy integer cluster id.
    """
    import numpy as np

    return {
        " ".join(s.rstrip(" .") for s in d.persona): np.int64(c) for d, c in zip(dialogues, ids)
    }


def test_numpy_scalar_ids_and_periodless_sentences(train, tmp_path):
    import numpy as np

    A, B = train[0], train[3]  # two different personas (A appears again, reordered)
    assert persona_key(A.persona) != persona_key(B.persona)
    amap = _authors_map([A, B], [7, 7])
    payload = pickle.dumps(amap, protocol=4)
    assert b"numpy" in payload  # numpy scalars really are in the pickle
    got = restricted_load(payload)
    assert set(got.values()) == {7} and all(type(v) is int for v in got.values())
    path = tmp_path / "train_persona_map"
    path.write_bytes(payload)
    report = {}
    tasks = group_tasks(train, load_cluster_map(path), report=report)
    sizes = {persona_key(t.persona): t.n_dialogues for t in group_tasks(train)}
    want = sizes[persona_key(A.persona)] + sizes[persona_key(B.persona)]
    assert tasks[0].name == "cluster-7" and tasks[0].n_dialogues == want
    assert report == {"personas": 3, "matched": 2, "clusters": 1}
    # numpy 1 module names (numpy.core.multiarray) load too: rewrite the protocol-0 pickle
    old = pickle.dumps(amap, protocol=0).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in old
    assert restricted_load(old) == got
    # arrays of integers are allowed, arrays of floats or objects are not
    assert restricted_load(pickle.dumps({"a": np.arange(3)})) == {"a": [0, 1, 2]}
    with pytest.raises(UnsafePickleError, match="float64"):
        restricted_load(pickle.dumps({"a": np.ones(2)}))
    with pytest.raises(UnsafePickleError, match="object"):
        restricted_load(pickle.dumps({"a": np.array([None, 1], dtype=object)}))


def test_restricted_unpickler_still_refuses_numpy_callables():
    import numpy as np

    with pytest.raises(UnsafePickleError, match="numpy.*load"):
        restricted_load(b"cnumpy\nload\n(S'x'\ntR.")
    with pytest.raises(UnsafePickleError, match="numpy"):
        restricted_load(pickle.dumps(np.float64(1.5)))


def test_periodless_map_matched_the_old_way_matches_nothing(train):
    """The bug the normalisation fixes: with end punctuation kept on one side only, the
    old matcher (exact sentences) found nothing; the new one finds both personas.
    """
    amap = {" ".join(s.rstrip(" .") for s in train[0].persona): 1}
    old_style_keys = {tuple(sorted(s.rstrip(" .") for s in train[0].persona))}
    assert tuple(sorted(train[0].persona)) not in old_style_keys
    assert group_tasks(train, normalize_cluster_map(amap))[0].name == "cluster-1"


def test_cluster_map_folder_per_split(train, tmp_path):
    from experiments.convai2.tasks import load_split_cluster_map

    valid = read_parlai(FIXTURES / "valid_self_original.txt")
    folder = tmp_path / "maps"
    folder.mkdir()
    (folder / "train_persona_map").write_bytes(pickle.dumps(_authors_map(train[:1], [0])))
    (folder / "valid_persona_map").write_bytes(pickle.dumps(_authors_map(valid[:1], [0])))
    tmap, tf = load_split_cluster_map(folder, "train")
    vmap, vf = load_split_cluster_map(folder, "valid")
    assert tf.endswith("train_persona_map") and vf.endswith("valid_persona_map")
    r1, r2 = {}, {}
    assert group_tasks(train, tmap, report=r1)[0].name == "cluster-0"
    assert group_tasks(valid, vmap, report=r2)[0].name == "cluster-0"
    assert r1["matched"] == 1 and r2["matched"] == 1
    # a map that matches nothing is an error (the valid map applied to the train split)
    with pytest.raises(ValueError, match="matches none of the 3 personas"):
        group_tasks(train, vmap, source="valid_persona_map")
    (folder / "valid_persona_map").unlink()
    with pytest.raises(ValueError, match="must hold one valid_persona_map"):
        load_split_cluster_map(folder, "valid")


def test_task_ranking_by_training_examples():
    from experiments.convai2.data import Dialogue, Example

    def dialogue(tag, n_examples):
        ex = tuple(Example((f"{tag} q{i}",), ("a", "b"), 0) for i in range(n_examples))
        return Dialogue((f"i am {tag} .",), ex)

    # "few": 4 dialogues of 1 example; "many": 3 dialogues of 5 examples
    ds = [dialogue("few", 1) for _ in range(4)] + [dialogue("many", 5) for _ in range(3)]
    tasks = group_tasks(ds)
    by_dialogues = retrain_splits(tasks, 1, heldout_dialogues=1, ranking="dialogues")
    by_examples = retrain_splits(tasks, 1, heldout_dialogues=1, ranking="examples")
    assert len(by_dialogues[0].train) == 3 and len(by_examples[0].train) == 2
    with pytest.raises(ValueError, match="--task-ranking"):
        retrain_splits(tasks, 1, ranking="size")


def test_paper_split_and_flag_names():
    valid = read_parlai(FIXTURES / "valid_self_original.txt")
    (a, _) = test_splits(group_tasks(valid), 2, eval_dialogues=1, select_dialogues=0)
    t = next(t for t in group_tasks(valid) if t.name == a.name)
    assert a.select == () and a.finetune == t.dialogues[:-1] and a.evaluate == t.dialogues[-1:]
    with pytest.raises(ValueError, match="`--test-tasks` 9: only"):
        test_splits(group_tasks(valid), 9)
    with pytest.raises(ValueError, match="--select-dialogues"):
        test_splits(group_tasks(valid), 2, select_dialogues=-1)
