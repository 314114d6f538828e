"""``metalora certify``: prove what a point is — a (spurious/global) local minimum, a strict
saddle, or a point with no local minimum nearby.

Exit codes: 0 a certificate was issued, 1 refused (the requested kind does not hold), 2 usage
or input error, 3 undecided (precision limit, degenerate point); the reason is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from metalora.cli import problem_arguments, problem_from_args

EPILOG = """\
point files: a .npy array of shape (T, d, k) (or (T*d*k,)); a .npz with an array 'U';
a JSON file with "U" or "U_hex" (nested numbers or hex-float strings) — a point file of
`metalora search`, a file with a "points" list (pick one with --index), or a certificate.
When --problem is not given, a problem embedded in the point file is used.

kinds: min (strict / spurious / global minimum), saddle (strict saddle: an isolated
critical point with a negative Hessian eigenvalue), no-min (a ball containing no local
minimum; needs no nondegeneracy), auto (default: a minimum when the Hessian is positive
definite modulo the symmetry, else a strict saddle, else no-min). A true minimum is refused
under saddle and no-min.

exit status: 0 certificate issued, 1 refused (the requested kind does not hold: a saddle
offered as a minimum, a minimum as a saddle or no-min), 2 usage or input error, 3 undecided
(nothing could be proved: "certificate refused at precision P", a degenerate point, ...).

examples:
  metalora certify --problem p.json --point spurious.npy --kind min --out cert.json
  metalora certify --d 3 --k 1 --T 3 --seed 0 --point zero.npy --kind saddle
  metalora check-certificate cert.json
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    problem_arguments(parser, required=False)
    parser.add_argument("--point", required=True, metavar="FILE",
                        help="the point U (see 'point files' below)")
    parser.add_argument("--index", type=int, default=0, help="which entry of a 'points' list (default 0)")
    parser.add_argument("--kind", choices=("auto", "min", "saddle", "no-min"), default="auto",
                        help="what to prove (default auto; see 'kinds' below)")
    parser.add_argument("--radius", type=float, default=None,
                        help="radius of the certified ball (default: try a few, largest first)")
    parser.add_argument("--gauge", choices=("auto", "slice", "none"), default="auto",
                        help="gauge for the continuous symmetry (default auto: a slice when there is one)")
    parser.add_argument("--precision", type=int, default=128,
                        help="arb precision (bits) of the independent check (default 128)")
    parser.add_argument("--max-center-bits", type=int, default=2048,
                        help="finest centre grid (bits) of the adaptive precision (default 2048)")
    parser.add_argument("--out", metavar="CERT.json", help="write the certificate here (only when issued)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of text")


def _parse_numbers(obj):
    if isinstance(obj, list):
        return [_parse_numbers(x) for x in obj]
    if isinstance(obj, str):
        return float.fromhex(obj)
    if isinstance(obj, bool) or not isinstance(obj, (int, float)):
        raise ValueError(f"not a number: {obj!r}")
    return float(obj)


def load_point(path: str, index: int = 0):
    """``(U, embedded_problem_json_or_None)`` from a point file (see the command's help)."""
    import numpy as np

    from landscape.errors import InvalidArgument

    p = Path(path)
    if not p.is_file():
        raise InvalidArgument(f"`--point` must be an existing file; got {path!r}.")
    try:
        if p.suffix == ".npy":
            return np.load(p, allow_pickle=False), None
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as data:
                if "U" not in data.files:
                    raise InvalidArgument(f"{path}: no array 'U' in the .npz file.")
                return data["U"], None
        obj = json.loads(p.read_text())
    except (ValueError, OSError, EOFError, RecursionError) as exc:
        raise InvalidArgument(f"{path}: cannot read a point ({str(exc)[:200]}).") from None
    if not isinstance(obj, dict):
        raise InvalidArgument(f"{path}: a JSON point file must hold an object.")
    embedded = obj.get("problem")
    if "points" in obj:
        pts = obj["points"]
        if not isinstance(pts, list) or not pts:
            raise InvalidArgument(f"{path}: 'points' must be a non-empty list.")
        if not 0 <= index < len(pts):
            raise InvalidArgument(f"`--index` must be in [0, {len(pts) - 1}]; got --index={index}.")
        entry = pts[index]
    elif "point" in obj and isinstance(obj["point"], dict):
        entry = obj["point"]
    elif isinstance(obj.get("center"), dict) and isinstance(obj.get("problem"), dict):
        # a certificate: its exact centre, rounded to the nearest binary64 point
        from fractions import Fraction

        from landscape.certificates.format import decode_center

        pj = obj["problem"]
        try:
            Z, N = decode_center(obj["center"], (int(pj["T"]), int(pj["d"]), int(pj["k"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgument(f"{path}: malformed certificate centre ({exc}).") from None
        return np.array([float(Fraction(int(z), N)) for z in Z.ravel()]).reshape(Z.shape), embedded
    else:
        entry = obj
    if not isinstance(entry, dict) or not ({"U", "U_hex"} & set(entry)):
        raise InvalidArgument(f"{path}: no 'U' found in the point file.")
    try:
        U = np.array(_parse_numbers(entry["U_hex"] if "U_hex" in entry else entry["U"]), dtype=np.float64)
    except (ValueError, OverflowError, RecursionError, TypeError) as exc:
        raise InvalidArgument(f"{path}: malformed 'U' ({str(exc)[:200]}).") from None
    return U, embedded


def run(args) -> int:
    import numpy as np

    from landscape import Problem
    from landscape.errors import InvalidArgument

    try:
        from landscape.certificates import certify
    except ImportError as exc:  # pragma: no cover - flint missing
        raise InvalidArgument(f"certificates need python-flint (metalora[flint]): {exc}") from None
    from landscape.runs import check_output_file

    if args.out:
        check_output_file(args.out, arg="--out")
    U, embedded = load_point(args.point, args.index)
    if U.dtype.kind not in "fiu" or U.dtype == bool:
        raise InvalidArgument(f"{args.point}: the point must be a real array; got dtype {U.dtype}.")
    problem = problem_from_args(args)
    if problem is None:
        if embedded is None:
            raise InvalidArgument(
                "give `--problem FILE` (or --d/--k/--T), or a point file that embeds its problem."
            )
        problem = Problem.from_json(embedded)
    if U.ndim == 1 and U.size == problem.T * problem.d * problem.k:
        U = U.reshape(problem.T, problem.d, problem.k)
    if U.shape != (problem.T, problem.d, problem.k):
        raise InvalidArgument(
            f"the point must have shape (T, d, k)=({problem.T}, {problem.d}, {problem.k}); "
            f"got shape {U.shape}."
        )
    U = np.asarray(U, dtype=np.float64)
    if not np.all(np.isfinite(U)):
        raise InvalidArgument(f"{args.point}: the point has non-finite entries.")
    res = certify(problem, U, kind=args.kind, radius=args.radius, gauge=args.gauge, precision=args.precision,
                  max_center_bits=args.max_center_bits)
    if res.issued and args.out:
        res.save(args.out)
    if args.json:
        out = res.to_json(timing=True)
        if args.out:
            out = {k: v for k, v in out.items() if k != "certificate"} | {"certificate_file": args.out}
        json.dump(out, sys.stdout, indent=1)
        print()
    elif res.issued:
        print(f"certificate issued: {res.kind}")
        print(f"  {res.reason}")
        for line in res.certificate["statement"]:
            print(f"  - {line}")
        print(f"  ({res.seconds:.2f} s{', written to ' + args.out if args.out else ''})")
    else:
        print(f"no certificate: {res.reason}")
    return res.exit_code
