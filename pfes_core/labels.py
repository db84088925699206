"""Point labels: an indexed store and the undoable edits that change it.

A label is identified by ``(video, frame, cls)``. The rule: two labels of the SAME class on one
frame are refused (LabelError) because they would be indistinguishable for training and undo;
a MaE and a ME label on the same frame are allowed (an ME can sit inside a macro-expression).

Why per-video sorted key lists + bisect: the timeline asks "labels in this frame range" and
"nearest label" on every repaint; with 100,000 labels those must be O(log n), and a plain
list scan is not. Insertion into a Python list is a memmove, which stays well under a
millisecond at that size.

Edits are command objects with ``apply(state)`` and ``inverse()`` (`state` is anything with
``labels``, ``reviews`` and ``videos``, normally a Project). ``Project.apply`` journals them;
the GUI wraps them in QUndoCommand. Every edit records what it replaced when applied, so its
inverse restores timestamps and annotators exactly. ``to_dict``/``edit_from_dict`` give the
JSON form written to journal.jsonl.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import replace
from typing import Any, Iterable

from .errors import LabelError
from .types import CLASSES, PointLabel, parse_class

_CLS_ORDER = {name: i for i, name in enumerate(CLASSES)}


def _key(frame: int, cls: str) -> tuple[int, int]:
    return (frame, _CLS_ORDER[cls])


class LabelStore:
    """All point labels of a project, indexed per video by (frame, class)."""

    def __init__(self, labels: Iterable[PointLabel] = ()):
        self._keys: dict[str, list[tuple[int, int]]] = {}
        self._items: dict[str, dict[tuple[int, int], PointLabel]] = {}
        self._n = 0
        for label in labels:
            self._add(label)

    # ---- read API -------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def __iter__(self):
        return iter(self.all())

    def __contains__(self, item) -> bool:
        if isinstance(item, PointLabel):
            item = (item.video, item.frame, item.cls)
        video, frame, cls = item
        return self.get(video, frame, cls) is not None

    def videos(self) -> list[str]:
        return sorted(v for v, keys in self._keys.items() if keys)

    def get(self, video: str, frame: int, cls: str) -> PointLabel | None:
        items = self._items.get(video)
        if items is None or cls not in _CLS_ORDER:
            return None
        return items.get(_key(int(frame), cls))

    def all(self) -> list[PointLabel]:
        out: list[PointLabel] = []
        for video in self.videos():
            out.extend(self.for_video(video))
        return out

    def for_video(self, video: str) -> list[PointLabel]:
        items = self._items.get(video, {})
        return [items[k] for k in self._keys.get(video, [])]

    def in_range(self, video: str, lo: int, hi: int) -> list[PointLabel]:
        """Labels with lo <= frame <= hi, sorted by frame then class."""
        keys = self._keys.get(video)
        if not keys:
            return []
        i = bisect.bisect_left(keys, (int(lo), -1))
        j = bisect.bisect_right(keys, (int(hi), len(CLASSES)))
        items = self._items[video]
        return [items[k] for k in keys[i:j]]

    def at(self, video: str, frame: int) -> list[PointLabel]:
        return self.in_range(video, frame, frame)

    def nearest(self, video: str, frame: int, cls: str | None = None) -> PointLabel | None:
        """The label closest to `frame` (ties: the earlier one), optionally of one class only."""
        keys = self._keys.get(video)
        if not keys:
            return None
        items = self._items[video]
        want = None if cls is None else _CLS_ORDER.get(cls)
        if cls is not None and want is None:
            raise LabelError(f"unknown expression class {cls!r}")
        i = bisect.bisect_left(keys, (int(frame), -1))
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
            if want is not None and k[1] != want:
                continue
            cand = items[k]
            if best is None or abs(cand.frame - frame) < abs(best.frame - frame) or (
                    abs(cand.frame - frame) == abs(best.frame - frame) and cand.frame < best.frame):
                best = cand
        return best

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for video in self.videos():
            c = {name: 0 for name in CLASSES}
            for _, ci in self._keys[video]:
                c[CLASSES[ci]] += 1
            out[video] = c
        return out

    def class_totals(self) -> dict[str, int]:
        totals = {name: 0 for name in CLASSES}
        for c in self.counts().values():
            for name, n in c.items():
                totals[name] += n
        return totals

    # ---- mutation (only edits call these) -------------------------------------------------
    def _add(self, label: PointLabel) -> None:
        k = _key(label.frame, label.cls)
        items = self._items.setdefault(label.video, {})
        if k in items:
            raise LabelError(f"a {label.cls} label already exists at frame {label.frame} of "
                             f"{label.video!r} (one label per class per frame)")
        items[k] = label
        bisect.insort(self._keys.setdefault(label.video, []), k)
        self._n += 1

    def _remove(self, video: str, frame: int, cls: str) -> PointLabel:
        items = self._items.get(video)
        k = _key(int(frame), cls) if cls in _CLS_ORDER else None
        if items is None or k not in items:
            raise LabelError(f"no {cls} label at frame {frame} of {video!r}")
        label = items.pop(k)
        keys = self._keys[video]
        del keys[bisect.bisect_left(keys, k)]
        self._n -= 1
        return label

    def _drop_video(self, video: str) -> None:
        self._n -= len(self._keys.pop(video, []))
        self._items.pop(video, None)


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


class AddLabel(Edit):
    kind = "add"

    def __init__(self, video: str, frame: int, cls: str, annotator: str = "",
                 created: float | None = None, modified: float | None = None):
        self.video = str(video)
        self.frame = frame
        self.cls = cls
        self.annotator = str(annotator or "")
        self.created = _now() if created is None else float(created)
        self.modified = self.created if modified is None else float(modified)

    def label(self) -> PointLabel:
        return PointLabel(self.video, int(self.frame), self.cls, self.annotator, self.created, self.modified)

    def apply(self, state) -> None:
        self.frame, self.cls = validate_label(state, self.video, self.frame, self.cls)
        state.labels._add(self.label())

    def inverse(self) -> "DeleteLabel":
        return DeleteLabel(self.video, self.frame, self.cls)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "video": self.video, "frame": self.frame, "cls": self.cls,
                "annotator": self.annotator, "created": self.created, "modified": self.modified}

    def describe(self) -> str:
        return f"add {self.cls} label at frame {self.frame}"


class DeleteLabel(Edit):
    kind = "delete"

    def __init__(self, video: str, frame: int, cls: str):
        self.video, self.frame, self.cls = str(video), frame, cls
        self.removed: PointLabel | None = None

    def apply(self, state) -> None:
        cls = parse_class(self.cls)
        self.removed = state.labels._remove(self.video, int(self.frame), cls)
        self.frame, self.cls = self.removed.frame, cls

    def inverse(self) -> AddLabel:
        if self.removed is None:
            raise LabelError("cannot invert a delete that was not applied")
        r = self.removed
        return AddLabel(r.video, r.frame, r.cls, r.annotator, r.created, r.modified)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "video": self.video, "frame": self.frame, "cls": self.cls}

    def describe(self) -> str:
        return f"delete {self.cls} label at frame {self.frame}"


class MoveLabel(Edit):
    kind = "move"

    def __init__(self, video: str, frame: int, cls: str, new_frame: int, modified: float | None = None):
        self.video, self.frame, self.cls, self.new_frame = str(video), frame, cls, new_frame
        self.modified = _now() if modified is None else float(modified)
        self.before: PointLabel | None = None

    def apply(self, state) -> None:
        cls = parse_class(self.cls)
        new_frame, _ = validate_label(state, self.video, self.new_frame, cls)
        old = state.labels.get(self.video, int(self.frame), cls)
        if old is None:
            raise LabelError(f"no {cls} label at frame {self.frame} of {self.video!r}")
        if new_frame != old.frame and state.labels.get(self.video, new_frame, cls) is not None:
            raise LabelError(f"a {cls} label already exists at frame {new_frame} of {self.video!r} "
                             f"(one label per class per frame)")
        state.labels._remove(self.video, old.frame, cls)
        state.labels._add(replace(old, frame=new_frame, modified=self.modified))
        self.before, self.frame, self.cls, self.new_frame = old, old.frame, cls, new_frame

    def inverse(self) -> "MoveLabel":
        restore = self.before.modified if self.before is not None else self.modified
        return MoveLabel(self.video, self.new_frame, self.cls, self.frame, modified=restore)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "video": self.video, "frame": self.frame, "cls": self.cls,
                "new_frame": self.new_frame, "modified": self.modified}

    def describe(self) -> str:
        return f"move {self.cls} label from frame {self.frame} to {self.new_frame}"


class RetypeLabel(Edit):
    kind = "retype"

    def __init__(self, video: str, frame: int, cls: str, new_cls: str, modified: float | None = None):
        self.video, self.frame, self.cls, self.new_cls = str(video), frame, cls, new_cls
        self.modified = _now() if modified is None else float(modified)
        self.before: PointLabel | None = None

    def apply(self, state) -> None:
        cls, new_cls = parse_class(self.cls), parse_class(self.new_cls)
        old = state.labels.get(self.video, int(self.frame), cls)
        if old is None:
            raise LabelError(f"no {cls} label at frame {self.frame} of {self.video!r}")
        if new_cls != cls and state.labels.get(self.video, old.frame, new_cls) is not None:
            raise LabelError(f"a {new_cls} label already exists at frame {old.frame} of {self.video!r} "
                             f"(one label per class per frame)")
        state.labels._remove(self.video, old.frame, cls)
        state.labels._add(replace(old, cls=new_cls, modified=self.modified))
        self.before, self.frame, self.cls, self.new_cls = old, old.frame, cls, new_cls

    def inverse(self) -> "RetypeLabel":
        restore = self.before.modified if self.before is not None else self.modified
        return RetypeLabel(self.video, self.frame, self.new_cls, self.cls, modified=restore)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "video": self.video, "frame": self.frame, "cls": self.cls,
                "new_cls": self.new_cls, "modified": self.modified}

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

    With ``skip_existing=True`` labels whose (video, frame, class) already exists are skipped
    (re-importing a file is then harmless); otherwise any clash refuses the whole import.
    """

    kind = "bulk_import"

    def __init__(self, labels: Iterable[PointLabel], skip_existing: bool = False):
        self.labels = list(labels)
        self.skip_existing = bool(skip_existing)
        self.added: list[PointLabel] | None = None

    def apply(self, state) -> None:
        seen: set[tuple[str, int, str]] = set()
        todo: list[PointLabel] = []
        for label in self.labels:
            frame, cls = validate_label(state, label.video, label.frame, label.cls)
            key = (label.video, frame, cls)
            exists = key in seen or state.labels.get(label.video, frame, cls) is not None
            if exists:
                if self.skip_existing:
                    continue
                raise LabelError(f"a {cls} label already exists at frame {frame} of {label.video!r} "
                                 f"(one label per class per frame)")
            seen.add(key)
            todo.append(replace(label, frame=frame, cls=cls))
        for label in todo:
            state.labels._add(label)
        self.added = todo

    def inverse(self) -> "BulkDelete":
        if self.added is None:
            raise LabelError("cannot invert an import that was not applied")
        return BulkDelete([(lb.video, lb.frame, lb.cls) for lb in self.added])

    def to_dict(self) -> dict:
        return {"kind": self.kind, "skip_existing": self.skip_existing,
                "labels": [_label_to_dict(lb) for lb in self.labels]}

    def describe(self) -> str:
        n = len(self.added) if self.added is not None else len(self.labels)
        return f"import {n} labels"


