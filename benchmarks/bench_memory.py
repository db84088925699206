"""Training memory against corpus size: peak RSS and seconds for one epoch on 1, 4 and 16 hours.

The corpora are synthetic features files written with the project's own writer
(`features.save_features`, gzip chunks of 256 frames), no video: 5-minute videos at 30 fps with
motion bumps at one point label a minute, on top of noise (noise compresses as badly as real
flow does). The 1 h and 4 h corpora are the first videos of the 16 h one.

Each measurement is a fresh process that opens the corpus as `feature_stream.FeatureStream`s
(what `pfes train` does), trains one epoch of the cpu preset on the CPU, and reports its peak
RSS (ru_maxrss) and the epoch's seconds. `--eager SIZES` adds rows that load every video's model
input into memory first (what training did before streaming), for comparison.

    python benchmarks/bench_memory.py                       # 1, 4, 16 h streamed; 1, 4 h eager
    python benchmarks/bench_memory.py --hours 1 4 --eager    # quick look

Prints a Markdown table; `--record` appends it to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FPS = 30.0
VIDEO_MINUTES = 5
POINTS_PER_MINUTE = 1
BYTES_PER_FRAME = 17 * 10 * 2 * 4


def video_frames() -> int:
    return int(VIDEO_MINUTES * 60 * FPS)


def make_video(rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Model input (n, 17, 10, 2) float32 with a motion bump at each point label."""
    vec = rng.normal(0.0, 0.02, size=(n, 10, 2)).astype(np.float32)
    n_points = VIDEO_MINUTES * POINTS_PER_MINUTE
    centres = np.sort(rng.choice(np.arange(60, n - 60, 90), size=n_points, replace=False))
    points = []
    for i, c in enumerate(centres):
        cls = i % 2
        half = 15 if cls == 0 else 6
        lo, hi = max(c - 3 * half, 0), min(c + 3 * half, n)
        t = np.arange(lo, hi)
        vec[lo:hi, :, 1] += (0.4 * np.exp(-0.5 * ((t - c) / (half / 2)) ** 2))[:, None].astype(np.float32)
        points.append((int(c), cls))
    idx = np.clip(np.arange(n)[:, None] + np.arange(-8, 9)[None], 0, n - 1)
    return vec[idx], points


def build_corpus(folder: Path, n_videos: int) -> None:
    """Write videos v0000.. (skipping those already there) and points.json."""
    from pfes_core.features import FeatureParams, Features, save_features

    folder.mkdir(parents=True, exist_ok=True)
    points_file = folder / "points.json"
    points = json.loads(points_file.read_text()) if points_file.exists() else {}
    n = video_frames()
    for i in range(n_videos):
        vid = f"v{i:04d}"
        if vid in points and (folder / f"{vid}.h5").exists():
            continue
        x, pts = make_video(np.random.default_rng([7, i]), n)
        save_features(folder / f"{vid}.h5", Features(
            landmarks=np.zeros((n, 68, 2), np.float32), face_found=np.ones(n, bool),
            roi_vectors=np.zeros((n, 12, 2), np.float32), model_input=x,
            params=FeatureParams().to_dict(), fingerprint=vid, n_frames=n, fps=FPS, video_id=vid))
        points[vid] = pts
        points_file.write_text(json.dumps(points))


