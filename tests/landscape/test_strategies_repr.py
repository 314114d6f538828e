"""A drawn Problem prints as a constructor call that rebuilds it exactly (no caches, no 8-digit arrays)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.vendor.pretty import pretty

import landscape as ls
from landscape import Problem
from landscape.strategies import problems


def bits(p):
    return [np.asarray(getattr(p, n)).view(np.uint64).tobytes() for n in ("A_star", "U_star", "U_test")]


def rebuilt(p):
    return eval(repr(p), {"Problem": Problem})


@given(problems(max_d=5))
def test_seeded_draws_print_their_seed_and_rebuild_bitwise(p):
    text = repr(p)
    assert text.startswith("Problem.random(") and "seed=" in text
    assert bits(rebuilt(p)) == bits(p)


@given(problems(max_d=6, independent=True, min_sigma=0.3, max_cond=50.0))
def test_conditioned_draws_print_exact_arrays(p):
    assert repr(p).startswith("Problem.from_arrays(")
    assert bits(rebuilt(p)) == bits(p)


def test_awkward_floats_round_trip():
    A = np.array([[-0.0, 5e-324], [1.7976931348623157e308, 0.1]])
    U = np.array([[[1 / 3], [-2.2250738585072014e-308]]])
    p = Problem.from_arrays(A, U, np.array([[np.nextafter(1.0, 2.0)], [-1e-300]]))
    q = rebuilt(p)
    assert bits(q) == bits(p)
    assert np.signbit(q.A_star[0, 0])


def test_a_rounded_writer_would_fail_the_same_comparison():
    # The check above is not vacuous: 8-digit text (numpy's default) loses bits.
    p = Problem.random(3, 1, 2, seed=0)
    text = np.array2string(p.A_star, separator=",", precision=8)
    assert not np.array_equal(np.array(eval(text)), p.A_star)


def test_options_and_sub_problems_are_in_the_recipe():
    p = Problem.random(4, 2, 3, seed=7, base_scale=2.0, adapter_scale=0.5, symmetric_base=False)
    assert repr(p) == "Problem.random(4, 2, 3, seed=7, base_scale=2.0, adapter_scale=0.5, symmetric_base=False)"
    assert bits(rebuilt(p)) == bits(p)
    sub = p.with_tasks(2)
    assert repr(sub).endswith(".with_tasks(2)") and bits(rebuilt(sub)) == bits(sub)


def test_generator_seeds_and_loaded_problems_print_arrays(tmp_path):
    p = Problem.random(3, 1, 2, seed=np.random.default_rng(3))
    assert repr(p).startswith("Problem.from_arrays(") and bits(rebuilt(p)) == bits(p)
    q = Problem.load(Problem.random(3, 1, 2, seed=1).save(tmp_path / "q.json"))
    assert bits(rebuilt(q)) == bits(q)


def test_large_problems_print_sizes_only():
    p = Problem.from_arrays(np.zeros((50, 50)), np.zeros((2, 50, 1)), np.zeros((50, 1)))
    assert repr(p).startswith("<Problem d=50, k=1, T=2") and len(repr(p)) < 120


def test_pretty_printers_use_the_repr_and_hide_caches():
    p = Problem.random(3, 1, 2, seed=5)
    p.M_star  # fills the cache
    assert pretty(p) == repr(p)  # hypothesis' printer (it would list dataclass fields)
    ipy = pytest.importorskip("IPython.lib.pretty")
    assert ipy.pretty(p) == repr(p)
    assert "_cache" not in pretty(p)


def test_a_failing_property_reports_a_replayable_problem():
    @settings(max_examples=5, database=None, derandomize=True)
    @given(problems(max_d=3))
    def prop(p):
        p.R_star  # a cache entry exists when the report is printed
        assert p.d > 100

    with pytest.raises(AssertionError) as info:
        prop()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "Problem.random(" in notes and "_cache" not in notes and "array(" not in notes
    line = next(x for x in notes.splitlines() if "Problem.random(" in x)
    call = line[line.index("Problem.random(") :].split("#")[0].strip().rstrip(",")
    assert isinstance(eval(call, {"Problem": Problem}), ls.Problem)
