"""``metalora vision``: the paper's vision experiment (class-pair tasks, MLP-Mixer, SR vs Meta-LoRA).

Subcommands::

    metalora vision retrain  --data DIR --method sr|meta-lora|last-layer-ml|reptile --out RUN
    metalora vision finetune --base RUN... --adapter lora|last-layer --rank K --out FT
    metalora vision table    FT... [--out PREFIX]
    metalora vision run      --data DIR --methods sr,meta-lora,... --preset quick|paper-v2 --out DIR

``--data`` is a folder of CIFAR-10 python batches (``cifar-10-batches-py/``) or of IDX files
(Fashion-MNIST: ``apt-get install dataset-fashion-mnist`` puts them in
/usr/share/datasets/fashion-mnist). Nothing is downloaded. torch and peft are imported only
when a subcommand runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _runtime_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("runtime (how, not what: never part of a run's fingerprint)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: CUDA when available")
    g.add_argument(
        "--amp",
        choices=("auto", "bf16", "off"),
        default="auto",
        help="bf16 autocast with fp32 master weights (auto: on CUDA only)",
    )
    g.add_argument("--fused-adamw", choices=("auto", "on", "off"), default="auto", help="fused AdamW (auto: on CUDA)")
    g.add_argument(
        "--ddp",
        choices=("bucketed", "flat"),
        default="bucketed",
        help="under torchrun: DDP's overlapped buckets or one flat all-reduce",
    )
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    g.add_argument("--resume", action="store_true", help="continue a killed run in --out (same settings)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def _retrain_arguments(r: argparse.ArgumentParser) -> None:
    g = r.add_argument_group("retraining (default: the preset's value)")
    g.add_argument("--tasks", default=None, help="retraining class pairs (default 0-1,2-3,4-5,6-7)")
    g.add_argument("--test-task", default=None, help="test class pair (default 8-9)")
    g.add_argument("--heldout", type=int, default=None, help="held-out images per retraining task (epoch selection)")
    g.add_argument("--train-per-task", type=int, default=None, help="training images per task (default: all)")
    g.add_argument("--epochs", type=int, default=None)
    g.add_argument("--lr", type=float, default=None)
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument("--weight-decay", type=float, default=None)
    g.add_argument("--width", type=int, default=None, help="mixer width (paper 512)")
    g.add_argument("--token-hidden", type=int, default=None, help="token-mixing hidden size (paper 256)")
    g.add_argument("--channel-hidden", type=int, default=None, help="channel-mixing hidden size (paper 256)")
    g.add_argument("--depth", type=int, default=None, help="mixer blocks (paper 1)")
    g.add_argument("--patch", type=int, default=None, help="patch side (paper 4)")
    g.add_argument("--dropout", type=float, default=None)
    g.add_argument("--lora-rank", type=int, default=None, help="Meta-LoRA adapter rank (default 1)")
    g.add_argument("--lora-alpha", type=float, default=None)
    g.add_argument(
        "--meta-heads",
        choices=("shared", "per-task"),
        default=None,
        help="Meta-LoRA: one head with adapters on it (default) or a head per task",
    )
    g.add_argument("--reptile-inner-steps", type=int, default=None)
    g.add_argument("--reptile-outer-lr", type=float, default=None)
    g.add_argument("--augment-pad", type=int, default=None, help="random shifts of up to this many pixels")
    g.add_argument("--no-flip", action="store_true", help="no horizontal flips")


def _retrain_overrides(args) -> dict:
    return dict(
        tasks=args.tasks,
        test_task=args.test_task,
        heldout=args.heldout,
        train_per_task=args.train_per_task,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        weight_decay=args.weight_decay,
        width=args.width,
        token_hidden=args.token_hidden,
        channel_hidden=args.channel_hidden,
        depth=args.depth,
        patch=args.patch,
        dropout=args.dropout,
        lora_rank=args.lora_rank,
        lora_alpha=args.lora_alpha,
        meta_heads=args.meta_heads,
        reptile_inner_steps=args.reptile_inner_steps,
        reptile_outer_lr=args.reptile_outer_lr,
        augment_pad=args.augment_pad,
        augment_flip=False if args.no_flip else None,
    )


def _finetune_arguments(f: argparse.ArgumentParser, *, prefix: str = "") -> None:
    g = f.add_argument_group("fine-tuning (default: the preset's value)")
    g.add_argument(
        f"--{prefix}rank", dest="ft_rank", type=int, default=None, help="fine-tuning LoRA rank k (default 1)"
    )
    g.add_argument("--select-images", type=int, default=None, help="test-task images that choose the epoch")
    g.add_argument(
        "--evaluate-images", type=int, default=None, help="evaluation images (default: the whole test split)"
    )
    g.add_argument(f"--{prefix}epochs", dest="ft_epochs", type=int, default=None)
    g.add_argument(f"--{prefix}lr", dest="ft_lr", type=float, default=None)
    g.add_argument(f"--{prefix}batch-size", dest="ft_batch_size", type=int, default=None)
    g.add_argument(
        "--head-init",
        choices=("retrained", "fresh"),
        default=None,
        help="test head from the retrained head(s) (default) or random",
    )


def _finetune_overrides(args) -> dict:
    return dict(
        rank=args.ft_rank,
        select_images=args.select_images,
        evaluate_images=args.evaluate_images,
        epochs=args.ft_epochs,
        lr=args.ft_lr,
        batch_size=args.ft_batch_size,
        head_init=args.head_init,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from experiments.vision.presets import ADAPTERS, METHODS, PRESETS

    parser.epilog = "Run 'metalora vision SUBCOMMAND --help' for its options."
    sub = parser.add_subparsers(dest="vision_command", metavar="SUBCOMMAND")

    r = sub.add_parser(
        "retrain",
        help="retrain the MLP-Mixer on the class-pair tasks (SR, Meta-LoRA, last-layer ML, Reptile)",
        description="Retrain on the retraining class pairs; the epoch is chosen on held-out train-split images.",
    )
    r.add_argument("--data", required=True, metavar="DIR", help="CIFAR-10 python batches or IDX files")
    r.add_argument("--method", choices=METHODS, default="sr")
    r.add_argument("--preset", choices=tuple(PRESETS), default="paper-v2")
    r.add_argument("--seed", type=int, nargs="+", default=[0], help="one or more seeds")
    r.add_argument("--out", required=True, metavar="RUN", help="run directory (RUN/seed-S for several seeds)")
    _retrain_arguments(r)
    _runtime_arguments(r)

    f = sub.add_parser(
        "finetune",
        help="fine-tune retrained bases on the test task (fresh LoRA rank k + head, or head only)",
        description="Fine-tune the best epoch of each retraining run on its test class pair.",
    )
    f.add_argument("--base", required=True, nargs="+", metavar="RUN", help="retraining run(s)")
    f.add_argument("--adapter", choices=ADAPTERS, default="lora")
    f.add_argument(
        "--finetune-images",
        default=None,
        metavar="N|all",
        help="fine-tuning images (few-shot count, or 'all'; default: the preset's)",
    )
    f.add_argument("--preset", choices=tuple(PRESETS), default="paper-v2")
    f.add_argument("--seed", type=int, default=None, help="fine-tuning seed (default: the base run's)")
    f.add_argument("--data", default=None, help="image folder (default: the base run's)")
    f.add_argument("--weight-decay", type=float, default=None)
    f.add_argument("--out", required=True, metavar="FT", help="output directory (FT/<base name> for several bases)")
    _finetune_arguments(f)
    _runtime_arguments(f)

    t = sub.add_parser(
        "table",
        help="accuracy per method over seeds (median, spread; honest and best-on-test), and a figure",
        description="Tabulate fine-tuning runs: median [min, max] over seeds, Meta-LoRA vs SR paired by seed.",
    )
    t.add_argument("runs", nargs="+", metavar="FT", help="fine-tuning runs, or folders holding them")
    t.add_argument("--out", default=None, metavar="PREFIX", help="also write PREFIX.md, PREFIX.json, PREFIX.png")

    a = sub.add_parser(
        "run",
        help="retrain every method on every seed, fine-tune each, and tabulate (all three steps)",
        description="retrain + finetune + table in one resumable folder.",
    )
    a.add_argument("--data", required=True, metavar="DIR", help="CIFAR-10 python batches or IDX files")
    a.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)}")
    a.add_argument("--preset", choices=tuple(PRESETS), default="quick")
    a.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default: 3 for quick, 5 for paper-v2)")
    a.add_argument("--adapters", default=",".join(ADAPTERS), help="fine-tuning: lora, last-layer or both")
    a.add_argument(
        "--finetune-images",
        default=None,
        metavar="N,...|all",
        help="fine-tuning image counts, e.g. 10,100,all (default: the preset's)",
    )
    a.add_argument("--out", required=True, metavar="DIR")
    _retrain_arguments(a)
    _finetune_arguments(a, prefix="ft-")
    _runtime_arguments(a)


def _runtime(args):
    from experiments.engine import RuntimeOptions

    if args.threads is not None and not 1 <= args.threads <= 4096:
        from landscape.errors import InvalidArgument

        raise InvalidArgument(f"`--threads` must be an integer in [1, 4096]; got {args.threads}.")
    return RuntimeOptions(
        device=args.device, amp=args.amp, fused_adamw=args.fused_adamw, threads=args.threads, ddp=args.ddp
    )


def _run_retrain(args) -> int:
    from experiments.vision.presets import retrain_config
    from experiments.vision.retrain import retrain

    seeds = list(dict.fromkeys(args.seed))
    cfgs = [
        retrain_config(
            args.data,
            preset=args.preset,
            runtime=_runtime(args),
            method=args.method,
            seed=s,
            **_retrain_overrides(args),
        )
        for s in seeds
    ]
    for s, cfg in zip(seeds, cfgs):
        out = Path(args.out) if len(seeds) == 1 else Path(args.out) / f"seed-{s}"
        res = retrain(cfg, out, resume=args.resume, progress=not args.no_progress)
        if _is_main():
            print(
                f"{res.method} seed {s}: best epoch {res.best_epoch}, mean held-out accuracy "
                f"{res.best_mean_heldout_accuracy:.4f}, {res.seconds:.1f} s -> {out}"
            )
    return 0


def _count(spec):
    """``--finetune-images`` of ``finetune``: one count, ``all`` (None) or the preset's."""
    from experiments.vision.run import parse_counts
    from landscape.errors import InvalidArgument

    if spec is None:
        return "preset"
    counts = parse_counts(spec)
    if len(counts) != 1:
        raise InvalidArgument("`--finetune-images` takes one count or 'all' here (several: use 'vision run').")
    return counts[0]


