"""The spotting network (METHOD.md section 2): a SpotFormer-style backbone and two 1x1-conv heads.

Every frame is scored from its own 17-frame window of 10 ROI motion vectors, so a video is just a
batch of independent windows: inference chunks frames, training can pick any subset of frames.

Two backbone variants (`ModelConfig.arch`):
- "reference": the published network, operation for operation (the paper preset and faithful
  mode). Temporal downsampling is BatchNorm -> strided conv without bias or activation; a
  BatchNorm precedes both group max-pools; qkv has no bias; no norm after the last conv; the
  embeddings start standard normal and the heads kaiming-uniform with zero bias. With the
  reference's own weights (`pfes_core.reference_weights`) it reproduces the reference's
  features to float precision (tests/test_faithful_reference.py).
- "pfes": the project's earlier variant, kept for the small cpu preset and for checkpoints made
  with it: conv (+bias) -> BatchNorm -> GELU downsampling, no norm before the pools, qkv bias, a
  final BatchNorm on the feature, small (std 0.02) embeddings and PyTorch's default head init.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

N_WINDOW = 17
N_ROIS = 10
# The 10 non-nose ROIs are ordered left brow (3), right brow (3), mouth (4): METHOD.md 1.5.
ROI_GROUPS = (0, 0, 0, 1, 1, 1, 2, 2, 2, 2)
N_GROUPS = 3
ARCHS = ("pfes", "reference")


@dataclass(frozen=True)
class ModelConfig:
    """Size and regularisation of the network; stored in every checkpoint to rebuild it."""

    width: int = 256          # f_t dimension; 4 heads x 64 in the reference
    heads: int = 4
    ffn_mult: int = 2         # feed-forward hidden = ffn_mult * width (the reference: 1, i.e. 256)
    hidden_dropout: float = 0.7   # dropout on h_t (the reference uses 0.7)
    logit_dropout: float = 0.0    # 0.7 in faithful mode: dropout on both logits before the sigmoid
    arch: str = "pfes"        # backbone variant, see the module docstring ("pfes" for old checkpoints)
    emb_dropout: float = 0.0  # dropout after the token + position embeddings (the reference: 0.1)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown backbone variant {self.arch!r} (expected {' or '.join(ARCHS)})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class ModelOutput(NamedTuple):
    f: torch.Tensor   # (N, C) backbone feature
    h: torch.Tensor   # (N, C) intensity-branch hidden (pseudo-labels live in this space)
    a: torch.Tensor   # (N,) intensity in (0, 1)
    q: torch.Tensor   # (N, 2) apex scores (MaE, ME)


class _TokenNorm(nn.BatchNorm1d):
    """BatchNorm over the channel axis of a (..., C) token tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        shape = x.shape
        return super().forward(x.reshape(-1, shape[-1])).reshape(shape)


