"""CAS(ME)^3 part A: the published folder layout and its annotation workbook.

Layout (as public code that reads part A expects it, e.g. the CAS(ME)^3 extraction scripts that
take ``--excel .../CAS(ME)3_part_A_v2.xls`` and ``--casme3_original .../part_A/`` and read
``<Subject>/<Filename>/color/<frame>.jpg``)::

    ROOT/annotation/CAS(ME)3_part_A_v2.xls            (.xlsx accepted too; any folder below ROOT)
    ROOT/data/part_A/spNO.1/a/color/1.jpg ...          colour frames, 30 fps ("depth/" is ignored)

Workbook: a header row ``Subject, Filename, Onset, Apex, Offset, AU, Expression type, ...``
(columns found by name); ``Subject`` is the folder name (``spNO.1``), ``Filename`` the recording
letter (some are written in upper case, the folders are lower case), ``Expression type`` is
``Macro-expression`` or ``Micro-expression``. Frame numbers are the image numbers; some
recordings have dropped frames (missing numbers), which the import maps to the next image.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import PfesError
from ..sheets import cell_int, cell_text, read_sheet
from ..types import parse_class
from .common import ImportSummary, MediaEntry, RawEvent, subject_filter

FPS = 30.0
DEFAULT_STEP = 1
MEDIA_CHOICES = ("auto", "frames")
COLUMNS = ["Subject", "Filename", "Onset", "Apex", "Offset", "Expression type"]


def find_workbook(root: Path) -> Path:
    found = sorted(p for p in root.rglob("*.xls*")
                   if re.match(r"cas\(me\)\^?3_part_a_v\d*\.xlsx?$", p.name.lower()))
    if not found:
        raise PfesError(f"{root}: no CAS(ME)3_part_A_v*.xls annotation workbook below this folder")
    return found[-1]


def _subjects_dir(root: Path) -> Path:
    for candidate in (root / "data" / "part_A", root / "part_A", root / "data", root):
        if candidate.is_dir() and any(p.is_dir() and p.name.lower().startswith("spno.") for p in candidate.iterdir()):
            return candidate
    raise PfesError(f"{root}: no spNO.* subject folders in data/part_A/, part_A/ or here (the CAS(ME)^3 layout)")


def scan(root: Path, summary: ImportSummary, subjects=None, media: str = "auto"
         ) -> tuple[list[MediaEntry], list[RawEvent]]:
    root = Path(root)
    if media not in MEDIA_CHOICES:
        raise PfesError(f"unknown media {media!r} for CAS(ME)^3 (the importer reads the colour frames)")
    sheet = read_sheet(find_workbook(root), 0)
    header_at, cols = sheet.find_header(COLUMNS)
    base = _subjects_dir(root)
    keep = subject_filter(subjects)

    entries: dict[tuple[str, str], MediaEntry] = {}
    for subject_dir in sorted(p for p in base.iterdir() if p.is_dir() and p.name.lower().startswith("spno.")):
        if not keep(subject_dir.name):
            continue
        for rec in sorted(p for p in subject_dir.iterdir() if p.is_dir()):
            frames = rec / "color"
            if frames.is_dir():
                entries[(subject_dir.name.lower(), rec.name.lower())] = MediaEntry(
                    f"{subject_dir.name}_{rec.name}", subject_dir.name, frames, FPS)

    def col(cells, name):
        i = cols[name.lower()]
        return cells[i] if i < len(cells) else None

    events: list[RawEvent] = []
    for row, cells in sheet.rows[header_at + 1:]:
        subject = cell_text(col(cells, "Subject"))
        recording = cell_text(col(cells, "Filename"))
        if not subject or not recording:
            raise sheet.error(row, "Subject or Filename is empty")
        try:
            cls = parse_class(cell_text(col(cells, "Expression type")))
        except PfesError as exc:
            raise sheet.error(row, str(exc)) from None
        onset = cell_int(sheet, row, col(cells, "Onset"), "Onset")
        apex = cell_int(sheet, row, col(cells, "Apex"), "Apex", allow_blank=True)
        offset = cell_int(sheet, row, col(cells, "Offset"), "Offset", allow_blank=True)
        if not keep(subject):
            summary.rows_other_subjects += 1
            continue
        entry = entries.get((subject.lower(), recording.lower()))
        if entry is None:
            summary.rows_without_media += 1
            continue
        events.append(RawEvent(entry.video_id, cls, onset, apex, offset, sheet.where(row)))
    return list(entries.values()), events
