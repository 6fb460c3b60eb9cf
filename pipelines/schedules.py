"""Noise schedules as A1111 computes them: the model's own sigmas from its `alphas_cumprod` (k-diffusion's
`DiscreteSchedule`), and each schedule type of A1111's `sd_schedulers.py` over them."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np
import torch
from scipy import stats

from .ksampling.common import (append_zero, get_sigmas_exponential, get_sigmas_karras,
                               get_sigmas_polyexponential)


def alphas_cumprod_of(config: dict) -> torch.Tensor:
    """The model's cumulative alphas as the original (LDM / SGM) code computes them: betas in float64, the product
    in float64, stored as float32. diffusers' scheduler computes them in float32, a few ulps apart."""
    steps = int(config.get("num_train_timesteps", 1000))
    trained = config.get("trained_betas")
    start, end = float(config.get("beta_start", 0.00085)), float(config.get("beta_end", 0.012))
    kind = config.get("beta_schedule", "scaled_linear")
    if trained is not None:
        betas = torch.tensor(trained, dtype=torch.float64)
    elif kind == "scaled_linear":
        betas = torch.linspace(start ** 0.5, end ** 0.5, steps, dtype=torch.float64) ** 2
    elif kind == "linear":
        betas = torch.linspace(start, end, steps, dtype=torch.float64)
    elif kind == "squaredcos_cap_v2":
        t = torch.arange(steps + 1, dtype=torch.float64) / steps
        f = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = torch.clamp(1 - f[1:] / f[:-1], max=0.999)
    else:
        raise ValueError(f"unsupported beta schedule {kind!r}")
    return torch.cumprod(1 - betas, dim=0).to(torch.float32)


