"""``metalora verify``: every claim of docs/math.md §5 on default instances, one report.

:func:`verify` runs each claim on the instances of a *profile* (``quick``: the ``make
verify`` default, well under a minute on 2 cores; ``full``: more and larger instances, more
starts, with a progress bar), combines the per-instance records into one
:class:`~theorems.result.ClaimResult` per claim and returns a :class:`VerifyReport`.

Instances
---------
Each claim has *claim* instances (inside its hypothesis: they decide ``holds``) and
*contrast* instances (deliberately outside it, e.g. ``T = 2`` for exact recovery or
``Tk > d`` for Thm 3.1): those report ``assumption-not-met`` with what was measured —
the contrast the paper draws. Random instances are ``Problem.random(d, k, T,
seed=derive_seed(seed, "verify", d, k, T))`` (:func:`problem_seed`, the one seed scheme of
:mod:`landscape.runs`), so ``--seed`` moves
every random instance and claims run on the same sizes share one problem (and one search).
Three instances are fixed by design: the exact ``d = 2`` hyperbola example
(``u*_1 = e_1, u*_2 = e_2``) and the two plain random instances of ``SPURIOUS_INSTANCES``,
``Problem.random(3, 1, 3, seed=17)`` and ``Problem.random(6, 2, 3, seed=13)``, known to have
spurious minima, which ``spurious-t3`` finds at run time with ``landscape.search.search``
(``SPURIOUS_SEARCH``) and then certifies. ``--seed`` still moves their search starts
(:func:`check_seed`).

Output and determinism
----------------------
``DIR/verify.json`` holds ``{"format", "profile", "seed", "ok", "complete", "claims":
[ClaimResult.to_json()...]}`` and **no timing**: the same seed gives the same file byte for
byte. Timings (per claim and per instance) and the environment go to
``DIR/verify.timings.json``; ``DIR/verify.md`` is the human-readable table (with times).
Files are written atomically after every claim (``complete: false`` until the end).
"""

from __future__ import annotations

import inspect
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from landscape.validation import check_int
from landscape.errors import InvalidArgument
from landscape.problem import Problem
from landscape.runs import atomic_write_text, check_output_dir, derive_seed

from ._claim import assemble
from .registry import CLAIMS, get_claim
from .result import ClaimResult, Status, jsonable
from landscape.zero_loss import search_zero_loss

__all__ = ["PROFILES", "Instance", "default_instances", "verify", "VerifyReport", "SPURIOUS_INSTANCES"]

PROFILES = ("quick", "full")
FORMAT = "metalora.verify/1"
TIMINGS_FORMAT = "metalora.verify-timings/1"

#: ``(d, k, T, problem_seed)`` of plain ``Problem.random`` instances (the paper's distribution)
#: known to have spurious local minima. ``(3, 1, 3, 17)``: found by the root solver of
#: ``landscape.search`` (about one random ``(3, 1, 3)`` instance in ten has one that 128
#: starts find). ``(6, 2, 3, 13)``: found by the SOSP method (~10% of its starts end there;
#: seeds 4, 5, 12, 13, 21, 25 of 0–29 have one, docs/search.md). Fixed so that
#: ``spurious-t3`` always has one to show; ``--seed`` moves their search starts.
SPURIOUS_INSTANCES = ((3, 1, 3, 17), (6, 2, 3, 13))
#: How ``spurious-t3`` searches each instance of ``SPURIOUS_INSTANCES``: ``(method, quick
#: starts, full starts)``. ``(3, 1, 3)`` uses the root solver (its search is shared with the
#: ``thm3.4`` contrast, which needs saddles too); at ``(6, 2, 3)`` roots reach mostly saddles
#: (1 of 1000 starts ends in the spurious minimum) while ``sosp`` lands there from 10–20 of
#: 128 starts for every check seed of ``--seed`` 0–9 (a miss is a ~1e-6 event), in ~1.3 s.
SPURIOUS_SEARCH = {(3, 1, 3, 17): ("roots", 256, 1024), (6, 2, 3, 13): ("sosp", 128, 512)}


@dataclass(frozen=True)
class Instance:
    """One run of one claim: sizes, role, how the problem is built, the check's options."""

    claim: str
    d: int
    k: int
    T: int
    role: str = "claim"  # or "contrast"
    #: "random" (seed from the profile seed), "fixed" (``Problem.random`` with ``problem_seed``)
    #: or "hyperbola" (the exact d = 2 example)
    construction: str = "random"
    problem_seed: int | None = None
    options: tuple = ()  # sorted (name, value) pairs

    def opts(self) -> dict:
        return dict(self.options)


