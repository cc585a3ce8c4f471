"""Uni-Sign checkpoints -> signkit's sign encoder + text model.

Uni-Sign (Li et al., ICLR 2025; github.com/ZechengLi19/Uni-Sign, ``models.py`` + ``stgcn_layers/``) saves
``{"model": state_dict}`` with these top-level names:

- ``proj_linear.{body,left,right,face_all}``, ``gcn_modules.<part>``, ``fusion_gcn_modules.<part>`` (the ST-GCN
  chains ``layer{i}_{j}.gcn.{conv,A,bn}``, ``tcn.{0,1}``, ``residual.{0,1}``), ``part_para``, ``pose_proj``:
  the pose branch, which signkit's `SignEncoder` reproduces name for name -> ``sign_encoder.<same name>``;
- ``mt5_model.*``: Hugging Face's MT5ForConditionalGeneration -> ``text_model.*``;
- RGB-pose models add ``rgb_support_backbone``, ``rgb_proj``, ``fusion_pose_rgb_linear``, ``fusion_pose_rgb_DA``
  and ``fusion_gate``: signkit is skeleton-only, so these are dropped (and listed).

Uni-Sign has no SignEF, HAL or sign-text matching head, so ``signef.*``, ``hal.*`` and ``stm_head.*`` are new
(initialised fresh) when such weights are loaded into a Sigma model; the loader reports them as new keys.
Shapes are not checked here: the strict loader compares every one against the model it builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ZooError

if TYPE_CHECKING:
    import torch

POSE_PREFIXES = ("proj_linear.", "gcn_modules.", "fusion_gcn_modules.", "part_para", "pose_proj.")
TEXT_PREFIX = "mt5_model."
RGB_PREFIXES = ("rgb_support_backbone.", "rgb_proj.", "fusion_pose_rgb_linear.", "fusion_pose_rgb_DA.", "fusion_gate.")
NEW_IN_SIGMA = ("signef.", "hal.", "stm_head.")


@dataclass
class ConvertedCheckpoint:
    state_dict: dict[str, torch.Tensor]
    dropped: list[str] = field(default_factory=list)
    new_prefixes: tuple[str, ...] = NEW_IN_SIGMA
    note: str = "converted from Uni-Sign: SignEF, HAL and the STM head are not in Uni-Sign and start fresh"


def convert_unisign(state_dict: dict[str, torch.Tensor]) -> ConvertedCheckpoint:
    """Rename a Uni-Sign state dict to signkit's names; RGB-branch keys are dropped, anything unknown is refused."""
    if isinstance(state_dict.get("model"), dict):  # the whole checkpoint was passed
        state_dict = state_dict["model"]
    out: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    unknown: list[str] = []
    for key, value in state_dict.items():
        name = key.removeprefix("module.")  # saved from a DDP-wrapped model
        if name.startswith(POSE_PREFIXES):
            out["sign_encoder." + name] = value
        elif name.startswith(TEXT_PREFIX):
            out["text_model." + name[len(TEXT_PREFIX) :]] = value
        elif name.startswith(RGB_PREFIXES):
            dropped.append(key)
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(unknown[:10]) + (f", ... ({len(unknown) - 10} more)" if len(unknown) > 10 else "")
        raise ZooError(f"not a Uni-Sign checkpoint: {len(unknown)} keys signkit does not know ({shown})")
    if not any(k.startswith("sign_encoder.") for k in out) or not any(k.startswith("text_model.") for k in out):
        raise ZooError("not a Uni-Sign checkpoint: it lacks the pose branch (gcn_modules.) or the mT5 (mt5_model.)")
    return ConvertedCheckpoint(out, sorted(dropped))
