"""Training runs on disk: runs/<run-id>/ with labels.json, config.json, log.jsonl, status.json,
checkpoint.pt (or folds/<subject>/checkpoint.pt), metrics.json and predictions.h5.

Checkpoints hold only tensors and plain values and are read with torch.load(weights_only=True):
a project from someone else must never be able to execute code here. Listing runs and reading
predictions does not import torch (the GUI process stays light).
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

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
    from .lock import _pid_alive

    out = []
    for info in list_runs(project_root):
        status = _maybe_json(info.path / "status.json", {})
        if not isinstance(status, dict):
            continue
        pid = status.get("pid")
        if (status.get("status") == "running" and isinstance(pid, int) and not isinstance(pid, bool)
                and status.get("hostname") == socket.gethostname() and not _pid_alive(pid)):
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
    if int(payload.get("version", 0)) > CHECKPOINT_VERSION:
        raise TrainingError(f"checkpoint {path.name} is from a newer P-FES Studio")
    return payload


def load_model(path: Path, device="cpu"):
    """Rebuild the network (a model.SpottingModel) from a checkpoint, in eval mode."""
    from .model import ModelConfig, SpottingModel

    payload = read_checkpoint(path, map_location=device)
    model = SpottingModel(ModelConfig.from_dict(payload["model_config"]))
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
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
                      fold_of: dict[str, str | None] | None = None) -> dict[str, Predictions]:
    """Proposals from `spotting.propose` + raw outputs into predictions.h5 (written to a temp, renamed).

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
            props = spotting.propose(a, q, vp, video=vid, fps=fps.get(vid))
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


def read_predictions(path: Path) -> dict[str, Predictions]:
    import h5py

    path = Path(path)
    if not path.exists():
        raise TrainingError(f"no predictions at {path}")
    out: dict[str, Predictions] = {}
    with h5py.File(path, "r") as h5:
        for key in sorted(h5["videos"]):
            g = h5["videos"][key]
            vid = str(g.attrs["video_id"])
            props = [Interval(vid, CLASSES[int(r["cls"])], int(r["onset"]), int(r["apex"]), int(r["offset"]),
                              None if np.isnan(r["score"]) else float(r["score"])) for r in g["proposals"][()]]
            fold = str(g.attrs.get("fold", "")) or None
            out[vid] = Predictions(g["intensity"][()], g["apex"][()], props, fold)
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
            label_snapshot={"count": labels.get("count"), "sha256": labels.get("sha256")},
            metrics=_maybe_json(path / "metrics.json", {}), status=status.get("status", "unknown"),
            path=path, epochs_done=epochs, folds_started=len(folds)))
    return out