def _I(claim, d, k, T, role="claim", construction="random", problem_seed=None, **options):
    return Instance(claim, d, k, T, role, construction, problem_seed, tuple(sorted(options.items())))


def _instances(profile: str) -> list[Instance]:
    quick = profile == "quick"
    fs = {"finite_sample": True, "repeats": 3 if quick else 10}
    out = []
    # thm3.1
    sizes = [(6, 1, 3), (8, 2, 3), (12, 2, 5)] + ([] if quick else [(20, 3, 5), (30, 5, 5), (16, 1, 10)])
    out += [_I("thm3.1", *s, **fs) for s in sizes]
    out += [_I("thm3.1", 4, 2, 3, role="contrast", **fs)]
    # cor1
    sizes = [(6, 1, 3), (8, 2, 3), (12, 2, 4)] + ([] if quick else [(20, 3, 5), (30, 5, 5), (16, 1, 10)])
    out += [_I("cor1", *s) for s in sizes] + [_I("cor1", 4, 1, 4, role="contrast")]
    # thm3.2 / cor2: any T (T = 2 must show far zero-loss points); the zero-loss claims share
    # one search per problem (options in _zero_loss_options)
    sizes = [(3, 1, 1), (4, 1, 2), (6, 2, 2), (5, 1, 3), (6, 2, 3)]
    if not quick:
        sizes += [(5, 1, 2), (8, 2, 2), (6, 1, 4), (8, 2, 4), (9, 3, 3)]
    for c in ("thm3.2", "cor2"):
        out += [_I(c, *s) for s in sizes]
    # thm3.3 / cor3: T >= 3 (T = 2 and Tk > d as contrast)
    sizes = [(5, 1, 3), (6, 2, 3), (3, 1, 3)] + ([] if quick else [(6, 1, 4), (8, 2, 4), (9, 3, 3), (8, 1, 6)])
    contrast = [(4, 1, 2), (6, 2, 2), (4, 2, 3)]
    for c in ("thm3.3", "cor3"):
        out += [_I(c, *s) for s in sizes] + [_I(c, *s, role="contrast") for s in contrast]
    # thm3.4: T = 2; T = 3 (a spurious instance) as contrast
    starts = 128 if quick else 512
    sizes = [(3, 1, 2), (4, 2, 2)] + ([] if quick else [(5, 1, 2), (6, 2, 2), (6, 3, 2), (8, 2, 2)])
    out += [_I("thm3.4", *s, starts=starts, certify_saddle=(i == 0)) for i, s in enumerate(sizes)]
    d, k, T, ps = SPURIOUS_INSTANCES[0]
    method, q_starts, f_starts = SPURIOUS_SEARCH[SPURIOUS_INSTANCES[0]]
    out += [_I("thm3.4", d, k, T, role="contrast", construction="fixed", problem_seed=ps,
               starts=q_starts if quick else f_starts, method=method)]
    # t2-nonunique
    out += [_I("t2-nonunique", 2, 1, 2, construction="hyperbola")]
    sizes = [(4, 1, 2), (6, 2, 2)] + ([] if quick else [(9, 3, 2), (12, 4, 2), (10, 2, 2)])
    out += [_I("t2-nonunique", *s, symbolic=False, samples=4 if quick else 16) for s in sizes]
    out += [_I("t2-nonunique", 6, 2, 3, role="contrast", symbolic=False)]
    # spurious-t3: random instances with spurious minima (found by search, then certified), T = 2 contrast
    for inst in SPURIOUS_INSTANCES:
        method, q_starts, f_starts = SPURIOUS_SEARCH[inst]
        out += [_I("spurious-t3", *inst[:3], construction="fixed", problem_seed=inst[3],
                   starts=q_starts if quick else f_starts, method=method)]
    out += [_I("spurious-t3", 3, 1, 2, role="contrast", starts=starts)]
    return out


def _zero_loss_options(profile: str) -> dict:
    if profile == "quick":
        return {"starts": 8, "adversarial_starts": 2}
    return {"starts": 24, "adversarial_starts": 4, "distances": (0.25, 0.5, 1.0, 2.0, 4.0)}


def default_instances(profile: str = "quick") -> tuple[Instance, ...]:
    """The instances ``verify`` runs for ``profile`` (``"quick"`` or ``"full"``)."""
    if profile not in PROFILES:
        raise InvalidArgument(f"`profile` must be one of {', '.join(PROFILES)}; got profile={profile!r}.")
    return tuple(_instances(profile))


def problem_seed(inst: Instance, seed: int) -> int:
    """Seed of an instance's problem: ``derive_seed(seed, "verify", d, k, T)`` for random
    instances (so every claim run on the same sizes sees the same problem and shares its
    searches), ``problem_seed`` for fixed ones.
    """
    if inst.construction == "fixed":
        return inst.problem_seed
    return derive_seed(seed, "verify", inst.d, inst.k, inst.T)


