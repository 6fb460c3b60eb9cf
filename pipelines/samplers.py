"""A1111's sampler names and schedule types, mapped onto diffusers schedulers."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import diffusers


class UnknownSamplerError(ValueError):
    pass


@dataclass(frozen=True)
class Sampler:
    name: str
    scheduler_class: str
    config: Dict[str, object] = field(default_factory=dict)
    aliases: Tuple[str, ...] = ()
    default_schedule: Optional[str] = None  # what "Automatic" means for this sampler in A1111


# In A1111's order (the first one is the UI's default).
SAMPLERS: List[Sampler] = [
    Sampler("DPM++ 2M", "DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2},
            ("k_dpmpp_2m",), "Karras"),
    Sampler("DPM++ SDE", "DPMSolverSDEScheduler", {}, ("k_dpmpp_sde",), "Karras"),
    Sampler("DPM++ 2M SDE", "DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2},
            ("k_dpmpp_2m_sde",), "Exponential"),
    Sampler("DPM++ 2M SDE Heun", "DPMSolverMultistepScheduler",
            {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "solver_type": "heun"},
            ("k_dpmpp_2m_sde_heun",), "Exponential"),
    Sampler("DPM++ 3M SDE", "DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 3},
            ("k_dpmpp_3m_sde",), "Exponential"),
    Sampler("Euler a", "EulerAncestralDiscreteScheduler", {}, ("k_euler_a", "k_euler_ancestral")),
    Sampler("Euler", "EulerDiscreteScheduler", {}, ("k_euler",)),
    Sampler("LMS", "LMSDiscreteScheduler", {}, ("k_lms",)),
    Sampler("Heun", "HeunDiscreteScheduler", {}, ("k_heun",)),
    Sampler("DPM2", "KDPM2DiscreteScheduler", {}, ("k_dpm_2",), "Karras"),
    Sampler("DPM2 a", "KDPM2AncestralDiscreteScheduler", {}, ("k_dpm_2_a",), "Karras"),
    Sampler("DDIM", "DDIMScheduler", {"set_alpha_to_one": False}),
    Sampler("PLMS", "PNDMScheduler", {"skip_prk_steps": True}),
    Sampler("UniPC", "UniPCMultistepScheduler", {}),
    Sampler("LCM", "LCMScheduler", {}),
]

# Schedule type label -> the scheduler config it sets; "Automatic" is resolved per sampler.
SCHEDULES: Dict[str, Dict[str, object]] = {
    "Automatic": {},
    "Uniform": {},
    "Karras": {"use_karras_sigmas": True},
    "Exponential": {"use_exponential_sigmas": True},
    "SGM Uniform": {"timestep_spacing": "trailing"},
    "Beta": {"use_beta_sigmas": True},
}
SCHEDULE_ALIASES = {"automatic": "Automatic", "uniform": "Uniform", "karras": "Karras", "exponential": "Exponential",
                    "sgm_uniform": "SGM Uniform", "sgmuniform": "SGM Uniform", "beta": "Beta"}
SIGMA_OPTIONS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")

_BY_NAME = {s.name.lower(): s for s in SAMPLERS} | {a.lower(): s for s in SAMPLERS for a in s.aliases}


def sampler_names() -> List[str]:
    return [s.name for s in SAMPLERS]


def find_sampler(name: str) -> Sampler:
    sampler = _BY_NAME.get((name or "").strip().lower())
    if sampler is None:
        raise UnknownSamplerError(f"unknown sampler {name!r}; known samplers: {', '.join(sampler_names())}")
    return sampler


def find_schedule(name: Optional[str]) -> str:
    if not name:
        return "Automatic"
    for label in SCHEDULES:
        if label.lower() == name.strip().lower():
            return label
    label = SCHEDULE_ALIASES.get(name.strip().lower().replace(" ", "_"))
    if label is None:
        raise UnknownSamplerError(f"unknown schedule type {name!r}; known schedule types: {', '.join(SCHEDULES)}")
    return label


def split_sampler_and_schedule(sampler_name: str, scheduler: Optional[str]) -> Tuple[Sampler, str]:
    """A1111's `get_sampler_and_scheduler`: "DPM++ 2M Karras" is DPM++ 2M with Karras; the sampler's own default
    schedule reads back as Automatic."""
    name = (sampler_name or "").strip()
    schedule = find_schedule(scheduler)
    if name.lower() not in _BY_NAME:
        for label in SCHEDULES:
            if name.lower().endswith(" " + label.lower()) and name[: -len(label) - 1].lower() in _BY_NAME:
                name, schedule = name[: -len(label) - 1], label
                break
    sampler = find_sampler(name)
    if schedule == sampler.default_schedule:
        schedule = "Automatic"
    return sampler, schedule


def resolved_schedule(sampler: Sampler, schedule: str) -> str:
    """The label A1111 writes as "Schedule type": Automatic becomes the sampler's own schedule where it has one."""
    if schedule == "Automatic":
        return sampler.default_schedule or "Automatic"
    return schedule


def build_scheduler(sampler: Sampler, schedule: str, base_config: dict, noise_seed: Optional[int] = None):
    """A diffusers scheduler for this sampler and schedule type, on the loaded model's own noise schedule."""
    cls = getattr(diffusers, sampler.scheduler_class)
    accepted = set(inspect.signature(cls.__init__).parameters)
    wanted = dict(sampler.config)
    schedule_config = SCHEDULES[resolved_schedule(sampler, schedule)]
    for option in SIGMA_OPTIONS:
        if option in accepted:
            wanted[option] = False
    if schedule_config and not set(schedule_config) <= accepted:
        raise UnknownSamplerError(f"schedule type {schedule!r} is not available for sampler {sampler.name!r}")
    wanted.update(schedule_config)
    if noise_seed is not None and "noise_sampler_seed" in accepted:
        wanted["noise_sampler_seed"] = noise_seed
    config = {k: v for k, v in base_config.items() if not k.startswith("_")}
    config.update(wanted)
    scheduler = cls.from_config(config)
    for key, value in schedule_config.items():
        if scheduler.config.get(key) != value:
            raise UnknownSamplerError(f"schedule type {schedule!r} is not available for sampler {sampler.name!r}")
    return scheduler
