"""Shared by the tests/attacks/test_inputs_*.py files: a small project with features and a
finished run, made through the project's own writers, and the checks every attack repeats."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pfes_core import runs
from pfes_core.cli import main
from pfes_core.features import FEATURE_VERSION, Features, features_path, save_features
from pfes_core.labels import BulkImport
from pfes_core.project import Project
from pfes_core.types import Interval, PointLabel

T = 375      # frames of each registered video (15 s at 25 fps)


def write_features(project: Project, vid: str, n_rows: int, seed: int = 0) -> Path:
    """A features file for `vid` with `n_rows` frames, fingerprinted as the registered video."""
    rng = np.random.default_rng(seed)
    rec = project.videos[vid]
    feats = Features(landmarks=np.zeros((n_rows, 68, 2), np.float32),
                     face_found=np.ones(n_rows, bool),
                     roi_vectors=rng.normal(0, 0.01, (n_rows, 12, 2)).astype(np.float32),
                     model_input=rng.normal(0, 0.01, (n_rows, 17, 10, 2)).astype(np.float32),
                     params={"version": FEATURE_VERSION}, fingerprint=rec.fingerprint,
                     n_frames=n_rows, fps=rec.fps, step=1, video_id=vid)
    return save_features(features_path(project.features_dir, vid), feats)


def make_project(tmp_path: Path, features: bool = True, run_status: str | None = "done") -> Path:
    """Two 375-frame videos (media absent: the records' fingerprints decide), labels, reference,
    correct features and, unless `run_status` is None, a run with that status and predictions."""
    root = tmp_path / "p.pfes"
    with Project.create(root) as p:
        for vid, subj in (("a", "s1"), ("b", "s2")):
            p.add_video(tmp_path / f"{vid}.mp4", subject=subj, video_id=vid, fps=25.0, n_frames=T,
                        fingerprint=f"f{vid}")
        p.apply(BulkImport([PointLabel("a", 100, "MaE"), PointLabel("b", 200, "ME")]))
        p.set_reference([Interval("a", "MaE", 90, 100, 110), Interval("b", "ME", 195, 200, 205)])
        p.save()
        if features:
            for k, vid in enumerate(("a", "b")):
                write_features(p, vid, T, seed=k)
    if run_status is not None:
        run_path, _ = runs.new_run(root)
        runs.write_json(run_path / "config.json", {"loso": False, "epochs": 1})
        runs.write_json(run_path / "labels.json", {"count": 2, "sha256": "x", "labels": []})
        a = np.full(T, 0.05, np.float32)
        a[90:111] = 0.9
        q = np.zeros((T, 2), np.float32)
        q[90:111, 0] = 0.9
        runs.write_predictions(run_path / "predictions.h5", {"a": (a, q), "b": (a, q)},
                               {"a": 25.0, "b": 25.0})
        runs.write_status(run_path, run_status)
    return root


def tree_state(*folders: Path) -> dict:
    """Every path under `folders` with a hash of its content: equal before and after = nothing
    created, removed or changed (opening a project may rewrite a file with the same bytes)."""
    import hashlib

    state = {}
    for folder in folders:
        for p in sorted(Path(folder).rglob("*")):
            state[str(p)] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return state


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """`pfes ARGV` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error(code: int, err: str, *fragments: str) -> str:
    """Exit 1 and exactly one stderr line, `error: ...` with every fragment and no traceback."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "internal error" not in lines[0], err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def write_checkpoint(path: Path, **config_overrides) -> Path:
    """An (untrained) small model saved as a checkpoint; `config_overrides` replace entries of the
    stored model_config afterwards, as a crafted file would."""
    import torch

    from pfes_core.model import ModelConfig, SpottingModel

    cfg = ModelConfig(width=32, heads=2)
    model = SpottingModel(cfg)
    payload = {"format": runs.CHECKPOINT_FORMAT, "version": runs.CHECKPOINT_VERSION, "epoch": 1,
               "model_config": {**cfg.to_dict(), **config_overrides}, "train_config": "{}",
               "history": "[]", "model": model.state_dict(), "optimizer": {}, "scheduler": {}}
    torch.save(payload, path)
    return path


def finished_run(root: Path):
    """The project's last run (made by `make_project`), with a checkpoint beside its predictions."""
    info = runs.list_runs(root)[-1]
    write_checkpoint(info.path / "checkpoint.pt")
    return info
