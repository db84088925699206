"""Faithful-mode proposals against the published code's own proposal outputs
(tests/data/gim_reference/proposals.npz|json; see ORIGIN.md there).

The same 20 intensity/apex curves went through the published code with each dataset's settings.
Faithful mode must give the same intervals (frames exact) and scores within 1e-5; default mode
keeps the project's pipeline and gives a different set.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pfes_core import spotting, spotting_faithful
from pfes_core.types import CLASSES

DATA = Path(__file__).parent / "data" / "gim_reference"
PRESET_OF = {"CASME2": "casme2", "SAMM": "samm_lv", "CASME3": "casme3"}


@pytest.fixture(scope="module")
def fixtures():
    z = np.load(DATA / "proposals.npz", allow_pickle=False)
    cases = json.loads((DATA / "proposals.json").read_text())["variants"]["official"]["presets"]
    return z, cases


def _curve(z, k: int):
    return z[f"curve_{k:02d}/attn"], z[f"curve_{k:02d}/apex"]


def _rows(intervals):
    """[start, end exclusive, label, apex, score] sorted, from Intervals."""
    return sorted([[iv.onset, iv.offset + 1, CLASSES.index(iv.cls), iv.apex, iv.score] for iv in intervals])


@pytest.mark.parametrize("dataset", sorted(PRESET_OF))
def test_faithful_proposals_equal_the_reference(fixtures, dataset):
    z, cases = fixtures
    preset = spotting.for_mode(spotting.PRESETS[PRESET_OF[dataset]], "faithful")
    assert len(cases[dataset]) == 20
    total = 0
    for case in cases[dataset]:
        a, q = _curve(z, case["curve"])
        got = _rows(spotting.propose(a, q, preset, video="v", fps=30.0))
        want = sorted([[p["t_start"], p["t_end"], p["label"], p["t_apex"], p["score"]] for p in case["proposals"]])
        assert [r[:4] for r in got] == [[int(x) for x in r[:4]] for r in want], (dataset, case["curve"])
        np.testing.assert_allclose([r[4] for r in got], [r[4] for r in want], atol=1e-5, rtol=0)
        total += len(got)
    assert total == {"CASME2": 30, "SAMM": 60, "CASME3": 70}[dataset]


@pytest.mark.parametrize("dataset", sorted(PRESET_OF))
def test_faithful_stages_equal_the_reference(fixtures, dataset):
    """Each stage alone: candidates per class (the reconstructed run scorer), soft-NMS output, and
    the list the final NMS receives, in the published order."""
    z, _ = fixtures
    preset = spotting.for_mode(spotting.PRESETS[PRESET_OF[dataset]], "faithful")
    for k in range(20):
        a, q = _curve(z, k)
        a = a.astype(np.float64)
        q = q.astype(np.float64)
        key = f"official/{dataset}/curve_{k:02d}"
        for c in (0, 1):
            cand = spotting_faithful.candidates(a, q, c, preset)
            if f"{key}/soft_nms_in_cls{c}" not in z.files:
                assert cand == []
                continue
            want_in = z[f"{key}/soft_nms_in_cls{c}"]
            np.testing.assert_array_equal(np.asarray(cand)[:, [0, 2, 3, 4]], want_in[:, [0, 2, 3, 4]])
            np.testing.assert_allclose(np.asarray(cand)[:, 1], want_in[:, 1], atol=1e-6)
            out = np.asarray(spotting_faithful.soft_nms(want_in.tolist(), preset.soft_nms_sigma))
            np.testing.assert_allclose(out, z[f"{key}/soft_nms_out_cls{c}"], atol=1e-12, rtol=0)


def test_final_nms_loop_skip_as_published(fixtures):
    """The published final NMS on 20 direct cases per dataset, including the deletion loop that
    skips the candidate after each deleted one (case 00) and IoU exactly 0.5 kept (case 01)."""
    z, _ = fixtures
    flags = z["nms_direct/differs_from_corrected_nms"]
    assert flags.sum(axis=0).tolist() == [11, 15, 11]
    for k in range(20):
        rows = z[f"nms_direct/case_{k:02d}/in"]
        for d, dataset in enumerate(("CASME2", "SAMM", "CASME3")):
            budget = list(spotting.REFERENCE_BUDGETS[PRESET_OF[dataset]])
            got = spotting_faithful.final_nms(rows.tolist(), budget)
            want = z[f"nms_direct/case_{k:02d}/out/{dataset}"]
            assert np.asarray(got).reshape(-1, 5).tolist() == want.reshape(-1, 5).tolist(), (k, dataset)


def test_soft_nms_direct_cases(fixtures):
    z, _ = fixtures
    for k in range(12):
        rows = z[f"soft_nms_direct/case_{k:02d}/in"]
        got = spotting_faithful.soft_nms(rows.tolist(), 0.3)
        np.testing.assert_allclose(np.asarray(got).reshape(-1, 5), z[f"soft_nms_direct/case_{k:02d}/out"].reshape(-1, 5),
                                   atol=1e-12, rtol=0)


def test_default_mode_keeps_the_project_pipeline(fixtures):
    """Default mode is not the published rules: over the 20 curves with the casme3 preset it gives a
    different set (the project's inclusive ends, symmetric flanks, ME budget of 4, full NMS)."""
    z, cases = fixtures
    preset = spotting.PRESETS["casme3"]
    assert not preset.faithful and preset.budget == (8, 4)
    assert spotting.for_mode(preset, "default") is preset
    faithful = spotting.for_mode(preset, "faithful")
    assert faithful.faithful and faithful.budget == (8, 2)
    differs = 0
    for case in cases["CASME3"]:
        a, q = _curve(z, case["curve"])
        got = _rows(spotting.propose(a, q, preset, video="v", fps=30.0))
        want = sorted([[p["t_start"], p["t_end"], p["label"], p["t_apex"]] for p in case["proposals"]])
        differs += [r[:4] for r in got] != [[int(x) for x in r] for r in want]
    assert differs > 0


def test_faithful_budget_follows_project_overrides():
    """A budget set in the project's settings is the user's choice and survives faithful mode;
    presets other than the three datasets keep their own numbers under the published rules."""
    custom = spotting.preset_from_settings("casme3", {"budget": [8, 6]})
    assert spotting.for_mode(custom, "faithful").budget == (8, 6)
    default = spotting.for_mode(spotting.PRESETS["default"], "faithful")
    assert default.faithful and default.budget == spotting.PRESETS["default"].budget
    assert default.thresholds == spotting.PRESETS["default"].thresholds
    assert spotting.preset_for_fps(default, 60.0) is default
