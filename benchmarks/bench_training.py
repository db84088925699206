"""Speed of training and inference: seconds per epoch per 10,000 video frames, and an 18,000-frame
video (12 min at 25 fps) through the model and `spotting.propose`. Prints a table and appends it
to benchmarks/RESULTS.md.

    python benchmarks/bench_training.py [--devices cpu,cuda] [--threads N] [--no-append]

Data are generated motion bumps (no video needed); speed does not depend on content.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from pfes_core import spotting
from pfes_core.inference import predict_video
from pfes_core.model import SpottingModel, count_parameters
from pfes_core.training import TrainConfig, VideoData, build_state, train_on_arrays


def motion_video(rng: np.random.Generator, n_frames: int, every: int = 150) -> tuple[np.ndarray, list]:
    """(T, 17, 10, 2) windows of noisy ROI motion with a Gaussian bump (and a point) every `every` frames."""
    vec = rng.normal(0.0, 0.02, size=(n_frames, 10, 2)).astype(np.float32)
    t = np.arange(n_frames)
    points = []
    for k, c in enumerate(range(every // 2, n_frames - every // 2, every)):
        cls = k % 3 == 2
        vec[:, :, 1] += (0.4 * np.exp(-0.5 * ((t - c) / (3.0 if cls else 7.5)) ** 2))[:, None]
        points.append((c, int(cls)))
    idx = np.clip(t[:, None] + np.arange(-8, 9)[None], 0, n_frames - 1)
    return vec[idx], points


def bench_train(preset: str, device: str, videos: list[VideoData], epochs: int) -> dict:
    cfg = TrainConfig.from_preset(preset, epochs=epochs, device=device)
    state = build_state(cfg, torch.device(device))
    # warm-up step (allocator, kernels), not timed
    train_on_arrays(videos[:1], replace(cfg, epochs=1), state=build_state(cfg, torch.device(device)),
                    device=device)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    train_on_arrays(videos, cfg, state=state, device=device)
    if device == "cuda":
        torch.cuda.synchronize()
    sec = (time.perf_counter() - t0) / epochs
    frames = sum(len(v.model_input) for v in videos)
    return {"preset": preset, "device": device, "params": count_parameters(state.model),
            "s_per_epoch_per_10k": sec * 10_000 / frames, "frames": frames}


def bench_infer(preset: str, device: str, n_frames: int = 18_000, measure: int | None = None,
                threads: int | None = None) -> dict:
    """Time n_frames of inference; with `measure`, time that many frames and scale up (slow CPU cases)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _bench_infer(preset, device, n_frames, measure)
    finally:
        torch.set_num_threads(before)


def _bench_infer(preset: str, device: str, n_frames: int, measure: int | None) -> dict:
    cfg = TrainConfig.from_preset(preset)
    torch.manual_seed(0)
    model = SpottingModel(cfg.model_config()).to(device).eval()
    x, _ = motion_video(np.random.default_rng(1), n_frames)
    predict_video(model, x[:512], device=device)
    t0 = time.perf_counter()
    if measure:
        predict_video(model, x[:measure], chunk=cfg.predict_chunk, device=device)
        t_inf = (time.perf_counter() - t0) * n_frames / measure
        a = np.clip(x[:, 8, :, 1].mean(axis=1), 0, 1)       # stand-in curve, only for timing propose
        q = np.stack([a, a], axis=1)
    else:
        a, q = predict_video(model, x, chunk=cfg.predict_chunk, device=device)
        t_inf = time.perf_counter() - t0
    t1 = time.perf_counter()
    props = spotting.propose(a, q, spotting.preset_from_settings(), video="bench", fps=25.0)
    t2 = time.perf_counter()
    return {"preset": preset, "device": device, "infer_s": t_inf, "propose_s": t2 - t1,
            "n_proposals": len(props), "extrapolated": bool(measure), "threads": torch.get_num_threads()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="cpu,cuda", help="comma list; absent devices are skipped")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument("--paper-epochs", type=int, default=1)
    ap.add_argument("--cpu-epochs", type=int, default=2)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [d for d in args.devices.split(",") if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
    rng = np.random.default_rng(0)
    videos = []
    for i in range(4):      # 4 x 2,500 = 10,000 frames
        x, pts = motion_video(rng, 2_500)
        videos.append(VideoData(f"b{i}", x, pts, subject=f"s{i}"))
    rows_t, rows_i = [], []
    load0 = os.getloadavg()[0]
    extra_rows = []
    if "cpu" in devices and torch.get_num_threads() > 1:
        extra_rows.append(bench_infer("cpu", "cpu", threads=1))
        print(extra_rows[-1], flush=True)
    for device in devices:
        for preset in ("cpu", "paper"):
            slow = preset == "paper" and device == "cpu"
            rows_i.append(bench_infer(preset, device, measure=1_000 if slow else None))
            print(rows_i[-1], flush=True)
            epochs = args.cpu_epochs if preset == "cpu" else args.paper_epochs
            vids = videos if not slow else [VideoData("p", videos[0].model_input[:500], [(75, 0), (225, 0), (375, 1)])]
            rows_t.append(bench_train(preset, device, vids, epochs))
            print(rows_t[-1], flush=True)
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
               f"{torch.get_num_threads()} torch threads, load average {load0:.1f} at start / "
               f"{os.getloadavg()[0]:.1f} at end (shared machine), "
               f"torch {torch.__version__}"
               + (f", {torch.cuda.get_device_name(0)}" if "cuda" in devices else ""))
    lines = [f"## Training and inference speed (bench_training.py, {dt.datetime.now():%Y-%m-%d %H:%M})", "",
             f"Machine: {machine}. Command: `python benchmarks/bench_training.py {' '.join(argv or sys.argv[1:])}`",
             "", "| preset | device | params | train s/epoch per 10k frames | infer 18k frames (s) | propose (s) |",
             "|---|---|---:|---:|---:|---:|"]
    for t, i in zip(rows_t, rows_i):
        lines.append(f"| {t['preset']} | {t['device']} | {t['params']:,} | {t['s_per_epoch_per_10k']:.1f} "
                     f"| {i['infer_s']:.2f}{' (extrapolated from 1k)' if i['extrapolated'] else ''} | {i['propose_s']:.3f} |")
    for i in extra_rows:
        lines.append(f"| {i['preset']} | {i['device']}, {i['threads']} thread | | | {i['infer_s']:.2f} | {i['propose_s']:.3f} |")
    lines += ["", "cpu preset: width 32 (2 heads), a step reads the frames within GIM's reach of each point + 256 "
              "random others; "
              "paper preset: width 256, every frame of the video per step (on CPU timed on one 500-frame video).", ""]
    table = "\n".join(lines)
    print(table)
    if not args.no_append:
        out = Path(__file__).with_name("RESULTS.md")
        with open(out, "a", encoding="utf-8") as fh:
            fh.write("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
