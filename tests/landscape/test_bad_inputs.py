"""One table of bad inputs to the public :mod:`landscape` API, each with the documented error.

Every message names the argument, shows the value and states the rule (STYLE.md); each row
checks the :class:`~landscape.InvalidArgument` type (a ``ValueError``) and the message.
"""

from __future__ import annotations

import numpy as np
import pytest

import landscape as ls
from landscape import InvalidArgument, Problem

P = Problem.random(3, 1, 2, seed=0)  # d=3, k=1, T=2
A = np.zeros((3, 3))
U = np.ones((2, 3, 1))
NAN_A = np.full((3, 3), np.nan)
INF_U = np.full((2, 3, 1), np.inf)


def _bad_U_shape():
    return np.ones((2, 3, 2))


BAD_INPUTS = [
    # -- Problem.random: sizes, scales, seed
    ("d=0", lambda: Problem.random(0, 1, 1), r"`d` must be an integer in \[1, inf\]; got d=0"),
    ("d negative", lambda: Problem.random(-2, 1, 1),
     r"`d` must be an integer in \[1, inf\]; got d=-2"),
    ("d float", lambda: Problem.random(2.5, 1, 1), r"`d` must be an integer; got d=2.5"),
    ("d bool", lambda: Problem.random(True, 1, 1), r"`d` must be an integer; got d=True"),
    ("d string", lambda: Problem.random("3", 1, 1), r"`d` must be an integer; got d='3'"),
    ("k > d", lambda: Problem.random(3, 4, 1), r"`k` must be an integer in \[1, 3\]; got k=4"),
    ("k=0", lambda: Problem.random(3, 0, 1), r"`k` must be an integer in \[1, 3\]; got k=0"),
    ("T=0", lambda: Problem.random(3, 1, 0), r"`T` must be an integer in \[1, inf\]; got T=0"),
    ("base_scale nan", lambda: Problem.random(3, 1, 1, base_scale=np.nan),
     r"`base_scale` must be finite"),
    ("adapter_scale<0", lambda: Problem.random(3, 1, 1, adapter_scale=-1.0),
     r"`adapter_scale` must be >= 0.0; got adapter_scale=-1.0"),
    ("scale string", lambda: Problem.random(3, 1, 1, base_scale="1"),
     r"`base_scale` must be a real number"),
    ("seed negative", lambda: Problem.random(3, 1, 1, seed=-1),
     r"`seed` must be None, a non-negative integer or a numpy Generator; got seed=-1"),
    ("seed float", lambda: Problem.random(3, 1, 1, seed=1.5),
     r"`seed` must be None, a non-negative integer"),
    # -- Problem.from_arrays: shapes, dtypes, finiteness
    ("A not square", lambda: Problem.from_arrays(np.ones((3, 2)), U, np.ones((3, 1))),
     r"`A_star` must be a square \(d, d\) array; got shape \(3, 2\)"),
    ("A empty", lambda: Problem.from_arrays(np.ones((0, 0)), U, np.ones((3, 1))),
     r"`A_star` must be a square"),
    ("U 2-D", lambda: Problem.from_arrays(A, np.ones((3, 1)), np.ones((3, 1))),
     r"`U_star` must have shape \(T, d, k\)"),
    ("U wrong d", lambda: Problem.from_arrays(A, np.ones((2, 4, 1)), np.ones((3, 1))),
     r"`U_star` must have shape \(T, d, k\) with T >= 1, d=3"),
    ("U no tasks", lambda: Problem.from_arrays(A, np.ones((0, 3, 1)), np.ones((3, 1))),
     r"`U_star` must have shape"),
    ("U k > d", lambda: Problem.from_arrays(A, np.ones((1, 3, 4)), np.ones((3, 4))),
     r"`k` must be an integer in \[1, d\]=\[1, 3\]; got k=4"),
    ("U_test shape", lambda: Problem.from_arrays(A, U, np.ones((3, 2))),
     r"`U_test` must have shape \(d, k\)=\(3, 1\); got shape \(3, 2\)"),
    ("A NaN", lambda: Problem.from_arrays(NAN_A, U, np.ones((3, 1))),
     r"`A_star` must be finite; it has 9 NaN/inf entries"),
    ("U inf", lambda: Problem.from_arrays(A, INF_U, np.ones((3, 1))),
     r"`U_star` must be finite; it has 6 NaN/inf entries"),
    ("A complex", lambda: Problem.from_arrays(A + 0j, U, np.ones((3, 1))),
     r"`A_star` must be a real float64 array; got dtype complex128"),
    ("A bool", lambda: Problem.from_arrays(A > 0, U, np.ones((3, 1))),
     r"`A_star` must be a real float64 array; got dtype bool"),
    ("A strings", lambda: Problem.from_arrays([["a"] * 3] * 3, U, np.ones((3, 1))),
     r"`A_star` must be a real float64 array; got dtype <U1"),
    ("A object", lambda: Problem.from_arrays(np.array([[None] * 3] * 3), U, np.ones((3, 1))),
     r"`A_star` must be a real float64 array; got dtype object"),
    ("with_tasks T too big", lambda: P.with_tasks(3),
     r"`T` must be an integer in \[1, 2\]; got T=3"),
    # -- objectives
    ("meta_loss A shape", lambda: ls.meta_loss(P, np.zeros((2, 2)), U),
     r"`A` must have shape \(3, 3\); got shape \(2, 2\)"),
    ("meta_loss U shape", lambda: ls.meta_loss(P, A, _bad_U_shape()),
     r"`U` must have shape \(2, 3, 1\); got shape \(2, 3, 2\)"),
    ("meta_loss A NaN", lambda: ls.meta_loss(P, NAN_A, U),
     r"`A` must be finite; it has 9 NaN/inf entries"),
    ("meta_loss U inf", lambda: ls.meta_loss(P, A, INF_U), r"`U` must be finite"),
    ("meta_loss U complex", lambda: ls.meta_loss(P, A, U + 0j),
     r"`U` must be a real float64 array"),
    ("task_losses U shape", lambda: ls.task_losses(P, A, np.ones((3, 3, 1))),
     r"`U` must have shape \(2, 3, 1\)"),
    ("sr_loss A shape", lambda: ls.sr_loss(P, np.zeros(3)),
     r"`A` must have shape \(3, 3\); got shape \(3,\)"),
    ("A_of_U U shape", lambda: ls.A_of_U(P, np.ones((2, 3))),
     r"`U` must have shape \(2, 3, 1\); got shape \(2, 3\)"),
    ("reduced_loss U NaN", lambda: ls.reduced_loss(P, np.full((2, 3, 1), np.nan)),
     r"`U` must be finite"),
    ("adaptability rank<0", lambda: ls.adaptability(P, A, -1),
     r"`rank` must be an integer in \[0, 3\]; got rank=-1"),
    ("adaptability rank>d", lambda: ls.adaptability(P, A, 4),
     r"`rank` must be an integer in \[0, 3\]; got rank=4"),
    ("adaptability rank float", lambda: ls.adaptability(P, A, 1.0),
     r"`rank` must be an integer; got rank=1.0"),
    ("adaptability rank bool", lambda: ls.adaptability(P, A, True),
     r"`rank` must be an integer; got rank=True"),
    ("test_loss U/V mismatch", lambda: ls.test_loss(P, A, np.ones((3, 2)), np.ones((3, 1))),
     r"`U` and `V` must both have shape \(d, r\) with d=3"),
    ("test_loss U wrong d", lambda: ls.test_loss(P, A, np.ones((2, 1)), np.ones((2, 1))),
     r"`U` and `V` must both have shape \(d, r\)"),
    ("test_loss V NaN", lambda: ls.test_loss(P, A, np.ones((3, 1)), np.full((3, 1), np.nan)),
     r"`V` must be finite"),
    # -- derivatives
    ("meta_grad A shape", lambda: ls.meta_grad(P, np.zeros((3, 2)), U),
     r"`A` must have shape \(3, 3\)"),
    ("meta_hvp dA shape", lambda: ls.meta_hvp(P, A, U, np.zeros((2, 2)), U),
     r"`dA` must have shape \(3, 3\); got shape \(2, 2\)"),
    ("meta_hvp dU shape", lambda: ls.meta_hvp(P, A, U, A, np.ones((2, 3))),
     r"`dU` must have shape \(2, 3, 1\); got shape \(2, 3\)"),
    ("meta_hvp dU NaN", lambda: ls.meta_hvp(P, A, U, A, np.full((2, 3, 1), np.nan)),
     r"`dU` must be finite"),
    ("meta_hessian U shape", lambda: ls.meta_hessian(P, A, np.ones((1, 3, 1))),
     r"`U` must have shape \(2, 3, 1\)"),
    ("reduced_grad U shape", lambda: ls.reduced_grad(P, np.ones((2, 2, 1))),
     r"`U` must have shape \(2, 3, 1\)"),
    ("reduced_hvp dU shape", lambda: ls.reduced_hvp(P, U, np.ones((2, 3, 2))),
     r"`dU` must have shape \(2, 3, 1\)"),
    ("reduced_hessian U inf", lambda: ls.reduced_hessian(P, INF_U), r"`U` must be finite"),
    ("schur A shape", lambda: ls.schur_complement(P, np.zeros((1, 1)), U),
     r"`A` must have shape \(3, 3\)"),
    ("unpack length", lambda: ls.unpack(P, np.zeros(10)),
     r"`x` must have shape \(15,\); got shape \(10,\)"),
    # -- curvature operators and λ_min
    ("operator U shape", lambda: ls.reduced_hessian_operator(P, np.ones((2, 3))),
     r"`U` must have shape \(2, 3, 1\)"),
    ("meta operator A NaN", lambda: ls.meta_hessian_operator(P, NAN_A, U), r"`A` must be finite"),
    ("min_eig method", lambda: ls.min_eigenvalue(P, U, method="arnoldi"),
     r"`method` must be one of 'auto', 'dense', 'lanczos', 'lobpcg'; got method='arnoldi'"),
    ("min_eig tol 0", lambda: ls.min_eigenvalue(P, U, tol=0.0), r"`tol` must be > 0; got tol=0.0"),
    ("min_eig tol nan", lambda: ls.min_eigenvalue(P, U, tol=float("nan")), r"`tol` must be finite"),
    ("min_eig seed", lambda: ls.min_eigenvalue(P, U, method="lanczos", seed=-3),
     r"`seed` must be None, a non-negative integer"),
    ("min_eig A shape", lambda: ls.min_eigenvalue(P, U, np.zeros((2, 2))),
     r"`A` must have shape \(3, 3\)"),
    # -- symmetry
    ("orbit_dimension T=0", lambda: ls.orbit_dimension(0, 2),
     r"`T` must be an integer in \[1, inf\]; got T=0"),
    ("orbit_dimension k float", lambda: ls.orbit_dimension(2, 1.5),
     r"`k` must be an integer; got k=1.5"),
    ("tangent basis 2-D", lambda: ls.orbit_tangent_basis(np.ones((3, 2))),
     r"`U` must be a \(T, d, k\) array with T, d, k >= 1 and k <= d; got shape \(3, 2\)"),
    ("tangent basis k > d", lambda: ls.orbit_tangent_basis(np.ones((1, 2, 3))),
     r"`U` must be a \(T, d, k\) array"),
    ("tangent basis NaN", lambda: ls.orbit_tangent_basis(np.full((1, 3, 2), np.nan)),
     r"`U` must be finite"),
    ("canonical_form empty", lambda: ls.canonical_form(np.ones((0, 3, 1))),
     r"`U` must be a \(T, d, k\) array"),
    ("orbit_distance shapes", lambda: ls.orbit_distance(np.ones((2, 3, 1)), np.ones((1, 3, 1))),
     r"`U1` and `U2` must have the same shape"),
]


