"""On the synthetic corpus (persona facts decide the reply), SR and Meta-LoRA, each retrained
and then fine-tuned with a fresh LoRA adapter and head per test persona, beat chance (1/20)
on the evaluation dialogues at the honestly selected epoch.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
from scipy.stats import binomtest  # noqa: E402

from experiments.convai2 import finetune_config, retrain_config, write_synth  # noqa: E402
from experiments.convai2.finetune import finetune  # noqa: E402
from experiments.convai2.retrain import retrain  # noqa: E402

torch.set_num_threads(1)
CHANCE = 1 / 20
ALPHA = 1e-3


def beats_chance(correct: int, total: int) -> bool:
    """One-sided exact binomial test of accuracy > 1/20 at level ALPHA."""
    return binomtest(correct, total, CHANCE, alternative="greater").pvalue < ALPHA


def test_binomial_check_is_not_vacuous():
    rng = np.random.default_rng(0)
    hits = int((rng.integers(0, 20, size=36) == 0).sum())  # a model that guesses
    assert not beats_chance(hits, 36)
    assert beats_chance(9, 36)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_synth(
        root,
        seed=1,
        train_personas=4,
        valid_personas=3,
        dialogues_per_persona=(12, 14),
        turns=4,
        slots_per_persona=4,
        n_values=4,
    )
    return root


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sr", "meta-lora"])
def test_beats_chance_after_finetuning(corpus, tmp_path, method):
    cfg = retrain_config(
        str(corpus),
        preset="quick",
        method=method,
        tasks=4,
        heldout_dialogues=1,
        epochs=8,
        lr=1e-3,
        max_length=20,
        max_candidate_length=10,
        batch_size=4,
        lora_rank=4,
        lora_alpha=4.0,
    )
    base = retrain(cfg, tmp_path / "run", progress=False)
    assert base.history[-1].train_loss < base.history[0].train_loss
    ft = finetune(
        finetune_config(
            str(tmp_path / "run"),
            preset="quick",
            rank=4,
            test_tasks=3,
            eval_dialogues=3,
            select_dialogues=2,
            epochs=8,
            lr=3e-3,
            batch_size=4,
        ),
        tmp_path / "ft",
        progress=False,
    )
    correct = sum(round(t.honest_accuracy * t.n_eval) for t in ft.tasks)
    total = sum(t.n_eval for t in ft.tasks)
    assert total == 36
    assert beats_chance(correct, total), (
        f"{method}: {correct}/{total} correct at the honestly selected epochs"
    )
