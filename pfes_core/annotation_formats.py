"""Annotation files a lab already has -> point labels or reference intervals of a project.

- **ELAN** ``.eaf`` (read with pympi-ling): annotations of the chosen tiers (``tiers``; by default
  every tier, except apex tiers and, when importing points, except non-point tiers if tiers named
  ``... points`` exist; when importing intervals the ``... points`` tiers are left out). Times are
  milliseconds (plus the media descriptor's TIME_ORIGIN) and become frames through the video's
  real timestamps (the pts index of a video file; frame / fps for image folders). An interval runs
  from the frame showing at its start to the frame showing just before its end; an apex tier
  (name containing "apex", e.g. ``MaE apex`` as P-FES writes it) gives the apex, else the
  midpoint is used. Imported as point labels, an annotation gives the frame showing at its middle.
- **BORIS** exports: the "aggregated events" table (``Behavior type`` POINT/STATE, ``Start (s)``,
  ``Stop (s)``) and the "tabular events" table (``Time`` and a POINT/START/STOP ``Behavior type``
  or ``Status`` column), as CSV, TSV or XLSX. Point events become point labels; state events become
  intervals (or, imported as points, the frame at their middle). Behaviours map to MaE/ME through
  ``mapping`` (``--map``), else through the class-word table.
- **Tables** (``.xlsx``, ``.xls``, ``.tsv``, ``.csv``) in any columns: ``columns`` maps
  ``video``, ``class`` and ``frame`` (points) or ``onset``, ``apex``, ``offset`` (intervals) to
  the table's column names; ``first_frame`` says how the table numbers frames (0 or 1).

Class words: ``mapping`` first (``{"smile": "MaE", "blink": "-"}``; ``-`` ignores the word),
then `pfes_core.types.CLASS_WORDS`. For ELAN the annotation value, its first word, the tier name
and the tier name's first word are tried in that order. Every result carries where it came from
(file, tier and time, or file, sheet and row), so a later check can name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import LabelError, PfesError
from .sheets import Sheet, cell_int, cell_text, read_sheet
from .types import CLASS_WORDS, Interval, PointLabel, class_key

FORMATS = ("auto", "csv", "json", "eaf", "boris", "table")
SKIP = "-"


@dataclass
class Imported:
    """What a file gave: located point labels or intervals, and what was passed over."""

    format: str
    points: list[tuple[str, PointLabel]] = field(default_factory=list)
    intervals: list[tuple[str, Interval]] = field(default_factory=list)
    ignored: int = 0          # annotations whose word maps to '-' or (auto tiers) to nothing


def parse_mapping(items) -> dict[str, str]:
    """'smile=MaE,twitch=ME,blink=-' (or a list of such) -> {class_key(word): 'MaE'|'ME'|'-'}."""
    out: dict[str, str] = {}
    for item in items or []:
        for part in str(item).split(","):
            if not part.strip():
                continue
            word, sep, target = part.rpartition("=")
            if not sep or not word.strip():
                raise LabelError(f"--map entry {part.strip()!r} is not WORD=CLASS (CLASS is MaE, ME or -)")
            target = target.strip()
            if target != SKIP:
                target = CLASS_WORDS.get(class_key(target), "")
                if not target:
                    raise LabelError(f"--map entry {part.strip()!r}: the class must be MaE, ME or -")
            out[class_key(word)] = target
    return out


def parse_columns(items) -> dict[str, str]:
    """'video=Filename,frame=Apex,class=Type' -> {'video': 'filename', ...} (names lower-cased)."""
    known = ("video", "class", "frame", "onset", "apex", "offset", "annotator")
    out: dict[str, str] = {}
    for item in items or []:
        for part in str(item).split(","):
            if not part.strip():
                continue
            key, sep, name = part.partition("=")
            key = key.strip().lower()
            if not sep or key not in known or not name.strip():
                raise LabelError(f"--columns entry {part.strip()!r} is not FIELD=COLUMN "
                                 f"(FIELD one of {', '.join(known)})")
            out[key] = name.strip().lower()
    return out


def classify(words: list[str], mapping: dict[str, str]) -> str | None:
    """MaE/ME/'-' for the first word the mapping or the class table knows; None if none does."""
    for table in (mapping, CLASS_WORDS):
        for w in words:
            if w and class_key(w) in table:
                return table[class_key(w)]
    return None


def _candidates(value: str, tier: str = "") -> list[str]:
    value, tier = (value or "").strip(), (tier or "").strip()
    out = [value, value.split()[0] if value.split() else ""]
    if tier:
        out += [tier, tier.split()[0]]
    return out


# ---- time -> frame --------------------------------------------------------------------------------
class Timeline:
    """Frame timestamps of a project's videos (opened once each), for time -> frame."""

    def __init__(self, project):
        self.project = project
        self._ts: dict[str, np.ndarray] = {}

    def timestamps(self, video: str) -> np.ndarray:
        if video not in self._ts:
            from .video import open_video

            record = self.project.videos[video]
            path = Path(self.project.video_path(video))
            reader = open_video(path, step=int(record.step or 1), fps=record.fps if path.is_dir() else None)
            try:
                self._ts[video] = np.asarray(reader.timestamps, dtype=np.float64)
            finally:
                reader.close()
        return self._ts[video]

    def frame_at(self, video: str, seconds: float) -> int:
        """The frame showing at `seconds` (the last frame whose timestamp is <= it)."""
        ts = self.timestamps(video)
        return int(max(np.searchsorted(ts, seconds + 1e-6, side="right") - 1, 0))


