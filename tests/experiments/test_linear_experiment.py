"""Figure-1 experiment: statistical properties at fixed seeds, the rate fit, sweeps and resume."""

import dataclasses
import json

import numpy as np
import pytest

from experiments.linear import (
    RunRecord,
    Schedule,
    Setting,
    check_claim,
    fit_rate,
    load_setting,
    plan_settings,
    run_setting,
    setting_path,
    sweep,
)
from landscape import InvalidArgument

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def defaults():
    """The paper's defaults and schedule (3000 rounds of 10 + 1 steps), three seeds."""
    return run_setting(Setting(), seeds=SEEDS)


def _meta_orders_below_sr(res, factor=1e-3) -> bool:
    sr = res.select("SR", "test_loss")
    meta = res.select("Meta-LoRA", "test_loss")
    return bool(np.all(meta <= factor * sr))


def test_sr_test_loss_stays_above_its_population_floor(defaults):
    # Eckart–Young: test ≥ ℓ_r(Â_SR); and √ℓ_r is 1-Lipschitz in ‖Â_SR − A_SR‖_F ≈ 0.01 at
    # N = 5000, so ℓ_r(Â_SR) is within ~0.5% of ℓ_r(A_SR) = 20–60 here; 2% is generous.
    test = defaults.select("SR", "test_loss")
    floor = defaults.select("SR", "sr_floor")
    assert np.all(floor > 1.0)
    assert np.all(test >= floor * (1 - 0.02)), (test, floor)
    assert np.all(test >= defaults.select("SR", "adapt_floor") - 1e-9)


def test_meta_lora_is_orders_of_magnitude_better_at_the_defaults(defaults):
    assert _meta_orders_below_sr(defaults, 1e-3)
    meta = defaults.select("Meta-LoRA", "test_loss")
    ref = defaults.select("Meta-LoRA", "rate_reference")
    # σ² k(2d − k)/n' = 1.9e-3: each run is a noisy estimate of it.
    assert 0.2 < meta.mean() / ref.mean() < 5, (meta, ref)
    assert np.all(defaults.select("Meta-LoRA", "base_error") < 0.05)
    assert np.all(defaults.select("Meta-LoRA", "solver_gap") < 1e-6)
    assert np.all(defaults.select("Meta-LoRA", "finetune_excess") < 1e-9)
    # The authors' metric is the in-sample error summed over n' = 100 points: ~n' × population.
    ratio = defaults.select("Meta-LoRA", "authors_insample_sum") / meta
    assert np.all((ratio > 30) & (ratio < 300))
    assert check_claim([defaults])["holds"] is True


def test_an_untrained_meta_lora_base_fails_the_same_checks():
    broken = run_setting(Setting(), seeds=SEEDS, schedule=Schedule(rounds=1, check_solver=False))
    assert not _meta_orders_below_sr(broken, 1e-3)
    claim = check_claim([broken])
    assert claim["holds"] is False and claim["worst_ratio_meta_over_sr"] > 1


def test_same_seed_same_numbers_and_seeds_are_independent_of_the_batch():
    st = Setting(d=5, T=3, N=300, n=50)
    sc = Schedule(rounds=200, sr_steps=200, ft_steps=500, check_solver=False)
    a = run_setting(st, seeds=(4, 7), schedule=sc)
    b = run_setting(st, seeds=(7,), schedule=sc)
    c = run_setting(st, seeds=(4, 7), schedule=sc)
    assert [r.to_json() for r in a.records] == [r.to_json() for r in c.records]
    for x, y in zip(a.records[2:], b.records):
        assert x.seed == y.seed == 7
        assert x.test_loss == pytest.approx(y.test_loss, rel=1e-9)


def test_fine_tuning_rank_is_3k_when_T_is_2():
    assert Setting(T=2, k=1).rank == 3 and Setting(T=3, k=2).rank == 2
    res = run_setting(
        Setting(d=6, T=2, N=2000, n=200),
        seeds=(0,),
        schedule=Schedule(rounds=300, sr_steps=300, ft_steps=3000, solver="fast"),
    )
    assert {r.rank for r in res.records} == {3}
    # r = 3 = (T+1)k: SR's floor vanishes and no gap is predicted (Corollary 1).
    assert res.select("SR", "sr_floor")[0] < 1e-12
    assert check_claim([res])["holds"] is None


def test_rate_fit_recovers_slope_minus_one_and_the_constant():
    sc = Schedule(solver="fast", ft_steps=20000)
    records = []
    for n in (100, 1000, 10000):
        records += run_setting(Setting(d=6, N=20000, n=n), seeds=(0, 1, 2, 3), schedule=sc).records
    fit = fit_rate(records)
    assert fit.n == (100, 1000, 10000) and fit.runs == 12
    assert -1.25 < fit.slope_excess < -0.8, fit
    assert 0.4 < fit.ratio < 2.5, fit  # C vs σ² r(2d − r)
    assert fit.sr_floor > 1 and min(fit.sr_test_loss) > 0.9 * fit.sr_floor
    assert fit_rate(records, metric="test_loss_rrr").slope_excess == pytest.approx(
        fit.slope_excess, abs=0.05
    )
    # A fake n^(-1/2) rate is told apart.
    fake = [dataclasses.replace(r, test_loss=r.adapt_floor + 0.2 / np.sqrt(r.n)) for r in records]
    assert fit_rate(fake).slope_excess == pytest.approx(-0.5, abs=1e-6)


