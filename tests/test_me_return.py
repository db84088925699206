"""ME proposals need a real peak and a face that comes back (pfes_core.me_return)."""

from dataclasses import replace

import numpy as np
import pytest

from pfes_core.candidate_looks import model_candidates
from pfes_core.errors import PfesError
from pfes_core.spotting import PRESETS, for_mode, preset_from_settings, propose

T = 200
RULES = PRESETS["default"]
OFF = replace(RULES, me_min_peak=None, me_max_openness=None)


def micro(height=0.9, returns=True):
    """One 11-frame ME bump at frames 80-90; the mouth ROIs move out over the first half and, when
    `returns`, back over the second."""
    a = np.full(T, 0.02)
    q = np.zeros((T, 2))
    a[80:91] = height
    a[85] = height + 0.05
    q[80:91, 1] = 0.9
    motion = np.zeros((T, 10, 2))
    motion[80:86, 6:, 0] = 0.04
    motion[86:91, 6:, 0] = -0.048 if returns else 0.04
    return a, q, motion


def me_spans(proposals):
    return [(p.onset, p.offset) for p in proposals if p.cls == "ME"]


def test_a_micro_expression_that_returns_is_kept():
    a, q, motion = micro()
    assert me_spans(propose(a, q, RULES, "v", 25.0, motion=motion)) == [(80, 90)]


def test_a_one_way_movement_is_not_a_micro_expression():
    a, q, motion = micro(returns=False)
    assert me_spans(propose(a, q, RULES, "v", 25.0, motion=motion)) == []
    assert me_spans(propose(a, q, RULES, "v", 25.0)) == [(80, 90)]          # no motion: not judged
    assert me_spans(propose(a, q, OFF, "v", 25.0, motion=motion)) == [(80, 90)]   # rule off


def test_a_weak_bump_is_not_proposed_as_me_even_without_motion():
    a, q, motion = micro(height=0.4)
    plain = replace(OFF, score_threshold=(0.3, 0.2))
    assert me_spans(propose(a, q, plain, "v", 25.0)) == [(80, 90)]
    assert me_spans(propose(a, q, replace(plain, me_min_peak=0.5), "v", 25.0)) == []


def test_on_in_the_default_preset_off_in_the_dataset_presets():
    assert (RULES.me_min_peak, RULES.me_max_openness) == (0.5, 0.7)
    for name in ("casme2", "samm_lv", "casme3"):
        assert (PRESETS[name].me_min_peak, PRESETS[name].me_max_openness) == (None, None)


def test_motion_of_another_length_is_an_error_without_pairing_too():
    a, q, motion = micro()
    with pytest.raises(PfesError, match="ROI motion has 150 frames, the model output 200"):
        propose(a, q, replace(RULES, release_gap=None), "v", 25.0, motion=motion[:150])


def test_candidates_faithful_mode_and_settings():
    a, q, motion = micro(height=0.4, returns=False)
    assert me_spans(model_candidates(a, q, RULES, "v", 25.0)) == [(80, 90)]   # the look queue keeps them
    faithful = for_mode(RULES, "faithful")
    assert (faithful.me_min_peak, faithful.me_max_openness) == (None, None)
    assert preset_from_settings("default", {"me_min_peak": 0.6, "me_max_openness": None}).me_min_peak == 0.6
    for key in ("me_min_peak", "me_max_openness"):
        with pytest.raises(PfesError, match=key):
            preset_from_settings("default", {key: 1.5})