def train_once(folder: Path, n_videos: int, eager: bool) -> dict:
    """In a fresh process: open (or load) the first n_videos, train one epoch; what it cost."""
    import torch

    from pfes_core.feature_stream import FeatureStream, shared_cache
    from pfes_core.training import TrainConfig, VideoData, steps_per_epoch, train_on_arrays

    torch.set_num_threads(1)
    points = json.loads((folder / "points.json").read_text())
    config = TrainConfig.from_preset("cpu", epochs=1, device="cpu")
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.monotonic()
    videos = []
    for i in range(n_videos):
        vid = f"v{i:04d}"
        x = FeatureStream.open(folder / f"{vid}.h5")
        if eager:
            x = np.asarray(x)
        videos.append(VideoData(vid, x, [tuple(p) for p in points[vid]], subject=vid, fps=FPS))
    t_open = time.monotonic() - t0
    t1 = time.monotonic()
    state = train_on_arrays(videos, config, device="cpu")
    seconds = time.monotonic() - t1
    cache = shared_cache()
    return {"videos": n_videos, "frames": n_videos * video_frames(), "eager": eager,
            "steps": steps_per_epoch(videos, config), "epoch_s": round(seconds, 1),
            "open_s": round(t_open, 2), "loss": round(state.history[-1]["loss"], 4),
            "rss_start_mb": round(rss_start), "peak_rss_mb":
                round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "cache_mb": round(cache.max_bytes / 2**20), "cache_hits": cache.hits,
            "cache_misses": cache.misses}


def measure(folder: Path, n_videos: int, eager: bool) -> dict:
    cmd = [sys.executable, __file__, "--_train", str(folder), str(n_videos)] + (["--_eager"] if eager else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = ["| corpus | model input on disk (uncompressed) | loading | steps | seconds per epoch | "
             "s per 100 steps | peak RSS | RSS after imports |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        hours = r["frames"] / FPS / 3600
        lines.append(
            f"| {hours:g} h ({r['videos']} videos, {r['frames']:,} frames) | "
            f"{r['frames'] * BYTES_PER_FRAME / 2**20:,.0f} MB | "
            f"{'eager (whole corpus in memory)' if r['eager'] else 'streamed'} | {r['steps']} | "
            f"{r['epoch_s']:.1f} | {100 * r['epoch_s'] / r['steps']:.1f} | {r['peak_rss_mb']:,} MB | "
            f"{r['rss_start_mb']:,} MB |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, nargs="+", default=[1, 4, 16])
    ap.add_argument("--eager", type=float, nargs="*", default=None,
                    help="also these sizes loaded whole (default with the flag: the sizes below 16 h)")
    ap.add_argument("--workdir", default=None, help="where the corpus is written (default: a temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the corpus folder")
    ap.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    ap.add_argument("--_train", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--_eager", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._train:
        print(json.dumps(train_once(Path(args._train[0]), int(args._train[1]), args._eager)))
        return
    eager = [] if args.eager is None else (args.eager or [h for h in args.hours if h < 16])
    per_hour = int(round(60 / VIDEO_MINUTES))
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="pfes-bench-memory-"))
    t0 = time.monotonic()
    try:
        build_corpus(folder, int(max(args.hours) * per_hour))
        print(f"corpus ready in {time.monotonic() - t0:.0f} s at {folder}", file=sys.stderr)
        rows = []
        for hours in args.hours:
            for is_eager in ([False, True] if hours in eager else [False]):
                rows.append(measure(folder, int(hours * per_hour), is_eager))
                print(json.dumps(rows[-1]), file=sys.stderr)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    text = table(rows)
    print(text)
    if args.record:
        import torch

        load = os.getloadavg()[0]
        header = (f"\n## Training memory against corpus size (bench_memory.py, "
                  f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
                  f"- machine: `{platform.platform()}`, {os.cpu_count()} CPUs, Python "
                  f"{platform.python_version()}, torch {torch.__version__}, 1 torch thread, "
                  f"load average {load:.1f} at the end (shared machine)\n"
                  f"- command: `python benchmarks/bench_memory.py {' '.join(sys.argv[1:])}`\n"
                  f"- one epoch of the cpu preset per row, each in a fresh process; synthetic "
                  f"{VIDEO_MINUTES}-minute videos at {FPS:g} fps, {POINTS_PER_MINUTE} point label(s) "
                  f"a minute; feature cache {rows[0]['cache_mb']} MB (PFES_FEATURE_CACHE_MB)\n\n")
        with open(HERE / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write(header + text + "\n")


if __name__ == "__main__":
    main()
