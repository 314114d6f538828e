"""Fuzzing the command line: hostile argument lists and corrupted input files.

Hypothesis draws argument lists for every command (wrong types, negative, zero and
absurd sizes, unknown flags, missing values, bad output paths, option combinations that
make no sense) and input files corrupted in every way we know (truncated, bit-flipped,
binary, non-UTF-8, empty, deeply nested, duplicate keys, hex floats that overflow, values
of the wrong JSON type, complex/boolean/object/forged ``.npy`` and ``.npz`` arrays). Each
case runs in-process through :func:`metalora.cli.main` with small sizes and must

- exit with a documented code: 0, 1, 2 or 3 (4, "internal error", fails the test: it
  means an unexpected exception),
- never print a traceback,
- on exit code 2, print one line on stderr,
- finish within ``_CASE_SECONDS`` (nothing runs on without end).

Derandomized under the ``ci`` hypothesis profile; 250 examples per test by default. ``METALORA_FUZZ_TALLY=FILE`` appends
one JSON line per case (command, exit code, clean) for counting; ``METALORA_FUZZ_SURVEY=1``
only counts (no assertion), to survey a large number of cases.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from landscape import Problem
from metalora.cli import main

_CASE_SECONDS = 60
#: Examples per fuzz test (``METALORA_FUZZ_EXAMPLES`` raises it for a long survey).
_EXAMPLES = int(os.environ.get("METALORA_FUZZ_EXAMPLES", "250"))
_DOCUMENTED = (0, 1, 2, 3)
_TALLY = {"cases": 0, "clean": 0}  # this module's own commands and readers
_OTHER_TALLY = {"cases": 0, "clean": 0}  # the other owners' commands (reported, xfail)


class _Hang(BaseException):
    """Raised by the alarm when one case runs longer than ``_CASE_SECONDS``."""


def _alarm(signum, frame):  # pragma: no cover - only on a hang
    raise _Hang("a case ran longer than its time limit")


def invoke(argv, cwd, seconds: int = _CASE_SECONDS) -> tuple[int, str, str]:
    """Run ``metalora argv`` in-process in ``cwd``; returns ``(code, stdout, stderr)``."""
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings():
            warnings.simplefilter("default")  # as on a real command line (pytest makes them errors)
            rc = main([str(a) for a in argv])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return int(rc), out.getvalue(), err.getvalue()


def check_contract(argv, cwd, tally=_TALLY, seconds: int = _CASE_SECONDS) -> int:
    rc, out, err = invoke(argv, cwd, seconds)
    clean = rc in _DOCUMENTED and "Traceback" not in out + err
    if rc == 2 and not (out.startswith("usage:") and not err):  # no command: the help, exit 2
        lines = [ln for ln in err.strip().splitlines() if "Warning" not in ln]
        clean = clean and len(lines) >= 1 and "error" in lines[-1]
    tally["cases"] += 1
    tally["clean"] += bool(clean)
    log = os.environ.get("METALORA_FUZZ_TALLY")
    if log:
        with open(log, "a") as fh:
            fh.write(json.dumps({"argv": [str(a) for a in argv], "rc": rc, "clean": clean,
                                 "err": err.strip()[-300:]}) + "\n")
    if os.environ.get("METALORA_FUZZ_SURVEY"):  # count only (for the issue's report), assert nothing
        return rc
    assert "Traceback" not in out + err, (argv, err)
    assert rc != 4, f"internal error (an unexpected exception) for {argv}: {err}"
    assert rc in _DOCUMENTED, (argv, rc, err)
    if rc == 2:
        assert clean, f"exit 2 without a one-line error for {argv}: {err!r}"
    return rc


# -- fixtures: valid files to corrupt, and a scratch folder ---------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    p = Problem.random(3, 1, 3, seed=17)
    out = {"root": root, "problem.json": p.save(root / "problem.json"),
           "problem.npz": p.save(root / "problem.npz")}
    from landscape.search import search

    res = search(p, starts=8, method="roots", seed=0)
    out["search.json"] = res.save(root / "search.json")
    np.save(root / "point.npy", res.points[0].U)
    out["point.npy"] = root / "point.npy"
    (root / "adir").mkdir()
    (root / "afile.txt").write_text("not a folder\n")
    out["adir"], out["afile"] = root / "adir", root / "afile.txt"
    return out


def scratch(files) -> Path:
    return Path(tempfile.mkdtemp(dir=files["root"]))


# -- hostile values -----------------------------------------------------------------------------
INTS = st.sampled_from(["-1", "0", "1", "2", "3", "99999999999", "1e10", "2.5", "", "x", "0x10", "-0"])
SMALL = st.sampled_from(["1", "2", "3"])
FLOATS = st.sampled_from(["-1", "0", "0.001", "nan", "inf", "1e400", "x", ""])
SEEDS = st.sampled_from(["0", "1", "-1", "18446744073709551616", "x"])
METHODS = st.sampled_from(["sosp", "gd", "pgd", "roots", "adam", ""])
CLAIMS = st.sampled_from(["thm3.1", "cor1", "thm3.4", "spurious-t3", "nope", ""])


def out_path(kind, files, work):
    return {
        "new": work / "o.json", "dir": files["adir"], "file": files["afile"], "missing": work / "no" / "o.json",
        "empty": "", "dash": "-",
    }[kind]


OUTS = st.sampled_from(["new", "dir", "file", "missing", "empty", "dash"])
_UNKNOWN = st.sampled_from(["--bogus", "-x", "--d", "--starts", "--out", "--", "--help"])


def pick(draw, valid, hostile, *, odds: int = 5):
    """A valid value most of the time, a hostile one about once in ``odds`` draws, so that
    most cases carry one bad element and reach past the argument parser.
    """
    return draw(hostile if draw(st.integers(0, odds - 1)) == 0 else valid)


@st.composite
def sizes(draw):
    """``--d/--k/--T/--seed``: mostly small, sometimes absurd, malformed or missing."""
    argv = []
    d = 3
    for flag in ("--d", "--k", "--T"):
        if draw(st.integers(0, 11)) == 0:
            continue  # a missing size
        argv += [flag, pick(draw, st.just(str(d)) if flag == "--d" else SMALL, INTS, odds=6)]
    if draw(st.booleans()):
        argv += ["--seed", pick(draw, st.sampled_from(["0", "17"]), SEEDS)]
    return argv


@st.composite
def search_argv(draw, files, work):
    argv = ["search"]
    if draw(st.integers(0, 3)) == 0:
        argv += ["--problem", pick(draw, st.sampled_from([files["problem.json"], files["problem.npz"],
                                                          files["search.json"]]),
                                   st.sampled_from([files["adir"], files["afile"], "missing.json", ""]))]
        if draw(st.integers(0, 5)) == 0:
            argv += draw(sizes())  # both: a usage error
    else:
        argv += draw(sizes())
    argv += ["--starts", pick(draw, st.sampled_from(["1", "2", "4"]), INTS)]
    if draw(st.booleans()):
        argv += ["--method", pick(draw, st.sampled_from(["sosp", "gd", "pgd", "roots"]), METHODS)]
    if draw(st.booleans()):
        argv += ["--max-iter", pick(draw, st.sampled_from(["0", "1", "30"]),
                                    st.sampled_from(["-1", "1000000000000", "x"]))]
    if draw(st.integers(0, 3)) == 0:
        argv += ["--objective", pick(draw, st.sampled_from(["reduced", "full"]), st.just("other"))]
    if draw(st.integers(0, 9)) == 0:
        argv += ["--device", "cuda"]
    if draw(st.booleans()):
        argv += ["--out", out_path(pick(draw, st.sampled_from(["new", "dash"]), OUTS), files, work)]
    if draw(st.integers(0, 5)) == 0:
        argv += ["--start-seed", draw(SEEDS)]
    if draw(st.integers(0, 9)) == 0:
        argv += ["--keep-noncritical"]
    if draw(st.integers(0, 9)) == 0:
        argv += [draw(_UNKNOWN)]
    return argv


_WITH_STARTS = ("thm3.4", "spurious-t3")


@st.composite
def check_argv(draw, files, work):
    claim = pick(draw, st.sampled_from(["thm3.1", "cor1", "thm3.4", "spurious-t3"]), st.sampled_from(["nope", ""]),
                 odds=8)
    argv = ["check", claim]
    if draw(st.integers(0, 3)) == 0:
        argv += ["--problem", pick(draw, st.sampled_from([files["problem.json"], files["problem.npz"]]),
                                   st.sampled_from(["missing.json", files["adir"]]))]
    else:
        argv += draw(sizes())
    if claim in _WITH_STARTS:  # never the claim's own (larger) default
        argv += ["--starts", pick(draw, st.sampled_from(["2", "4"]), INTS)]
    elif draw(st.integers(0, 9)) == 0:
        argv += ["--starts", "2"]  # does not apply: a usage error
    if draw(st.integers(0, 3)) == 0:
        argv += ["--method", pick(draw, st.sampled_from(["roots", "sosp"]), METHODS)]
    if draw(st.integers(0, 3)) == 0:
        argv += ["--check-seed", draw(SEEDS)]
    if draw(st.booleans()):
        argv += ["--json", out_path(pick(draw, st.just("new"), OUTS), files, work)]
    if draw(st.integers(0, 9)) == 0:
        argv += [draw(_UNKNOWN)]
    return argv


@st.composite
def atlas_argv(draw, files, work):
    argv = ["atlas", "--no-progress"]
    for flag, valid in (("--d", ["3"]), ("--k", ["1"]), ("--T", ["2", "3"])):
        if draw(st.integers(0, 11)):
            argv += [flag, *draw(st.lists(st.sampled_from(valid), min_size=1, max_size=2))]
            if draw(st.integers(0, 9)) == 0:
                argv += [draw(INTS)]
    argv += ["--instances", pick(draw, st.just("1"), INTS, odds=8)]
    argv += ["--starts", pick(draw, st.sampled_from(["2", "3"]), INTS, odds=8)]
    argv += ["--methods", *draw(st.lists(st.sampled_from(["sosp", "roots", "gd"]), min_size=1, max_size=2))]
    if draw(st.integers(0, 9)) == 0:
        argv += [draw(st.sampled_from(["x", "sosp"]))]  # an unknown or repeated method
    if draw(st.booleans()):
        argv += ["--gd-max-iter", pick(draw, st.sampled_from(["5", "0"]),
                                       st.sampled_from(["-3", "1000000000000", "x"]))]
    backend = pick(draw, st.sampled_from(["threading", "loky", None]), st.sampled_from(["dask", "ray", "spark"]),
                   odds=6)
    if backend:
        argv += ["--backend", backend]
    if draw(st.integers(0, 7)) == 0 or backend == "dask":  # never a local Dask cluster: slow
        argv += ["--scheduler", draw(st.sampled_from(["tcp://127.0.0.1:9", "not an address", ""])),
                 "--scheduler-timeout", draw(st.sampled_from(["0.3", "-1", "0", "x"]))]
    if draw(st.integers(0, 3)) == 0:
        argv += ["--jobs", pick(draw, st.just("1"), st.sampled_from(["0", "-5", "x"]))]
    if draw(st.integers(0, 5)) == 0:
        argv += ["--no-resume"]
    if draw(st.integers(0, 11)):
        argv += ["--out", pick(draw, st.sampled_from([work / "atlas", files["root"] / "shared_atlas"]),
                               st.sampled_from([files["afile"], work / "no" / "a", ""]), odds=8)]
    return argv


@st.composite
def verify_argv(draw, files, work):
    # --claims is always restricted (the whole quick profile takes ~15 s).
    argv = ["verify", "--no-progress", "--claims",
            pick(draw, st.sampled_from(["thm3.1", "cor1", "thm3.1,cor1"]),
                 st.sampled_from(["", ",", "bogus", "thm3.1,bogus", "THM3.1"]))]
    if draw(st.booleans()):
        argv += ["--seed", pick(draw, st.sampled_from(["0", "3"]), SEEDS)]
    if draw(st.integers(0, 5)) == 0:
        argv += ["--profile", draw(st.sampled_from(["quick", "fast"]))]
    argv += ["--out", pick(draw, st.sampled_from([work / "v", files["root"] / "shared_verify"]),
                           st.sampled_from([files["afile"], work / "no" / "v", ""]))]
    return argv


ARGV = {"search": search_argv, "check": check_argv, "atlas": atlas_argv, "verify": verify_argv}
#: How often each command is drawn (valid atlas and verify runs cost ~1 s each).
_COMMANDS = ["search"] * 4 + ["check"] * 4 + ["atlas"] * 2 + ["verify"]


@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_argument_lists(files, data):
    work = scratch(files)
    command = data.draw(st.sampled_from(_COMMANDS), label="command")
    argv = data.draw(ARGV[command](files, work), label="argv")
    check_contract(argv, work)


def test_top_level_nonsense(files):
    work = scratch(files)
    for argv in ([], ["--debug"], ["nope"], ["--version"], ["search", "--help"], ["-x"], ["--", "verify"]):
        check_contract(argv, work)


# -- corrupted files ------------------------------------------------------------------------------
HOSTILE_JSON_VALUES = [1e300, -1e300, "0x1p+1024", "0x1.8p+1", True, False, None, 3.0, "3", [], {},
                       [[1, 2], [3]], "nan", "inf", 5e-324, {"re": 1.0, "im": 2.0}, [[[[[[[[[["0x1p+0"]]]]]]]]]],
                       "\udcff"]


def _paths(obj, prefix=()):
    """Every path into a JSON document (dict keys and list indices), the root included."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list) and obj:
        for i in {0, len(obj) - 1}:
            yield from _paths(obj[i], prefix + (i,))


