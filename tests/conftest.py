"""Shared pytest fixtures. Each fixture is self-contained; add yours below with its own imports."""

from __future__ import annotations

import pytest


# ---- tiny_video (project store tests) ---------------------------------------------------------
def _write_noise_video(path, n_frames: int = 30, size=(64, 48), fps: int = 30) -> None:
    import av
    import numpy as np

    rng = np.random.default_rng(1234)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for _ in range(n_frames):
            frame = av.VideoFrame.from_ndarray(
                rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory):
    """A 30-frame, 30 fps, 64x48 mpeg4 file of random noise (made once per test session)."""
    path = tmp_path_factory.mktemp("tiny_video") / "tiny.mp4"
    _write_noise_video(path)
    return path


# ---- small_demo_project (synthetic subjects with labels, reference and features) ---------------
@pytest.fixture(scope="session")
def small_demo_project(tmp_path_factory):
    """A demo project built once per session: 2 subjects x 1 video of 8 s (25 fps, 256x256),
    point labels loaded, ground truth as reference, features extracted. Returns its root Path;
    open it read-only (or copy it) in tests that change it."""
    from pfes_core.demo import build_demo_project

    return build_demo_project(tmp_path_factory.mktemp("demo") / "small_demo", seed=0, subjects=2,
                              videos_per_subject=1, seconds=8.0, jobs=2)
