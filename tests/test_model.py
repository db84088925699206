"""The network: shapes, ranges, faithful-mode logit dropout, chunked inference, per-frame independence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pfes_core.inference import pick_device, predict_video
from pfes_core.model import ModelConfig, SpottingModel
from pfes_core.errors import TrainingError

torch.set_num_threads(1)


def small(**kw) -> SpottingModel:
    torch.manual_seed(0)
    return SpottingModel(ModelConfig(width=16, heads=2, **kw))


def test_shapes_and_ranges():
    model = small().eval()
    x = torch.randn(7, 17, 10, 2)
    out = model(x)
    assert out.f.shape == (7, 16) and out.h.shape == (7, 16)
    assert out.a.shape == (7,) and out.q.shape == (7, 2)
    assert bool(((out.a > 0) & (out.a < 1)).all()) and bool(((out.q > 0) & (out.q < 1)).all())


def test_wrong_input_shape_is_refused():
    with pytest.raises(ValueError, match="17, 10, 2"):
        small()(torch.randn(3, 16, 10, 2))


def test_full_width_reference_shape():
    model = SpottingModel(ModelConfig()).eval()
    out = model(torch.randn(2, 17, 10, 2))
    assert out.f.shape == (2, 256) and model.hidden.in_features == 256


def test_faithful_logit_dropout_pins_most_frames_to_one_half():
    x = torch.randn(400, 17, 10, 2)
    faithful = small(logit_dropout=0.7).train()
    default = small(logit_dropout=0.0).train()
    torch.manual_seed(1)
    a_f = faithful(x).a.detach()
    a_d = default(x).a.detach()
    half_f = float((a_f == 0.5).float().mean())
    assert 0.6 < half_f < 0.8          # ~70% of logits zeroed -> sigmoid(0) = 0.5 exactly
    assert float((a_d == 0.5).float().mean()) == 0.0
    # eval mode: no dropout at all, both configs give deterministic, non-pinned outputs
    faithful.eval()
    assert float((faithful(x).a == 0.5).float().mean()) == 0.0
    # clean heads in train mode ignore dropout
    h, a, q = faithful.train().heads(faithful.backbone(x).detach(), dropout=False)
    assert float((a == 0.5).float().mean()) == 0.0


def test_frames_are_independent_and_chunking_changes_nothing():
    model = small().eval()
    x = np.random.default_rng(0).normal(size=(50, 17, 10, 2)).astype(np.float32)
    a1, q1 = predict_video(model, x, chunk=7)
    a2, q2 = predict_video(model, x, chunk=64)
    np.testing.assert_allclose(a1, a2, atol=1e-5)
    np.testing.assert_allclose(q1, q2, atol=1e-5)
    x2 = x.copy()
    x2[10] += 5.0
    a3, _ = predict_video(model, x2, chunk=64)
    changed = np.flatnonzero(np.abs(a3 - a1) > 1e-6)
    assert changed.tolist() == [10]
    assert a1.dtype == np.float32 and q1.shape == (50, 2)
    assert model.training is False


def test_predict_restores_train_mode():
    model = small().train()
    predict_video(model, np.zeros((3, 17, 10, 2), np.float32))
    assert model.training


def test_device_choice():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="CUDA"):
            pick_device("cuda")
    with pytest.raises(TrainingError):
        pick_device("tpu")


def test_reference_backbone_differs_where_published():
    """The reference variant: BatchNorm -> conv without bias in downsampling, norms before both
    pools, qkv without bias, no final norm, standard-normal embeddings, zero head biases."""
    torch.manual_seed(0)
    ref = SpottingModel(ModelConfig(width=16, heads=2, arch="reference", emb_dropout=0.1))
    own = small()
    assert ref.backbone.down1.conv.bias is None and own.backbone.down1.conv.bias is not None
    assert ref.backbone.stage1.spatial.qkv.bias is None and own.backbone.stage1.spatial.qkv.bias is not None
    assert ref.backbone.out_norm is None and own.backbone.out_norm is not None
    assert ref.backbone.pool_norm1 is not None and own.backbone.pool_norm1 is None
    assert float(ref.backbone.time_emb.detach().std()) > 0.5 > 0.1 > float(own.backbone.time_emb.detach().std())
    assert float(ref.apex.bias.detach().abs().max()) == 0.0
    out = ref.eval()(torch.randn(5, 17, 10, 2))
    assert out.f.shape == (5, 16) and bool(((out.a > 0) & (out.a < 1)).all())
    with pytest.raises(ValueError, match="unknown backbone variant 'vit'"):
        ModelConfig(arch="vit")