class _AttentionBlock(nn.Module):
    """Pre-BatchNorm multi-head self-attention + feed-forward, both residual, over axis -2."""

    def __init__(self, width: int, heads: int, ffn_mult: int, qkv_bias: bool = True):
        super().__init__()
        self.heads = heads
        self.norm1 = _TokenNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=qkv_bias)
        self.proj = nn.Linear(width, width)
        self.norm2 = _TokenNorm(width)
        self.ffn = nn.Sequential(nn.Linear(width, ffn_mult * width), nn.GELU(),
                                 nn.Linear(ffn_mult * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(att.transpose(1, 2).reshape(b, n, c))
        return x + self.ffn(self.norm2(x))


class _SpatioTemporalStage(nn.Module):
    """Spatial attention over the nodes of each frame, then temporal attention over each node's frames."""

    def __init__(self, width: int, heads: int, ffn_mult: int, qkv_bias: bool = True):
        super().__init__()
        self.spatial = _AttentionBlock(width, heads, ffn_mult, qkv_bias)
        self.temporal = _AttentionBlock(width, heads, ffn_mult, qkv_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, n, c = x.shape
        x = self.spatial(x.reshape(b * t, n, c)).reshape(b, t, n, c)
        x = x.transpose(1, 2).reshape(b * n, t, c)
        x = self.temporal(x).reshape(b, n, t, c).transpose(1, 2)
        return x


class _TemporalDown(nn.Module):
    """Strided temporal convolution per node (17 -> 9 -> 5 -> 3 with stride 2; 3 -> 1 without padding).

    reference=True: BatchNorm, then the conv without bias, no activation (the published order);
    otherwise conv (+bias) -> BatchNorm -> GELU."""

    def __init__(self, width: int, stride: int = 2, padding: int = 1, reference: bool = False):
        super().__init__()
        self.reference = reference
        self.conv = nn.Conv1d(width, width, kernel_size=3, stride=stride, padding=padding, bias=not reference)
        self.norm = nn.BatchNorm1d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, n, c = x.shape
        y = x.permute(0, 2, 3, 1).reshape(b * n, c, t)
        y = self.conv(self.norm(y)) if self.reference else F.gelu(self.norm(self.conv(y)))
        t2 = y.shape[-1]
        return y.reshape(b, n, c, t2).permute(0, 3, 1, 2)


class Backbone(nn.Module):
    """(N, 17, 10, 2) motion windows -> (N, C) per-frame feature f_t."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c = cfg.width
        ref = cfg.arch == "reference"
        self.embed = nn.Linear(2, c)
        self.embed_norm = _TokenNorm(c)
        self.time_emb = nn.Parameter(torch.zeros(1, N_WINDOW, 1, c))
        self.group_emb = nn.Parameter(torch.zeros(N_GROUPS, c))
        for emb in (self.time_emb, self.group_emb):
            if ref:
                nn.init.normal_(emb)
            else:
                nn.init.trunc_normal_(emb, std=0.02)
        self.emb_drop = nn.Dropout(cfg.emb_dropout)
        self.register_buffer("roi_groups", torch.tensor(ROI_GROUPS), persistent=False)
        self.stage1 = _SpatioTemporalStage(c, cfg.heads, cfg.ffn_mult, qkv_bias=not ref)
        self.down1 = _TemporalDown(c, reference=ref)          # 17 -> 9
        self.stage2 = _SpatioTemporalStage(c, cfg.heads, cfg.ffn_mult, qkv_bias=not ref)
        self.down2 = _TemporalDown(c, reference=ref)          # 9 -> 5
        self.att5 = _AttentionBlock(c, cfg.heads, cfg.ffn_mult, qkv_bias=not ref)
        self.down3 = _TemporalDown(c, reference=ref)          # 5 -> 3
        self.att3 = _AttentionBlock(c, cfg.heads, cfg.ffn_mult, qkv_bias=not ref)
        self.down4 = _TemporalDown(c, stride=1, padding=0, reference=ref)   # 3 -> 1
        # The reference normalises before each max-pool and not after the last conv.
        self.pool_norm1 = _TokenNorm(c) if ref else None
        self.pool_norm2 = _TokenNorm(c) if ref else None
        self.out_norm = None if ref else nn.BatchNorm1d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (N_WINDOW, N_ROIS, 2):
            raise ValueError(f"model input must be (N, {N_WINDOW}, {N_ROIS}, 2), got {tuple(x.shape)}")
        tok = self.embed_norm(self.embed(x))                                  # (N, 17, 10, C)
        tok = self.emb_drop(tok + self.time_emb + self.group_emb[self.roi_groups][None, None])
        tok = self.stage1(tok)
        if self.pool_norm1 is not None:
            tok = self.pool_norm1(tok)
        n, t, _, c = tok.shape
        # Max-pool ROIs into the three facial groups: brow L, brow R, mouth.
        grouped = torch.stack([tok[:, :, 0:3].amax(2), tok[:, :, 3:6].amax(2), tok[:, :, 6:10].amax(2)], dim=2)
        grouped = self.stage2(self.down1(grouped))                           # (N, 9, 3, C)
        if self.pool_norm2 is not None:
            grouped = self.pool_norm2(grouped)
        node = grouped.amax(2, keepdim=True)                                 # (N, 9, 1, C)
        node = self.down2(node)                                              # (N, 5, 1, C)
        node = self.att5(node[:, :, 0]).unsqueeze(2)
        node = self.down3(node)                                              # (N, 3, 1, C)
        node = self.att3(node[:, :, 0]).unsqueeze(2)
        node = self.down4(node).reshape(n, c)                                # (N, C)
        return node if self.out_norm is None else self.out_norm(node)


class SpottingModel(nn.Module):
    """Backbone + class-agnostic intensity branch + class-aware apex branch."""

    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        self.cfg = cfg or ModelConfig()
        c = self.cfg.width
        self.backbone = Backbone(self.cfg)
        self.hidden = nn.Linear(c, c)          # Conv1x1 256->256 over time == per-frame Linear
        self.intensity = nn.Linear(c, 1)
        self.apex = nn.Linear(c, 2)
        self.hidden_drop = nn.Dropout(self.cfg.hidden_dropout)
        self.logit_drop = nn.Dropout(self.cfg.logit_dropout)
        if self.cfg.arch == "reference":
            for layer in (self.hidden, self.intensity, self.apex):
                nn.init.kaiming_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def heads(self, f: torch.Tensor, dropout: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Both branches on features f. dropout=False gives the clean outputs even in train mode."""
        h = F.leaky_relu(self.hidden(f), 0.2)
        use = dropout and self.training
        if use:
            h = self.hidden_drop(h)
        a_logit = self.intensity(h)[:, 0]
        q_logit = self.apex(f)
        if use:
            a_logit = self.logit_drop(a_logit)
            q_logit = self.logit_drop(q_logit)
        return h, torch.sigmoid(a_logit), torch.sigmoid(q_logit)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        f = self.backbone(x)
        h, a, q = self.heads(f)
        return ModelOutput(f, h, a, q)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
