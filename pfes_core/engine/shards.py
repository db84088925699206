"""``--shard K/N``: one of N disjoint shares of a project's videos, for a batch scheduler's job
array (Slurm ``--array=1-N``) when there is no Ray cluster.

Shares are balanced by frame count (extraction and spotting cost about one unit per frame):
videos are taken longest first and each goes to the share with the fewest frames so far, ties
to the lower share, then by video id. The split depends only on the project's video list, so the
N jobs of an array agree on it without talking to each other, every video is in exactly one share,
and no share holds more than the lightest one plus one video.

Spotting shares write into the same ``predictions.h5``: `update_predictions` merges a share's
videos into the file under an exclusive lock, so array jobs finishing together lose nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from ..errors import PfesError

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 1 <= K <= N; a clear error otherwise."""
    m = _SHARD.match(str(text))
    if not m:
        raise PfesError(f"--shard takes K/N, e.g. 2/8 (got {text!r})")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise PfesError(f"--shard K/N needs 1 <= K <= N (got {k}/{n}; a Slurm array for N shards "
                        f"is --array=1-N)")
    return k, n


def shard_videos(frames: dict[str, int], k: int, n: int) -> list[str]:
    """The videos of share `k` of `n` (1-based), in the order they appear in `frames`."""
    loads = [0] * n
    owner: dict[str, int] = {}
    for vid in sorted(frames, key=lambda v: (-max(int(frames[v] or 0), 0), v)):
        share = min(range(n), key=lambda i: (loads[i], i))
        owner[vid] = share
        loads[share] += max(int(frames[vid] or 0), 1)
    return [v for v in frames if owner[v] == k - 1]


def select_videos(frames: dict[str, int], videos: list[str] | None = None,
                  shard: str | None = None) -> list[str]:
    """The videos a command works on: `videos` (checked, in the given order, duplicates dropped)
    or all, then share `shard` ('K/N') of those."""
    from ..errors import ProjectError

    ids = list(frames)
    if videos:
        unknown = [v for v in videos if v not in frames]
        if unknown:
            raise ProjectError(f"unknown video ids: {', '.join(unknown)} (known: {', '.join(ids[:10])})")
        ids = list(dict.fromkeys(videos))
    if shard is not None:
        k, n = parse_shard(shard)
        ids = shard_videos({v: frames[v] for v in ids}, k, n)
    return ids


@contextlib.contextmanager
def exclusive(path: Path):
    """An exclusive OS lock on `path` (created if missing) while the block runs; the kernel (or
    the NFS lock manager) drops it when the holder dies, so it never goes stale."""
    try:
        import fcntl
    except ImportError:  # Windows: no job arrays to serialise
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update_predictions(path: Path, outputs: dict, fps: dict, preset, fold_of: dict, motion=None,
                       head=None) -> dict:
    """Write `outputs` (video -> (intensity, apex)) into the run's predictions file, keeping the
    other videos already there (their proposals are re-made with `preset`, so the whole file
    uses one preset; `motion` and `head` as for `runs.write_predictions`). Returns `runs.write_predictions`'
    result for every video in the file."""
    from .. import runs

    path = Path(path)
    with exclusive(path.with_name(f".{path.name}.lock")):
        merged, folds = {}, {}
        if path.exists():
            for vid, p in runs.read_predictions(path).items():
                if vid not in outputs:
                    merged[vid] = (p.intensity, p.apex)
                    folds[vid] = p.fold
        merged.update(outputs)
        folds.update(fold_of)
        return runs.write_predictions(path, merged, fps, preset, folds, motion=motion, head=head)
