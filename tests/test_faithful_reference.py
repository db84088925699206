"""Faithful mode against numbers produced by the published GIM code (tests/data/gim_reference/).

The fixtures hold the reference network's weights with an input batch and its outputs, and the
reference's pseudo-labels, loss terms and gradients for 46 cases (interior, edge, overlapping and
padded points at several epochs). Faithful mode with the paper preset must reproduce them to float
precision; tolerances are the fixture README's (float32 vs float64 runs of the reference itself).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pfes_core.errors import TrainingError
from pfes_core.gim import make_pseudo_labels
from pfes_core.losses import apex_loss, iac_loss, intensity_losses
from pfes_core.model import SpottingModel, count_parameters
from pfes_core.reference_weights import (load_reference_checkpoint, map_reference_state, model_from_reference,
                                         reference_name_map)
from pfes_core.training import TrainConfig

torch.set_num_threads(1)
DATA = Path(__file__).parent / "data" / "gim_reference"


@pytest.fixture(scope="module")
def network():
    z = np.load(DATA / "network.npz", allow_pickle=False)
    backbone = {k.split("/", 2)[2]: z[k] for k in z.files if k.startswith("param/spotformer_state_dict/")}
    heads = {k.split("/", 2)[2]: z[k] for k in z.files if k.startswith("param/model1_state_dict/")}
    return z, backbone, heads


def _compare(out, z, split: str, atol_feat: float, atol_score: float) -> None:
    got = {"feat": out.f, "attn_feat": out.h, "attn": out.a[:, None], "apex": out.q}
    for key, value in got.items():
        ref = z[f"{split}/out/{key}"][0]
        tol = atol_feat if key in ("feat", "attn_feat") else atol_score
        np.testing.assert_allclose(value.detach().numpy(), ref, rtol=0, atol=tol, err_msg=f"{split} {key}")


def test_reference_weights_give_the_reference_outputs_in_eval_mode(network):
    z, backbone, heads = network
    model = model_from_reference(backbone, heads)
    with torch.no_grad():
        out = model(torch.from_numpy(z["input"][0]))
    _compare(out, z, "eval", 1e-5, 2e-6)


def _train_forward(model, z, dtype=torch.float32):
    model = model.to(dtype)
    for module in model.modules():          # the fixture's train-mode run had every dropout at p = 0
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.train()
    with torch.no_grad():
        return model(torch.from_numpy(z["input"][0]).to(dtype))


def test_train_mode_uses_batch_statistics_like_the_reference(network):
    z, backbone, heads = network
    _compare(_train_forward(model_from_reference(backbone, heads), z), z, "train", 2e-5, 5e-6)


def test_running_statistics_after_one_train_step_match(network):
    """Every BatchNorm (momentum 0.1, unbiased variance) updates as the reference's. In float64, so
    that the check is not blurred by float32 summation order (the reference's own float32 vs
    float64 gap is 1.9e-7)."""
    z, backbone, heads = network
    model = model_from_reference(backbone, heads)
    _train_forward(model, z, torch.float64)
    names = reference_name_map()[0]
    state = model.state_dict()
    prefix = "train/running_after/spotformer_state_dict/"
    checked = [k[len(prefix):] for k in z.files if k.startswith(prefix) and k.endswith(("_mean", "_var"))]
    for ref_name in checked:
        np.testing.assert_allclose(state[names[ref_name]].numpy(), z[prefix + ref_name], rtol=0, atol=1e-6,
                                   err_msg=ref_name)
        assert int(state[names[ref_name].rsplit(".", 1)[0] + ".num_batches_tracked"]) == 1
    n_norms = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.backbone.modules())
    assert len(checked) == 2 * n_norms == 2 * 19          # every BatchNorm of the backbone


def test_faithful_paper_network_is_the_reference_architecture(network):
    """The paper preset's network has exactly the reference's tensors (names mapped), so its size
    is the reference's 3,232,771 parameters less the temporal table's unused 18th row."""
    _, backbone, heads = network
    cfg = TrainConfig.from_preset("paper", mode="faithful").model_config()
    model = SpottingModel(cfg)
    mapped = map_reference_state(backbone, heads)
    assert set(mapped) == set(model.state_dict())
    for name, tensor in model.state_dict().items():
        assert tuple(tensor.shape) == tuple(mapped[name].shape), name
    width = backbone["temporal_pos_embedding"].shape[-1]
    assert count_parameters(model) == 3_232_771 - width
    assert cfg.emb_dropout == 0.1 and cfg.logit_dropout == 0.7 and cfg.hidden_dropout == 0.7
    # Published initialisation: standard-normal position tables, zero head biases.
    torch.manual_seed(0)
    fresh = SpottingModel(cfg)
    assert 0.9 < float(fresh.backbone.time_emb.detach().std()) < 1.1
    assert all(float(layer.bias.detach().abs().max()) == 0.0 for layer in (fresh.hidden, fresh.intensity, fresh.apex))


def test_reference_state_dict_gaps_are_named(network):
    _, backbone, heads = network
    missing = {k: v for k, v in backbone.items() if k != "transformer.gff2.net2.0.bias"}
    with pytest.raises(TrainingError, match="lacks transformer.gff2.net2.0.bias"):
        map_reference_state(missing, heads)
    with pytest.raises(TrainingError, match="unexpected entry .* extra.weight"):
        map_reference_state(backbone | {"extra.weight": np.zeros(3)}, heads)


def test_reference_checkpoint_file_loads_with_weights_only(network, tmp_path):
    z, backbone, heads = network
    path = tmp_path / "best_CO2"
    torch.save({"spotformer_state_dict": {k: torch.from_numpy(np.array(v)) for k, v in backbone.items()},
                "model1_state_dict": {k: torch.from_numpy(np.array(v)) for k, v in heads.items()}}, path)
    model = load_reference_checkpoint(path)
    with torch.no_grad():
        out = model(torch.from_numpy(z["input"][0]))
    _compare(out, z, "eval", 1e-5, 2e-6)
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(TrainingError, match="not a reference checkpoint"):
        load_reference_checkpoint(tmp_path / "other.pt")


# --------------------------------------------------------------------------- pseudo-labels and losses


@pytest.fixture(scope="module")
def cases():
    p = np.load(DATA / "pseudo_labels.npz", allow_pickle=False)
    l = np.load(DATA / "losses.npz", allow_pickle=False)
    return p, l


def _faithful(dataset: str | None = None) -> TrainConfig:
    return TrainConfig.from_preset("paper", mode="faithful", dataset=dataset)


def _labels(p, i: int, cfg: TrainConfig):
    t = int(p["case_T"][i])
    # Official coding: 1 = MaE, 2 = ME; ours: class index 0 = MaE, 1 = ME.
    points = [(int(f), int(c) - 1) for f, c in zip(p["points_frame"][i], p["points_class"][i]) if f >= 0]
    a = p["in/attn"][i, :t].astype(np.float64)
    return points, make_pseudo_labels(points, a, p["in/attn_feat"][:t], int(p["case_epoch"][i]),
                                      cfg.pseudo_label_constants(None))


def test_faithful_pseudo_labels_match_every_reference_case(cases):
    """46 cases: interior, edge (points on the first and last frames) and overlapping points, clean
    and dropout-pinned intensity curves, epochs 0 to 40 (hard, point Gaussian, GIM)."""
    p, _ = cases
    cfg = _faithful()
    for i in range(len(p["case_T"])):
        t = int(p["case_T"][i])
        points, pl = _labels(p, i, cfg)
        np.testing.assert_allclose(pl.y, p["y"][i, :t], rtol=0, atol=1e-6, err_msg=f"case {i}")
        assert np.array_equal(pl.neutral, p["neutral"][i, :t] == 1), i
        assert int(pl.neutral.sum()) == int(p["n_neutral"][i])
        # Windows [start, end) per point, in the reference's order (MaE by frame, then ME).
        assert [(d["lo"], d["hi"] + 1) for d in pl.instances] == \
            [(int(s), int(e)) for s, e in zip(p["pt_win_start"][i], p["pt_win_end"][i]) if s >= 0], i
        if int(p["case_epoch"][i]) >= 5:
            assert [d["centre"] for d in pl.instances] == [int(a) for a in p["pt_apex"][i] if a >= 0], i
            assert np.array_equal(pl.apex == 1, p["apex_target"][i, :t] == 1), i
        else:
            assert pl.apex is None and np.isnan(p["apex_target"][i]).all()


def test_faithful_never_labels_the_last_frame_and_later_windows_overwrite(cases):
    p, _ = cases
    design = p["case_design"]
    edge = [i for i in range(len(design)) if design[i] == 1]
    overlap = [i for i in range(len(design)) if design[i] == 2 and p["case_epoch"][i] >= 5]
    assert edge and overlap
    for i in edge:
        t = int(p["case_T"][i])
        _, pl = _labels(p, i, _faithful())
        assert (pl.y[t - 1] == 0).all() and not pl.in_window[t - 1].any()
        # Default mode labels the ME point on the last frame.
        _, own = _labels(p, i, TrainConfig.from_preset("paper"))
        assert own.in_window[t - 1, 1]
    # Overlapping same-class windows: the reference overwrites; the maximum rule never loses a
    # value and differs on these cases.
    differs = 0
    for i in overlap:
        _, pl = _labels(p, i, _faithful())
        points, a, h, epoch, c = _max_rule_args(p, i)
        kept = make_pseudo_labels(points, a, h, epoch, c)
        assert (kept.y >= pl.y - 1e-7).all()
        differs += int((kept.y > pl.y + 1e-6).any())
    assert differs > 0


def _max_rule_args(p, i):
    t = int(p["case_T"][i])
    points = [(int(f), int(c) - 1) for f, c in zip(p["points_frame"][i], p["points_class"][i]) if f >= 0]
    c = replace(_faithful().pseudo_label_constants(None), overwrite_overlaps=False)
    return points, p["in/attn"][i, :t].astype(np.float64), p["in/attn_feat"][:t], int(p["case_epoch"][i]), c


def _losses(p, l, i: int, cfg: TrainConfig):
    """Faithful loss terms of case i, as `training._step` combines them, with their gradients."""
    t, n_pad = int(p["case_T"][i]), int(p["case_L"][i])
    lc = cfg.loss_constants()
    _, pl = _labels(p, i, cfg)
    a = torch.tensor(p["in/attn"][i, :n_pad], requires_grad=True)
    q = torch.tensor(p["in/apex"][:n_pad], requires_grad=True)
    f = torch.tensor(p["in/feat"][:n_pad], requires_grad=True)
    parts = intensity_losses(a[:t], torch.from_numpy(pl.y), torch.from_numpy(pl.in_window),
                             torch.from_numpy(pl.neutral), lc, padding=a[t:])
    if pl.apex is not None:
        parts["apex"] = apex_loss(q[:t], torch.from_numpy(pl.apex), lc)
    labels = np.full(t, -1)
    labels[pl.neutral] = 0
    labels[pl.y[:, 1] > 0.5] = 2
    labels[pl.y[:, 0] > 0.5] = 1
    sel = np.flatnonzero(labels >= 0)
    inten = np.where(labels[sel] == 0, 0.0, pl.y[sel].max(axis=1)).astype(np.float32)
    raw_iac = iac_loss(f[:t][torch.from_numpy(sel)], torch.from_numpy(labels[sel]), torch.from_numpy(inten), lc)
    parts["iac"] = lc.lambda_c * raw_iac
    total = sum(parts.values())
    total.backward()
    detached = {k: v.detach() for k, v in parts.items()}
    return detached, raw_iac.detach(), labels, total.detach(), a.grad, q.grad, f.grad


def test_faithful_loss_terms_and_gradients_match_every_reference_case(cases):
    p, l = cases
    cfg = _faithful("casme2")
    proj = l["grad/feat_proj_matrix"]
    for i in range(len(p["case_T"])):
        t, n_pad = int(p["case_T"][i]), int(p["case_L"][i])
        parts, raw_iac, labels, total, g_a, g_q, g_f = _losses(p, l, i, cfg)
        assert np.array_equal(labels, l["iac_label"][i, :t]), i
        assert float(parts["mse"]) == pytest.approx(l["mse"][i], abs=1e-6)
        assert float(parts["smooth"]) == pytest.approx(l["smooth_weighted"][i], abs=1e-6)
        assert float(parts["sparsity"]) == pytest.approx(l["sparsity_weighted"][i], abs=1e-6)
        assert float(parts.get("apex", 0.0)) == pytest.approx(l["apex"][i], abs=1e-6)
        assert float(raw_iac) == pytest.approx(l["iac"][i], rel=1e-6)
        if np.isfinite(l["reward"][i]):
            assert float(parts["reward"]) == pytest.approx(l["reward"][i], abs=1e-6)
            assert float(total) == pytest.approx(l["total"][i], abs=1e-6)
        else:
            # The reference's reward is NaN when a class has no frame above 0.5 (its total too);
            # its gradients stay finite and equal ours, where that class's reward is 0.
            assert not np.isfinite(l["total"][i]) and float(parts["reward"]) <= 0.0
        np.testing.assert_allclose(g_a.numpy(), l["grad/attn"][i, :n_pad], rtol=0, atol=1e-7, err_msg=f"case {i}")
        if g_q is not None:
            np.testing.assert_allclose(g_q.numpy(), l["grad/apex"][i, :n_pad], rtol=0, atol=1e-7)
        ref = l["grad/feat_proj"][i, :n_pad]
        np.testing.assert_allclose(g_f.numpy() @ proj, ref, rtol=0, atol=1e-5 * np.abs(ref).max(),
                                   err_msg=f"case {i}")
    for k, i in enumerate(l["grad/feat_full_case"]):
        _, _, _, _, _, _, g_f = _losses(p, l, int(i), cfg)
        ref = l["grad/feat_full"][k, :int(p["case_L"][i])]
        np.testing.assert_allclose(g_f.numpy(), ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_samm_lv_weights_match_the_reference_samm_run(cases):
    p, l = cases
    cfg = _faithful("samm-lv")
    assert (cfg.losses.sparsity, cfg.losses.lambda_c) == (0.3, 2e-6)
    for i in range(len(p["case_T"])):
        n_pad = int(p["case_L"][i])
        parts, _, _, total, g_a, _, _ = _losses(p, l, i, cfg)
        assert float(parts["sparsity"]) == pytest.approx(l["samm/sparsity_weighted"][i], abs=1e-7)
        assert float(parts["iac"]) == pytest.approx(l["samm/iac_weighted"][i], abs=1e-8)
        if np.isfinite(l["samm/total"][i]):
            assert float(total) == pytest.approx(l["samm/total"][i], abs=1e-6)
        np.testing.assert_allclose(g_a.numpy(), l["samm/grad/attn"][i, :n_pad], rtol=0, atol=1e-7)


def test_iac_over_all_anchors_is_the_reference_mean(cases):
    """A class of one member: the reference averages over every anchor (the lone one counts 0),
    default mode skips it."""
    p, l = cases
    faithful, default = _faithful().loss_constants(), TrainConfig.from_preset("paper").loss_constants()
    f = torch.tensor(p["in/feat"][:40])
    labels = torch.tensor([0] * 20 + [1] * 19 + [2])          # one ME sample: no positive
    inten = torch.tensor([0.0] * 20 + [0.8] * 19 + [0.9])
    all_anchors = float(iac_loss(f, labels, inten, faithful))
    skipped = float(iac_loss(f, labels, inten, default))
    assert all_anchors == pytest.approx(skipped * 39 / 40, rel=1e-5)