def _set(obj, path, value):
    if not path:
        return value
    cur = obj
    for key in path[:-1]:
        cur = cur[key]
    cur[path[-1]] = value
    return obj


@st.composite
def corrupted(draw, base: bytes, is_json: bool):
    """Bytes of ``base`` corrupted in one of the ways the audit found (and a few more)."""
    kinds = ["truncate", "flip", "insert", "empty", "binary", "nonutf8"]
    if is_json:
        kinds += ["deep", "edit", "edit", "edit", "duplicate", "huge-int", "not-json-object"]
    kind = draw(st.sampled_from(kinds), label="corruption")
    n = len(base)
    if kind == "truncate":
        return base[: draw(st.integers(0, max(n - 1, 0)))]
    if kind == "flip":
        i = draw(st.integers(0, n - 1))
        return base[:i] + bytes([base[i] ^ draw(st.integers(1, 255))]) + base[i + 1:]
    if kind == "insert":
        i = draw(st.integers(0, n))
        return base[:i] + draw(st.binary(min_size=1, max_size=16)) + base[i:]
    if kind == "empty":
        return b""
    if kind == "binary":
        return draw(st.binary(min_size=1, max_size=256))
    if kind == "nonutf8":
        return b"\xff\xfe\x80" + base
    if kind == "deep":
        depth = draw(st.sampled_from([50, 5000, 200000]))
        return (b"[" * depth + b"]" * depth) if draw(st.booleans()) else (b'{"a":' * depth + b"1" + b"}" * depth)
    doc = json.loads(base)
    if kind == "edit":
        paths = list(_paths(doc))
        path = paths[draw(st.integers(0, len(paths) - 1))]
        value = draw(st.sampled_from(HOSTILE_JSON_VALUES))
        text = json.dumps(_set(doc, path, value), allow_nan=True)
        return text.encode("utf-8", "surrogateescape")
    if kind == "duplicate":
        key = draw(st.sampled_from(sorted(doc) if isinstance(doc, dict) and doc else ["x"]))
        return base.replace(b"{", b'{"' + key.encode() + b'": 1, ', 1)
    if kind == "huge-int":
        return base.replace(b"{", b'{"d": 1' + b"0" * 5000 + b", ", 1)
    return draw(st.sampled_from([b"[]", b"3", b'"text"', b"null", b"true"]))


