"""A quick head turn is not a micro-expression: ME proposals over which the head moves are dropped
(pfes_core.head_motion), MaE proposals and still heads are not."""

from dataclasses import replace
from functools import partial

import numpy as np
import pytest

from pfes_core import runs
from pfes_core.errors import PfesError
from pfes_core.features import FEATURE_VERSION, Features, features_path, read_head_track, save_features
from pfes_core.head_motion import RIGID_LANDMARKS, drop_me_on_head_motion, head_displacement, head_track
from pfes_core.project import Project
from pfes_core.spotting import PRESETS, for_mode, preset_from_settings, propose
from pfes_core.types import Interval

T = 200
EYES = 60.0                      # px between the outer eye corners
TURN = (100, 105)                # frames of a quick head turn
HEADED = replace(PRESETS["default"], me_max_head_motion=0.01)


def face_landmarks(turn=TURN, shift_px=3.0, noise_px=0.0):
    """(T, 68, 2) landmarks of a still face whose every point moves `shift_px` right during
    `turn` (and stays there), with optional jitter."""
    lm = np.zeros((T, 68, 2))
    lm[:, :, 0] = 100 + np.arange(68)
    lm[:, :, 1] = 120
    lm[:, 36] = (100, 100)
    lm[:, 45] = (100 + EYES, 100)
    on, off = turn
    lm[on:off + 1, :, 0] += np.linspace(0, shift_px, off - on + 1)[:, None]
    lm[off + 1:, :, 0] += shift_px
    lm += np.random.default_rng(1).normal(0, noise_px, lm.shape) if noise_px else 0.0
    return lm


def me(onset, offset, cls="ME"):
    return Interval(video="v", cls=cls, onset=onset, apex=(onset + offset) // 2, offset=offset, score=0.6)


def test_head_track_is_the_rigid_points_in_eye_distances():
    lm = face_landmarks()
    track = head_track(lm)
    assert track.shape == (T, 2)
    expected = lm[0, list(RIGID_LANDMARKS)].mean(axis=0) / EYES
    np.testing.assert_allclose(track[0], expected)
    np.testing.assert_allclose(track[-1] - track[0], (3.0 / EYES, 0.0), atol=1e-12)   # 0.05 eye distances
    assert head_track(np.zeros((T, 68, 2))).tolist() == np.zeros((T, 2)).tolist()      # no face scale: still


def test_an_me_proposal_on_a_head_turn_is_dropped_and_others_stay():
    track = head_track(face_landmarks())
    on_turn, before, after_settled = me(98, 108), me(40, 52), me(140, 151)
    mae_on_turn = me(90, 130, cls="MaE")
    kept = drop_me_on_head_motion([on_turn, before, after_settled, mae_on_turn], track, HEADED)
    assert kept == [before, after_settled, mae_on_turn]
    assert head_displacement(track, 98, 108) == pytest.approx(3.0 / EYES)
    assert drop_me_on_head_motion([on_turn], track, PRESETS["casme2"]) == [on_turn]     # rule off
    assert drop_me_on_head_motion([on_turn], None, HEADED) == [on_turn]                 # no track


def test_a_turn_just_before_the_onset_counts_one_that_settled_does_not():
    track = head_track(face_landmarks())
    assert drop_me_on_head_motion([me(105, 116)], track, HEADED) == []                # still turning at 103-105
    assert drop_me_on_head_motion([me(108, 119)], track, HEADED) == [me(108, 119)]    # settled at 105


def test_landmark_jitter_of_a_still_face_keeps_the_proposals_and_a_turn_still_counts():
    spread = [me(on, on + 12) for on in range(5, 180, 15)]
    jitter = 0.02 * EYES             # per point and frame: a shaky tracker on a real recording
    still = head_track(face_landmarks(shift_px=0.0, noise_px=jitter))
    assert drop_me_on_head_motion(spread, still, HEADED) == spread
    turned = head_track(face_landmarks(shift_px=0.1 * EYES, noise_px=jitter))
    kept = drop_me_on_head_motion(spread, turned, HEADED)
    assert [p.onset for p in spread if p not in kept] == [95]       # the one on frames 100-105


def test_propose_drops_only_with_a_head_track_and_checks_its_length():
    a = np.full(T, 0.02)
    a[97:109] = 0.9
    q = np.zeros((T, 2))
    q[:, 1] = 0.9
    track = head_track(face_landmarks())
    assert [(p.cls, p.onset, p.offset) for p in propose(a, q, HEADED)] == [("ME", 97, 108)]
    assert propose(a, q, HEADED, head=track) == []
    assert len(propose(a, q, for_mode(HEADED, "faithful"), head=track)) == 1            # published rules
    with pytest.raises(PfesError, match="head track has 199 frames"):
        propose(a, q, HEADED, head=track[:-1])


def test_setting_is_checked():
    assert preset_from_settings("casme2", {"me_max_head_motion": 0.02}).me_max_head_motion == 0.02
    assert preset_from_settings("default", {"me_max_head_motion": None}).me_max_head_motion is None
    with pytest.raises(PfesError, match="me_max_head_motion"):
        preset_from_settings("default", {"me_max_head_motion": -0.1})


def test_predictions_read_the_head_track_from_the_features(tmp_path):
    root = tmp_path / "p.pfes"
    with Project.create(root) as p:
        p.add_video(tmp_path / "a.mp4", subject="s1", video_id="a", fps=25.0, n_frames=T, fingerprint="fa")
        p.save()
        feats = Features(landmarks=face_landmarks().astype(np.float32), face_found=np.ones(T, bool),
                         roi_vectors=np.zeros((T, 12, 2), np.float32),
                         model_input=np.zeros((T, 17, 10, 2), np.float32), params={"version": FEATURE_VERSION},
                         fingerprint="fa", n_frames=T, fps=25.0, step=1, video_id="a")
        save_features(features_path(p.features_dir, "a"), feats)
    np.testing.assert_allclose(read_head_track(root, "a"), head_track(feats.landmarks), atol=1e-6)
    a = np.full(T, 0.02)
    a[97:109] = 0.9
    q = np.zeros((T, 2))
    q[:, 1] = 0.9
    run_path, _ = runs.new_run(root)
    path = run_path / "predictions.h5"
    plain = runs.write_predictions(path, {"a": (a, q)}, {"a": 25.0}, HEADED)
    assert len(plain["a"].proposals) == 1
    written = runs.write_predictions(path, {"a": (a, q)}, {"a": 25.0}, HEADED, head=partial(read_head_track, root))
    assert written["a"].proposals == [] and runs.read_predictions(path)["a"].proposals == []
