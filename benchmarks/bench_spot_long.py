"""`pfes spot` on a long video: where the time goes and what the CLI's thread policy changes.

Builds (with the project's own writers, no video needed) a project with one video of --frames
frames at 30 fps (default 54,000: 30 minutes), features of noisy ROI motion with a bump every 150
frames, and a finished run holding a cpu-preset checkpoint. Then times the real command,
`python -m pfes_core spot PROJECT`, in a fresh process per mode:

- after: the CLI as shipped (idle OpenMP threads sleep: OMP_WAIT_POLICY=PASSIVE, set by the CLI);
- before: GOMP_SPINCOUNT=300000, the OpenMP runtime's own default spin-wait (the CLI leaves an
  explicit setting alone), i.e. the behaviour before the change;
- one-thread: the shipped policy with OMP_NUM_THREADS=1, for reference.

Prints a table and appends it to benchmarks/RESULTS.md (unless --no-append).

    python benchmarks/bench_spot_long.py [--frames 54000] [--modes after,before,one-thread]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODES = {"after": {}, "before": {"GOMP_SPINCOUNT": "300000"},
         "one-thread": {"OMP_NUM_THREADS": "1"}}


def build_project(root: Path, n_frames: int) -> None:
    import torch

    from pfes_core import runs
    from pfes_core.features import FEATURE_VERSION, Features, features_path, save_features
    from pfes_core.model import SpottingModel
    from pfes_core.project import Project
    from pfes_core.training import TrainConfig

    rng = np.random.default_rng(0)
    vec = rng.normal(0, 0.02, (n_frames, 10, 2)).astype(np.float32)
    t = np.arange(n_frames)
    for c in range(75, n_frames - 75, 150):
        sl = slice(c - 40, c + 40)
        vec[sl, :, 1] += (0.4 * np.exp(-0.5 * ((t[sl] - c) / 7.5) ** 2))[:, None]
    windows = vec[np.clip(t[:, None] + np.arange(-8, 9)[None], 0, n_frames - 1)]
    with Project.create(root) as p:
        p.add_video(root.parent / "long.mp4", video_id="long", fps=30.0, n_frames=n_frames,
                    fingerprint="bench-long", subject="s1")
        p.save()
        save_features(features_path(p.features_dir, "long"), Features(
            landmarks=np.zeros((n_frames, 68, 2), np.float32), face_found=np.ones(n_frames, bool),
            roi_vectors=np.zeros((n_frames, 12, 2), np.float32),
            model_input=windows, params={"version": FEATURE_VERSION}, fingerprint="bench-long",
            n_frames=n_frames, fps=30.0, step=1, video_id="long"))
    run_path, _ = runs.new_run(root)
    runs.write_json(run_path / "config.json", {"loso": False, "epochs": 1, "preset": "cpu"})
    runs.write_json(run_path / "labels.json", {"count": 0, "sha256": "bench", "labels": []})
    torch.manual_seed(0)
    model = SpottingModel(TrainConfig.from_preset("cpu").model_config())
    torch.save({"format": runs.CHECKPOINT_FORMAT, "version": runs.CHECKPOINT_VERSION, "epoch": 1,
                "model_config": model.cfg.to_dict(), "train_config": "{}", "history": "[]",
                "model": model.state_dict(), "optimizer": {}, "scheduler": {}},
               run_path / "checkpoint.pt")
    runs.write_status(run_path, "done")


def time_spot(root: Path, mode: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    env.update(MODES[mode])
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pfes_core", "spot", str(root), "--progress", "none"],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"spot failed ({mode}): {proc.stderr.strip()}")
    return {"mode": mode, "wall_s": wall, "load_start": load0, "load_end": os.getloadavg()[0]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=54_000)
    ap.add_argument("--modes", default="after,before,one-thread")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    tmp = Path(tempfile.mkdtemp(prefix="pfes-bench-spot-"))
    try:
        root = tmp / "long.pfes"
        t0 = time.perf_counter()
        build_project(root, args.frames)
        print(f"project with {args.frames} frames built in {time.perf_counter() - t0:.1f} s", flush=True)
        rows = []
        for mode in modes:
            before_cpu = os.times()
            rows.append(time_spot(root, mode))
            after_cpu = os.times()
            rows[-1]["cpu_s"] = (after_cpu.children_user + after_cpu.children_system
                                 - before_cpu.children_user - before_cpu.children_system)
            print(rows[-1], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    machine = (f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    lines = [f"## Long-video spot (bench_spot_long.py, {dt.datetime.now():%Y-%m-%d %H:%M})", "",
             f"Machine: {machine}. Command: `python benchmarks/bench_spot_long.py "
             f"{' '.join(argv if argv is not None else sys.argv[1:])}`. One video of "
             f"{args.frames:,} frames, cpu-preset model, the whole `pfes spot` command "
             f"(start-up, reading features, inference, proposals, writing predictions).", "",
             "| mode | wall (s) | CPU (s) | load average at start / end |", "|---|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{r['load_start']:.1f} / {r['load_end']:.1f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.no_append:
        with open(Path(__file__).with_name("RESULTS.md"), "a", encoding="utf-8") as fh:
            fh.write("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
