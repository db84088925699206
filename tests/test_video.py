"""Frame-exact video access: random seeks must equal sequential decoding, on CFR, VFR and folders."""

from __future__ import annotations

import shutil
import threading
from fractions import Fraction

import cv2
import numpy as np
import pytest

from pfes_core.errors import VideoError
from pfes_core.video import natural_key, open_video, video_fingerprint
from video_helpers import NO_FACE, WOLFGANG, pattern_frames, read_all_sequential, write_video


def test_real_clip_random_seeks_match_sequential_decode():
    reference = read_all_sequential(WOLFGANG)
    reader = open_video(WOLFGANG)
    assert reader.n_frames == len(reference) == 472
    assert reader.size == (640, 360)
    assert reader.fps == pytest.approx(24000 / 1001)
    rng = np.random.default_rng(0)
    order = list(rng.integers(0, reader.n_frames, 25)) + [471, 0, 470, 1, 250, 249, 251]
    for i in order:
        frame = reader.get(int(i))
        assert frame.dtype == np.uint8 and frame.shape == (360, 640, 3)
        assert np.array_equal(frame, reference[i]), f"frame {i} differs after a seek"
    seq = list(reader.iter_frames(200, 230))
    assert len(seq) == 30
    assert all(np.array_equal(a, reference[200 + k]) for k, a in enumerate(seq))


def test_edit_list_file_counts_only_shown_frames():
    # no_face.mp4 has an edit list: its header announces 98 samples, 95 frames are shown.
    reference = read_all_sequential(NO_FACE)
    reader = open_video(NO_FACE)
    assert reader.n_frames == len(reference) == 95
    for i in (94, 0, 50, 49, 3):
        assert np.array_equal(reader.get(i), reference[i])


def test_variable_frame_rate_file_is_frame_exact(tmp_path):
    frames = pattern_frames(90)
    rng = np.random.default_rng(3)
    gaps = rng.choice([20, 33, 41, 90, 250], size=len(frames))   # ms between frames, irregular
    pts = np.concatenate([[0], np.cumsum(gaps[:-1])])
    path = write_video(tmp_path / "vfr.mp4", frames, pts=pts, time_base=Fraction(1, 1000),
                       gop=12, options={"bf": "2", "preset": "veryfast"})
    reference = read_all_sequential(path)
    reader = open_video(path)
    assert reader.n_frames == len(reference) == 90
    assert np.allclose(reader.timestamps, pts / 1000.0)
    # Reading by an assumed constant rate lands on the wrong picture; the pts index must not.
    for i in list(rng.permutation(90)[:40]) + [89, 88, 0]:
        assert np.array_equal(reader.get(int(i)), reference[i]), f"VFR frame {i} wrong"
    # The bar code in the top rows survives lossy coding well enough to read the frame number.
    bits = [(reader.get(57)[4, b * 8 + 4].mean() > 127) for b in range(10)]
    assert sum(int(v) << b for b, v in enumerate(bits)) == 57


def test_step_subsampling_and_forward_stepping(tmp_path):
    reference = read_all_sequential(WOLFGANG)[:120]
    reader = open_video(WOLFGANG, step=7)
    assert reader.n_frames == (472 + 6) // 7
    assert reader.fps == pytest.approx(24000 / 1001 / 7)
    for j in (10, 3, 16, 0):
        assert np.array_equal(reader.get(j), reference[7 * j])
    assert [np.array_equal(a, reference[7 * (2 + k)]) for k, a in
            enumerate(reader.iter_frames(2, 6))] == [True] * 4
    full = open_video(WOLFGANG)
    full.get(60)
    assert full.is_cached(61) and full.is_cached(59), "neighbours of a seek must be cached"


def test_image_folder_natural_order_and_step(tmp_path):
    frames = pattern_frames(12)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"img{i + 1}.png"), f[:, :, ::-1])   # img1..img12, not padded
    (folder / "notes.txt").write_text("not a frame")
    reader = open_video(folder, fps=200)
    assert reader.n_frames == 12 and reader.size == (96, 64) and reader.fps == 200
    assert all(np.array_equal(reader.get(i), frames[i]) for i in (11, 0, 9, 1))
    assert sorted(["a10", "a2", "a1"], key=natural_key) == ["a1", "a2", "a10"]
    sub = open_video(folder, step=5, fps=200)
    assert sub.n_frames == 3 and sub.fps == 40
    assert all(np.array_equal(a, frames[5 * k]) for k, a in enumerate(sub.iter_frames()))