def _run_finetune(args) -> int:
    from experiments.vision.finetune import finetune
    from experiments.vision.presets import finetune_config
    from experiments.vision.retrain import load_base

    n = _count(args.finetune_images)
    bases = list(dict.fromkeys(args.base))
    cfgs = []
    for base in bases:
        seed = args.seed if args.seed is not None else load_base(base)["config"].seed
        extra = _finetune_overrides(args)
        extra["weight_decay"] = args.weight_decay
        if n != "preset":
            extra["finetune_images"] = n
        cfgs.append(
            finetune_config(
                base,
                preset=args.preset,
                runtime=_runtime(args),
                adapter=args.adapter,
                seed=seed,
                data=args.data,
                full=n is None,
                **extra,
            )
        )
    for base, cfg in zip(bases, cfgs):
        out = Path(args.out) if len(bases) == 1 else Path(args.out) / Path(base).name
        res = finetune(cfg, out, resume=args.resume, progress=not args.no_progress)
        if _is_main():
            print(
                f"{res.method} -> {res.adapter} (rank {res.rank}), {res.n_finetune} images, seed {res.seed}: "
                f"honest accuracy {res.honest_accuracy:.4f} (epoch {res.honest_epoch}), best-on-test "
                f"{res.paper_accuracy:.4f}, before {res.before_accuracy:.4f}, {res.seconds:.1f} s -> {out}"
            )
    return 0


