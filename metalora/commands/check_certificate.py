"""``metalora check-certificate CERT.json``: re-check a certificate from its data alone.

Exit codes: 0 valid, 1 invalid (the first problem found is printed), 2 usage error
(e.g. the file does not exist or is not JSON).
"""

from __future__ import annotations

import argparse
import json
import sys

EPILOG = """\
Two kernels re-derive every printed bound from the file's data (problem, exact centre,
radius and proposals): the independent checker (arb balls, its own Hessian, gradient,
eigenvalue and variation bounds) and the prover's exact kernel. A certificate is valid
only if both accept it: every printed bound is implied by their own computation, every
inequality of the proof holds, the claim and statement are the rendering of the bounds,
the problem's sha256 and the digest match. Editing any digested field (everything except
"versions" and "timings", which are informational) makes it invalid.

exit status: 0 valid, 1 invalid, 2 usage error.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("certificate", metavar="CERT.json",
                        help="certificate written by `metalora certify --out`")
    parser.add_argument("--kernel", choices=("both", "independent", "prover"), default="both",
                        help="which kernel(s) must accept the certificate (default both)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    from landscape.errors import InvalidArgument

    try:
        from landscape.certificates import check_certificate
    except ImportError as exc:  # pragma: no cover - flint missing
        raise InvalidArgument(f"certificates need python-flint (metalora[flint]): {exc}") from None
    kernels = ("independent", "prover") if args.kernel == "both" else (args.kernel,)
    res = check_certificate(args.certificate, kernels=kernels)
    if args.json:
        json.dump(res.to_json(timing=True), sys.stdout, indent=1)
        print()
    else:
        head = "VALID " if res.valid else "INVALID "
        print(head + f"{args.certificate}: {res.reason} ({res.seconds:.2f} s)")
    return res.exit_code