def _hostile_npy(draw, U) -> bytes:
    """An ``.npy`` file in place of ``U`` whose array (or header) is hostile."""
    variant = draw(st.sampled_from(["complex", "bool", "object", "forged-shape", "0-d", "wrong-shape",
                                    "float16", "int64", "nan", "1e300", "empty", "fortran", "string"]),
                   label="array")
    buf = io.BytesIO()
    if variant == "object":
        a = np.empty(U.shape, dtype=object)
        a[...] = 1.0
        np.save(buf, a, allow_pickle=True)
    elif variant == "forged-shape":  # a header promising ~8 TB, followed by a few bytes
        np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                                   "shape": (10**6, 10**6)})
        buf.write(b"\0" * 64)
    else:
        arr = {
            "complex": U + 1j, "bool": U > 0, "0-d": np.float64(1.0), "wrong-shape": np.ones((2, 2)),
            "float16": U.astype(np.float16), "int64": np.ones(U.shape, dtype=np.int64),
            "nan": np.full(U.shape, np.nan), "1e300": np.full(U.shape, 1e300),
            "empty": np.zeros((0,) + U.shape), "fortran": np.asfortranarray(U), "string": np.array(["x"]),
        }[variant]
        np.save(buf, arr)
    return buf.getvalue()


@st.composite
def file_case(draw, files, work):
    """``(argv or None, path)``: a corrupted file and the command that reads it (None: the
    library's point reader, :func:`landscape.search.load_points`).
    """
    target = draw(st.sampled_from(["problem.json", "search.json", "problem.npz", "point.npy"]), label="file")
    p = Problem.load(files["problem.json"])
    array = target.endswith((".npy", ".npz")) and draw(st.booleans())
    if not array:
        data = draw(corrupted(files[target].read_bytes(), target.endswith(".json")))
    elif target == "point.npy":
        data = _hostile_npy(draw, p.U_star)
    else:
        import zipfile

        key = draw(st.sampled_from(["A_star", "U_star", "U_test"]))
        arrays = {"A_star": p.A_star, "U_star": p.U_star, "U_test": p.U_test}
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, a in arrays.items():
                b = io.BytesIO()
                np.save(b, a)
                z.writestr(f"{name}.npy", _hostile_npy(draw, a) if name == key else b.getvalue())
        data = buf.getvalue()
    path = work / Path(target).name
    path.write_bytes(data)
    if target == "point.npy":
        return None, path
    command = draw(st.sampled_from(["search", "check"]), label="command")
    if command == "search":
        return ["search", "--problem", path, "--starts", "2", "--method", draw(st.sampled_from(["sosp", "roots"]))], path
    claim = draw(st.sampled_from(["thm3.1", "thm3.4", "spurious-t3"]))
    return ["check", claim, "--problem", path, "--starts", "2"], path