class ModelSchedule:
    """The model's discrete sigmas, and k-diffusion's conversions between sigma and (fractional) timestep."""

    def __init__(self, alphas_cumprod: torch.Tensor):
        self.alphas_cumprod = alphas_cumprod
        self.sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        self.log_sigmas = self.sigmas.log()

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def get_sigmas(self, n: int) -> torch.Tensor:
        """n sigmas evenly spaced in timestep from the last to 0, then 0 (A1111's "Uniform", and its Automatic
        for samplers without a schedule of their own)."""
        t = torch.linspace(len(self.sigmas) - 1, 0, n)
        return append_zero(self.t_to_sigma(t))

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        log_sigma = sigma.log()
        dists = log_sigma.to(self.log_sigmas.device) - self.log_sigmas[:, None]
        low_idx = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=self.log_sigmas.shape[0] - 2)
        high_idx = low_idx + 1
        low, high = self.log_sigmas[low_idx], self.log_sigmas[high_idx]
        w = ((low - log_sigma) / (low - high)).clamp(0, 1)
        t = (1 - w) * low_idx + w * high_idx
        return t.view(sigma.shape)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        t = t.float()
        low_idx, high_idx, w = t.floor().long(), t.ceil().long(), t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low_idx] + w * self.log_sigmas[high_idx]
        return log_sigma.exp().to(t.device)

    def scale_output(self, sigma: torch.Tensor, denoised: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return denoised


class LCMSchedule(ModelSchedule):
    """A1111's `LCMCompVisDenoiser`: the 50 timesteps an LCM was distilled on (999, 979, ... 19), discrete
    timesteps, and the consistency model's skip / output scalings."""
    ORIGINAL_STEPS = 50

    def __init__(self, alphas_cumprod: torch.Tensor):
        timesteps = len(alphas_cumprod)
        self.skip_steps = timesteps // self.ORIGINAL_STEPS
        valid = alphas_cumprod[timesteps - 1 - self.skip_steps * torch.arange(self.ORIGINAL_STEPS).flip(0)]
        super().__init__(valid.to(torch.float32))
        self.alphas_cumprod = alphas_cumprod

    def get_sigmas(self, n: int) -> torch.Tensor:
        start, end = self.sigma_to_t(self.sigma_max), self.sigma_to_t(self.sigma_min)
        return append_zero(self.t_to_sigma(torch.linspace(start, end, n)))

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        dists = sigma.log() - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape) * self.skip_steps + (self.skip_steps - 1)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        t = torch.clamp(((t - (self.skip_steps - 1)) / self.skip_steps).float(), min=0, max=len(self.sigmas) - 1)
        return super().t_to_sigma(t)

    def scale_output(self, sigma: torch.Tensor, denoised: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        sigma_data = 0.5
        scaled_t = self.sigma_to_t(sigma)[(...,) + (None,) * (denoised.ndim - 1)] * 10.0
        c_skip = sigma_data ** 2 / (scaled_t ** 2 + sigma_data ** 2)
        c_out = scaled_t / (scaled_t ** 2 + sigma_data ** 2) ** 0.5
        return c_out * denoised + c_skip * x


@dataclass(frozen=True)
class ScheduleSettings:
    """The settings that change a schedule (A1111's sigma_min, sigma_max, rho and Beta options; 0: the model's)."""
    sigma_min: float = 0.0
    sigma_max: float = 0.0
    rho: float = 0.0
    beta_alpha: float = 0.6
    beta_beta: float = 0.6
    sdxl: bool = False


def uniform(n, sigma_min, sigma_max, model: ModelSchedule, settings):
    return model.get_sigmas(n)


def sgm_uniform(n, sigma_min, sigma_max, model: ModelSchedule, settings):
    start, end = model.sigma_to_t(torch.tensor(sigma_max)), model.sigma_to_t(torch.tensor(sigma_min))
    sigmas = [model.t_to_sigma(t) for t in torch.linspace(start, end, n + 1)[:-1]]
    return torch.FloatTensor(sigmas + [0.0])


def normal(n, sigma_min, sigma_max, model: ModelSchedule, settings):
    start, end = model.sigma_to_t(torch.tensor(sigma_max)), model.sigma_to_t(torch.tensor(sigma_min))
    sigmas = [model.t_to_sigma(t) for t in torch.linspace(start, end, n)]
    return torch.FloatTensor(sigmas + [0.0])


def simple(n, sigma_min, sigma_max, model: ModelSchedule, settings):
    stride = len(model.sigmas) / n
    return torch.FloatTensor([float(model.sigmas[-(1 + int(x * stride))]) for x in range(n)] + [0.0])


def ddim(n, sigma_min, sigma_max, model: ModelSchedule, settings):
    stride = max(len(model.sigmas) // n, 1)
    sigmas = [float(model.sigmas[x]) for x in range(1, len(model.sigmas), stride)]
    return torch.FloatTensor(sigmas[::-1] + [0.0])


def karras(n, sigma_min, sigma_max, model, settings):
    return get_sigmas_karras(n, sigma_min, sigma_max, rho=settings.rho or 7.0)


def exponential(n, sigma_min, sigma_max, model, settings):
    return get_sigmas_exponential(n, sigma_min, sigma_max)


def polyexponential(n, sigma_min, sigma_max, model, settings):
    return get_sigmas_polyexponential(n, sigma_min, sigma_max, rho=settings.rho or 1.0)


def kl_optimal(n, sigma_min, sigma_max, model, settings):
    alpha_min, alpha_max = torch.arctan(torch.tensor(sigma_min)), torch.arctan(torch.tensor(sigma_max))
    step_indices = torch.arange(n + 1)
    return torch.tan(step_indices / n * alpha_min + (1.0 - step_indices / n) * alpha_max)


AYS_SD15 = [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029]
AYS_SDXL = [14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029]


def align_your_steps(n, sigma_min, sigma_max, model, settings):
    """NVIDIA's Align Your Steps sigmas for SD 1.5 or SDXL, log-linearly interpolated to n steps."""
    sigmas = AYS_SDXL if settings.sdxl else AYS_SD15
    if n == len(sigmas):
        return torch.FloatTensor(sigmas + [0.0])
    xs, ys = np.linspace(0, 1, len(sigmas)), np.log(sigmas[::-1])
    interpolated = np.exp(np.interp(np.linspace(0, 1, n), xs, ys))[::-1].copy()
    return torch.FloatTensor(np.append(interpolated, [0.0]))


def beta(n, sigma_min, sigma_max, model, settings):
    """"Beta Sampling is All You Need" (Lee et al., 2024): timesteps at the quantiles of a Beta distribution."""
    timesteps = [stats.beta.ppf(x, settings.beta_alpha, settings.beta_beta) for x in 1 - np.linspace(0, 1, n)]
    return torch.FloatTensor([sigma_min + x * (sigma_max - sigma_min) for x in timesteps] + [0.0])


@dataclass(frozen=True)
class ScheduleType:
    name: str  # A1111's API name
    label: str
    function: Optional[Callable]
    default_rho: float = -1
    need_inner_model: bool = False  # it reads the model's own sigmas
    aliases: Optional[Tuple[str, ...]] = None


SCHEDULE_TYPES = [
    ScheduleType("automatic", "Automatic", None),
    ScheduleType("uniform", "Uniform", uniform, need_inner_model=True),
    ScheduleType("karras", "Karras", karras, default_rho=7.0),
    ScheduleType("exponential", "Exponential", exponential),
    ScheduleType("polyexponential", "Polyexponential", polyexponential, default_rho=1.0),
    ScheduleType("sgm_uniform", "SGM Uniform", sgm_uniform, need_inner_model=True, aliases=("SGMUniform",)),
    ScheduleType("kl_optimal", "KL Optimal", kl_optimal),
    ScheduleType("align_your_steps", "Align Your Steps", align_your_steps),
    ScheduleType("simple", "Simple", simple, need_inner_model=True),
    ScheduleType("normal", "Normal", normal, need_inner_model=True),
    ScheduleType("ddim", "DDIM", ddim, need_inner_model=True),
    ScheduleType("beta", "Beta", beta, need_inner_model=True),
]
