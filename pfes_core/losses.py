"""Training losses (METHOD.md section 4): intensity MSE + reward + sparsity, apex focal BCE, IAC."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch

# The reference's per-dataset weights: (sparsity lambda_n, IAC lambda_c). SAMM-LV's long, sparse
# 200 fps recordings get a much weaker sparsity pull; every other dataset uses CAS(ME)^2's.
DATASET_WEIGHTS: dict[str, tuple[float, float]] = {
    "casme2": (2.5, 1.4e-5),
    "samm-lv": (0.3, 2e-6),
    "casme3": (2.5, 1.4e-5),
}


@dataclass(frozen=True)
class LossConstants:
    """Every loss constant in one place. Defaults are the reference's (CAS(ME)^2 weights)."""

    reward: tuple[float, float] = (0.4, 0.6)      # -0.4 mean(a | y_MaE>0.5) - 0.6 mean(a | y_ME>0.5)
    reward_threshold: float = 0.5
    sparsity: float = 2.5                         # lambda_n (0.3 for SAMM-LV)
    focal_gamma: float = 1.0
    label_offset: float = 0.25                    # negatives are modulated by |0.25 - q|^gamma
    focal_alpha: tuple[float, float] = (0.90, 0.93)
    me_apex_weight: float = 1.8
    temperature: float = 0.5
    base_temperature: float = 0.07
    lambda_c: float = 1.4e-5                      # IAC weight (2e-6 for SAMM-LV)
    log_eps: float = 1e-5
    weight_eps: float = 1e-6
    smooth: float = 0.0                           # x mean(a[1:] - a[:-1]); the reference: 0.1
    iac_all_anchors: bool = False                 # the reference: anchors without a positive count as 0

    def for_dataset(self, name: str) -> "LossConstants":
        """These constants with the reference's sparsity and IAC weights for `name` (DATASET_WEIGHTS)."""
        key = normalise_dataset(name)
        sparsity, lambda_c = DATASET_WEIGHTS[key]
        return replace(self, sparsity=sparsity, lambda_c=lambda_c)
    negative: float = 1.0                         # intensity negatives of rejected spans (review_supervision, intensity=True); not the reference's

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LossConstants":
        return cls(**{k: tuple(v) if isinstance(v, list) else v
                      for k, v in data.items() if k in cls.__dataclass_fields__})


