"""The ``metalora`` command line: a small dispatcher that imports each subcommand lazily.

Each subcommand lives in ``metalora/commands/<name>.py`` and defines
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code). ``metalora --help``
imports none of them, so it is instant and torch costs nothing until used.

Exit codes (:class:`landscape.runs.ExitCode`; scripts rely on them):

- 0 holds / issued / valid / done;
- 1 a negative verdict (a claim fails, a certificate is refused or invalid);
- 2 usage or input error: one line on stderr naming the argument or file;
- 3 undecided / assumption not met (the reason is printed);
- 4 internal error: one line saying so and where the traceback was written
  (``--debug`` prints it instead); never 1;
- 130 interrupted (Ctrl-C).

A top-level guard maps every unexpected exception to 4, so a crash is never mistaken
for a negative verdict.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from . import __version__

#: name -> (module, one-line summary). Order is the order of ``--help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "verify": ("metalora.commands.verify", "check every claim of the paper on default instances"),
    "check": ("metalora.commands.check", "check one claim on your own problem file"),
    "search": ("metalora.commands.search", "find and classify critical points (SOSPs, saddles, spurious minima)"),
    "atlas": ("metalora.commands.atlas", "frequency of spurious minima over a grid of (d, k, T)"),
    "certify": ("metalora.commands.certify",
                "prove a point is a (spurious/global) local minimum, a strict saddle, or has no local minimum nearby"),
    "census": ("metalora.commands.census", "every critical point of an instance by homotopy continuation, certified"),
    "census-atlas": ("metalora.commands.census_atlas", "exact spurious-minimum fraction and search recall over random instances"),
    "check-certificate": ("metalora.commands.check_certificate", "re-check a certificate file from its data alone"),
    "figure1": ("metalora.commands.figure1", "finite-sample linear experiments (paper Figure 1) and the O(kd/n) rate"),
    "shallow": ("metalora.commands.shallow", "shallow nonlinear networks (paper v2): SR vs Meta-LoRA, population test loss"),
    "convai2": ("metalora.commands.convai2", "ConvAI2 persona tasks: Meta-LoRA vs standard retraining (torch)"),
    "vision": ("metalora.commands.vision", "image class-pair tasks with an MLP-Mixer: Meta-LoRA vs SR (torch)"),
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
        "Exit codes: 0 holds/issued/valid/done, 1 negative verdict, 2 usage or input error, "
        "3 undecided or assumption not met, 4 internal error.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="on an internal error, print the full traceback"
    )
    parser.add_argument("--version", action="version", version=f"metalora {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, (module, summary) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        if name == command:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv  # accepted anywhere on the line
    argv = [a for a in argv if a != "--debug"]
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        command = None
    try:
        return _dispatch(argv, command)
    except KeyboardInterrupt:
        print("metalora: interrupted (finished work was saved)", file=sys.stderr)
        return 130
    except BaseException as exc:  # the guard: never a traceback, never exit code 1
        return _internal_error(exc, command, debug)


def _dispatch(argv: list[str], command: str | None) -> int:
    from landscape.errors import InvalidArgument, Undecided
    from landscape.runs import ExitCode

    prog = f"metalora {command}" if command else "metalora"
    try:
        args = build_parser(command).parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return ExitCode.USAGE
        code = importlib.import_module(COMMANDS[args.command][0]).run(args)
        return int(ExitCode.OK if code is None else code)
    except UsageError as exc:
        print(_one_line(str(exc)), file=sys.stderr)
        return ExitCode.USAGE
    except InvalidArgument as exc:
        print(f"{prog}: error: {_one_line(str(exc))}", file=sys.stderr)
        return ExitCode.USAGE
    except Undecided as exc:
        print(f"{prog}: undecided: {_one_line(str(exc))}", file=sys.stderr)
        return ExitCode.UNDECIDED
    except SystemExit as exc:  # argparse --help/--version, or a library calling exit()
        code = exc.code
        if code is None or code == 0:
            return ExitCode.OK
        if isinstance(code, int) and code in (2, 3):
            return code
        raise
    except BrokenPipeError:  # `metalora ... | head`: not an error of ours
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")
        return ExitCode.OK
    except MemoryError:
        print(f"{prog}: error: out of memory; use smaller sizes.", file=sys.stderr)
        return ExitCode.USAGE


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _internal_error(exc: BaseException, command: str | None, debug: bool) -> int:
    """Exit code 4: one line naming the error and where the traceback went."""
    import datetime
    import tempfile
    import traceback

    from landscape.runs import ExitCode

    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    prog = f"metalora {command}" if command else "metalora"
    if debug:
        sys.stderr.write(tb)
        print(f"{prog}: internal error ({type(exc).__name__}); please report it.", file=sys.stderr)
        return ExitCode.INTERNAL
    where = "not written"
    with contextlib.suppress(Exception):
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        fd, path = tempfile.mkstemp(prefix=f"metalora-traceback-{stamp}-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            fh.write(f"metalora {' '.join(sys.argv[1:])}\n\n{tb}")
        where = path
    print(
        f"{prog}: internal error ({type(exc).__name__}: {_one_line(str(exc))[:200]}); "
        f"traceback written to {where} (rerun with --debug to print it); please report it.",
        file=sys.stderr,
    )
    return ExitCode.INTERNAL


def comma_choices(choices):
    """An argparse ``type`` for comma-separated names out of ``choices`` (e.g. ``--panel d,T``)."""

    def parse(text: str) -> list[str]:
        names = [p.strip() for p in text.split(",") if p.strip()]
        bad = [p for p in names if p not in choices]
        if bad or not names:
            raise argparse.ArgumentTypeError(
                f"invalid panel {','.join(bad) or repr(text)} (choose from {', '.join(choices)}; "
                "several may be given comma-separated)"
            )
        return names

    return parse


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
