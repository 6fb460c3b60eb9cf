"""diffusers models written back in the original Stable Diffusion (LDM) key layout, as A1111's single-file
checkpoints hold them: the tests make such files from the built-in model. The UNet's names come from the package's
`unet_ldm_name` (which kohya's SDXL LoRAs need); the VAE's are named here."""
from __future__ import annotations

import re
from typing import Optional

from pipelines.ldm_layout import unet_ldm_name

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_ENCODER_PREFIX = "cond_stage_model.transformer."  # SD 1.x, in the transformers layout

_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_ldm_name(name: str, config) -> Optional[str]:
    """The LDM name of a diffusers AutoencoderKL parameter."""
    blocks = len(config["block_out_channels"])
    for side in ("encoder", "decoder"):
        if name.startswith(side + ".conv_norm_out."):
            return name.replace("conv_norm_out", "norm_out", 1)
        if name.startswith((side + ".conv_in.", side + ".conv_out.")):
            return name
    m = re.match(r"(encoder|decoder)\.(down|up)_blocks\.(\d+)\.(resnets|downsamplers|upsamplers)\.(\d+)\.(.*)$", name)
    if m:
        side, direction, i, kind, j, rest = m[1], m[2], int(m[3]), m[4], int(m[5]), m[6]
        level = i if direction == "down" else blocks - 1 - i
        if kind == "resnets":
            return f"{side}.{direction}.{level}.block.{j}.{rest.replace('conv_shortcut', 'nin_shortcut', 1)}"
        return f"{side}.{direction}.{level}.{direction}sample.{rest}"
    m = re.match(r"(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d+)\.(.*)$", name)
    if m:
        side, kind, j, rest = m[1], m[2], int(m[3]), m[4]
        if kind == "resnets":
            return f"{side}.mid.block_{j + 1}.{rest.replace('conv_shortcut', 'nin_shortcut', 1)}"
        for diffusers, ldm in _VAE_ATTENTION.items():
            if rest.startswith(diffusers + "."):
                return f"{side}.mid.attn_1.{ldm}{rest[len(diffusers):]}"
    if name.startswith(("quant_conv.", "post_quant_conv.")):
        return name
    return None


def _renamed(state_dict: dict, config, ldm_name, what: str) -> dict:
    out = {}
    for name, tensor in state_dict.items():
        ldm = ldm_name(name, config)
        if ldm is None:
            raise KeyError(f"no LDM name for {what} parameter {name}")
        out[ldm] = tensor
    return out


def vae_to_ldm(state_dict: dict, config) -> dict:
    """A diffusers VAE state dict in the LDM layout (the attention projections become 1x1 convolutions)."""
    out = _renamed(state_dict, config, vae_ldm_name, "VAE")
    return {k: v[:, :, None, None] if ".mid.attn_1." in k and k.endswith(".weight") and v.dim() == 2 else v
            for k, v in out.items()}


def unet_to_ldm(state_dict: dict, config) -> dict:
    return _renamed(state_dict, config, unet_ldm_name, "UNet")
