"""A1111's img2img scripts, selectable by title (`script_name`, any case) with A1111's positional `script_args`:
each makes Jobs for the core's pipeline and combines their pictures."""
from __future__ import annotations

from typing import Dict, List, Optional, Type

from ..job import Job, JobError
from .base import Script, ScriptContext
from .loopback import Loopback
from .outpainting import OutpaintingMk2, PoorMansOutpainting
from .prompt_matrix import PromptMatrix
from .prompts_from_file import PromptsFromFile
from .sd_upscale import SDUpscale
from .soft_inpainting import SoftInpainting
from .xyz_plot import XYZPlot

SELECTABLE: List[Type[Script]] = [PromptMatrix, PromptsFromFile, XYZPlot, Loopback, OutpaintingMk2,
                                  PoorMansOutpainting, SDUpscale]  # the page's order, as A1111's dropdown
_BY_KEY = {script.key(): script for script in SELECTABLE}
ALWAYSON: Dict[str, Type[Script]] = {SoftInpainting.key(): SoftInpainting}  # A1111's built-in extension


def find_script(name: Optional[str]) -> Optional[Type[Script]]:
    """The selectable script of a title, any case; None for no script ("" or "None"); a JobError when unknown."""
    if not name or name.strip().lower() == "none":
        return None
    script = _BY_KEY.get(name.strip().lower())
    if script is None:
        raise JobError(f"script {name!r} not found; scripts: {', '.join(s.title for s in SELECTABLE)}")
    return script


def selected_script(job: Job) -> Optional[Script]:
    script = find_script(job.script_name)
    return script.parse(job.script_args) if script is not None else None


def check_scripts(job: Job) -> None:
    """Raise a JobError naming an unknown script, a selectable script given as always-on, or an argument that does
    not fit."""
    for title, value in job.alwayson_scripts.items():
        if title.strip().lower() in _BY_KEY:
            raise JobError(f"alwayson_scripts: {title!r} is a selectable script; give it as script_name")
        if title.strip().lower() not in ALWAYSON:
            raise JobError(f"alwayson_scripts: {title!r} is not an always-on script of this server (they are: "
                           f"{', '.join(s.title for s in ALWAYSON.values())})")
        ALWAYSON[title.strip().lower()].parse(value.get("args", []) if isinstance(value, dict) else value)
    script = selected_script(job)
    if script is not None:
        script.check(job)


__all__ = ["Script", "ScriptContext", "SELECTABLE", "ALWAYSON", "find_script", "selected_script", "check_scripts"]
