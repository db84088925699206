"""Point labels: an indexed store and the undoable edits that change it.

A label is identified by ``(video, frame, cls, annotator)``. Several annotators code the same
corpus, so labels of different annotators coexist on one frame (each annotator is a layer). The
rule within one annotator: two labels of the SAME class on one frame are refused (LabelError),
because they would be indistinguishable for training and undo; a MaE and a ME label on the same
frame are allowed (an ME can sit inside a macro-expression). The empty name is a valid annotator
(labels imported from files that name none; shown as "(unknown)").

Why per-video sorted key lists + bisect: the timeline asks "labels in this frame range" and
"nearest label" on every repaint; with 100,000 labels those must be O(log n), and a plain
list scan is not. Insertion into a Python list is a memmove, which stays well under a
millisecond at that size. Keys are ``(frame, class index, annotator)``.

Edits are command objects with ``apply(state)`` and ``inverse()`` (`state` is anything with
``labels``, ``reviews`` and ``videos``, normally a Project). ``Project.apply`` journals them;
the GUI wraps them in QUndoCommand. Every edit records what it replaced when applied, so its
inverse restores timestamps and annotators exactly. ``to_dict``/``edit_from_dict`` give the
JSON form written to journal.jsonl. Edits address a label by its full identity; journal lines
written before the annotator was part of it (no ``annotator`` member) name the one label of
that class on that frame, which was unique then, and still replay.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import replace
from typing import Any, Iterable

from .errors import LabelError
from .types import CLASSES, PointLabel, parse_class

_CLS_ORDER = {name: i for i, name in enumerate(CLASSES)}

UNKNOWN_ANNOTATOR = "(unknown)"   # how the empty annotator name is shown
CONSENSUS = "consensus"           # the adjudicated layer (pfes_core.adjudication)


def annotator_title(name: str) -> str:
    """The annotator's name as shown to people: the empty name is '(unknown)'."""
    return name if name else UNKNOWN_ANNOTATOR


def _key(frame: int, cls: str, annotator: str) -> tuple[int, int, str]:
    return (frame, _CLS_ORDER[cls], annotator)


def _who(annotator: str) -> str:
    return f" of annotator {annotator_title(annotator)!r}"


