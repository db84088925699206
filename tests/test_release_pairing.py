"""A held macro-expression shows as an onset bump and a release bump: proposals join the two when
the release moves the face back (pfes_core.release_pairing), and only then."""

from dataclasses import replace
from functools import partial

import numpy as np
import pytest

from pfes_core import runs
from pfes_core.errors import PfesError
from pfes_core.features import FEATURE_VERSION, Features, features_path, read_roi_motion, save_features
from pfes_core.project import Project
from pfes_core.spotting import PRESETS, for_mode, preset_from_settings, propose, scale_lengths

T = 200
ONSET = (40, 59)        # the onset movement: a bump of 20 frames
RELEASE = (70, 84)      # the release, 10 frames after the onset bump ends (the still apex between)


def held_expression(release=RELEASE, release_sign=-1.0, onset_returns=False):
    """Intensity, MaE apex scores and (T, 10, 2) ROI motion of one held MaE: the brows move up
    during the onset; during the release they move by `release_sign` times that."""
    a = np.full(T, 0.02)
    q = np.zeros((T, 2))
    motion = np.zeros((T, 10, 2))
    for (on, off), sign in ((ONSET, 1.0), (release, release_sign)):
        a[on:off + 1] = 0.9
        a[(on + off) // 2] = 0.95
        q[on:off + 1, 0] = 0.9
        motion[on:off + 1, :6, 1] = -0.05 * sign * 20 / (off - on + 1)    # brows: up, then back
    if onset_returns:                   # the onset bump already holds a movement and its return
        motion[ONSET[0] + 10:ONSET[1] + 1, :6, 1] *= -1
    return a, q, motion


def spans(proposals):
    return [(p.cls, p.onset, p.offset) for p in proposals]


def test_release_that_moves_back_is_joined_to_its_onset():
    a, q, motion = held_expression()
    preset = PRESETS["default"]
    assert spans(propose(a, q, preset, "v", 25.0)) == [("MaE", 40, 59), ("MaE", 70, 84)]
    joined = propose(a, q, preset, "v", 25.0, motion=motion)
    assert spans(joined) == [("MaE", 40, 84)]
    alone = propose(a, q, preset, "v", 25.0)[0]
    assert (joined[0].apex, joined[0].score) == (alone.apex, alone.score)   # the onset's peak and score


def test_release_in_the_same_direction_is_a_second_movement():
    a, q, motion = held_expression(release_sign=1.0)
    assert spans(propose(a, q, PRESETS["default"], "v", 25.0, motion=motion)) == [("MaE", 40, 59), ("MaE", 70, 84)]


def test_release_beyond_the_gap_is_not_joined():
    a, q, motion = held_expression(release=(85, 99))           # 25 frames after the onset bump
    preset = PRESETS["default"]
    assert preset.release_gap == 20
    assert spans(propose(a, q, preset, "v", 25.0, motion=motion)) == [("MaE", 40, 59), ("MaE", 85, 99)]
    wider = replace(preset, release_gap=30)
    assert spans(propose(a, q, wider, "v", 25.0, motion=motion)) == [("MaE", 40, 99)]


def test_onset_that_already_returned_has_nothing_to_release():
    a, q, motion = held_expression(onset_returns=True)
    assert spans(propose(a, q, PRESETS["default"], "v", 25.0, motion=motion)) == [("MaE", 40, 59), ("MaE", 70, 84)]


def test_an_me_proposal_on_the_release_goes_with_it():
    a, q, motion = held_expression(release=(70, 79))
    q[70:80] = (0.0, 0.9)                                       # the release scored as an ME
    preset = PRESETS["default"]
    assert spans(propose(a, q, preset, "v", 25.0)) == [("MaE", 40, 59), ("ME", 70, 79)]
    assert spans(propose(a, q, preset, "v", 25.0, motion=motion)) == [("MaE", 40, 79)]


def test_a_joined_proposal_does_not_duplicate_one_that_already_spanned_both():
    a, q, motion = held_expression()
    a[60:70] = 0.25                       # the still apex above the lowest candidate threshold
    q[60:70, 0] = 0.9
    preset = PRESETS["default"]
    before = spans(propose(a, q, preset, "v", 25.0))
    assert ("MaE", 40, 84) in before and ("MaE", 40, 59) in before    # the whole run and the onset
    assert spans(propose(a, q, preset, "v", 25.0, motion=motion)) == [("MaE", 40, 84)]


def test_joined_length_stays_within_the_mae_range():
    a, q, motion = held_expression()
    short = replace(PRESETS["default"], mae_length=(12, 40))
    assert spans(propose(a, q, short, "v", 25.0, motion=motion)) == [("MaE", 40, 59), ("MaE", 70, 84)]


def test_off_in_faithful_mode_and_in_the_reference_presets():
    a, q, motion = held_expression()
    for preset in (for_mode(PRESETS["default"], "faithful"), PRESETS["casme2"], PRESETS["samm_lv"]):
        assert preset.release_gap is None
        assert ("MaE", 40, 84) not in spans(propose(a, q, preset, "v", 25.0, motion=motion))
    opted_in = preset_from_settings("casme2", {"release_gap": 20})
    assert spans(propose(a, q, opted_in, "v", 30.0, motion=motion)) == [("MaE", 40, 84)]


def test_motion_of_another_length_is_an_error():
    a, q, motion = held_expression()
    with pytest.raises(PfesError, match="ROI motion has 199 frames, the model output 200"):
        propose(a, q, PRESETS["default"], "v", 25.0, motion=motion[:-1])


def test_settings_are_checked_and_the_gap_follows_the_frame_rate():
    assert preset_from_settings("default", {"release_gap": None}).release_gap is None
    assert preset_from_settings("default", {"release_gap": 12}).release_gap == 12
    for bad in (0, 2.5, "20", True):
        with pytest.raises(PfesError, match="release_gap"):
            preset_from_settings("default", {"release_gap": bad})
    with pytest.raises(PfesError, match="release_max_cos"):
        preset_from_settings("default", {"release_max_cos": -2})
    with pytest.raises(PfesError, match="release_min_openness"):
        preset_from_settings("default", {"release_min_openness": 1.5})
    assert scale_lengths(PRESETS["default"], 55.0).release_gap == 40      # 20 frames at 27.5 fps
    assert scale_lengths(PRESETS["casme2"], 60.0).release_gap is None


# ---- from the features file to the run's proposals ------------------------------------------------
@pytest.fixture
def project_with_motion(tmp_path):
    """One 25 fps video whose features hold the held expression's ROI motion (nose ROIs 6 and 7
    of the 12 are noise: they are left out)."""
    root = tmp_path / "p.pfes"
    _, _, motion = held_expression()
    rois = np.zeros((T, 12, 2), np.float32)
    rois[:, [0, 1, 2, 3, 4, 5, 8, 9, 10, 11]] = motion
    rois[:, 6:8] = np.random.default_rng(0).normal(0, 0.3, (T, 2, 2))
    with Project.create(root) as p:
        p.add_video(tmp_path / "a.mp4", subject="s1", video_id="a", fps=25.0, n_frames=T, fingerprint="fa")
        p.save()
        feats = Features(landmarks=np.zeros((T, 68, 2), np.float32), face_found=np.ones(T, bool),
                         roi_vectors=rois, model_input=np.zeros((T, 17, 10, 2), np.float32),
                         params={"version": FEATURE_VERSION}, fingerprint="fa", n_frames=T, fps=25.0,
                         step=1, video_id="a")
        save_features(features_path(p.features_dir, "a"), feats)
    return root, motion


def test_read_roi_motion_gives_the_non_nose_rois(project_with_motion):
    root, motion = project_with_motion
    np.testing.assert_allclose(read_roi_motion(root, "a"), motion, atol=1e-7)
    with Project.open(root) as p:
        p.add_video(root.parent / "b.mp4", subject="s1", video_id="b", fps=25.0, n_frames=T, fingerprint="fb")
        p.save()
    assert read_roi_motion(root, "b") is None            # no features yet


def test_predictions_join_with_the_projects_motion(project_with_motion):
    from pfes_core.engine.shards import update_predictions

    root, _ = project_with_motion
    a, q, _ = held_expression()
    run_path, _ = runs.new_run(root)
    path = run_path / "predictions.h5"
    preset = PRESETS["default"]
    plain = runs.write_predictions(path, {"a": (a, q)}, {"a": 25.0}, preset)
    assert spans(plain["a"].proposals) == [("MaE", 40, 59), ("MaE", 70, 84)]
    motion = partial(read_roi_motion, root)
    written = runs.write_predictions(path, {"a": (a, q)}, {"a": 25.0}, preset, motion=motion)
    assert spans(written["a"].proposals) == spans(runs.read_predictions(path)["a"].proposals) == [("MaE", 40, 84)]
    updated = update_predictions(path, {"b": (a, q)}, {"a": 25.0, "b": 25.0}, preset, {}, motion=lambda v: None)
    assert spans(updated["b"].proposals) == [("MaE", 40, 59), ("MaE", 70, 84)]     # no motion: as before
