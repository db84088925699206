"""Point-label and reference-interval files: CSV and JSON in, CSV and JSON out.

Points CSV: header ``video,frame,class`` (``cls`` also accepted) plus optional ``annotator``,
``time_s`` (frame / fps, informational, ignored on read), ``created`` and ``modified`` (Unix
seconds; written so CSV round-trips exactly). Class words go through the one class-word table
(`pfes_core.types.CLASS_WORDS`: MaE, macro, macro-expression, Micro - 1/2, ...). A column the
file has is kept as written (an empty annotator stays empty, a creation time 0 stays 0); only a
missing column (or an empty time cell) takes the caller's default.
Points JSON: ``{"format": "pfes-points", "version": 1, "labels": [{video, frame, class, ...}]}``
or a bare list of such objects.

Interval tables: ``video,class|cls,onset,apex,offset[,score]``; any other column (subject, au,
point, ...) is ignored, so tables in this shape (such as ``resources/timing/``) load as they are.
An apex that is empty or outside [onset, offset] (SAMM-LV writes 0 or -1 for "unknown") becomes
the midpoint. The datasets' own workbooks are read by `pfes_core.datasets`; ELAN, BORIS and
spreadsheets in other columns by `pfes_core.annotation_formats`.

Readers validate everything before returning (given ``n_frames``, also that every frame lies
inside its video), so a malformed file raises LabelError naming the file and line and nothing
reaches the project.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Iterable

from . import atomic
from .errors import LabelError
from .types import Interval, PointLabel, parse_class

_INT = re.compile(r"^\s*[+-]?\d+\s*$")
POINT_FORMAT = "pfes-points"


def _err(path: Path, line: int | str | None, message: str) -> LabelError:
    """A one-line LabelError: cells quoted from the file may hold line breaks; they are shown escaped."""
    where = f"{path}" if line is None else f"{path}, line {line}"
    text = f"{where}: {message}".replace("\r", "\\r").replace("\n", "\\n")
    return LabelError(text)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LabelError(f"{path}: file not found") from None
    except OSError as exc:
        raise LabelError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _err(path, line, "not UTF-8 text") from None


def _is_json(path: Path) -> bool:
    return path.suffix.lower() == ".json"


def _parse_json(path: Path, text: str):
    try:
        return json.loads(text)
    except RecursionError:
        raise _err(path, None, "invalid JSON (nested too deeply)") from None
    except ValueError as exc:
        raise _err(path, getattr(exc, "lineno", None), f"invalid JSON ({getattr(exc, 'msg', exc)})") from None


def _parse_int(value, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is not a whole number")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and _INT.match(value):
        n = int(value)
    else:
        raise ValueError(f"{what} {value!r} is not a whole number")
    if n < 0:
        raise ValueError(f"{what} {n} is negative")
    if n > 2**62:
        raise ValueError(f"{what} {n} is too large")
    return n


def _parse_time(value, what: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0.0
    if isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is not a number")
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(t):
        raise ValueError(f"{what} {value!r} is not a finite number")
    return t


def _parse_video(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("video id is empty")
    return value.strip()


def _csv_rows(path: Path, text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(lower-cased header, [(line number, fields)]) with blank lines skipped."""
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    try:
        for fields in reader:
            if not fields or all(not f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip().lower() for f in fields]
                header_line = reader.line_num
                continue
            rows.append((reader.line_num, fields))
    except csv.Error as exc:
        raise _err(path, reader.line_num, f"malformed CSV ({exc})") from None
    if header is None:
        raise _err(path, None, "empty file (expected a header line)")
    if len(set(header)) != len(header):
        raise _err(path, header_line, "duplicate column names in the header")
    return header, rows


def _class_column(path: Path, header: list[str]) -> str:
    for name in ("class", "cls"):
        if name in header:
            return name
    raise _err(path, 1, f"missing column 'class' (or 'cls'); header is {','.join(header)}")


def _row_dict(path: Path, header: list[str], line: int, fields: list[str]) -> dict[str, str]:
    if len(fields) != len(header):
        raise _err(path, line, f"expected {len(header)} fields, found {len(fields)}")
    return dict(zip(header, fields))


