"""``metalora convai2``: the paper's language experiment (ConvAI2 personas, Table 1).

Subcommands::

    metalora convai2 synth    --out DIR                      # synthetic corpus (ParlAI format)
    metalora convai2 retrain  --data DIR --method sr|meta-lora|last-layer-ml|reptile --model M --out RUN
    metalora convai2 finetune --base RUN... --adapter lora|last-layer --rank R --out FT
    metalora convai2 table    FT... [--out PREFIX]

torch, transformers and peft are imported only when a subcommand runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _is_main() -> bool:
    """Rank 0 (or a single process): the one that prints under torchrun."""
    return int(os.environ.get("RANK", "0")) == 0


def _runtime_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("runtime (how, not what)")
    g.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto: CUDA when available",
    )
    g.add_argument(
        "--amp",
        choices=("auto", "bf16", "off"),
        default="auto",
        help="bf16 autocast with fp32 master weights (auto: on CUDA only)",
    )
    g.add_argument(
        "--compile", action="store_true", help="torch.compile the model (dynamic shapes)"
    )
    g.add_argument(
        "--grad-checkpointing",
        action="store_true",
        help="activation checkpointing (less memory, ~30%% slower)",
    )
    g.add_argument(
        "--fused-adamw",
        choices=("auto", "on", "off"),
        default="auto",
        help="fused AdamW kernels (auto: on CUDA)",
    )
    g.add_argument(
        "--attn",
        choices=("auto", "sdpa", "eager"),
        default="auto",
        help="attention implementation (auto: sdpa on CUDA, eager on CPU)",
    )
    g.add_argument(
        "--pad-multiple", type=int, default=8, help="pad each batch's length to a multiple of this"
    )
    g.add_argument(
        "--eval-max-tokens",
        type=int,
        default=65536,
        help="padded-token budget of an evaluation batch",
    )
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    g.add_argument(
        "--ddp",
        choices=("bucketed", "flat"),
        default="bucketed",
        help="under torchrun: DDP's bucketed all-reduce overlapping backward, or one flat all-reduce after it",
    )
    g.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from experiments.convai2.presets import METHODS, PRESETS

    parser.epilog = "Run 'metalora convai2 SUBCOMMAND --help' for its options."
    sub = parser.add_subparsers(dest="convai2_command", metavar="SUBCOMMAND")

    s = sub.add_parser(
        "synth",
        help="write a synthetic ConvAI2-shaped corpus whose persona facts determine the reply",
        description="Write train/valid_self_original.txt (ParlAI text) whose persona facts determine the correct reply.",
    )
    s.add_argument("--out", required=True, metavar="DIR")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--train-personas", type=int, default=24)
    s.add_argument("--valid-personas", type=int, default=14)
    s.add_argument(
        "--dialogues",
        type=int,
        nargs=2,
        default=(3, 8),
        metavar=("LOW", "HIGH"),
        help="dialogues per persona (range)",
    )
    s.add_argument("--turns", type=int, default=4, help="replies per dialogue")
    s.add_argument("--slots", type=int, default=5, help="facts per persona (of 7)")
    s.add_argument("--candidates", type=int, default=20)
    s.add_argument("--values", type=int, default=10, help="values per fact slot (2..10)")
    s.add_argument(
        "--same-slot",
        type=int,
        default=None,
        help="hard distractors: same question, other value (default all)",
    )
    s.add_argument("--json", action="store_true", help="also write personachat_self_original.json")

    r = sub.add_parser(
        "retrain",
        help="retrain on the train split's largest personas (SR, Meta-LoRA, last-layer ML, Reptile)",
        description="Retrain a cross-encoder on the T largest personas of the train split.",
    )
    r.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="directory with train/valid_self_original.txt or personachat_self_original.json",
    )
    r.add_argument("--method", choices=METHODS, default="sr")
    r.add_argument(
        "--model",
        default=None,
        help="pretrained: roberta-large | roberta-base (from the local Hugging Face cache, offline) | a local "
        "snapshot directory; random weights: roberta-large-random | roberta-base-random | roberta-tiny-random "
        "(default: the preset's)",
    )
    r.add_argument(
        "--out", required=True, metavar="RUN", help="run directory (OUT/seed-S for several seeds)"
    )
    r.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default="paper-v1",
        help="hyperparameters (paper-v1: Appendix C)",
    )
    r.add_argument("--seed", type=int, nargs="+", default=[0], help="one or more seeds")
    r.add_argument(
        "--tasks", type=int, default=None, help="number of retraining personas T (default 10)"
    )
    r.add_argument(
        "--heldout-dialogues",
        type=int,
        default=None,
        help="held-out dialogues per persona (default 3)",
    )
    r.add_argument(
        "--cluster-map",
        default=None,
        metavar="PATH",
        help="persona cluster map(s): one file (JSON or pickle, read safely) for both splits, or a folder "
        "holding train_persona_map and valid_persona_map",
    )
    r.add_argument(
        "--task-ranking",
        choices=("examples", "dialogues"),
        default=None,
        help="rank personas by training examples after the held-out split (the paper pipeline's rule, "
        "default) or by dialogues",
    )
    r.add_argument(
        "--persona-in-context",
        action="store_true",
        help="prepend the persona sentences (off = the paper)",
    )
    r.add_argument("--loss", choices=("pointwise", "listwise"), default=None)
    r.add_argument("--epochs", type=int, default=None)
    r.add_argument("--lr", type=float, default=None)
    r.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="examples (each with its 20 candidates) per batch",
    )
    r.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="padded-token budget per batch (overrides --batch-size)",
    )
    r.add_argument("--weight-decay", type=float, default=None)
    r.add_argument("--rank", type=int, default=None, help="Meta-LoRA adapter rank (default 8)")
    r.add_argument("--alpha", type=float, default=None, help="LoRA alpha (default 16)")
    r.add_argument("--lora-dropout", type=float, default=None)
    r.add_argument(
        "--targets",
        default=None,
        help="LoRA targets: all-linear | attention | name suffixes (query,value)",
    )
    r.add_argument(
        "--warmup-ratio",
        type=float,
        default=None,
        help="linear learning-rate warm-up over this fraction of the steps (paper-v1: 0.1)",
    )
    r.add_argument(
        "--no-bucketing",
        action="store_true",
        help="plain random minibatches instead of length-bucketed ones",
    )
    r.add_argument(
        "--task-batching",
        choices=("cycle", "mixed"),
        default=None,
        help="meta-lora/last-layer-ml: cycle the tasks one minibatch each (peft adapters), or mix tasks "
        "in every batch (batched LoRA: each example through its own adapter)",
    )
    r.add_argument("--reptile-inner-steps", type=int, default=None)
    r.add_argument("--reptile-outer-lr", type=float, default=None)
    r.add_argument("--max-length", type=int, default=None)
    r.add_argument("--max-candidate-length", type=int, default=None)
    r.add_argument(
        "--model-dropout",
        type=float,
        default=None,
        help="override every dropout probability of the model",
    )
    r.add_argument(
        "--tokenizer-vocab", type=int, default=None, help="BPE vocabulary size for model presets"
    )
    _runtime_arguments(r)

    f = sub.add_parser(
        "finetune",
        help="fine-tune retrained bases on each test persona (fresh LoRA + head, or head only)",
        description="Fine-tune the best epoch of each retraining run on the validation split's largest personas.",
    )
    f.add_argument("--base", required=True, nargs="+", metavar="RUN", help="retraining run(s)")
    f.add_argument("--adapter", choices=("lora", "last-layer"), default="lora")
    f.add_argument("--rank", type=int, default=None, help="LoRA rank k (default 8)")
    f.add_argument(
        "--out",
        required=True,
        metavar="FT",
        help="output directory (FT/<base name> for several bases)",
    )
    f.add_argument("--preset", choices=tuple(PRESETS), default="paper-v1")
    f.add_argument(
        "--seed", type=int, default=None, help="fine-tuning seed (default: the base run's seed)"
    )
    f.add_argument("--data", default=None, help="data directory (default: the base run's)")
    f.add_argument(
        "--test-tasks", type=int, default=None, help="number of test personas (default 10)"
    )
    f.add_argument(
        "--eval-dialogues",
        type=int,
        default=None,
        help="evaluation dialogues per persona (default 2)",
    )
    f.add_argument(
        "--select-dialogues",
        type=int,
        default=None,
        help="selection dialogues per persona (default 1); 0 = the paper's split (fine-tune on all but the "
        "evaluation dialogues; only the labelled test-set early-stopping number)",
    )
    f.add_argument(
        "--task-ranking",
        choices=("examples", "dialogues"),
        default=None,
        help="rank test personas by examples outside the evaluation dialogues (default) or by dialogues",
    )
    f.add_argument(
        "--eval-epoch0",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also evaluate before fine-tuning (epoch 0; paper-v1: on)",
    )
    f.add_argument("--warmup-ratio", type=float, default=None, help="warm-up fraction (paper-v1: 0.1)")
    f.add_argument("--no-bucketing", action="store_true", help="plain random minibatches")
    f.add_argument(
        "--finetune-dialogues",
        type=int,
        default=None,
        help="fine-tuning dialogues per persona (default: the rest)",
    )
    f.add_argument("--epochs", type=int, default=None)
    f.add_argument("--lr", type=float, default=None)
    f.add_argument("--batch-size", type=int, default=None)
    f.add_argument("--max-tokens", type=int, default=None)
    f.add_argument("--weight-decay", type=float, default=None)
    f.add_argument("--alpha", type=float, default=None)
    f.add_argument("--dropout", type=float, default=None, help="LoRA dropout")
    f.add_argument("--targets", default=None)
    f.add_argument(
        "--head-init",
        choices=("fresh", "mean"),
        default=None,
        help="fresh (the paper) or the mean of the retrained heads",
    )
    _runtime_arguments(f)

    t = sub.add_parser(
        "table",
        help="Table 1 from fine-tuning runs (median and mean ± s.e. over seeds; honest and paper numbers)",
        description="Print and write the Table-1 layout from fine-tuning run directories.",
    )
    t.add_argument(
        "runs", nargs="+", metavar="FT", help="fine-tuning runs, or folders holding them"
    )
    t.add_argument(
        "--out",
        default="results/convai2_table",
        metavar="PREFIX",
        help="writes PREFIX.md and PREFIX.json",
    )
    t.add_argument(
        "--no-reference", action="store_true", help="omit the paper's Table 1 for reference"
    )


def _runtime(args):
    from experiments.convai2.presets import RuntimeOptions

    return RuntimeOptions(
        device=args.device,
        amp=args.amp,
        compile=args.compile,
        grad_checkpointing=args.grad_checkpointing,
        fused_adamw=args.fused_adamw,
        attn=args.attn,
        pad_multiple=args.pad_multiple,
        eval_max_tokens=args.eval_max_tokens,
        threads=args.threads,
        ddp=args.ddp,
    )


def _run_synth(args) -> int:
    from experiments.convai2.synth import write_synth

    res = write_synth(
        args.out,
        seed=args.seed,
        train_personas=args.train_personas,
        valid_personas=args.valid_personas,
        dialogues_per_persona=tuple(args.dialogues),
        turns=args.turns,
        slots_per_persona=args.slots,
        n_candidates=args.candidates,
        same_slot_distractors=args.same_slot,
        n_values=args.values,
        json_too=args.json,
    )
    print(json.dumps(res.to_json(), indent=2))
    return 0


def _run_retrain(args) -> int:
    from experiments.convai2.presets import retrain_config
    from experiments.convai2.retrain import retrain

    seeds = list(dict.fromkeys(args.seed))
    for seed in seeds:
        cfg = retrain_config(
            args.data,
            preset=args.preset,
            runtime=_runtime(args),
            method=args.method,
            model=args.model,
            seed=seed,
            tasks=args.tasks,
            heldout_dialogues=args.heldout_dialogues,
            cluster_map=args.cluster_map,
            persona_in_context=args.persona_in_context or None,
            loss=args.loss,
            epochs=args.epochs,
            lr=args.lr,
            batch_size=args.batch_size,
            max_tokens=args.max_tokens,
            weight_decay=args.weight_decay,
            lora_rank=args.rank,
            lora_alpha=args.alpha,
            lora_dropout=args.lora_dropout,
            lora_targets=args.targets,
            reptile_inner_steps=args.reptile_inner_steps,
            warmup_ratio=args.warmup_ratio,
            bucketing=False if args.no_bucketing else None,
            task_batching=args.task_batching,
            task_ranking=args.task_ranking,
            reptile_outer_lr=args.reptile_outer_lr,
            max_length=args.max_length,
            max_candidate_length=args.max_candidate_length,
            model_dropout=args.model_dropout,
            tokenizer_vocab=args.tokenizer_vocab,
        )
        out = Path(args.out) if len(seeds) == 1 else Path(args.out) / f"seed-{seed}"
        res = retrain(cfg, out, resume=args.resume, progress=not args.no_progress)
        mem = res.peak_memory
        if _is_main():
            print(
                f"{res.method} seed {seed}: best epoch {res.best_epoch}, mean held-out accuracy "
                f"{res.best_mean_heldout_accuracy:.4f}, {res.seconds:.1f} s, peak memory "
                f"{mem['allocated_bytes'] / 2**20:.0f} MiB ({mem['kind']}) -> {out}"
            )
    return 0


def _run_finetune(args) -> int:
    from experiments.convai2.finetune import finetune
    from experiments.convai2.presets import finetune_config
    from experiments.convai2.retrain import load_base

    bases = list(dict.fromkeys(args.base))
    for base in bases:
        seed = args.seed if args.seed is not None else load_base(base)["config"].seed
        cfg = finetune_config(
            base,
            preset=args.preset,
            runtime=_runtime(args),
            adapter=args.adapter,
            rank=args.rank,
            alpha=args.alpha,
            dropout=args.dropout,
            targets=args.targets,
            seed=seed,
            data=args.data,
            test_tasks=args.test_tasks,
            eval_dialogues=args.eval_dialogues,
            select_dialogues=args.select_dialogues,
            finetune_dialogues=args.finetune_dialogues,
            epochs=args.epochs,
            lr=args.lr,
            batch_size=args.batch_size,
            max_tokens=args.max_tokens,
            weight_decay=args.weight_decay,
            head_init=args.head_init,
            task_ranking=args.task_ranking,
            eval_epoch0=args.eval_epoch0,
            warmup_ratio=args.warmup_ratio,
            bucketing=False if args.no_bucketing else None,
        )
        out = Path(args.out) if len(bases) == 1 else Path(args.out) / Path(base).name
        res = finetune(cfg, out, resume=args.resume, progress=not args.no_progress)
        mem = res.peak_memory
        if _is_main():
            honest = (
                "no honest number (paper split)"
                if res.mean_honest_accuracy is None
                else f"mean honest accuracy {res.mean_honest_accuracy:.4f}"
            )
            print(
                f"{res.method} -> {res.adapter} (rank {res.rank}) seed {res.seed}: {honest}, "
                f"mean paper-style accuracy (test-set early stopping) {res.mean_paper_accuracy:.4f}, "
                f"{res.seconds:.1f} s, peak memory {mem['allocated_bytes'] / 2**20:.0f} MiB ({mem['kind']}) -> {out}"
            )
    return 0


def _expand_runs(paths):
    out = []
    for p in map(Path, paths):
        if p.is_dir() and not (p / "results.json").is_file():
            found = sorted(q.parent for q in p.glob("*/results.json"))
            out.extend(found or [p])
        else:
            out.append(p)
    return out


def _run_table(args) -> int:
    from landscape.runs import atomic_write_json, atomic_write_text, check_output_file
    from experiments.convai2.table import build_table, format_table

    if args.out:  # before reading anything
        prefix = Path(args.out)
        for ext in (".md", ".json"):
            check_output_file(prefix.with_name(prefix.name + ext), arg="--out")
    table = build_table(_expand_runs(args.runs))
    text = format_table(table, paper_reference=not args.no_reference)
    print(text)
    if args.out:
        atomic_write_text(prefix.with_name(prefix.name + ".md"), text)
        atomic_write_json(prefix.with_name(prefix.name + ".json"), table.to_json(), sort_keys=True)
        print(f"wrote {prefix}.md and {prefix}.json", file=sys.stderr)
    return 0


def run(args) -> int:
    from landscape.errors import InvalidArgument

    cmd = getattr(args, "convai2_command", None)
    if cmd is None:
        raise InvalidArgument(
            "give a subcommand: synth, retrain, finetune or table (see 'metalora convai2 --help')."
        )
    return {
        "synth": _run_synth,
        "retrain": _run_retrain,
        "finetune": _run_finetune,
        "table": _run_table,
    }[cmd](args)