def _tiny():
    base = Setting(d=4, T=3, N=300, n=60)
    sc = Schedule(rounds=60, sr_steps=60, ft_steps=400, check_solver=False)
    return base, sc


def test_sweep_saves_each_setting_and_resumes_after_an_interruption(tmp_path):
    base, sc = _tiny()
    out = tmp_path / "run"
    done = []

    def interrupt(res, path):
        done.append(path)
        raise KeyboardInterrupt  # simulates Ctrl-C right after the first setting was saved

    with pytest.raises(KeyboardInterrupt):
        sweep(
            "k", seeds=2, schedule=sc, base=base, out=out, progress=False, on_setting_done=interrupt
        )
    saved = sorted((out / "settings").glob("*.json"))
    assert saved == [done[0]] and not list(out.rglob("*.tmp*"))
    assert load_setting(saved[0]).seeds == (0, 1)
    assert json.loads((out / "manifest.json").read_text())["complete"] is False

    resumed = sweep("k", seeds=2, schedule=sc, base=base, out=out, progress=False, figures=False)
    assert (resumed.resumed, resumed.computed) == (1, 2)
    fresh = sweep(
        "k", seeds=2, schedule=sc, base=base, out=tmp_path / "fresh", progress=False, figures=False
    )
    assert [r.to_json() for r in resumed.records] == [r.to_json() for r in fresh.records]
    rows = (out / "runs.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 * 2 * 2  # header + settings × seeds × methods
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] == 1 and summary["claim"]["holds"] is True
    assert json.loads((out / "manifest.json").read_text())["complete"] is True

    # Everything saved is reused; a damaged record or array file is recomputed.
    again = sweep("k", seeds=2, schedule=sc, base=base, out=out, progress=False, figures=False)
    assert (again.resumed, again.computed) == (3, 0)
    saved[0].write_text("{not json")
    npz = sorted((out / "settings").glob("*.npz"))[1]
    npz.write_bytes(npz.read_bytes()[:-7] + b"garbage")
    repaired = sweep("k", seeds=2, schedule=sc, base=base, out=out, progress=False, figures=False)
    assert (repaired.resumed, repaired.computed) == (1, 2)
    assert setting_path(out, base.replace(k=2)).is_file()


@pytest.mark.parametrize(
    "change",
    [
        {"convention": "paper-code"},
        {"schedule": "rounds"},
        {"schedule": "lr_U"},
        {"step_sizes": {"lr_ft": 0.004}},
        {"seeds": 3},
    ],
)
def test_records_made_with_other_settings_are_never_reused(tmp_path, change):
    base, sc = _tiny()
    kw = dict(seeds=2, schedule=sc, base=base, out=tmp_path, progress=False, figures=False)
    first = sweep("n", **kw)
    assert first.computed == 3
    if "schedule" in change:
        field = change["schedule"]
        change = {"schedule": sc.replace(**{field: getattr(sc, field) * 2})}
    other = sweep("n", **{**kw, **change})
    assert (other.resumed, other.computed) == (0, 3)
    if "convention" not in change:  # (paper-code's settings are named by their fine-tuning count)
        assert other.stale >= 3
    # Back to the first settings: records overwritten meanwhile are recomputed (never
    # mixed), and the numbers are the first run's again.
    back = sweep("n", **kw)
    assert [r.to_json() for r in back.records] == [r.to_json() for r in first.records]


def test_parallel_sweep_matches_the_sequential_one(tmp_path):
    base, sc = _tiny()
    seq = sweep("T", seeds=1, schedule=sc, base=base, progress=False)
    par = sweep("T", seeds=1, schedule=sc, base=base, jobs=2, progress=False)
    assert len(seq.records) == len(par.records) == 3 * 2
    for a, b in zip(seq.records, par.records):
        a, b = a.to_json(), b.to_json()
        for key, value in a.items():
            if isinstance(value, float):
                # Same code on one BLAS thread in both: equal up to (at most) rounding.
                assert b[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
            else:
                assert b[key] == value, key


def test_plan_merges_shared_settings_and_methods():
    settings, index = plan_settings("all")
    names = [s.name for s in settings]
    assert len(names) == len(set(names)) == 18 and "base" not in index
    default = settings[index["n"][0]]
    assert default.physical() == Setting().physical()
    assert "Meta-LoRA-asym" in default.methods  # shared with the adapters panel
    assert all(i in range(len(settings)) for v in index.values() for i in v)


def test_records_round_trip_through_json(defaults):
    for rec in defaults.records:
        assert RunRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: Setting(k=0), "k"),
        (lambda: Setting(d=4, T=2, k=2), "rank"),
        (lambda: Setting(d=10, T=3, N=3), "T·N"),
        (lambda: Setting(methods=("SR", "MAML")), "methods"),
        (lambda: Setting(sigma=-0.1), "sigma"),
        (lambda: Schedule(solver="adam"), "solver"),
        (lambda: Schedule(sampler="exact"), "sampler"),
        (lambda: Schedule(lr_A=0), "lr_A"),
        (lambda: run_setting(Setting(), seeds=(1, 1)), "seeds"),
        (lambda: sweep("bogus"), "panel"),
        (lambda: sweep("k", seeds=0), "seeds"),
        (lambda: sweep("k", jobs=0), "jobs"),
        (lambda: fit_rate([], metric="authors"), "metric"),
        (lambda: fit_rate([]), "records"),
    ],
)
def test_bad_arguments_are_named(call, match):
    with pytest.raises(InvalidArgument, match=match):
        call()
