"""Feature extraction end to end on real faces, folder == lossless file, and the features cache."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from pfes_core.errors import CancelledError, FeatureError, NoFaceError
from pfes_core.features import (FeatureParams, ensure_features, extract_features, load_features,
                                read_features)
from pfes_core.project import Project
from pfes_core.video import open_video
from video_helpers import NO_FACE, SINGLE_FACE, WOLFGANG, face_clip, read_all_sequential, write_video


def _check(feats, n):
    assert feats.n_frames == n
    assert feats.landmarks.shape == (n, 68, 2) and feats.landmarks.dtype == np.float32
    assert feats.face_found.shape == (n,) and feats.face_found.dtype == bool
    assert feats.roi_vectors.shape == (n, 12, 2) and feats.roi_vectors.dtype == np.float32
    assert feats.model_input.shape == (n, 17, 10, 2) and feats.model_input.dtype == np.float32
    for a in (feats.landmarks, feats.roi_vectors, feats.model_input):
        assert np.isfinite(a).all()
    assert np.abs(feats.model_input).max() <= 0.5 and np.abs(feats.roi_vectors).max() <= 0.5


def test_real_clips_extract(tmp_path):
    feats = extract_features(SINGLE_FACE)
    _check(feats, 72)
    assert feats.face_found.mean() > 0.9 and feats.fps == pytest.approx(30)
    assert feats.params == FeatureParams().to_dict() and feats.fingerprint.startswith("file-")
    # The expressive clip: a subrange, subsampled by 2; the face moves, so features are not zero.
    clip = face_clip(tmp_path / "wolf.mp4", start=150, n=80)
    feats = extract_features(clip, step=2)
    _check(feats, 40)
    assert feats.face_found.mean() > 0.9 and feats.fps == pytest.approx(12)
    assert np.abs(feats.model_input[:, 8:]).mean() > 1e-3


def test_no_face_video_raises_no_face_error():
    with pytest.raises(NoFaceError, match="no_face.mp4"):
        extract_features(NO_FACE, step=4)


def test_image_folder_equals_lossless_video(tmp_path):
    frames = list(open_video(WOLFGANG).iter_frames(300, 330))
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"frame_{i}.png"), f[:, :, ::-1])
    lossless = write_video(tmp_path / "clip.mkv", frames, codec="ffv1", fps=24)
    assert all(np.array_equal(a, b) for a, b in zip(read_all_sequential(lossless), frames))
    from_file = extract_features(lossless)
    from_dir = extract_features(folder, fps=24)
    _check(from_dir, 30)
    assert from_dir.fps == from_file.fps == 24
    np.testing.assert_allclose(from_dir.landmarks, from_file.landmarks, atol=1e-4)
    np.testing.assert_allclose(from_dir.roi_vectors, from_file.roi_vectors, atol=1e-5)
    np.testing.assert_allclose(from_dir.model_input, from_file.model_input, atol=1e-5)


@pytest.fixture()
def project(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    clip = face_clip(media / "clip.mp4", start=0, n=30, source=SINGLE_FACE)
    with Project.create(tmp_path / "p") as proj:
        proj.add_video(clip, video_id="clip")
        proj.save()
        root = proj.root
    return root, clip


def test_cache_reuse_and_invalidation(project):
    root, clip = project
    assert load_features(root, "clip") is None
    path = ensure_features(root, "clip")
    assert path == root / "features" / "clip.h5" and path.exists()
    feats = load_features(root, "clip")
    _check(feats, 30)
    stamp = path.stat().st_mtime_ns
    # Same (default) parameters and content: reused, not recomputed.
    assert ensure_features(root, "clip", FeatureParams()) == path
    assert path.stat().st_mtime_ns == stamp
    # Other parameters: recomputed and stored with them.
    ensure_features(root, "clip", FeatureParams(dis_preset="fast"))
    assert path.stat().st_mtime_ns != stamp
    assert read_features(path).params["dis_preset"] == "fast"
    # params=None accepts features made with any parameters.
    stamp = path.stat().st_mtime_ns
    ensure_features(root, "clip")
    assert path.stat().st_mtime_ns == stamp
    # New content at the same path: stale for load, recomputed by ensure.
    frames = read_all_sequential(clip)
    write_video(clip, frames[::-1], fps=24)
    assert load_features(root, "clip") is None
    ensure_features(root, "clip")
    fresh = load_features(root, "clip")
    assert fresh is not None and fresh.fingerprint != feats.fingerprint
    # A damaged file is an error naming it (not silently "missing"), and extraction replaces it.
    path.write_bytes(b"garbage")
    with pytest.raises(FeatureError, match="clip.h5 is damaged"):
        load_features(root, "clip")
    ensure_features(root, "clip")
    assert load_features(root, "clip") is not None
    # An open Project works as well as its folder.
    with Project.open(root, readonly=True) as proj:
        assert load_features(proj, "clip").n_frames == 30
    assert [p.name for p in (root / "features").iterdir()] == ["clip.h5"]


def test_cancel_leaves_no_file(project):
    root, _ = project
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 40          # during the motion pass

    with pytest.raises(CancelledError):
        ensure_features(root, "clip", cancel=cancel)
    assert list((root / "features").iterdir()) == []
    events = []
    ensure_features(root, "clip", progress=events.append)
    assert events[-1]["stage"] == "extract" and events[-1]["step"] == events[-1]["total"] == 60
    assert {e["phase"] for e in events} == {"landmarks", "motion"}
