"""Training runs on disk: runs/<run-id>/ with labels.json, config.json, log.jsonl, status.json,
checkpoint.pt (or folds/<subject>/checkpoint.pt), metrics.json and predictions.h5.

Checkpoints hold only tensors and plain values and are read with torch.load(weights_only=True):
a project from someone else must never be able to execute code here. Listing runs and reading
predictions does not import torch (the GUI process stays light).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import atomic
from .errors import TrainingError
from .types import CLASSES, Interval

CHECKPOINT_FORMAT = "pfes-checkpoint"
CHECKPOINT_VERSION = 1
STATUSES = ("running", "done", "cancelled", "failed", "interrupted")  # interrupted: its process died


@dataclass
class RunInfo:
    """What `pfes runs` and the GUI list show about a run."""

    run_id: str
    created: float
    config: dict
    label_snapshot: dict          # {"count", "sha256"} (the labels themselves stay in labels.json)
    metrics: dict
    status: str
    path: Path = field(default=None, repr=False)   # type: ignore[assignment]
    epochs_done: int = 0          # epochs finished by the fold trained last (LOSO) or the model
    folds_started: int = 0


@dataclass
class Predictions:
    """Per-video model output saved in predictions.h5."""

    intensity: np.ndarray           # (T,)
    apex: np.ndarray                # (T, 2)
    proposals: list[Interval]
    fold: str | None = None


# ----------------------------------------------------------------------------- folders & json


def runs_root(project_root) -> Path:
    root = Path(project_root)
    if root.suffix != ".pfes" and not (root / "project.h5").exists() and Path(str(root) + ".pfes").exists():
        root = Path(str(root) + ".pfes")
    return root / "runs"


def run_dir(project_root, run_id: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", run_id or ""):
        raise TrainingError(f"invalid run id {run_id!r}")
    path = runs_root(project_root) / run_id
    if not path.is_dir():
        raise TrainingError(f"no run {run_id!r} in {runs_root(project_root)}")
    return path


def new_run(project_root) -> tuple[Path, str]:
    """Create runs/<YYYYmmdd-HHMMSS-xxxx>/ (sortable by time, unique)."""
    root = runs_root(project_root)
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
        path = root / run_id
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path, run_id
    raise TrainingError(f"could not create a run folder in {root}")


def write_json(path: Path, data) -> None:
    """Atomic write: temp file, fsync, rename (a crash never leaves half a file)."""
    atomic.write_text(path, json.dumps(data, indent=1))


def read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise TrainingError(f"missing run file {path}") from None
    except json.JSONDecodeError as exc:
        raise TrainingError(f"corrupt run file {path}: {exc}") from None


def write_status(run_path: Path, status: str, **extra) -> None:
    if status not in STATUSES:
        raise ValueError(status)
    if status == "running":  # who runs it: a later open can tell a crashed run from a live one
        extra = {"pid": os.getpid(), "hostname": socket.gethostname(), **extra}
    write_json(Path(run_path) / "status.json", {"status": status, "time": time.time(), **extra})


def mark_interrupted(project_root) -> list[str]:
    """Mark runs still "running" whose process on this host has died as "interrupted" (resumable);
    returns their ids. Runs of another host, or from before the pid was recorded, are left alone."""
    from .lock import pid_alive

    out = []
    for info in list_runs(project_root):
        status = _maybe_json(info.path / "status.json", {})
        if not isinstance(status, dict):
            continue
        pid = status.get("pid")
        if (status.get("status") == "running" and isinstance(pid, int) and not isinstance(pid, bool)
                and status.get("hostname") == socket.gethostname() and not pid_alive(pid)):
            write_status(info.path, "interrupted", interrupted_pid=pid, **{
                k: v for k, v in status.items() if k not in ("status", "time", "pid", "hostname")})
            out.append(info.run_id)
    return out


# ----------------------------------------------------------------------------- checkpoints


def checkpoint_path(run_path: Path, fold: str | None = None) -> Path:
    if fold is None:
        return Path(run_path) / "checkpoint.pt"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", str(fold))
    path = Path(run_path) / "folds" / safe
    path.mkdir(parents=True, exist_ok=True)
    return path / "checkpoint.pt"


def member_checkpoint_path(run_path: Path, fold: str | None = None, member: int = 0) -> Path:
    """Member 0 of a run (or fold) is its checkpoint.pt; member m of a seed-averaged run
    (`TrainConfig.members`) is checkpoint-m<m>.pt beside it."""
    return _member_of(checkpoint_path(run_path, fold), member)


def _member_of(checkpoint: Path, member: int) -> Path:
    return Path(checkpoint) if member == 0 else Path(checkpoint).with_name(f"checkpoint-m{int(member)}.pt")


def load_members(checkpoint: Path, device="cpu") -> list:
    """The models of checkpoint.pt and of the checkpoint-m<m>.pt beside it, in member order."""
    models, member = [load_model(checkpoint, device)], 1
    while (path := _member_of(checkpoint, member)).exists():
        models.append(load_model(path, device))
        member += 1
    return models


def save_checkpoint(path: Path, state, config) -> None:
    """State dicts only (model, optimiser, scheduler) + plain config; written atomically."""
    import torch

    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "epoch": int(state.epoch),
        "model_config": state.model.cfg.to_dict(),
        "train_config": json.dumps(config.to_dict()),
        "history": json.dumps(state.history),
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": {k: v for k, v in state.scheduler.state_dict().items() if isinstance(v, (int, float, list))},
    }
    with atomic.atomic_target(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: Path, map_location="cpu") -> dict:
    """torch.load with weights_only=True; anything else (pickled objects, garbage) is refused."""
    import torch

    path = Path(path)
    if not path.exists():
        raise TrainingError(f"missing checkpoint {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # UnpicklingError for foreign objects, RuntimeError for garbage
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainingError(f"refused checkpoint {path.name}: not a plain weights file ({first[:160]})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or "model" not in payload:
        raise TrainingError(f"refused checkpoint {path.name}: not a P-FES checkpoint")
    try:
        version = int(payload.get("version", 0))
    except (TypeError, ValueError):
        raise TrainingError(f"refused checkpoint {path.name}: its version is not a number") from None
    if version > CHECKPOINT_VERSION:
        raise TrainingError(f"checkpoint {path.name} is from a newer P-FES Studio")
    if not isinstance(payload.get("model_config"), dict) or not isinstance(payload["model"], dict):
        raise TrainingError(f"refused checkpoint {path.name}: no model configuration or weights")
    return payload


#: Largest network sizes a checkpoint may declare. The reference is width 256, 4 heads, ffn x2;
#: width 1024 already means ~50 M parameters. Checked before anything is built, so a crafted
#: "width 200000" is refused instead of attempting a 480 GB allocation.
MODEL_LIMITS = {"width": 1024, "heads": 64, "ffn_mult": 8}
_INT_LIMIT = 4096     # any other integer size a later model version adds


def checkpoint_model_config(payload: dict, name: str = "checkpoint"):
    """The checkpoint's ModelConfig after checking every field's type and range."""
    from dataclasses import fields

    from .model import ModelConfig

    data = payload["model_config"]
    values = {}
    for f in fields(ModelConfig):
        if f.name not in data:
            continue
        value, default = data[f.name], f.default
        bad = f"refused checkpoint {name}: model_config.{f.name} = {str(value)[:40]!r}"
        if isinstance(default, bool) or isinstance(default, str):
            if type(value) is not type(default):
                raise TrainingError(f"{bad} is not a {type(default).__name__}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TrainingError(f"{bad} is not an integer")
            if not 1 <= value <= MODEL_LIMITS.get(f.name, _INT_LIMIT):
                raise TrainingError(f"{bad} is outside 1..{MODEL_LIMITS.get(f.name, _INT_LIMIT)}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TrainingError(f"{bad} is not a number")
            if not 0.0 <= float(value) < 1.0:     # the float fields are dropout rates
                raise TrainingError(f"{bad} is outside [0, 1)")
        values[f.name] = value
    try:
        cfg = ModelConfig(**values)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"refused checkpoint {name}: bad model_config ({exc})") from None
    if cfg.width % cfg.heads:
        raise TrainingError(f"refused checkpoint {name}: width {cfg.width} is not a multiple of "
                            f"heads {cfg.heads}")
    embed = payload["model"].get("backbone.embed.weight")
    if embed is not None and tuple(getattr(embed, "shape", ())[:1]) != (cfg.width,):
        raise TrainingError(f"refused checkpoint {name}: its weights are not of width {cfg.width}")
    return cfg


def load_model(path: Path, device="cpu"):
    """Rebuild the network (a model.SpottingModel) from a checkpoint, in eval mode."""
    from .model import SpottingModel

    payload = read_checkpoint(path, map_location=device)
    model = SpottingModel(checkpoint_model_config(payload, Path(path).name))
    try:
        model.load_state_dict(payload["model"])
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise TrainingError(f"checkpoint {Path(path).name} does not match the model: {str(exc)[:200]}") from None
    return model.to(device).eval()


def load_checkpoint_into(path: Path, state, device="cpu") -> None:
    """Restore weights, optimiser, scheduler, epoch and history for --resume."""
    payload = read_checkpoint(path, map_location=device)
    state.model.load_state_dict(payload["model"])
    state.optimizer.load_state_dict(payload["optimizer"])
    state.scheduler.load_state_dict(payload["scheduler"])
    state.epoch = int(payload["epoch"])
    state.history = json.loads(payload.get("history", "[]"))


# ----------------------------------------------------------------------------- predictions


def write_predictions(path: Path, outputs: dict[str, tuple[np.ndarray, np.ndarray]],
                      fps: dict[str, float | None] | None = None, preset=None,
                      fold_of: dict[str, str | None] | None = None,
                      motion: Callable[[str], np.ndarray | None] | None = None,
                      head: Callable[[str], np.ndarray | None] | None = None) -> dict[str, Predictions]:
    """Proposals from `spotting.propose` + raw outputs into predictions.h5 (written to a temp, renamed).

    `motion(video)`: the video's ROI motion (`features.read_roi_motion`), which lets the proposals
    join MaE onsets to their releases and check that an ME returns; only asked when the preset
    does either. `head(video)`: its head track (`features.read_head_track`), asked only when the
    preset drops ME proposals on head motion.

    Layout: /videos/<n>/ with attrs video_id, fold; datasets intensity (T,), apex (T, 2) and
    proposals (cls, onset, apex, offset, score); root attr `preset` (JSON).
    """
    import h5py

    from . import spotting

    preset = preset or spotting.preset_from_settings()
    fps = fps or {}
    fold_of = fold_of or {}
    result: dict[str, Predictions] = {}
    dtype = np.dtype([("cls", "i1"), ("onset", "i8"), ("apex", "i8"), ("offset", "i8"), ("score", "f8")])
    with atomic.atomic_target(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["preset"] = json.dumps(preset.to_dict())
        h5.attrs["classes"] = json.dumps(list(CLASSES))
        group = h5.create_group("videos")
        for i, (vid, (a, q)) in enumerate(outputs.items()):
            vp = spotting.preset_for_fps(preset, fps.get(vid))
            wants_motion = bool(vp.release_gap) or vp.me_max_openness is not None
            moved = motion(vid) if motion is not None and wants_motion else None
            turned = head(vid) if head is not None and vp.me_max_head_motion is not None else None
            props = spotting.propose(a, q, vp, video=vid, fps=fps.get(vid), motion=moved, head=turned)
            g = group.create_group(f"{i:05d}")
            g.attrs["video_id"] = vid
            g.attrs["fold"] = "" if fold_of.get(vid) is None else str(fold_of[vid])
            g.create_dataset("intensity", data=np.asarray(a, dtype=np.float32), compression="gzip")
            g.create_dataset("apex", data=np.asarray(q, dtype=np.float32), compression="gzip")
            rows = np.array([(CLASSES.index(p.cls), p.onset, p.apex, p.offset,
                              np.nan if p.score is None else p.score) for p in props], dtype=dtype)
            g.create_dataset("proposals", data=rows, dtype=dtype)
            result[vid] = Predictions(np.asarray(a), np.asarray(q), props, fold_of.get(vid))
    return result


#: Bounds on what a predictions file may declare (checked before reading any dataset).
MAX_PREDICTED_FRAMES = 10_000_000
MAX_PROPOSALS = 1_000_000
_PROPOSAL_FIELDS = ("cls", "onset", "apex", "offset", "score")


def read_predictions(path: Path, expected_frames: dict[str, int] | None = None) -> dict[str, Predictions]:
    """Predictions of a run, checked: shapes, proposal fields and ranges (and frame counts when
    `expected_frames` gives them per video). TrainingError names the file and what is wrong."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise TrainingError(f"no predictions at {path}")
    try:
        with h5py.File(path, "r") as h5:
            return _read_prediction_groups(h5, expected_frames or {})
    except _BadPredictions as exc:
        raise TrainingError(f"predictions file {path} is damaged ({exc}); rerun `pfes spot`") from None
    except (OSError, KeyError, ValueError, TypeError, OverflowError) as exc:
        raise TrainingError(f"predictions file {path} is damaged or not one ({exc}); "
                            f"rerun `pfes spot`") from None


