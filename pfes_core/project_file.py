"""project.h5, schema 2: writing it as one in-memory image, and reading it back distrustfully.

Layout: root attrs ``format``, ``schema_version``, ``generation`` (bumped on each save; the journal
names the generation it extends), ``saved``; a scalar string dataset ``settings`` (JSON); groups
``videos``, ``labels``, ``reference``, ``reviews`` and ``annotators`` holding one 1-D dataset per
column (strings as UTF-8; labels store video/annotator as indexes into a name table so 100,000
labels save in well under a second).

Schema history: 1 identified a label by (video, frame, class); 2 adds the annotator to a label's
identity (labels of several annotators on one frame) and the ``annotators`` group (the project's
annotator list: name and layer colour). A schema-1 file reads as it is (every label keeps its
recorded annotator; the list is empty) and is written back as schema 2; an app that reads only
schema 1 refuses a schema-2 file with a message instead of misreading labels of two annotators
on one frame as duplicates.

Why an in-memory image: HDF5 never writes to the disk itself, so a full disk is an ordinary
Python OSError on a plain write (no half-written HDF5 state, no crash inside the library).

Why reading distrusts: a project can come from someone else or be damaged. Before a dataset is
read its layout is checked against what this module writes (contiguous, unfiltered, the expected
rank and type, its storage really present in the file), so a small file cannot make the reader
allocate gigabytes; after reading, every value is checked against its range (frames inside their
video, known classes, fps > 0, ...). A refusal names the file, the field and the row.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

from .errors import ProjectError
from .reviews import STATUSES, ReviewDecision
from .safe_paths import id_problem
from .types import CLASSES, Interval, PointLabel, VideoRecord

SCHEMA_VERSION = 2
H5_NAME = "project.h5"
FORMAT = "pfes-project"

MAX_ROWS = 20_000_000          # labels, intervals, decisions: far above any real project
MAX_FRAMES = 1_000_000_000     # per video (9 days at 1000 fps)
MAX_FPS = 10_000.0
STRING_CHUNK_BYTES = 64 << 20  # worst case held at once while reading a string column

_STR = h5py.string_dtype("utf-8")


class Unreadable(Exception):
    """project.h5 (or a backup) cannot be used; the message names the field and says why."""


class State:
    """Everything project.h5 holds, in memory."""

    def __init__(self):
        self.schema_version = SCHEMA_VERSION
        self.generation = 0
        self.saved = 0.0
        self.settings: dict = {}
        self.videos: dict[str, VideoRecord] = {}
        self.labels: list[PointLabel] = []
        self.reference: dict[str, list[Interval]] = {}
        self.reviews: list[ReviewDecision] = []
        self.annotators: dict[str, str] = {}   # the project's annotator list: name -> colour ('' = auto)


# ---- writing -------------------------------------------------------------------------------
def _strings(values: Iterable[str]) -> np.ndarray:
    return np.array(list(values), dtype=object)


# The unit of each numeric column, kept as the dataset's "units" attribute so other tools need no
# guessing (docs/PROJECT_FORMAT.md).
UNITS = {"fps": "frames per second", "n_frames": "frames", "step": "frames",
         "frame": "frame index (0-based)", "onset": "frame index (0-based)",
         "apex": "frame index (0-based)", "offset": "frame index (0-based, inclusive)",
         "adjusted": "frame index (0-based): onset, apex, offset", "score": "1 (0 to 1; NaN: none)",
         "created": "seconds since 1970-01-01 UTC", "modified": "seconds since 1970-01-01 UTC",
         "time": "seconds since 1970-01-01 UTC"}


def _write_columns(group: h5py.Group, columns: dict[str, np.ndarray]) -> None:
    for name, data in columns.items():
        if data.dtype == object:
            group.create_dataset(name, data=data, dtype=_STR)
        else:
            group.create_dataset(name, data=data)
            if name in UNITS:
                group[name].attrs["units"] = UNITS[name]


def _index(values: list[str]) -> tuple[list[str], np.ndarray]:
    names: dict[str, int] = {}
    idx = np.fromiter((names.setdefault(v, len(names)) for v in values), dtype=np.int32, count=len(values))
    return list(names), idx


def write_image(generation: int, settings: dict, videos: dict[str, VideoRecord], labels: list[PointLabel],
                reference: dict[str, list[Interval]], reviews: list[ReviewDecision],
                annotators: dict[str, str] | None = None) -> bytes:
    """The bytes of a complete project.h5 (built in memory; the caller writes them atomically)."""
    with h5py.File(f"pfes-{os.getpid()}-{time.time_ns()}.h5", "w", driver="core", backing_store=False) as f:
        f.attrs["format"] = FORMAT
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["generation"] = generation
        f.attrs["saved"] = time.time()
        f.create_dataset("settings", data=json.dumps(settings, sort_keys=True), dtype=_STR)

        vs = list(videos.values())
        _write_columns(f.create_group("videos"), {
            "id": _strings(v.id for v in vs), "path": _strings(v.path for v in vs),
            "fps": np.array([v.fps for v in vs], dtype=np.float64),
            "n_frames": np.array([v.n_frames for v in vs], dtype=np.int64),
            "fingerprint": _strings(v.fingerprint for v in vs),
            "subject": _strings(v.subject for v in vs),
            "step": np.array([v.step for v in vs], dtype=np.int64),
            "extra": _strings(json.dumps(v.extra, sort_keys=True) for v in vs),
        })

        g = f.create_group("labels")
        video_names, video_idx = _index([lb.video for lb in labels])
        ann_names, ann_idx = _index([lb.annotator for lb in labels])
        cls_idx = {c: i for i, c in enumerate(CLASSES)}
        _write_columns(g, {
            "video_names": _strings(video_names), "annotator_names": _strings(ann_names),
            "video": video_idx, "annotator": ann_idx,
            "frame": np.fromiter((lb.frame for lb in labels), dtype=np.int64, count=len(labels)),
            "cls": np.fromiter((cls_idx[lb.cls] for lb in labels), dtype=np.uint8, count=len(labels)),
            "created": np.fromiter((lb.created for lb in labels), dtype=np.float64, count=len(labels)),
            "modified": np.fromiter((lb.modified for lb in labels), dtype=np.float64, count=len(labels)),
        })
        g.attrs["classes"] = json.dumps(list(CLASSES))

        ivs = [iv for v in reference for iv in reference[v]]
        _write_columns(f.create_group("reference"), {
            "video": _strings(iv.video for iv in ivs), "cls": _strings(iv.cls for iv in ivs),
            "onset": np.array([iv.onset for iv in ivs], dtype=np.int64),
            "apex": np.array([iv.apex for iv in ivs], dtype=np.int64),
            "offset": np.array([iv.offset for iv in ivs], dtype=np.int64),
            "score": np.array([math.nan if iv.score is None else iv.score for iv in ivs], dtype=np.float64),
        })

        rs = reviews
        _write_columns(f.create_group("reviews"), {
            "video": _strings(r.video for r in rs), "run_id": _strings(r.run_id for r in rs),
            "cls": _strings(r.cls for r in rs),
            "onset": np.array([r.onset for r in rs], dtype=np.int64),
            "apex": np.array([r.apex for r in rs], dtype=np.int64),
            "offset": np.array([r.offset for r in rs], dtype=np.int64),
            "score": np.array([math.nan if r.score is None else r.score for r in rs], dtype=np.float64),
            "status": _strings(r.status for r in rs),
            "adjusted": np.array([list(r.adjusted) if r.adjusted else [-1, -1, -1] for r in rs],
                                 dtype=np.int64).reshape(len(rs), 3),
            "annotator": _strings(r.annotator for r in rs),
            "time": np.array([r.time for r in rs], dtype=np.float64),
        })

        anns = dict(annotators or {})
        _write_columns(f.create_group("annotators"), {
            "name": _strings(anns), "colour": _strings(anns.values())})
        f.flush()
        return f.id.get_file_image()


# ---- reading: layout bounds ------------------------------------------------------------------
class _Reader:
    """Reads columns of one open file after checking they are laid out as this module writes them."""

    def __init__(self, f: h5py.File, file_size: int):
        self.f = f
        self.file_size = file_size

    def dataset(self, name: str, kind: str, ndim: int = 1) -> h5py.Dataset:
        """`kind`: 'int', 'float' or 'str'. Checks layout and size, reads nothing."""
        obj = self.f.get(name)
        if not isinstance(obj, h5py.Dataset):
            raise Unreadable(f"field {name} is missing")
        if obj.ndim != ndim:
            raise Unreadable(f"field {name} has shape {obj.shape}, expected {ndim} dimension(s)")
        if obj.chunks is not None or obj.compression is not None:
            raise Unreadable(f"field {name} is chunked or compressed, which P-FES Studio never writes")
        if obj.shape and obj.shape[0] > MAX_ROWS:
            raise Unreadable(f"field {name} has {obj.shape[0]} rows (at most {MAX_ROWS} are allowed)")
        is_str = h5py.check_string_dtype(obj.dtype) is not None
        if kind == "str":
            if not is_str or obj.dtype.kind != "O":
                raise Unreadable(f"field {name} is not a text column ({obj.dtype})")
        elif is_str or obj.dtype.kind not in ("iu" if kind == "int" else "f") or obj.dtype.itemsize > 8:
            raise Unreadable(f"field {name} holds {obj.dtype}, expected {'integers' if kind == 'int' else 'numbers'}")
        file_item = 16 if kind == "str" else obj.dtype.itemsize  # a text cell is a 16-byte heap reference
        need = int(np.prod(obj.shape, dtype=np.int64)) * file_item
        stored = obj.id.get_storage_size()
        if need and (stored < need or stored > self.file_size):
            raise Unreadable(f"field {name} declares {need} bytes but the file holds {stored} for it")
        return obj

    def numbers(self, name: str, kind: str, ndim: int = 1) -> np.ndarray:
        return self.dataset(name, kind, ndim)[()]

    def strings(self, name: str, ndim: int = 1) -> list[str]:
        """Read a text column in slices, stopping once it holds more text than the whole file
        (each cell is stored once, so more can only come from cells sharing one huge string)."""
        ds = self.dataset(name, "str", ndim)
        if ndim == 0:
            value = ds.asstr()[()]
            if len(value) > self.file_size:
                raise Unreadable(f"field {name} is larger than the file")
            return [value]
        n = ds.shape[0]
        step = max(1, min(4096, STRING_CHUNK_BYTES // max(1, self.file_size)))
        out: list[str] = []
        total = 0
        for start in range(0, n, step):
            part = ds.asstr()[start:start + step].tolist()
            total += sum(len(s) for s in part)
            if total > self.file_size:
                raise Unreadable(f"field {name} expands to more text than the file holds")
            out.extend(part)
        return out


def _same_length(group: str, columns: dict[str, list | np.ndarray]) -> int:
    lengths = {name: len(col) for name, col in columns.items()}
    if len(set(lengths.values())) > 1:
        raise Unreadable(f"the columns of {group} have different lengths ({lengths})")
    return next(iter(lengths.values()), 0)


# ---- reading: value checks ---------------------------------------------------------------------
def _field(name: str, row: int | None, problem: str) -> Unreadable:
    return Unreadable(f"field {name}{'' if row is None else f' row {row}'} {problem}")


def _finite(name: str, values: np.ndarray, allow_nan: bool = False) -> None:
    bad = ~np.isfinite(values) if not allow_nan else np.isinf(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise _field(name, row, f"is {values[row]!r}, not a finite number")


def _check_id(name: str, row: int, value: str, what: str = "id") -> None:
    problem = id_problem(value)
    if problem is not None:
        raise _field(name, row, f"holds the {what} {value[:60]!r}, which {problem}")


def video_problem(v: VideoRecord) -> str | None:
    """What is wrong with a video record (from project.h5 or a journal line), or None."""
    problem = id_problem(v.id)
    if problem is not None:
        return f"id {v.id[:60]!r} {problem}" if isinstance(v.id, str) else f"id {problem}"
    if not (isinstance(v.fps, float) and 0 < v.fps <= MAX_FPS):
        return f"fps is {v.fps!r} (must be above 0 and at most {MAX_FPS:g})"
    if not 0 < v.n_frames <= MAX_FRAMES:
        return f"n_frames is {v.n_frames} (must be 1..{MAX_FRAMES})"
    if not 1 <= v.step <= v.n_frames:
        return f"step is {v.step} (must be 1..n_frames)"
    if not v.path or "\x00" in v.path:
        return "path is empty or holds a NUL character"
    if not isinstance(v.extra, dict):
        return "extra is not a JSON object"
    return None


def _read_videos(r: _Reader) -> dict[str, VideoRecord]:
    cols = {"id": r.strings("videos/id"), "path": r.strings("videos/path"),
            "fps": r.numbers("videos/fps", "float"), "n_frames": r.numbers("videos/n_frames", "int"),
            "fingerprint": r.strings("videos/fingerprint"), "subject": r.strings("videos/subject"),
            "step": r.numbers("videos/step", "int"), "extra": r.strings("videos/extra")}
    n = _same_length("videos", cols)
    videos: dict[str, VideoRecord] = {}
    for i in range(n):
        try:
            extra = json.loads(cols["extra"][i])
        except (ValueError, RecursionError):
            raise _field("videos/extra", i, "is not JSON") from None
        v = VideoRecord(cols["id"][i], cols["path"][i], float(cols["fps"][i]), int(cols["n_frames"][i]),
                        cols["fingerprint"][i], cols["subject"][i], int(cols["step"][i]), extra)
        problem = video_problem(v)
        if problem is not None:
            name, _, rest = problem.partition(" ")
            raise _field(f"videos/{name}", i, rest)
        if v.id in videos:
            raise _field("videos/id", i, f"repeats the video id {v.id!r}")
        videos[v.id] = v
    return videos


def _check_video_frames(group: str, row: int, vid: str, frames: Iterable[tuple[str, int]],
                        videos: dict[str, VideoRecord]) -> None:
    record = videos.get(vid)
    if record is None:
        raise _field(f"{group}/video", row, f"names the video {vid[:60]!r}, which is not registered")
    for name, frame in frames:
        if not 0 <= frame < record.n_frames:
            raise _field(f"{group}/{name}", row, f"is frame {frame}, outside video {vid!r} "
                                                 f"(0..{record.n_frames - 1})")


def _read_labels(r: _Reader, videos: dict[str, VideoRecord]) -> list[PointLabel]:
    try:
        classes = json.loads(r.f["labels"].attrs["classes"])
    except (KeyError, TypeError, ValueError, RecursionError):
        raise Unreadable("attribute labels/classes is missing or not JSON") from None
    if not isinstance(classes, list) or any(c not in CLASSES for c in classes) or len(classes) > len(CLASSES):
        raise Unreadable(f"attribute labels/classes is {str(classes)[:80]}, expected classes among {list(CLASSES)}")
    names = r.strings("labels/video_names")
    anns = r.strings("labels/annotator_names")
    cols = {"video": r.numbers("labels/video", "int"), "annotator": r.numbers("labels/annotator", "int"),
            "frame": r.numbers("labels/frame", "int"), "cls": r.numbers("labels/cls", "int"),
            "created": r.numbers("labels/created", "float"), "modified": r.numbers("labels/modified", "float")}
    n = _same_length("labels", cols)
    for name, table, size in (("video", names, len(names)), ("annotator", anns, len(anns)), ("cls", classes, len(classes))):
        col = cols[name]
        bad = np.flatnonzero((col < 0) | (col >= size))
        if bad.size:
            raise _field(f"labels/{name}", int(bad[0]), f"is {int(col[bad[0]])}, not an index into its "
                                                         f"{size}-entry table")
    _finite("labels/created", cols["created"])
    _finite("labels/modified", cols["modified"])
    for i, vid in enumerate(names):
        if vid not in videos:
            raise _field("labels/video_names", i, f"names the video {vid[:60]!r}, which is not registered")
    if n:
        limit = np.array([videos[v].n_frames for v in names], dtype=np.int64)[cols["video"]]
        frame = cols["frame"]
        bad = np.flatnonzero((frame < 0) | (frame >= limit))
        if bad.size:
            i = int(bad[0])
            raise _field("labels/frame", i, f"is {int(frame[i])}, outside video {names[cols['video'][i]]!r} "
                                            f"(0..{int(limit[i]) - 1})")
    return [PointLabel(names[vi], fr, classes[ci], anns[ai], cr, mo) for vi, ai, fr, ci, cr, mo in zip(
        cols["video"].tolist(), cols["annotator"].tolist(), cols["frame"].tolist(), cols["cls"].tolist(),
        cols["created"].tolist(), cols["modified"].tolist())]


def _ordered(group: str, row: int, on: int, ap: int, off: int) -> None:
    if not 0 <= on <= ap <= off:
        raise _field(f"{group}/onset", row, f"starts an interval {on}-{ap}-{off} that is not "
                                            f"0 <= onset <= apex <= offset")


def _read_reference(r: _Reader, videos: dict[str, VideoRecord]) -> dict[str, list[Interval]]:
    cols = {"video": r.strings("reference/video"), "cls": r.strings("reference/cls"),
            "onset": r.numbers("reference/onset", "int"), "apex": r.numbers("reference/apex", "int"),
            "offset": r.numbers("reference/offset", "int"), "score": r.numbers("reference/score", "float")}
    n = _same_length("reference", cols)
    _finite("reference/score", cols["score"], allow_nan=True)
    out: dict[str, list[Interval]] = {}
    for i in range(n):
        vid, cls = cols["video"][i], cols["cls"][i]
        on, ap, off = int(cols["onset"][i]), int(cols["apex"][i]), int(cols["offset"][i])
        if cls not in CLASSES:
            raise _field("reference/cls", i, f"is {cls[:20]!r}, not one of {', '.join(CLASSES)}")
        _ordered("reference", i, on, ap, off)
        _check_video_frames("reference", i, vid, [("offset", off)], videos)
        sc = float(cols["score"][i])
        out.setdefault(vid, []).append(Interval(vid, cls, on, ap, off, None if math.isnan(sc) else sc))
    return out


def _read_reviews(r: _Reader, videos: dict[str, VideoRecord]) -> list[ReviewDecision]:
    cols = {"video": r.strings("reviews/video"), "run_id": r.strings("reviews/run_id"),
            "cls": r.strings("reviews/cls"), "onset": r.numbers("reviews/onset", "int"),
            "apex": r.numbers("reviews/apex", "int"), "offset": r.numbers("reviews/offset", "int"),
            "score": r.numbers("reviews/score", "float"), "status": r.strings("reviews/status"),
            "adjusted": r.numbers("reviews/adjusted", "int", ndim=2), "annotator": r.strings("reviews/annotator"),
            "time": r.numbers("reviews/time", "float")}
    n = _same_length("reviews", cols)
    if n and cols["adjusted"].shape[1] != 3:
        raise Unreadable(f"field reviews/adjusted has shape {cols['adjusted'].shape}, expected (rows, 3)")
    _finite("reviews/score", cols["score"], allow_nan=True)
    _finite("reviews/time", cols["time"])
    out: list[ReviewDecision] = []
    for i in range(n):
        vid, run_id, cls, status = cols["video"][i], cols["run_id"][i], cols["cls"][i], cols["status"][i]
        on, ap, off = int(cols["onset"][i]), int(cols["apex"][i]), int(cols["offset"][i])
        _check_id("reviews/run_id", i, run_id, "run id")
        if cls not in CLASSES:
            raise _field("reviews/cls", i, f"is {cls[:20]!r}, not one of {', '.join(CLASSES)}")
        if status not in STATUSES:
            raise _field("reviews/status", i, f"is {status[:20]!r}, not one of {', '.join(STATUSES)}")
        _ordered("reviews", i, on, ap, off)
        _check_video_frames("reviews", i, vid, [], videos)
        adj = tuple(int(x) for x in cols["adjusted"][i])
        if status == "adjusted":
            if not 0 <= adj[0] <= adj[1] <= adj[2] < videos[vid].n_frames:
                raise _field("reviews/adjusted", i, f"is {adj}, not an interval inside video {vid!r}")
        elif adj != (-1, -1, -1):
            raise _field("reviews/adjusted", i, f"is {adj} on a decision that is {status}, not adjusted")
        sc = float(cols["score"][i])
        out.append(ReviewDecision(vid, run_id, cls, on, ap, off, None if math.isnan(sc) else sc, status,
                                  adj if status == "adjusted" else None, cols["annotator"][i],
                                  float(cols["time"][i])))
    return out


def colour_problem(colour) -> str | None:
    """What is wrong with a layer colour ('' or '#rrggbb'), or None."""
    if not isinstance(colour, str):
        return "is not text"
    if colour and not (len(colour) == 7 and colour[0] == "#"
                       and all(ch in "0123456789abcdefABCDEF" for ch in colour[1:])):
        return f"is {colour[:20]!r}, not a colour #rrggbb"
    return None


def annotator_problem(name) -> str | None:
    """What is wrong with an annotator name, or None (the empty name is valid: '(unknown)')."""
    if not isinstance(name, str):
        return "is not text"
    if len(name) > 200 or any(ord(ch) < 32 for ch in name):
        return f"{name[:40]!r} is longer than 200 characters or holds control characters"
    return None


def _read_annotators(r: _Reader) -> dict[str, str]:
    cols = {"name": r.strings("annotators/name"), "colour": r.strings("annotators/colour")}
    n = _same_length("annotators", cols)
    out: dict[str, str] = {}
    for i in range(n):
        name, colour = cols["name"][i], cols["colour"][i]
        problem = annotator_problem(name)
        if problem is not None:
            raise _field("annotators/name", i, problem)
        if name in out:
            raise _field("annotators/name", i, f"repeats the annotator {name[:60]!r}")
        problem = colour_problem(colour)
        if problem is not None:
            raise _field("annotators/colour", i, problem)
        out[name] = colour
    return out


def schema_version_of(path: Path) -> int | None:
    """The schema version project.h5 declares, or None when that cannot be read."""
    try:
        with h5py.File(path, "r") as f:
            return int(f.attrs["schema_version"])
    except Exception:  # any damage: the caller only needs to know it cannot tell
        return None


def read_state(path: Path) -> State:
    """Load and check project.h5. Raises Unreadable for damage, ProjectError for a newer schema."""
    try:
        file_size = os.stat(path).st_size
    except FileNotFoundError:
        raise Unreadable("the file is missing") from None
    except OSError as exc:
        raise Unreadable(f"the file cannot be opened ({exc.strerror or exc})") from None
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise Unreadable(f"not a readable HDF5 file ({(str(exc).splitlines() or [''])[0][:120]})") from None
    try:
        with f:
            if f.attrs.get("format") != FORMAT:
                raise Unreadable("not a P-FES project file")
            version = int(f.attrs["schema_version"])
            if version > SCHEMA_VERSION:
                raise ProjectError(
                    f"{path} was written by a newer P-FES Studio (project schema {version}; this "
                    f"version reads up to {SCHEMA_VERSION}); update P-FES Studio to open it")
            reader = _Reader(f, file_size)
            st = State()
            st.schema_version = version
            st.generation = int(f.attrs.get("generation", 0))
            st.saved = float(f.attrs.get("saved", 0.0))
            if st.generation < 0 or not math.isfinite(st.saved):
                raise Unreadable(f"attribute generation/saved is out of range ({st.generation}, {st.saved})")
            try:
                settings = json.loads(reader.strings("settings", ndim=0)[0])
            except (ValueError, RecursionError):
                raise Unreadable("field settings is not JSON") from None
            if not isinstance(settings, dict):
                raise Unreadable("field settings is not a JSON object")
            st.settings = settings
            st.videos = _read_videos(reader)
            st.labels = _read_labels(reader, st.videos)
            st.reference = _read_reference(reader, st.videos)
            st.reviews = _read_reviews(reader, st.videos)
            if version >= 2:
                st.annotators = _read_annotators(reader)
            return st
    except (ProjectError, Unreadable):
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/ValueError/... on damaged content
        text = (str(exc).splitlines() or [""])[0][:120]
        raise Unreadable(f"damaged content ({type(exc).__name__}: {text})") from None
