"""Load the published GIM network's weights into `pfes_core.model.SpottingModel`.

The reference saves two state dicts: its backbone (names like `transformer.gattn1.to_qkv.weight`)
and its heads (`attn_feature_extractor.0.weight`, 1x1 convs). `reference_name_map` says which
project parameter each one becomes, so a lab can run the authors' trained weights here, and the
tests can check that the "reference" backbone computes what the published one computes.

Its backbone, in the project's terms: graph attention + FFN over the 10 ROIs (`gattn1`, `gff1`) and
temporal attention + FFN (`layers.0`) = stage1; `gdown1` = the norm before the group max-pool;
`temporal_downsample_layers.0` = down1; `gattn2`, `gff2`, `layers.1`, `gdown2` = stage2 and its
pool norm; `layers.2`/`layers.3` = att5/att3 between down2..down4. Its temporal position table has
18 rows of which the 17-frame window uses the first 17.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from .errors import TrainingError
from .model import N_WINDOW, ModelConfig, SpottingModel

_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _attention(ref: str, ours: str) -> dict[str, str]:
    out = {f"{ref}.norm.{k}": f"{ours}.norm1.{k}" for k in _BN}
    out[f"{ref}.to_qkv.weight"] = f"{ours}.qkv.weight"
    out[f"{ref}.to_out.0.weight"] = f"{ours}.proj.weight"
    out[f"{ref}.to_out.0.bias"] = f"{ours}.proj.bias"
    return out


def _ffn(ref: str, ours: str) -> dict[str, str]:
    out = {f"{ref}.norm.{k}": f"{ours}.norm2.{k}" for k in _BN}
    for ref_layer, our_layer in (("net.0", "ffn.0"), ("net2.0", "ffn.2")):
        out[f"{ref}.{ref_layer}.weight"] = f"{ours}.{our_layer}.weight"
        out[f"{ref}.{ref_layer}.bias"] = f"{ours}.{our_layer}.bias"
    return out


def _norm(ref: str, ours: str) -> dict[str, str]:
    return {f"{ref}.{k}": f"{ours}.{k}" for k in _BN}


def reference_name_map() -> tuple[dict[str, str], dict[str, str]]:
    """(backbone map, heads map): reference parameter/buffer name -> project name."""
    t = "transformer"
    bb = {"temporal_pos_embedding": "time_emb", "spatial_pos_embedding": "group_emb",
          "to_patch_embedding.weight": "embed.weight", "to_patch_embedding.bias": "embed.bias",
          **_norm("norm", "embed_norm")}
    for i, ours in ((1, "stage1"), (2, "stage2")):
        bb.update(_attention(f"{t}.gattn{i}", f"{ours}.spatial"))
        bb.update(_ffn(f"{t}.gff{i}", f"{ours}.spatial"))
        bb.update(_norm(f"{t}.gdown{i}.norm", f"pool_norm{i}"))
    for i, ours in enumerate(("stage1.temporal", "stage2.temporal", "att5", "att3")):
        bb.update(_attention(f"{t}.layers.{i}.0", ours))
        bb.update(_ffn(f"{t}.layers.{i}.1", ours))
    for i in range(4):
        bb.update(_norm(f"{t}.temporal_downsample_layers.{i}.0.norm", f"down{i + 1}.norm"))
        bb[f"{t}.temporal_downsample_layers.{i}.0.downCNN.weight"] = f"down{i + 1}.conv.weight"
    bb = {k: f"backbone.{v}" for k, v in bb.items()}
    heads = {}
    for ref, ours in (("attn_feature_extractor.0", "hidden"), ("attention.0", "intensity"),
                      ("apex_classifier.0", "apex")):
        heads[f"{ref}.weight"] = f"{ours}.weight"
        heads[f"{ref}.bias"] = f"{ours}.bias"
    return bb, heads


def _tensor(value) -> torch.Tensor:
    return value.detach().clone() if isinstance(value, torch.Tensor) else torch.from_numpy(np.array(value))


def reference_config(backbone: Mapping, heads: int | None = None, **overrides) -> ModelConfig:
    """The ModelConfig whose "reference" backbone has the shapes of a reference backbone state dict.
    The reference's heads are 64 wide, so `heads` defaults to width / 64."""
    try:
        width = int(backbone["to_patch_embedding.weight"].shape[0])
        hidden = int(backbone["transformer.gff1.net.0.weight"].shape[0])
    except KeyError as exc:
        raise TrainingError(f"not a reference backbone state dict (no {exc.args[0]})") from None
    if hidden % width:
        raise TrainingError(f"reference FFN width {hidden} is not a multiple of the model width {width}")
    heads = heads or max(1, width // 64)
    return ModelConfig(**{"width": width, "heads": heads, "ffn_mult": hidden // width, "arch": "reference",
                          "emb_dropout": 0.1, **overrides})


def map_reference_state(backbone: Mapping, heads: Mapping) -> dict[str, torch.Tensor]:
    """A project state dict from the reference's two state dicts (arrays or tensors). Every
    reference entry must be used and every project entry filled, or TrainingError names the gap."""
    bb_map, head_map = reference_name_map()
    out: dict[str, torch.Tensor] = {}
    for source, names, what in ((backbone, bb_map, "backbone"), (heads, head_map, "heads")):
        unknown = sorted(set(source) - set(names))
        if unknown:
            raise TrainingError(f"unexpected entry in the reference {what} state dict: {unknown[0]}"
                                + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
        for ref_name, ours in names.items():
            if ref_name not in source:
                raise TrainingError(f"reference {what} state dict lacks {ref_name}")
            value = _tensor(source[ref_name])
            if ref_name == "temporal_pos_embedding":
                value = value[:, :N_WINDOW, None, :]          # (1, 18, C) -> (1, 17, 1, C)
            elif ours.startswith(("hidden.", "intensity.", "apex.")) and value.dim() == 3:
                value = value[..., 0]                         # Conv1d 1x1 (out, in, 1) -> Linear
            out[ours] = value
    return out


def model_from_reference(backbone: Mapping, heads: Mapping, **overrides) -> SpottingModel:
    """A SpottingModel ("reference" backbone) holding the reference's weights, in eval mode."""
    model = SpottingModel(reference_config(backbone, **overrides))
    state = map_reference_state(backbone, heads)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise TrainingError(f"reference weights do not fit the model: {str(exc).splitlines()[0][:200]}") from None
    return model.eval()


def load_reference_checkpoint(path, **overrides) -> SpottingModel:
    """The reference training script's checkpoint file (keys `spotformer_state_dict` and
    `model1_state_dict`), read with weights_only=True, as a SpottingModel."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainingError(f"refused reference checkpoint {path.name}: {first[:160]}") from None
    if not isinstance(payload, dict) or not {"spotformer_state_dict", "model1_state_dict"} <= set(payload):
        raise TrainingError(f"{path.name} is not a reference checkpoint "
                            "(expected spotformer_state_dict and model1_state_dict)")
    return model_from_reference(payload["spotformer_state_dict"], payload["model1_state_dict"], **overrides)
