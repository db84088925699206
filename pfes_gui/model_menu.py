"""The Model menu and everything behind it: extract, retrain, spot, evaluate, review, export.

`install_model_menu(main_window)` is the one call the shell needs (after the window is built,
with a qasync loop installed): it registers the actions in the shared shortcut table, adds them
to the Model menu, adds the job/review/evaluation docks and answers File -> Export. The work runs
in `pfes` worker processes (jobs.py) so the window stays usable; results come back as files under
runs/<id>/ that are read in a worker thread.

Why the project is saved before a retrain: the worker reads project.h5 (never the GUI's memory),
so a save makes every label clicked so far part of the run's frozen snapshot (runs/<id>/labels.json).
Labels added while it trains stay in the project and go into the next run.

Spot before the first trained run is the label-free first pass: the non-learned motion proposals
(pfes_core.baseline) of every video with features, computed in a thread and shown as such (legend,
lane name, review summary), so review - and with it labelling - can start before any label.
Their decisions are stored under BASELINE_RUN_ID; once a trained run exists, Spot uses it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, Signal

from pfes_core.baseline import BASELINE_ORIGIN, BASELINE_RUN_ID
from pfes_core.candidate_looks import run_candidates
from pfes_core.spotting import project_preset

from . import cluster, dialogs, shortcuts, training_members
from .evaluation_view import EvaluationView, evaluate_predictions, read_run_json, run_notes
from .export_dialog import export_intervals, run_export_dialog
from .jobs import (DEFAULT_GRACE_S, JobConflictError, JobManager, WorkerJob, pfes_command,
                   project_key, run_in_thread)
from .review_panel import ReviewPanel
from .review_commands import review_state
from .training_dock import TrainingDock

log = logging.getLogger(__name__)

#: The training worker checks for cancel between steps (one video each, seconds on a CPU) and
#: then closes its run as "cancelled" (resumable); only a worker stuck longer than this is killed.
TRAIN_GRACE_S = 60.0

# Rows for the shared shortcut table (registered once, at import).
_ROWS = (
    ("model.extract", "", "Extract features (background)", "Model"),
    ("model.train", "Ctrl+T", "Retrain on the saved labels (background)", "Model"),
    ("model.train_quick", "Ctrl+Alt+T",
     "Quick round (warm start): fine-tune the latest run on new labels and review decisions", "Model"),
    ("model.spot", "Ctrl+Shift+T", "Spot intervals with the latest run (before any: motion "
     "proposals to start reviewing)", "Model"),
    ("model.evaluate", "", "Evaluate against the reference intervals", "Model"),
    ("model.cancel", "", "Cancel the background job", "Model"),
    ("review.accept", "A", "Accept the proposal under the playhead (label at its apex)", "Review"),
    ("review.reject", "R", "Reject the proposal under the playhead", "Review"),
    ("review.other_class", "C", "Accept the proposal under the playhead as the other class (MaE <-> ME): "
     "rejects its class, labels the other at its apex", "Review"),
    ("review.next", "Shift+U", "Next unreviewed proposal (review table, all videos)", "Review"),
    ("review.next_stretch", "S", "Scan whole: jump to the next 6 s stretch to play through, clicking "
     "every expression in it", "Review"),
    ("review.next_look", "K", "Look here: jump to the next low-scored candidate no proposal passed "
     "(M or E labels an expression there)", "Review"),
    ("review.nothing_here", "X", "Nothing here: mark the candidate being looked at as empty (or the "
     "stretch being scanned as done), go to the next", "Review"),
)
for _row in _ROWS:
    try:
        shortcuts.register(*_row)
    except shortcuts.ShortcutConflict:
        if _row[0] not in {r.action_id for r in shortcuts.all_shortcuts()}:
            raise   # a real key clash with someone else's action: fail loudly
del _row




def _run_labels(run_path: Path) -> dict | None:
    """{"count", "sha256"} of a run's label snapshot, from status.json (small) or labels.json."""
    status = read_run_json(run_path / "status.json") or {}
    labels = status.get("labels")
    if isinstance(labels, dict) and labels.get("count") is not None:
        return labels
    snap = read_run_json(run_path / "labels.json")
    if isinstance(snap, dict):   # status.json not written yet: the count only, no decisions/parent
        return {"count": snap.get("count"), "sha256": snap.get("sha256"), "partial": True}
    return None


