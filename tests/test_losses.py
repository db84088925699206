"""Each loss against a small case computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from pfes_core.losses import LossConstants, apex_loss, focal_bce, iac_loss, iac_pair_weights, intensity_losses

C = LossConstants()


def test_intensity_losses_by_hand():
    a = torch.tensor([0.5, 0.8, 0.2, 0.1])
    y = torch.tensor([[1.0, 0.0], [0.6, 0.0], [0.0, 0.0], [0.0, 0.0]])
    in_win = torch.tensor([[True, False], [True, False], [False, False], [False, False]])
    neutral = torch.tensor([False, False, True, True])
    parts = intensity_losses(a, y, in_win, neutral, C)
    assert float(parts["mse"]) == pytest.approx((0.25 + 0.04) / 2 + (0.04 + 0.01) / 2)   # no ME frames
    assert float(parts["reward"]) == pytest.approx(-0.4 * 0.65)
    assert float(parts["sparsity"]) == pytest.approx(2.5 * 0.4)


def test_intensity_me_terms_and_reward_weight():
    a = torch.tensor([0.7, 0.3])
    y = torch.tensor([[0.0, 0.9], [0.0, 0.4]])
    in_win = torch.tensor([[False, True], [False, True]])
    parts = intensity_losses(a, y, in_win, torch.tensor([False, False]), replace_sparsity(0.3))
    assert float(parts["mse"]) == pytest.approx((0.04 + 0.01) / 2)
    assert float(parts["reward"]) == pytest.approx(-0.6 * 0.7)      # only y_ME > 0.5 counts
    assert float(parts["sparsity"]) == pytest.approx(0.3 * 0.5)


def replace_sparsity(value):
    from dataclasses import replace
    return replace(C, sparsity=value)


def test_focal_bce_by_hand():
    q = torch.tensor([0.8, 0.3, 0.6])
    t = torch.tensor([1.0, 0.0, -1.0])        # positive, negative, ignored
    pos = 0.9 * abs(1 - 0.8) * math.log(0.8 + 1e-5)
    neg = 0.1 * abs(0 + 0.25 - 0.3) * math.log(1 - 0.3 + 1e-5)
    assert float(focal_bce(q, t, 0.9, C)) == pytest.approx(-(pos + neg) / 3, rel=1e-5)
    # the label offset: a negative scored exactly 0.25 costs nothing
    assert float(focal_bce(torch.tensor([0.25]), torch.tensor([0.0]), 0.9, C)) == pytest.approx(0.0, abs=1e-9)


def test_apex_loss_weights_me_by_1_8():
    q = torch.tensor([[0.8, 0.7], [0.3, 0.1]])
    t = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    mae = float(focal_bce(q[:, 0], t[:, 0], 0.90, C))
    me = float(focal_bce(q[:, 1], t[:, 1], 0.93, C))
    assert float(apex_loss(q, t, C)) == pytest.approx(mae + 1.8 * me)
    me_by_hand = -(0.93 * 0.3 * math.log(0.7 + 1e-5) + 0.07 * abs(0.25 - 0.1) * math.log(0.9 + 1e-5)) / 2
    assert me == pytest.approx(me_by_hand, rel=1e-5)


def test_iac_pair_weights():
    labels = torch.tensor([0, 0, 1, 2, 1])
    inten = torch.tensor([0.0, 0.0, 0.9, 0.7, 0.6])
    w = iac_pair_weights(labels, inten)
    assert float(w[0, 1]) == 1.0                            # neutral-neutral
    assert float(w[0, 2]) == pytest.approx(0.9)             # neutral-MaE: |0 - 0.9|
    assert float(w[2, 3]) == pytest.approx(0.2) and float(w[3, 2]) == pytest.approx(0.2)   # MaE-ME
    assert float(w[2, 4]) == pytest.approx(1 - 0.3)         # within MaE
    assert torch.allclose(w, w.T)


def test_iac_loss_by_hand():
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([0, 1, 1])
    inten = torch.tensor([0.0, 0.8, 0.6])
    # anchor 0 has no positive (only neutral) -> skipped. Logits s = f.f / 0.5.
    # anchor 1: s = [0, 2, 0]; w10 = 0.8, w12 = 1 - 0.2 = 0.8; positive 2.
    lp1 = math.log(0.8) + 0.0 - math.log(0.8 * math.exp(0) + 0.8 * math.exp(0))
    # anchor 2: s = [2, 0, 2]; w20 = 0.6, w21 = 0.8; positive 1.
    lp2 = math.log(0.8) + 0.0 - math.log(0.6 * math.exp(2) + 0.8 * math.exp(0))
    expected = -(0.5 / 0.07) * (lp1 + lp2) / 2
    assert float(iac_loss(f, labels, inten, C)) == pytest.approx(expected, rel=1e-4)


def test_iac_gradient_pulls_same_class_together():
    torch.manual_seed(0)
    f = torch.randn(12, 8, requires_grad=True)
    labels = torch.tensor([0] * 4 + [1] * 4 + [2] * 4)
    inten = torch.tensor([0.0] * 4 + [0.9] * 4 + [0.7] * 4)
    opt = torch.optim.SGD([f], lr=0.05)
    first = float(iac_loss(f, labels, inten, C).detach())
    for _ in range(30):
        opt.zero_grad()
        iac_loss(f, labels, inten, C).backward()
        opt.step()
    assert float(iac_loss(f, labels, inten, C).detach()) < first
    z = f.detach()
    within = torch.cdist(z[4:8], z[4:8]).mean()
    across = torch.cdist(z[4:8], z[:4]).mean()
    assert within < across


def test_iac_degenerate_inputs_are_zero():
    assert float(iac_loss(torch.randn(1, 4), torch.tensor([1]), torch.tensor([0.9]), C)) == 0.0
    assert float(iac_loss(torch.randn(2, 4), torch.tensor([1, 2]), torch.tensor([0.9, 0.8]), C)) == 0.0
