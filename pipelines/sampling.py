"""Running a sampler as A1111 runs it (`KDiffusionSampler` / `CompVisSampler`, `sample` and `sample_img2img`):
the sigmas or timesteps, the noised start, the sampler's extra arguments and its noise, the final paste-back.

img2img takes the last `t_enc + 1` sigmas of a schedule of `steps` (A1111's `setup_img2img_steps`) and starts from
`init_latent + noise * sigma`, also at denoising strength 1, so the init picture's colours carry through. The timestep
samplers noise to `timesteps[t_enc]` and step through the ones below it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional

import torch

from .denoiser import CFGDenoiser, Interrupted, MaskBlend
from .events import Control
from .generation_info import Run, add_before_version
from .job import Job, Options
from .ksampling.common import BrownianTreeNoiseSampler
from .models import LoadedModel
from .noise import ImageRNG
from .samplers import LCM, TIMESTEPS, Sampler, get_sigmas, resolved_schedule
from .schedules import LCMSchedule, ModelSchedule, ScheduleSettings, alphas_cumprod_of
from .timestep_samplers import get_timesteps

OnStep = Callable[[int, int, torch.Tensor], None]  # (step, steps, denoised latents)


@dataclass
class Sampling:
    """One batch of pictures on its way through the sampler; latents in float32."""
    seeds: List[int]
    rng: ImageRNG
    noise: torch.Tensor  # the rng's first draw: the initial noise
    init_latent: Optional[torch.Tensor] = None  # None: txt2img
    blend: Optional[MaskBlend] = None
    extra_channels: Optional[torch.Tensor] = None  # an inpainting model's mask and masked-picture latents


@dataclass(frozen=True)
class SamplerSettings:
    """The sampler's parameters for one job, resolved from the job's fields and the settings."""
    eta: float
    s_churn: float
    s_tmin: float
    s_tmax: float
    s_noise: float
    extra_noise: float
    discard_penultimate: bool
    schedule: ScheduleSettings
    s_min_uncond: float = 0.0
    s_min_uncond_all: bool = False
    skip_early_cond: float = 0.0

    @classmethod
    def of(cls, sampler: Sampler, job: Job, opts: Options, is_sdxl: bool) -> "SamplerSettings":
        pick = lambda value, setting: setting if value is None else value  # noqa: E731
        eta_setting = opts.eta_ddim if sampler.kind == TIMESTEPS else opts.eta_ancestral
        schedule = ScheduleSettings(opts.sigma_min, opts.sigma_max, opts.rho, opts.beta_dist_alpha,
                                    opts.beta_dist_beta, is_sdxl)
        return cls(pick(job.eta, eta_setting), pick(job.s_churn, opts.s_churn), pick(job.s_tmin, opts.s_tmin),
                   pick(job.s_tmax, opts.s_tmax) or float("inf"), pick(job.s_noise, opts.s_noise),
                   opts.img2img_extra_noise, opts.always_discard_next_to_last_sigma, schedule,
                   pick(job.s_min_uncond, opts.s_min_uncond), opts.s_min_uncond_all, opts.skip_early_cond)

    def extra_args(self, sampler: Sampler) -> dict:
        """Eta where the sampler takes it, its solver type; s_churn, s_tmin, s_tmax, s_noise where it takes them
        and they differ from k-diffusion's defaults (A1111's `initialize`)."""
        kwargs = {"eta": self.eta} if sampler.takes_eta else {}
        if sampler.solver_type:
            kwargs["solver_type"] = sampler.solver_type
        defaults = {"s_churn": 0.0, "s_tmin": 0.0, "s_tmax": float("inf"), "s_noise": 1.0}
        for name in sampler.extra_params:
            if getattr(self, name) != defaults[name]:
                kwargs[name] = getattr(self, name)
        return kwargs

    def infotext(self, sampler: Sampler, schedule: str, img2img: bool) -> dict:
        """The keys A1111 adds for these settings, in its order: `get_sigmas`'s, then extra noise, then
        `initialize`'s."""
        params = {}
        if self.discard_penultimate and not sampler.discard_penultimate_sigma:
            params["Discard penultimate sigma"] = True
        schedule_type = resolved_schedule(sampler, schedule)
        if sampler.kind != TIMESTEPS and schedule_type != "Automatic":
            s = self.schedule
            params.update({"Schedule min sigma": s.sigma_min or None, "Schedule max sigma": s.sigma_max or None})
            if schedule_type in ("Karras", "Polyexponential") and s.rho:
                params["Schedule rho"] = s.rho
            if schedule_type == "Beta":
                params.update({"Beta schedule alpha": s.beta_alpha, "Beta schedule beta": s.beta_beta})
        if img2img and self.extra_noise > 0:
            params["Extra noise"] = self.extra_noise
        if sampler.takes_eta and self.eta != sampler.eta_default:
            params["Eta DDIM" if sampler.kind == TIMESTEPS else "Eta"] = self.eta
        names = {"s_churn": "Sigma churn", "s_tmin": "Sigma tmin", "s_tmax": "Sigma tmax", "s_noise": "Sigma noise"}
        for name, value in self.extra_args(sampler).items():
            if name in names:
                params[names[name]] = value
        return {k: v for k, v in params.items() if v is not None}