def load_points_cleanly(path, problem) -> None:
    """The library's point reader: a documented error or points, nothing else."""
    from landscape.errors import InvalidArgument, Undecided
    from landscape.search import load_points

    _TALLY["cases"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            load_points(path, problem)
    except (InvalidArgument, Undecided):
        pass
    _TALLY["clean"] += 1


@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_corrupted_files(files, data):
    work = scratch(files)
    argv, path = data.draw(file_case(files, work), label="case")
    if argv is None:
        load_points_cleanly(path, Problem.load(files["problem.json"]))
    else:
        check_contract(argv, work)


# -- the other commands (their owners' readers; failures are listed in issue 11's report) --------
@pytest.fixture(scope="module")
def other_files(files):
    root = files["root"]
    out = dict(files)
    pytest.importorskip("flint")
    from tests.fixtures import load_spurious

    problem, point = load_spurious("spurious_d3k1T3")
    out["sp.json"] = problem.save(root / "sp.json")
    np.save(root / "sp_u.npy", point.U)
    out["sp_u.npy"] = root / "sp_u.npy"
    cert = root / "cert.json"
    argv = ["certify", "--problem", out["sp.json"], "--point", out["sp_u.npy"], "--out", cert]
    assert invoke(argv, root)[0] == 0
    out["cert.json"] = cert
    return out


@st.composite
def other_argv(draw, files, work):
    command = draw(st.sampled_from(["certify", "certify", "check-certificate", "check-certificate",
                                    "convai2-table", "convai2-synth"]), label="command")
    if command == "certify":
        argv = ["certify"]
        pfile = pick(draw, st.just(files["sp.json"]), st.just("corrupt"), odds=3)
        if pfile == "corrupt":
            pfile = work / "p.json"
            pfile.write_bytes(draw(corrupted(files["sp.json"].read_bytes(), True)))
        argv += ["--problem", pfile]
        ufile = pick(draw, st.sampled_from([files["sp_u.npy"], files["search.json"]]),
                     st.sampled_from(["corrupt-npy", "corrupt-json", "array"]), odds=3)
        if ufile == "corrupt-npy":
            ufile = work / "u.npy"
            ufile.write_bytes(draw(corrupted(files["sp_u.npy"].read_bytes(), False)))
        elif ufile == "corrupt-json":
            ufile = work / "u.json"
            ufile.write_bytes(draw(corrupted(files["search.json"].read_bytes(), True)))
        elif ufile == "array":
            ufile = work / "u.npy"
            ufile.write_bytes(_hostile_npy(draw, np.load(files["sp_u.npy"])))
        argv += ["--point", ufile]
        if draw(st.integers(0, 3)) == 0:
            argv += ["--kind", pick(draw, st.sampled_from(["auto", "min"]), st.sampled_from(["saddle", "x"]))]
        if draw(st.integers(0, 3)) == 0:
            argv += ["--index", pick(draw, st.just("0"), st.sampled_from(["-1", "99", "x"]))]
        if draw(st.integers(0, 4)) == 0:
            argv += [draw(st.sampled_from(["--radius", "--precision", "--max-center-bits"])),
                     draw(st.sampled_from(["0", "-1", "nan", "x", "1e-300", "100000"]))]
        if draw(st.booleans()):
            argv += ["--out", out_path(pick(draw, st.just("new"), OUTS), files, work)]
        return argv
    if command == "check-certificate":
        cert = work / "c.json"
        cert.write_bytes(draw(corrupted(files["cert.json"].read_bytes(), True)))
        argv = ["check-certificate", pick(draw, st.just(cert), st.sampled_from([files["adir"], "missing.json"]))]
        if draw(st.booleans()):
            argv += ["--kernel", draw(st.sampled_from(["both", "independent", "prover", "x"]))]
        return argv
    if command == "convai2-table":
        junk = work / draw(st.sampled_from(["results.json", "junk.bin"]))
        junk.write_bytes(draw(corrupted(b'{"format": "x", "results": []}', True)))
        run_dir = work / "ft"
        run_dir.mkdir()
        (run_dir / "results.json").write_bytes(junk.read_bytes())
        return ["convai2", "table", draw(st.sampled_from([junk, run_dir, files["afile"], files["adir"]])),
                "--out", work / "tbl"]
    return ["convai2", "synth", "--out", pick(draw, st.just(work / "syn"), st.just(files["afile"])),
            "--train-personas", pick(draw, st.just("2"), INTS), "--valid-personas", pick(draw, st.just("2"), INTS),
            "--candidates", pick(draw, st.just("3"), INTS), "--values", pick(draw, st.just("3"), INTS),
            "--turns", pick(draw, st.just("1"), INTS), "--dialogues", "1", "1"]


@settings(max_examples=max(_EXAMPLES // 4, 20), deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_other_commands(other_files, data):
    work = scratch(other_files)
    check_contract(data.draw(other_argv(other_files, work), label="argv"), work, _OTHER_TALLY)


# -- every registered command, driven by its own argument parser --------------------------------
def _subparser(parser, name):
    import argparse

    for action in parser._actions:  # argparse keeps sub-commands here
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)


#: Commands fuzzed only through their parsers (the others have grammars above).
_PARSER_ONLY = ("figure1", "census", "census-atlas", "shallow", "vision", "convai2")


def _hostile_value(draw, action, files, work):
    """A value the option should refuse (never a plain valid one: defaults can run for minutes)."""
    if action.choices:
        return draw(st.sampled_from(["bogus", ""]))
    if action.type is int:
        return draw(st.sampled_from(["-1", "x", "2.5", "", "99999999999", "1e10"]))
    if action.type is float:
        return draw(st.sampled_from(["nan", "x", "-1", "inf", "", "1e400"]))
    # (no existing folder: for an output-folder option it would be valid and start the default run)
    return str(draw(st.sampled_from([files["afile"], work / "missing" / "x", "", files["point.npy"],
                                     files["root"] / "binary.bin"])))


@st.composite
def parser_argv(draw, files, work):
    """Hostile argument lists for a command, drawn from its own parser's options: every
    option given gets a value it should refuse, and at least one option is given.
    """
    import argparse

    from metalora.cli import COMMANDS, build_parser

    name = draw(st.sampled_from([c for c in _PARSER_ONLY if c in COMMANDS]), label="command")
    parser, argv = _subparser(build_parser(name), name), [name]
    while True:  # nested sub-commands (convai2 synth|retrain|...)
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            break
        sub = draw(st.sampled_from(sorted(subs[0].choices)), label="sub-command")
        parser, argv = subs[0].choices[sub], argv + [sub]
    valued = [a for a in parser._actions if a.option_strings and a.nargs != 0
              and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]
    chosen = set(draw(st.lists(st.sampled_from(range(len(valued))), min_size=1, max_size=3, unique=True))) \
        if valued else set()
    for idx, action in enumerate(valued):
        if idx not in chosen and not action.required:
            continue
        count = {None: 1, "?": 1, "+": 1, "*": 1}.get(action.nargs, action.nargs)
        count = count if isinstance(count, int) else 1
        argv += [action.option_strings[0]] + [_hostile_value(draw, action, files, work) for _ in range(count)]
    for action in parser._actions:
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction):
            argv.append(_hostile_value(draw, action, files, work))
    return argv


@settings(max_examples=max(_EXAMPLES // 5, 20), deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_other_commands_from_their_parsers(files, data):
    (files["root"] / "binary.bin").write_bytes(bytes(range(256)) * 4)
    work = scratch(files)
    argv = data.draw(parser_argv(files, work), label="argv")
    check_contract(argv, work, _OTHER_TALLY, seconds=15)


def test_fuzz_tally_is_all_clean():
    """Runs last in this module: every case so far ended cleanly (the numbers are printed)."""
    print(f"\nfuzz: {_TALLY['cases']} hostile cases, {_TALLY['clean']} ended cleanly "
          f"(other owners' commands: {_OTHER_TALLY['cases']} cases, {_OTHER_TALLY['clean']} clean)")
    assert _TALLY["clean"] == _TALLY["cases"]
