"""Names in the original Stable Diffusion (LDM / SGM) key layout for the parameters of diffusers' UNet.

kohya's SDXL LoRAs name UNet layers this way; this module gives the LDM name of a diffusers UNet parameter from the
model's own config, for any number of blocks and layers per block (the built-in tiny model has two blocks of one
layer).
"""
from __future__ import annotations

import re
from typing import Dict, Optional

_UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
                "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_UNET_TOP = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}


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
