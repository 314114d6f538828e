"""``metalora check-certificate CERT.json``: re-check a certificate from its data alone.

Exit codes: 0 valid, 1 invalid (the first problem found is printed), 2 usage error
(e.g. the file does not exist or is not JSON).
"""

from __future__ import annotations

import argparse
import json
import sys

EPILOG = """\
The checker re-derives every bound from the problem data, the point (exact binary64),
the radius, gauge, precision and proposals stored in the file, with its own exact and
interval arithmetic, and accepts only if every stored bound is reproduced exactly,
every inequality of the proof holds and the digest matches. Any edited number makes
it fail.

exit status: 0 valid, 1 invalid, 2 usage error.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("certificate", metavar="CERT.json",
                        help="certificate written by `metalora certify --out`")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    from landscape.errors import InvalidArgument

    try:
        from landscape.certify import check_certificate
    except ImportError as exc:  # pragma: no cover - flint missing
        raise InvalidArgument(f"certificates need python-flint (metalora[flint]): {exc}") from None
    res = check_certificate(args.certificate)
    if args.json:
        json.dump(res.to_json(), sys.stdout, indent=1)
        print()
    else:
        head = "VALID " if res.valid else "INVALID "
        print(head + f"{args.certificate}: {res.reason} ({res.seconds:.2f} s)")
    return 0 if res.valid else 1
