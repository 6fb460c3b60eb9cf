"""The Batch tab's "PNG info" option (reference section 4): job parameters taken from each picture's infotext."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from pipelines import load_image
from pipelines.infotext import parse_generation_parameters
from pipelines.saving import read_infotext

PNG_INFO_FIELDS = ("Prompt", "Negative prompt", "Seed", "CFG scale", "Sampler", "Steps", "Model hash")


def png_info_params(image, other: Optional[Path], fields: Sequence[str], params: dict) -> dict:
    """A1111's "PNG info" batch option: the chosen `fields` from the picture's own infotext (or from the file `other`,
    of the same name in the PNG info folder); prompts are appended to the panel's."""
    text = read_infotext(image)
    if other is not None:
        text = read_infotext(load_image(str(other), f"PNG info file {other}")) if other.exists() else None
    if not text:
        return params
    found = parse_generation_parameters(text)
    params = dict(params)
    fields = set(fields)
    for key, name in (("Prompt", "prompt"), ("Negative prompt", "negative_prompt")):
        if key in fields and found.get(key):
            params[name] = f"{params.get(name, '')} {found[key]}".strip()
    for key, name, convert in (("Seed", "seed", int), ("CFG scale", "cfg_scale", float),
                               ("Sampler", "sampler_name", str), ("Steps", "steps", int)):
        if key in fields and key in found:
            try:
                params[name] = convert(found[key])
            except ValueError:
                pass
    if "Sampler" in fields and "Schedule type" in found:
        params["scheduler"] = found["Schedule type"]
    if "Model hash" in fields and "Model hash" in found:
        params["_model_hash"] = found["Model hash"]
    return params