def model_schedule(model: LoadedModel, sampler: Sampler) -> ModelSchedule:
    alphas_cumprod = alphas_cumprod_of(dict(model.pipe.scheduler.config))
    return LCMSchedule(alphas_cumprod) if sampler.kind == LCM else ModelSchedule(alphas_cumprod)


def sample(model: LoadedModel, run: Run, s: Sampling, control: Control, on_step: OnStep) -> Optional[torch.Tensor]:
    """The sampled latents of one batch (the original pasted back outside the mask), or None when interrupted or
    skipped."""
    sampler = run.sampler
    schedule = model_schedule(model, sampler)
    denoiser = CFGDenoiser(model, schedule, run.conditioning, run.job.cfg_scale, control,
                           timestep_mode=sampler.kind == TIMESTEPS)
    denoiser.blend, denoiser.extra_channels = s.blend, s.extra_channels
    settings = run.sampler_settings
    denoiser.s_min_uncond, denoiser.s_min_uncond_all = settings.s_min_uncond, settings.s_min_uncond_all
    denoiser.skip_early_cond, denoiser.total_calls = settings.skip_early_cond, sampler.total_steps(run.steps_run)
    total = max(run.steps_run, 1)

    def callback(d: dict) -> None:
        on_step(min(d["i"] + 1, total), total, d["denoised"])

    try:
        if sampler.kind == TIMESTEPS:
            latents = _sample_timesteps(run, s, denoiser, schedule, callback)
        else:
            latents = _sample_sigmas(run, s, denoiser, schedule, callback)
    except Interrupted:
        return None
    if denoiser.skipped_early or denoiser.skipped_uncond:  # A1111 writes these once it has skipped the negative
        run.params = add_before_version(run.params, {
            "Skip Early CFG": settings.skip_early_cond if denoiser.skipped_early else None,
            "NGMS": settings.s_min_uncond if denoiser.skipped_uncond else None,
            "NGMS all steps": settings.s_min_uncond_all if denoiser.skipped_uncond and settings.s_min_uncond_all
            else None})
    return s.blend(latents, final=True) if s.blend is not None else latents


def _noise_sampler(run: Run, s: Sampling, sigmas: torch.Tensor):
    """Each picture's next draw from its own generator; Brownian trees seeded with the pictures' seeds for the SDE
    samplers (over the whole schedule, as A1111)."""
    if run.sampler.brownian_noise:
        x = s.init_latent if s.init_latent is not None else s.noise
        return BrownianTreeNoiseSampler(x, sigmas[sigmas > 0].min(), sigmas.max(), seed=s.seeds)
    return lambda sigma, sigma_next: s.rng.next()


def _sample_sigmas(run: Run, s: Sampling, denoiser: CFGDenoiser, schedule: ModelSchedule, callback) -> torch.Tensor:
    sampler, settings = run.sampler, run.sampler_settings
    steps = run.schedule_steps
    sigmas = get_sigmas(sampler, run.schedule, steps, schedule, settings.schedule, settings.discard_penultimate)
    parameters = sampler.parameters
    kwargs = settings.extra_args(sampler)
    if s.init_latent is None:
        x = s.noise * sigmas[0]
        sigma_sched = sigmas
        sigma_min, sigma_max, n = schedule.sigma_min.item(), schedule.sigma_max.item(), steps
    else:
        sigma_sched = sigmas[steps - run.steps_run:]
        x = s.init_latent + s.noise * sigma_sched[0]
        if settings.extra_noise > 0:
            x = x + s.noise * settings.extra_noise
        sigma_min, sigma_max, n = sigma_sched[-2].item(), sigma_sched[0].item(), len(sigma_sched) - 1
    if "sigma_min" in parameters:
        kwargs.update(sigma_min=sigma_min, sigma_max=sigma_max)
    if "n" in parameters:
        kwargs["n"] = n
    if "sigmas" in parameters:
        kwargs["sigmas"] = sigma_sched
    if "noise_sampler" in parameters:
        kwargs["noise_sampler"] = _noise_sampler(run, s, sigmas)
    return sampler.function(denoiser, x, callback=callback, **kwargs)


def _sample_timesteps(run: Run, s: Sampling, denoiser: CFGDenoiser, schedule: ModelSchedule,
                      callback) -> torch.Tensor:
    sampler, settings = run.sampler, run.sampler_settings
    timesteps = get_timesteps(run.schedule_steps, settings.discard_penultimate)
    alphas_cumprod = schedule.alphas_cumprod
    kwargs = settings.extra_args(sampler)
    if s.init_latent is None:
        x = s.noise
    else:
        t_enc = run.steps_run - 1
        alpha = alphas_cumprod[timesteps[t_enc]]
        x = s.init_latent * torch.sqrt(alpha) + s.noise * torch.sqrt(1 - alpha)
        if settings.extra_noise > 0:
            x = x + s.noise * settings.extra_noise * torch.sqrt(alpha)
        timesteps = timesteps[:t_enc]
        if "is_img2img" in sampler.parameters:
            kwargs["is_img2img"] = True
    return sampler.function(denoiser, x, timesteps, alphas_cumprod, callback=callback,
                            noise_sampler=lambda sigma, sigma_next: s.rng.next(), **kwargs)
