"""Presets: paper-v1 is Appendix C; explicit values win; bad values are refused by name."""

import pytest

from experiments.convai2.presets import RuntimeOptions, finetune_config, retrain_config


@pytest.mark.parametrize(
    "method,rank,lr,bs",
    [("sr", 8, 5e-5, 6), ("meta-lora", 8, 3e-5, 4), ("meta-lora", 16, 5e-5, 4)],
)
def test_paper_v1_is_appendix_c(method, rank, lr, bs):
    c = retrain_config("d", method=method, lora_rank=rank)
    assert (c.lr, c.batch_size, c.epochs, c.model) == (lr, bs, 30, "roberta-large")
    assert (c.lora_rank, c.lora_alpha, c.lora_dropout) == (rank, 16.0, 0.1)
    assert (
        not c.persona_in_context
        and c.loss == "pointwise"
        and c.tasks == 10
        and c.heldout_dialogues == 3
    )
    f = finetune_config("run", rank=rank)
    assert (f.lr, f.batch_size, f.epochs, f.alpha, f.dropout, f.rank) == (
        3e-5,
        6,
        30,
        16.0,
        0.1,
        rank,
    )
    assert (f.test_tasks, f.eval_dialogues) == (10, 2)


def test_explicit_values_win_and_round_trip():
    c = retrain_config(
        "d", preset="quick", method="reptile", lr=0.1, runtime=RuntimeOptions(device="cpu")
    )
    assert c.lr == 0.1 and c.model == "roberta-tiny-random" and c.runtime.device == "cpu"
    assert type(c).from_dict(c.to_json()) == c


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"method": "maml"}, "`--method` must be one of"),
        ({"lr": 0.0}, "`--lr` must be > 0"),
        ({"epochs": 0}, "`--epochs` must be an integer >= 1"),
        ({"lora_dropout": 1.0}, "`--lora-dropout` must be in"),
        ({"loss": "hinge"}, "`--loss` must be one of"),
        ({"max_length": 32, "max_candidate_length": 32}, "--max-candidate-length"),
        ({"preset": "paper-v2"}, "`--preset` must be one of"),
        ({"runtime": RuntimeOptions(device="tpu")}, "`--device` must be one of"),
    ],
)
def test_bad_retrain_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        retrain_config("d", **kw)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"adapter": "ia3"}, "`--adapter`"),
        ({"rank": 0}, "`--rank`"),
        ({"head_init": "x"}, "`--head-init`"),
    ],
)
def test_bad_finetune_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        finetune_config("run", **kw)
