"""A1111's samplers and schedule types: the names, the options each sampler carries in A1111
(`sd_samplers_kdiffusion.py`, `sd_samplers_timesteps.py`, `sd_samplers_lcm.py`), and its `get_sigmas`."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import torch

from . import timestep_samplers
from .ksampling import dpm_solver, dpmpp, extra, karras
from .schedules import SCHEDULE_TYPES, ModelSchedule, ScheduleSettings, ScheduleType


class UnknownSamplerError(ValueError):
    pass


K_DIFFUSION, TIMESTEPS, LCM = "k-diffusion", "timesteps", "lcm"
CHURN = ("s_churn", "s_tmin", "s_tmax", "s_noise")


@dataclass(frozen=True)
class Sampler:
    name: str
    function: Callable
    aliases: Tuple[str, ...] = ()
    default_schedule: Optional[str] = None  # what "Automatic" means for this sampler in A1111
    kind: str = K_DIFFUSION
    second_order: bool = False  # two model calls a step: A1111 doubles the prompt-editing schedule
    brownian_noise: bool = False  # SDE noise from Brownian trees seeded per picture
    discard_penultimate_sigma: bool = False
    uses_ensd: bool = False  # "ENSD" is written in the infotext when this sampler uses it
    extra_params: Tuple[str, ...] = ()  # which of s_churn, s_tmin, s_tmax, s_noise it takes
    solver_type: Optional[str] = None  # DPM++ 2M SDE's, where not its default (midpoint)

    @property
    def parameters(self):
        return inspect.signature(self.function).parameters

    @property
    def takes_eta(self) -> bool:
        return "eta" in self.parameters

    @property
    def eta_default(self) -> float:
        """A1111's eta when none is set: "Eta for ancestral samplers" 1, "Eta for DDIM" 0."""
        return 0.0 if self.kind == TIMESTEPS else 1.0

    def total_steps(self, steps: int) -> int:
        """The length of the prompt-editing schedule."""
        return steps * 2 if self.second_order else steps


# In A1111's order (the first one is the UI's default).
SAMPLERS: List[Sampler] = [
    Sampler("DPM++ 2M", dpmpp.sample_dpmpp_2m, ("k_dpmpp_2m",), "Karras"),
    Sampler("DPM++ SDE", dpmpp.sample_dpmpp_sde, ("k_dpmpp_sde",), "Karras", second_order=True, brownian_noise=True,
            extra_params=("s_noise",)),
    Sampler("DPM++ 2M SDE", dpmpp.sample_dpmpp_2m_sde, ("k_dpmpp_2m_sde",), "Exponential", brownian_noise=True,
            extra_params=("s_noise",)),
    Sampler("DPM++ 2M SDE Heun", dpmpp.sample_dpmpp_2m_sde, ("k_dpmpp_2m_sde_heun",), "Exponential",
            brownian_noise=True, extra_params=("s_noise",), solver_type="heun"),
    Sampler("DPM++ 2S a", dpmpp.sample_dpmpp_2s_ancestral, ("k_dpmpp_2s_a",), "Karras", second_order=True,
            uses_ensd=True, extra_params=("s_noise",)),
    Sampler("DPM++ 3M SDE", dpmpp.sample_dpmpp_3m_sde, ("k_dpmpp_3m_sde",), "Exponential", brownian_noise=True,
            discard_penultimate_sigma=True, extra_params=("s_noise",)),
    Sampler("Euler a", karras.sample_euler_ancestral, ("k_euler_a", "k_euler_ancestral"), uses_ensd=True),
    Sampler("Euler", karras.sample_euler, ("k_euler",), extra_params=CHURN),
    Sampler("LMS", karras.sample_lms, ("k_lms",)),
    Sampler("Heun", karras.sample_heun, ("k_heun",), second_order=True, extra_params=CHURN),
    Sampler("DPM2", karras.sample_dpm_2, ("k_dpm_2",), "Karras", second_order=True, discard_penultimate_sigma=True,
            extra_params=CHURN),
    Sampler("DPM2 a", karras.sample_dpm_2_ancestral, ("k_dpm_2_a",), "Karras", second_order=True,
            discard_penultimate_sigma=True, uses_ensd=True, extra_params=("s_noise",)),
    Sampler("DPM fast", dpm_solver.sample_dpm_fast, ("k_dpm_fast",), uses_ensd=True, extra_params=("s_noise",)),
    Sampler("DPM adaptive", dpm_solver.sample_dpm_adaptive, ("k_dpm_ad",), uses_ensd=True),
    Sampler("Restart", extra.sample_restart, ("restart",), "Karras", second_order=True),
    Sampler("DDIM", timestep_samplers.ddim, ("ddim",), kind=TIMESTEPS),
    Sampler("DDIM CFG++", timestep_samplers.ddim_cfgpp, ("ddim_cfgpp",), kind=TIMESTEPS),
    Sampler("PLMS", timestep_samplers.plms, ("plms",), kind=TIMESTEPS),
    Sampler("UniPC", timestep_samplers.unipc, ("unipc",), kind=TIMESTEPS),
    Sampler("LCM", extra.sample_lcm, ("k_lcm", "lcm"), kind=LCM),
]

SCHEDULES: Dict[str, ScheduleType] = {s.label: s for s in SCHEDULE_TYPES}
_SCHEDULE_NAMES = {n.lower(): s.label for s in SCHEDULE_TYPES for n in (s.name, *(s.aliases or ()))}
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
    label = _SCHEDULE_NAMES.get(name.strip().lower().replace(" ", "_"))
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
    """The label A1111 writes as "Schedule type": Automatic becomes the sampler's own schedule where it has one.
    DDIM, PLMS and UniPC step through timesteps and ignore it, as in A1111."""
    if sampler.kind == TIMESTEPS:
        return "Automatic"
    if schedule == "Automatic":
        return sampler.default_schedule or "Automatic"
    return schedule


def get_sigmas(sampler: Sampler, schedule: str, steps: int, model: ModelSchedule, settings: ScheduleSettings,
               discard_penultimate: bool = False) -> torch.Tensor:
    """A1111's `KDiffusionSampler.get_sigmas`: `steps` sigmas and a final 0 (one more, then the next-to-last
    dropped, for DPM2, DPM2 a, DPM++ 3M SDE, or with "always discard next-to-last sigma")."""
    discard = sampler.discard_penultimate_sigma or discard_penultimate
    steps += 1 if discard else 0
    schedule_type = SCHEDULES[resolved_schedule(sampler, schedule)]
    if schedule_type.function is None:
        sigmas = model.get_sigmas(steps)
    else:
        sigma_min = settings.sigma_min or model.sigma_min.item()
        sigma_max = settings.sigma_max or model.sigma_max.item()
        sigmas = schedule_type.function(steps, sigma_min, sigma_max, model, settings)
    if discard:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas.cpu()
