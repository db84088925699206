"""Annotator layers: each annotator's labels are a layer of the timeline (show/hide, colour,
"mine only"), and editing another annotator's labels needs an explicit switch.

The window labels as ``window.annotator`` (Edit -> Preferences; the login name by default). The
timeline consults ``window.layers`` when it draws labels (``visible``) and afterwards lets it draw
a ring in each annotator's colour around their markers (``draw``; several annotators on one frame
give concentric rings). ``may_edit`` is asked before a move, retype or delete: with "Edit other
annotators' labels" off only the window's own annotator's labels change, so nobody alters a
colleague's coding by a stray drag. Layer colours are kept in the project's annotator list
(journaled), so the team sees the same colours.

The Annotators dock also holds the label layer training uses (``train_layer``: union, consensus,
or one annotator), which Model -> Retrain passes as ``pfes train --labels``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QCheckBox, QColorDialog, QComboBox, QDockWidget, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from pfes_core.errors import PfesError
from pfes_core.labels import CONSENSUS, UNION, annotator_title

# Distinct, readable on the dark timeline; the consensus layer is always white.
PALETTE = ("#4fc3f7", "#ffb74d", "#ba68c8", "#81c784", "#f06292", "#fff176", "#90a4ae", "#a1887f")
CONSENSUS_COLOUR = "#ffffff"


class AnnotatorLayers(QObject):
    """Which annotators' labels are shown and editable, and their colours."""

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.hidden: set[str] = set()
        self.mine_only = False
        self.edit_others = False
        self.train_layer = UNION
        self._rings: list[pg.ScatterPlotItem] = []

    # ---- the model ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        project = self.w.project
        names = list(project.annotators()) if project is not None else []
        if self.w.annotator not in names:
            names.insert(0, self.w.annotator)
        return names

    def colour(self, name: str) -> str:
        if name == CONSENSUS:
            return CONSENSUS_COLOUR
        project = self.w.project
        chosen = project.annotator_colour(name) if project is not None else ""
        if chosen:
            return chosen
        others = [n for n in self.names() if n != CONSENSUS]
        return PALETTE[(others.index(name) if name in others else len(others)) % len(PALETTE)]

    def is_shown(self, name: str) -> bool:
        if self.mine_only:
            return name == self.w.annotator
        return name not in self.hidden

    def visible(self, labels) -> list:
        """The labels of shown layers (what the timeline draws and lets one click)."""
        return [lb for lb in labels if self.is_shown(lb.annotator)]

    def may_edit(self, label) -> bool:
        return self.edit_others or label.annotator == self.w.annotator

    def editable(self, labels) -> list:
        return [lb for lb in self.visible(labels) if self.may_edit(lb)]

    # ---- changes -----------------------------------------------------------------------------
    def set_shown(self, name: str, shown: bool) -> None:
        (self.hidden.discard if shown else self.hidden.add)(name)
        self.redraw()

    def set_mine_only(self, on: bool) -> None:
        self.mine_only = bool(on)
        self.redraw()

    def set_edit_others(self, on: bool) -> None:
        self.edit_others = bool(on)
        self.w.show_status("Editing other annotators' labels is " + ("ON: drags, Del and T change "
                           "anyone's labels" if on else "off: only your own labels change"), 5000)

    def set_colour(self, name: str, colour: str) -> bool:
        """Keep `colour` (#rrggbb) for an annotator's layer in the project (journaled)."""
        project = self.w.project
        if project is None or self.w.readonly():
            return False
        try:
            project.register_annotator(name, QColor(colour).name())
        except PfesError as exc:
            self.w.show_status(str(exc), 6000)
            return False
        self.w.saver.mark_dirty()
        self.redraw()
        return True

    def redraw(self) -> None:
        w = self.w
        if w.project is not None and w.current_video_id is not None:
            w.timeline.set_labels(w.project.labels.for_video(w.current_video_id))
        if getattr(w, "layers_panel", None) is not None:
            w.layers_panel.refresh()

    # ---- drawing (called by the timeline after it draws labels) -------------------------------
    def draw(self, timeline) -> None:
        from pfes_gui.timeline import LABEL_ROWS

        shown = [lb for lb in timeline.labels]
        names = [n for n in self.names() if any(lb.annotator == n for lb in shown)]
        while len(self._rings) < len(names):
            ring = pg.ScatterPlotItem(pxMode=True, symbol="o", brush=pg.mkBrush(None))
            ring.setZValue(19)
            timeline.detail.addItem(ring)
            self._rings.append(ring)
        several = len(names) > 1
        for k, ring in enumerate(self._rings):
            if k >= len(names) or not several:
                ring.setData([], [])
                continue
            mine = [lb for lb in shown if lb.annotator == names[k]]
            ring.setData(x=np.array([lb.frame for lb in mine], dtype=float),
                         y=np.array([LABEL_ROWS[lb.cls] for lb in mine], dtype=float),
                         size=17 + 5 * k, pen=pg.mkPen(self.colour(names[k]), width=2))