# ---- points -----------------------------------------------------------------------------------
def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _point(row: dict, cls_key: str, default_annotator: str, now: float) -> PointLabel:
    video = _parse_video(row.get("video"))
    frame = _parse_int(row.get("frame"), "frame")
    cls = parse_class(row.get(cls_key, "")) if isinstance(row.get(cls_key), str) else None
    if cls is None:
        raise ValueError(f"class {row.get(cls_key)!r} is not a class name")
    annotator = row["annotator"] if "annotator" in row else default_annotator
    if annotator is None:
        annotator = ""
    if not isinstance(annotator, str):
        raise ValueError(f"annotator {annotator!r} is not text")
    created = now if _blank(row.get("created")) else _parse_time(row.get("created"), "created")
    modified = created if _blank(row.get("modified")) else _parse_time(row.get("modified"), "modified")
    return PointLabel(video, frame, cls, annotator.strip(), created, modified)


def check_frame(where: str, video: str, frame: int, n_frames: dict[str, int] | None) -> None:
    """LabelError naming `where` when `frame` lies outside its video (videos not in `n_frames` pass)."""
    if n_frames is not None and video in n_frames and not 0 <= frame < n_frames[video]:
        raise LabelError(f"{where}: frame {frame} is outside video {video!r} "
                         f"({n_frames[video]} frames: 0..{n_frames[video] - 1})")


def read_points(path: str | os.PathLike, *, default_annotator: str = "", now: float = 0.0,
                n_frames: dict[str, int] | None = None) -> list[PointLabel]:
    """Point labels from a CSV or JSON file (by extension), in file order; LabelError on any problem.

    `default_annotator` / `now` fill the annotator and the creation time only where the file has
    no such column (or the time cell is empty). `n_frames` ({video: frame count}) makes a frame
    outside its video an error naming the line; videos not in it are not checked."""
    path = Path(path)
    text = _read_text(path)
    items: list[tuple[int | str, dict]] = []
    if _is_json(path):
        data = _parse_json(path, text)
        if isinstance(data, dict):
            if data.get("format", POINT_FORMAT) != POINT_FORMAT:
                raise _err(path, None, f"not a point-label file (format {data.get('format')!r})")
            data = data.get("labels")
        if not isinstance(data, list):
            raise _err(path, None, "expected a list of labels (or {\"labels\": [...]})")
        for i, obj in enumerate(data):
            if not isinstance(obj, dict):
                raise LabelError(f"{path}, label #{i + 1}: expected an object with video, frame, class")
            if "class" not in obj and "cls" not in obj:
                raise LabelError(f"{path}, label #{i + 1}: missing 'class'")
            items.append((f"#{i + 1}", obj))
        cls_key_of = lambda obj: "class" if "class" in obj else "cls"  # noqa: E731
    else:
        header, rows = _csv_rows(path, text)
        for col in ("video", "frame"):
            if col not in header:
                raise _err(path, 1, f"missing column {col!r}; header is {','.join(header)}")
        key = _class_column(path, header)
        for line, fields in rows:
            items.append((line, _row_dict(path, header, line, fields)))
        cls_key_of = lambda obj: key  # noqa: E731

    out: list[PointLabel] = []
    seen: dict[tuple[str, int, str], int | str] = {}
    for line, obj in items:
        where = f"{path}, line {line}" if isinstance(line, int) else f"{path}, label {line}"
        try:
            label = _point(obj, cls_key_of(obj), default_annotator, now)
        except (ValueError, LabelError) as exc:
            raise LabelError(f"{where}: {exc}") from None
        check_frame(where, label.video, label.frame, n_frames)
        k = (label.video, label.frame, label.cls)
        if k in seen:
            raise LabelError(f"{where}: duplicate {label.cls} label at frame {label.frame} of "
                             f"{label.video!r} (also at {seen[k]}; one label per class per frame)")
        seen[k] = line
        out.append(label)
    return out


