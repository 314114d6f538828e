"""``Problem``: generation, derived quantities, immutability, exact save/load round trips.

Round trips are compared bit for bit (``uint64`` views, so ``-0.0`` and ``0.0`` differ);
a lossy writer (decimal with 15 significant digits) must fail the same comparison.
Malformed and tampered files must raise :class:`InvalidArgument`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import landscape as ls
from landscape import InvalidArgument, Problem
from landscape.strategies import problems


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


def assert_bitwise_equal(p, q):
    for name in ("A_star", "U_star", "U_test"):
        a, b = getattr(p, name), getattr(q, name)
        assert a.shape == b.shape, name
        np.testing.assert_array_equal(bits(a), bits(b), err_msg=f"{name} differs bitwise")


# -- generation ------------------------------------------------------------------------------
def test_random_sizes_and_determinism():
    p = Problem.random(5, 2, 3, seed=11)
    assert (p.d, p.k, p.T) == (5, 2, 3)
    assert p.A_star.shape == (5, 5) and p.U_star.shape == (3, 5, 2) and p.U_test.shape == (5, 2)
    assert_bitwise_equal(p, Problem.random(5, 2, 3, seed=11))
    assert_bitwise_equal(p, Problem.random(5, 2, 3, seed=np.random.default_rng(11)))
    assert not np.array_equal(p.A_star, Problem.random(5, 2, 3, seed=12).A_star)
    assert repr(p) == "Problem.random(5, 2, 3, seed=11)"  # repr tests: tests/landscape/test_strategies_repr.py


def test_random_distribution_options():
    sym = Problem.random(6, 1, 2, seed=0)
    np.testing.assert_array_equal(sym.A_star, sym.A_star.T)
    asym = Problem.random(6, 1, 2, seed=0, symmetric_base=False)
    assert not np.array_equal(asym.A_star, asym.A_star.T)
    scaled = Problem.random(6, 1, 2, seed=0, base_scale=3.0, adapter_scale=0.5)
    np.testing.assert_array_equal(scaled.A_star, 3.0 * sym.A_star)
    np.testing.assert_array_equal(scaled.U_star, 0.5 * sym.U_star)
    np.testing.assert_array_equal(scaled.U_test, 0.5 * sym.U_test)
    assert not np.any(Problem.random(3, 1, 1, seed=0, base_scale=0.0).A_star)


def test_random_matches_documented_draw_order():
    """``B``, then ``U_star``, then ``U_test`` from one Generator; ``A* = (B + Bᵀ)/2``."""
    rng = np.random.default_rng(4)
    B = rng.standard_normal((4, 4))
    U = rng.standard_normal((2, 4, 3))
    Ut = rng.standard_normal((4, 3))
    p = Problem.random(4, 3, 2, seed=4)
    np.testing.assert_array_equal(p.A_star, (B + B.T) / 2)
    np.testing.assert_array_equal(p.U_star, U)
    np.testing.assert_array_equal(p.U_test, Ut)


def test_derived_quantities():
    p = Problem.random(4, 2, 3, seed=1)
    for t in range(3):
        np.testing.assert_allclose(p.R_star[t], p.U_star[t] @ p.U_star[t].T, rtol=1e-14)
        np.testing.assert_allclose(p.M_star[t], p.A_star + p.R_star[t], rtol=1e-14)
    np.testing.assert_allclose(p.M_test, p.A_star + p.U_test @ p.U_test.T, rtol=1e-14)
    sub = p.with_tasks(2)
    assert sub.T == 2
    np.testing.assert_array_equal(sub.U_star, p.U_star[:2])
    np.testing.assert_array_equal(sub.U_test, p.U_test)


def test_immutable_and_copied():
    A = np.eye(3)
    U = np.ones((2, 3, 1))
    Ut = np.zeros((3, 1))
    p = Problem.from_arrays(A, U, Ut)
    A[0, 0] = 7.0  # the caller's array is copied
    assert p.A_star[0, 0] == 1.0
    with pytest.raises(ValueError):
        p.A_star[0, 0] = 2.0
    with pytest.raises(ValueError):
        p.R_star[0, 0, 0] = 2.0
    with pytest.raises(AttributeError):
        p.A_star = np.zeros((3, 3))


def test_from_arrays_accepts_integer_and_float32_exactly():
    p = Problem.from_arrays(np.eye(2, dtype=np.int64), np.ones((1, 2, 1), np.float32), [[1], [2]])
    assert p.A_star.dtype == np.float64 and p.U_test.dtype == np.float64
    np.testing.assert_array_equal(p.U_test, [[1.0], [2.0]])


def test_equality():
    p = Problem.random(3, 1, 2, seed=0)
    assert p == Problem.random(3, 1, 2, seed=0)
    assert p != Problem.random(3, 1, 2, seed=1)
    assert p != "not a problem"


# -- persistence -----------------------------------------------------------------------------
SPECIAL = np.array([0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1 / 3])


def special_problem():
    vals = SPECIAL
    A = np.resize(vals, (4, 4))
    U = np.resize(vals[::-1], (2, 4, 1))
    return Problem.from_arrays(A, U, np.resize(vals[1:], (4, 1)))


@settings(max_examples=15)
@given(problems(max_d=5), st.sampled_from([".json", ".npz"]))
def test_save_load_round_trip_is_bitwise(tmp_path_factory, problem, suffix):
    path = tmp_path_factory.mktemp("rt") / f"p{suffix}"
    assert problem.save(path) == path
    assert_bitwise_equal(Problem.load(path), problem)
    assert not list(path.parent.glob("*.tmp")), "temporary file left behind"


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_round_trip_special_values(tmp_path, suffix):
    p = special_problem()
    assert_bitwise_equal(Problem.load(p.save(tmp_path / f"s{suffix}")), p)


def test_json_in_memory_and_embedded(tmp_path):
    p = special_problem()
    assert_bitwise_equal(Problem.from_json(json.loads(json.dumps(p.to_json()))), p)
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"claim": "x", "problem": p.to_json()}))
    assert_bitwise_equal(Problem.load(path), p)


def test_lossy_writer_fails_the_bitwise_comparison():
    """The round-trip check can fail: 15-digit decimals lose bits for generic floats."""
    p = Problem.random(4, 1, 2, seed=0)
    to_15_digits = np.vectorize(lambda x: float(f"{x:.15g}"))
    lossy = Problem.from_arrays(*(to_15_digits(a) for a in (p.A_star, p.U_star, p.U_test)))
    with pytest.raises(AssertionError):
        assert_bitwise_equal(lossy, p)
    neg_zero = Problem.from_arrays(np.full((1, 1), -0.0), np.ones((1, 1, 1)), np.ones((1, 1)))
    pos_zero = Problem.from_arrays(np.zeros((1, 1)), np.ones((1, 1, 1)), np.ones((1, 1)))
    with pytest.raises(AssertionError):
        assert_bitwise_equal(neg_zero, pos_zero)


def _tamper_json(tmp_path, edit):
    obj = special_problem().to_json()
    edit(obj)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(obj))
    return path


def _setitem(key, value):
    def edit(obj):
        obj[key] = value

    return edit


def _set_entry(value):
    def edit(obj):
        obj["A_star"][0][0] = value

    return edit


def _ragged(obj):
    obj["A_star"][1] = obj["A_star"][1][:2]


JSON_CASES = [
    ("wrong format", _setitem("format", "metalora.problem/99"), "not a metalora problem"),
    ("no format", lambda o: o.pop("format"), "not a metalora problem"),
    ("missing U_test", lambda o: o.pop("U_test"), "missing field 'U_test'"),
    ("bad hex", _set_entry("0x1.zzp+0"), "is not a hex float"),
    ("hex overflow", _set_entry("0x1p+1024"), "overflows a float64"),
    ("null entry", _set_entry(None), "expected a number or a hex-float string; got None"),
    ("bool entry", _set_entry(True), "expected a number or a hex-float string; got True"),
    ("complex entry", _set_entry({"re": 1, "im": 2}), "expected a number or a hex-float string"),
    ("nested too deep", _set_entry([[[[[[[[["0x1p+0"]]]]]]]]]), "nested deeper than"),
    ("nan", _set_entry("nan"), "`A_star` must be finite"),
    ("inf", _set_entry("inf"), "`A_star` must be finite"),
    ("ragged", _ragged, "ragged array"),
    ("d mismatch", _setitem("d", 5), "field d=5 does not match"),
    ("d float", _setitem("d", 3.0), "field 'd' must be an integer; got d=3.0"),
    ("k bool", _setitem("k", True), "field 'k' must be an integer; got k=True"),
    ("T mismatch", _setitem("T", 1), "field T=1 does not match"),
    ("wrong shape", _setitem("U_test", [["0x1p+0"]]), "`U_test` must have shape"),
    ("non-square A", _setitem("A_star", [["0x1p+0", "0x1p+0"]]), "`A_star` must be a square"),
]


@pytest.mark.parametrize("edit, match", [c[1:] for c in JSON_CASES], ids=[c[0] for c in JSON_CASES])
def test_tampered_json_is_refused(tmp_path, edit, match):
    with pytest.raises(InvalidArgument, match=match):
        Problem.load(_tamper_json(tmp_path, edit))


def test_malformed_files_are_refused(tmp_path):
    p = special_problem()
    good_json = p.save(tmp_path / "good.json").read_text()
    good_npz = p.save(tmp_path / "good.npz").read_bytes()
    cases = {
        "trunc.json": good_json[: len(good_json) // 2].encode(),
        "binary.json": b"\xff\xfe\x00\x01",
        "list.json": b"[1, 2, 3]",
        "garbage.npz": b"this is not a zip archive",
        "trunc.npz": good_npz[: len(good_npz) // 2],
    }
    expected = {
        "trunc.json": "not valid JSON",
        "binary.json": "not UTF-8 text",
        "list.json": "not a metalora problem",
        "garbage.npz": "not a valid problem .npz",
        "trunc.npz": "not a valid problem .npz",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(InvalidArgument, match=expected[name]):
            Problem.load(path)


def test_strict_json_duplicates_and_depth(tmp_path):
    text = special_problem().save(tmp_path / "p.json").read_text()
    (tmp_path / "dup.json").write_text(text[:-1] + ', "d": 999}')
    with pytest.raises(InvalidArgument, match="duplicate key 'd'"):
        Problem.load(tmp_path / "dup.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        Problem.load(tmp_path / "deep.json")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(InvalidArgument, match="not a valid problem .npz"):
        Problem.load(tmp_path / "empty.npz")


def test_npz_contents_are_checked(tmp_path):
    p = special_problem()
    arrays = dict(A_star=p.A_star, U_star=p.U_star, U_test=p.U_test)
    np.savez(tmp_path / "missing.npz", A_star=p.A_star, U_star=p.U_star)
    with pytest.raises(InvalidArgument, match=r"missing arrays \['U_test'\]"):
        Problem.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "complex.npz", **{**arrays, "A_star": p.A_star + 1j})
    with pytest.raises(InvalidArgument, match="real float64 array; got dtype complex128"):
        Problem.load(tmp_path / "complex.npz")
    obj = np.empty((4, 4), dtype=object)
    obj[:] = 1.0
    np.savez(tmp_path / "object.npz", **{**arrays, "A_star": obj})
    with pytest.raises(InvalidArgument, match="not a valid problem .npz"):  # never unpickled
        Problem.load(tmp_path / "object.npz")
    with open(tmp_path / "bare.npz", "wb") as fh:
        np.save(fh, p.A_star)
    with pytest.raises(InvalidArgument, match="not an .npz archive"):
        Problem.load(tmp_path / "bare.npz")


def test_save_and_load_paths(tmp_path):
    p = special_problem()
    with pytest.raises(InvalidArgument, match="must end in .json or .npz"):
        p.save(tmp_path / "p.txt")
    assert not list(tmp_path.iterdir())
    with pytest.raises(InvalidArgument, match="must be an existing problem file"):
        Problem.load(tmp_path / "absent.json")
    with pytest.raises(InvalidArgument, match="must be an existing problem file"):
        Problem.load(tmp_path)
    # Saving twice overwrites atomically.
    p.save(tmp_path / "p.json")
    q = Problem.random(2, 1, 1, seed=0)
    q.save(tmp_path / "p.json")
    assert_bitwise_equal(Problem.load(tmp_path / "p.json"), q)


def test_public_api_is_exported():
    for name in ls.__all__:
        assert hasattr(ls, name), name