def _swatch(colour: str) -> QIcon:
    pm = QPixmap(14, 14)
    pm.fill(QColor(colour))
    return QIcon(pm)


class LayersPanel(QWidget):
    """The Annotators dock: one checkable row per layer, colour, mine only, edit others, train on."""

    def __init__(self, window, layers: AnnotatorLayers):
        super().__init__(window)
        self.w, self.layers = window, layers
        self._filling = False
        box = QVBoxLayout(self)
        self.me = QLabel()
        self.me.setObjectName("annotator_me")
        box.addWidget(self.me)
        self.list = QListWidget()
        self.list.setObjectName("annotator_list")
        self.list.itemChanged.connect(self._item_changed)
        box.addWidget(self.list)
        row = QHBoxLayout()
        self.colour_button = QPushButton("Colour…")
        self.colour_button.setToolTip("Choose the colour of the selected annotator's layer")
        self.colour_button.clicked.connect(self._choose_colour)
        row.addWidget(self.colour_button)
        self.mine = QCheckBox("Mine only")
        self.mine.setObjectName("mine_only")
        self.mine.setToolTip("Show only your own labels")
        self.mine.toggled.connect(layers.set_mine_only)
        row.addWidget(self.mine)
        box.addLayout(row)
        self.edit_others = QCheckBox("Edit other annotators' labels")
        self.edit_others.setObjectName("edit_others")
        self.edit_others.setToolTip("Off: moving, retyping or deleting a label of another annotator is "
                                    "refused (their coding stays theirs)")
        self.edit_others.toggled.connect(layers.set_edit_others)
        box.addWidget(self.edit_others)
        row = QHBoxLayout()
        row.addWidget(QLabel("Train on:"))
        self.train_on = QComboBox()
        self.train_on.setObjectName("train_layer")
        self.train_on.setToolTip("The labels Model -> Retrain uses (pfes train --labels): every "
                                 "annotator's (union), the adjudicated consensus, or one annotator's")
        self.train_on.currentIndexChanged.connect(self._train_layer_changed)
        row.addWidget(self.train_on, 1)
        box.addLayout(row)

    def refresh(self) -> None:
        layers, w = self.layers, self.w
        self._filling = True
        try:
            self.me.setText(f"You label as: <b>{annotator_title(w.annotator)}</b> (Edit -> Preferences)")
            current = self.list.currentItem().data(Qt.ItemDataRole.UserRole) if self.list.currentItem() else None
            self.list.clear()
            project = w.project
            for name in layers.names():
                n = sum(project.labels.class_totals([name]).values()) if project is not None else 0
                you = " (you)" if name == w.annotator else ""
                item = QListWidgetItem(_swatch(layers.colour(name)), f"{annotator_title(name)}{you}: {n} labels")
                item.setData(Qt.ItemDataRole.UserRole, name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if layers.is_shown(name) else Qt.CheckState.Unchecked)
                self.list.addItem(item)
                if name == current:
                    self.list.setCurrentItem(item)
            choices = [UNION, CONSENSUS] + [n for n in layers.names() if n != CONSENSUS]
            self.train_on.clear()
            for name in choices:
                self.train_on.addItem("union (every annotator)" if name == UNION else annotator_title(name), name)
            idx = choices.index(layers.train_layer) if layers.train_layer in choices else 0
            self.train_on.setCurrentIndex(idx)
        finally:
            self._filling = False

    def _item_changed(self, item: QListWidgetItem) -> None:
        if not self._filling:
            self.layers.set_shown(item.data(Qt.ItemDataRole.UserRole),
                                  item.checkState() == Qt.CheckState.Checked)

    def _choose_colour(self) -> None:
        item = self.list.currentItem()
        if item is None:
            self.w.show_status("Select an annotator first", 3000)
            return
        name = item.data(Qt.ItemDataRole.UserRole)
        colour = QColorDialog.getColor(QColor(self.layers.colour(name)), self, "Layer colour")
        if colour.isValid():
            self.layers.set_colour(name, colour.name())

    def _train_layer_changed(self, _index: int) -> None:
        if not self._filling and self.train_on.currentData() is not None:
            self.layers.train_layer = self.train_on.currentData()


def install(window) -> AnnotatorLayers:
    existing = getattr(window, "layers", None)
    if isinstance(existing, AnnotatorLayers):
        return existing
    layers = AnnotatorLayers(window)
    window.layers = layers
    window.timeline.layers = layers
    window.layers_panel = LayersPanel(window, layers)
    dock = QDockWidget("Annotators", window)
    dock.setObjectName("annotators_dock")
    dock.setWidget(window.layers_panel)
    window.add_dock(dock)
    window.layers_dock = dock
    window.project_changed.connect(layers.redraw)
    window.labels_changed.connect(window.layers_panel.refresh)
    window.layers_panel.refresh()
    return layers
