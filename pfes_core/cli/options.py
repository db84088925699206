"""Option spellings shared by several commands: an old flag kept working with a deprecation note."""

from __future__ import annotations

import argparse
import sys


class _DeprecatedAlias(argparse.Action):
    """Stores like the new option and says once, on stderr, which spelling to use instead."""

    def __init__(self, option_strings, dest, replacement: str = "", **kwargs):
        self.replacement = replacement
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"note: {option_string} is deprecated for `{parser.prog}`; use {self.replacement}",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_deprecated_alias(parser: argparse.ArgumentParser, old: str, new: str, dest: str,
                         choices=None) -> None:
    """Accept ``old`` as a hidden spelling of the option ``new`` (same ``dest`` and choices)."""
    parser.add_argument(old, dest=dest, action=_DeprecatedAlias, replacement=new,
                        choices=choices, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