def write_points(path: str | os.PathLike, labels: Iterable[PointLabel],
                 fps: dict[str, float] | None = None, overwrite: bool = True) -> Path:
    """Write labels as CSV or JSON (by extension), atomically. `fps` per video fills ``time_s``.
    ``overwrite=False``: FileExistsError when `path` exists."""
    path = Path(path)
    labels = list(labels)
    fps = fps or {}

    def time_s(lb: PointLabel):
        rate = fps.get(lb.video)
        return round(lb.frame / rate, 6) if rate else None

    if _is_json(path):
        doc = {"format": POINT_FORMAT, "version": 1, "labels": [
            {"video": lb.video, "frame": lb.frame, "class": lb.cls, "annotator": lb.annotator,
             "time_s": time_s(lb), "created": lb.created, "modified": lb.modified} for lb in labels]}
        text = json.dumps(doc, indent=1) + "\n"
    else:
        with io.StringIO() as fh:
            w = csv.writer(fh)
            w.writerow(["video", "frame", "class", "annotator", "time_s", "created", "modified"])
            for lb in labels:
                t = time_s(lb)
                w.writerow([lb.video, lb.frame, lb.cls, lb.annotator, "" if t is None else t,
                            repr(lb.created), repr(lb.modified)])
            text = fh.getvalue()
    atomic.write_text(path, text, overwrite)
    return path


# ---- intervals ----------------------------------------------------------------------------------
def _interval(row: dict, cls_key: str) -> Interval:
    video = _parse_video(row.get("video"))
    raw_cls = row.get(cls_key)
    if not isinstance(raw_cls, str):
        raise ValueError(f"class {raw_cls!r} is not a class name")
    cls = parse_class(raw_cls)
    onset = _parse_int(row.get("onset"), "onset")
    offset = _parse_int(row.get("offset"), "offset")
    if offset < onset:
        raise ValueError(f"offset {offset} is before onset {onset}")
    apex_raw = row.get("apex")
    if apex_raw is None or (isinstance(apex_raw, str) and not apex_raw.strip()):
        apex = (onset + offset) // 2
    else:
        apex = _parse_int(apex_raw, "apex")
        if not onset <= apex <= offset:
            apex = (onset + offset) // 2
    score_raw = row.get("score")
    score = None
    if score_raw is not None and not (isinstance(score_raw, str) and not score_raw.strip()):
        score = _parse_time(score_raw, "score")
    return Interval(video, cls, onset, apex, offset, score)


def read_intervals(path: str | os.PathLike, *, n_frames: dict[str, int] | None = None) -> list[Interval]:
    """Reference intervals from a CSV table (or a JSON list of objects); LabelError on any problem.
    `n_frames` ({video: frame count}) makes an interval past its video's end an error naming the line."""
    path = Path(path)
    text = _read_text(path)
    items: list[tuple[str, dict, str]] = []
    if _is_json(path):
        data = _parse_json(path, text)
        if isinstance(data, dict):
            data = data.get("intervals")
        if not isinstance(data, list):
            raise _err(path, None, "expected a list of intervals (or {\"intervals\": [...]})")
        for i, obj in enumerate(data):
            where = f"{path}, interval #{i + 1}"
            if not isinstance(obj, dict):
                raise LabelError(f"{where}: expected an object with video, class, onset, apex, offset")
            key = "class" if "class" in obj else "cls"
            items.append((where, obj, key))
    else:
        header, rows = _csv_rows(path, text)
        for col in ("video", "onset", "offset"):
            if col not in header:
                raise _err(path, 1, f"missing column {col!r}; header is {','.join(header)}")
        key = _class_column(path, header)
        for line, fields in rows:
            items.append((f"{path}, line {line}", _row_dict(path, header, line, fields), key))
    out = []
    for where, obj, key in items:
        try:
            iv = _interval(obj, key)
        except (ValueError, LabelError) as exc:
            raise LabelError(f"{where}: {exc}") from None
        check_frame(where, iv.video, iv.offset, n_frames)
        out.append(iv)
    return out
