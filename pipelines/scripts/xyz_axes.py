"""The X/Y/Z plot's axis types, in A1111 v1.10's img2img order (an API caller's `x_type` index means the same axis),
and how axis values are read: `1, 2, 3`, ranges `1-5`, `1-5 (+2)`, `1-3 [5]`, quoted CSV."""
from __future__ import annotations

import csv
import dataclasses
import os
import re
from dataclasses import dataclass
from io import StringIO
from itertools import chain, permutations
from typing import Any, Callable, List, Optional, Sequence

import numpy as np

from ..job import Job, JobError
from ..samplers import SCHEDULES, UnknownSamplerError, find_schedule, sampler_names, split_sampler_and_schedule

Apply = Callable[[Job, Any, Sequence[Any], Any], Job]  # (job, value, all values, script context) -> job

RE_RANGE = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\(([+-]\d+)\s*\))?\s*")
_FLOAT = r"([+-]?\s*\d+(?:.\d*)?)"
RE_RANGE_FLOAT = re.compile(r"\s*" + _FLOAT + r"\s*-\s*" + _FLOAT + r"(?:\s*\(([+-]\d+(?:.\d*)?)\s*\))?\s*")
RE_RANGE_COUNT = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\[(\d+)\s*])?\s*")
RE_RANGE_COUNT_FLOAT = re.compile(r"\s*" + _FLOAT + r"\s*-\s*" + _FLOAT + r"(?:\s*\[(\d+(?:.\d*)?)\s*])?\s*")


def set_field(name: str) -> Apply:
    return lambda job, x, xs, context: dataclasses.replace(job, **{name: x})


def set_option(key: str, boolean: bool = False) -> Apply:
    def apply(job, x, xs, context):
        value = str(x).lower() == "true" if boolean else x
        return dataclasses.replace(job, override_settings=dict(job.override_settings, **{key: value}))
    return apply


def replace_prompt(job: Job, x: str, xs: Sequence[str], context) -> Job:
    """Prompt S/R: the first value is searched for, and replaced by this one, in both prompts."""
    if xs[0] not in job.prompt and xs[0] not in job.negative_prompt:
        raise JobError(f"Prompt S/R did not find {xs[0]} in prompt or negative prompt.")
    return dataclasses.replace(job, prompt=job.prompt.replace(xs[0], x),
                               negative_prompt=job.negative_prompt.replace(xs[0], x))


def reorder_prompt(job: Job, x: Sequence[str], xs, context) -> Job:
    """Prompt order: the listed words put back into the prompt in this order."""
    prompt = job.prompt
    order = sorted((prompt.find(token), token) for token in x)
    parts = []
    for _, token in order:
        n = prompt.find(token)
        parts.append(prompt[:n])
        prompt = prompt[n + len(token):]
    return dataclasses.replace(job, prompt="".join(part + x[i] for i, part in enumerate(parts)) + prompt)


def set_size(job: Job, x: str, xs, context) -> Job:
    w, _, h = str(x).partition("x")
    try:
        return dataclasses.replace(job, width=int(w.strip()), height=int(h.strip()), scale_by=None)
    except ValueError:
        raise JobError(f"X/Y/Z plot: invalid size {x!r} (write it as 512x768)") from None


def set_vae(job: Job, x: str, xs, context) -> Job:
    name = {"auto": "Automatic", "automatic": "Automatic", "none": "None"}.get(str(x).strip().lower(), x)
    return dataclasses.replace(job, override_settings=dict(job.override_settings, sd_vae=name))


def add_styles(job: Job, x: str, xs, context) -> Job:
    return context.apply_styles(dataclasses.replace(job, styles=[s.strip() for s in str(x).split(",")]))


def label_value(axis: "Axis", x: Any) -> str:
    return f"{axis.label}: {round(x, 8) if isinstance(x, float) else x}"


def plain_value(axis: "Axis", x: Any) -> str:
    return str(round(x, 8) if isinstance(x, float) else x)


def checked_by(find: Callable[[str], Any]) -> Callable[[Sequence[str]], None]:
    """An axis check: every value must be one `find` knows (a sampler, a schedule type)."""
    def check(values: Sequence[str]) -> None:
        for value in values:
            try:
                find(value)
            except UnknownSamplerError as e:
                raise JobError(f"X/Y/Z plot: {e}") from None
    return check


check_samplers = checked_by(lambda name: split_sampler_and_schedule(name, None))
check_schedules = checked_by(find_schedule)


@dataclass(frozen=True)
class Axis:
    label: str
    type: Any  # int, float, str, or "permutations" (of the listed words)
    apply: Optional[Apply]  # None: this server does not have what the axis changes
    format: Callable[["Axis", Any], str] = label_value
    confirm: Optional[Callable[[Sequence[Any]], None]] = None
    cost: float = 0.0  # slow to change: kept in the outer loop
    choices: Optional[Callable[[], List[str]]] = None


def _unavailable(label: str, kind=float) -> Axis:
    return Axis(label, kind, None)


