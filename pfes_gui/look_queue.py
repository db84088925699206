"""The review queue's "Look here" and "Scan whole" rows: places to look for what the model missed.

Why: a click on an expression the model nearly missed teaches the next training more than an
accept of its best proposals (benchmarks/RESULTS.md). The desk lists the candidate runs that no
proposal passed and no label or earlier look covers (`pfes_core.candidate_looks`), highest score
first. K jumps to the next one and marks its span on the timeline; the annotator either clicks the
expression there (M or E, as anywhere) or presses X, "nothing here": a journaled, undoable
"looked" decision. Either takes the place off the list. Proposals of the motion baseline (no
trained model yet) get no candidate list: its runs do not point at a model's misses.

Finding the candidate runs costs about 12 times the run's proposals (soft-NMS with no score cut;
3 s for 8 hours of video), so the controller finds them off the GUI thread after a run is shown
(`set_candidates`); until then the list is empty and says so.

Candidates show only what the model already sees. S jumps to the next 6 s stretch to scan whole
(`pfes_core.scan_stretches`: a fixed, model-free sample, videos taking turns): the annotator plays
it, clicks every expression in it, and X marks it scanned ("nothing else here"), which also answers
for every candidate inside it. Stretches owe nothing to a model, so they are offered for the motion
baseline's proposals too: a new project's first labels can come from them.
"""

from __future__ import annotations

from pfes_core.candidate_looks import LOOK_SLACK, project_looks
from pfes_core.reviews import LOOKED, SetReview
from pfes_core.scan_stretches import project_stretches
from pfes_core.types import Interval