class _BadPredictions(Exception):
    pass


def _read_prediction_groups(h5, expected_frames: dict[str, int]) -> dict[str, Predictions]:
    import h5py

    videos = h5.get("videos")
    if not isinstance(videos, h5py.Group):
        raise _BadPredictions("no videos group")
    out: dict[str, Predictions] = {}
    for key in sorted(videos):
        g = videos[key]
        where = f"videos/{key}"
        if not isinstance(g, h5py.Group):
            raise _BadPredictions(f"{where} is not a group")
        vid = g.attrs.get("video_id")
        if isinstance(vid, bytes):
            vid = vid.decode("utf-8", "replace")
        if not isinstance(vid, str) or not vid:
            raise _BadPredictions(f"{where} has no video_id")
        if vid in out:
            raise _BadPredictions(f"video {vid!r} appears twice")
        datasets = {name: g.get(name) for name in ("intensity", "apex", "proposals")}
        for name, ds in datasets.items():
            if not isinstance(ds, h5py.Dataset):
                raise _BadPredictions(f"{where}/{name} is missing")
        n = datasets["intensity"].shape[0] if len(datasets["intensity"].shape) == 1 else -1
        if not 0 < n <= MAX_PREDICTED_FRAMES or datasets["intensity"].dtype.kind != "f":
            raise _BadPredictions(f"{where}/intensity is {datasets['intensity'].dtype} "
                                  f"{datasets['intensity'].shape}, expected float (frames,)")
        if vid in expected_frames and n != int(expected_frames[vid]):
            raise _BadPredictions(f"{where}/intensity has {n} frames, video {vid!r} has "
                                  f"{expected_frames[vid]}")
        if datasets["apex"].shape != (n, 2) or datasets["apex"].dtype.kind != "f":
            raise _BadPredictions(f"{where}/apex is {datasets['apex'].shape}, expected ({n}, 2)")
        props_ds = datasets["proposals"]
        names = props_ds.dtype.names or ()
        if len(props_ds.shape) != 1 or props_ds.shape[0] > MAX_PROPOSALS or \
                any(f not in names for f in _PROPOSAL_FIELDS):
            raise _BadPredictions(f"{where}/proposals is {props_ds.dtype} {props_ds.shape}, "
                                  f"expected a list of {', '.join(_PROPOSAL_FIELDS)}")
        rows = props_ds[()]
        props = []
        for k, r in enumerate(rows):
            cls, on, ap, off = int(r["cls"]), int(r["onset"]), int(r["apex"]), int(r["offset"])
            score = float(r["score"])
            if not (0 <= cls < len(CLASSES) and 0 <= on <= ap <= off < n) or np.isinf(score):
                raise _BadPredictions(f"{where}/proposals row {k} (class {cls}, frames {on}, {ap}, "
                                      f"{off}) is outside the video's {n} frames or classes")
            props.append(Interval(vid, CLASSES[cls], on, ap, off, None if np.isnan(score) else score))
        fold = g.attrs.get("fold", "")
        if isinstance(fold, bytes):
            fold = fold.decode("utf-8", "replace")
        out[vid] = Predictions(datasets["intensity"][()], datasets["apex"][()], props,
                               str(fold) or None)
    return out


