"""`metalora certify` and `metalora check-certificate`: exit codes, files, point formats, bad arguments."""

import json
import numpy as np
import pytest

pytest.importorskip("flint")

from landscape import Problem  # noqa: E402
from metalora.cli import main  # noqa: E402
from tests.landscape.certificates.conftest import load_spurious  # noqa: E402


@pytest.fixture
def files(tmp_path):
    p, U = load_spurious(0)
    p.save(tmp_path / "p.json")
    np.save(tmp_path / "u.npy", U)
    np.save(tmp_path / "zero.npy", np.zeros(U.shape))
    return tmp_path


def test_certify_issues_and_checks(files, capsys):
    cert = files / "cert.json"
    rc = main(["certify", "--problem", str(files / "p.json"), "--point", str(files / "u.npy"), "--out", str(cert)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "certificate issued: spurious-min" in out
    assert json.loads(cert.read_text())["kind"] == "spurious-min"
    assert not list(files.glob("*.tmp"))
    assert main(["check-certificate", str(cert)]) == 0
    assert "VALID" in capsys.readouterr().out
    # an edited bound: exit 1
    obj = json.loads(cert.read_text())
    obj["bounds"]["mu"]["lo"] = float.hex(float.fromhex(obj["bounds"]["mu"]["lo"]) * 1.01)
    cert.write_text(json.dumps(obj))
    assert main(["check-certificate", str(cert), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "invalid"
    # each kernel alone
    for kern in ("independent", "prover"):
        assert main(["check-certificate", str(cert), "--kernel", kern]) == 1


def test_certify_refuses_with_exit_1(files, capsys):
    rc = main(["certify", "--problem", str(files / "p.json"), "--point", str(files / "zero.npy"),
               "--kind", "min", "--out", str(files / "no.json")])
    assert rc == 1
    assert "no certificate" in capsys.readouterr().out
    assert not (files / "no.json").exists()


def test_point_formats(files, capsys):
    p, U = load_spurious(0)
    # a search-style JSON with a points list and an embedded problem; hex and plain numbers
    (files / "search.json").write_text(json.dumps({
        "problem": p.to_json(),
        "points": [{"U": np.zeros(U.shape).tolist()}, {"U": U.tolist()}],
    }))
    assert main(["certify", "--point", str(files / "search.json"), "--index", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["status"] == "issued" and res["kind"] == "spurious-min"
    np.savez(files / "u.npz", U=U.ravel())
    assert main(["certify", "--problem", str(files / "p.json"), "--point", str(files / "u.npz")]) == 0
    # a certificate is also a point file
    main(["certify", "--problem", str(files / "p.json"), "--point", str(files / "u.npy"), "--out",
          str(files / "c.json")])
    capsys.readouterr()
    assert main(["certify", "--point", str(files / "c.json"), "--problem", str(files / "p.json")]) == 0


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["certify", "--point", "missing.npy", "--d", "3", "--k", "1", "--T", "3"], "existing file"),
        (["certify", "--point", "{u}", "--d", "4", "--k", "1", "--T", "3"], "must have shape"),
        (["certify", "--point", "{u}"], "give `--problem FILE`"),
        (["certify", "--point", "{search}", "--index", "5"], "`--index` must be in"),
        (["certify", "--point", "{u}", "--d", "3", "--k", "1", "--T", "3", "--radius", "-1"], "radius"),
        (["certify", "--point", "{u}", "--d", "3", "--k", "1", "--T", "3", "--kind", "max"], "invalid choice"),
        (["check-certificate", "nothere.json"], "existing file"),
        (["check-certificate", "{bad}"], "not valid JSON"),
    ],
)
def test_usage_errors_exit_2(files, capsys, argv, msg):
    (files / "search.json").write_text(json.dumps({"points": [{"U": [0.0] * 9}]}))
    (files / "bad.json").write_text("{oops")
    subst = {"{u}": str(files / "u.npy"), "{search}": str(files / "search.json"), "{bad}": str(files / "bad.json")}
    argv = [subst.get(a, a) for a in argv]
    assert main(argv) == 2
    assert msg in capsys.readouterr().err


def test_help_documents_exit_codes(capsys):
    for argv, text in ((["certify", "--help"], "exit status: 0 certificate issued, 1 refused"),
                       (["certify", "--help"], "no-min"),
                       (["check-certificate", "--help"], "exit status: 0 valid, 1 invalid")):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
        assert rc == 0
        assert text in capsys.readouterr().out


def test_kind_no_min_and_refusals(files, capsys):
    p, U = load_spurious(0)
    zero = ["certify", "--problem", str(files / "p.json"), "--point", str(files / "zero.npy")]
    assert main(zero + ["--kind", "no-min", "--out", str(files / "nm.json")]) == 0
    assert "no-local-min" in capsys.readouterr().out
    assert main(["check-certificate", str(files / "nm.json")]) == 0
    # a true minimum is refused under no-min and saddle (exit 1, not an error)
    for kind in ("no-min", "saddle"):
        assert main(["certify", "--problem", str(files / "p.json"), "--point", str(files / "u.npy"),
                     "--kind", kind]) == 1
    capsys.readouterr()


def test_undecided_exits_3(tmp_path, capsys):
    """U = 0 at T = 2 is a degenerate saddle: --kind saddle cannot decide (3), no-min issues (0)."""
    p = Problem.random(3, 1, 2, seed=0)
    p.save(tmp_path / "p.json")
    np.save(tmp_path / "z.npy", np.zeros((2, 3, 1)))
    base = ["certify", "--problem", str(tmp_path / "p.json"), "--point", str(tmp_path / "z.npy")]
    assert main(base + ["--kind", "saddle"]) == 3
    assert "degenerate" in capsys.readouterr().out
    assert main(base) == 0


def test_bad_point_arrays_exit_2(files, capsys):
    p, U = load_spurious(0)
    base = ["certify", "--problem", str(files / "p.json"), "--point"]
    np.save(files / "c.npy", U.astype(complex))
    np.save(files / "b.npy", np.ones(U.shape, dtype=bool))
    (files / "e.npy").write_bytes(b"")
    for name in ("c.npy", "b.npy", "e.npy"):
        assert main(base + [str(files / name)]) == 2
        assert capsys.readouterr().err.strip()
    # an output path that is a directory is refused before any work
    assert main(base + [str(files / "u.npy"), "--out", str(files)]) == 2
