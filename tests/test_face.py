"""Landmarks: the 478->68 mapping lands on the right facial parts; gaps are filled and flagged."""

from __future__ import annotations

import numpy as np
import pytest

from pfes_core.errors import NoFaceError
from pfes_core.face import (MESH_TO_68, ROI_LANDMARKS, detect_landmarks_image, fill_missing,
                            track_frames)
from pfes_core.video import open_video
from video_helpers import NO_FACE, SINGLE_FACE, WOLFGANG


def test_mapping_table_is_a_valid_index_set():
    assert MESH_TO_68.shape == (68,)
    assert len(set(MESH_TO_68.tolist())) == 68
    assert MESH_TO_68.min() >= 0 and MESH_TO_68.max() < 478
    assert ROI_LANDMARKS == (18, 19, 20, 23, 24, 25, 28, 30, 48, 51, 54, 57)


@pytest.mark.parametrize("video,frame", [(WOLFGANG, 0), (WOLFGANG, 300), (SINGLE_FACE, 30)])
def test_still_image_landmarks_have_68_point_geometry(video, frame):
    rgb = open_video(video).get(frame)
    lm = detect_landmarks_image(rgb)
    assert lm is not None and lm.shape == (68, 2) and lm.dtype == np.float32
    y = lm[:, 1]
    x = lm[:, 0]
    # Vertical order: brows above eyes above nose tip above upper lip above lower lip above chin.
    assert y[17:27].mean() < y[36:48].mean() < y[30] < y[51] < y[57] < y[8]
    # Left-right order in the image, including both brows and the jaw.
    assert np.all(np.diff(x[17:22]) > 0) and np.all(np.diff(x[22:27]) > 0)
    assert x[36] < x[39] < x[42] < x[45]
    assert x[48] < x[51] < x[54] and x[0] < x[8] < x[16]
    assert x[31] < x[33] < x[35]
    # Nose bridge runs down from between the eyes to the tip.
    assert np.all(np.diff(y[27:31]) > 0)
    assert x[39] < x[27] < x[42]
    # All inside the frame, face of plausible size.
    h, w = rgb.shape[:2]
    assert (x >= -5).all() and (x <= w + 5).all() and (y >= -5).all() and (y <= h + 5).all()
    assert 0.1 * w < x[45] - x[36] < 0.8 * w


def test_no_face_image_gives_none():
    assert detect_landmarks_image(open_video(NO_FACE).get(40)) is None
    with pytest.raises(ValueError, match="RGB uint8"):
        detect_landmarks_image(np.zeros((10, 10), np.uint8))


def test_fill_missing_interpolates_between_found_frames():
    lm = np.zeros((6, 68, 2), np.float32)
    found = np.array([False, True, False, False, True, False])
    lm[1] = 10.0
    lm[4] = 40.0
    out = fill_missing(lm, found)
    assert np.allclose(out[:, 0, 0], [10, 10, 20, 30, 40, 40])
    assert np.array_equal(out[4], lm[4])


def test_track_frames_on_real_video_and_every_other_frame():
    reader = open_video(SINGLE_FACE)
    frames = list(reader.iter_frames(0, 40))
    lm, found = track_frames(iter(frames), 40, reader.fps, name="single_face.mp4")
    assert lm.shape == (40, 68, 2) and found.mean() > 0.9 and np.isfinite(lm).all()
    lm2, found2 = track_frames(iter(frames), 40, reader.fps, every=2)
    iod = np.linalg.norm(lm[:, 45] - lm[:, 36], axis=1).mean()
    # Interpolated landmarks stay within a few percent of the eye distance of the full track.
    assert np.abs(lm2 - lm).mean() < 0.05 * iod
    assert found2.mean() > 0.9


def test_video_without_face_raises_with_file_name():
    reader = open_video(NO_FACE)
    with pytest.raises(NoFaceError, match="no face found in any frame of no_face.mp4"):
        track_frames(reader.iter_frames(0, 25), 25, reader.fps, name="no_face.mp4")