@pytest.mark.parametrize("call, match", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_raises_documented_error(call, match):
    with pytest.raises(InvalidArgument, match=match) as info:
        call()
    assert isinstance(info.value, ValueError)  # `except ValueError` keeps working


def test_good_inputs_pass_the_same_checks():
    """The table is not vacuous: nearby valid calls go through."""
    Problem.random(3, 3, 1, seed=0)
    Problem.random(1, 1, 1, seed=np.random.default_rng(0), base_scale=0.0)
    Problem.from_arrays(np.eye(3, dtype=int), U.astype(np.float32), np.ones((3, 1)))
    ls.adaptability(P, A, 0)
    ls.adaptability(P, A, np.int64(3))
    ls.meta_hvp(P, A, U, A, U)
    ls.min_eigenvalue(P, U, method="dense", tol=1e-3)
    ls.orbit_tangent_basis(np.ones((1, 3, 3)))
    assert ls.orbit_dimension(np.int64(2), 3) == 6


# -- untrusted files: points, scale, budgets -----------------------------------------------------
def _point_file(tmp_path, edit=None, name="pt.json"):
    """A one-point JSON file (from a real search), optionally edited."""
    import json

    from landscape.search import save_point

    q = Problem.random(3, 1, 2, seed=0)
    pt = ls.search(q, starts=2, seed=0).points[0]
    path = save_point(pt, tmp_path / name)
    if edit is not None:
        doc = json.loads(path.read_text())
        edit(doc)
        path.write_text(json.dumps(doc))
    return q, path


def _put(key, value):
    def edit(doc):
        doc[key] = value
        if key in ("U", "A"):
            doc.pop(f"{key}_hex", None)

    return edit


POINT_EDITS = [
    ("U entries 1e300", _put("U", np.full((2, 3, 1), 1e300).tolist()), "overflow float64 arithmetic"),
    ("U hex overflow", _put("U_hex", [[["0x1p+1024"]] * 3] * 2), "overflows a float64"),
    ("U bools", _put("U", [[[True]] * 3] * 2), "expected a number or a hex-float string; got True"),
    ("U complex", _put("U", [[[{"re": 1, "im": 2}]] * 3] * 2), "expected a number"),
    ("U ragged", _put("U", [[[1.0]] * 3, [[1.0]] * 2]), "ragged array"),
    ("U flat", _put("U", [1.0, 2.0]), "must be a 3-D array"),
    ("loss bool", _put("loss", True), "`loss` must be a number; got True"),
    ("index float", _put("index", 0.0), "`index` must be an integer; got 0.0"),
    ("count string", _put("count", "3"), "`count` must be an integer"),
    ("kind unknown", _put("kind", "maximum"), "`kind` must be one of"),
    ("tolerances list", _put("tolerances", []), "`tolerances` must be an object"),
    ("missing loss", lambda d: d.pop("loss"), "missing field 'loss'"),
]


@pytest.mark.parametrize("edit, match", [c[1:] for c in POINT_EDITS], ids=[c[0] for c in POINT_EDITS])
def test_point_files_with_bad_values_are_refused(tmp_path, edit, match):
    q, path = _point_file(tmp_path, edit)
    with pytest.raises(InvalidArgument, match=match):
        ls.load_points(path, q)


def test_point_json_duplicate_keys_and_nesting(tmp_path):
    q, path = _point_file(tmp_path)
    text = path.read_text()
    path.write_text(text.replace("{", '{"kind": "saddle", ', 1))
    with pytest.raises(InvalidArgument, match="duplicate key 'kind'"):
        ls.load_points(path, q)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        ls.load_points(path, q)


NPY_CASES = [
    ("empty file", lambda p: p.write_bytes(b""), "not a valid points file"),
    ("garbage", lambda p: p.write_bytes(b"\x93NUMPY garbage"), "not a valid points file"),
    ("complex", lambda p: np.save(p, np.ones((2, 3, 1)) + 1j), "real float64 array; got dtype complex128"),
    ("bool", lambda p: np.save(p, np.ones((2, 3, 1), dtype=bool)), "real float64 array; got dtype bool"),
    ("object", lambda p: np.save(p, np.array([None, 1], dtype=object), allow_pickle=True),
     "object arrays are never loaded"),
    ("1e300", lambda p: np.save(p, np.full((2, 3, 1), 1e300)), "badly scaled"),
    ("npz in disguise", lambda p: p.write_bytes(b"PK\x03\x04"), "an .npz archive"),
]


@pytest.mark.parametrize("write, match", [c[1:] for c in NPY_CASES], ids=[c[0] for c in NPY_CASES])
def test_npy_point_files_are_checked(tmp_path, write, match):
    path = tmp_path / "u.npy"
    write(path)
    with pytest.raises(InvalidArgument, match=match):
        ls.load_points(path, Problem.random(3, 1, 2, seed=0))


def test_npy_with_a_forged_header_is_refused_before_allocating(tmp_path):
    path = tmp_path / "u.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6, 1)})
        fh.write(b"\0" * 64)
    with pytest.raises(InvalidArgument, match="truncated"):
        ls.load_points(path, Problem.random(3, 1, 2, seed=0))


@pytest.mark.parametrize(
    "kwargs, why",
    [(dict(base_scale=1e200), "products above"), (dict(adapter_scale=1e60), "products above"),
     (dict(base_scale=1e-120, adapter_scale=1e-120), "underflow"), (dict(base_scale=1e9), "lost in A")],
)
def test_badly_scaled_instances_are_undecided(kwargs, why):
    from landscape.errors import Undecided
    from landscape.problem import check_scale

    bad = Problem.random(3, 1, 3, seed=0, **kwargs)
    with pytest.raises(Undecided, match=why):
        check_scale(bad)
    with pytest.raises(Undecided, match="badly scaled"):
        ls.search(bad, starts=2, seed=0)
    import theorems

    r = theorems.check("thm3.1", bad)  # a verdict-shaped answer: undecided, with the reason
    assert r.status == "undecided" and "badly scaled" in r.message and r.exit_code == 3


def test_well_scaled_instances_pass_the_scale_check():
    from landscape.problem import check_scale

    for kwargs in ({}, dict(base_scale=1e6), dict(base_scale=0.0), dict(adapter_scale=1e-10, base_scale=1e-20),
                   dict(base_scale=0.0, adapter_scale=0.0)):
        check_scale(Problem.random(3, 1, 3, seed=0, **kwargs))
    check_scale(P, np.ones((2, 3, 1)))


def test_budgets_refuse_absurd_sizes_and_force_overrides():
    from landscape.atlas import check_atlas_budget
    from landscape.search import check_search_budget, search_cost

    with pytest.raises(InvalidArgument, match=r"needs about 155 GiB of memory.*`--force`"):
        check_search_budget(3000, 1, 3, 64)
    check_search_budget(3000, 1, 3, 64, force=True)
    check_search_budget(10, 2, 5, 64)  # the everyday sizes pass
    with pytest.raises(InvalidArgument, match="floating-point operations"):
        check_search_budget(3, 1, 3, 64, "gd", max_iter=10**12)
    with pytest.raises(InvalidArgument, match="the atlas"):
        check_atlas_budget([3], [1], [3], instances=10**9, starts=1, methods=["sosp"])
    small = search_cost(3, 1, 3, 8)
    assert all(b > a for a, b in zip(small, search_cost(6, 1, 3, 8)))
    assert all(b > a for a, b in zip(small, search_cost(3, 1, 3, 16)))
