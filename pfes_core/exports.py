"""Write spotted intervals to files other tools read; every format carries provenance and frames.

Provenance is a flat dict: at least ``run_id``, ``label_snapshot`` (hash of the frozen labels the
model was trained on) and ``app_version`` (filled in from `pfes_core.__version__` when missing);
anything else given (preset, project, created time) is kept too. Frame indices are the project's
frame indices (after any subsampling step), onset and offset inclusive.

Formats:

- ``csv``: leading ``# key: value`` comment lines (provenance; dict/list values as JSON), then a
  header ``video,class,onset,apex,offset,score`` and one row per interval (empty score when
  unscored). Tools that skip ``#`` comments (pandas ``comment="#"``) read it directly;
  `read_intervals` reads it back.
- ``json``: ``{"format": "pfes-intervals", "version": 1, "provenance": {...}, "intervals":
  [{"video", "class", "onset", "apex", "offset", "score"}, ...]}``.
- ``megc``: the MEGC spotting-challenge submission style: provenance comment lines, a header
  ``video,onset,offset,class`` and one interval per line, class written ``mae`` / ``me`` as the
  challenge sheets do. Frame indices, no apex or score.
- ``eaf``: ELAN 3.0 XML, one file per video (ELAN links one media file per document). With one
  video the file is ``path``; with several, ``path`` names a stem and each video goes to
  ``<stem>.<video-id>.eaf`` beside it. Time slots are milliseconds from frames and the video's
  fps: onset at ``round(1000 * onset / fps)``, offset at the *end* of the inclusive offset frame,
  ``round(1000 * (offset + 1) / fps)``. One tier per class ("MaE", "ME"); intervals of one class
  that overlap in time go to extra tiers ("MaE 2", ...) because ELAN forbids overlaps on a tier.
  Each annotation's value holds the frames and score (``MaE apex=123 frames=100-140
  score=0.731``) so nothing is lost; provenance goes in header PROPERTY elements ``pfes:<key>``.
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .errors import PfesError
from .types import CLASSES, Interval, parse_class

FORMATS = ("csv", "json", "eaf", "megc")
CSV_COLUMNS = ["video", "class", "onset", "apex", "offset", "score"]
MEGC_COLUMNS = ["video", "onset", "offset", "class"]


def make_provenance(run_id: str = "", label_snapshot: str = "", **extra) -> dict:
    """Provenance dict with the three required keys first and `app_version` filled in."""
    out = {"run_id": str(run_id), "label_snapshot": str(label_snapshot), "app_version": __version__}
    out.update(extra)
    return out


def _complete(provenance: dict | None) -> dict:
    prov = dict(provenance or {})
    prov.setdefault("run_id", "")
    prov.setdefault("label_snapshot", "")
    prov.setdefault("app_version", __version__)
    return prov


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temp file + rename so an interrupted export never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _sorted(intervals) -> list[Interval]:
    return sorted(intervals, key=lambda iv: (iv.video, iv.onset, iv.offset, iv.cls))


def _comment_lines(prov: dict) -> str:
    lines = []
    for key, value in prov.items():
        key = str(key).replace(":", "_").replace("\n", " ")
        text = json.dumps(value) if isinstance(value, (dict, list, tuple)) else str(value)
        lines.append(f"# {key}: {text.replace(chr(10), ' ')}\n")
    return "".join(lines)


def _fmt_score(score) -> str:
    return "" if score is None else repr(float(score))


def _write_table(path: Path, provenance: dict, columns, rows) -> None:
    """A CSV-style table after '# key: value' provenance lines, written atomically."""
    buf = io.StringIO()
    buf.write(_comment_lines(provenance))
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    _atomic_write(path, buf.getvalue())


def write_intervals(path, intervals, fmt: str = "csv", provenance: dict | None = None,
                    fps: float | dict | None = None) -> list[Path]:
    """Write ``intervals`` as ``fmt``; returns the files written (several only for multi-video EAF).

    ``fps``: a number or ``{video: fps}``; required for ``eaf`` only.
    """
    fmt = str(fmt).lower()
    if fmt not in FORMATS:
        raise PfesError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    path = Path(path)
    prov = _complete(provenance)
    items = _sorted(intervals)
    if fmt == "csv":
        _write_table(path, prov, CSV_COLUMNS,
                     ([iv.video, iv.cls, iv.onset, iv.apex, iv.offset, _fmt_score(iv.score)] for iv in items))
        return [path]
    if fmt == "megc":
        _write_table(path, prov, MEGC_COLUMNS,
                     ([iv.video, iv.onset, iv.offset, iv.cls.lower()] for iv in items))
        return [path]
    if fmt == "json":
        doc = {"format": "pfes-intervals", "version": 1, "provenance": prov,
               "intervals": [{"video": iv.video, "class": iv.cls, "onset": iv.onset,
                              "apex": iv.apex, "offset": iv.offset, "score": iv.score}
                             for iv in items]}
        _atomic_write(path, json.dumps(doc, indent=1) + "\n")
        return [path]
    return _write_eaf(path, items, prov, fps)


# ----------------------------------------------------------------------------- readers


def _parse_comment_value(text: str):
    text = text.strip()
    if text[:1] in "{[":
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _read_commented_csv(path: Path) -> tuple[dict, list[dict], int]:
    prov: dict = {}
    with open(path, encoding="utf-8", newline="") as fh:
        lines = fh.readlines()
    body_start = 0
    for i, line in enumerate(lines):
        if not line.startswith("#"):
            body_start = i
            break
        key, _, value = line[1:].partition(":")
        prov[key.strip()] = _parse_comment_value(value)
    else:
        body_start = len(lines)
    reader = csv.DictReader(lines[body_start:])
    return prov, list(reader), body_start


def _int(row: dict, key: str, path: Path, line: int) -> int:
    try:
        return int(row[key])
    except (KeyError, TypeError, ValueError):
        raise PfesError(f"{path}: line {line}: bad or missing {key!r}") from None


def read_intervals(path, fmt: str | None = None) -> tuple[list[Interval], dict]:
    """Read a ``csv``, ``json`` or ``megc`` export back: (intervals, provenance).

    ``fmt`` defaults from the suffix (.json -> json, else csv; a csv whose header has no apex
    column is read as megc). MEGC rows get ``apex = (onset + offset) // 2`` and no score.
    """
    path = Path(path)
    fmt = (fmt or ("json" if path.suffix.lower() == ".json" else "csv")).lower()
    if fmt == "json":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            rows = doc["intervals"]
            out = [Interval(str(r["video"]), parse_class(r["class"]), int(r["onset"]),
                            int(r["apex"]), int(r["offset"]),
                            None if r.get("score") is None else float(r["score"])) for r in rows]
        except (ValueError, KeyError, TypeError) as exc:
            raise PfesError(f"{path}: not a P-FES intervals JSON file ({exc})") from None
        return out, dict(doc.get("provenance", {}))
    if fmt not in ("csv", "megc"):
        raise PfesError(f"cannot read format {fmt!r}")
    prov, rows, skip = _read_commented_csv(path)
    out = []
    for n, row in enumerate(rows, start=skip + 2):
        cls = parse_class(row.get("class", ""))
        onset = _int(row, "onset", path, n)
        offset = _int(row, "offset", path, n)
        if row.get("apex") not in (None, ""):
            apex = _int(row, "apex", path, n)
        else:
            apex = (onset + offset) // 2
        score = row.get("score")
        out.append(Interval(row.get("video", ""), cls, onset, apex, offset,
                            float(score) if score not in (None, "") else None))
    return out, prov


# ----------------------------------------------------------------------------- ELAN


def _safe_name(video: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", video) or "video"


def _fps_for(fps, video: str) -> float:
    value = fps.get(video) if isinstance(fps, dict) else fps
    if value is None or float(value) <= 0:
        raise PfesError(f"EAF export needs the frame rate of video {video!r}")
    return float(value)


def _lanes(intervals: list[Interval]) -> list[list[Interval]]:
    """Greedy first-fit of time-sorted intervals into non-overlapping lanes."""
    lanes: list[list[Interval]] = []
    for iv in sorted(intervals, key=lambda x: (x.onset, x.offset)):
        for lane in lanes:
            if lane[-1].offset < iv.onset:
                lane.append(iv)
                break
        else:
            lanes.append([iv])
    return lanes


def eaf_document(video: str, intervals: list[Interval], fps: float, provenance: dict,
                 media_url: str | None = None) -> ET.ElementTree:
    """One video's ELAN 3.0 document (see the module docstring for the time mapping)."""
    root = ET.Element("ANNOTATION_DOCUMENT", {
        "AUTHOR": "P-FES Studio",
        "DATE": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "FORMAT": "3.0", "VERSION": "3.0",
        "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
        "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd",
    })
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    if media_url:
        mime = mimetypes.guess_type(media_url)[0] or "video/*"
        ET.SubElement(header, "MEDIA_DESCRIPTOR", {"MEDIA_URL": media_url, "MIME_TYPE": mime})
    for key, value in {**provenance, "video": video, "fps": fps}.items():
        prop = ET.SubElement(header, "PROPERTY", {"NAME": f"pfes:{key}"})
        prop.text = json.dumps(value) if isinstance(value, (dict, list, tuple)) else str(value)

    slots: list[tuple[int, str]] = []
    tiers: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    ann_n = 0
    for cls in CLASSES:
        lanes = _lanes([iv for iv in intervals if iv.cls == cls]) or [[]]
        for k, lane in enumerate(lanes):
            anns = []
            for iv in lane:
                t1 = int(round(1000.0 * iv.onset / fps))
                t2 = int(round(1000.0 * (iv.offset + 1) / fps))
                s1, s2 = f"ts{len(slots) + 1}", f"ts{len(slots) + 2}"
                slots += [(t1, s1), (t2, s2)]
                ann_n += 1
                score = "" if iv.score is None else f" score={iv.score:.3f}"
                anns.append((f"a{ann_n}", s1, s2,
                             f"{iv.cls} apex={iv.apex} frames={iv.onset}-{iv.offset}{score}"))
            tiers.append((cls if k == 0 else f"{cls} {k + 1}", anns))
    order = ET.SubElement(root, "TIME_ORDER")
    for value, sid in sorted(slots, key=lambda s: (s[0], int(s[1][2:]))):
        ET.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": sid, "TIME_VALUE": str(value)})
    for tier_id, anns in tiers:
        tier = ET.SubElement(root, "TIER", {"LINGUISTIC_TYPE_REF": "pfes-interval",
                                            "TIER_ID": tier_id})
        for aid, s1, s2, text in anns:
            ann = ET.SubElement(tier, "ANNOTATION")
            al = ET.SubElement(ann, "ALIGNABLE_ANNOTATION", {"ANNOTATION_ID": aid,
                                                             "TIME_SLOT_REF1": s1,
                                                             "TIME_SLOT_REF2": s2})
            ET.SubElement(al, "ANNOTATION_VALUE").text = text
    ET.SubElement(root, "LINGUISTIC_TYPE", {"GRAPHIC_REFERENCES": "false",
                                            "LINGUISTIC_TYPE_ID": "pfes-interval",
                                            "TIME_ALIGNABLE": "true"})
    ET.indent(root)
    return ET.ElementTree(root)


def _write_eaf(path: Path, items: list[Interval], prov: dict, fps) -> list[Path]:
    videos = list(dict.fromkeys(iv.video for iv in items))
    if not videos:
        videos = list(fps) if isinstance(fps, dict) and fps else [str(prov.get("video", ""))]
    written = []
    media = prov.get("media") if isinstance(prov.get("media"), dict) else {}
    for video in videos:
        target = path if len(videos) == 1 else path.with_name(
            f"{path.stem}.{_safe_name(video)}{path.suffix or '.eaf'}")
        doc = eaf_document(video, [iv for iv in items if iv.video == video], _fps_for(fps, video),
                           {k: v for k, v in prov.items() if k != "media"}, media.get(video))
        buf = io.BytesIO()
        doc.write(buf, encoding="UTF-8", xml_declaration=True)
        _atomic_write(target, buf.getvalue().decode("utf-8"))
        written.append(target)
    return written


__all__ = ["FORMATS", "make_provenance", "write_intervals", "read_intervals", "eaf_document"]