def check_seed(inst: Instance, seed: int) -> int:
    """Seed of the check's own randomness (starts, samples).

    It moves with ``seed`` always and is shared by the claims run on one problem (they
    share its searches).
    """
    return derive_seed(seed, "verify-check", inst.d, inst.k, inst.T, problem_seed(inst, seed))


def _build(inst: Instance, seed: int) -> tuple[Problem, int]:
    ps = problem_seed(inst, seed)
    if inst.construction == "hyperbola":
        rng = np.random.default_rng(ps)
        B = rng.standard_normal((2, 2))
        U_star = np.array([[[1.0], [0.0]], [[0.0], [1.0]]])
        return Problem.from_arrays((B + B.T) / 2, U_star, rng.standard_normal((2, 1))), ps
    return Problem.random(inst.d, inst.k, inst.T, seed=ps), ps


@dataclass(frozen=True)
class VerifyReport:
    """Everything ``verify`` found: one :class:`ClaimResult` per claim, plus timings."""

    profile: str
    seed: int
    results: tuple
    complete: bool = True
    timings: dict = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        """True iff every claim holds or is ``assumption-not-met`` by design."""
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 every claim holds (or is outside its hypothesis by design), 1 one fails,
        3 none fails but one is undecided or unavailable.
        """
        from landscape.runs import ExitCode, Status

        statuses = {r.status for r in self.results}
        if not self.results:
            return ExitCode.UNDECIDED
        if Status.FAILS in statuses:
            return ExitCode.NEGATIVE
        if statuses & {Status.UNDECIDED, Status.UNAVAILABLE}:
            return ExitCode.UNDECIDED
        return ExitCode.OK

    def to_json(self) -> dict:
        """Deterministic JSON (no timing): same seed, same bytes."""
        return {
            "format": FORMAT,
            "profile": self.profile,
            "seed": self.seed,
            "ok": self.ok,
            "complete": self.complete,
            "claims": [r.to_json() for r in self.results],
        }

    def timings_json(self) -> dict:
        return {"format": TIMINGS_FORMAT, "profile": self.profile, "seed": self.seed, **self.timings}

    def table(self) -> str:
        """The summary table (markdown)."""
        rows = ["| claim | statement | holds | instances | worst measured quantity | time (s) |",
                "|---|---|---|---|---|---|"]
        for r in self.results:
            n_claim = sum(1 for i in r.instances if i["problem"].get("role") == "claim")
            n_con = len(r.instances) - n_claim
            inst = f"{n_claim}" + (f" (+{n_con} contrast)" if n_con else "")
            holds = {Status.HOLDS: "yes", Status.FAILS: "**NO**", Status.ASSUMPTION_NOT_MET: "n/a (assumption)",
                     Status.UNAVAILABLE: "unavailable"}[r.status]
            stmt = r.statement if len(r.statement) <= 90 else r.statement[:87] + "..."
            rows.append(f"| {r.id} | {stmt} | {holds} | {inst} | {r.worst} | {r.seconds:.1f} |")
        return "\n".join(rows)

    def markdown(self) -> str:
        total = self.timings.get("total_seconds", 0.0)
        out = [
            f"# metalora verify ({self.profile} profile, seed {self.seed})",
            "",
            f"**{'ALL CLAIMS OK' if self.ok else 'SOME CLAIMS FAILED'}**"
            f"{'' if self.complete else ' (incomplete run)'} — total {total:.1f} s.",
            "",
            self.table(),
            "",
            "## Details",
        ]
        for r in self.results:
            out += ["", f"### {r.id}: {get_claim(r.id).title}", "", f"- claim: {r.statement}",
                    f"- paper: {get_claim(r.id).labels}; hypothesis: {get_claim(r.id).hypothesis}",
                    f"- verdict: **{r.status.value}** — {r.message}",
                    f"- tolerance: `{json.dumps(jsonable(r.tolerance), ensure_ascii=False)}` — {r.tolerance_reason}",
                    "- instances:"]
            for rec in r.instances:
                p = rec["problem"]
                out.append(f"  - d={p['d']}, k={p['k']}, T={p['T']}, seed={p.get('seed')} [{p.get('role')}]: "
                           f"{rec['status']} — {rec['note']}")
        return "\n".join(out) + "\n"

    def write(self, out_dir) -> dict:
        """Write ``verify.json``, ``verify.timings.json`` and ``verify.md`` atomically."""
        out_dir = check_output_dir(out_dir, arg="out")
        files = {
            "verify.json": json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n",
            "verify.timings.json": json.dumps(jsonable(self.timings_json()), indent=1) + "\n",
            "verify.md": self.markdown(),
        }
        paths = {}
        for name, text in files.items():
            paths[name] = atomic_write_text(out_dir / name, text)
        return paths


def _environment() -> dict:
    import scipy

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


def verify(
    *,
    profile: str = "quick",
    seed: int = 0,
    claims=None,
    out=None,
    progress: bool | None = None,
) -> VerifyReport:
    """Run every claim (or ``claims``) on the default instances of ``profile``.

    Parameters
    ----------
    profile : {"quick", "full"}
    seed : int
        Moves every random instance and every search start; same seed, same JSON.
    claims : sequence of str, optional
        Only these claim ids (default: all, in registry order).
    out : path, optional
        Directory for ``verify.json``, ``verify.timings.json``, ``verify.md`` (written after
        each claim, atomically).
    progress : bool, optional
        Show a tqdm progress bar on stderr (default: on for ``full``).

    Returns
    -------
    VerifyReport
    """
    insts = default_instances(profile)
    seed = check_int("seed", seed, low=0)
    if out is not None:
        out = check_output_dir(out, arg="out")  # before computing: a bad path fails at once
    ids = list(CLAIMS) if claims is None else [get_claim(c).id for c in claims]
    if not ids:
        raise InvalidArgument("`claims` must name at least one claim; got an empty list.")
    todo = [(j, inst) for j, inst in enumerate(insts) if inst.claim in ids]
    progress = (profile == "full") if progress is None else bool(progress)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="verify", unit="instance", file=sys.stderr)
    zl_opts = _zero_loss_options(profile)
    zl_cache: dict = {}
    search_cache: dict = {}
    results: list[ClaimResult] = []
    inst_times: list[dict] = []
    claim_times: dict = {}
    t_start = time.perf_counter()
    report = None
    try:
        for cid in ids:
            records, t_claim = [], 0.0
            for j, inst in ((j, i) for j, i in todo if i.claim == cid):
                t0 = time.perf_counter()
                opts = inst.opts()
                cs = check_seed(inst, seed)
                label = {"seed": problem_seed(inst, seed), "role": inst.role}
                problem, ps = _build(inst, seed)
                if inst.construction == "fixed":
                    label["construction"] = f"Problem.random({inst.d}, {inst.k}, {inst.T}, seed={ps})"
                key = (inst.d, inst.k, inst.T, inst.construction, label["seed"])
                if cid in ("thm3.2", "cor2", "thm3.3", "cor3"):
                    if key not in zl_cache:
                        zl_cache[key] = search_zero_loss(problem, seed=cs, **zl_opts)
                    opts["search"] = zl_cache[key]
                elif cid in ("thm3.4", "spurious-t3") and opts.get("starts", 0) > 0:
                    opts["search_result"] = _cached_search(search_cache, key, problem, opts, cs)
                if "seed" in inspect.signature(CLAIMS[cid].check).parameters:
                    opts["seed"] = cs
                res = CLAIMS[cid].check(problem, label=label, **opts)
                records.extend(res.instances)
                dt = time.perf_counter() - t0
                t_claim += dt
                inst_times.append({"claim": cid, "d": inst.d, "k": inst.k, "T": inst.T, "seed": label["seed"],
                                   "role": inst.role, "seconds": dt})
                if bar is not None:
                    bar.set_postfix_str(f"{cid} d={inst.d} k={inst.k} T={inst.T}")
                    bar.update(1)
            results.append(assemble(CLAIMS[cid], records, seconds=t_claim))
            claim_times[cid] = t_claim
            report = _report(profile, seed, results, cid == ids[-1], claim_times, inst_times, t_start)
            if out is not None:
                report.write(out)
    finally:
        if bar is not None:
            bar.close()
    return report


def _cached_search(cache, key, problem, opts, seed):
    """One ``landscape.search.search`` per problem, starts and method (default ``"roots"``),
    shared by thm3.4 and spurious-t3.
    """
    from landscape.search import search

    starts = opts.get("starts", 64)
    method = opts.get("method", "roots")
    ck = key + (starts, method)
    if ck not in cache:
        cache[ck] = search(problem, starts=starts, method=method, seed=seed)
    return cache[ck]


def _report(profile, seed, results, complete, claim_times, inst_times, t_start):
    results = [r.with_seconds(claim_times[r.id]) for r in results]
    timings = {
        "total_seconds": time.perf_counter() - t_start,
        "claims": dict(claim_times),
        "instances": list(inst_times),
        "environment": _environment(),
    }
    return VerifyReport(profile, seed, tuple(results), complete, timings)