class BulkDelete(Edit):
    """Remove many labels as one step (the inverse of BulkImport; also 'delete selection')."""

    kind = "bulk_delete"

    def __init__(self, keys: Iterable[tuple[str, int, str]]):
        self.keys = [(str(v), int(f), str(c)) for v, f, c in keys]
        self.removed: list[PointLabel] | None = None

    def apply(self, state) -> None:
        keys = [(v, f, parse_class(c)) for v, f, c in self.keys]
        for v, f, c in keys:
            if state.labels.get(v, f, c) is None:
                raise LabelError(f"no {c} label at frame {f} of {v!r}")
        if len(set(keys)) != len(keys):
            raise LabelError("the same label is listed twice")
        self.removed = [state.labels._remove(v, f, c) for v, f, c in keys]

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
        return DeleteLabel(d["video"], d["frame"], d["cls"])
    if kind == "move":
        return MoveLabel(d["video"], d["frame"], d["cls"], d["new_frame"], d.get("modified"))
    if kind == "retype":
        return RetypeLabel(d["video"], d["frame"], d["cls"], d["new_cls"], d.get("modified"))
    if kind == "bulk_import":
        return BulkImport([_label_from_dict(x) for x in d["labels"]], d.get("skip_existing", False))
    if kind == "bulk_delete":
        return BulkDelete(d["keys"])
    from . import reviews  # noqa: F401  (registers SetReview; imported late to avoid a cycle)

    cls = EDIT_KINDS.get(kind)
    if cls is not None and hasattr(cls, "from_dict"):
        return cls.from_dict(d)
    raise LabelError(f"unknown edit kind {kind!r} in journal")
