"""One module per ``metalora`` subcommand; each defines ``add_arguments(parser)`` and ``run(args) -> int``."""
