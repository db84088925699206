"""CAS(ME)^2: the published folder layout and its annotation workbook.

Layout (as the dataset ships and as public spotting code reads it, e.g. the MEGC spotting
baseline `jingtingEmmaLi/MEGC_spotting` and the SOFTNet/MTSN-style loaders that expect
``CAS(ME)^2code_final.xlsx``, ``rawvideo/``, ``rawpic/``, ``cropped/``, ``selectedpic/``)::

    ROOT/CAS(ME)^2code_final.xlsx        (or "CAS(ME)^2code_final(Updated).xlsx")
    ROOT/rawpic/s15/15_0101disgustingteeth/img1.jpg ...   frames, 30 fps
    ROOT/rawvideo/s15/15_0101disgustingteeth.avi           the same recordings as video files
    ROOT/cropped/s15/15_0101disgustingteeth/img1.jpg ...   face crops

Workbook: sheet ``CASMEcode_final`` (no header) holds one expression per row: participant number,
expression name with a running number (``disgust1_1``), onset, apex, offset (1-based frame
numbers; offset 0 = not coded), AUs, estimated emotion, type (``macro-expression`` /
``micro-expression``), self-reported emotion. Sheet ``naming rule1`` maps the folder number
(column 1, e.g. 15 for ``s15``) to the participant number of the code sheet (column 3);
``naming rule2`` maps the four-digit video code of the folder names (column 1, ``0101``) to the
expression name (column 2, ``disgust1``). Sheets are found by name, else by position.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import PfesError
from ..sheets import Sheet, cell_int, cell_text, read_sheet, sheet_names
from ..types import parse_class
from .common import MediaEntry, RawEvent, ImportSummary, subject_filter

FPS = 30.0
DEFAULT_STEP = 1
MEDIA_CHOICES = ("auto", "frames", "video", "cropped")
_VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv")


def find_workbook(root: Path) -> Path:
    found = sorted(p for p in root.glob("*.xls*") if p.name.lower().startswith("cas(me)^2code_final"))
    if not found:
        raise PfesError(f"{root}: no CAS(ME)^2code_final*.xlsx annotation workbook in this folder")
    return found[0]


def _sheet(path: Path, names: list[str], wanted: str, position: int) -> Sheet:
    lowered = [n.strip().lower() for n in names]
    if wanted.lower() in lowered:
        return read_sheet(path, names[lowered.index(wanted.lower())])
    if position < len(names):
        return read_sheet(path, position)
    raise PfesError(f"{path}: no sheet {wanted!r} (sheets: {', '.join(names)})")


def _subject_numbers(sheet: Sheet) -> dict[int, int]:
    """participant number of the code sheet -> folder number (naming rule1)."""
    out: dict[int, int] = {}
    for k, (row, cells) in enumerate(sheet.rows):
        if len(cells) < 3:
            raise sheet.error(row, "expected folder number, name and participant number in columns 1-3")
        if k == 0 and not cell_text(cells[0]).isdigit():
            continue  # a header row
        out[cell_int(sheet, row, cells[2], "participant number")] = cell_int(sheet, row, cells[0], "folder number")
    return out


def _video_codes(sheet: Sheet) -> dict[str, str]:
    """expression name (lower case) -> four-digit video code (naming rule2)."""
    out: dict[str, str] = {}
    for k, (row, cells) in enumerate(sheet.rows):
        if len(cells) < 2:
            raise sheet.error(row, "expected video code and expression name in columns 1-2")
        code = cell_text(cells[0])
        if not code.isdigit():
            if k == 0:
                continue
            raise sheet.error(row, f"video code {code!r} is not a number")
        out[cell_text(cells[1]).lower()] = code.zfill(4)
    return out


def _media_dir(root: Path, media: str) -> tuple[Path, bool]:
    """(folder of subject folders, frames?) for the --media choice."""
    options = {"frames": ("rawpic", True), "video": ("rawvideo", False), "cropped": ("cropped", True)}
    if media == "auto":
        for key in ("frames", "video"):
            sub, is_frames = options[key]
            if (root / sub).is_dir():
                return root / sub, is_frames
        raise PfesError(f"{root}: neither rawpic/ nor rawvideo/ found (the CAS(ME)^2 layout)")
    if media not in options:
        raise PfesError(f"unknown media {media!r} for CAS(ME)^2 (expected {', '.join(MEDIA_CHOICES)})")
    sub, is_frames = options[media]
    if not (root / sub).is_dir():
        raise PfesError(f"{root}: no {sub}/ folder")
    return root / sub, is_frames


def scan(root: Path, summary: ImportSummary, subjects=None, media: str = "auto"
         ) -> tuple[list[MediaEntry], list[RawEvent]]:
    root = Path(root)
    book = find_workbook(root)
    names = sheet_names(book)
    code = _sheet(book, names, "CASMEcode_final", 0)
    rule1 = _subject_numbers(_sheet(book, names, "naming rule1", 1))
    rule2 = _video_codes(_sheet(book, names, "naming rule2", 2))
    folder, is_frames = _media_dir(root, media)
    keep = subject_filter(subjects)

    entries: dict[tuple[int, str], MediaEntry] = {}
    for subject_dir in sorted(p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"s\d+", p.name.lower())):
        if not keep(subject_dir.name):
            continue
        number = int(subject_dir.name[1:])
        for item in sorted(subject_dir.iterdir()):
            if item.name.startswith("."):
                continue
            if is_frames != item.is_dir() or (not is_frames and item.suffix.lower() not in _VIDEO_SUFFIXES):
                continue
            m = re.match(r"(\d+)_(\d{4})", item.name)
            if not m:
                continue
            video_id = item.name if is_frames else item.stem
            entries[(number, m.group(2))] = MediaEntry(video_id, subject_dir.name, item, FPS if is_frames else None)

    events: list[RawEvent] = []
    for k, (row, cells) in enumerate(code.rows):
        if k == 0 and not cell_text(cells[0]).isdigit():
            continue  # a header row
        if len(cells) < 8:
            raise code.error(row, f"expected at least 8 columns (participant, expression, onset, apex, "
                                  f"offset, AUs, emotion, type), found {len(cells)}")
        participant = cell_int(code, row, cells[0], "participant number")
        if participant not in rule1:
            raise code.error(row, f"participant {participant} is not in sheet 'naming rule1'")
        number = rule1[participant]
        expression = re.sub(r"_\d+$", "", cell_text(cells[1])).lower()
        if expression not in rule2:
            raise code.error(row, f"expression name {cell_text(cells[1])!r} is not in sheet 'naming rule2'")
        try:
            cls = parse_class(cell_text(cells[7]))
        except PfesError as exc:
            raise code.error(row, str(exc)) from None
        onset = cell_int(code, row, cells[2], "onset")
        apex = cell_int(code, row, cells[3], "apex", allow_blank=True)
        offset = cell_int(code, row, cells[4], "offset", allow_blank=True)
        if not keep(f"s{number}"):
            summary.rows_other_subjects += 1
            continue
        entry = entries.get((number, rule2[expression]))
        if entry is None:
            summary.rows_without_media += 1
            continue
        events.append(RawEvent(entry.video_id, cls, onset, apex, offset, code.where(row)))
    return list(entries.values()), events
