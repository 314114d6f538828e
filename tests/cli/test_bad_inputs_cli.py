"""One test per known failure class of the command line (issue 11, "Exit codes and errors").

Each bad input must end in a documented exit code with a one-line message and never a
traceback: 2 for usage/input errors (checked *before* any computation), 3 for instances
too badly scaled for float64 to decide. Commands run in-process through
:func:`metalora.cli.main`, with tiny sizes.
"""

from __future__ import annotations

import importlib
import json
import os
import time
import zipfile

import numpy as np
import pytest

from landscape import Problem
from metalora.cli import main

P = Problem.random(3, 1, 3, seed=0)
SIZES = ["--d", "3", "--k", "1", "--T", "3"]


def run(argv, capsys):
    """``(exit code, stderr)``; asserts the universal contract on the way."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out, err
    assert rc in (0, 1, 2, 3), (rc, err)
    if rc == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err  # one line naming the argument or file
    return rc, err


def usage_error(argv, capsys, *expected):
    rc, err = run(argv, capsys)
    assert rc == 2, err
    for text in expected:
        assert text in err, err
    return err


@pytest.fixture
def no_compute(monkeypatch):
    """Make any computation fail the test: proves a check ran *before* the work."""

    def boom(*a, **k):
        raise AssertionError("computation started before the bad argument was found")

    monkeypatch.setattr(importlib.import_module("landscape.search"), "search", boom)
    monkeypatch.setattr(importlib.import_module("landscape.atlas"), "atlas", boom)
    monkeypatch.setattr(importlib.import_module("theorems.verify"), "verify", boom)
    monkeypatch.setattr(Problem, "random", classmethod(boom))


@pytest.fixture
def problem_file(tmp_path):
    return P.save(tmp_path / "p.json")


# -- output paths: checked before any computation -------------------------------------------
def test_output_file_that_is_a_directory(tmp_path, capsys, no_compute):
    usage_error(["search", *SIZES, "--out", tmp_path], capsys, "`--out`", "is a folder")
    usage_error(["check", "thm3.1", *SIZES, "--json", tmp_path], capsys, "`--json`", "is a folder")


def test_output_with_a_missing_parent(tmp_path, capsys, no_compute):
    missing = tmp_path / "no" / "such"
    usage_error(["search", *SIZES, "--out", missing / "s.json"], capsys, "`--out`", "does not exist")
    usage_error(["check", "thm3.1", *SIZES, "--json", missing / "r.json"], capsys, "`--json`")
    usage_error(["verify", "--claims", "thm3.1", "--out", missing], capsys, "`--out`", "does not exist")
    usage_error(["atlas", "--d", "3", "--k", "1", "--T", "2", "--out", missing], capsys, "`--out`")


def test_output_folder_that_is_an_existing_file(tmp_path, capsys, no_compute):
    f = tmp_path / "file.txt"
    f.write_text("x")
    usage_error(["verify", "--claims", "thm3.1", "--out", f], capsys, "`--out`", "is a file")
    usage_error(["atlas", "--d", "3", "--k", "1", "--T", "2", "--out", f], capsys, "`--out`", "is a file")
    assert f.read_text() == "x"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_output_in_an_unwritable_folder(tmp_path, capsys, no_compute):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        usage_error(["search", *SIZES, "--out", ro / "s.json"], capsys, "not writable")
        usage_error(["verify", "--out", ro / "v"], capsys, "not writable")
    finally:
        ro.chmod(0o700)


# -- problem and point files -----------------------------------------------------------------
def _json_problem(tmp_path, text: str, name="bad.json"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_deeply_nested_json(tmp_path, capsys):
    path = _json_problem(tmp_path, "[" * 200_000 + "]" * 200_000)
    usage_error(["search", "--problem", path], capsys, "nested too deeply")


def test_hex_float_that_overflows(tmp_path, capsys, problem_file):
    doc = json.loads(problem_file.read_text())
    doc["A_star"][0][0] = "0x1p+1024"
    path = _json_problem(tmp_path, json.dumps(doc))
    usage_error(["check", "thm3.1", "--problem", path], capsys, "'0x1p+1024' overflows a float64")


def test_duplicate_json_keys(tmp_path, capsys, problem_file):
    text = problem_file.read_text()
    path = _json_problem(tmp_path, text[:-1] + ', "A_star": [["0x1p+0"]]}')
    usage_error(["search", "--problem", path], capsys, "duplicate key 'A_star'")


@pytest.mark.parametrize("field,value", [("k", True), ("d", 3.0), ("T", "3"), ("A_star", {"re": 1})])
def test_wrong_json_types(tmp_path, capsys, problem_file, field, value):
    doc = json.loads(problem_file.read_text())
    doc[field] = value
    path = _json_problem(tmp_path, json.dumps(doc))
    usage_error(["check", "thm3.1", "--problem", path], capsys, "problem file")


def test_binary_and_non_utf8_problem_files(tmp_path, capsys):
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe\x00garbage\x80")
    usage_error(["search", "--problem", path], capsys, "not UTF-8")


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04truncated"])
def test_empty_or_garbage_npz(tmp_path, capsys, content):
    path = tmp_path / "p.npz"
    path.write_bytes(content)
    usage_error(["search", "--problem", path], capsys, "not a valid problem .npz")


@pytest.mark.parametrize("dtype", [np.complex128, np.bool_])
def test_complex_or_boolean_arrays_are_refused_not_truncated(tmp_path, capsys, dtype):
    path = tmp_path / "p.npz"
    np.savez(path, A_star=P.A_star.astype(dtype), U_star=P.U_star, U_test=P.U_test)
    usage_error(["check", "thm3.1", "--problem", path], capsys, "must be a real float64 array")


def test_npz_bomb_is_refused_before_decompressing(tmp_path, capsys):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name in ("A_star", "U_star", "U_test"):
            z.writestr(f"{name}.npy", b"\0" * (1 << 20))
    import landscape.problem as lp

    old = lp._MAX_FILE_BYTES
    lp._MAX_FILE_BYTES = 1 << 20  # the real limit is 2 GiB; the mechanism is what is tested
    try:
        usage_error(["search", "--problem", path], capsys, "a problem file is at most")
    finally:
        lp._MAX_FILE_BYTES = old


# -- values that overflow later arithmetic / badly scaled instances ----------------------------
def test_badly_scaled_problem_is_undecided_not_a_false_verdict(tmp_path, capsys):
    """|A*| ≈ 1e200 made thm3.1 report a false FAILS (cancellation); now exit 3 with the reason."""
    path = Problem.random(4, 1, 3, seed=0, base_scale=1e200).save(tmp_path / "big.json")
    rc, err = run(["check", "thm3.1", "--problem", path], capsys)
    assert rc == 3 and "badly scaled" in err
    rc, err = run(["search", "--problem", path, "--starts", "2"], capsys)
    assert rc == 3 and "badly scaled" in err


def test_problem_entries_1e300(tmp_path, capsys, problem_file):
    doc = json.loads(problem_file.read_text())
    doc["U_star"][0][0][0] = (1e300).hex()
    path = _json_problem(tmp_path, json.dumps(doc))
    rc, err = run(["check", "thm3.4", "--problem", path, "--starts", "2"], capsys)
    assert rc == 3 and "badly scaled" in err


# -- absurd sizes: refused up front, with the estimate; --force overrides ----------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["search", "--d", "100000", "--k", "1", "--T", "2"],
        ["search", "--d", "3000", "--k", "1", "--T", "3"],
        ["check", "thm3.1", "--d", "3", "--k", "1", "--T", "100000000"],
        ["check", "thm3.4", "--d", "3", "--k", "1", "--T", "3", "--starts", "10000000000"],
        ["atlas", "--d", "3", "--k", "1", "--T", "3", "--starts", "10000000000", "--out", "OUT"],
        ["atlas", "--d", "3", "--k", "1", "--T", "3", "--instances", "1000000000", "--out", "OUT"],
        ["search", *SIZES, "--method", "gd", "--max-iter", "1000000000000"],
    ],
    ids=["search-d1e5", "search-d3000", "check-T1e8", "check-starts1e10", "atlas-starts1e10",
         "atlas-instances1e9", "gd-max-iter1e12"],
)
def test_absurd_sizes_are_refused_with_the_estimate(argv, tmp_path, capsys, no_compute):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    t0 = time.perf_counter()
    err = usage_error(argv, capsys, "needs about", "above the limit", "--force")
    assert time.perf_counter() - t0 < 5, err
    assert not (tmp_path / "out").exists()


def test_starts_written_as_a_float_is_a_usage_error(capsys):
    usage_error(["search", *SIZES, "--starts", "1e10"], capsys, "invalid int value: '1e10'")


def test_force_overrides_the_limit(capsys, monkeypatch):
    monkeypatch.setattr(importlib.import_module("landscape.search"), "MEMORY_LIMIT", 1)
    usage_error(["search", *SIZES, "--starts", "2"], capsys, "above the limit")
    rc, _ = run(["search", *SIZES, "--starts", "2", "--force"], capsys)
    assert rc == 0


# -- Dask scheduler ----------------------------------------------------------------------------
def test_scheduler_without_dask_backend(tmp_path, capsys, no_compute):
    usage_error(["atlas", "--d", "3", "--k", "1", "--T", "2", "--out", tmp_path / "a",
                 "--scheduler", "tcp://127.0.0.1:9"], capsys, "`--scheduler` needs `--backend dask`")


def test_unreachable_dask_scheduler_is_a_clear_error_after_a_bounded_wait(tmp_path, capsys):
    pytest.importorskip("distributed")
    t0 = time.perf_counter()
    usage_error(["atlas", "--d", "3", "--k", "1", "--T", "2", "--instances", "1", "--starts", "2",
                 "--methods", "sosp", "--out", tmp_path / "a", "--backend", "dask",
                 "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "0.5", "--no-progress"],
                capsys, "cannot reach the Dask scheduler")
    assert time.perf_counter() - t0 < 20


# -- search output is deterministic ------------------------------------------------------------
def test_search_json_is_byte_identical_for_the_same_seed(tmp_path, capsys):
    for name in ("a.json", "b.json"):
        assert run(["search", *SIZES, "--starts", "8", "--out", tmp_path / name], capsys)[0] == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    timings = json.loads((tmp_path / "a.timings.json").read_text())
    assert timings["seconds"] > 0 and "seconds" not in (tmp_path / "a.json").read_text()


# -- other commands' inputs (certificates, points for certify, ConvAI2 files) -------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    pytest.importorskip("flint")
    from tests.fixtures import load_spurious

    root = tmp_path_factory.mktemp("cert")
    problem, point = load_spurious("spurious_d3k1T3")
    pfile = problem.save(root / "p.json")
    np.save(root / "u.npy", point.U)
    cert = root / "c.json"
    assert main([str(a) for a in ("certify", "--problem", pfile, "--point", root / "u.npy", "--out", cert)]) == 0
    return cert


def _set_first(doc, key, value):
    """Set the first ``key`` found in a nested JSON document; True if found."""
    if isinstance(doc, dict):
        if key in doc:
            doc[key] = value
            return True
        return any(_set_first(v, key, value) for v in doc.values())
    if isinstance(doc, list):
        return any(_set_first(v, key, value) for v in doc)
    return False


def test_certificate_with_duplicate_keys_is_rejected(certificate, tmp_path, capsys):
    text = certificate.read_text()
    bad = tmp_path / "dup.json"
    bad.write_text(text.replace("{", '{"kind": "min", ', 1))
    rc, err = run(["check-certificate", bad], capsys)
    assert rc in (1, 2) and ("duplicate" in err or rc == 1), err


@pytest.mark.parametrize("key,value", [("k", True), ("d", 3.0)])
def test_certificate_with_wrong_json_types_is_rejected(certificate, tmp_path, capsys, key, value):
    doc = json.loads(certificate.read_text())
    assert _set_first(doc, key, value)
    bad = tmp_path / "typed.json"
    bad.write_text(json.dumps(doc))
    rc, _ = run(["check-certificate", bad], capsys)
    assert rc in (1, 2)  # invalid, or refused as input; never valid, never a crash


def test_certify_point_file_nested_too_deeply(tmp_path, capsys, problem_file):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    usage_error(["certify", "--problem", problem_file, "--point", deep], capsys)


def test_convai2_table_on_a_binary_file(tmp_path, capsys):
    pytest.importorskip("torch")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 8)
    usage_error(["convai2", "table", junk, "--out", tmp_path / "t"], capsys)


def test_convai2_non_utf8_data_files(tmp_path, capsys):
    pytest.importorskip("transformers")
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "valid"):
        (data / f"{split}_self_original.txt").write_bytes(b"\xff\xfe\x81 your persona: i like tea\n")
    usage_error(["convai2", "retrain", "--data", data, "--out", tmp_path / "run",
                 "--model", "roberta-tiny-random", "--no-progress"], capsys)


@pytest.mark.parametrize("text", ['{"tasks": [], "adapter": "lora"', "[" * 100_000 + "]" * 100_000,
                                  '{"tasks": ' + "9" * 5000 + ', "adapter": "lora"}',
                                  '{"tasks": [{"name": 1}], "adapter": "lora", "method": "sr"}',
                                  '{"tasks": "x", "adapter": "lora", "method": "sr"}', "[1, 2]"])
def test_convai2_table_on_malformed_results(tmp_path, capsys, text):
    pytest.importorskip("torch")
    bad = tmp_path / "results.json"
    bad.write_text(text)
    err = usage_error(["convai2", "table", bad, "--out", tmp_path / "t"], capsys)
    assert "results.json" in err


def test_convai2_synth_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("x")
    usage_error(["convai2", "synth", "--out", f, "--train-personas", "2", "--valid-personas", "2",
                 "--candidates", "3", "--values", "3", "--turns", "1", "--dialogues", "1", "1"], capsys)
    err = usage_error(["convai2", "synth", "--out", tmp_path / "s", "--turns", "0"], capsys)
    assert "--turns" in err


def test_convai2_retrain_out_beneath_a_file(tmp_path, capsys):
    pytest.importorskip("transformers")
    from experiments.convai2.synth import write_synth

    data = tmp_path / "data"
    write_synth(data, train_personas=2, valid_personas=2, n_candidates=3, n_values=3, turns=1,
                dialogues_per_persona=(1, 1))
    f = tmp_path / "afile"
    f.write_text("x")
    usage_error(["convai2", "retrain", "--data", data, "--out", f / "run",
                 "--model", "roberta-tiny-random", "--no-progress"], capsys)


@pytest.mark.parametrize("state", ['{"best": {"base": 1}', '{"best": 3}', b"\xff\xfe"])
def test_convai2_finetune_on_a_damaged_base_run(tmp_path, capsys, state):
    pytest.importorskip("transformers")
    base = tmp_path / "base"
    base.mkdir()
    (base / "state.json").write_bytes(state if isinstance(state, bytes) else state.encode())
    (base / "config.json").write_text('{"config": {"lr": 1}, "tasks": []}')
    usage_error(["convai2", "finetune", "--base", base, "--out", tmp_path / "ft", "--no-progress"], capsys)


def test_convai2_table_out_in_a_missing_folder(tmp_path, capsys):
    pytest.importorskip("torch")
    usage_error(["convai2", "table", tmp_path, "--out", tmp_path / "missing" / "t"], capsys, "--out")


@pytest.mark.parametrize("threads", ["0", "99999999999999999999999"])
def test_convai2_threads_out_of_range_is_exit_2(threads, tmp_path, capsys):
    from metalora.cli import main

    rc = main(["convai2", "retrain", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--threads", threads])
    assert rc == 2 and "--threads" in capsys.readouterr().err