def find_video(project, name: str, where: str) -> str:
    """The project video a media path or id names: by id, file name, or name without suffix."""
    name = str(name or "").strip()
    if name in project.videos:
        return name
    base = re.split(r"[\\/]", name)[-1]
    if ":" in base and not Path(name).exists():      # BORIS 'player #1:/path/video.mp4'
        base = base.rsplit(":", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    for candidate in (base, stem):
        if candidate in project.videos:
            return candidate
    for vid, rec in project.videos.items():
        if Path(rec.path).name in (base, stem):
            return vid
    raise LabelError(f"{where}: media {name!r} is not a video of the project (give --video ID)")


# ---- ELAN ------------------------------------------------------------------------------------------
def eaf_tiers(path) -> list[str]:
    """Tier names of an ELAN file (for choosing tiers in the GUI)."""
    return list(_open_eaf(Path(path)).get_tier_names())


def _open_eaf(path: Path):
    import pympi

    if not path.is_file():
        raise LabelError(f"{path}: file not found")
    try:
        return pympi.Elan.Eaf(str(path))
    except Exception as exc:  # pympi raises ParseError, KeyError, ... on damaged files
        raise LabelError(f"{path}: not a readable ELAN file ({type(exc).__name__}: {exc})") from None


def _eaf_video(eaf, path: Path, project, video: str | None) -> tuple[str, float]:
    """(video id, media time origin in s): --video, else the first linked media the project has."""
    if video:
        if video not in project.videos:
            raise LabelError(f"unknown video {video!r}")
        return video, 0.0
    media = eaf.media_descriptors or []
    if not media:
        raise LabelError(f"{path}: the file links no media; give --video ID")
    for desc in media:
        for key in ("RELATIVE_MEDIA_URL", "MEDIA_URL"):
            url = re.sub(r"^file:(//)?", "", str(desc.get(key) or ""))
            if not url:
                continue
            try:
                found = find_video(project, url, str(path))
            except LabelError:
                continue
            return found, float(desc.get("TIME_ORIGIN") or 0) / 1000.0
    urls = ", ".join(str(d.get("MEDIA_URL")) for d in media)
    raise LabelError(f"{path}: linked media {urls} is not a video of the project; give --video ID")


def read_eaf(path, project, timeline: Timeline, *, intervals: bool, tiers=None, mapping=None,
             video: str | None = None, apex_tier: str | None = None) -> Imported:
    path = Path(path)
    eaf = _open_eaf(path)
    mapping = mapping or {}
    names = list(eaf.get_tier_names())
    video, origin = _eaf_video(eaf, path, project, video)
    if tiers:
        missing = [t for t in tiers if t not in names]
        if missing:
            raise LabelError(f"{path}: no tier {missing[0]!r} (tiers: {', '.join(names)})")
        chosen = list(tiers)
    else:
        chosen = [t for t in names if "apex" not in t.lower() and t != apex_tier]
        point_tiers = [t for t in chosen if t.lower().endswith("points")]
        if intervals and len(point_tiers) < len(chosen):
            chosen = [t for t in chosen if t not in point_tiers]
        elif not intervals and point_tiers:
            chosen = point_tiers
    apex_tiers = [apex_tier] if apex_tier else [t for t in names if "apex" in t.lower() and t not in chosen]
    apexes = sorted(((s + e) / 2000.0 + origin) for t in apex_tiers if t in names
                    for s, e, *_ in eaf.get_annotation_data_for_tier(t))
    out = Imported("eaf")
    for tier in chosen:
        annotator = str(eaf.tiers[tier][2].get("ANNOTATOR") or "")
        for start, end, value, *_ in eaf.get_annotation_data_for_tier(tier):
            where = f"{path}, tier {tier!r}, {start / 1000:.3f} s"
            cls = classify(_candidates(str(value), tier), mapping)
            if cls is None:
                if tiers:
                    raise LabelError(f"{where}: {str(value)!r} is not MaE or ME (map it with --map WORD=MaE)")
                out.ignored += 1
                continue
            if cls == SKIP:
                out.ignored += 1
                continue
            t0, t1 = start / 1000.0 + origin, end / 1000.0 + origin
            if intervals:
                on = timeline.frame_at(video, t0)
                off = max(on, timeline.frame_at(video, max(t0, t1 - 1e-4)))
                inside = [a for a in apexes if t0 <= a <= t1]
                apex = timeline.frame_at(video, inside[0]) if inside else (on + off) // 2
                out.intervals.append((where, Interval(video, cls, on, min(max(apex, on), off), off)))
            else:
                frame = timeline.frame_at(video, (t0 + t1) / 2)
                out.points.append((where, PointLabel(video, frame, cls, annotator)))
    return out


# ---- BORIS -----------------------------------------------------------------------------------------
def _col(names: dict[str, int], *options: str) -> int | None:
    for o in options:
        if o in names:
            return names[o]
    return None


def is_boris(sheet: Sheet) -> bool:
    for _row, cells in sheet.rows[:40]:
        names = {str(c).strip().lower() for c in cells if c is not None}
        if "behavior" in names and ({"start (s)", "time"} & names):
            return True
    return False


def read_boris(path, project, timeline: Timeline, *, intervals: bool, mapping=None,
               video: str | None = None, sheet: str | None = None) -> Imported:
    table = read_sheet(path, sheet)
    if not is_boris(table):
        raise table.error(None, "not a BORIS export (no header row with 'Behavior' and 'Start (s)' or 'Time')")
    for k, (_row, cells) in enumerate(table.rows):
        names = {str(c).strip().lower(): i for i, c in enumerate(cells) if c is not None}
        if "behavior" in names and ({"start (s)", "time"} & names.keys()):
            header_at = k
            break
    mapping = mapping or {}
    c_beh = names["behavior"]
    c_type = _col(names, "behavior type", "status")
    c_start, c_stop, c_time = _col(names, "start (s)"), _col(names, "stop (s)"), _col(names, "time")
    c_media = _col(names, "media file name", "media file path", "media file", "media file(s)", "source")
    if c_type is None:
        raise table.error(table.rows[header_at][0], "no 'Behavior type' (or 'Status') column")
    if video is None and c_media is None:
        raise table.error(table.rows[header_at][0], "no media column; give --video ID")
    out = Imported("boris")
    open_states: dict[tuple, tuple[str, float]] = {}

    def cell(cells, i):
        return cells[i] if i is not None and i < len(cells) else None

    def seconds(row, cells, i, what):
        try:
            return float(cell_text(cell(cells, i)))
        except ValueError:
            raise table.error(row, f"{what} {cell_text(cell(cells, i))!r} is not a number of seconds") from None

    def add(where, vid, cls, t0, t1):
        if intervals:
            on = timeline.frame_at(vid, t0)
            off = max(on, timeline.frame_at(vid, max(t0, t1 - 1e-4)))
            out.intervals.append((where, Interval(vid, cls, on, (on + off) // 2, off)))
        else:
            out.points.append((where, PointLabel(vid, timeline.frame_at(vid, (t0 + t1) / 2), cls)))

    for row, cells in table.rows[header_at + 1:]:
        where = table.where(row)
        behaviour = cell_text(cell(cells, c_beh))
        cls = classify([behaviour], mapping)
        if cls is None:
            raise table.error(row, f"behaviour {behaviour!r} is not MaE or ME (map it with --map "
                                   f"\"{behaviour}=MaE\", or \"{behaviour}=-\" to leave it out)")
        if cls == SKIP:
            out.ignored += 1
            continue
        vid = video or find_video(project, cell_text(cell(cells, c_media)), where)
        kind = cell_text(cell(cells, c_type)).upper()
        if c_start is not None:
            t0 = seconds(row, cells, c_start, "Start (s)")
            if kind == "POINT":
                if intervals:
                    out.ignored += 1
                else:
                    out.points.append((where, PointLabel(vid, timeline.frame_at(vid, t0), cls)))
            elif kind == "STATE":
                add(where, vid, cls, t0, seconds(row, cells, c_stop, "Stop (s)"))
            else:
                raise table.error(row, f"behaviour type {kind!r} is not POINT or STATE")
        else:
            t = seconds(row, cells, c_time, "Time")
            key = (vid, behaviour)
            if kind == "POINT":
                if intervals:
                    out.ignored += 1
                else:
                    out.points.append((where, PointLabel(vid, timeline.frame_at(vid, t), cls)))
            elif kind == "START":
                open_states[key] = (where, t)
            elif kind == "STOP":
                if key not in open_states:
                    raise table.error(row, f"STOP of {behaviour!r} without a START")
                start_where, t0 = open_states.pop(key)
                add(start_where, vid, cls, t0, t)
            else:
                raise table.error(row, f"behaviour type {kind!r} is not POINT, START or STOP")
    if open_states:
        where, _t = next(iter(open_states.values()))
        raise LabelError(f"{where}: START without a STOP")
    return out


# ---- tables with a column mapping ------------------------------------------------------------------
def read_table(path, *, intervals: bool, columns: dict[str, str], mapping=None, sheet: str | None = None,
               first_frame: int = 0, video: str | None = None) -> Imported:
    need = ["class"] + (["onset", "offset"] if intervals else ["frame"]) + ([] if video else ["video"])
    missing = [f for f in need if f not in columns]
    if missing:
        raise LabelError(f"--columns must name {', '.join(missing)} (e.g. --columns "
                         f"\"{missing[0]}=<column name>\")")
    table = read_sheet(path, sheet)
    header_at, names = table.find_header([columns[f] for f in need])
    mapping = mapping or {}
    out = Imported("table")

    def get(cells, key):
        i = names.get(columns.get(key, ""), None)
        return cells[i] if i is not None and i < len(cells) else None

    def frame(row, cells, key, blank=False):
        n = cell_int(table, row, get(cells, key), key, allow_blank=blank)
        if n is None:
            return None
        n -= first_frame
        if n < 0:
            raise table.error(row, f"{key} {n + first_frame} is before the first frame ({first_frame})")
        return n

    for row, cells in table.rows[header_at + 1:]:
        where = table.where(row)
        word = cell_text(get(cells, "class"))
        cls = classify([word], mapping)
        if cls is None:
            raise table.error(row, f"class {word!r} is not MaE or ME (map it with --map \"{word}=MaE\")")
        if cls == SKIP:
            out.ignored += 1
            continue
        vid = video or cell_text(get(cells, "video"))
        if not vid:
            raise table.error(row, "video is empty")
        if intervals:
            on, off = frame(row, cells, "onset"), frame(row, cells, "offset")
            if off < on:
                raise table.error(row, f"offset {off + first_frame} is before onset {on + first_frame}")
            ap = frame(row, cells, "apex", blank=True) if "apex" in columns else None
            if ap is None or not on <= ap <= off:
                ap = (on + off) // 2
            out.intervals.append((where, Interval(vid, cls, on, ap, off)))
        else:
            annotator = cell_text(get(cells, "annotator")) if "annotator" in columns else ""
            out.points.append((where, PointLabel(vid, frame(row, cells, "frame"), cls, annotator)))
    return out


def detect_format(path, columns: dict | None = None) -> str:
    """auto -> eaf / json / table (with --columns) / boris / csv by suffix and content."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".eaf":
        return "eaf"
    if suffix == ".json":
        return "json"
    if columns:
        return "table"
    if suffix in (".xlsx", ".xlsm", ".xls", ".tsv", ".csv", ".txt"):
        try:
            if is_boris(read_sheet(path)):
                return "boris"
        except PfesError:
            pass
        if suffix in (".xlsx", ".xlsm", ".xls"):
            raise LabelError(f"{path}: a workbook; say which columns hold what with --columns "
                             f"\"video=...,frame=...,class=...\"")
    return "csv"


def read_annotations(path, project, fmt: str = "auto", *, intervals: bool = False, annotator: str = "",
                     now: float = 0.0, tiers=None, apex_tier: str | None = None, mapping=None,
                     columns=None, sheet: str | None = None, first_frame: int = 0,
                     video: str | None = None) -> Imported:
    """Read any supported annotation file into located points or intervals of `project`.

    The one entry point for `pfes labels import` and the GUI's import dialog, so both read a file
    the same way. `mapping`/`columns` are parsed dicts (see `parse_mapping`, `parse_columns`).
    Points without an annotator get `annotator` and the time `now`. Every frame is checked
    against its video (LabelError naming the file and row).
    """
    from .labelfiles import check_frame, read_intervals, read_points

    path = Path(path)
    columns = dict(columns or {})
    if fmt == "auto":
        fmt = detect_format(path, columns)
    if fmt not in FORMATS[1:]:
        raise LabelError(f"{path}: unknown format {fmt!r} (one of {', '.join(FORMATS[1:])})")
    n_frames = {v: r.n_frames for v, r in project.videos.items()}
    if fmt in ("csv", "json"):
        if intervals:
            items = read_intervals(path, n_frames=n_frames)
            return Imported(fmt, intervals=[(str(path), iv) for iv in items])
        points = read_points(path, default_annotator=annotator, now=now, n_frames=n_frames)
        return Imported(fmt, points=[(str(path), lb) for lb in points])
    if fmt == "eaf":
        result = read_eaf(path, project, Timeline(project), intervals=intervals, tiers=tiers,
                          mapping=mapping, video=video, apex_tier=apex_tier)
    elif fmt == "boris":
        result = read_boris(path, project, Timeline(project), intervals=intervals, mapping=mapping,
                            video=video, sheet=sheet)
    else:
        result = read_table(path, intervals=intervals, columns=columns, mapping=mapping, sheet=sheet,
                            first_frame=first_frame, video=video)
    result.format = fmt
    result.points = [(w, lb if lb.annotator else replace(lb, annotator=annotator, created=now, modified=now))
                     for w, lb in result.points]
    for where, lb in result.points:
        check_frame(where, lb.video, lb.frame, n_frames)
    for where, iv in result.intervals:
        check_frame(where, iv.video, iv.offset, n_frames)
    return result


__all__ = ["FORMATS", "Imported", "Timeline", "parse_mapping", "parse_columns", "classify",
           "read_eaf", "read_boris", "read_table", "detect_format", "eaf_tiers", "find_video",
           "read_annotations"]
