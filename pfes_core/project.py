"""The project store: a folder ``NAME.pfes/`` with ``project.h5``, ``journal.jsonl`` and a lock.

Why this shape (DESIGN.md section 2):
- project.h5 is read fully on open and written fully on save, so no process ever holds it open
  (HDF5 refuses a writer and a reader in two processes at once).
- A save writes ``project.h5.tmp``, fsyncs it, keeps the previous file as ``project.h5.bak1``
  (older ones roll to bak2, bak3) and ``os.replace``s the new one in: a crash mid-save leaves
  the old project intact, and a file corrupted later can be taken back from a backup.
- Between saves every change is appended (and flushed) to journal.jsonl before the call returns
  and replayed on the next open, so a crash loses nothing that was clicked.
- A lock file keeps a second writer out; ``readonly=True`` skips it (training workers, `pfes info`).

Layout of project.h5 (schema 1): root attrs ``format``, ``schema_version``, ``generation``
(bumped on each save; the journal names the generation it extends), ``saved``; a scalar string
dataset ``settings`` (JSON); groups ``videos``, ``labels``, ``reference``, ``reviews`` holding
one 1-D dataset per column (strings as UTF-8; labels store video/annotator as indexes into a
name table so 100,000 labels save in well under a second).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

from .errors import LabelError, ProjectError, VideoError
from .journal import JOURNAL_NAME, Journal, read_journal
from .labels import Edit, LabelStore, edit_from_dict
from .lock import ProjectLock
from .reviews import ReviewDecision, ReviewStore
from .types import CLASSES, Interval, PointLabel, VideoRecord, parse_class

SCHEMA_VERSION = 1
SUFFIX = ".pfes"
H5_NAME = "project.h5"
N_BACKUPS = 3
FORMAT = "pfes-project"

_STR = h5py.string_dtype("utf-8")


# ---- paths ---------------------------------------------------------------------------------
def project_root(path: str | os.PathLike, must_exist: bool = True) -> Path:
    """The project folder for `path`: the folder itself, NAME (when NAME.pfes exists) or its project.h5."""
    p = Path(path).expanduser()
    if p.name == H5_NAME or p.name.startswith(H5_NAME + ".bak"):
        p = p.parent
    if must_exist and not p.is_dir() and p.suffix != SUFFIX and p.with_name(p.name + SUFFIX).is_dir():
        p = p.with_name(p.name + SUFFIX)
    return p.absolute()


def backup_path(root: Path, k: int) -> Path:
    return root / f"{H5_NAME}.bak{k}"


# ---- HDF5 read/write -----------------------------------------------------------------------
class _Unreadable(Exception):
    """project.h5 (or a backup) cannot be read; the message says why."""


def _strings(values: Iterable[str]) -> np.ndarray:
    return np.array(list(values), dtype=object)


def _write_columns(group: h5py.Group, columns: dict[str, np.ndarray]) -> None:
    for name, data in columns.items():
        if data.dtype == object:
            group.create_dataset(name, data=data, dtype=_STR)
        else:
            group.create_dataset(name, data=data)


def _read_columns(group: h5py.Group, names: Iterable[str]) -> dict[str, list]:
    out: dict[str, list] = {}
    for name in names:
        ds = group[name]
        if h5py.check_string_dtype(ds.dtype) is not None:
            out[name] = list(ds.asstr()[()]) if ds.shape != (0,) else []
        else:
            out[name] = ds[()].tolist()
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise _Unreadable(f"group {group.name} has columns of different lengths")
    return out


def _index(values: list[str]) -> tuple[list[str], np.ndarray]:
    names: dict[str, int] = {}
    idx = np.fromiter((names.setdefault(v, len(names)) for v in values), dtype=np.int32, count=len(values))
    return list(names), idx


class _State:
    """Everything project.h5 holds, in memory."""

    def __init__(self):
        self.generation = 0
        self.saved = 0.0
        self.settings: dict = {}
        self.videos: dict[str, VideoRecord] = {}
        self.labels: list[PointLabel] = []
        self.reference: dict[str, list[Interval]] = {}
        self.reviews: list[ReviewDecision] = []


def _write_h5(path: Path, generation: int, settings: dict, videos: dict[str, VideoRecord],
              labels: list[PointLabel], reference: dict[str, list[Interval]],
              reviews: list[ReviewDecision]) -> None:
    with h5py.File(path, "w") as f:
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


def _read_h5(path: Path) -> _State:
    """Load project.h5 fully. Raises _Unreadable for damage, ProjectError for a newer schema."""
    if not path.exists():
        raise _Unreadable("the file is missing")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise _Unreadable(f"not a readable HDF5 file ({str(exc).splitlines()[0][:120]})") from None
    try:
        with f:
            if f.attrs.get("format") != FORMAT:
                raise _Unreadable("not a P-FES project file")
            version = int(f.attrs["schema_version"])
            if version > SCHEMA_VERSION:
                raise ProjectError(
                    f"{path} was written by a newer P-FES Studio (project schema {version}; this "
                    f"version reads up to {SCHEMA_VERSION}); update P-FES Studio to open it")
            st = _State()
            st.generation = int(f.attrs.get("generation", 0))
            st.saved = float(f.attrs.get("saved", 0.0))
            settings = json.loads(f["settings"].asstr()[()])
            st.settings = settings if isinstance(settings, dict) else {}

            v = _read_columns(f["videos"], ("id", "path", "fps", "n_frames", "fingerprint", "subject",
                                            "step", "extra"))
            for i in range(len(v["id"])):
                st.videos[v["id"][i]] = VideoRecord(
                    v["id"][i], v["path"][i], float(v["fps"][i]), int(v["n_frames"][i]),
                    v["fingerprint"][i], v["subject"][i], int(v["step"][i]), json.loads(v["extra"][i]))

            g = f["labels"]
            classes = json.loads(g.attrs["classes"])
            names = _read_columns(g, ("video_names",))["video_names"]
            anns = _read_columns(g, ("annotator_names",))["annotator_names"]
            c = _read_columns(g, ("video", "annotator", "frame", "cls", "created", "modified"))
            st.labels = [PointLabel(names[vi], fr, classes[ci], anns[ai], cr, mo) for vi, ai, fr, ci, cr, mo
                         in zip(c["video"], c["annotator"], c["frame"], c["cls"], c["created"], c["modified"])]

            r = _read_columns(f["reference"], ("video", "cls", "onset", "apex", "offset", "score"))
            for vid, cls, on, ap, off, sc in zip(r["video"], r["cls"], r["onset"], r["apex"], r["offset"],
                                                 r["score"]):
                st.reference.setdefault(vid, []).append(
                    Interval(vid, cls, on, ap, off, None if math.isnan(sc) else sc))

            rv = _read_columns(f["reviews"], ("video", "run_id", "cls", "onset", "apex", "offset", "score",
                                              "status", "annotator", "time"))
            adjusted = f["reviews"]["adjusted"][()].tolist()
            for i in range(len(rv["video"])):
                adj = adjusted[i]
                st.reviews.append(ReviewDecision(
                    rv["video"][i], rv["run_id"][i], rv["cls"][i], rv["onset"][i], rv["apex"][i],
                    rv["offset"][i], None if math.isnan(rv["score"][i]) else rv["score"][i], rv["status"][i],
                    None if adj[0] < 0 else tuple(adj), rv["annotator"][i], rv["time"][i]))
            return st
    except (ProjectError, _Unreadable):
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/ValueError/... on damaged content
        raise _Unreadable(f"damaged content ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from None


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        _fsync_path(path)
    except OSError:  # not supported everywhere (e.g. Windows); the rename is still atomic
        pass


# ---- backups ---------------------------------------------------------------------------------
def list_backups(path: str | os.PathLike) -> list[dict]:
    """Backups newest first: {'index', 'path', 'ok', 'saved', 'labels', 'error'}."""
    root = project_root(path)
    out = []
    for k in range(1, N_BACKUPS + 1):
        p = backup_path(root, k)
        if not p.exists():
            continue
        try:
            st = _read_h5(p)
            out.append({"index": k, "path": p, "ok": True, "saved": st.saved, "labels": len(st.labels),
                        "error": None})
        except (ProjectError, _Unreadable) as exc:
            out.append({"index": k, "path": p, "ok": False, "saved": None, "labels": None, "error": str(exc)})
    return out


def newest_good_backup(path: str | os.PathLike) -> dict | None:
    for b in list_backups(path):
        if b["ok"]:
            return b
    return None


def _stamp(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "?"


def _unreadable_message(root: Path, reason: str) -> str:
    good = newest_good_backup(root)
    if good is None:
        offer = "no readable backup (project.h5.bak1..3) was found"
    else:
        offer = (f"the newest good backup is {good['path'].name} (saved {_stamp(good['saved'])}, "
                 f"{good['labels']} labels): run `pfes restore-backup {root}` or open it with "
                 f"Project.open(path, from_backup={good['index']})")
    return f"project.h5 in {root} cannot be read: {reason}; {offer}"


def restore_backup(path: str | os.PathLike, backup: int | None = None) -> Path:
    """Make a backup the current project.h5 (the newest good one by default); returns the backup used.

    The damaged project.h5 is kept as project.h5.damaged-<time>; a journal of unsaved edits made on
    top of it is kept as journal.jsonl.orphaned-<time> (it cannot be replayed on an older state).
    """
    root = project_root(path)
    if not root.is_dir():
        raise ProjectError(f"no project at {root}")
    lock = ProjectLock(root)
    lock.acquire()
    try:
        if backup is None:
            good = newest_good_backup(root)
            if good is None:
                raise ProjectError(f"no readable backup (project.h5.bak1..3) in {root}")
            src = good["path"]
        else:
            src = backup_path(root, int(backup))
            try:
                _read_h5(src)
            except _Unreadable as exc:
                raise ProjectError(f"backup {src.name} cannot be read either: {exc}") from None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        h5 = root / H5_NAME
        if h5.exists():
            os.replace(h5, root / f"{H5_NAME}.damaged-{stamp}")
        journal = root / JOURNAL_NAME
        _, records, _, _ = read_journal(journal)
        if records:
            os.replace(journal, root / f"{JOURNAL_NAME}.orphaned-{stamp}")
        tmp = root / (H5_NAME + ".tmp")
        shutil.copyfile(src, tmp)
        _fsync_path(tmp)
        os.replace(tmp, h5)
        _fsync_dir(root)
        return src
    finally:
        lock.release()


# ---- video probing ----------------------------------------------------------------------------
def probe_video(path: Path) -> tuple[float, int, str]:
    """(fps, measured frame count, content fingerprint) of a video file or image folder."""
    from .video import open_video, video_fingerprint

    reader = open_video(path, step=1)
    try:
        return float(reader.fps), int(reader.n_frames), video_fingerprint(path)
    finally:
        reader.close()


def _check_video_id(video_id: str) -> str:
    video_id = str(video_id).strip()
    if not video_id or video_id.startswith(".") or any(c in video_id for c in '/\\:*?"<>|\n\r\t'):
        raise ProjectError(f"invalid video id {video_id!r} (used as a file name: no slashes or leading dot)")
    return video_id


def _interval_to_dict(iv: Interval) -> dict:
    return {"video": iv.video, "cls": iv.cls, "onset": iv.onset, "apex": iv.apex, "offset": iv.offset,
            "score": iv.score}


def _record_to_dict(r: VideoRecord) -> dict:
    return {"id": r.id, "path": r.path, "fps": r.fps, "n_frames": r.n_frames, "fingerprint": r.fingerprint,
            "subject": r.subject, "step": r.step, "extra": r.extra}


# ---- the project -----------------------------------------------------------------------------
class Project:
    """An open project. Create with Project.create(path) or Project.open(path[, readonly])."""

    def __init__(self, root: Path, readonly: bool, durable: bool = False):
        self.root = root
        self.h5_path = root / H5_NAME
        self.journal_path = root / JOURNAL_NAME
        self.features_dir = root / "features"
        self.runs_dir = root / "runs"
        self.readonly = readonly
        self.videos: dict[str, VideoRecord] = {}
        self.labels = LabelStore()
        self.reference: dict[str, list[Interval]] = {}
        self.reviews = ReviewStore()
        self.settings: dict = {}
        self.generation = 0
        self.recovered_edits = 0
        self.journal_skipped = 0         # undecodable journal lines passed over on open
        self.replay_errors: list[str] = []
        self.opened_from_backup: Path | None = None
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []
        self._dirty = False
        self._saved_settings = "{}"
        self._journal = Journal(self.journal_path, durable=durable) if not readonly else None
        self._lock = ProjectLock(root) if not readonly else None
        self._closed = False

    # ---- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, durable: bool = False) -> "Project":
        """Make NAME.pfes/ (suffix added if missing) with an empty project.h5; returns it open and locked."""
        root = Path(path).expanduser()
        if root.suffix != SUFFIX:
            root = root.with_name(root.name + SUFFIX)
        root = root.absolute()
        if (root / H5_NAME).exists() or backup_path(root, 1).exists():
            raise ProjectError(f"{root} is already a project")
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise ProjectError(f"{root} exists and is not an empty folder")
        root.mkdir(parents=True, exist_ok=True)
        project = cls(root, readonly=False, durable=durable)
        project._lock.acquire()
        try:
            project.features_dir.mkdir(exist_ok=True)
            project.runs_dir.mkdir(exist_ok=True)
            project._dirty = True
            project.save()
        except BaseException:
            project.close()
            raise
        return project

    @classmethod
    def open(cls, path: str | os.PathLike, readonly: bool = False, from_backup: int | bool | None = None,
             durable: bool = False) -> "Project":
        """Open a project, replaying unsaved edits from journal.jsonl.

        `durable=True` fdatasyncs the journal after every edit (see pfes_core.journal for the trade-off).
        `from_backup`: load project.h5.bak<k> (k=1..3; True = newest good one) instead of a damaged
        project.h5; the next save() writes it back as project.h5.
        """
        root = project_root(path)
        if not (root / H5_NAME).exists() and not backup_path(root, 1).exists():
            raise ProjectError(f"no project at {root} (expected {H5_NAME}; create one with `pfes init`)")
        project = cls(root, readonly=readonly, durable=durable)
        if project._lock is not None:
            project._lock.acquire()
        try:
            project._load(from_backup)
        except BaseException:
            project.close()
            raise
        return project

    def _load(self, from_backup: int | bool | None) -> None:
        source = self.h5_path
        if from_backup:
            if from_backup is True:
                good = newest_good_backup(self.root)
                if good is None:
                    raise ProjectError(f"no readable backup (project.h5.bak1..3) in {self.root}")
                source = good["path"]
            else:
                source = backup_path(self.root, int(from_backup))
        try:
            st = _read_h5(source)
        except _Unreadable as exc:
            if source == self.h5_path:
                raise ProjectError(_unreadable_message(self.root, str(exc))) from None
            raise ProjectError(f"backup {source.name} cannot be read: {exc}") from None
        self.generation = st.generation
        self.settings = st.settings
        self._saved_settings = json.dumps(st.settings, sort_keys=True)
        self.videos = dict(st.videos)
        self.labels = LabelStore(st.labels)
        self.reference = {v: sorted(ivs, key=lambda iv: (iv.onset, iv.offset)) for v, ivs in st.reference.items()}
        self.reviews = ReviewStore(st.reviews)
        if source != self.h5_path:
            self.opened_from_backup = source
            self._dirty = True

        header, records, valid_bytes, skipped = read_journal(self.journal_path)
        matches = header is not None and header.get("generation") == self.generation
        if matches:
            self.journal_skipped = skipped
            for record in records:
                try:
                    self._replay(record)
                    self.recovered_edits += 1
                except (ProjectError, LabelError, VideoError, KeyError, TypeError, ValueError) as exc:
                    self.replay_errors.append(f"{record.get('op')}: {exc}")
            if self.recovered_edits:
                self._dirty = True
        if self.readonly:
            return
        if matches:
            self._journal.open_existing(valid_bytes, len(records))
        else:
            if records and self.opened_from_backup is not None:
                os.replace(self.journal_path,
                           self.root / f"{JOURNAL_NAME}.orphaned-{time.strftime('%Y%m%d-%H%M%S')}")
            # Otherwise a mismatched journal holds edits that are already in project.h5
            # (crash after the file was replaced but before the journal was cleared).
            self._journal.reset(self.generation)

    def _replay(self, record: dict) -> None:
        op = record.get("op")
        if op == "apply":
            self._do_apply(edit_from_dict(record["edit"]))
        elif op == "undo":
            self._do_undo()
        elif op == "redo":
            self._do_redo()
        elif op == "add_video":
            self._do_add_video(VideoRecord(**record["record"]))
        elif op == "set_reference":
            self._do_set_reference([Interval(**d) for d in record["intervals"]], record.get("videos") or [])
        elif op == "settings":
            self.settings = dict(record["settings"])
        else:
            raise ProjectError(f"unknown journal entry {op!r}")

    # ---- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock. Unsaved edits stay in journal.jsonl and come back on the next open."""
        if self._closed:
            return
        self._closed = True
        if self._journal is not None:
            self._journal.close()
        if self._lock is not None:
            self._lock.release()

    @property
    def is_dirty(self) -> bool:
        return self._dirty or json.dumps(self.settings, sort_keys=True) != self._saved_settings

    @property
    def unsaved_edits(self) -> int:
        """Journal entries since the last save (including those recovered on open)."""
        return self._journal.count if self._journal is not None else self.recovered_edits

    def _check_writable(self) -> None:
        if self._closed:
            raise ProjectError("the project is closed")
        if self.readonly:
            raise ProjectError(f"{self.root} is open read-only")

    def _journal_append(self, record: dict) -> None:
        self._journal.append(record)

    # ---- edits -----------------------------------------------------------------------------
    def apply(self, edit: Edit) -> Edit:
        """Apply an edit (LabelError when invalid, nothing changed), journal it, push it on the undo stack."""
        self._check_writable()
        self._do_apply(edit)
        try:
            self._journal_append({"op": "apply", "edit": edit.to_dict()})
        except BaseException:
            edit.inverse().apply(self)
            self._undo.pop()
            raise
        return edit

    def _do_apply(self, edit: Edit) -> None:
        edit.apply(self)
        self._undo.append(edit)
        self._redo.clear()
        self._dirty = True

    def undo(self) -> Edit | None:
        """Revert the last edit; returns it, or None when there is nothing to undo."""
        self._check_writable()
        edit = self._do_undo()
        if edit is not None:
            self._journal_append({"op": "undo"})
        return edit

    def redo(self) -> Edit | None:
        self._check_writable()
        edit = self._do_redo()
        if edit is not None:
            self._journal_append({"op": "redo"})
        return edit

    def _do_undo(self) -> Edit | None:
        if not self._undo:
            return None
        edit = self._undo[-1]
        edit.inverse().apply(self)
        self._undo.pop()
        self._redo.append(edit)
        self._dirty = True
        return edit

    def _do_redo(self) -> Edit | None:
        if not self._redo:
            return None
        edit = self._redo[-1]
        edit.apply(self)
        self._redo.pop()
        self._undo.append(edit)
        self._dirty = True
        return edit

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    # ---- videos ----------------------------------------------------------------------------
    def add_video(self, path: str | os.PathLike, subject: str = "", video_id: str | None = None,
                  fps: float | None = None, n_frames: int | None = None, fingerprint: str | None = None,
                  step: int = 1) -> VideoRecord:
        """Register a video (file or image folder). Frame count, fps and fingerprint are measured
        unless all are given. The path is stored relative to the project folder."""
        self._check_writable()
        media = Path(path).expanduser().absolute()
        vid = _check_video_id(video_id if video_id is not None else (media.stem if media.is_file() else media.name))
        if vid in self.videos:
            raise ProjectError(f"a video with id {vid!r} is already registered (choose another with --id)")
        if int(step) < 1:
            raise ProjectError(f"step must be at least 1, got {step}")
        if fps is None or n_frames is None or fingerprint is None:
            if not media.exists():
                raise VideoError(f"video not found: {media}")
            m_fps, m_n, m_fp = probe_video(media)
            fps = m_fps if fps is None else fps
            n_frames = m_n if n_frames is None else n_frames
            fingerprint = m_fp if fingerprint is None else fingerprint
        if int(n_frames) <= 0:
            raise VideoError(f"{media} has no frames")
        try:
            rel = Path(os.path.relpath(media, self.root)).as_posix()
        except ValueError:  # another drive on Windows
            rel = media.as_posix()
        record = VideoRecord(vid, rel, float(fps), int(n_frames), str(fingerprint), str(subject or ""), int(step))
        self._do_add_video(record)
        self._journal_append({"op": "add_video", "record": _record_to_dict(record)})
        return record

    def _do_add_video(self, record: VideoRecord) -> None:
        if record.id in self.videos:
            raise ProjectError(f"a video with id {record.id!r} is already registered")
        self.videos[record.id] = record
        self._dirty = True

    def video_path(self, video_id: str) -> Path:
        record = self.videos.get(video_id)
        if record is None:
            raise ProjectError(f"unknown video {video_id!r}")
        p = Path(record.path)
        return p if p.is_absolute() else Path(os.path.normpath(self.root / p))

    # ---- reference intervals and settings ------------------------------------------------------
    def set_reference(self, intervals: Iterable[Interval], videos: Iterable[str] = ()) -> None:
        """Replace the reference (ground truth) of every video named in `intervals` or `videos`."""
        self._check_writable()
        intervals = list(intervals)
        videos = list(videos)
        checked = self._do_set_reference(intervals, videos)
        self._journal_append({"op": "set_reference", "intervals": [_interval_to_dict(iv) for iv in checked],
                              "videos": videos})

    def _do_set_reference(self, intervals: list[Interval], videos: list[str]) -> list[Interval]:
        checked: list[Interval] = []
        for iv in intervals:
            record = self.videos.get(iv.video)
            if record is None:
                raise LabelError(f"reference interval for unknown video {iv.video!r}")
            on, ap, off = int(iv.onset), int(iv.apex), int(iv.offset)
            if not 0 <= on <= ap <= off:
                raise LabelError(f"reference interval {on}-{ap}-{off} of {iv.video!r} needs "
                                 f"0 <= onset <= apex <= offset")
            if off >= record.n_frames:
                raise LabelError(f"reference interval {on}-{off} is past the end of {iv.video!r} "
                                 f"({record.n_frames} frames)")
            checked.append(Interval(iv.video, parse_class(iv.cls), on, ap, off,
                                    None if iv.score is None else float(iv.score)))
        for v in videos:
            if v not in self.videos:
                raise LabelError(f"unknown video {v!r}")
        touched = set(videos) | {iv.video for iv in checked}
        for v in touched:
            self.reference.pop(v, None)
        for iv in checked:
            self.reference.setdefault(iv.video, []).append(iv)
        for v in touched:
            if v in self.reference:
                self.reference[v].sort(key=lambda iv: (iv.onset, iv.offset))
        self._dirty = True
        return checked

    def update_settings(self, values: dict) -> None:
        """Merge `values` into settings and journal the result (direct edits of .settings are saved
        on save() but are not crash-safe)."""
        self._check_writable()
        merged = dict(self.settings)
        merged.update(values)
        text = json.dumps(merged, sort_keys=True)  # raises TypeError for non-JSON values, before changing
        self.settings = json.loads(text)
        self._journal_append({"op": "settings", "settings": self.settings})

    # ---- saving ----------------------------------------------------------------------------
    def save(self) -> None:
        """Write project.h5 atomically, rotate backups, clear the journal."""
        self._check_writable()
        try:
            json.dumps(self.settings)
        except TypeError as exc:
            raise ProjectError(f"settings are not JSON-serialisable: {exc}") from None
        generation = self.generation + 1
        tmp = self.root / (H5_NAME + ".tmp")
        try:
            _write_h5(tmp, generation, self.settings, self.videos, self.labels.all(), self.reference,
                      self.reviews.all())
            _fsync_path(tmp)
        except OSError as exc:
            raise ProjectError(f"could not save {self.h5_path}: {exc}") from None
        if self.h5_path.exists():
            if self.opened_from_backup is None or self.opened_from_backup == self.h5_path:
                for k in range(N_BACKUPS, 1, -1):
                    older = backup_path(self.root, k - 1)
                    if older.exists():
                        os.replace(older, backup_path(self.root, k))
                bak1 = backup_path(self.root, 1)
                try:
                    os.link(self.h5_path, bak1)
                except FileExistsError:
                    os.unlink(bak1)
                    os.link(self.h5_path, bak1)
                except OSError:
                    shutil.copy2(self.h5_path, bak1)
            else:
                # The current file is the damaged one we opened around: keep it aside, not as a backup.
                os.replace(self.h5_path, self.root / f"{H5_NAME}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(tmp, self.h5_path)
        _fsync_dir(self.root)
        self.generation = generation
        self._journal.reset(generation)
        self._dirty = False
        self.opened_from_backup = None
        self._saved_settings = json.dumps(self.settings, sort_keys=True)

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r}, videos={len(self.videos)}, labels={len(self.labels)})"