def load_predictions(project_root, run_id: str | None = None) -> dict[str, Predictions]:
    """Predictions of a run (the latest finished run by default)."""
    if run_id is None:
        done = [r for r in list_runs(project_root) if r.status == "done"]
        if not done:
            raise TrainingError("no finished training run in this project (run `pfes train` first)")
        run_id = done[-1].run_id
    return read_predictions(run_dir(project_root, run_id) / "predictions.h5")


# ----------------------------------------------------------------------------- listing


def _maybe_json(path: Path, default):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError):
        return default


def list_runs(project_root) -> list[RunInfo]:
    """Every run folder, oldest first. A run whose process died while running reads 'running'
    until resumed; broken files never raise here."""
    root = runs_root(project_root)
    if not root.is_dir():
        return []
    out = []
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        labels = _maybe_json(path / "labels.json", {})
        status = _maybe_json(path / "status.json", {"status": "unknown"})
        epochs, folds = 0, set()
        log = path / "log.jsonl"
        if log.exists():
            with open(log, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    epochs = int(rec.get("epoch", epochs))      # of the fold trained last
                    folds.add(rec.get("fold"))
        out.append(RunInfo(
            run_id=path.name, created=path.stat().st_mtime if not (path / "config.json").exists()
            else (path / "config.json").stat().st_mtime,
            config=_maybe_json(path / "config.json", {}),
            label_snapshot={"count": labels.get("count"), "sha256": labels.get("sha256"),
                            "layer": labels.get("layer", "union")},
            metrics=_maybe_json(path / "metrics.json", {}), status=status.get("status", "unknown"),
            path=path, epochs_done=epochs, folds_started=len(folds)))
    return out