def _latest_done_run(project_root: Path) -> str | None:
    """The newest run whose status is done (run ids sort by time); plain JSON, no torch."""
    runs = Path(project_root) / "runs"
    if not runs.is_dir():
        return None
    for path in sorted((p for p in runs.iterdir() if p.is_dir()), reverse=True):
        status = read_run_json(path / "status.json") or {}
        if status.get("status") == "done" and (path / "predictions.h5").exists():
            return path.name
    return None


def _baseline_predictions(project, video_ids: list[str]) -> tuple[dict, list[str]]:
    from pfes_core.baseline import project_baseline   # in a worker thread: reads feature files

    return project_baseline(project, video_ids)


def _run_members(run_path: Path) -> int:
    """How many models a run averages (config.json's members; 1 when unreadable)."""
    config = read_run_json(run_path / "config.json") or {}
    members = config.get("members", 1) if isinstance(config, dict) else 1
    return members if isinstance(members, int) and members > 0 else 1


def _load_predictions(project_root: Path, run_id: str) -> dict:
    from pfes_core.runs import load_predictions   # in a worker thread: it imports torch

    return load_predictions(project_root, run_id)


class ModelController(QObject):
    """Owns the jobs, the shown run and its predictions for one MainWindow."""

    predictions_changed = Signal(object)    # run id or None
    evaluation_done = Signal(object)        # MetricsReport

    def __init__(self, main_window):
        super().__init__(main_window)
        self.mw = main_window
        self.jobs = JobManager(self)
        self.run_id: str | None = None
        self.origin: str | None = None          # BASELINE_ORIGIN for the label-free first pass
        self.predictions: dict = {}
        #: Extra arguments for `pfes train` (e.g. ["--epochs", "1"] in tests).
        self.train_args: list[str] = []
        self.last_job: WorkerJob | None = None
        self._tasks: set[asyncio.Task] = set()
        self._loading = 0

        self.dock = TrainingDock(main_window)
        self.review = ReviewPanel(main_window)
        self.evaluation = EvaluationView(main_window)
        # one tabbed column on the right, so the frame and the timeline keep their height
        for dock in (self.review, self.dock, self.evaluation):
            main_window.add_dock(dock, Qt.DockWidgetArea.RightDockWidgetArea)
        main_window.resizeDocks([self.review], [560], Qt.Orientation.Horizontal)
        self.review.raise_()

        menu = main_window.model_menu
        self.actions = {
            "model.extract": main_window.register_action("model.extract", self.extract, menu),
            "model.train": main_window.register_action("model.train", self.retrain, menu),
            "model.train_quick": main_window.register_action(
                "model.train_quick", lambda: self.retrain(quick=True), menu),
            "model.spot": main_window.register_action("model.spot", self.spot, menu),
            "model.evaluate": main_window.register_action("model.evaluate", self.evaluate, menu),
        }
        menu.addSeparator()
        self.actions["model.cancel"] = main_window.register_action(
            "model.cancel", self.cancel, menu)
        self.actions["model.cancel"].setEnabled(False)
        review_menu = menu.addMenu("Review")
        self.actions["review.accept"] = main_window.register_action(
            "review.accept", self.review.accept_current, review_menu)
        self.actions["review.reject"] = main_window.register_action(
            "review.reject", self.review.reject_current, review_menu)
        self.actions["review.other_class"] = main_window.register_action(
            "review.other_class", self.review.other_class_current, review_menu)
        self.actions["review.next"] = main_window.register_action(
            "review.next", self.review.next_unreviewed, review_menu)
        review_menu.addSeparator()
        self.actions["review.next_stretch"] = main_window.register_action(
            "review.next_stretch", self.review.looks.next_stretch, review_menu)
        self.actions["review.next_look"] = main_window.register_action(
            "review.next_look", self.review.looks.next_look, review_menu)
        self.actions["review.nothing_here"] = main_window.register_action(
            "review.nothing_here", self.review.looks.nothing_here, review_menu)
        main_window.set_export_handler(self.export_dialog)

        main_window.project_changed.connect(self._project_changed)
        main_window.video_changed.connect(self._show_video)
        main_window.labels_changed.connect(self._statuses_changed)
        self.jobs.job_started.connect(self._jobs_changed)
        self.jobs.job_finished.connect(self._jobs_changed)
        main_window.installEventFilter(self)
        self._update_enabled()
        if main_window.project is not None:
            self._project_changed()

    # ------------------------------------------------------------------------ plumbing
    def spawn(self, coro) -> asyncio.Task:
        """Run a coroutine on the qasync loop; keeps a reference and logs a crash."""
        task = asyncio.get_event_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("background task failed", exc_info=exc)
            self.mw.show_status(f"Internal error: {exc!r}", 10000)

    @property
    def busy(self) -> bool:
        """True while a job runs or predictions load (tests wait on this)."""
        return bool(self.jobs.jobs) or self._loading > 0

    def eventFilter(self, obj, event) -> bool:
        # closing the window stops the workers: their stdout pipe dies with us anyway
        if obj is self.mw and event.type() == QEvent.Type.Close and self.jobs.jobs:
            self.jobs.cancel_all()
        return False

    def _root(self) -> Path | None:
        project = self.mw.project
        return None if project is None else Path(project.root)

    def _writable(self) -> bool:
        project = self.mw.project
        return project is not None and not getattr(project, "readonly", False)

    def _update_enabled(self) -> None:
        has = self.mw.project is not None
        root = self._root()
        training = root is not None and self.jobs.is_busy(project_key("train", root))
        self.actions["model.extract"].setEnabled(self._writable())
        self.actions["model.train"].setEnabled(self._writable() and not training)
        self.actions["model.train_quick"].setEnabled(self._writable() and not training)
        self.actions["model.spot"].setEnabled(has)
        self.actions["model.evaluate"].setEnabled(has and bool(self.predictions))
        self.actions["model.cancel"].setEnabled(bool(self.jobs.jobs))
        for aid in ("review.accept", "review.reject", "review.other_class"):
            self.actions[aid].setEnabled(self._writable() and bool(self.predictions))
        for name, enabled in self.review.look_keys(self._writable()).items():
            self.actions[f"review.{name}"].setEnabled(enabled)

    def _jobs_changed(self, _job=None) -> None:
        self._update_enabled()

    # ------------------------------------------------------------------------ jobs
    def _start(self, kind: str, name: str, argv: list[str], snapshot: str | None = None,
               on_done=None, grace_s: float = DEFAULT_GRACE_S) -> WorkerJob | None:
        root = self._root()
        if root is None:
            return None
        job = WorkerJob(argv, name=name, key=project_key(kind, root), cwd=str(root.parent),
                        grace_s=grace_s)
        try:
            self.jobs.start(job)
        except JobConflictError as exc:
            self.mw.show_status(str(exc), 6000)
            dialogs.info(self.mw, name, str(exc))
            return None
        self.last_job = job
        if "--ray-address" in argv:                 # sent to a Ray cluster (pfes_gui.cluster)
            cluster.watch(job, self.mw, argv[argv.index("--ray-address") + 1])
        self.dock.attach(job, snapshot)
        self.dock.show()
        self.dock.raise_()
        job.error.connect(lambda message: self.mw.show_status(message.partition("\n")[0], 10000))
        if on_done is not None:
            job.finished.connect(lambda result: on_done(job, result))
        return job

    def extract(self) -> WorkerJob | None:
        """`pfes extract PROJECT --progress jsonl` (per-video progress in the dock)."""
        if not self._writable() or not self._save_first():
            return None
        return self._start("extract", "Extract features", pfes_command("extract", self._root(),
                                                                 *cluster.engine_args(self.mw.session.store)),
                           on_done=self._extract_done)

    def _extract_done(self, job, result) -> None:
        if result.get("ok"):
            self.mw.show_status("Features extracted", 6000)
            if hasattr(self.mw.video_list, "refresh"):
                self.mw.video_list.refresh()

    def retrain(self, quick: bool = False) -> WorkerJob | None:
        """Save, then `pfes train PROJECT --train-preset cpu --progress jsonl` in the background.

        quick: a review round, `--warm-start` (fine-tune the latest finished run for a few epochs);
        without a finished run it falls back to a full retrain and says so."""
        if not self._writable() or not self._save_first():
            return None
        project = self.mw.project
        n = len(project.labels)
        snapshot = (f"{n} labels, {len(project.reviews)} review decisions saved at "
                    f"{time.strftime('%H:%M:%S')} (the run's snapshot is written by the worker)")
        members = None                              # a quick round inherits the parent's count
        if quick and _latest_done_run(self._root()) is not None:
            extra = ["--warm-start", "latest"]
        else:
            if quick:
                self.mw.show_status("No finished run to warm-start from: training from scratch", 8000)
            members = training_members.training_members(self.mw.session.store)
            extra = ["--members", str(members)]    # always explicit, so the dock's command says it
        argv = pfes_command("train", self._root(), "--train-preset", "cpu", *extra, *self.train_args,
                            *cluster.engine_args(self.mw.session.store))
        layer = getattr(getattr(self.mw, "layers", None), "train_layer", "union")  # Annotators dock
        argv[argv.index("train") + 2:argv.index("train") + 2] = ["--labels", layer]
        snapshot += f"; label layer {layer}"
        if members is not None and members > 1:
            snapshot += f"; {members} models averaged"
        job = self._start("train", "Retrain", argv, snapshot, on_done=self._train_done,
                          grace_s=TRAIN_GRACE_S)
        if job is not None:
            job.progress.connect(lambda event, job=job: self._train_event(job, event))
        return job

    def _train_event(self, job: WorkerJob, event: dict) -> None:
        # the first event naming the run: show the snapshot the worker actually froze
        if event.get("run_id") and not getattr(job, "_snapshot_read", False):
            job._snapshot_read = True
            self.spawn(self._show_snapshot(Path(self._root()) / "runs" / str(event["run_id"])))

    async def _show_snapshot(self, run_path: Path) -> None:
        attempts = 40         # status.json follows labels.json closely; 10 s covers a busy machine
        for attempt in range(attempts):
            labels = await run_in_thread(_run_labels, run_path)
            if labels and labels.get("count") is not None and (
                    not labels.get("partial") or attempt == attempts - 1):
                members = await run_in_thread(_run_members, run_path)
                sha = str(labels.get("sha256") or "")[:12]
                decisions = labels.get("decisions")
                used = "used" if labels.get("decisions_used") else "recorded, not used"
                self.dock.snapshot_label.setText(
                    f"{labels['count']} labels (runs/{run_path.name}/labels.json"
                    + (f", sha256 {sha}" if sha else "") + ")"
                    + (f"; {decisions} review decisions ({used}, decisions.json)" if decisions is not None else "")
                    + (f"; warm start from {labels['parent_run']}" if labels.get("parent_run") else "")
                    + (f"; {members} models averaged" if members > 1 else ""))
                return
            await asyncio.sleep(0.25)

    def _train_done(self, job, result) -> None:
        if result.get("ok") and result.get("run_id"):
            self.mw.show_status(f"Training finished: run {result['run_id']}", 8000)
            self.spawn(self.load_run(result["run_id"]))

    def spot(self):
        """`pfes spot PROJECT --progress jsonl` with the latest finished run; loads the result.
        Before the first finished run: the motion proposals (returns the asyncio task)."""
        if self.mw.project is None:
            return None
        if _latest_done_run(self._root()) is None:
            return self.spawn(self.load_baseline())
        if self._writable() and not self._save_first():
            return None
        return self._start("spot", "Spot", pfes_command("spot", self._root()),
                           on_done=self._spot_done)

    async def load_baseline(self, quiet: bool = False) -> bool:
        """Show the motion proposals of every video with features (no model needed)."""
        project, root = self.mw.project, self._root()
        if project is None:
            return False
        self._loading += 1
        try:
            preds, skipped = await run_in_thread(_baseline_predictions, project,
                                                 list(project.videos))
        except Exception as exc:   # PfesError, OSError, a damaged feature file: say so
            self.mw.show_status(f"Cannot compute motion proposals: {exc}", 10000)
            return False
        finally:
            self._loading -= 1
        if self._root() != root:
            return False
        if not preds:
            if not quiet:
                text = ("No video has features yet, so there is nothing to spot. Run Model -> "
                        "Extract features first; Spot then shows motion proposals to review "
                        "(no trained model needed), and Model -> Retrain learns from your labels.")
                self.mw.show_status(text.split(". ")[0], 10000)
                dialogs.info(self.mw, "Spot", text)
            return False
        self.set_predictions(BASELINE_RUN_ID, preds, origin=BASELINE_ORIGIN)
        n = sum(len(p.proposals) for p in preds.values())
        self.mw.show_status(
            f"{n} motion proposals in {len(preds)} videos (no trained model yet; review them "
            f"to add labels)" + (f"; {len(skipped)} without features" if skipped else ""), 10000)
        return True

    def _spot_done(self, job, result) -> None:
        if result.get("ok"):
            run_id = result.get("run_id") or (result.get("last_event") or {}).get("run_id")
            self.spawn(self.load_run(run_id))

    def cancel(self) -> None:
        job = self.dock.job
        if job is not None and not job.is_done:
            job.cancel()

    def _save_first(self) -> bool:
        if not self.mw.project.is_dirty:
            return True
        return bool(self.mw.save())

    # ------------------------------------------------------------------------ predictions
    async def load_run(self, run_id: str | None = None) -> bool:
        """Read a run's predictions in a thread, then show them (timeline, review, video list)."""
        root = self._root()
        if root is None:
            return False
        self._loading += 1
        try:
            if run_id is None:
                run_id = await run_in_thread(_latest_done_run, root)
                if run_id is None:
                    # no trained run: bring back the motion proposals the annotator reviewed
                    project = self.mw.project
                    if project is not None and project.reviews.for_run(BASELINE_RUN_ID):
                        return await self.load_baseline(quiet=True)
                    return False
            try:
                predictions = await run_in_thread(_load_predictions, root, run_id)
            except Exception as exc:   # PfesError, OSError, a damaged file: say so, keep going
                self.mw.show_status(f"Cannot load predictions of run {run_id}: {exc}", 10000)
                return False
            if self._root() != root:   # the project changed while we were reading
                return False
            self.set_predictions(run_id, predictions)
            return True
        finally:
            self._loading -= 1

    def set_predictions(self, run_id: str | None, predictions: dict,
                        origin: str | None = None) -> None:
        self.run_id = run_id
        self.origin = origin
        self.predictions = dict(predictions or {})
        self.review.set_run(run_id, self.predictions, origin)
        self._show_video(self.mw.current_video_id)
        self._update_video_list()
        self._update_enabled()
        self.predictions_changed.emit(run_id)
        if self.review.looks.wanted and self.mw.project is not None:
            project = self.mw.project
            fps = {vid: rec.fps for vid, rec in project.videos.items()}
            self._loading += 1         # busy from now until the candidates are in
            self.spawn(self._find_candidates(run_id, self.predictions,
                                             project_preset(project.settings), fps))

    async def _find_candidates(self, run_id: str, predictions: dict, preset, fps: dict) -> None:
        """The run's low-scored candidate runs for the review queue, found off the GUI thread."""
        try:
            found = await run_in_thread(run_candidates, predictions, preset, fps)
        except Exception as exc:    # damaged curves: the queue goes without, the desk keeps going
            log.warning("finding candidates of run %s failed", run_id, exc_info=exc)
            self.mw.show_status(f"Cannot list the model's low-scored candidates: {exc}", 10000)
            found = {}
        finally:
            self._loading -= 1
        if self.run_id == run_id and self.predictions is predictions:   # still the shown run
            self.review.looks.set_candidates(found, preset)
            self.review.refresh_queue()

    def _show_video(self, video_id: str | None) -> None:
        """Put the shown run's curves and proposals of `video_id` on the shell's timeline."""
        timeline = self.mw.timeline
        pred = self.predictions.get(video_id) if video_id is not None else None
        if pred is None:
            timeline.set_predictions(None, None, [])
            return
        timeline.set_predictions(pred.intensity, pred.apex, pred.proposals, origin=self.origin)
        self._statuses_changed()

    def _statuses_changed(self) -> None:
        timeline = self.mw.timeline
        project = self.mw.project
        props = list(getattr(timeline, "proposals", []))
        if props and hasattr(timeline, "set_proposal_status"):
            states = [review_state(project, self.run_id, p) for p in props]
            timeline.set_proposal_status([s[0] for s in states], [s[1] for s in states],
                                         [s[2] for s in states])
        self._update_video_list()

    def _update_video_list(self) -> None:
        vl = getattr(self.mw, "video_list", None)
        project = self.mw.project
        if vl is None or project is None:
            return
        for vid in project.videos:
            pred = self.predictions.get(vid)
            if pred is None:
                vl.set_predictions(vid, None)
                continue
            vl.set_predictions(vid, len(pred.proposals))
            done = sum(1 for p in pred.proposals
                       if review_state(project, self.run_id, p)[0] is not None)
            vl.set_reviewed(vid, done, len(pred.proposals))

    def _project_changed(self) -> None:
        self.set_predictions(None, {})
        self.evaluation.show_message("Model -> Evaluate scores the shown run against the "
                                     "reference intervals.")
        if self.mw.project is not None:
            self.spawn(self.load_run(None))
        self._update_enabled()

    # ------------------------------------------------------------------------ evaluate, export
    def evaluate(self) -> asyncio.Task | None:
        """Score the shown run's proposals against project.reference (in a thread)."""
        project = self.mw.project
        if project is None:
            return None
        if not self.predictions:
            self.mw.show_status("No predictions to evaluate (Model -> Spot first)", 6000)
            return None
        if not any(project.reference.values()):
            self.evaluation.show_message("The project has no reference intervals "
                                         "(File -> Import reference intervals).")
            self.evaluation.show()
            self.evaluation.raise_()
            return None
        reference = {v: list(ivs) for v, ivs in project.reference.items()}
        predictions, run_id, root = dict(self.predictions), self.run_id, self._root()
        labels = [(lab.video, int(lab.frame), lab.cls) for lab in project.labels.all()]

        async def go():
            report = await run_in_thread(evaluate_predictions, predictions, reference, run_id)
            notes = await run_in_thread(run_notes, root, run_id, labels, list(report.per_video))
            self.evaluation.show_report(report, run_id, notes)
            self.evaluation.show()
            self.evaluation.raise_()
            self.evaluation_done.emit(report)
            return report

        return self.spawn(go())

    def export_dialog(self):
        return run_export_dialog(self.mw, self.run_id, self.spawn)

    async def export(self, path, fmt: str = "csv", reviewed_only: bool = False):
        """Export the shown run without the dialog (scripts and tests)."""
        return await export_intervals(self.mw, path, fmt, self.run_id, reviewed_only)


def install_model_menu(main_window) -> ModelController:
    """Add the Model menu actions, the jobs/review/evaluation docks and the export handler.

    Call once after MainWindow is built (e.g. in app.py); keep the returned controller (it is
    also parented to the window and stored as ``main_window.model_controller``).
    """
    existing = getattr(main_window, "model_controller", None)
    if isinstance(existing, ModelController):
        return existing   # idempotent
    controller = ModelController(main_window)
    main_window.model_controller = controller
    return controller


#: The shell's extension hook (pfes_gui.app.install_extensions calls `install(window)`).
install = install_model_menu
