"""A1111's CFG denoiser (`sd_samplers_cfg_denoiser.py`) over the diffusers UNet: what every sampler calls.

One call runs the UNet once on the negative prompt and each `AND` part stacked, combines them as A1111's
`combine_denoised`, and blends the original latents back outside the mask. A call counter picks the prompt in force
(prompt editing and alternation), as A1111's `self.step` does: it starts at 0 and counts calls, so second-order
samplers count two a step.

Two modes, as A1111's two sampler families see the model:
- sigma (k-diffusion's `CompVisDenoiser` / `CompVisVDenoiser`): `x` is scaled by sigma, the UNet gets
  `x / sqrt(sigma^2 + 1)` at the fractional timestep of sigma, the call returns the denoised latents, and the mask
  blend applies to them;
- timestep (A1111's `CFGDenoiserTimesteps`): `x` is the noised latent at an integer timestep, the call returns the
  predicted noise, and the original is pasted into `x` before the UNet sees it (`mask_before_denoising`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import torch

from .conditioning import Conditioning, RowGroup
from .events import Control
from .models import LoadedModel
from .schedules import ModelSchedule


class Interrupted(Exception):
    """Interrupt or Skip was pressed: the sampler stops within the step."""


@dataclass
class MaskBlend:
    init_latent: torch.Tensor
    keep: torch.Tensor  # 1 where the original stays (A1111's `mask`)
    regenerate: torch.Tensor  # 1 where the picture is redrawn (`nmask`)

    def __call__(self, latents: torch.Tensor, sigma: Optional[torch.Tensor] = None,
                 final: bool = False) -> torch.Tensor:
        """The latents inside the mask, the original outside (after a step at `sigma`, or at the end)."""
        return latents * self.regenerate + self.init_latent * self.keep


class CFGDenoiser:
    def __init__(self, model: LoadedModel, schedule: ModelSchedule, conditioning: Conditioning, cfg_scale: float,
                 control: Control, timestep_mode: bool = False):
        self.model, self.schedule, self.conditioning = model, schedule, conditioning
        self.cfg_scale, self.control, self.timestep_mode = cfg_scale, control, timestep_mode
        self.v_prediction = model.pipe.scheduler.config.get("prediction_type") == "v_prediction"
        self.blend: Optional[MaskBlend] = None
        self.extra_channels: Optional[torch.Tensor] = None  # an inpainting model's mask and masked picture
        self.step = 0
        self.cond_scale_multiplier = 1.0  # DDIM CFG++ guides with cfg_scale / 12.5
        self.keep_noise_uncond = False
        self.last_noise_uncond: Optional[torch.Tensor] = None
        self.s_min_uncond, self.s_min_uncond_all = 0.0, False  # NGMS: below this sigma, skip the negative prompt
        self.skip_early_cond, self.total_calls = 0.0, 1  # "Skip Early CFG": this fraction of the calls skips it
        self.skipped_early = self.skipped_uncond = False

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if self.control.interrupted.is_set() or self.control.skipped.is_set():
            raise Interrupted()
        if self.timestep_mode and self.blend is not None:
            x = self.blend(x, sigma)
        conditioning = self.conditioning
        if self.skips_early():
            self.skipped_early = True
            result = self.without_uncond(x, sigma)
        elif self.skips_uncond(sigma):
            self.skipped_uncond = True
            result = self.without_uncond(x, sigma)
        else:
            x_in, sigma_in = _stacked(x, sigma, conditioning.rows)
            out = self.denoised_or_noise(x_in, sigma_in, conditioning.at(self.step), self.extra_channels)
            if self.keep_noise_uncond:
                self.last_noise_uncond = conditioning.uncond_rows(out).clone()
            result = conditioning.combine(out, self.cfg_scale * self.cond_scale_multiplier)
        if not self.timestep_mode and self.blend is not None:
            result = self.blend(result, sigma)
        self.step += 1
        return result

    def skips_early(self) -> bool:
        """A1111's "Ignore negative prompt during early sampling": the first calls, up to this fraction of the calls
        the sampler makes (two a step for second-order samplers)."""
        return self.conditioning.do_cfg and self.skip_early_cond != 0 and \
            self.step / self.total_calls <= self.skip_early_cond

    def skips_uncond(self, sigma: torch.Tensor) -> bool:
        """A1111's NGMS ("Negative Guidance minimum sigma"): every other call (or every call) below the sigma."""
        return (self.conditioning.do_cfg and self.s_min_uncond > 0 and bool(self.step % 2 or self.s_min_uncond_all)
                and sigma[0] < self.s_min_uncond)

    def without_uncond(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """The parts alone; the first part's output stands in for the negative prompt's, combined at scale 1."""
        conditioning, batch = self.conditioning, self.conditioning.batch_size
        x_in, sigma_in = _stacked(x, sigma, len(conditioning.parts))
        extra = self.extra_channels[batch:] if self.extra_channels is not None else None
        out = self.denoised_or_noise(x_in, sigma_in, [conditioning.parts_at(self.step)], extra)
        if self.keep_noise_uncond:
            self.last_noise_uncond = out[:batch].clone()
        return conditioning.combine(torch.cat([out[:batch], out]), 1.0)

    def denoised_or_noise(self, x_in: torch.Tensor, sigma_in: torch.Tensor, groups: List[RowGroup],
                          extra_channels: Optional[torch.Tensor]) -> torch.Tensor:
        """The model's denoised latents (sigma mode) or predicted noise (timestep mode) for each stacked row."""
        dims = (slice(None),) + (None,) * (x_in.ndim - 1)
        if self.timestep_mode:
            output = self.unet(x_in, sigma_in, groups, extra_channels)
            if not self.v_prediction:
                return output
            alphas = self.schedule.alphas_cumprod.to(x_in.device)[sigma_in.to(torch.int)][dims]
            return alphas.sqrt() * output + (1 - alphas).sqrt() * x_in
        c_in = (1 / (sigma_in ** 2 + 1) ** 0.5)[dims]
        output = self.unet(x_in * c_in, self.schedule.sigma_to_t(sigma_in), groups, extra_channels)
        sigma = sigma_in[dims]
        if self.v_prediction:
            return output * (-sigma * c_in) + x_in / (sigma ** 2 + 1)
        return self.schedule.scale_output(sigma_in, x_in + output * -sigma, x_in)

    def unet(self, model_input: torch.Tensor, timesteps: torch.Tensor, groups: List[RowGroup],
             extra_channels: Optional[torch.Tensor]) -> torch.Tensor:
        """The UNet's output for every stacked row: one call, or one per group of rows whose prompts differ in
        length (A1111 runs the negative prompt on its own then)."""
        model = self.model
        model_input = model_input.to(model.dtype)
        if extra_channels is not None:
            model_input = torch.cat([model_input, extra_channels.to(model.dtype)], dim=1)
        model_input = model_input.contiguous(memory_format=model.memory_format)
        timesteps = timesteps.to(model_input.device, torch.float32)
        outputs = [model.pipe.unet(model_input[g.rows], timesteps[g.rows], encoder_hidden_states=g.hidden,
                                   added_cond_kwargs=g.added, return_dict=False)[0]
                   for g in groups]
        return (torch.cat(outputs) if len(outputs) > 1 else outputs[0]).float()


def _stacked(x: torch.Tensor, sigma: torch.Tensor, rows: int):
    """x and sigma repeated for each row of the UNet batch."""
    return (torch.cat([x] * rows), torch.cat([sigma] * rows)) if rows > 1 else (x, sigma)
