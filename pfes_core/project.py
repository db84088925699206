"""The project store: a folder ``NAME.pfes/`` with ``project.h5``, ``journal.jsonl`` and a lock.

Why this shape (DESIGN.md section 2):
- project.h5 is read fully on open and written fully on save, so no process ever holds it open
  (HDF5 refuses a writer and a reader in two processes at once).
- A save builds the new file in memory, writes it to a temp file beside project.h5, fsyncs it,
  keeps the previous file as ``project.h5.bak1`` (older ones roll to bak2, bak3) and renames the
  new one in: a crash or a full disk mid-save leaves the old project intact, and a file
  corrupted later can be taken back from a backup.
- Between saves every change is appended to journal.jsonl before the call returns and replayed
  on the next open, so a crash loses nothing that was acknowledged; an edit whose journal line
  cannot be written (disk full) is undone and reported, so nothing is acknowledged that is not
  on disk. Journal lines that cannot be used are moved to journal.rejected and counted.
- A lock file keeps a second writer out; ``readonly=True`` skips it (training workers, `pfes info`).
- A project.h5 of an older schema is migrated when opened for writing: read as it is, written back
  at once in the current schema (the old file stays as project.h5.bak1), so an older app that
  cannot read the new schema refuses the file instead of misreading it.
- What is read is distrusted (see project_file and safe_paths): values out of range are refused
  with the file and field named, and no id read from the project can name a path outside it.

The layout of project.h5 is described in pfes_core.project_file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Iterable

from . import atomic
from .errors import LabelError, PfesError, ProjectError, VideoError
from .journal import JOURNAL_NAME, REJECTED_NAME, Journal, read_journal
from .backups import (N_BACKUPS, SUFFIX, backup_path, copy_or_link, fsync_dir, list_backups,
                      newest_good_backup, project_root, restore_backup, unreadable_message)
from .labels import Edit, LabelStore, edit_from_dict
from .lock import ProjectLock
from .project_file import (FORMAT, H5_NAME, SCHEMA_VERSION, Unreadable, annotator_problem, colour_problem,
                           read_state, video_problem, write_image)
from .reviews import ReviewStore
from .safe_paths import inside, safe_id
from .types import Interval, VideoRecord, parse_class

__all__ = ["Project", "project_root", "backup_path", "list_backups", "newest_good_backup", "restore_backup",
           "probe_video", "SUFFIX", "H5_NAME", "SCHEMA_VERSION", "FORMAT", "N_BACKUPS"]


# ---- video probing ----------------------------------------------------------------------------
def probe_video(path: Path) -> tuple[float, int, str]:
    """(fps, measured frame count, content fingerprint) of a video file or image folder."""
    from .video import open_video, video_fingerprint

    reader = open_video(path, step=1, check_frames=True)   # every image of a folder, too
    try:
        return float(reader.fps), int(reader.n_frames), video_fingerprint(path)
    finally:
        reader.close()


def _interval_to_dict(iv: Interval) -> dict:
    return {"video": iv.video, "cls": iv.cls, "onset": iv.onset, "apex": iv.apex, "offset": iv.offset,
            "score": iv.score}


def _record_from_dict(d: dict) -> VideoRecord:
    """A video record from a journal line, checked like one read from project.h5."""
    record = VideoRecord(str(d["id"]), str(d["path"]), float(d["fps"]), int(d["n_frames"]),
                         str(d.get("fingerprint", "")), str(d.get("subject", "")), int(d.get("step", 1)),
                         dict(d.get("extra") or {}))
    problem = video_problem(record)
    if problem:
        raise ProjectError(f"invalid video record: {problem}")
    return record


def _record_to_dict(r: VideoRecord) -> dict:
    return {"id": r.id, "path": r.path, "fps": r.fps, "n_frames": r.n_frames, "fingerprint": r.fingerprint,
            "subject": r.subject, "step": r.step, "extra": r.extra}


# ---- the project -----------------------------------------------------------------------------
_TEMP_PATTERNS = (f"{H5_NAME}.tmp", f".{H5_NAME}.*.tmp", f".{H5_NAME}.bak*.tmp", f"{JOURNAL_NAME}.tmp",
                  f".{JOURNAL_NAME}.*.tmp")


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
        self.registered_annotators: dict[str, str] = {}  # the annotator list: name -> layer colour
        self.migrated_from: int | None = None  # the schema project.h5 had when it was opened, if older
        self.migration_error: str | None = None  # why that older file could not be rewritten yet
        self.generation = 0
        self.recovered_edits = 0
        self.journal_skipped = 0         # undecodable journal lines (garbage, bit flips) found on open
        self.replay_errors: list[str] = []  # why decodable journal lines could not be replayed
        self.rejected_edits = 0          # both together: kept in journal.rejected, not replayed
        self.orphaned_edits = 0          # a journal for another state of project.h5, kept aside
        self.interrupted_runs: list[str] = []  # runs left "running" by a dead process, marked on open
        self.opened_from_backup: Path | None = None
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []
        self._dirty = False
        self._saved_settings = "{}"
        self._journal = Journal(self.journal_path, durable=durable) if not readonly else None
        self._journal_lost = False       # set when a save could not start a new journal
        self._lock = ProjectLock(root) if not readonly else None
        self._closed = False

    # ---- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, durable: bool = False) -> "Project":
        """Make NAME.pfes/ (suffix added if missing) with an empty project.h5; returns it open and locked.

        If that fails (disk full, read-only folder) nothing of the new project is left behind."""
        root = Path(path).expanduser()
        if root.suffix != SUFFIX:
            root = root.with_name(root.name + SUFFIX)
        root = root.absolute()
        if (root / H5_NAME).exists() or backup_path(root, 1).exists():
            raise ProjectError(f"{root} is already a project")
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise ProjectError(f"{root} exists and is not an empty folder")
        made = not root.exists()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"cannot create {root} ({exc.strerror or exc})") from None
        project = cls(root, readonly=False, durable=durable)
        try:
            project._lock.acquire()
            project.features_dir.mkdir(exist_ok=True)
            project.runs_dir.mkdir(exist_ok=True)
            project._dirty = True
            project.save()
        except BaseException as exc:
            project.close()
            for child in ([root] if made else list(root.iterdir())):
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        child.unlink()
            if isinstance(exc, OSError):
                raise ProjectError(f"cannot create the project {root} ({exc.strerror or exc})") from None
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
        try:
            if project._lock is not None:
                project._lock.acquire()
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
            st = read_state(source)
            labels = LabelStore(st.labels)
        except (Unreadable, LabelError) as exc:
            reason = str(exc) if isinstance(exc, Unreadable) else f"field labels holds a duplicate: {exc}"
            if source == self.h5_path:
                raise ProjectError(unreadable_message(self.root, reason)) from None
            raise ProjectError(f"backup {source} cannot be read: {reason}") from None
        self.generation = st.generation
        self.settings = st.settings
        self._saved_settings = json.dumps(st.settings, sort_keys=True)
        self.videos = dict(st.videos)
        self.labels = labels
        self.reference = {v: sorted(ivs, key=lambda iv: (iv.onset, iv.offset)) for v, ivs in st.reference.items()}
        self.reviews = ReviewStore(st.reviews)
        self.registered_annotators = dict(st.annotators)
        if st.schema_version < SCHEMA_VERSION:
            self.migrated_from = st.schema_version
            self._dirty = True
        if source != self.h5_path:
            self.opened_from_backup = source
            self._dirty = True
        self._recover_journal()
        if not self.readonly:
            self._remove_stale_temp_files()
            self._mark_interrupted_runs()
            if self.migrated_from is not None:
                self._migrate()

    def _migrate(self) -> None:
        """Write an older-schema project.h5 back in the current schema now (the old file becomes
        project.h5.bak1). A failure (read-only folder, full disk) is reported, not fatal: the
        project stays usable and the next save tries again."""
        try:
            self.save()
        except ProjectError as exc:
            self.migration_error = str(exc)

    def _recover_journal(self) -> None:
        """Replay the journal; move unusable lines to journal.rejected; set the counters."""
        contents = read_journal(self.journal_path)
        generation = contents.header.get("generation") if contents.header else None
        matches = contents.header is not None and generation == self.generation
        rejected = list(contents.rejected)
        kept: list[bytes] = []
        if matches:
            for record, raw, number in zip(contents.records, contents.raw, contents.line_numbers):
                try:
                    self._replay(record)
                except (PfesError, KeyError, TypeError, ValueError, AttributeError, IndexError,
                        OverflowError) as exc:
                    detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
                    self.replay_errors.append(f"{JOURNAL_NAME} line {number} ({str(record.get('op'))[:20]}): "
                                              f"{detail[:300]}")
                    rejected.append(raw)
                    continue
                kept.append(raw)
                self.recovered_edits += 1
            if self.recovered_edits:
                self._dirty = True
        elif contents.header is None:
            rejected += contents.raw  # no usable header: which state these edits extend is unknown
        self.journal_skipped = len(contents.rejected)
        self.rejected_edits = len(rejected)
        # A journal of an older generation holds edits already saved (crash after project.h5 was
        # replaced, before the journal was cleared); one of a newer generation, or any journal of a
        # project opened from a backup, belongs to another state of project.h5 and is kept aside.
        stale = isinstance(generation, int) and generation < self.generation and self.opened_from_backup is None
        orphaned = not matches and contents.header is not None and not stale and contents.records
        self.orphaned_edits = len(contents.records) if orphaned else 0
        if self.readonly:
            return
        if rejected:
            self._keep_rejected(rejected, generation)
        try:
            if orphaned:
                os.replace(self.journal_path,
                           self.root / f"{JOURNAL_NAME}.orphaned-{time.strftime('%Y%m%d-%H%M%S')}")
        except OSError as exc:
            raise ProjectError(f"cannot set aside {self.journal_path} ({exc.strerror or exc})") from None
        if matches and not rejected:
            self._journal.open_existing(contents.valid_bytes, len(contents.records))
        else:
            self._journal.reset(self.generation, kept)

    def _keep_rejected(self, lines: list[bytes], generation) -> None:
        """Append unusable journal lines to journal.rejected (verbatim, after a '#' note line)."""
        path = self.root / REJECTED_NAME
        note = (f"# {len(lines)} line(s) of {JOURNAL_NAME} (generation {generation}) not replayed on "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n").encode("utf-8")
        try:
            with open(path, "ab") as fh:
                fh.write(note + b"".join(line + b"\n" for line in lines))
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise ProjectError(f"{len(lines)} unusable lines of {self.journal_path} could not be kept in "
                               f"{path} ({exc.strerror or exc}); nothing was changed") from None

    def _replay(self, record: dict) -> None:
        op = record.get("op")
        if op == "apply" or (op in ("undo", "redo") and "edit" in record):
            self._do_apply(edit_from_dict(record["edit"]))
        elif op == "undo":  # journals written before undo recorded its inverse edit
            if self._do_undo() is None:
                raise ProjectError("an undo with nothing to undo")
        elif op == "redo":
            if self._do_redo() is None:
                raise ProjectError("a redo with nothing to redo")
        elif op == "add_video":
            self._do_add_video(_record_from_dict(record["record"]))
        elif op == "remove_video":
            self._do_remove_video(str(record["video"]))
        elif op == "set_reference":
            self._do_set_reference([Interval(**d) for d in record["intervals"]], list(record.get("videos") or []))
        elif op == "annotator":
            self._do_register_annotator(record["name"], record.get("colour", ""))
        elif op == "settings":
            if not isinstance(record["settings"], dict):
                raise ProjectError("settings that are not a JSON object")
            self.settings = dict(record["settings"])
        else:
            raise ProjectError(f"unknown journal entry {str(op)[:40]!r}")

    def _remove_stale_temp_files(self) -> None:
        """Temp files of saves that were killed or failed (we hold the lock: nobody else writes them)."""
        for pattern in _TEMP_PATTERNS:
            for tmp in self.root.glob(pattern):
                with contextlib.suppress(OSError):
                    tmp.unlink()

    def _mark_interrupted_runs(self) -> None:
        from .runs import mark_interrupted  # imported here: listing runs is not needed to edit labels

        try:
            self.interrupted_runs = mark_interrupted(self.root)
        except (OSError, PfesError):  # a damaged run folder must not keep the project from opening
            self.interrupted_runs = []

    def open_notes(self) -> list[str]:
        """What the user should hear about this open (the CLI prints them, the GUI shows a banner)."""
        notes = []
        if self.migrated_from is not None:
            if self.migration_error is None and not self.readonly:
                notes.append(f"migrated {H5_NAME} from project schema {self.migrated_from} to {SCHEMA_VERSION} "
                             f"(every label kept under its recorded annotator; the previous file is "
                             f"{H5_NAME}.bak1; older versions of P-FES Studio cannot open it any more)")
            else:
                why = "opened read-only" if self.readonly else self.migration_error
                notes.append(f"{H5_NAME} uses project schema {self.migrated_from}; it is written in schema "
                             f"{SCHEMA_VERSION} on the next save ({why})")
        if self.recovered_edits:
            notes.append(f"recovered {self.recovered_edits} unsaved edit{'s' if self.recovered_edits != 1 else ''} "
                         f"from {JOURNAL_NAME}")
        if self.rejected_edits:
            where = "kept in " + REJECTED_NAME if not self.readonly else f"left in {JOURNAL_NAME}"
            notes.append(f"{self.rejected_edits} journal line{'s' if self.rejected_edits != 1 else ''} could not "
                         f"be used (damaged or invalid) and {'were' if self.rejected_edits != 1 else 'was'} not "
                         f"replayed; {where}")
        if self.orphaned_edits:
            notes.append(f"{self.orphaned_edits} journaled edits belong to another version of {H5_NAME}; kept "
                         f"as {JOURNAL_NAME}.orphaned-*")
        if self.interrupted_runs:
            notes.append(f"training run{'s' if len(self.interrupted_runs) != 1 else ''} "
                         f"{', '.join(self.interrupted_runs)} stopped without finishing; marked interrupted "
                         f"(resume with `pfes train --resume RUN_ID`)")
        return notes

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
        if self._journal_lost:  # the last save could not start a journal; everything is in project.h5
            self._journal.reset(self.generation)
            self._journal_lost = False
        self._journal.append(record)

    @contextlib.contextmanager
    def all_or_nothing(self):
        """Run a step (edits and a save, as one CLI command does) whose failure leaves no trace:
        the journal is cut back to where it was, and the project reloads what is on disk."""
        self._check_writable()
        mark = self._journal.mark()
        try:
            yield self
        except BaseException:
            try:
                if not self._journal_lost:
                    self._journal.rollback(mark)
            except OSError as exc:
                raise ProjectError(f"{self.journal_path} could not be cut back after the failure "
                                   f"({exc.strerror or exc}); its last edits reappear on the next open") from None
            self._reload()
            raise

    def _reload(self) -> None:
        """Forget the in-memory state and read the project from disk again (lock kept)."""
        self._journal.close()
        fresh = Project(self.root, readonly=False, durable=self._journal.durable)
        fresh._lock = None
        fresh._load(None)
        for name in ("generation", "settings", "_saved_settings", "videos", "labels", "reference", "reviews",
                     "registered_annotators", "_dirty", "_journal"):
            setattr(self, name, getattr(fresh, name))
        self._undo, self._redo, self._journal_lost = [], [], False

    # ---- edits -----------------------------------------------------------------------------
    def apply(self, edit: Edit) -> Edit:
        """Apply an edit (LabelError when invalid, nothing changed), journal it, push it on the undo stack.

        When the journal line cannot be written the edit is taken back and ProjectError raised."""
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
        """Revert the last edit; returns it, or None when there is nothing to undo.

        The journal records the inverse edit itself (as the GUI does), not "undo": a replay after a
        save and a crash then repeats exactly what happened, whatever the undo stack held."""
        self._check_writable()
        if not self._undo:
            return None
        edit = self._undo[-1]
        inverse = edit.inverse()
        inverse.apply(self)
        try:
            self._journal_append({"op": "undo", "edit": inverse.to_dict()})
        except BaseException:
            edit.apply(self)
            raise
        self._undo.pop()
        self._redo.append(edit)
        self._dirty = True
        return edit

    def redo(self) -> Edit | None:
        """Re-apply the last undone edit (journaled as the edit itself); None when there is none."""
        self._check_writable()
        if not self._redo:
            return None
        edit = self._redo[-1]
        edit.apply(self)
        try:
            self._journal_append({"op": "redo", "edit": edit.to_dict()})
        except BaseException:
            edit.inverse().apply(self)
            raise
        self._redo.pop()
        self._undo.append(edit)
        self._dirty = True
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
        vid = safe_id(str(video_id if video_id is not None else (media.stem if media.is_file() else media.name)).strip())
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
        problem = video_problem(record)
        if problem:
            raise VideoError(f"{media}: {problem}")
        self._do_add_video(record)
        try:
            self._journal_append({"op": "add_video", "record": _record_to_dict(record)})
        except BaseException:
            del self.videos[vid]
            raise
        return record

    def _do_add_video(self, record: VideoRecord) -> None:
        if record.id in self.videos:
            raise ProjectError(f"a video with id {record.id!r} is already registered")
        self.videos[record.id] = record
        self._dirty = True

    def remove_video(self, video_id: str) -> None:
        """Forget a video with its point labels, reference intervals and review decisions
        (journaled; undo history is cleared). The media and features files stay on disk."""
        self._check_writable()
        if video_id not in self.videos:
            raise ProjectError(f"unknown video {video_id!r}")
        self._journal_append({"op": "remove_video", "video": video_id})
        self._do_remove_video(video_id)

    def _do_remove_video(self, video_id: str) -> None:
        if self.videos.pop(video_id, None) is None:
            raise ProjectError(f"unknown video {video_id!r}")
        self.labels = LabelStore([lab for lab in self.labels.all() if lab.video != video_id])
        self.reference.pop(video_id, None)
        self.reviews = ReviewStore([d for d in self.reviews.all() if d.video != video_id])
        self._undo.clear()
        self._redo.clear()
        self._dirty = True

    def video_path(self, video_id: str) -> Path:
        record = self.videos.get(video_id)
        if record is None:
            raise ProjectError(f"unknown video {video_id!r}")
        p = Path(record.path)
        return p if p.is_absolute() else Path(os.path.normpath(self.root / p))

    def features_file(self, video_id: str) -> Path:
        """features/<video>.h5, checked to stay inside features/ (see safe_paths)."""
        return inside(self.features_dir, f"{safe_id(video_id)}.h5")

    # ---- annotators --------------------------------------------------------------------------
    def annotators(self) -> list[str]:
        """The project's annotator list: registered names in the order they were added, then the
        names of labels not registered (sorted). The empty name ('(unknown)') is a valid annotator."""
        names = list(self.registered_annotators)
        seen = set(names)
        return names + [a for a in self.labels.annotators() if a not in seen]

    def annotator_colour(self, name: str) -> str:
        """The layer colour chosen for an annotator ('#rrggbb'), or '' when none was chosen."""
        return self.registered_annotators.get(name, "")

    def register_annotator(self, name: str, colour: str | None = None) -> None:
        """Add `name` to the annotator list (journaled), or change its layer colour when given."""
        self._check_writable()
        name = str(name)
        current = self.registered_annotators.get(name)
        colour = (current or "") if colour is None else str(colour)
        if current is not None and current == colour:
            return
        before = dict(self.registered_annotators)
        self._do_register_annotator(name, colour)
        try:
            self._journal_append({"op": "annotator", "name": name, "colour": colour})
        except BaseException:
            self.registered_annotators = before
            raise

    def _do_register_annotator(self, name, colour) -> None:
        for what, problem in (("name", annotator_problem(name)), ("colour", colour_problem(colour))):
            if problem is not None:
                raise ProjectError(f"annotator {what} {problem}")
        self.registered_annotators[name] = colour
        self._dirty = True

    # ---- reference intervals and settings ------------------------------------------------------
    def set_reference(self, intervals: Iterable[Interval], videos: Iterable[str] = ()) -> None:
        """Replace the reference (ground truth) of every video named in `intervals` or `videos`."""
        self._check_writable()
        intervals = list(intervals)
        videos = list(videos)
        before = dict(self.reference)
        checked = self._do_set_reference(intervals, videos)
        try:
            self._journal_append({"op": "set_reference", "intervals": [_interval_to_dict(iv) for iv in checked],
                                  "videos": videos})
        except BaseException:
            self.reference = before
            raise

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
            score = None if iv.score is None else float(iv.score)
            if score is not None and not math.isfinite(score) and not math.isnan(score):
                raise LabelError(f"reference interval {on}-{off} of {iv.video!r} has score {score}")
            checked.append(Interval(iv.video, parse_class(iv.cls), on, ap, off, score))
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
        before = self.settings
        merged = dict(self.settings)
        merged.update(values)
        text = json.dumps(merged, sort_keys=True)  # raises TypeError for non-JSON values, before changing
        self.settings = json.loads(text)
        try:
            self._journal_append({"op": "settings", "settings": self.settings})
        except BaseException:
            self.settings = before
            raise

    # ---- saving ----------------------------------------------------------------------------
    def save(self) -> None:
        """Write project.h5 atomically, rotate backups, start a fresh journal.

        On failure (disk full, folder gone read-only) ProjectError says why; project.h5, its backups
        and the journal are as they were, and no temp file is left."""
        self._check_writable()
        try:
            json.dumps(self.settings)
        except TypeError as exc:
            raise ProjectError(f"settings are not JSON-serialisable: {exc}") from None
        generation = self.generation + 1
        image = write_image(generation, self.settings, self.videos, self.labels.all(), self.reference,
                            self.reviews.all(), {a: self.annotator_colour(a) for a in self.annotators()})
        try:
            with atomic.atomic_target(self.h5_path) as tmp:
                with open(tmp, "wb") as fh:
                    fh.write(image)
                self._keep_previous_file()
            fsync_dir(self.root)
        except OSError as exc:
            raise ProjectError(f"could not save {self.h5_path} ({exc.strerror or exc}); the project on disk "
                               f"is unchanged and unsaved edits are still in {JOURNAL_NAME}") from None
        self.generation = generation
        self._dirty = False
        self.opened_from_backup = None
        self.migration_error = None
        self._saved_settings = json.dumps(self.settings, sort_keys=True)
        try:
            self._journal.reset(generation)
        except ProjectError as exc:
            self._journal_lost = True
            raise ProjectError(f"{self.h5_path} was saved, but a new journal could not be started ({exc}); "
                               f"further edits are refused until there is space again") from None

    def _keep_previous_file(self) -> None:
        """Before the new project.h5 is renamed in: the current one becomes bak1 (bak1 -> bak2 -> bak3),
        or, when it is the damaged file we opened a backup around, project.h5.damaged-<time>."""
        if not self.h5_path.exists():
            return
        if self.opened_from_backup is not None and self.opened_from_backup != self.h5_path:
            copy_or_link(self.h5_path, self.root / f"{H5_NAME}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            return
        for k in range(N_BACKUPS, 1, -1):
            older = backup_path(self.root, k - 1)
            if older.exists():
                os.replace(older, backup_path(self.root, k))
        copy_or_link(self.h5_path, backup_path(self.root, 1))

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r}, videos={len(self.videos)}, labels={len(self.labels)})"
