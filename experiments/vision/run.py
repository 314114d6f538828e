"""Everything at once: retrain each method on each seed, fine-tune each base, tabulate.

Layout of ``OUT``::

    retrain/<method>/seed-<s>/                      retraining runs (engine run folders)
    finetune/<method>/<adapter>-<n>/seed-<s>/       fine-tuning runs (n = images, or "all")
    table.md  table.json  table.png                 the comparison over seeds

Every step is a resumable run folder: with ``resume=True`` finished steps are read back
(and refused if their configuration differs), a killed step continues from its last epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

from landscape.errors import InvalidArgument
from landscape.runs import atomic_write_text, check_output_dir

from .data import detect_format, load_images
from .retrain import check_out
from .presets import ADAPTERS, METHODS, finetune_config, retrain_config
from .tasks import check_pairs
from .table import build_table, format_table, plot_table

__all__ = ["RunSummary", "run_all", "parse_methods", "parse_counts"]

#: default number of seeds per preset.
PRESET_SEEDS = {"paper-v2": 5, "quick": 3}
MAX_SEEDS = 1000


@dataclass(frozen=True)
class RunSummary:
    out: str
    table_md: str
    table_json: str
    figure: str
    text: str


def parse_methods(spec, *, flag: str = "--methods", choices=METHODS) -> tuple:
    items = [m.strip() for m in (spec.split(",") if isinstance(spec, str) else spec) if m.strip()]
    bad = [m for m in items if m not in choices]
    if not items or bad:
        raise InvalidArgument(f"`{flag}` must be a comma-separated subset of {','.join(choices)}; got {spec!r}.")
    return tuple(dict.fromkeys(items))


def parse_counts(spec, *, flag: str = "--finetune-images") -> tuple:
    """``"10,100,all"`` -> ``(10, 100, None)`` (None: every available image)."""
    out = []
    for part in spec.split(",") if isinstance(spec, str) else spec:
        part = str(part).strip()
        if part == "all":
            out.append(None)
        elif part.isdigit() and int(part) >= 2:
            out.append(int(part))
        else:
            raise InvalidArgument(f"`{flag}` must be counts >= 2 or 'all', comma-separated; got {spec!r}.")
    if not out:
        raise InvalidArgument(f"`{flag}` is empty.")
    return tuple(dict.fromkeys(out))


def run_all(
    data,
    out,
    *,
    methods=METHODS,
    preset: str = "quick",
    seeds=None,
    adapters=ADAPTERS,
    finetune_images=("preset",),
    runtime=None,
    resume: bool = False,
    progress: bool = True,
    retrain_overrides: dict | None = None,
    finetune_overrides: dict | None = None,
) -> RunSummary:
    """Retrain, fine-tune and tabulate (see the module doc). ``finetune_images`` holds counts,
    None (all images) or ``"preset"`` (the preset's count).
    """
    from .finetune import finetune
    from .retrain import retrain

    detect_format(data)  # a bad --data is refused before anything else
    methods = parse_methods(methods)
    adapters = parse_methods(adapters, flag="--adapters", choices=ADAPTERS)
    if preset not in PRESET_SEEDS:
        raise InvalidArgument(f"`--preset` must be one of {tuple(PRESET_SEEDS)}; got {preset!r}.")
    seeds = list(range(PRESET_SEEDS[preset])) if seeds is None else list(dict.fromkeys(seeds))
    if not 1 <= len(seeds) <= MAX_SEEDS:
        raise InvalidArgument(f"`--seeds` must give 1 to {MAX_SEEDS} seeds; got {len(seeds)}.")
    # validate the data and every configuration before creating or computing anything
    rcfgs = {
        (m, s): retrain_config(data, preset=preset, runtime=runtime, method=m, seed=s, **(retrain_overrides or {}))
        for m in methods
        for s in seeds
    }
    counts = []
    for n in finetune_images:
        counts.append(finetune_config("-", preset=preset).finetune_images if n == "preset" else n)
    counts = list(dict.fromkeys(counts))
    first = next(iter(rcfgs.values()))
    check_pairs(load_images(data), first.tasks, first.test_task)
    out = check_output_dir(check_out(out))
    ft_dirs = []
    for (m, s), cfg in rcfgs.items():
        base = out / "retrain" / m / f"seed-{s}"
        base.parent.mkdir(parents=True, exist_ok=True)
        retrain(cfg, base, resume=resume, progress=progress)
        for a in adapters:
            for n in counts:
                fcfg = finetune_config(
                    base,
                    preset=preset,
                    runtime=runtime,
                    adapter=a,
                    seed=s,
                    full=n is None,
                    finetune_images=n,
                    **(finetune_overrides or {}),
                )
                tag = f"{a}-{'all' if n is None else n}"
                ft = out / "finetune" / m / tag / f"seed-{s}"
                ft.parent.mkdir(parents=True, exist_ok=True)
                finetune(fcfg, ft, resume=resume, progress=progress)
                ft_dirs.append(ft)
    table = build_table(ft_dirs)
    text = format_table(table)
    from landscape.runs import atomic_write_json

    atomic_write_text(out / "table.md", text)
    atomic_write_json(out / "table.json", table.to_json(), sort_keys=True)
    plot_table(table, out / "table.png")
    return RunSummary(str(out), str(out / "table.md"), str(out / "table.json"), str(out / "table.png"), text)
