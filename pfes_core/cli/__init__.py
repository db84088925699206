"""The headless command line, `pfes`. Each area registers its subcommands from its own module.

Every command prints a one-line ``error: ...`` and exits non-zero on bad input; a traceback is
only shown with ``PFES_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .. import __version__
from ..errors import PfesError

# Each area's commands live in its own module, which defines `register(subparsers)`.
COMMAND_MODULES = (
    "pfes_core.cli.project_cmds",
    "pfes_core.cli.extract_cmds",
    "pfes_core.cli.synth_cmds",
    "pfes_core.cli.model_cmds",
    "pfes_core.cli.eval_cmds",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pfes",
        description="P-FES Studio, headless: point-supervised facial expression spotting "
                    "(projects, labels, features, training, spotting, evaluation, export).",
    )
    parser.add_argument("--version", action="version", version=f"pfes {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except PfesError as exc:
        if os.environ.get("PFES_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
