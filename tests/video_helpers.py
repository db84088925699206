"""Helpers for the video/feature tests: write small real video files with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"
WOLFGANG = DATA / "WolfgangLanger_Pexels.mp4"
SINGLE_FACE = DATA / "single_face.mp4"
NO_FACE = DATA / "no_face.mp4"
CARPHONE = DATA / "carphone_pristine.mp4"


def pattern_frames(n: int, w: int = 96, h: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Distinct frames (a moving gradient plus the frame number as a bar code) for exactness tests."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
    base = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
    frames = []
    for i in range(n):
        f = np.roll(base, i * 3, axis=1).copy()
        f[:8, :] = 0
        for b in range(10):
            if (i >> b) & 1:
                f[:8, b * 8:(b + 1) * 8] = 255
        frames.append(f)
    return frames


def write_video(path: Path, frames, fps: int = 30, codec: str = "libx264", pts=None,
                time_base: Fraction | None = None, gop: int | None = None, options=None,
                container_options=None) -> Path:
    """Encode RGB frames; `pts` (in `time_base` units) gives irregular timestamps (VFR)."""
    import av

    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = w, h
        if codec == "libx264rgb":
            stream.pix_fmt = "rgb24"
        elif codec == "ffv1":
            stream.pix_fmt = "bgr0"
        else:
            stream.pix_fmt = "yuv420p"
        if gop:
            stream.codec_context.gop_size = gop
        opts = dict(options or {})
        if codec.startswith("libx264"):
            opts.setdefault("preset", "ultrafast")
        stream.options = opts
        if time_base is not None:
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
        for k, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            if pts is not None:
                frame.pts = int(pts[k])
                frame.time_base = time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def read_all_sequential(path: Path) -> list[np.ndarray]:
    """Reference decode with plain PyAV, no seeking: what every random access must reproduce."""
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def face_clip(path: Path, start: int = 100, n: int = 48, source: Path = WOLFGANG) -> Path:
    """A short H.264 clip cut from a real face video (fast tests on real faces)."""
    from pfes_core.video import open_video

    reader = open_video(source)
    return write_video(path, list(reader.iter_frames(start, start + n)), fps=24)


def write_noise_video(path, n_frames: int = 30, size=(64, 48), fps: int = 30, seed: int = 1234):
    """An mpeg4 file of random-noise frames: a real, decodable video with no face in it."""
    import av

    rng = np.random.default_rng(seed)
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
    return path


def pattern_project(folder, n_frames: int):
    """A saved, closed project with one 96x64 video `face` of numbered pattern frames."""
    from pfes_core.project import Project

    folder.parent.mkdir(parents=True, exist_ok=True)
    video = write_video(folder.parent / "face.mp4", pattern_frames(n_frames, w=96, h=64), fps=30)
    project = Project.create(folder)
    project.add_video(video)
    project.save()
    project.close()
    return project.root