def normalise_dataset(name: str) -> str:
    """'CASME2', 'cas(me)^2', 'samm_lv', 'SAMM' ... -> a DATASET_WEIGHTS key; ValueError otherwise."""
    key = str(name).strip().lower().replace("_", "-").replace("(", "").replace(")", "").replace("^", "")
    key = {"casme-2": "casme2", "samm": "samm-lv", "sammlv": "samm-lv", "casme-3": "casme3"}.get(key, key)
    if key not in DATASET_WEIGHTS:
        raise ValueError(f"unknown dataset {name!r} (expected {', '.join(DATASET_WEIGHTS)})")
    return key


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over mask; an empty mask contributes 0 (the reference would produce NaN)."""
    if not bool(mask.any()):
        return x.sum() * 0.0
    return x[mask].mean()


def intensity_losses(a: torch.Tensor, y: torch.Tensor, in_window: torch.Tensor, neutral: torch.Tensor,
                     c: LossConstants, padding: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """a (N,), y (N, 2), in_window (N, 2) bool, neutral (N,) bool -> {'mse', 'reward', 'sparsity'}
    (+ 'smooth' when c.smooth). `padding` (M,): intensities of padded frames, which count in the
    sparsity mean only (the reference pads every video to the dataset's longest)."""
    mse = (_masked_mean((a - y[:, 0]) ** 2, in_window[:, 0])
           + _masked_mean((a - y[:, 1]) ** 2, in_window[:, 1])
           + _masked_mean(a ** 2, neutral))
    reward = -(c.reward[0] * _masked_mean(a, y[:, 0] > c.reward_threshold)
               + c.reward[1] * _masked_mean(a, y[:, 1] > c.reward_threshold))
    everything = a if padding is None or padding.numel() == 0 else torch.cat([a, padding])
    out = {"mse": mse, "reward": reward, "sparsity": c.sparsity * everything.mean()}
    if c.smooth and a.numel() > 1:
        # Signed and telescoping, as published: (a[-1] - a[0]) / (N - 1).
        out["smooth"] = c.smooth * (a[1:] - a[:-1]).mean()
    return out


def negative_loss(a: torch.Tensor, weights: torch.Tensor, c: LossConstants) -> torch.Tensor:
    """Rejected spans as intensity negatives (`review_supervision`, intensity=True): weighted mean
    of a^2. weights (N,). A rejection's class part is not a term here: its frames become ordinary
    apex-loss negatives (`review_supervision.apex_targets_with_rejections`), weighed like the
    method's own; a separate BCE term outweighed them and pushed every apex score under the gate."""
    return c.negative * (a ** 2 * weights).sum() / weights.sum().clamp(min=1.0)


def focal_bce(q: torch.Tensor, target: torch.Tensor, alpha: float, c: LossConstants) -> torch.Tensor:
    """Focal-style BCE of one class. target: 1 positive, 0 negative, -1 ignored (counts as zero)."""
    pos = (target > 0).to(q.dtype)
    neg = (target == 0).to(q.dtype)
    t = target.clamp(min=0.0)
    term = (alpha * (t - q).abs() ** c.focal_gamma * pos * torch.log(q + c.log_eps)
            + (1.0 - alpha) * (t + c.label_offset - q).abs() ** c.focal_gamma * neg
            * torch.log(1.0 - q + c.log_eps))
    return -term.mean()


def apex_loss(q: torch.Tensor, target: torch.Tensor, c: LossConstants) -> torch.Tensor:
    """q (N, 2), target (N, 2): MaE focal term + 1.8 x ME focal term."""
    return (focal_bce(q[:, 0], target[:, 0], c.focal_alpha[0], c)
            + c.me_apex_weight * focal_bce(q[:, 1], target[:, 1], c.focal_alpha[1], c))


def iac_pair_weights(labels: torch.Tensor, intensity: torch.Tensor) -> torch.Tensor:
    """w_ij: 1 neutral-neutral; |I_i - I_j| neutral-expression and MaE-ME; 1 - |I_i - I_j| within a class."""
    li, lj = labels[:, None], labels[None, :]
    diff = (intensity[:, None] - intensity[None, :]).abs()
    same = li == lj
    w = torch.where(same, 1.0 - diff, diff)
    return torch.where(same & (li == 0), torch.ones_like(w), w)


def iac_loss(features: torch.Tensor, labels: torch.Tensor, intensity: torch.Tensor,
             c: LossConstants) -> torch.Tensor:
    """Intensity-aware supervised contrastive loss.

    features (N, C) backbone features, labels (N,) 0 neutral / 1 MaE / 2 ME, intensity (N,) soft
    intensity (0 for neutrals). The pair weight scales the pair's denominator term and adds log(w)
    to the positive term. Anchors without a positive (a class of one) are skipped, or, with
    c.iac_all_anchors (the reference), count as 0 in a mean over every anchor.
    """
    n = features.shape[0]
    if n < 2:
        return features.sum() * 0.0
    logits = features @ features.T / c.temperature
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    w = iac_pair_weights(labels, intensity)
    not_self = ~torch.eye(n, dtype=torch.bool, device=features.device)
    positive = (labels[:, None] == labels[None, :]) & not_self
    denom = (torch.exp(logits) * w * not_self).sum(dim=1, keepdim=True)
    log_prob = torch.log(w + c.weight_eps) + logits - torch.log(denom + c.weight_eps)
    n_pos = positive.sum(dim=1)
    if c.iac_all_anchors:
        mean_pos = (log_prob * positive).sum(dim=1) / (n_pos + c.weight_eps)
        return -(c.temperature / c.base_temperature) * mean_pos.mean()
    has = n_pos > 0
    if not bool(has.any()):
        return features.sum() * 0.0
    mean_pos = (log_prob * positive).sum(dim=1)[has] / n_pos[has]
    return -(c.temperature / c.base_temperature) * mean_pos.mean()
