"""Names in the original Stable Diffusion (LDM / SGM) key layout for the parameters of diffusers' UNet and VAE.

A1111's single-file checkpoints and kohya's SDXL LoRAs use these names; diffusers converts from them when it loads a
single file, and this module gives the other direction, from a diffusers model's own config, for any number of
blocks and layers per block (the built-in tiny model has two blocks of one layer).
"""
from __future__ import annotations

import re
from typing import Dict, Optional

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_ENCODER_PREFIX = "cond_stage_model.transformer."  # SD 1.x, in the transformers layout

_UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
                "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_UNET_TOP = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _resnet(rest: str, table: Dict[str, str]) -> str:
    head, _, tail = rest.partition(".")
    return f"{table.get(head, head)}.{tail}" if tail else table.get(head, head)


def unet_ldm_name(name: str, config) -> Optional[str]:
    """The LDM name of a diffusers UNet parameter or module (`down_blocks.1.attentions.0.proj_in.weight` ->
    `input_blocks.4.1.proj_in.weight` for SD 1.5); None for a name with no counterpart."""
    layers = config["layers_per_block"]
    per_block = (layers if isinstance(layers, int) else layers[0]) + 1
    for diffusers, ldm in _UNET_TOP.items():
        if name == diffusers or name.startswith(diffusers + "."):
            return ldm + name[len(diffusers):]
    m = re.match(r"down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)(?:\.(.*))?$", name)
    if m:
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4] or ""
        if kind == "downsamplers":
            return f"input_blocks.{(i + 1) * per_block}.0.{rest.replace('conv', 'op', 1)}".rstrip(".")
        index = i * per_block + j + 1
        return (f"input_blocks.{index}.0.{_resnet(rest, _UNET_RESNET)}" if kind == "resnets"
                else f"input_blocks.{index}.1.{rest}").rstrip(".")
    m = re.match(r"up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)(?:\.(.*))?$", name)
    if m:
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4] or ""
        if kind == "upsamplers":
            position = 2 if "CrossAttn" in config["up_block_types"][i] else 1
            return f"output_blocks.{i * per_block + per_block - 1}.{position}.{rest}".rstrip(".")
        index = i * per_block + j
        return (f"output_blocks.{index}.0.{_resnet(rest, _UNET_RESNET)}" if kind == "resnets"
                else f"output_blocks.{index}.1.{rest}").rstrip(".")
    m = re.match(r"mid_block\.(resnets|attentions)\.(\d+)(?:\.(.*))?$", name)
    if m:
        kind, j, rest = m[1], int(m[2]), m[3] or ""
        return (f"middle_block.{2 * j}.{_resnet(rest, _UNET_RESNET)}" if kind == "resnets"
                else f"middle_block.1.{rest}").rstrip(".")
    return None


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
