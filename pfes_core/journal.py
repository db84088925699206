"""Write-ahead journal of edits since the last save: `journal.jsonl`, one JSON object per line.

Every edit is appended and flushed to the operating system before the call that made it
returns, so a crash of the process (kill, segfault, frozen GUI killed) loses nothing that was
acknowledged. fdatasync per edit was measured (benchmarks/RESULTS.md): ~0.3 ms on an idle disk,
but ~4 ms median (p95 ~12 ms) on this shared machine under I/O load, beyond the 1 ms budget per
edit; so by default the journal is only flushed per edit and fdatasync'ed on save/close, which
leaves a power cut able to lose the last few seconds (kernel writeback). ``durable=True`` syncs
every edit for setups that prefer that.

The first line is a header naming the save generation of project.h5 the edits apply to. After
a save, the journal is rewritten with the new generation; a journal whose generation does not
match project.h5 (a crash between replacing project.h5 and clearing the journal) holds edits
that are already saved and is ignored. A torn last line (crash mid-write) is dropped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

JOURNAL_NAME = "journal.jsonl"

_sync = getattr(os, "fdatasync", os.fsync)


def read_journal(path: str | os.PathLike) -> tuple[dict | None, list[dict], int, int]:
    """Parse a journal: (header, records, bytes of valid content, undecodable lines skipped).

    A last line without its newline is a torn write and is not counted as valid content.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None, [], 0, 0
    header: dict | None = None
    records: list[dict] = []
    skipped = 0
    good_end = 0
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            break  # torn tail
        line = data[pos:nl]
        pos = nl + 1
        good_end = pos
        if not line.strip():
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            skipped += 1
            continue
        if not isinstance(obj, dict):
            skipped += 1
            continue
        if obj.get("op") == "header" and header is None and not records:
            header = obj
        else:
            records.append(obj)
    return header, records, good_end, skipped


class Journal:
    """Append-only writer for one project's journal."""

    def __init__(self, path: str | os.PathLike, durable: bool = False):
        self.path = Path(path)
        self.durable = durable
        self._fh = None
        self.count = 0  # records written since the header

    def open_existing(self, valid_bytes: int, count: int) -> None:
        """Continue an existing journal, cutting a torn tail so new lines start clean."""
        self._fh = open(self.path, "r+b")
        self._fh.truncate(valid_bytes)
        self._fh.seek(valid_bytes)
        self.count = count
        self._sync()

    def reset(self, generation: int) -> None:
        """Start a fresh journal for save generation `generation` (atomically replaces the old one)."""
        self.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(json.dumps({"op": "header", "generation": generation}).encode("utf-8") + b"\n")
            fh.flush()
            _sync(fh.fileno())
        os.replace(tmp, self.path)
        self._fh = open(self.path, "ab")
        self.count = 0

    def append(self, record: dict) -> None:
        """Write one record and hand it to the OS (fsync too when durable) before returning."""
        if self._fh is None:
            raise RuntimeError("journal is not open")
        self._fh.write(json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n")
        self._sync()
        self.count += 1

    def _sync(self) -> None:
        self._fh.flush()
        if self.durable:
            _sync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.flush()
                _sync(self._fh.fileno())
                self._fh.close()
            finally:
                self._fh = None
