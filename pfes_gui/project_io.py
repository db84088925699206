"""Project I/O: the project's life cycle (new, open, close) and everything the File menu brings
in (videos, image folders, point labels, reference intervals). Opening reads project.h5 on a
worker thread (``SaveController.run_in_worker``); every failure ends in a dialog, never an
exception."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from pfes_core.errors import PfesError, ProjectError, ProjectLockedError

from . import dialogs


class ProjectController(QObject):
    probe_done = Signal(object)        # (path, result or exception) from the add-video thread

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.probes_pending = 0
        self.probe_done.connect(self._add_probed_video)

    def install_actions(self, menu) -> None:
        w = self.w
        w.register_action("file.new", self.new_project_dialog, menu)
        w.register_action("file.open", self.open_project_dialog, menu)
        w.session.install_actions(menu)
        menu.addSeparator()
        w.register_action("file.add_videos", self.add_videos_dialog, menu)
        w.register_action("file.add_image_folder", self.add_image_folder_dialog, menu)
        w.register_action("file.import_labels", self.import_labels_dialog, menu)
        w.register_action("file.import_reference", self.import_reference_dialog, menu)
        menu.addSeparator()
        w.register_action("file.export_points", self.export_points_dialog, menu)
        w.register_action("file.remove_video", self.remove_video_dialog, menu)

    # ---- life cycle ----------------------------------------------------------------------------
    def open_project(self, path, readonly: bool = False) -> bool:
        """Open a project folder; every failure ends in a dialog, never an exception.

        The new project is opened before the current one is closed, so a failed open (not a
        project, locked, damaged) leaves the current project open and untouched.
        """
        w = self.w
        same = w.project is not None and _same_folder(w.project.root, path)
        if same and not self.close_project():     # reopening the open project: release it first
            return False
        project = self._open_new(path, readonly)
        if project is None:
            return False
        if not self.close_project():
            project.close()
            return False
        self.set_project(project)
        return True

    def _open_new(self, path, readonly: bool):
        """Project.open on a worker; None after telling the user why it failed."""
        from pfes_core.project import Project, newest_good_backup

        w = self.w
        name = Path(path).name
        try:
            return w.saver.run_in_worker(lambda: Project.open(path, readonly=readonly),
                                         f"Opening {name}...")
        except ProjectLockedError as exc:
            if readonly or not dialogs.ask_yes_no(w, "Project in use",
                                                  f"{exc}\n\nOpen it read-only (no edits)?",
                                                  default_yes=False):
                return None
            return self._open_new(path, readonly=True)
        except ProjectError as exc:
            if not (Path(path) / "project.h5").exists() and "no project at" in str(exc):
                dialogs.error(w, "Cannot open project",
                              f"{path} is not a P-FES project (it has no project.h5). To start "
                              f"a new project, use File -> New project.")
                return None
            try:
                good = newest_good_backup(path)
            except PfesError:
                good = None
            if good is None or "cannot be read" not in str(exc):
                dialogs.error(w, "Cannot open project", str(exc))
                return None
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(good["saved"])) \
                if good.get("saved") else "an earlier save"
            question = (f"{exc}\n\nOpen the newest good backup instead ({good['path'].name}, "
                        f"saved {when}, {good['labels']} labels)? Saving writes it back as "
                        f"project.h5; the damaged file is kept.")
            if not dialogs.ask_yes_no(w, "Project is damaged", question):
                return None
            try:
                return w.saver.run_in_worker(
                    lambda: Project.open(path, readonly=readonly, from_backup=True),
                    f"Opening the backup of {name}...")
            except PfesError as exc2:
                dialogs.error(w, "Cannot open the backup either", str(exc2))
                return None
        except PfesError as exc:
            dialogs.error(w, "Cannot open project", str(exc))
            return None
        except OSError as exc:
            dialogs.error(w, "Cannot open project", f"{path}: {exc.strerror or exc}")
            return None

    def new_project(self, path) -> bool:
        from pfes_core.project import Project

        w = self.w
        if not self.close_project():
            return False
        try:
            project = Project.create(path)
        except (PfesError, OSError) as exc:
            dialogs.error(w, "Cannot create project", str(exc))
            return False
        self.set_project(project)
        return True

    def set_project(self, project) -> None:
        w = self.w
        w.project = project
        w.undo_stack.clear()
        w.display.reported_failures.clear()
        w.video_list.set_project(project)
        w.current_video_id = None
        w.frame_view.clear("Choose a video in the list (or File -> Add videos)")
        w.timeline.set_video(1, w.fps)
        w.update_enabled()
        w.saver.update_save_state()
        w.project_changed.emit()
        notes = []
        if project.recovered_edits:
            n = project.recovered_edits
            plural = "s" if n != 1 else ""
            if not w.readonly() and w.save():
                notes.append(f"Recovered {n} unsaved edit{plural} from the journal after an "
                             f"unexpected exit and saved them to project.h5.")
            else:
                notes.append(f"Recovered {n} unsaved edit{plural} from the journal after an "
                             f"unexpected exit. They are in place and stay in the journal.")
        if getattr(project, "rejected_edits", 0):
            notes.append(f"{project.rejected_edits} journal line{'s' if project.rejected_edits != 1 else ''} "
                         f"could not be used (damaged or invalid); kept in journal.rejected, not replayed.")
        if getattr(project, "interrupted_runs", None):
            notes.append(f"Training run {', '.join(project.interrupted_runs)} stopped without finishing; "
                         f"marked interrupted (resumable).")
        if getattr(project, "opened_from_backup", None) is not None:
            notes.append(f"Opened from backup {project.opened_from_backup.name}.")
        if getattr(project, "readonly", False):
            notes.append("Read-only: another process holds this project; edits are disabled.")
        # "Save now" only where there is something a save would fix and saving is possible.
        w.banner_save.setVisible(not w.readonly() and w.saver.is_dirty())
        if notes:
            w.banner_text.setText(" ".join(notes))
            w.banner.show()
        else:
            w.banner.hide()
        if project.videos:
            last = w.session.last_video()
            w.set_video(last if last is not None else next(iter(project.videos)))

    def close_project(self) -> bool:
        """Save and release the open project. False only when the user chose to keep it open."""
        w = self.w
        if w.project is None:
            return True
        w.playback.stop()
        w.session.store_position()
        w.saver.wait_for_save()
        if w.saver.is_dirty() and not w.readonly():
            project = w.project
            try:
                w.saver.run_in_worker(project.save, "Saving...")
            except (PfesError, OSError) as exc:
                if not dialogs.ask_yes_no(
                        w, "Save failed",
                        f"{exc}\n\nClose anyway? Your edits stay in the journal and come back "
                        f"the next time you open the project.", default_yes=False):
                    return False
        try:
            w.project.close()
        except (PfesError, OSError):
            pass
        w.project = None
        w.current_video_id = None
        w.undo_stack.clear()
        w.video_list.set_project(None)
        w.frame_view.clear()
        w.timeline.set_video(1, 30.0)
        w.banner.hide()
        w.update_enabled()
        w.saver.update_save_state()
        w.project_changed.emit()
        return True

    # ---- File menu dialogs ---------------------------------------------------------------------
    def new_project_dialog(self) -> None:
        path = dialogs.get_save_file(self.w, "New project (a NAME.pfes folder)",
                                     "P-FES project (*.pfes)")
        if path and self.new_project(path):
            self.add_videos_dialog()

    def open_project_dialog(self) -> None:
        path = dialogs.get_existing_dir(self.w, "Open project (a NAME.pfes folder)")
        if path:
            self.open_project(path)

    def add_videos_dialog(self) -> None:
        if self.w.project is None:
            return
        paths = dialogs.get_open_files(
            self.w, "Add videos", "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v);;All files (*)")
        self.add_videos(paths)

    def add_image_folder_dialog(self) -> None:
        if self.w.project is None:
            return
        path = dialogs.get_existing_dir(self.w, "Add a folder of numbered images")
        if path:
            self.add_videos([path])

    # ---- adding videos -------------------------------------------------------------------------
    def add_videos(self, paths) -> None:
        """Probe each video on a thread (frame count, fps, fingerprint), then register it."""
        for path in paths:
            self.probes_pending += 1
            threading.Thread(target=self._probe, args=(str(path),), daemon=True).start()
        if paths:
            self.w.show_status(f"Reading {len(paths)} video(s)...", 0)

    def _probe(self, path: str) -> None:
        try:
            from pfes_core.project import probe_video

            result = probe_video(Path(path))
        except Exception as exc:  # noqa: BLE001 - reported in a dialog on the GUI thread
            result = exc
        self.probe_done.emit((path, result))

    def _add_probed_video(self, payload) -> None:
        w = self.w
        path, result = payload
        self.probes_pending -= 1
        if self.probes_pending <= 0:
            w.statusBar().clearMessage()
        if w.project is None:
            return
        if isinstance(result, BaseException):
            message = str(result) if isinstance(result, PfesError) else f"{Path(path).name}: {result}"
            dialogs.error(w, "Cannot add video", message)
            return
        fps, n_frames, fingerprint = result
        w.saver.wait_for_save()
        if w.project is None:
            return
        try:
            record = w.project.add_video(path, fps=fps, n_frames=n_frames, fingerprint=fingerprint)
        except PfesError as exc:
            dialogs.error(w, "Cannot add video", str(exc))
            return
        w.video_list.set_project(w.project)
        w.saver.mark_dirty()
        if w.current_video_id is None:
            w.set_video(record.id)
        else:
            w.video_list.select(w.current_video_id)

    # ---- imports -------------------------------------------------------------------------------
    def import_labels_dialog(self) -> None:
        if self.w.project is None:
            return
        path = dialogs.get_open_file(self.w, "Import point labels",
                                     "Labels (*.csv *.json);;All files (*)")
        if path:
            self.import_labels(path)

    def import_labels(self, path) -> bool:
        from pfes_core.labelfiles import read_points

        from .import_dialog import add_point_labels

        frames = {v: r.n_frames for v, r in self.w.project.videos.items()}   # errors then name the line
        try:
            labels = read_points(path, n_frames=frames)
        except (PfesError, OSError) as exc:
            dialogs.error(self.w, "Cannot import labels", str(exc))
            return False
        return add_point_labels(self.w, labels, Path(path).name)

    def import_reference_dialog(self) -> None:
        if self.w.project is None:
            return
        path = dialogs.get_open_file(self.w, "Import reference intervals",
                                     "Intervals (*.csv);;All files (*)")
        if path:
            self.import_reference(path)

    def import_reference(self, path) -> bool:
        from pfes_core.labelfiles import read_intervals

        from .import_dialog import set_reference_intervals

        try:
            intervals = read_intervals(path)
        except (PfesError, OSError) as exc:
            dialogs.error(self.w, "Cannot import reference intervals", str(exc))
            return False
        return set_reference_intervals(self.w, intervals, Path(path).name)

    # ---- export and removal ----------------------------------------------------------------------
    def export_points_dialog(self) -> None:
        w = self.w
        if w.project is None:
            return
        start = str(Path(w.project.root).parent / f"{Path(w.project.root).stem}-points.csv")
        path = dialogs.get_save_file(w, "Export point labels", "CSV (*.csv);;JSON (*.json);;"
                                     "ELAN, one file per video (*.eaf)", start)
        if path:
            self.export_points(path)

    def export_points(self, path) -> list[Path]:
        """Every point label of the project to CSV/JSON/EAF, as `pfes labels export` writes them
        (the file dialog already asked before replacing a file)."""
        from pfes_core.cli.project_cmds import export_points

        w = self.w
        project = w.project
        labels = project.labels.all()
        fps = {v.id: v.fps for v in project.videos.values()}
        media = {}
        for vid in project.videos:
            try:
                media_path = project.video_path(vid)
            except PfesError:
                continue
            if not media_path.is_dir():
                media[vid] = media_path
        try:
            files = export_points(path, labels, fps, media, list(project.videos), overwrite=True)
        except (PfesError, OSError) as exc:
            dialogs.error(w, "Export failed", str(exc))
            return []
        w.show_status(f"Exported {len(labels)} point labels to "
                      f"{', '.join(f.name for f in files[:3])}{' ...' if len(files) > 3 else ''}", 6000)
        return files

    def remove_video_dialog(self) -> None:
        w = self.w
        vid = w.current_video_id
        if w.project is None or vid is None or w.readonly():
            return
        counts = w.project.labels.counts().get(vid, {})
        n_labels = sum(counts.values())
        n_reviews = len(w.project.reviews.for_video(vid))
        question = (f"Remove video {vid} from the project?\n\nIts {n_labels} point label"
                    f"{'s' if n_labels != 1 else ''}, its reference intervals and {n_reviews} review "
                    f"decision{'s' if n_reviews != 1 else ''} are removed with it. This cannot be "
                    f"undone (Ctrl+Z). The video file and its extracted features stay on disk; "
                    f"export the point labels first if you may need them.")
        if dialogs.ask_yes_no(w, "Remove video", question, default_yes=False):
            self.remove_video(vid)

    def remove_video(self, video_id: str) -> bool:
        """Remove a video (journaled by the project); the window moves to a neighbour video."""
        w = self.w
        ids = w.video_list.video_ids()
        w.playback.stop()
        w.saver.wait_for_save()
        try:
            w.project.remove_video(video_id)
        except (PfesError, OSError) as exc:
            dialogs.error(w, "Cannot remove video", str(exc))
            return False
        w.undo_stack.clear()                 # earlier edits may refer to the removed video
        w.session.positions["frames"].pop(video_id, None)
        rest = [v for v in ids if v != video_id]
        if w.current_video_id == video_id:
            w.current_video_id = None
            w.frame_view.clear("Choose a video in the list (or File -> Add videos)")
            w.timeline.set_video(1, w.fps)
        w.video_list.set_project(w.project)
        w.saver.mark_dirty()
        w.project_changed.emit()
        if w.current_video_id is None and rest:
            i = ids.index(video_id) if video_id in ids else 0
            w.set_video(rest[min(i, len(rest) - 1)])
        w.labels_changed.emit()
        w.show_status(f"Removed video {video_id}", 6000)
        return True


def _same_folder(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def install(window) -> ProjectController:
    window.projects = ProjectController(window)
    return window.projects
