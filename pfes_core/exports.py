"""Write spotted intervals (and point labels) to files the tools a lab already uses read as they are.

Every export carries provenance: a flat dict with at least ``run_id``, ``label_snapshot`` (hash
of the frozen labels the model was trained on) and ``app_version`` (filled in from
`pfes_core.__version__` when missing); anything else given (project, export time, review counts)
is kept too. Frame indices are the project's frame indices (after any subsampling step), onset
and offset inclusive.

Formats (`write_intervals`):

- ``csv``: the first line is the header ``video,subject,class,onset,apex,offset,score,review``
  (`CSV_COLUMNS`, described by `COLUMN_HELP`), one row per interval, so `pandas.read_csv` and
  `csv.DictReader` read it with no options. ``score`` is empty for an unscored interval;
  ``review`` is ``accepted``, ``adjusted`` (written with the reviewer's boundaries) or
  ``unreviewed``, empty when the caller gave no review state. Provenance goes to the JSON sidecar
  ``NAME.provenance.json`` beside ``NAME.csv`` (`provenance_path`).
- ``megc``: the MEGC spot-then-recognise table ``subject,video,onset,offset,type`` (type ``mae``
  or ``me``, lower case as the challenge sheets write it), header first, provenance in the same
  sidecar. No apex or score: the scorer matches onset/offset spans.
- ``json``: ``{"format": "pfes-intervals", "version": 1, "provenance": {...}, "intervals":
  [{"video", "subject", "class", "onset", "apex", "offset", "score", "review"}, ...]}``.
- ``eaf``: ELAN 3.0 XML, one file per video (ELAN links one media file per document). With one
  video the file is ``path``; with several, ``path`` names a stem and each video goes to
  ``<stem>.<video-id>.eaf`` beside it (`export_targets` lists them before writing). Time slots
  are milliseconds from frames and the video's fps: a frame ``f`` spans ``round(1000 f / fps)``
  to ``round(1000 (f + 1) / fps)``, so an interval runs from its onset frame's start to the end
  of its inclusive offset frame. Tiers:

  * ``MaE`` / ``ME``: the intervals; intervals of one class that overlap in time go to extra
    tiers (``MaE 2``, ...) because ELAN forbids overlaps on a tier. The value reads
    ``MaE apex=123 frames=100-140 score=0.731 review=accepted`` so nothing is lost.
  * ``MaE apex`` / ``MaE 2 apex`` / ...: the apex frame, a child tier of its interval tier
    (linguistic type ``pfes-apex``, stereotype Included_In), one annotation per interval.
  * ``MaE points`` / ``ME points`` (when point labels are given): the labels of the video,
    one annotation spanning each label's frame; the value is the class. The frame is
    ``floor(fps * midpoint / 1000)``. Files are made for the videos that have intervals.

  The header's MEDIA_DESCRIPTOR has the absolute ``MEDIA_URL`` and a ``RELATIVE_MEDIA_URL``
  from the EAF file's folder, so ELAN finds the video after the project and the export move
  together. Provenance goes in header PROPERTY elements ``pfes:<key>``.

Point labels go to EAF through `write_points_eaf` (``pfes labels export FILE.eaf``) with the same
point tiers; CSV/JSON point files are `pfes_core.labelfiles.write_points`.

Writing never creates folders and refuses a folder as the target; an existing file is replaced
only with ``overwrite=True`` (the CLI's ``--force``); every file is written by `pfes_core.atomic`
(all or nothing, mode from the user's umask).
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
import os
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import quote

from . import __version__, atomic
from .errors import PfesError
from .types import CLASSES, Interval, PointLabel, parse_class

FORMATS = ("csv", "json", "eaf", "megc")
SUFFIXES = {"csv": ".csv", "json": ".json", "eaf": ".eaf", "megc": ".csv"}
CSV_COLUMNS = ["video", "subject", "class", "onset", "apex", "offset", "score", "review"]
MEGC_COLUMNS = ["subject", "video", "onset", "offset", "type"]
REVIEW_STATUSES = ("accepted", "adjusted", "unreviewed")
COLUMN_HELP = {
    "video": "video id in the project",
    "subject": "subject id of the video (empty when the project has none)",
    "class": "MaE (macro-expression) or ME (micro-expression)",
    "type": "mae or me",
    "onset": "first frame of the interval (project frame index, inclusive)",
    "apex": "frame of peak intensity",
    "offset": "last frame of the interval (inclusive)",
    "score": "model confidence 0-1 (empty when unscored)",
    "review": "accepted, adjusted (reviewer's boundaries) or unreviewed",
}


class ExportError(PfesError):
    """An export cannot be written where it was asked to go."""


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


def columns(fmt: str) -> list[str]:
    """The header of a table format (``csv`` or ``megc``); [] for the others."""
    return {"csv": CSV_COLUMNS, "megc": MEGC_COLUMNS}.get(str(fmt).lower(), [])


def provenance_path(path) -> Path:
    """The JSON sidecar of a CSV/MEGC export: ``spots.csv`` -> ``spots.provenance.json``."""
    path = Path(path)
    return path.with_name(path.stem + ".provenance.json")


# ----------------------------------------------------------------------------- targets


def _check_format(fmt: str) -> str:
    fmt = str(fmt).lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    return fmt


def _eaf_files(path: Path, videos: list[str]) -> list[Path]:
    if len(videos) <= 1:
        return [path]
    return [path.with_name(f"{path.stem}.{_safe_name(v)}{path.suffix or '.eaf'}") for v in videos]


def export_targets(path, fmt: str, videos: Iterable[str] = ()) -> list[Path]:
    """Every file an export of ``fmt`` to ``path`` writes (``videos``: the videos it holds, for
    EAF); the GUI asks before overwriting any of them."""
    fmt = _check_format(fmt)
    path = Path(path)
    if fmt in ("csv", "megc"):
        return [path, provenance_path(path)]
    if fmt == "eaf":
        return _eaf_files(path, list(dict.fromkeys(videos)))
    return [path]


def check_targets(path, targets: list[Path], overwrite: bool) -> None:
    """Clear errors before anything is written: a folder given as the file, a missing folder,
    an existing file without `overwrite`."""
    text = os.fspath(path)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        raise ExportError(f"{text} is a folder; give a file name to export to "
                          f"(e.g. {Path(text) / 'intervals.csv'})")
    folder = Path(text).parent
    if not folder.is_dir():
        raise ExportError(f"folder {folder} does not exist (create it first)")
    for target in targets:
        if target.is_dir():
            raise ExportError(f"{target} is a folder; choose another file name")
        if not overwrite and os.path.lexists(target):
            raise ExportError(f"{target} already exists; not overwritten (use --force to replace it)")


def _write(target: Path, text: str, overwrite: bool) -> None:
    try:
        atomic.write_text(target, text, overwrite)
    except FileExistsError:
        raise ExportError(f"{target} already exists; not overwritten "
                          f"(use --force to replace it)") from None
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None


# ----------------------------------------------------------------------------- writers


def _fmt_score(score) -> str:
    return "" if score is None else repr(float(score))


def _rows(intervals, review) -> list[tuple[Interval, str]]:
    """(interval, review status) pairs sorted by video, onset, offset, class."""
    intervals = list(intervals)
    if review is None:
        review = [""] * len(intervals)
    review = list(review)
    if len(review) != len(intervals):
        raise ExportError(f"{len(review)} review states for {len(intervals)} intervals")
    for status in review:
        if status and status not in REVIEW_STATUSES:
            raise ExportError(f"unknown review state {status!r} (one of {', '.join(REVIEW_STATUSES)})")
    pairs = list(zip(intervals, review))
    pairs.sort(key=lambda p: (p[0].video, p[0].onset, p[0].offset, p[0].cls))
    return pairs


def _table(header: list[str], rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _sidecar(path: Path, fmt: str, prov: dict) -> str:
    doc = {"format": "pfes-provenance", "version": 1, "describes": path.name, "export_format": fmt,
           "columns": {c: COLUMN_HELP[c] for c in columns(fmt)}, "provenance": prov}
    return json.dumps(doc, indent=1) + "\n"


def write_intervals(path, intervals, fmt: str = "csv", provenance: dict | None = None,
                    fps: float | dict | None = None, *, review: Sequence[str] | None = None,
                    subjects: dict[str, str] | None = None,
                    points: Iterable[PointLabel] | None = None,
                    media: dict[str, str | os.PathLike] | None = None,
                    overwrite: bool = True) -> list[Path]:
    """Write ``intervals`` as ``fmt`` (see the module docstring); returns every file written.

    ``review``: one status per interval, in the order given. ``subjects``: ``{video: subject}``.
    ``fps`` (a number or ``{video: fps}``), ``points`` and ``media`` (``{video: media path}``)
    serve EAF. Raises ExportError before writing anything when a target is refused.
    """
    fmt = _check_format(fmt)
    path = Path(path) if not isinstance(path, str) else path
    prov = _complete(provenance)
    pairs = _rows(intervals, review)
    subjects = subjects or {}
    if fmt == "eaf":
        return _write_eaf(path, pairs, prov, fps, list(points or []), media or {}, overwrite)
    check_targets(path, export_targets(path, fmt), overwrite)
    path = Path(path)
    if fmt == "csv":
        text = _table(CSV_COLUMNS, ([iv.video, subjects.get(iv.video, ""), iv.cls, iv.onset, iv.apex,
                                     iv.offset, _fmt_score(iv.score), status] for iv, status in pairs))
    elif fmt == "megc":
        text = _table(MEGC_COLUMNS, ([subjects.get(iv.video, ""), iv.video, iv.onset, iv.offset,
                                      iv.cls.lower()] for iv, _ in pairs))
    else:
        doc = {"format": "pfes-intervals", "version": 1, "provenance": prov,
               "intervals": [{"video": iv.video, "subject": subjects.get(iv.video, ""),
                              "class": iv.cls, "onset": iv.onset, "apex": iv.apex,
                              "offset": iv.offset, "score": iv.score, "review": status}
                             for iv, status in pairs]}
        _write(path, json.dumps(doc, indent=1) + "\n", overwrite)
        return [path]
    side = provenance_path(path)
    _write(path, text, overwrite)
    _write(side, _sidecar(path, fmt, prov), overwrite)
    return [path, side]


# ----------------------------------------------------------------------------- readers


def _parse_comment_value(text: str):
    text = text.strip()
    if text[:1] in "{[":
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _read_table(path: Path) -> tuple[dict, list[dict], int]:
    """(provenance, rows, lines before the header). Provenance from the sidecar; files written
    before the sidecar existed start with ``# key: value`` lines, read too."""
    prov: dict = {}
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            lines = fh.readlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PfesError(f"cannot read {path}: {exc}") from None
    skip = 0
    while skip < len(lines) and lines[skip].startswith("#"):
        key, _, value = lines[skip][1:].partition(":")
        prov[key.strip()] = _parse_comment_value(value)
        skip += 1
    side = provenance_path(path)
    if side.is_file():
        try:
            prov.update(json.loads(side.read_text(encoding="utf-8"))["provenance"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PfesError(f"{side}: not a P-FES provenance file ({exc})") from None
    return prov, list(csv.DictReader(lines[skip:])), skip


def _int(row: dict, key: str, path: Path, line: int) -> int:
    try:
        return int(row[key])
    except (KeyError, TypeError, ValueError):
        raise PfesError(f"{path}: line {line}: bad or missing {key!r}") from None


def read_intervals(path, fmt: str | None = None) -> tuple[list[Interval], dict]:
    """Read a ``csv``, ``json`` or ``megc`` export back: (intervals, provenance).

    ``fmt`` defaults from the suffix (.json -> json, else csv; MEGC tables read the same way).
    MEGC rows get ``apex = (onset + offset) // 2`` and no score.
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
    prov, rows, skip = _read_table(path)
    out = []
    for n, row in enumerate(rows, start=skip + 2):
        cls = parse_class(row.get("class") or row.get("type") or "")
        onset = _int(row, "onset", path, n)
        offset = _int(row, "offset", path, n)
        apex = _int(row, "apex", path, n) if row.get("apex") not in (None, "") \
            else (onset + offset) // 2
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
        raise ExportError(f"EAF export needs the frame rate of video {video!r}")
    return float(value)


def _lanes(pairs: list[tuple[Interval, str]]) -> list[list[tuple[Interval, str]]]:
    """Greedy first-fit of time-sorted intervals into non-overlapping lanes."""
    lanes: list[list[tuple[Interval, str]]] = []
    for pair in sorted(pairs, key=lambda p: (p[0].onset, p[0].offset)):
        for lane in lanes:
            if lane[-1][0].offset < pair[0].onset:
                lane.append(pair)
                break
        else:
            lanes.append([pair])
    return lanes


def _media_urls(media, eaf_path: Path | None) -> tuple[str, str | None]:
    """(absolute file URL, URL relative to the EAF file's folder or None)."""
    media = Path(media).absolute()
    rel = None
    if eaf_path is not None:
        try:
            rel = Path(os.path.relpath(media, Path(eaf_path).absolute().parent)).as_posix()
        except ValueError:  # another drive (Windows): no relative path exists
            rel = None
        if rel is not None:
            rel = quote(rel if rel.startswith("../") else "./" + rel)
    return media.as_uri(), rel


class _EafDocument:
    """Builds one ELAN document: time slots, tiers (with parents) and their annotations."""

    def __init__(self, fps: float):
        self.fps = fps
        self.slots: list[tuple[int, str]] = []
        self.tiers: list[tuple[dict, list[tuple[str, str, str, str]]]] = []
        self.n_ann = 0

    def span(self, first: int, last: int) -> tuple[str, str]:
        """Time slots from the start of frame `first` to the end of frame `last`."""
        t1 = int(round(1000.0 * first / self.fps))
        t2 = int(round(1000.0 * (last + 1) / self.fps))
        s1, s2 = f"ts{len(self.slots) + 1}", f"ts{len(self.slots) + 2}"
        self.slots += [(t1, s1), (t2, s2)]
        return s1, s2

    def tier(self, attrs: dict, spans: list[tuple[int, int, str]]) -> None:
        anns = []
        for first, last, text in spans:
            self.n_ann += 1
            anns.append((f"a{self.n_ann}", *self.span(first, last), text))
        self.tiers.append((attrs, anns))

    def element(self, header: ET.Element) -> ET.ElementTree:
        root = ET.Element("ANNOTATION_DOCUMENT", {
            "AUTHOR": "P-FES Studio",
            "DATE": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            "FORMAT": "3.0", "VERSION": "3.0",
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd",
        })
        root.append(header)
        order = ET.SubElement(root, "TIME_ORDER")
        for value, sid in sorted(self.slots, key=lambda s: (s[0], int(s[1][2:]))):
            ET.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": sid, "TIME_VALUE": str(value)})
        used = set()
        for attrs, anns in self.tiers:
            used.add(attrs["LINGUISTIC_TYPE_REF"])
            tier = ET.SubElement(root, "TIER", attrs)
            for aid, s1, s2, text in anns:
                al = ET.SubElement(ET.SubElement(tier, "ANNOTATION"), "ALIGNABLE_ANNOTATION",
                                   {"ANNOTATION_ID": aid, "TIME_SLOT_REF1": s1,
                                    "TIME_SLOT_REF2": s2})
                ET.SubElement(al, "ANNOTATION_VALUE").text = text
        for lt in ("pfes-interval", "pfes-apex", "pfes-point"):
            if lt in used:
                attrs = {"GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": lt,
                         "TIME_ALIGNABLE": "true"}
                if lt == "pfes-apex":
                    attrs["CONSTRAINTS"] = "Included_In"
                ET.SubElement(root, "LINGUISTIC_TYPE", attrs)
        if "pfes-apex" in used:
            ET.SubElement(root, "CONSTRAINT", {
                "DESCRIPTION": "Time alignable annotations within the parent annotation's time "
                               "interval, gaps are allowed", "STEREOTYPE": "Included_In"})
        ET.indent(root)
        return ET.ElementTree(root)


def _header(video: str, fps: float, provenance: dict, media, eaf_path: Path | None) -> ET.Element:
    header = ET.Element("HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    if media:
        url, rel = _media_urls(media, eaf_path)
        attrs = {"MEDIA_URL": url, "MIME_TYPE": mimetypes.guess_type(url)[0] or "video/*"}
        if rel:
            attrs["RELATIVE_MEDIA_URL"] = rel
        ET.SubElement(header, "MEDIA_DESCRIPTOR", attrs)
    for key, value in {**provenance, "video": video, "fps": fps}.items():
        prop = ET.SubElement(header, "PROPERTY", {"NAME": f"pfes:{key}"})
        prop.text = json.dumps(value) if isinstance(value, (dict, list, tuple)) else str(value)
    return header


def _point_tiers(doc: _EafDocument, points: list[PointLabel]) -> None:
    for cls in CLASSES:
        mine = sorted((p for p in points if p.cls == cls), key=lambda p: p.frame)
        attrs = {"LINGUISTIC_TYPE_REF": "pfes-point", "TIER_ID": f"{cls} points"}
        annotators = {p.annotator for p in mine}
        if len(annotators) == 1 and "" not in annotators:
            attrs["ANNOTATOR"] = annotators.pop()
        doc.tier(attrs, [(p.frame, p.frame, cls) for p in mine])


def eaf_document(video: str, intervals: list[Interval], fps: float, provenance: dict,
                 media=None, *, eaf_path=None, review: Sequence[str] | None = None,
                 points: Iterable[PointLabel] | None = None) -> ET.ElementTree:
    """One video's ELAN 3.0 document (tiers and time mapping: see the module docstring).

    ``media``: the video's path; ``eaf_path``: where the document goes (for the relative link).
    ``points=None`` leaves the point tiers out; ``intervals=None`` the interval tiers.
    """
    doc = _EafDocument(fps)
    if intervals is not None:
        pairs = _rows(intervals, review)
        for cls in CLASSES:
            lanes = _lanes([p for p in pairs if p[0].cls == cls]) or [[]]
            for k, lane in enumerate(lanes):
                name = cls if k == 0 else f"{cls} {k + 1}"
                spans = []
                for iv, status in lane:
                    score = "" if iv.score is None else f" score={iv.score:.3f}"
                    state = f" review={status}" if status else ""
                    spans.append((iv.onset, iv.offset, f"{iv.cls} apex={iv.apex} "
                                  f"frames={iv.onset}-{iv.offset}{score}{state}"))
                doc.tier({"LINGUISTIC_TYPE_REF": "pfes-interval", "TIER_ID": name}, spans)
                apexes = [(a, a, f"{iv.cls} apex={iv.apex}")
                          for iv, _ in lane for a in [min(max(iv.apex, iv.onset), iv.offset)]]
                doc.tier({"LINGUISTIC_TYPE_REF": "pfes-apex", "PARENT_REF": name,
                          "TIER_ID": f"{name} apex"}, apexes)
    if points is not None:
        _point_tiers(doc, [p for p in points if p.video == video])
    return doc.element(_header(video, fps, provenance, media, eaf_path))


def _eaf_bytes(tree: ET.ElementTree) -> str:
    buf = io.BytesIO()
    tree.write(buf, encoding="UTF-8", xml_declaration=True)
    return buf.getvalue().decode("utf-8")


def _write_eaf(path, pairs: list[tuple[Interval, str]], prov: dict, fps, points: list[PointLabel],
               media: dict, overwrite: bool) -> list[Path]:
    videos = list(dict.fromkeys(iv.video for iv, _ in pairs)) \
        or list(dict.fromkeys(p.video for p in points))
    if not videos:
        videos = list(fps) if isinstance(fps, dict) and fps else [str(prov.get("video", ""))]
    targets = _eaf_files(Path(path), videos)
    check_targets(path, targets, overwrite)
    rates = {v: _fps_for(fps, v) for v in videos}
    for video, target in zip(videos, targets):
        mine = [p for p in pairs if p[0].video == video]
        tree = eaf_document(video, [iv for iv, _ in mine], rates[video], prov, media.get(video),
                            eaf_path=target, review=[s for _, s in mine],
                            points=points if points else None)
        _write(target, _eaf_bytes(tree), overwrite)
    return targets


def write_points_eaf(path, labels: Iterable[PointLabel], fps: float | dict,
                     provenance: dict | None = None, media: dict | None = None,
                     videos: Iterable[str] = (), overwrite: bool = True) -> list[Path]:
    """Point labels as ELAN documents with the ``MaE points`` / ``ME points`` tiers only; one
    file per video, named as for intervals. ``videos`` adds videos that have no labels."""
    labels = list(labels)
    names = list(dict.fromkeys([lb.video for lb in labels] + list(videos)))
    if not names:
        raise ExportError("no labels to export")
    targets = _eaf_files(Path(path), names)
    check_targets(path, targets, overwrite)
    prov = dict(provenance or {"app_version": __version__})
    media = media or {}
    rates = {v: _fps_for(fps, v) for v in names}
    for video, target in zip(names, targets):
        tree = eaf_document(video, None, rates[video], prov, media.get(video), eaf_path=target,
                            points=labels)
        _write(target, _eaf_bytes(tree), overwrite)
    return targets


__all__ = ["FORMATS", "SUFFIXES", "CSV_COLUMNS", "MEGC_COLUMNS", "COLUMN_HELP", "REVIEW_STATUSES",
           "ExportError", "make_provenance", "columns", "provenance_path", "export_targets", "check_targets",
           "write_intervals", "read_intervals", "eaf_document", "write_points_eaf"]