class LookQueue:
    """The looks of the shown run and the one being looked at, bound to a MainWindow."""

    def __init__(self, main_window):
        self.mw = main_window
        self.run_id: str | None = None
        self.trained = False        # a trained model made the run: it has candidates to look at
        self.predictions: dict = {}
        self.current: Interval | None = None
        self.scanning = False       # `current` is a stretch to scan, not a candidate
        self.ready = False          # the candidates of the run are found
        self._candidates: dict = {}
        self._preset = None
        main_window.video_changed.connect(self._video_changed)

    def set_run(self, run_id: str | None, predictions: dict, origin: str | None = None) -> None:
        """The run whose stretches and candidates to offer; a run no trained model made
        (``origin``) has stretches only."""
        self.run_id = run_id
        self.trained = run_id is not None and not origin
        self.predictions = dict(predictions or {})
        self._candidates, self._preset, self.ready, self.current = {}, None, False, None
        self.scanning = False
        self.mw.timeline.hide_look()

    @property
    def wanted(self) -> bool:
        """A trained run is shown whose candidates are not found yet."""
        return self.trained and bool(self.predictions) and not self.ready

    def set_candidates(self, candidates: dict, preset) -> None:
        """The run's candidate runs ({video: [Interval]}, `run_candidates`) and the preset used."""
        self._candidates, self._preset, self.ready = dict(candidates), preset, True

    def looks(self) -> list[Interval]:
        """What is left to look at, highest score first (empty without a trained run)."""
        project = self.mw.project
        if project is None or not self.trained or not self.ready:
            return []
        return project_looks(project, self.predictions, self._preset, self._candidates)

    def stretches(self) -> list[Interval]:
        """The stretches of the run's videos left to scan, in the order S offers them."""
        project = self.mw.project
        if project is None or self.run_id is None:
            return []
        return project_stretches(project, self.predictions)

    def scan_at(self, stretch: Interval) -> None:
        """Jump to the stretch's first frame and mark it on the timeline."""
        self.current, self.scanning = stretch, True
        self.mw.go_to_frame(stretch.video, stretch.onset)
        self.mw.timeline.reveal(stretch.onset, stretch.offset)
        self.mw.timeline.show_look(stretch.onset, stretch.offset)
        self.mw.show_status(f"Scan frames {stretch.onset}-{stretch.offset} of {stretch.video}: play it, "
                            f"M or E at every expression, X when done, S to skip", 10000)

    def next_stretch(self) -> Interval | None:
        """Jump to the next stretch to scan: the one after the current if it is still open
        (skipped), else the first one left."""
        order = self.stretches()
        if not order:
            self.mw.timeline.hide_look()
            self.mw.show_status("Nothing left to scan: every stretch of this run's videos is scanned")
            return None
        start = order.index(self.current) + 1 if self.scanning and self.current in order else 0
        stretch = order[start % len(order)]
        self.scan_at(stretch)
        return stretch

    def look_at(self, look: Interval) -> None:
        """Jump to the candidate's peak and mark its span on the timeline."""
        self.current, self.scanning = look, False
        self.mw.go_to_frame(look.video, look.apex)
        self.mw.timeline.show_look(look.onset, look.offset)
        self.mw.show_status(f"Look at frames {look.onset}-{look.offset} of {look.video} (the model "
                            f"leans {look.cls}, score {look.score or 0.0:.2f}): M or E at an "
                            f"expression, X if there is none, K to skip", 10000)

    def next_look(self) -> Interval | None:
        """Jump to the next look: the one after the current if it is still open (skipped), else
        the highest-scored one left."""
        if not self.trained:
            self.mw.show_status("Look here needs a trained model's proposals (Model -> Retrain, then "
                                "Spot); S scans stretches meanwhile")
            return None
        if self.wanted:
            self.mw.show_status("Still finding the model's low-scored candidates: a moment")
            return None
        order = self.looks()
        if not order:
            self.mw.timeline.hide_look()
            self.mw.show_status("Nothing left to look at: every low-scored candidate of this run is "
                                "labelled, looked at or covered by a proposal")
            return None
        start = order.index(self.current) + 1 if not self.scanning and self.current in order else 0
        look = order[start % len(order)]
        self.look_at(look)
        return look

    def look_here(self, open_looks: list[Interval] | None = None,
                  open_stretches: list[Interval] | None = None) -> Interval | None:
        """The look or stretch being shown when the playhead is in its video, else an open look
        (of `open_looks`, default `looks()`) whose span (+- LOOK_SLACK) holds the playhead, else an
        open stretch (of `open_stretches`, default `stretches()`) that holds it."""
        video, frame = self.mw.current_video_id, self.mw.current_frame
        if self.current is not None and self.current.video == video:
            return self.current
        look = next((c for c in (self.looks() if open_looks is None else open_looks)
                     if c.video == video and c.onset - LOOK_SLACK <= frame <= c.offset + LOOK_SLACK),
                    None)
        if look is not None:
            return look
        return next((s for s in (self.stretches() if open_stretches is None else open_stretches)
                     if s.video == video and s.onset <= frame <= s.offset), None)

    def nothing_here(self) -> bool:
        """Record that the look at the playhead holds no expression (or that the stretch being
        scanned holds no more), then go to the next of the same kind."""
        project = self.mw.project
        if project is None or getattr(project, "readonly", False) or self.run_id is None:
            return False
        open_looks, open_stretches = self.looks(), self.stretches()     # worked out once
        place = self.look_here(open_looks, open_stretches)
        if place is None:
            self.mw.show_status("No candidate or stretch here to mark: K jumps to the next candidate, "
                                "S to the next stretch")
            return False
        stretch = place in open_stretches or (place is self.current and self.scanning)
        if place not in open_looks and place not in open_stretches:
            self.mw.show_status(f"Frames {place.onset}-{place.offset} of {place.video} are "
                                + ("scanned already: S for the next stretch" if stretch else
                                   "covered already (a label, a proposal or a look): K for the next one"),
                                6000)
            return False
        edit = SetReview.for_proposal(self.run_id, place, LOOKED,
                                      annotator=getattr(self.mw, "annotator", ""))
        if not self.mw.push_edit(edit):
            return False
        if stretch:
            self.next_stretch()
        else:
            self.next_look()
        return True

    def _video_changed(self, video: str | None) -> None:
        look = self.current
        if look is not None and look.video == video:
            self.mw.timeline.show_look(look.onset, look.offset)
        else:
            self.mw.timeline.hide_look()
