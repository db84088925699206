"""Appending a dated section to benchmarks/RESULTS.md, shared by the review benchmarks.

Why: every section states its machine, date and command the same way, so figures of different
runs can be told apart and compared."""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine_line(software: str = "") -> str:
    """'- machine: ...' for a section; `software` adds e.g. ', torch 2.13.0, 1 torch thread'."""
    return (f"- machine: {platform.machine()}, {platform.system()} {platform.release()}, python "
            f"{platform.python_version()}{software}, 2 CPU cores shared with other work\n")


def append_section(title: str, body: str) -> None:
    """Append '## title (date UTC)' and `body` (the machine line, commands, table) to RESULTS.md."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with open(RESULTS, "a", encoding="utf-8") as fh:
        fh.write(f"\n## {title} ({stamp})\n\n{body}")


def record(title: str, script: str, argv, details: str, table: str) -> None:
    """Append a section: the machine line, the command that ran `script` with `argv` (None: this
    process's arguments), one line of `details` and the table."""
    args = sys.argv[1:] if argv is None else argv
    command = f"python benchmarks/{script} " + " ".join(args)
    append_section(title, machine_line() + f"- command: `{command.strip()}`\n- {details}\n\n{table}\n")