AXES: List[Axis] = [
    Axis("Nothing", str, lambda job, x, xs, c: job, format=lambda a, x: ""),
    Axis("Seed", int, set_field("seed")),
    Axis("Var. seed", int, set_field("subseed")),
    Axis("Var. strength", float, set_field("subseed_strength")),
    Axis("Steps", int, set_field("steps")),
    Axis("CFG Scale", float, set_field("cfg_scale")),
    _unavailable("Image CFG Scale"),
    Axis("Prompt S/R", str, replace_prompt, format=plain_value),
    Axis("Prompt order", "permutations", reorder_prompt, format=lambda a, x: ", ".join(x)),
    Axis("Sampler", str, set_field("sampler_name"), format=plain_value, confirm=check_samplers, choices=sampler_names),
    Axis("Checkpoint name", str, set_option("sd_model_checkpoint"), format=lambda a, x: os.path.basename(x),
         cost=1.0),
    Axis("Negative Guidance minimum sigma", float, set_field("s_min_uncond")),
    Axis("Sigma Churn", float, set_field("s_churn")),
    Axis("Sigma min", float, set_field("s_tmin")),
    Axis("Sigma max", float, set_field("s_tmax")),
    Axis("Sigma noise", float, set_field("s_noise")),
    Axis("Schedule type", str, set_field("scheduler"), confirm=check_schedules, choices=lambda: list(SCHEDULES)),
    Axis("Schedule min sigma", float, set_option("sigma_min")),
    Axis("Schedule max sigma", float, set_option("sigma_max")),
    Axis("Schedule rho", float, set_option("rho")),
    Axis("Skip Early CFG", float, set_option("skip_early_cond")),
    Axis("Beta schedule alpha", float, set_option("beta_dist_alpha")),
    Axis("Beta schedule beta", float, set_option("beta_dist_beta")),
    Axis("Eta", float, set_field("eta")),
    Axis("Clip skip", int, set_option("CLIP_stop_at_last_layers")),
    Axis("Denoising", float, set_field("denoising_strength")),
    Axis("Initial noise multiplier", float, set_field("initial_noise_multiplier")),
    Axis("Extra noise", float, set_option("img2img_extra_noise")),
    Axis("Cond. Image Mask Weight", float, set_option("inpainting_mask_weight")),
    Axis("VAE", str, set_vae, cost=0.7),
    Axis("Styles", str, add_styles),
    _unavailable("UniPC Order", int),
    _unavailable("Face restore", str),
    _unavailable("Token merging ratio"),
    _unavailable("Token merging ratio high-res"),
    Axis("Always discard next-to-last sigma", str, set_option("always_discard_next_to_last_sigma", boolean=True),
         choices=lambda: ["False", "True"]),
    _unavailable("SGM noise multiplier", str),
    _unavailable("Refiner checkpoint", str),
    _unavailable("Refiner switch at"),
    Axis("RNG source", str, set_option("randn_source"), choices=lambda: ["GPU", "CPU", "NV"]),
    _unavailable("FP8 mode", str),
    Axis("Size", str, set_size),
    Axis("Mask blur", int, set_field("mask_blur")),  # beyond A1111's list, so its indices stay A1111's
]
AXIS_LABELS = [axis.label for axis in AXES]


def csv_values(text: str) -> List[str]:
    return [v.strip() for v in chain.from_iterable(csv.reader(StringIO(text or "")))]


def _expand_numbers(values: List[str], kind: type) -> List[Any]:
    """Ranges in place: `1-5` (and `1-5 (+2)`) by step, `1-3 [5]` as that many evenly spaced values."""
    plain, counted = (RE_RANGE, RE_RANGE_COUNT) if kind is int else (RE_RANGE_FLOAT, RE_RANGE_COUNT_FLOAT)
    out: List[Any] = []
    for value in values:
        if value.strip() == "":
            continue
        m, mc = plain.fullmatch(value), counted.fullmatch(value)
        if m is not None:
            start, end = kind(m.group(1)), kind(m.group(2))
            step = kind(m.group(3)) if m.group(3) is not None else 1
            out += list(range(start, end + 1, step)) if kind is int else np.arange(start, end + step, step).tolist()
        elif mc is not None:
            start, end = kind(mc.group(1)), kind(mc.group(2))
            num = int(mc.group(3)) if mc.group(3) is not None else 1
            spaced = np.linspace(start=start, stop=end, num=num).tolist()
            out += [int(x) for x in spaced] if kind is int else spaced
        else:
            out.append(value)
    return out


def axis_values(axis: Axis, text: str, chosen: Sequence[str], text_inputs: bool) -> List[Any]:
    """An axis's values: from the dropdown's choices for an axis that has them (unless `text_inputs`, or no choice
    was made), else from the text; numbers and ranges expanded and converted; then checked."""
    if axis.label == "Nothing":
        return [0]
    values = list(chosen) if axis.choices is not None and not text_inputs and chosen else csv_values(text)
    if axis.type in (int, float):
        values = _expand_numbers(values, axis.type)
    elif axis.type == "permutations":
        values = list(permutations(values))
    try:
        values = [axis.type(v) if axis.type in (int, float, str) else v for v in values]
    except ValueError as e:
        raise JobError(f"X/Y/Z plot: a value of {axis.label} is not a {axis.type.__name__}: {e}") from None
    if axis.confirm is not None:
        axis.confirm(values)
    return values