def test_get_is_thread_safe():
    reference = read_all_sequential(WOLFGANG)[:200]
    reader = open_video(WOLFGANG, cache_mb=8)
    errors = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        for i in rng.integers(0, 200, 12):
            if not np.array_equal(reader.get(int(i)), reference[i]):
                errors.append(int(i))

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert reader._cache.nbytes <= 8 * 1024 * 1024 + 640 * 360 * 3


def test_missing_file_and_folder_without_images(tmp_path):
    with pytest.raises(VideoError, match="video not found"):
        open_video(tmp_path / "nope.mp4")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(VideoError, match="no image frames"):
        open_video(tmp_path / "empty_dir")


def test_not_a_video_and_empty_file(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match="notes.mp4 is not a readable video"):
        open_video(text)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty file"):
        open_video(empty)


def test_zero_frame_video(tmp_path):
    import av

    for name, codec, pix_fmt, message in [
            ("zero.avi", "mjpeg", "yuvj420p", "zero.avi contains no video frames"),
            ("zero.mkv", "ffv1", "bgr0", "zero.mkv ends before any video frame")]:
        path = tmp_path / name
        with av.open(str(path), "w") as out:
            s = out.add_stream(codec, rate=30)
            s.width, s.height, s.pix_fmt = 64, 48, pix_fmt
            out.start_encoding()
        with pytest.raises(VideoError, match=message):
            open_video(path)


def test_truncated_file_reports_where_reading_stopped(tmp_path):
    frames = pattern_frames(60)
    path = write_video(tmp_path / "full.mkv", frames, gop=10)
    reference = read_all_sequential(path)
    data = path.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.55)])
    with pytest.raises(VideoError, match=r"cut.mkv is truncated or corrupt: reading stopped at "
                                         r"frame \d+ of 60 announced") as info:
        open_video(cut)
    stopped = int(str(info.value).split("stopped at frame ")[1].split()[0])
    assert 15 < stopped < 50
    reader = open_video(cut, allow_truncated=True)
    assert reader.truncated and reader.n_frames == stopped
    assert all(np.array_equal(reader.get(i), reference[i]) for i in (stopped - 1, 0, stopped // 2))
    # An mp4 whose index (moov) sits at the end cannot be opened at all once cut.
    mp4 = write_video(tmp_path / "full.mp4", frames)
    cut_mp4 = tmp_path / "cut.mp4"
    cut_mp4.write_bytes(mp4.read_bytes()[: len(mp4.read_bytes()) // 2])
    with pytest.raises(VideoError, match="cut.mp4 is not a readable video"):
        open_video(cut_mp4)


def test_fingerprint_changes_with_content_and_folder_names(tmp_path):
    copy = tmp_path / "clip.mp4"
    shutil.copy(NO_FACE, copy)
    fp = video_fingerprint(copy)
    assert fp == video_fingerprint(NO_FACE)
    data = bytearray(copy.read_bytes())
    data[-10] ^= 0xFF
    copy.write_bytes(bytes(data))
    assert video_fingerprint(copy) != fp
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "1.png").write_bytes(b"x" * 10)
    a = video_fingerprint(folder)
    (folder / "2.png").write_bytes(b"y" * 10)
    assert video_fingerprint(folder) != a
    with pytest.raises(VideoError, match="video not found"):
        video_fingerprint(tmp_path / "missing.avi")


def test_decode_ahead_fills_cache_and_thread_ends_with_reader():
    import gc
    import time

    reference = read_all_sequential(WOLFGANG)[:140]
    reader = open_video(WOLFGANG)
    reader.get(100)
    deadline = time.monotonic() + 5
    while not reader.is_cached(111) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reader.is_cached(111), "frames ahead of the last request are decoded in the background"
    assert all(np.array_equal(reader.get(i), reference[i]) for i in range(101, 112))
    thread = reader._ahead_thread
    assert thread is not None and thread.is_alive()
    del reader
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive(), "an unclosed, dropped reader must not leak its thread"
    closed = open_video(WOLFGANG)
    closed.get(3)
    closed.close()
    assert not closed._ahead_thread.is_alive()
