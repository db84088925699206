"""The review queue's "Look here" rows: the model's low-scored candidate runs, one key each.

Why: a click on an expression the model nearly missed teaches the next training more than an
accept of its best proposals (benchmarks/RESULTS.md). The desk lists the candidate runs that no
proposal passed and no label or earlier look covers (`pfes_core.candidate_looks`), highest score
first. K jumps to the next one and marks its span on the timeline; the annotator either clicks the
expression there (M or E, as anywhere) or presses X, "nothing here": a journaled, undoable
"looked" decision. Either takes the place off the list. Proposals of the motion baseline (no
trained model yet) get no list: its runs do not point at a model's misses.

Finding the candidate runs costs about 12 times the run's proposals (soft-NMS with no score cut;
3 s for 8 hours of video), so the controller finds them off the GUI thread after a run is shown
(`set_candidates`); until then the list is empty and says so.
"""

from __future__ import annotations

from pfes_core.candidate_looks import LOOK_SLACK, project_looks
from pfes_core.reviews import LOOKED, SetReview
from pfes_core.types import Interval


class LookQueue:
    """The looks of the shown run and the one being looked at, bound to a MainWindow."""

    def __init__(self, main_window):
        self.mw = main_window
        self.run_id: str | None = None
        self.predictions: dict = {}
        self.current: Interval | None = None
        self.ready = False          # the candidates of the run are found
        self._candidates: dict = {}
        self._preset = None
        main_window.video_changed.connect(self._video_changed)

    def set_run(self, run_id: str | None, predictions: dict, origin: str | None = None) -> None:
        """The run whose candidates to offer; a run no trained model made (``origin``) has none."""
        self.run_id = None if origin else run_id
        self.predictions = {} if origin else dict(predictions or {})
        self._candidates, self._preset, self.ready, self.current = {}, None, False, None
        self.mw.timeline.hide_look()

    @property
    def wanted(self) -> bool:
        """A trained run is shown whose candidates are not found yet."""
        return self.run_id is not None and bool(self.predictions) and not self.ready

    def set_candidates(self, candidates: dict, preset) -> None:
        """The run's candidate runs ({video: [Interval]}, `run_candidates`) and the preset used."""
        self._candidates, self._preset, self.ready = dict(candidates), preset, True

    def looks(self) -> list[Interval]:
        """What is left to look at, highest score first (empty without a trained run)."""
        project = self.mw.project
        if project is None or not self.ready:
            return []
        return project_looks(project, self.predictions, self._preset, self._candidates)

    def look_at(self, look: Interval) -> None:
        """Jump to the candidate's peak and mark its span on the timeline."""
        self.current = look
        self.mw.go_to_frame(look.video, look.apex)
        self.mw.timeline.show_look(look.onset, look.offset)
        self.mw.show_status(f"Look at frames {look.onset}-{look.offset} of {look.video} (the model "
                            f"leans {look.cls}, score {look.score or 0.0:.2f}): M or E at an "
                            f"expression, X if there is none, K to skip", 10000)

    def next_look(self) -> Interval | None:
        """Jump to the next look: the one after the current if it is still open (skipped), else
        the highest-scored one left."""
        if self.wanted:
            self.mw.show_status("Still finding the model's low-scored candidates: a moment")
            return None
        order = self.looks()
        if not order:
            self.mw.timeline.hide_look()
            self.mw.show_status("Nothing left to look at: every low-scored candidate of this run is "
                                "labelled, looked at or covered by a proposal")
            return None
        start = order.index(self.current) + 1 if self.current in order else 0
        look = order[start % len(order)]
        self.look_at(look)
        return look

    def look_here(self, open_looks: list[Interval] | None = None) -> Interval | None:
        """The look being shown when the playhead is in its video, else an open look (of
        `open_looks`, default `looks()`) whose span (+- LOOK_SLACK) holds the playhead."""
        video, frame = self.mw.current_video_id, self.mw.current_frame
        if self.current is not None and self.current.video == video:
            return self.current
        return next((c for c in (self.looks() if open_looks is None else open_looks)
                     if c.video == video and c.onset - LOOK_SLACK <= frame <= c.offset + LOOK_SLACK),
                    None)

    def nothing_here(self) -> bool:
        """Record that the look at the playhead holds no expression, then go to the next one."""
        project = self.mw.project
        if project is None or getattr(project, "readonly", False) or self.run_id is None:
            return False
        open_looks = self.looks()          # worked out once: both questions below ask it
        look = self.look_here(open_looks)
        if look is None:
            self.mw.show_status("No candidate here to mark: K jumps to the next one")
            return False
        if look not in open_looks:
            self.mw.show_status(f"Frames {look.onset}-{look.offset} of {look.video} are covered "
                                f"already (a label, a proposal or a look): K for the next one", 6000)
            return False
        edit = SetReview.for_proposal(self.run_id, look, LOOKED,
                                      annotator=getattr(self.mw, "annotator", ""))
        if not self.mw.push_edit(edit):
            return False
        self.next_look()
        return True

    def _video_changed(self, video: str | None) -> None:
        look = self.current
        if look is not None and look.video == video:
            self.mw.timeline.show_look(look.onset, look.offset)
        else:
            self.mw.timeline.hide_look()