def _run_table(args) -> int:
    from experiments.vision.table import build_table, format_table, plot_table
    from landscape.runs import atomic_write_json, atomic_write_text, check_output_file

    if args.out:
        prefix = Path(args.out)
        for ext in (".md", ".json", ".png"):
            check_output_file(prefix.with_name(prefix.name + ext))
    table = build_table(args.runs)
    text = format_table(table)
    print(text)
    if args.out:
        atomic_write_text(prefix.with_name(prefix.name + ".md"), text)
        atomic_write_json(prefix.with_name(prefix.name + ".json"), table.to_json(), sort_keys=True)
        plot_table(table, prefix.with_name(prefix.name + ".png"))
        print(f"wrote {prefix}.md, {prefix}.json and {prefix}.png", file=sys.stderr)
    return 0


def _run_all(args) -> int:
    from experiments.vision.run import parse_counts, run_all

    if args.seeds is not None and not 1 <= args.seeds <= 1000:
        from landscape.errors import InvalidArgument

        raise InvalidArgument(f"`--seeds` must be an integer in [1, 1000]; got {args.seeds}.")
    counts = ("preset",) if args.finetune_images is None else parse_counts(args.finetune_images)
    ft = {k: v for k, v in _finetune_overrides(args).items() if v is not None}
    summary = run_all(
        args.data,
        args.out,
        methods=args.methods,
        preset=args.preset,
        seeds=None if args.seeds is None else range(args.seeds),
        adapters=args.adapters,
        finetune_images=counts,
        runtime=_runtime(args),
        resume=args.resume,
        progress=not args.no_progress,
        retrain_overrides=_retrain_overrides(args),
        finetune_overrides=ft,
    )
    if _is_main():
        print(summary.text)
        print(f"wrote {summary.table_md}, {summary.table_json} and {summary.figure}", file=sys.stderr)
    return 0


def run(args) -> int:
    from landscape.errors import InvalidArgument

    cmd = getattr(args, "vision_command", None)
    if cmd is None:
        raise InvalidArgument("give a subcommand: retrain, finetune, table or run (see 'metalora vision --help').")
    if getattr(args, "out", None) == "":
        raise InvalidArgument("`--out` must name a folder; got an empty string.")
    return {"retrain": _run_retrain, "finetune": _run_finetune, "table": _run_table, "run": _run_all}[cmd](args)