class LabelStore:
    """All point labels of a project, indexed per video by (frame, class, annotator)."""

    def __init__(self, labels: Iterable[PointLabel] = ()):
        self._keys: dict[str, list[tuple[int, int, str]]] = {}
        self._items: dict[str, dict[tuple[int, int, str], PointLabel]] = {}
        self._n = 0
        self.revision = 0        # bumped by every change: lets views cache what they derive
        for label in labels:
            self._add(label)

    # ---- read API -------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def __iter__(self):
        return iter(self.all())

    def __contains__(self, item) -> bool:
        if isinstance(item, PointLabel):
            return self.get(item.video, item.frame, item.cls, item.annotator) is not None
        return self.get(*item) is not None

    def videos(self) -> list[str]:
        return sorted(v for v, keys in self._keys.items() if keys)

    def annotators(self) -> list[str]:
        """Every annotator name that has a label, sorted ('' first when present)."""
        return sorted({k[2] for keys in self._keys.values() for k in keys})

    def get(self, video: str, frame: int, cls: str, annotator: str | None = None) -> PointLabel | None:
        """The label with this identity; with ``annotator=None`` the first one of that class on that
        frame, whoever made it (annotators in name order)."""
        items = self._items.get(video)
        if items is None or cls not in _CLS_ORDER:
            return None
        if annotator is not None:
            return items.get(_key(int(frame), cls, str(annotator)))
        same = self.of_class_at(video, frame, cls)
        return same[0] if same else None

    def of_class_at(self, video: str, frame: int, cls: str) -> list[PointLabel]:
        """Every annotator's label of class `cls` on `frame` (in annotator name order)."""
        want = _CLS_ORDER.get(cls)
        return [lb for lb in self.at(video, frame) if _CLS_ORDER[lb.cls] == want]

    def all(self, annotators: Iterable[str] | None = None) -> list[PointLabel]:
        out: list[PointLabel] = []
        for video in self.videos():
            out.extend(self.for_video(video, annotators))
        return out

    def for_video(self, video: str, annotators: Iterable[str] | None = None) -> list[PointLabel]:
        items = self._items.get(video, {})
        keys = self._keys.get(video, [])
        if annotators is None:
            return [items[k] for k in keys]
        allowed = set(annotators)
        return [items[k] for k in keys if k[2] in allowed]

    def in_range(self, video: str, lo: int, hi: int, annotators: Iterable[str] | None = None) -> list[PointLabel]:
        """Labels with lo <= frame <= hi, sorted by frame, class, annotator (optionally of some
        annotators only)."""
        keys = self._keys.get(video)
        if not keys:
            return []
        i = bisect.bisect_left(keys, (int(lo),))
        j = bisect.bisect_left(keys, (int(hi) + 1,))
        items = self._items[video]
        if annotators is None:
            return [items[k] for k in keys[i:j]]
        allowed = set(annotators)
        return [items[k] for k in keys[i:j] if k[2] in allowed]

    def at(self, video: str, frame: int, annotators: Iterable[str] | None = None) -> list[PointLabel]:
        return self.in_range(video, frame, frame, annotators)

    def nearest(self, video: str, frame: int, cls: str | None = None,
                annotators: Iterable[str] | None = None) -> PointLabel | None:
        """The label closest to `frame` (ties: the earlier one), optionally of one class and of some
        annotators only."""
        keys = self._keys.get(video)
        if not keys:
            return None
        items = self._items[video]
        want = None if cls is None else _CLS_ORDER.get(cls)
        if cls is not None and want is None:
            raise LabelError(f"unknown expression class {cls!r}")
        allowed = None if annotators is None else set(annotators)
        i = bisect.bisect_left(keys, (int(frame),))
        best: PointLabel | None = None
        # Walk outwards from the insertion point; stop once a side's distance exceeds the best.
        left, right = i - 1, i
        while left >= 0 or right < len(keys):
            dl = frame - keys[left][0] if left >= 0 else None
            dr = keys[right][0] - frame if right < len(keys) else None
            if best is not None:
                bd = abs(best.frame - frame)
                if (dl is None or dl > bd) and (dr is None or dr > bd):
                    break
            if dr is not None and (dl is None or dr < dl):
                k = keys[right]
                right += 1
            else:
                k = keys[left]
                left -= 1
            if (want is not None and k[1] != want) or (allowed is not None and k[2] not in allowed):
                continue
            cand = items[k]
            if best is None or abs(cand.frame - frame) < abs(best.frame - frame) or (
                    abs(cand.frame - frame) == abs(best.frame - frame) and cand.frame < best.frame):
                best = cand
        return best

    def counts(self, annotators: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
        allowed = None if annotators is None else set(annotators)
        out: dict[str, dict[str, int]] = {}
        for video in self.videos():
            c = {name: 0 for name in CLASSES}
            for _, ci, ann in self._keys[video]:
                if allowed is None or ann in allowed:
                    c[CLASSES[ci]] += 1
            out[video] = c
        return out

    def class_totals(self, annotators: Iterable[str] | None = None) -> dict[str, int]:
        totals = {name: 0 for name in CLASSES}
        for c in self.counts(annotators).values():
            for name, n in c.items():
                totals[name] += n
        return totals

    def resolve(self, video: str, frame: int, cls: str, annotator: str | None) -> PointLabel:
        """The label an edit addresses: by full identity, or (``annotator=None``, journal lines
        written before annotators were part of the identity) the only one of its class on the frame."""
        if annotator is not None:
            label = self.get(video, frame, cls, annotator)
            if label is None:
                raise LabelError(f"no {cls} label{_who(annotator)} at frame {frame} of {video!r}")
            return label
        same = self.of_class_at(video, int(frame), cls)
        if not same:
            raise LabelError(f"no {cls} label at frame {frame} of {video!r}")
        if len(same) > 1:
            raise LabelError(f"{len(same)} annotators have a {cls} label at frame {frame} of {video!r}; "
                             f"name the annotator")
        return same[0]

    # ---- mutation (only edits call these) -------------------------------------------------
    def _add(self, label: PointLabel) -> None:
        k = _key(label.frame, label.cls, label.annotator)
        items = self._items.setdefault(label.video, {})
        if k in items:
            raise LabelError(f"a {label.cls} label{_who(label.annotator)} already exists at frame "
                             f"{label.frame} of {label.video!r} (one label per class per frame and annotator)")
        items[k] = label
        bisect.insort(self._keys.setdefault(label.video, []), k)
        self._n += 1
        self.revision += 1

    def _remove(self, video: str, frame: int, cls: str, annotator: str = "") -> PointLabel:
        items = self._items.get(video)
        k = _key(int(frame), cls, str(annotator)) if cls in _CLS_ORDER else None
        if items is None or k not in items:
            raise LabelError(f"no {cls} label{_who(annotator)} at frame {frame} of {video!r}")
        label = items.pop(k)
        keys = self._keys[video]
        del keys[bisect.bisect_left(keys, k)]
        self._n -= 1
        self.revision += 1
        return label

    def _drop_video(self, video: str) -> None:
        self._n -= len(self._keys.pop(video, []))
        self._items.pop(video, None)
        self.revision += 1


# ---- validation --------------------------------------------------------------------------
def validate_label(state, video: str, frame: Any, cls: str) -> tuple[int, str]:
    """Check a (video, frame, class) against the registered videos; return (frame, canonical cls)."""
    cls = parse_class(cls)
    record = state.videos.get(video)
    if record is None:
        raise LabelError(f"unknown video {video!r} (register it with add-video first)")
    if isinstance(frame, bool):
        raise LabelError(f"frame {frame!r} is not a whole number")
    if not isinstance(frame, int):
        try:
            if isinstance(frame, float) and not frame.is_integer():
                raise ValueError
            frame = int(frame)
        except (TypeError, ValueError, OverflowError):
            raise LabelError(f"frame {frame!r} is not a whole number") from None
    if not 0 <= frame < record.n_frames:
        raise LabelError(f"frame {frame} is outside video {video!r} (0..{record.n_frames - 1})")
    return frame, cls


def _annotator(value) -> str | None:
    """An annotator name from an edit's arguments or journal line (None: not named)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise LabelError(f"annotator {value!r} is not text")
    return value


def _now() -> float:
    return time.time()


# ---- edits -------------------------------------------------------------------------------
class Edit:
    """Base of undoable edits. `kind` names the edit in the journal."""

    kind = "edit"

    def apply(self, state) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self) -> "Edit":  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        return self.kind

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()})"


def _with_annotator(d: dict, annotator: str | None) -> dict:
    if annotator is not None:
        d["annotator"] = annotator
    return d


class AddLabel(Edit):
    kind = "add"

    def __init__(self, video: str, frame: int, cls: str, annotator: str = "",
                 created: float | None = None, modified: float | None = None):
        self.video = str(video)
        self.frame = frame
        self.cls = cls
        self.annotator = _annotator(annotator) or ""
        self.created = _now() if created is None else float(created)
        self.modified = self.created if modified is None else float(modified)

    def label(self) -> PointLabel:
        return PointLabel(self.video, int(self.frame), self.cls, self.annotator, self.created, self.modified)

    def apply(self, state) -> None:
        self.frame, self.cls = validate_label(state, self.video, self.frame, self.cls)
        state.labels._add(self.label())

    def inverse(self) -> "DeleteLabel":
        return DeleteLabel(self.video, self.frame, self.cls, self.annotator)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "video": self.video, "frame": self.frame, "cls": self.cls,
                "annotator": self.annotator, "created": self.created, "modified": self.modified}

    def describe(self) -> str:
        return f"add {self.cls} label at frame {self.frame}"


class DeleteLabel(Edit):
    kind = "delete"

    def __init__(self, video: str, frame: int, cls: str, annotator: str | None = None):
        self.video, self.frame, self.cls = str(video), frame, cls
        self.annotator = _annotator(annotator)
        self.removed: PointLabel | None = None

    def apply(self, state) -> None:
        cls = parse_class(self.cls)
        old = state.labels.resolve(self.video, int(self.frame), cls, self.annotator)
        self.removed = state.labels._remove(self.video, old.frame, cls, old.annotator)
        self.frame, self.cls, self.annotator = old.frame, cls, old.annotator

    def inverse(self) -> AddLabel:
        if self.removed is None:
            raise LabelError("cannot invert a delete that was not applied")
        r = self.removed
        return AddLabel(r.video, r.frame, r.cls, r.annotator, r.created, r.modified)

    def to_dict(self) -> dict:
        return _with_annotator({"kind": self.kind, "video": self.video, "frame": self.frame, "cls": self.cls},
                               self.annotator)

    def describe(self) -> str:
        return f"delete {self.cls} label at frame {self.frame}"


class MoveLabel(Edit):
    kind = "move"

    def __init__(self, video: str, frame: int, cls: str, new_frame: int, modified: float | None = None,
                 annotator: str | None = None):
        self.video, self.frame, self.cls, self.new_frame = str(video), frame, cls, new_frame
        self.modified = _now() if modified is None else float(modified)
        self.annotator = _annotator(annotator)
        self.before: PointLabel | None = None

    def apply(self, state) -> None:
        cls = parse_class(self.cls)
        new_frame, _ = validate_label(state, self.video, self.new_frame, cls)
        old = state.labels.resolve(self.video, int(self.frame), cls, self.annotator)
        if new_frame != old.frame and state.labels.get(self.video, new_frame, cls, old.annotator) is not None:
            raise LabelError(f"a {cls} label{_who(old.annotator)} already exists at frame {new_frame} of "
                             f"{self.video!r} (one label per class per frame and annotator)")
        state.labels._remove(self.video, old.frame, cls, old.annotator)
        state.labels._add(replace(old, frame=new_frame, modified=self.modified))
        self.before, self.frame, self.cls, self.new_frame = old, old.frame, cls, new_frame
        self.annotator = old.annotator

    def inverse(self) -> "MoveLabel":
        restore = self.before.modified if self.before is not None else self.modified
        return MoveLabel(self.video, self.new_frame, self.cls, self.frame, modified=restore,
                         annotator=self.annotator)

    def to_dict(self) -> dict:
        return _with_annotator({"kind": self.kind, "video": self.video, "frame": self.frame, "cls": self.cls,
                                "new_frame": self.new_frame, "modified": self.modified}, self.annotator)

    def describe(self) -> str:
        return f"move {self.cls} label from frame {self.frame} to {self.new_frame}"


class RetypeLabel(Edit):
    kind = "retype"

    def __init__(self, video: str, frame: int, cls: str, new_cls: str, modified: float | None = None,
                 annotator: str | None = None):
        self.video, self.frame, self.cls, self.new_cls = str(video), frame, cls, new_cls
        self.modified = _now() if modified is None else float(modified)
        self.annotator = _annotator(annotator)
        self.before: PointLabel | None = None

    def apply(self, state) -> None:
        cls, new_cls = parse_class(self.cls), parse_class(self.new_cls)
        old = state.labels.resolve(self.video, int(self.frame), cls, self.annotator)
        if new_cls != cls and state.labels.get(self.video, old.frame, new_cls, old.annotator) is not None:
            raise LabelError(f"a {new_cls} label{_who(old.annotator)} already exists at frame {old.frame} of "
                             f"{self.video!r} (one label per class per frame and annotator)")
        state.labels._remove(self.video, old.frame, cls, old.annotator)
        state.labels._add(replace(old, cls=new_cls, modified=self.modified))
        self.before, self.frame, self.cls, self.new_cls = old, old.frame, cls, new_cls
        self.annotator = old.annotator

    def inverse(self) -> "RetypeLabel":
        restore = self.before.modified if self.before is not None else self.modified
        return RetypeLabel(self.video, self.frame, self.new_cls, self.cls, modified=restore,
                           annotator=self.annotator)

    def to_dict(self) -> dict:
        return _with_annotator({"kind": self.kind, "video": self.video, "frame": self.frame, "cls": self.cls,
                                "new_cls": self.new_cls, "modified": self.modified}, self.annotator)

    def describe(self) -> str:
        return f"change label at frame {self.frame} from {self.cls} to {self.new_cls}"


def _label_to_dict(label: PointLabel) -> dict:
    return {"video": label.video, "frame": label.frame, "cls": label.cls, "annotator": label.annotator,
            "created": label.created, "modified": label.modified}


def _label_from_dict(d: dict) -> PointLabel:
    return PointLabel(str(d["video"]), int(d["frame"]), str(d["cls"]), str(d.get("annotator", "")),
                      float(d.get("created", 0.0)), float(d.get("modified", 0.0)))


class BulkImport(Edit):
    """Add many labels as one undoable step; all are validated first, so it is all or nothing.

    With ``skip_existing=True`` labels whose (video, frame, class, annotator) already exists are
    skipped (re-importing a file is then harmless); otherwise any clash refuses the whole import.
    """

    kind = "bulk_import"

    def __init__(self, labels: Iterable[PointLabel], skip_existing: bool = False):
        self.labels = list(labels)
        self.skip_existing = bool(skip_existing)
        self.added: list[PointLabel] | None = None

    def apply(self, state) -> None:
        seen: set[tuple[str, int, str, str]] = set()
        todo: list[PointLabel] = []
        for label in self.labels:
            frame, cls = validate_label(state, label.video, label.frame, label.cls)
            ann = _annotator(label.annotator) or ""
            key = (label.video, frame, cls, ann)
            exists = key in seen or state.labels.get(label.video, frame, cls, ann) is not None
            if exists:
                if self.skip_existing:
                    continue
                raise LabelError(f"a {cls} label{_who(ann)} already exists at frame {frame} of "
                                 f"{label.video!r} (one label per class per frame and annotator)")
            seen.add(key)
            todo.append(replace(label, frame=frame, cls=cls, annotator=ann))
        for label in todo:
            state.labels._add(label)
        self.added = todo

    def inverse(self) -> "BulkDelete":
        if self.added is None:
            raise LabelError("cannot invert an import that was not applied")
        return BulkDelete([(lb.video, lb.frame, lb.cls, lb.annotator) for lb in self.added])

    def to_dict(self) -> dict:
        return {"kind": self.kind, "skip_existing": self.skip_existing,
                "labels": [_label_to_dict(lb) for lb in self.labels]}

    def describe(self) -> str:
        n = len(self.added) if self.added is not None else len(self.labels)
        return f"import {n} labels"


class BulkDelete(Edit):
    """Remove many labels as one step (the inverse of BulkImport; also 'delete selection').

    A key is ``(video, frame, cls, annotator)``; journal lines from before annotators were part of
    the identity hold ``(video, frame, cls)`` keys, which name the one label of that class there."""

    kind = "bulk_delete"

    def __init__(self, keys: Iterable[tuple]):
        self.keys: list[tuple] = []
        for key in keys:
            key = tuple(key)
            if len(key) not in (3, 4):
                raise LabelError(f"a label key has {len(key)} parts, expected video, frame, class[, annotator]")
            head = (str(key[0]), int(key[1]), str(key[2]))
            self.keys.append(head + ((_annotator(key[3]),) if len(key) == 4 else ()))
        self.removed: list[PointLabel] | None = None

    def apply(self, state) -> None:
        found = [state.labels.resolve(k[0], k[1], parse_class(k[2]), k[3] if len(k) == 4 else None)
                 for k in self.keys]
        if len(set(found)) != len(found):
            raise LabelError("the same label is listed twice")
        self.removed = [state.labels._remove(lb.video, lb.frame, lb.cls, lb.annotator) for lb in found]
        self.keys = [(lb.video, lb.frame, lb.cls, lb.annotator) for lb in found]

    def inverse(self) -> BulkImport:
        if self.removed is None:
            raise LabelError("cannot invert a delete that was not applied")
        return BulkImport(self.removed)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "keys": [list(k) for k in self.keys]}

    def describe(self) -> str:
        return f"delete {len(self.keys)} labels"


EDIT_KINDS: dict[str, type] = {}


def register_edit(cls: type) -> type:
    EDIT_KINDS[cls.kind] = cls
    return cls


for _cls in (AddLabel, DeleteLabel, MoveLabel, RetypeLabel, BulkImport, BulkDelete):
    register_edit(_cls)


def edit_from_dict(d: dict) -> Edit:
    """Rebuild an edit from its journal form (see each class's to_dict)."""
    kind = d.get("kind")
    if kind == "add":
        return AddLabel(d["video"], d["frame"], d["cls"], d.get("annotator", ""), d.get("created"),
                        d.get("modified"))
    if kind == "delete":
        return DeleteLabel(d["video"], d["frame"], d["cls"], d.get("annotator"))
    if kind == "move":
        return MoveLabel(d["video"], d["frame"], d["cls"], d["new_frame"], d.get("modified"), d.get("annotator"))
    if kind == "retype":
        return RetypeLabel(d["video"], d["frame"], d["cls"], d["new_cls"], d.get("modified"), d.get("annotator"))
    if kind == "bulk_import":
        return BulkImport([_label_from_dict(x) for x in d["labels"]], d.get("skip_existing", False))
    if kind == "bulk_delete":
        return BulkDelete(d["keys"])
    from . import adjudication, reviews  # noqa: F401  (register their edits; imported late to avoid a cycle)

    cls = EDIT_KINDS.get(kind)
    if cls is not None and hasattr(cls, "from_dict"):
        return cls.from_dict(d)
    raise LabelError(f"unknown edit kind {kind!r} in journal")


# ---- layers for training -----------------------------------------------------------------
UNION = "union"


def layer_labels(store: LabelStore, layer: str = UNION) -> list[PointLabel]:
    """The labels a model trains on: one annotator's layer, the consensus layer, or ``union``.

    ``union`` is every annotator's labels except the consensus layer (which is derived from them),
    one label per (video, frame, class) where annotators clicked the same frame; labels a few
    frames apart stay separate, so for a corpus coded twice ``consensus`` is the cleaner choice."""
    if layer == UNKNOWN_ANNOTATOR:
        layer = ""
    if layer == UNION:
        out: dict[tuple[str, int, str], PointLabel] = {}
        for lb in store.all():
            if lb.annotator != CONSENSUS:
                out.setdefault((lb.video, lb.frame, lb.cls), lb)
        return list(out.values())
    if layer not in store.annotators():
        have = ", ".join(repr(annotator_title(a)) for a in store.annotators()) or "none"
        raise LabelError(f"no labels of annotator {annotator_title(layer)!r} to train on (layers with "
                         f"labels: {have}; or {UNION!r})")
    return store.all([layer])
