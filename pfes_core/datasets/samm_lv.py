"""SAMM Long Videos (SAMM-LV): the published folder layout and its annotation workbook.

Layout (as public spotting code reads it, e.g. the SOFTNet-style ``load_excel`` loaders and the
MEGC 2023 spotting entries such as `qin123xyz/MEGC2023_macro-and-micro-expression-spotting`)::

    ROOT/SAMM_LongVideos_V1_Release.xlsx     (V2, V3 ... as released)
    ROOT/SAMM_longvideos/006_1/006_1_0001.jpg ...   one folder per recording, 200 fps images

Workbook: a few title rows, then a header row ``Subject, Filename, Inducement Code, Onset, Apex,
Offset, Duration, Type, Action Units, Notes``; the columns are found by these names wherever the
header row is. ``Filename`` is ``<subject>_<recording>_<expression>`` (``006_1_3``), so the
video is its first two parts. ``Type`` is ``Macro`` or ``Micro - 1/2``; frame numbers are the
image numbers; Apex -1 means not annotated. The recordings are 200 fps; like the reference work
the import analyses every 7th frame by default (``--step``).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import PfesError
from ..sheets import cell_int, cell_text, read_sheet
from ..types import parse_class
from .common import ImportSummary, MediaEntry, RawEvent, subject_filter

FPS = 200.0
DEFAULT_STEP = 7
MEDIA_CHOICES = ("auto", "frames")
COLUMNS = ["Subject", "Filename", "Onset", "Apex", "Offset", "Type"]


def find_workbook(root: Path) -> Path:
    found = sorted(p for p in root.glob("*.xls*") if re.match(r"samm_longvideos.*\.xlsx?$", p.name.lower()))
    if not found:
        raise PfesError(f"{root}: no SAMM_LongVideos_*.xlsx annotation workbook in this folder")
    return found[-1]  # the newest release when several are present


def _frames_dir(root: Path) -> Path:
    for p in sorted(root.iterdir()):
        if p.is_dir() and p.name.lower() == "samm_longvideos":
            return p
    raise PfesError(f"{root}: no SAMM_longvideos/ folder (the SAMM-LV layout)")


def scan(root: Path, summary: ImportSummary, subjects=None, media: str = "auto"
         ) -> tuple[list[MediaEntry], list[RawEvent]]:
    root = Path(root)
    if media not in MEDIA_CHOICES:
        raise PfesError(f"unknown media {media!r} for SAMM-LV (it ships image folders only)")
    sheet = read_sheet(find_workbook(root), 0)
    header_at, cols = sheet.find_header(COLUMNS)
    frames_dir = _frames_dir(root)
    keep = subject_filter(subjects)

    entries: dict[str, MediaEntry] = {}
    for d in sorted(p for p in frames_dir.iterdir() if p.is_dir()):
        m = re.fullmatch(r"(\d+)_(\d+)", d.name)
        if m and keep(m.group(1)):
            entries[d.name] = MediaEntry(d.name, m.group(1), d, FPS)

    def col(cells, name):
        i = cols[name.lower()]
        return cells[i] if i < len(cells) else None

    events: list[RawEvent] = []
    for row, cells in sheet.rows[header_at + 1:]:
        filename = cell_text(col(cells, "Filename"))
        m = re.fullmatch(r"(\d+)_(\d+)(?:_\d+)?", filename)
        if not m:
            raise sheet.error(row, f"Filename {filename!r} is not <subject>_<recording>_<number>")
        try:
            cls = parse_class(cell_text(col(cells, "Type")))
        except PfesError as exc:
            raise sheet.error(row, str(exc)) from None
        onset = cell_int(sheet, row, col(cells, "Onset"), "Onset")
        apex = cell_int(sheet, row, col(cells, "Apex"), "Apex", allow_blank=True)
        offset = cell_int(sheet, row, col(cells, "Offset"), "Offset", allow_blank=True)
        video_id = f"{m.group(1)}_{m.group(2)}"
        if not keep(m.group(1)):
            summary.rows_other_subjects += 1
            continue
        if video_id not in entries:
            summary.rows_without_media += 1
            continue
        events.append(RawEvent(video_id, cls, onset, apex, offset, sheet.where(row)))
    return list(entries.values()), events
