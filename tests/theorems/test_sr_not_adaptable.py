"""Cor. 1: ℓ_r(A_SR) matches Σ_{i>r} σ_i(Δ)² and is positive below (T+1)k."""

import numpy as np
from hypothesis import given, settings

from landscape import Problem, adaptability, sr_solution
from landscape.strategies import problems
from theorems import Status, check_sr_not_adaptable


@settings(max_examples=20)
@given(problems(max_d=9, independent=True))
def test_holds_on_valid_instances(p):
    r = check_sr_not_adaptable(p)
    assert r.status is Status.HOLDS, r.summary()
    m = r.instances[0]["measured"]
    need = (p.T + 1) * p.k
    assert m["rank_Delta"] == need
    assert m["exact_rank_by_T"] == [(t + 1) * p.k for t in range(1, p.T + 1)]
    assert min(m["ell"][:need]) > 0


def test_meta_lora_base_passed_as_A_sr_fails():
    p = Problem.random(6, 1, 3, seed=0)
    r = check_sr_not_adaptable(p, A_sr=p.A_star)
    assert r.status is Status.FAILS
    assert adaptability(p, p.A_star, p.k).loss < 1e-20  # Meta-LoRA's base adapts at rank k


def test_slightly_wrong_A_sr_fails_the_formula():
    p = Problem.random(6, 1, 3, seed=0)
    r = check_sr_not_adaptable(p, A_sr=sr_solution(p) + 1e-6)
    assert r.status is Status.FAILS and "formula" in r.message


def test_assumption_not_met_when_too_many_columns():
    r = check_sr_not_adaptable(Problem.random(4, 1, 4, seed=0))
    assert r.status is Status.ASSUMPTION_NOT_MET and r.ok


def test_formula_values():
    p = Problem.random(7, 1, 3, seed=3)
    m = check_sr_not_adaptable(p).instances[0]["measured"]
    Delta = p.R_test - p.R_star.mean(axis=0)
    s = np.linalg.svd(Delta, compute_uv=False)
    np.testing.assert_allclose(m["formula"][2], np.sum(s[2:] ** 2), rtol=1e-12)
