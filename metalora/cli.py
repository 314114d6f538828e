"""The ``metalora`` command line: a small dispatcher that imports each subcommand lazily.

Each subcommand lives in ``metalora/commands/<name>.py`` and defines
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code). ``metalora --help``
imports none of them, so it is instant and torch costs nothing until used.

Exit codes: 0 success; 1 a check/claim/certificate did not hold (per command); 2 a usage
error (one line on stderr, no traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

#: name -> (module, one-line summary). Order is the order of ``--help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "verify": ("metalora.commands.verify", "check every claim of the paper on default instances"),
    "check": ("metalora.commands.check", "check one claim on your own problem file"),
    "search": ("metalora.commands.search", "find and classify critical points (SOSPs, saddles, spurious minima)"),
    "atlas": ("metalora.commands.atlas", "frequency of spurious minima over a grid of (d, k, T)"),
    "certify": ("metalora.commands.certify", "prove a point is a (spurious) local minimum or a strict saddle"),
    "check-certificate": ("metalora.commands.check_certificate", "re-check a certificate file from its data alone"),
    "figure1": ("metalora.commands.figure1", "finite-sample linear experiments (paper Figure 1) and the O(kd/n) rate"),
    "convai2": ("metalora.commands.convai2", "ConvAI2 persona tasks: Meta-LoRA vs standard retraining (torch)"),
}


class UsageError(Exception):
    """Raised by :class:`Parser` instead of printing usage and exiting."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become one line and exit code 2 (see :func:`main`)."""

    def error(self, message):  # noqa: D401 - argparse API
        raise UsageError(f"{self.prog}: error: {message}")


def build_parser(command: str | None = None) -> Parser:
    parser = Parser(
        prog="metalora",
        description="Theory verification, landscape analysis and certificates for Meta-LoRA.",
        epilog="Run 'metalora COMMAND --help' for a command's options. "
        "Exit codes: 0 ok, 1 a check did not hold, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"metalora {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, (module, summary) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        if name == command:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    from landscape.errors import InvalidArgument

    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        command = None
    try:
        args = build_parser(command).parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return 2
        return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except InvalidArgument as exc:
        print(f"metalora {command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("metalora: interrupted (finished work was saved)", file=sys.stderr)
        return 130


def problem_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add the shared ``--problem FILE | --d D --k K --T T --seed S`` options."""
    g = parser.add_argument_group("problem (a file, or sizes to draw one)")
    g.add_argument("--problem", metavar="FILE", help="problem file written by Problem.save (.json/.npz)")
    g.add_argument("--d", type=int, help="dimension d")
    g.add_argument("--k", type=int, help="adapter rank k")
    g.add_argument("--T", type=int, help="number of retraining tasks T")
    g.add_argument("--seed", type=int, default=0, help="seed for drawing the problem (default 0)")
    parser.set_defaults(_problem_required=required)


def problem_from_args(args):
    """The :class:`landscape.Problem` named by :func:`problem_arguments`'s options."""
    from landscape import Problem
    from landscape.errors import InvalidArgument

    sizes = (args.d, args.k, args.T)
    if args.problem is not None:
        if any(s is not None for s in sizes):
            raise InvalidArgument("give either `--problem` or `--d/--k/--T`, not both.")
        return Problem.load(args.problem)
    if any(s is None for s in sizes):
        if not getattr(args, "_problem_required", True) and all(s is None for s in sizes):
            return None
        raise InvalidArgument("give `--problem FILE` or all of `--d`, `--k`, `--T`.")
    return Problem.random(args.d, args.k, args.T, seed=args.seed)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
